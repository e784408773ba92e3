// Distillation targets (`edgeq distill-targets`, issue #5): the teacher's soft targets over a data
// set, written as a .npz that numpy.load opens without pickle, and a channel-pruned copy of the
// teacher as the student's starting point.
//
// Not a registered pass: it needs data (a SampleSource) and writes a file, so it is a library
// call the command makes, like calibrate().
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgeq/data/npz_writer.h"
#include "edgeq/data/samples.h"
#include "edgeq/passes/prune.h"

namespace edgeq {

struct DistillOptions {
  double temperature = 1.0;           // probs = softmax(logits / T)
  std::vector<std::string> features;  // main-graph tensors written as feat_<name>
  int64_t top_k = 0;                  // > 0: topk_indices / topk_probs as well
  int threads = 0;           // executor threads (0: all cores); results do not depend on it
  std::string teacher_path;  // hashed (sha256) into meta
};

// One array of the archive.
struct DistillArray {
  std::string name;    // member name in the .npz ("probs", "feat_conv1")
  std::string kind;    // logits, probs, topk_indices, topk_probs, feature, index
  std::string tensor;  // the teacher tensor it comes from ("" for index)
  std::string dtype;   // numpy's name: float32, int64, ...
  std::vector<int64_t> shape;
};

struct DistillSummary {
  int64_t samples = 0;
  std::vector<DistillArray> arrays;  // in archive order (meta last, not listed)
  std::vector<std::string> outputs;  // teacher outputs with logits/probs pairs
  nlohmann::json meta;               // what the `meta` member holds
};

// Checks the options against the teacher before any work: T finite and > 0, top_k >= 0, every
// feature the name of a node output of the main graph (graph inputs and constants are refused,
// a misspelt name gets the nearest known names), top_k <= classes and the output shapes where the
// model declares them. Throws kUsage (exit 2), or kUnsupported (exit 5) for teacher outputs that
// are not [batch, classes] (see below) or no float output at all.
void check_distill_options(const Model& teacher, const DistillOptions& options);

// Runs the teacher (executor) on every sample of `samples`, in data order, and declares and
// fills the arrays of `out` (the caller calls out.finish()):
//   logits [N, C] float32 and probs [N, C] float32 = softmax(logits / T) computed in double, per
//     float graph output; one output: `logits`, `probs`; several: `logits_<name>`, `probs_<name>`
//     with the name reduced to [A-Za-z0-9_] (a clash gets _2, _3, ...). An output [N, d1, ..., dk]
//     is flattened to C = d1·…·dk when at most one di exceeds 1 ([N, 1, 10] → [N, 10]); a real
//     multi-axis output (a segmentation map [N, C, H, W]) has no single class axis and is
//     refused with kUnsupported. Non-float outputs (labels, indices) are skipped with a warning;
//   index [N] int64: the sample's position in the data (0..N-1);
//   topk_indices [N, K] int64 and topk_probs [N, K] float32 (suffixed like probs) when top_k > 0:
//     the K largest probabilities, in descending order, ties to the lower class index;
//   feat_<name> [N, ...] in the tensor's own dtype, for each feature;
//   meta: a JSON string (0-d '<U' array): format, edgeq version, teacher path and sha256,
//     temperature, inputs, outputs, data, sample count, top_k, features, and every array's
//     tensor, dtype and shape.
// Memory does not depend on N: each batch's rows are appended to `out` and dropped.
// `warnings` collects what was skipped.
DistillSummary write_distill_targets(const Model& teacher, SampleSource& samples,
                                     const DistillOptions& options, NpzWriter& out,
                                     std::vector<std::string>& warnings);

// The student starting point: `model` (a teacher loaded on its own) with every prunable layer
// channel-pruned to keep the fraction `width` of its output channels — fold_constants, then
// prune_channels with sparsity 1 − width, first and last layers included and no minimum size
// (the graph outputs keep their shapes, so the last layer's classes stay). width = 1 leaves the
// model unchanged. Throws kUsage for width outside (0, 1] and kUnsupported when nothing can be
// pruned.
PruneSummary make_student(Model& model, double width, PassContext& ctx);

}  // namespace edgeq
