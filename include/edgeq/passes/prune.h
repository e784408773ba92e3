// Magnitude pruning of constant weights (src/passes/prune/).
//
// Eligible weights: the constant weight input (an initializer; Constant nodes are made
// initializers by fold_constants first) of Conv, ConvTranspose, Gemm and MatMul. By default the
// eligible layers with fewer than `min_params` parameters and the first and last eligible layers
// (in node order) stay dense.
//   unstructured  the smallest |w| are set to 0: over all eligible weights together (global) or
//                 per layer (layer), or per layer from a schedule;
//   N:M           in every M consecutive weights along the input-channel axis the N largest stay;
//   channel       whole output channels (L1 or L2 norm) are removed and the graph shrinks: the
//                 weight, its bias, a following BatchNormalization and the input channels of every
//                 consumer are cut; channels tied by residual Add / Concat are scored and pruned
//                 together.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "edgeq/passes/pass.h"

namespace edgeq {

enum class PrunePattern { kUnstructured, kNM, kChannel };
enum class PruneScope { kGlobal, kLayer };
// How global unstructured pruning compares weights of different layers:
//   lamp       layer-adaptive magnitude (LAMP): w^2 over the sum of the squares of the weights of
//              its layer that are not smaller; the largest weight of a layer scores 1, so no layer
//              is emptied and layers with small weights are not wiped out (default);
//   magnitude  |w| itself.
enum class PruneScore { kLamp, kMagnitude };

struct PruneOptions {
  PrunePattern pattern = PrunePattern::kUnstructured;
  PruneScope scope = PruneScope::kGlobal;
  double sparsity = 0.5;                     // fraction of eligible weights (or channels) removed
  int n = 2, m = 4;                          // N:M
  bool l1 = true;                            // channel: L1 (else L2) norm
  PruneScore score = PruneScore::kLamp;      // unstructured global ranking
  // Unstructured and N:M: put the mean each output channel lost back into a bias where the
  // expected input follows from the graph's constants (src/passes/prune/bias_correction.h).
  bool bias_correction = true;
  // Measured mean of each channel of a layer's input (value name -> means along the channels the
  // layer sums over: axis 1 for Conv, the last axis for Gemm/MatMul), from calibration data
  // (channel_means in edgeq/calib/calibrate.h). Where present, bias correction uses it instead of
  // the data-free estimate, so layers whose input statistics the graph does not give are
  // corrected too.
  std::map<std::string, std::vector<double>> input_means;
  std::map<std::string, double> schedule;    // per-layer sparsity (weight or node name → S)
  std::set<std::string> exclude_nodes;
  int64_t min_params = 256;
  bool prune_first_last = false;
};

// One eligible weight after pruning.
struct PrunedLayer {
  std::string node;       // Node::describe()
  std::string weight;     // initializer name
  std::string op_type;
  std::vector<int64_t> shape_before, shape_after;  // differ for channel pruning
  int64_t params = 0;     // eligible parameters (before)
  int64_t zeros = 0;      // zeros after (unstructured, N:M)
  double sparsity = 0;    // zeros / params, or removed channels / channels
  bool pruned = false;    // false: left dense (and why)
  bool bias_corrected = false;     // bias correction put the lost output means back
  std::string bias_tensor;         // ... into this initializer (a bias, a BatchNormalization mean)
  std::string bias_not_corrected;  // why not, when it was tried and could not be done
  bool bias_measured = false;      // corrected from measured input means (PruneOptions::input_means)
  std::string reason;     // "first layer", "fewer than 256 parameters", "input channels not a multiple of 4", ...
};

struct PruneSummary {
  std::vector<PrunedLayer> layers;
  int64_t eligible_params = 0;
  int64_t zeros = 0;            // over pruned layers
  double sparsity = 0;          // zeros / eligible params of pruned layers
  int64_t params_before = 0;    // all constant weights (channel pruning shrinks these)
  int64_t params_after = 0;
};

// Throws kUsage for bad options (S outside [0, 1), N > M, unknown node names in exclude_nodes
// or schedule) and kUnsupported when nothing in the model is prunable.
PruneSummary prune(Model& model, const PruneOptions& options, PassContext& ctx);

}  // namespace edgeq
