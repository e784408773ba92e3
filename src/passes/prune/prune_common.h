// Shared by the prune patterns (prune.cc, prune_channels.cc) and the prune command: which
// weights are candidates, which of them the options leave dense, and option validation.
#pragma once

#include <string>
#include <vector>

#include "edgeq/passes/prune.h"

namespace edgeq::pruning {

// A constant float32 weight read by Conv / ConvTranspose (input 1), Gemm (input 1) or MatMul
// (input 1), with every node that reads it there. A weight read by several such nodes is one
// layer.
struct Candidate {
  Value* weight = nullptr;
  std::vector<Node*> nodes;  // eligible readers, the first in node order first
  // The axis N:M blocks run along (the input channels the op sums over) and how many of its
  // entries belong to one group (the block size must divide it); -1 when the readers disagree.
  //   Conv          W [Cout, Cin/g, k...]  axis 1, Cin/g per group
  //   ConvTranspose W [Cin, Cout/g, k...]  axis 0, Cin/g per group (groups are contiguous there)
  //   Gemm          B [K, N] / [N, K] (transB)  the K axis
  //   MatMul        B [..., K, N]  axis rank-2 (axis 0 when B is 1-D)
  int64_t channel_axis = -1;
  int64_t group_channels = 0;
  // Non-empty when the weight cannot be pruned whatever the options say: it is also read
  // elsewhere, is a graph output, or a caller may override it.
  std::string blocked;
};

// Every candidate of the model (subgraphs included), in the order of their first reader:
// graphs outer before inner (Graph::for_each_graph), nodes in graph order.
std::vector<Candidate> find_candidates(Model& model);

// kUsage for: sparsity outside [0, 1); N:M with N < 1, M < 1 or N > M; min_params < 0;
// schedule values outside [0, 1); a schedule with N:M; names in exclude_nodes that are no
// node of the model; schedule keys that are neither a node name nor a weight name of a
// candidate (or a node that exists but is not a prunable layer); a layer both excluded and
// scheduled. Returns warnings (excluded nodes that exist but are not prunable layers).
std::vector<std::string> check_options(Model& model, const std::vector<Candidate>& candidates,
                                       const PruneOptions& options);

// The schedule entry of a candidate (by weight name, else by a reader's node name), or nullptr.
const double* scheduled_sparsity(const Candidate& c, const PruneOptions& options);

// Why the options leave a candidate dense ("" when they do not): blocked, excluded, not in the
// schedule, first / last layer, fewer than min_params parameters. `index` is the candidate's
// position in find_candidates' list of `count`. A schedule entry overrides the first/last and
// min_params defaults (the user named the layer); --exclude-nodes cannot be overridden.
std::string dense_reason(const Candidate& c, size_t index, size_t count, const PruneOptions& options);

// "[16x1x3x3]"
std::string shape_text(const std::vector<int64_t>& dims);

}  // namespace edgeq::pruning
