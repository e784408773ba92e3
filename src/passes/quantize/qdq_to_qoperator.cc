// QDQ → QOperator: a node whose float inputs all come from DequantizeLinear and whose output
// goes only into a QuantizeLinear becomes one integer op on the quantized tensors:
//   Conv → QLinearConv, MatMul → QLinearMatMul (ONNX);
//   Gemm → QGemm, Add → QLinearAdd, Mul → QLinearMul, Concat → QLinearConcat,
//   GlobalAveragePool → QLinearGlobalAveragePool (com.microsoft, as ONNX Runtime has them);
//   data movement (Reshape, Transpose, MaxPool, ...) with equal input and output parameters runs
//   on the quantized tensor itself.
// A QuantizeLinear reading a DequantizeLinear with the same parameters is then the identity and
// goes, with every node and initializer nothing uses any more. What does not match a pattern
// (AveragePool, ops whose output is a graph output, ...) stays in QDQ form, which runs too.
#include <map>
#include <set>

#include "edgeq/error.h"
#include "passes/passes.h"
#include "passes/quantize/quant_common.h"

namespace edgeq {

using namespace quantize;

namespace {

struct Quantized {
  Value* q;
  Value* scale;
  Value* zero_point;
  int64_t axis;
};

bool is_op(const Node* n, const char* op) { return n != nullptr && n->domain().empty() && n->op_type() == op; }

std::optional<Quantized> dequantized_from(const Value* v) {
  if (v == nullptr || !is_op(v->producer(), "DequantizeLinear")) return std::nullopt;
  const Node* dq = v->producer();
  if (dq->inputs().size() < 3 || dq->input(2) == nullptr) return std::nullopt;
  return Quantized{dq->input(0), dq->input(1), dq->input(2), dq->attr_int("axis", 1)};
}

// The QuantizeLinear that is `v`'s only use.
Node* quantized_by(const Value* v) {
  if (v->uses().size() != 1) return nullptr;
  const auto& outs = v->graph()->outputs();
  if (std::find(outs.begin(), outs.end(), v) != outs.end()) return nullptr;
  Node* q = v->uses()[0].node;
  if (!is_op(q, "QuantizeLinear") || q->input(2) == nullptr || q->graph() != v->graph()) return nullptr;
  return q;
}

bool scalar(const Value* v) { return v->is_initializer() && v->initializer()->element_count() == 1; }

bool same_constant(const Value* a, const Value* b) {
  if (a == b) return true;
  if (!a->is_initializer() || !b->is_initializer()) return false;
  const Tensor& x = *a->initializer();
  const Tensor& y = *b->initializer();
  if (x.dtype() != y.dtype() || x.dims() != y.dims()) return false;
  auto bx = x.bytes(), by = y.bytes();
  return bx.size() == by.size() && std::equal(bx.begin(), bx.end(), by.begin());
}

class Converter {
 public:
  Converter(Model& model, PassContext& ctx) : model_(model), ctx_(ctx) {}

  int run(Graph& g) {
    int converted = 0;
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* n : nodes)
      if (!removed_.count(n) && n->domain().empty() && convert(g, n)) ++converted;
    removed_.clear();
    collapse_pairs(g);
    remove_dead(g);
    return converted;
  }

 private:
  // Replaces `n` (and its output QuantizeLinear `q`, when given) by one new node.
  Node* replace(Graph& g, Node* n, Node* q, const std::string& op, const std::string& domain,
                std::vector<Value*> inputs, bool keep_attributes) {
    Value* old_out = q ? q->output(0) : n->output(0);
    Value* fresh = g.add_value(g.unique_name(old_out->name() + "_" + op));
    fresh->info = old_out->info;
    Node* node = g.insert_before(n, op, domain, std::move(inputs), {fresh});
    node->set_name(n->name().empty() ? "" : g.unique_name(n->name() + "_" + op));
    if (keep_attributes) node->attributes() = std::move(n->attributes());  // n is removed below
    for (Node* dead : {q, n}) {
      if (dead == nullptr) continue;
      for (Value* in : dead->inputs()) candidates_.push_back(in);
    }
    removed_.insert(q);
    removed_.insert(n);
    if (q) {
      const std::string name = old_out->name();
      g.rename_value(old_out, g.unique_name(name + "_replaced"));
      g.rename_value(fresh, name);
      old_out->replace_all_uses_with(fresh);
      g.remove_node(q);
    } else {
      const std::string name = old_out->name();
      g.rename_value(old_out, g.unique_name(name + "_replaced"));
      g.rename_value(fresh, name);
      old_out->replace_all_uses_with(fresh);
    }
    g.remove_node(n);
    if (!domain.empty()) ensure_opset(model_, domain, 1);
    return node;
  }

  bool convert(Graph& g, Node* n) {
    const std::string& op = n->op_type();
    Node* q = n->outputs().size() == 1 ? quantized_by(n->output(0)) : nullptr;
    auto x = dequantized_from(n->input(0));
    if (!x || !scalar(x->scale)) return false;

    if (op == "Conv" && q) {
      auto w = dequantized_from(n->input(1));
      if (!w) return false;
      std::vector<Value*> in{x->q, x->scale, x->zero_point, w->q, w->scale, w->zero_point, q->input(1), q->input(2)};
      if (n->input(2) != nullptr) {
        auto b = dequantized_from(n->input(2));
        if (!b || known_dtype(b->q) != DType::kInt32) return false;
        in.push_back(b->q);
      }
      replace(g, n, q, "QLinearConv", "", std::move(in), true);
      return true;
    }
    if (op == "MatMul" && q) {
      auto b = dequantized_from(n->input(1));
      if (!b) return false;
      replace(g, n, q, "QLinearMatMul", "",
              {x->q, x->scale, x->zero_point, b->q, b->scale, b->zero_point, q->input(1), q->input(2)}, false);
      return true;
    }
    if (op == "Gemm") {
      auto b = dequantized_from(n->input(1));
      if (!b) return false;
      std::vector<Value*> in{x->q, x->scale, x->zero_point, b->q, b->scale, b->zero_point};
      Value* c = nullptr;
      if (n->input(2) != nullptr) {
        auto cb = dequantized_from(n->input(2));
        if (!cb || known_dtype(cb->q) != DType::kInt32) return false;
        c = cb->q;
      }
      in.push_back(c);
      if (q) {
        in.push_back(q->input(1));
        in.push_back(q->input(2));
      }
      std::vector<Attribute> attrs;
      for (auto& a : n->attributes())
        if (a.name == "alpha" || a.name == "transA" || a.name == "transB") attrs.push_back(std::move(a));
      Node* node = replace(g, n, q, "QGemm", "com.microsoft", std::move(in), false);
      node->attributes() = std::move(attrs);  // QGemm has no beta: C is added as it is
      return true;
    }
    if ((op == "Add" || op == "Mul") && q) {
      auto y = dequantized_from(n->input(1));
      if (!y || !scalar(y->scale)) return false;
      replace(g, n, q, op == "Add" ? "QLinearAdd" : "QLinearMul", "com.microsoft",
              {x->q, x->scale, x->zero_point, y->q, y->scale, y->zero_point, q->input(1), q->input(2)}, false);
      return true;
    }
    if (op == "Concat" && q) {
      std::vector<Value*> in{q->input(1), q->input(2)};
      for (Value* v : n->inputs()) {
        auto d = dequantized_from(v);
        if (!d || !scalar(d->scale)) return false;
        in.insert(in.end(), {d->q, d->scale, d->zero_point});
      }
      replace(g, n, q, "QLinearConcat", "com.microsoft", std::move(in), true);
      return true;
    }
    if (op == "GlobalAveragePool" && q) {
      Node* node = replace(g, n, q, "QLinearGlobalAveragePool", "com.microsoft",
                           {x->q, x->scale, x->zero_point, q->input(1), q->input(2)}, false);
      node->attributes().push_back(Attribute::of_int("channels_last", 0));
      return true;
    }
    static const std::set<std::string> kMovement = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                                    "Flatten", "Resize", "Slice"};
    if (kMovement.count(op) && q && n->outputs().size() == 1 && same_constant(x->scale, q->input(1)) &&
        same_constant(x->zero_point, q->input(2))) {
      std::vector<Value*> in = n->inputs();
      in[0] = x->q;
      replace(g, n, q, op, "", std::move(in), true);
      return true;
    }
    return false;
  }

  // Q(DQ(t)) with the same parameters is t.
  void collapse_pairs(Graph& g) {
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* q : nodes) {
      if (!is_op(q, "QuantizeLinear") || q->input(2) == nullptr) continue;
      auto d = dequantized_from(q->input(0));
      if (!d || !same_constant(d->scale, q->input(1)) || !same_constant(d->zero_point, q->input(2))) continue;
      if (known_dtype(d->q) != known_dtype(q->input(2))) continue;
      Value* out = q->output(0);
      const auto& outs = g.outputs();
      if (std::find(outs.begin(), outs.end(), out) != outs.end()) continue;
      out->replace_all_uses_with(d->q);
    }
  }

  void remove_dead(Graph& g) {
    bool removed = true;
    while (removed) {
      removed = false;
      for (size_t i = g.nodes().size(); i-- > 0;) {
        Node* n = g.nodes()[i].get();
        if (!is_op(n, "QuantizeLinear") && !is_op(n, "DequantizeLinear")) continue;
        Value* out = n->output(0);
        const auto& outs = g.outputs();
        if (!out->uses().empty() || std::find(outs.begin(), outs.end(), out) != outs.end()) continue;
        for (Value* in : n->inputs()) candidates_.push_back(in);
        g.remove_node(n);
        removed = true;
      }
    }
    std::set<Value*> seen;
    for (Value* v : candidates_) {
      if (v == nullptr || !seen.insert(v).second) continue;
      if (v->is_initializer() && v->uses().empty() && v->graph() == &g) g.drop_initializer(v);
    }
    candidates_.clear();
    g.remove_unused_values();
  }

  Model& model_;
  PassContext& ctx_;
  std::set<const Node*> removed_;    // nodes of the current snapshot already gone
  std::vector<Value*> candidates_;  // inputs of removed nodes: initializers to drop once unused
};

}  // namespace

int qdq_to_qoperator(Model& model, PassContext& ctx) {
  std::vector<Graph*> graphs;
  model.graph->for_each_graph([&](Graph& g) { graphs.push_back(&g); });
  Converter converter(model, ctx);
  int converted = 0;
  for (Graph* g : graphs) converted += converter.run(*g);
  return converted;
}

}  // namespace edgeq

namespace edgeq::passes {

PassResult qdq_to_qoperator_pass(Model& model, PassContext& ctx) {
  const int n = qdq_to_qoperator(model, ctx);
  return {n, "converted " + std::to_string(n) + " QDQ groups into QOperator nodes"};
}

}  // namespace edgeq::passes
