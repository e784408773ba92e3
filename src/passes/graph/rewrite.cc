#include "passes/graph/rewrite.h"

#include <algorithm>

namespace edgeq::passes {

namespace {

bool listed(const std::vector<Value*>& list, const Value* v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

bool is_graph_input(const Value* v) { return listed(v->graph()->inputs(), v); }
int known_rank(const Value* v) {
  if (v == nullptr || !v->info.tensor || !v->info.tensor->shape) return -1;
  return static_cast<int>(v->info.tensor->shape->size());
}

bool is_graph_output(const Value* v) { return listed(v->graph()->outputs(), v); }

const Tensor* constant_value(const Value* v, int64_t ir_version) {
  if (v == nullptr || !v->is_initializer() || (ir_version >= 4 && is_graph_input(v))) return nullptr;
  return v->initializer();
}

void allow_initializers_without_inputs(Model& model, PassContext& ctx) {
  if (model.ir_version >= 4) return;
  bool needed = false;
  model.graph->for_each_graph([&](const Graph& g) {
    for (const Value* v : g.initializers()) needed = needed || !is_graph_input(v);
  });
  if (!needed) return;
  ctx.warnings.push_back("IR version raised from " + std::to_string(model.ir_version) +
                         " to 4: new initializers are not graph inputs, which IR 4 allows");
  model.ir_version = 4;
}

bool bypass_node(Node* node, Value* in, Value* out) {
  Graph& g = *node->graph();
  if (!is_graph_output(out)) {
    out->replace_all_uses_with(in);
    g.remove_node(node);
    return true;
  }
  // `out` names a graph output: `in` must be free to take that name.
  if (in->graph() != &g || in->producer() == nullptr || in->is_initializer() || is_graph_input(in) ||
      is_graph_output(in))
    return false;
  out->replace_all_uses_with(in);  // its uses and its graph-output slots
  g.remove_node(node);
  const std::string name = out->name();
  ValueInfo interface_info = out->info;  // the output's declared type is part of the interface
  g.rename_value(out, g.unique_name(name + "_bypassed"));
  g.rename_value(in, name);
  in->info = std::move(interface_info);
  return true;
}

void replace_with_initializers(Node* node, std::vector<Tensor> values) {
  Graph& g = *node->graph();
  // The outputs keep their names: their readers move to stand-ins while the node goes away,
  // then come back to the same Values, now initializers.
  std::vector<std::pair<Value*, Value*>> moved;
  for (Value* out : node->outputs()) {
    if (out == nullptr) continue;
    Value* stand_in = g.add_value(g.unique_name(out->name() + "_folding"));
    out->replace_all_uses_with(stand_in);
    moved.emplace_back(out, stand_in);
  }
  std::vector<Value*> outputs = node->outputs();
  g.remove_node(node);
  for (size_t k = 0; k < outputs.size(); ++k)
    if (outputs[k] != nullptr) g.add_initializer(outputs[k]->name(), std::move(values.at(k)));
  for (auto& [out, stand_in] : moved) stand_in->replace_all_uses_with(out);
  g.remove_unused_values();
}

int drop_unused_initializers(Graph& g) {
  int dropped = 0;
  std::vector<Value*> inits = g.initializers();
  for (Value* v : inits) {
    if (!v->uses().empty() || is_graph_input(v) || is_graph_output(v)) continue;
    g.remove_initializer(v);
    ++dropped;
  }
  g.remove_unused_values();
  return dropped;
}

int drop_initializers_if_unused(const std::vector<Value*>& candidates) {
  int dropped = 0;
  std::vector<Graph*> touched;
  for (Value* v : candidates) {
    if (v == nullptr || !v->is_initializer() || !v->uses().empty() || is_graph_input(v) ||
        is_graph_output(v))
      continue;
    v->graph()->remove_initializer(v);
    touched.push_back(v->graph());
    ++dropped;
  }
  // Only now: remove_unused_values deletes the Values, and `candidates` may repeat one.
  for (Graph* g : touched) g->remove_unused_values();
  return dropped;
}

void remove_dead_node(Node* node) {
  for (Graph* sub : node->subgraphs())
    sub->for_each_graph([](Graph& inner) {
      for (const auto& n : inner.nodes())
        for (size_t i = 0; i < n->inputs().size(); ++i) n->set_input(i, nullptr);
    });
  node->graph()->remove_node(node);
}

}  // namespace edgeq::passes
