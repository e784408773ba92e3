// eliminate_dead_nodes: a node is live when one of its outputs is an output of its graph or is
// read by a live node (a read from inside a subgraph counts for the node owning that subgraph,
// in this graph). ONNX ops have no side effects, so every other node can go. Subgraphs of live
// nodes are cleaned the same way against their own outputs. Then initializers nothing reads
// any more are dropped. Graph inputs and outputs never change.
#include <string>
#include <unordered_set>

#include "edgeq/passes/pass.h"
#include "passes/graph/rewrite.h"
#include "passes/passes.h"

namespace edgeq::passes {

namespace {

// The node of `g` that `reader` is, or that owns the subgraph `reader` sits in.
const Node* node_in(const Graph& g, const Node* reader) {
  while (reader != nullptr && reader->graph() != &g) reader = reader->graph()->owner();
  return reader;
}

struct Counts {
  int nodes = 0;
  int initializers = 0;
};

void eliminate(Graph& g, Counts& counts) {
  std::unordered_set<const Node*> live;
  std::vector<Node*> dead;
  for (size_t i = g.nodes().size(); i-- > 0;) {
    Node* n = g.nodes()[i].get();
    bool used = false;
    for (const Value* out : n->outputs()) {
      if (out == nullptr) continue;
      if (is_graph_output(out)) used = true;
      for (const Use& use : out->uses()) {
        const Node* reader = node_in(g, use.node);
        used = used || (reader != nullptr && live.count(reader) > 0);
      }
    }
    if (used) live.insert(n);
    else dead.push_back(n);
  }
  // `dead` is in reverse topological order: readers go before the nodes they read from.
  for (Node* n : dead) remove_dead_node(n);
  counts.nodes += static_cast<int>(dead.size());
  for (const auto& n : g.nodes())
    for (Graph* sub : n->subgraphs()) eliminate(*sub, counts);
  counts.initializers += drop_unused_initializers(g);
}

}  // namespace

PassResult eliminate_dead_nodes(Model& model, PassContext& ctx) {
  (void)ctx;
  Counts counts;
  eliminate(*model.graph, counts);
  PassResult result;
  result.changes = counts.nodes + counts.initializers;
  result.summary = "removed " + std::to_string(counts.nodes) + " dead nodes and " +
                   std::to_string(counts.initializers) + " unused initializers";
  return result;
}

}  // namespace edgeq::passes
