// Streaming samples for calibration and evaluation (DESIGN.md's data rules, many-sample form):
//   FILE.npy      samples of the model's single input, stacked on axis 0;
//   FILE.npz      keys = input names, each stacked on axis 0 (same row count);
//   FILE.pb       one TensorProto: one feed as it is;
//   DIR           every .npz/.npy in it (sorted by name) is one feed as it is; or every
//                 test_data_set_* folder (input_N.pb) is one feed; or PNG/JPEG images
//                 (ImageOptions required) — one image is one sample;
//   fixed inputs  NAME=FILE (.npy/.pb), fed unchanged with every sample.
// Samples are read lazily (memory-mapped or row by row), so memory does not grow with the
// number of samples. `max_samples` counts rows on axis 0, not files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgeq/runtime/executor.h"

namespace edgeq {

struct ImageOptions {
  std::optional<std::pair<int64_t, int64_t>> size;  // H, W to resize to (required for images)
  std::vector<float> mean{0.0f};                    // one value, or one per channel
  std::vector<float> std{1.0f};
  bool nhwc = false;       // layout of the fed tensor (default NCHW)
  bool bgr = false;        // channel order (default RGB)
  bool grayscale = false;  // one channel
};

struct DataOptions {
  std::vector<std::string> fixed_inputs;  // NAME=FILE
  int64_t max_samples = 0;                // 0: all
  // Rows per executor run when the model's batch axis is free (symbolic or unknown); a model
  // with a fixed batch dimension B is fed B rows at a time.
  int64_t batch = 32;
  ImageOptions image;
  bool image_options_given = false;  // any image flag was given
};

// One executor feed: every model input (fixed ones included), and how many samples it holds.
struct Batch {
  std::map<std::string, RtValue> feeds;
  int64_t samples = 0;
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // Fills the next batch; false at the end. Throws kInvalidData naming the file and input for
  // data that does not fit the model (unknown input name, dtype, rank, fixed dims).
  virtual bool next(Batch& batch) = 0;
  // Starts over (calibration methods that need two passes over the data).
  virtual void rewind() = 0;
  // Samples this source will yield in total (after max_samples).
  virtual int64_t total_samples() const = 0;
  // "data/calib.npz (1000 samples)" for logs and reports.
  virtual std::string describe() const = 0;
};

// Opens `path` for `model`. Throws kInvalidData for empty folders, unreadable images, data that
// does not fit the model's inputs; kIo when a file cannot be read.
std::unique_ptr<SampleSource> open_samples(const Model& model, const std::string& path,
                                           const DataOptions& options);

}  // namespace edgeq
