// Data-free bias correction for unstructured and N:M pruning.
//
// Removing weights D = W - W' from a layer lowers the mean of each output channel o by
// s_o = sum_i D[o, i] E[x_i]. When the expected input E[x] follows from constants of the graph,
// the pass adds s back where the layer's output gets a per-channel constant: its own bias, the
// running mean of the BatchNormalization it feeds, or a bias it did not have (Conv, Gemm). The
// mean output of every channel is then unchanged in expectation; the variance is not corrected.
//
// E[x] is known when the layer reads (possibly through GlobalAveragePool + Flatten, which keep
// channel means) the output of a BatchNormalization, E[x_c] = B_c, or of Relu after one: with the
// normalized input taken as N(B_c, scale_c^2), E[x_c] = B_c Phi(B_c/|scale_c|) + |scale_c|
// phi(B_c/|scale_c|) (the mean of a rectified Gaussian). Zero padding at borders is ignored.
// With calibration data the means of the other layers' inputs are measured (PruneOptions::
// input_means), which works whatever produces them (LayerNormalization, GELU, attention).
#pragma once

#include <string>

#include "edgeq/passes/pass.h"
#include "passes/prune/prune_common.h"

namespace edgeq::pruning {

// Corrects the layer of `c` whose weight goes from `original` to `pruned` (same shape as the
// candidate's weight; not yet set on the graph). Returns "" when it corrected, and sets `target`
// to the initializer it changed or added; else why not ("the expected value of its input is
// unknown (produced by MatMul)", ...), changing nothing.
// `measured`, when not null, is the mean of each channel of the layer's input from data; it is
// used where the graph's constants give no estimate (on the Fashion-MNIST CNN the estimate from
// the BatchNormalization statistics of 60 000 training images did slightly better than 1 000
// measured samples: 89.23 vs 89.11 top-1 at 50 %). Sets *used_measured accordingly.
std::string correct_bias(const Candidate& c, const float* original, const float* pruned, std::string& target,
                         const std::vector<double>* measured, bool& used_measured);

}  // namespace edgeq::pruning
