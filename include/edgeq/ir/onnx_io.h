// Loading and saving ONNX files. These two functions (and src/ir/ behind them) are the only
// place edgeq touches protobuf; everything else works on the IR in graph.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeq/ir/graph.h"

namespace edgeq {

struct LoadOptions {
  // Run libonnx's checker and strict shape inference when the file's IR version and opsets are
  // within what libonnx 1.12 knows (IR ≤ 8, ai.onnx ≤ 17); newer files are loaded with a warning.
  bool run_onnx_checker = true;
};

// Where a loaded model came from: the writer refuses to overwrite any of these files, and size
// reports count them.
struct ModelSource {
  std::string path;                     // the .onnx file as given
  std::vector<std::string> data_files;  // external-data files it references (canonical paths)
  uint64_t file_bytes = 0;              // the .onnx file
  uint64_t data_bytes = 0;              // all its external-data files together
  bool checked = false;                 // libonnx's checker ran and passed
  std::vector<std::string> warnings;    // what the loader let through (and why)
};

// Loads `path` into the IR. Weights stored in external-data files stay in those files (mapped on
// first read). Nodes are sorted topologically. Throws edgeq::Error: kIo when a file cannot be
// read, kInvalidModel when the content is not a valid ONNX model (the message names the node or
// tensor and the reason).
Model load_model(const std::string& path, ModelSource* source = nullptr,
                 const LoadOptions& options = {});

enum class ExternalDataMode {
  kAuto,    // external when the input had it or the model passes 2 GB
  kAlways,  // --external-data
};

struct SaveOptions {
  ExternalDataMode external = ExternalDataMode::kAuto;
  bool source_had_external_data = false;  // what kAuto looks at
  // Files that must never be overwritten (the input model and its data files).
  std::vector<std::string> protected_paths;
  uint64_t external_min_bytes = 1024;  // smaller initializers stay inline
  uint64_t external_alignment = 4096;  // offsets of external tensors (page size, for mmap)
};

struct SavedFiles {
  std::string model_path;
  std::string data_path;  // empty when everything is inline
  uint64_t model_bytes = 0;
  uint64_t data_bytes = 0;
};

// A value stored as one protobuf file, the way ONNX test data is (input_0.pb, output_0.pb):
// a TensorProto, a SequenceProto of tensors, or an OptionalProto.
struct StoredValue {
  // kTensorList: a SequenceProto or an OptionalProto (same bytes on the wire for tensors);
  // elem_type 0 with no tensors is an empty optional.
  enum class Kind { kTensor, kTensorList };
  Kind kind = Kind::kTensor;
  std::string name;
  int elem_type = 0;
  std::vector<Tensor> tensors;
};
// Reads such a file. Throws kIo when unreadable, kInvalidData when it holds none of these.
StoredValue load_value_pb(const std::string& path);

// The external-data file name used for a model path: "<file name>.data" beside it.
std::string external_data_path_for(const std::string& model_path);

// Writes the model atomically: data file and model go to temporary names in the destination
// folder and are renamed into place only when complete, so a failure leaves nothing behind.
// Same model + options ⇒ same bytes. Throws kUsage when the destination is a protected file,
// kIo when writing fails.
SavedFiles save_model(const Model& model, const std::string& path, const SaveOptions& options);

}  // namespace edgeq
