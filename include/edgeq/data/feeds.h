// Turning files into model inputs (DESIGN.md's data rules, one-feed form used by `edgeq run`):
//   NAME=FILE   FILE (.npy, or .pb holding a TensorProto/SequenceProto/OptionalProto) feeds NAME;
//   FILE.npz    every array feeds the input of the same name;
//   FILE        (.npy/.pb) feeds the model's only input;
//   DIR         an ONNX test-data folder (input_0.pb, input_1.pb, …): each file feeds the input
//               its TensorProto names, or the input at its position.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "edgeq/ir/onnx_io.h"
#include "edgeq/runtime/executor.h"

namespace edgeq {

// A stored value as the runtime value the model declares (a list is a sequence or an optional).
RtValue stored_to_runtime(const StoredValue& value, const std::string& declared_kind);

// Reads the feeds for one run. Throws kInvalidData for unknown input names, a bare file for a
// model with several inputs, or files that are not data; kIo when a file cannot be read.
std::map<std::string, RtValue> read_feeds(const Model& model, const std::vector<std::string>& specs);

// "a/b:c" → "a_b_c": output names as file names (every char outside [A-Za-z0-9_.-] becomes '_').
std::string sanitize_file_name(const std::string& name);

// The graph inputs a caller must feed: those without an initializer (dense or sparse) to default
// to, in graph order; and their names, comma-separated, for messages.
std::vector<Value*> data_inputs(const Model& model);
std::string data_input_names(const Model& model);

}  // namespace edgeq
