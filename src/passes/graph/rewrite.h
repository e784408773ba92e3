// Rewrites shared by the graph passes (not a pass itself): each is a short sequence of IR
// mutation calls that keeps the graph's interface (input and output names) unchanged.
#pragma once

#include <vector>

#include "edgeq/ir/graph.h"

namespace edgeq::passes {

bool is_graph_input(const Value* v);
bool is_graph_output(const Value* v);

// An initializer that a node can rely on as a constant: not also a graph input (before IR 4 an
// initializer listed as an input is only a default the caller may override).
const Tensor* constant_value(const Value* v);

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
