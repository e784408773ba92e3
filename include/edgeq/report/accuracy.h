// Accuracy of a compressed model against its float reference, measured on the executor over a
// stream of samples: the report's `accuracy` section (docs/report.schema.json), written by
// `edgeq eval` and by model-writing commands given `--eval DATA`.
//
// Both models run on the same batch, one batch at a time; only running sums are kept, so memory
// does not grow with the number of samples. Sums are accumulated in double, in sample order, on
// one thread: with the executor's thread-count-independent results, the section is identical for
// any --threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgeq/data/samples.h"
#include "edgeq/ir/graph.h"

namespace edgeq {

struct AccuracyOptions {
  // Class ids, one per sample, for the first output shaped [N, C]. When empty and
  // `labels_path` is set, they are read from that .npy (any integer dtype, one id per row).
  std::optional<std::vector<int64_t>> labels;
  std::string labels_path;
  int threads = 0;         // executor threads (0: all cores); the results do not depend on it
  bool per_layer = true;   // the per-layer SQNR table (observers on both runs)
  int worst_layers = 3;    // how many of the lowest-SQNR layers are flagged
  // Called after every batch with the samples done so far and the total.
  std::function<void(int64_t done, int64_t total)> progress;
};

// Runs `model` and `reference` over `samples` and returns the accuracy section:
//   samples, data, per output {cosine, cosine_min, sqnr_db, max_abs_err, mean_abs_err, mse,
//   top1_agreement}, labels {output, top1, top5, reference_top1, reference_top5, top1_drop}
//   (null without labels), layers [...] and worst_layers (see docs/report.schema.json).
// Throws kInvalidData when outputs do not match in shape, labels are fewer than the samples or
// out of the class range, and whatever open_samples/the executor throw.
nlohmann::json evaluate_accuracy(const Model& model, const Model& reference, SampleSource& samples,
                                 const AccuracyOptions& options);

// Graph preparation renames and removes tensors (fold_batchnorm gives the Conv the folded
// result under its own name; remove_identity drops copies). When the compressed model shows that
// a preparation pass ran — the reference has BatchNormalization (Identity/Dropout) nodes and the
// model none — the same pass is run on `reference`, so the per-layer table compares like with
// like. The passes are exact up to float rounding, so outputs are unchanged to ~1e-6. Returns
// the names of the passes run.
std::vector<std::string> align_reference(Model& reference, const Model& model);

// Reads class ids from a .npy of integers (any shape: its values in order). Throws kInvalidData
// for a non-integer array, kIo when unreadable.
std::vector<int64_t> read_labels(const std::string& path);

// ---- the metric math, exposed for tests ----

// Running comparison of a tensor `x` against its reference `ref` over many chunks.
class ErrorStats {
 public:
  void add(std::span<const float> x, std::span<const float> ref);
  uint64_t count() const { return count_; }
  double signal_energy() const { return ref_sq_; }  // Σ ref²
  double error_energy() const { return err_sq_; }   // Σ (ref − x)²
  // 10·log10(Σref² / Σ(ref−x)²); nullopt when there is no error (identical: infinite SQNR) or
  // no signal (a zero reference: minus infinity).
  std::optional<double> sqnr_db() const;
  // x·ref / (|x|·|ref|) over everything added; 1 when both are all zero, 0 when one is.
  double cosine() const { return cosine_of(dot_, x_sq_, ref_sq_); }
  double max_abs_err() const { return max_abs_err_; }
  double mean_abs_err() const { return count_ ? abs_err_ / static_cast<double>(count_) : 0.0; }
  double mse() const { return count_ ? err_sq_ / static_cast<double>(count_) : 0.0; }
  bool has_nan() const { return nan_; }

  static double cosine_of(double dot, double x_sq, double ref_sq);

 private:
  double dot_ = 0, x_sq_ = 0, ref_sq_ = 0, err_sq_ = 0, abs_err_ = 0, max_abs_err_ = 0;
  uint64_t count_ = 0;
  bool nan_ = false;
};

// The index of the first maximum (what argmax means in numpy and ONNX ArgMax).
int64_t argmax(std::span<const float> scores);
// How many classes rank before `label`: those scoring higher, and equal ones of lower index, so
// rank 0 is exactly argmax == label and rank < 5 is a top-5 hit.
int64_t label_rank(std::span<const float> scores, int64_t label);

}  // namespace edgeq
