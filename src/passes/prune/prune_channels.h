// Structured (channel) pruning, the `channel` pattern of `edgeq prune` (issue #5).
#pragma once

#include "edgeq/passes/prune.h"

namespace edgeq {

// Removes the fraction options.sparsity of the output channels of every prunable producer (Conv,
// ConvTranspose and Gemm with group 1, MatMul with a 2-D constant float32 weight), ranked by the
// L1 (options.l1) or L2 norm of each channel's weights, and shrinks the graph: the weight, the
// bias, what follows channel by channel (BatchNormalization, activations, pooling, Add/Mul with
// per-channel constants, depthwise Conv whose group shrinks too, Flatten after a known spatial
// size) and the input channels of the consumers (Conv, ConvTranspose, Gemm, MatMul).
//
// Channels tied together (residual Add, Mul of two branches, Concat, depthwise Conv) form one
// group: a channel class is scored by the sum of its members' channel norms, and
// round(S × classes) classes are removed from every member; each producer keeps at least one
// channel.
//
// Multi-head attention is pruned by head dim: a Reshape with a constant shape that splits the
// channel axis exactly into [..., H, D], whose Transpose and MatMul use it as the query (D summed
// over, H a batch axis), the key (paired with a query of the same shape and batch axes) or the
// value (D carried through P × v, a Transpose back to [..., H, D] and a Reshape merging exactly
// those two axes) is followed through. Query dim d and key dim d of a head form one class, scored
// by the product of their norms; value dims flow to the out projection's input rows. Each such
// group loses round(S × D) dims in every head (at most D − 1), so only D changes in the Reshape
// constants (a -1 there stays -1); the scores' scale constant is left as it is, 1/sqrt(D) of the
// original. Anything else — a Transpose that moves D or H elsewhere, a shape that is not a
// constant or does not split / merge the channels exactly, a 0 that would copy the channel dim,
// another reader of a value in between, a query without its key — is a barrier.
//
// A group is left dense when any member reaches something that cannot be cut safely
// (a Reshape or Transpose outside the attention pattern, Softmax, LayerNormalization, a graph
// output, a subgraph, an unknown op),
// when a member producer is excluded, has fewer than options.min_params weights, or is the first
// or last eligible layer (unless options.prune_first_last). Graph output shapes never change.
//
// The eligible layers, their order (first / last) and the option defaults are
// pruning::find_candidates' and pruning::dense_reason's (prune_common.h), as for the other
// patterns; a depthwise Conv follows its input's channels and is not held back by min_params. A
// schedule entry of a group's first scheduled producer replaces S for the group. Options are
// checked by the caller (prune() runs pruning::check_options).
//
// Returns one PrunedLayer per eligible node of the main graph, in node order: sparsity = removed
// output channels ÷ output channels, shapes before and after (a consumer's shape also shrinks by
// its input channels), the reason when its output channels stay. `zeros` counts the weight
// elements removed from eligible weights and `sparsity` = zeros ÷ eligible_params;
// params_before/after count every constant weight (collect_weights). The channel dim of every
// cut value's value_info follows.
//
// Throws kUnsupported, leaving the model unchanged, when no group can lose a channel; the
// message lists every layer's reason.
PruneSummary prune_channels(Model& model, const PruneOptions& options, PassContext& ctx);

}  // namespace edgeq
