// Rewrites shared by the graph passes (not a pass itself): each is a short sequence of IR
// mutation calls that keeps the graph's interface (input and output names) unchanged.
#pragma once

#include <vector>

#include "edgeq/ir/graph.h"
#include "edgeq/passes/pass.h"

namespace edgeq::passes {

bool is_graph_input(const Value* v);
bool is_graph_output(const Value* v);
// The rank its type info gives a value, or -1 when unknown.
int known_rank(const Value* v);

// An initializer a node can rely on as a constant. From IR 4, an initializer also listed as a
// graph input is only a default the caller may override, so it is not one. Before IR 4 every
// initializer had to be listed as an input and ONNX Runtime never lets a caller override them
// (Graph::CanOverrideInitializer): given the model's `ir_version`, they count as constants too.
// Without it, the IR 4 rule applies (the safe side).
const Tensor* constant_value(const Value* v, int64_t ir_version = 4);

// Call after adding initializers. Before IR 4 every initializer also had to be a graph input;
// rather than add inputs (the interface must not change), the model moves to IR 4, which
// differs from IR 3 only in allowing that. Says so in ctx.warnings.
void allow_initializers_without_inputs(Model& model, PassContext& ctx);

// Removes `node`, whose output `out` carries the same value as `in`: every use of `out` now reads
// `in`. When `out` is an output of its graph, `in` takes over its name and ValueInfo so the
// graph's interface does not change. Returns false, changing nothing, when that is impossible:
// `in` is then a graph input, an initializer, a graph output too, or a value of an enclosing
// graph. `node`'s other outputs must be unused.
bool bypass_node(Node* node, Value* in, Value* out);

// Replaces `node` by constants: output k becomes an initializer named like it, holding
// `values[k]`, and the node is removed. No output may be a graph output.
void replace_with_initializers(Node* node, std::vector<Tensor> values);

// Drops the initializers of `g` that nothing reads (graph inputs stay: they are interface), then
// the values nothing refers to. Returns the number of initializers dropped.
int drop_unused_initializers(Graph& g);

// Drops those of `candidates` (initializers of any graph, duplicates allowed) that a rewrite left
// unread, so replaced weights do not stay in the file. Returns the number dropped.
int drop_initializers_if_unused(const std::vector<Value*>& candidates);

// Removes a node none of whose outputs is used or a graph output. Nodes inside its subgraphs
// stop reading outer values first, so no use list keeps a pointer to a deleted node.
void remove_dead_node(Node* node);

}  // namespace edgeq::passes
