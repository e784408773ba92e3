// remove_identity: Identity and inference-mode Dropout pass their input through unchanged, so
// their readers can read the input directly. When the node's output is a graph output, the
// producer of the input takes over the output's name (the model's interface does not change);
// when that is impossible (the input is a graph input, an initializer, another graph output or
// an outer-scope value of a subgraph) the node stays.
#include <string>

#include "edgeq/passes/pass.h"
#include "passes/graph/rewrite.h"
#include "passes/passes.h"

namespace edgeq::passes {

namespace {

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// Dropout is the identity at inference unless it is told to train: before opset 7 through
// is_test = 0 (the executor and ONNX Runtime treat a missing is_test as inference), from opset
// 12 through a training_mode input that is true or not a constant. Its mask output must be
// unused: removing the node would leave it without a producer.
bool dropout_is_identity(const Node& n, int64_t opset, int64_t ir) {
  if (opset < 7) {
    const Attribute* is_test = n.attr("is_test");
    if (is_test != nullptr && is_test->i == 0) return false;
  }
  if (opset >= 12 && n.input(2) != nullptr) {
    const Tensor* training = constant_value(n.input(2), ir);
    if (training == nullptr || training->dtype() != DType::kBool || training->element_count() != 1 ||
        training->bytes()[0] != std::byte{0})
      return false;
  }
  for (size_t k = 1; k < n.outputs().size(); ++k) {
    const Value* extra = n.output(k);
    if (extra != nullptr && (!extra->uses().empty() || is_graph_output(extra))) return false;
  }
  return true;
}

}  // namespace

PassResult remove_identity(Model& model, PassContext& ctx) {
  const int64_t opset = model.opset("").value_or(1);
  int identities = 0, dropouts = 0, kept = 0;
  model.graph->for_each_graph([&](Graph& g) {
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* n : nodes) {
      if (!default_domain(*n)) continue;
      const bool identity = n->op_type() == "Identity";
      if (!identity && !(n->op_type() == "Dropout" && dropout_is_identity(*n, opset, model.ir_version))) continue;
      Value* in = n->input(0);
      Value* out = n->output(0);
      if (in == nullptr || out == nullptr) continue;
      const std::string what = n->describe();
      if (bypass_node(n, in, out)) {
        ++(identity ? identities : dropouts);
        ctx.note("removed " + what);
      } else {
        ++kept;
      }
    }
    g.remove_unused_values();
  });
  PassResult result;
  result.changes = identities + dropouts;
  result.summary = "removed " + std::to_string(identities) + " Identity and " +
                   std::to_string(dropouts) + " Dropout";
  if (kept > 0)
    result.summary += "; kept " + std::to_string(kept) +
                      " whose input cannot take the graph output's name";
  return result;
}

}  // namespace edgeq::passes
