// Static INT8 in QDQ form: every activation a quantized op reads or writes gets a
// QuantizeLinear → DequantizeLinear pair with the range calibration found; weights are stored
// INT8 (per output channel where the op allows) and biases INT32 (scale = input scale × weight
// scale), each behind a DequantizeLinear. ONNX Runtime, TensorRT and QNN fuse DQ → op → Q into
// integer kernels; the placement below is the one they recognize:
//   - Conv/MatMul/Gemm/Add/Mul/Concat/AveragePool read DQ outputs and write into a Q;
//   - a Relu or Clip right after such an op is dropped, its range becoming the op's output
//     range (exact: the quantized range then starts at the activation's lower bound);
//   - data movement (Reshape, Transpose, MaxPool, Resize, ...) keeps its input's scale and zero
//     point, so the runtime can drop the pair around it and stay in the integer domain.
// Tensors calibration never reached (If/Loop branches it did not take) stay float.
#include <map>
#include <set>

#include "edgeq/error.h"
#include "passes/quantize/quant_common.h"

namespace edgeq {

using namespace quantize;

namespace {

struct Plan {
  struct Quantized {
    Node* node;
    const OpPolicy* policy;
    std::vector<int> activations;  // inputs read through QDQ
    std::vector<int> constants;    // constant float inputs quantized as activations (Add, Mul, Concat)
    int weight = -1;
    int bias = -1;
    Value* input0 = nullptr;  // the activation input 0 as planned (its QDQ pair gives the bias scale)
  };
  std::vector<Quantized> nodes;
  std::vector<Value*> tensors;                  // get a QDQ pair, in plan order
  std::map<const Value*, const Value*> range_of;  // tensor → tensor whose calibrated range it uses
  std::vector<Node*> folded;                    // Relu/Clip dropped into the producer's range
  std::map<const Value*, Value*> alias;         // a folded activation's output → its producer's output

  Value* resolve(Value* v) const {
    auto it = alias.find(v);
    return it == alias.end() ? v : it->second;
  }
};

bool has_node_use(const Value* v) { return !v->uses().empty(); }

bool is_graph_output(const Value* v) {
  const auto& outs = v->graph()->outputs();
  return std::find(outs.begin(), outs.end(), v) != outs.end();
}

class Planner {
 public:
  Planner(const QuantizeOptions& options, const CalibrationTable* table, int64_t opset)
      : options_(options), table_(table), opset_(opset) {}

  Plan plan(Graph& g) {
    Plan p;
    for (const auto& owned : g.nodes()) {
      Node* n = owned.get();
      const OpPolicy* policy = static_policy(n->op_type());
      if (policy == nullptr || !selected(*n, options_, static_op_types())) continue;
      if (policy->output == OutputRule::kOwnRange) plan_compute(p, g, n, policy);
      else if (policy->output == OutputRule::kSharedRange) plan_shared(p, n, policy);
    }
    return p;
  }

  std::optional<quant::QParams> params(const Value* source) const {
    if (table_ == nullptr) return quant::QParams{};
    auto it = table_->ranges.find(source->name());
    if (it == table_->ranges.end() || !it->second.reached || it->second.count == 0) return std::nullopt;
    return activation_params(it->second.min, it->second.max);
  }

  quant::QParams activation_params(float lo, float hi) const {
    const quant::QRange r = options_.activation_signed ? quant::range_of<int8_t>() : quant::range_of<uint8_t>();
    return options_.symmetric_activations ? quant::symmetric_params(lo, hi, r) : quant::asymmetric_params(lo, hi, r);
  }

 private:
  bool quantizable_activation(const Value* v) const {
    if (v == nullptr) return false;
    const DType t = known_dtype(v);
    if (t != DType::kUndefined && t != DType::kFloat) return false;
    return params(v).has_value();
  }

  void mark(Plan& p, Value* t, const Value* source) {
    t = p.resolve(t);
    if (p.range_of.count(t)) return;
    p.range_of[t] = source;
    p.tensors.push_back(t);
  }

  // A Relu/Clip that can be dropped into `t`'s range: t's only use, not a graph output, and the
  // quantized range of its output starts at or above the activation's lower bound.
  Node* foldable_activation(const Value* t) const {
    if (t->uses().size() != 1 || is_graph_output(t)) return nullptr;
    Node* r = t->uses()[0].node;
    if (r->graph() != t->graph() || r->domain() != "" || (r->op_type() != "Relu" && r->op_type() != "Clip")) return nullptr;
    if (!selected(*r, options_, static_op_types()) || is_graph_output(r->output(0))) return nullptr;
    float lower = 0.0f;
    if (r->op_type() == "Clip") {
      // The bounds: attributes before opset 11, constant inputs after.
      if (opset_ < 11) {
        lower = r->attr_float("min", -std::numeric_limits<float>::infinity());
      } else if (r->input(1) != nullptr) {
        const Tensor* lo = float_constant(r->input(1));
        if (lo == nullptr || lo->element_count() != 1) return nullptr;
        lower = lo->values<float>()[0];
      } else {
        lower = -std::numeric_limits<float>::infinity();
      }
    }
    auto qp = params(r->output(0));
    if (!qp) return nullptr;
    if (table_ != nullptr) {
      const quant::QRange q = options_.activation_signed ? quant::range_of<int8_t>() : quant::range_of<uint8_t>();
      const float representable_min = quant::dequantize_value(q.min, qp->scale, qp->zero_point);
      if (representable_min < lower - 1e-6f * std::max(1.0f, std::fabs(lower))) return nullptr;
    }
    return r;
  }

  void plan_compute(Plan& p, Graph& g, Node* n, const OpPolicy* policy) {
    Plan::Quantized q{n, policy, {}, {}, -1, -1, p.resolve(n->input(0))};
    const bool all = !policy->activations.empty() && policy->activations[0] == -1;
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      Value* v = n->input(i);
      const int idx = static_cast<int>(i);
      const bool listed = all || std::find(policy->activations.begin(), policy->activations.end(), idx) !=
                                     policy->activations.end();
      if (idx == policy->weight && v != nullptr && float_constant(v) != nullptr) {
        q.weight = idx;
        continue;
      }
      if (idx == policy->bias) {
        if (v != nullptr) q.bias = idx;
        continue;
      }
      if (!listed) {
        if (idx == policy->weight && v != nullptr) return;  // Conv/Gemm with a computed weight
        continue;
      }
      if (v == nullptr) continue;
      if (v->is_initializer()) {
        if (float_constant(v) == nullptr) return;  // integer constant: not an activation
        q.constants.push_back(idx);
        continue;
      }
      // A tensor already planned (a shared-range output) has its range from its source.
      auto planned = p.range_of.find(p.resolve(v));
      if (planned != p.range_of.end() ? !params(planned->second).has_value() : !quantizable_activation(v)) return;
      q.activations.push_back(idx);
    }
    if (q.activations.empty()) return;
    if (policy->weight >= 0 && q.weight < 0 && n->op_type() != "MatMul") return;
    for (int idx : q.activations) mark(p, n->input(idx), n->input(idx));
    Value* out = n->output(0);
    if (has_node_use(out)) {
      if (Node* r = foldable_activation(out)) {
        p.folded.push_back(r);
        p.alias[r->output(0)] = out;
        mark(p, out, r->output(0));
      } else if (quantizable_activation(out)) {
        mark(p, out, out);
      }
    }
    p.nodes.push_back(std::move(q));
    (void)g;
  }

  void plan_shared(Plan& p, Node* n, const OpPolicy* policy) {
    Value* x = p.resolve(n->input(0));
    Value* y = n->output(0);
    auto it = p.range_of.find(x);
    if (it == p.range_of.end() || !has_node_use(y) || n->outputs().size() != 1) return;
    if (opset_ < 12 && n->op_type() == "MaxPool") return;  // MaxPool on 8-bit integers: opset 12
    mark(p, y, it->second);
    p.nodes.push_back({n, policy, {0}, {}, -1, -1, x});
  }

  const QuantizeOptions& options_;
  const CalibrationTable* table_;
  int64_t opset_;
};

std::vector<Graph*> all_graphs(Model& model) {
  std::vector<Graph*> graphs;
  model.graph->for_each_graph([&](Graph& g) { graphs.push_back(&g); });
  return graphs;
}

}  // namespace

std::set<std::string> static_calibration_tensors(const Model& model, const QuantizeOptions& options) {
  // Plan as if every float tensor had a range; the sources of the planned ranges are what
  // calibration must observe.
  Model& m = const_cast<Model&>(model);  // the planner only reads the graph
  Planner planner(options, nullptr, model.opset("").value_or(1));
  std::set<std::string> names;
  for (Graph* g : all_graphs(m)) {
    Plan p = planner.plan(*g);
    for (const auto& [tensor, source] : p.range_of) names.insert(source->name());
  }
  return names;
}

QuantizeSummary quantize_static(Model& model, const QuantizeOptions& options, const CalibrationTable& table,
                                PassContext& ctx) {
  QuantizeSummary summary;
  WeightQuantizer weights(options, ctx, summary);
  const int64_t opset = model.opset("").value_or(1);
  if (opset < 10)
    throw unsupported("", "static quantization needs QuantizeLinear (opset 10); the model imports opset " +
                              std::to_string(opset));
  Planner planner(options, &table, opset);
  for (const auto& [name, range] : table.ranges)
    if (!range.reached) summary.unreached.push_back(name);

  for (Graph* gp : all_graphs(model)) {
    Graph& g = *gp;
    Plan plan = planner.plan(g);

    // Drop the folded activations: their consumers read the producer's output.
    for (Node* r : plan.folded) {
      Value* in = r->input(0);
      Value* out = r->output(0);
      out->replace_all_uses_with(in);
      g.remove_node(r);
      summary.quantized_nodes[r->op_type() == "Relu" ? "Relu (folded)" : "Clip (folded)"]++;
    }

    // Activation parameters, per range source.
    std::map<const Value*, std::pair<Value*, Value*>> qparams;  // tensor → (scale, zero point)
    std::map<const Value*, quant::QParams> host;
    const DType act_type = options.activation_signed ? DType::kInt8 : DType::kUint8;
    for (Value* t : plan.tensors) {
      const Value* source = plan.range_of.at(t);
      const quant::QParams qp = *planner.params(source);
      host[t] = qp;
      Value* s = add_float_initializer(g, t->name() + "_scale", {qp.scale}, true);
      Value* z = add_zero_point(g, t->name() + "_zero_point", act_type, {qp.zero_point}, true);
      qparams[t] = {s, z};
    }

    // QDQ pairs on activations: right after the producer (graph inputs: at the top).
    for (Value* t : plan.tensors) {
      auto [s, z] = qparams.at(t);
      Value* tq = g.add_value(g.unique_name(t->name() + "_quantized"));
      Value* tdq = g.add_value(g.unique_name(t->name() + "_dequantized"));
      std::vector<Use> uses = t->uses();
      Node* q = t->producer() ? g.insert_after(t->producer(), "QuantizeLinear", "", {t, s, z}, {tq})
                              : g.add_node("QuantizeLinear", "", {t, s, z}, {tq}, 0);
      q->set_name(g.unique_name(t->name() + "_QuantizeLinear"));
      Node* dq = g.insert_after(q, "DequantizeLinear", "", {tq, s, z}, {tdq});
      dq->set_name(g.unique_name(t->name() + "_DequantizeLinear"));
      for (const Use& u : uses) u.node->set_input(static_cast<size_t>(u.input_index), tdq);
      summary.activations.push_back(t->name());
    }

    // Weights, biases and constant inputs of the quantized ops.
    for (const Plan::Quantized& qn : plan.nodes) {
      Node* n = qn.node;
      summary.quantized_nodes[n->op_type()]++;
      auto dequantize = [&](const QuantizedWeight& qw, const std::string& base) {
        Value* out = g.add_value(g.unique_name(base + "_dequantized"));
        Node* dq = g.insert_before(n, "DequantizeLinear", "", {qw.q, qw.scale, qw.zero_point}, {out});
        dq->set_name(g.unique_name(base + "_DequantizeLinear"));
        if (qw.axis >= 0) dq->attributes().push_back(Attribute::of_int("axis", qw.axis));
        return out;
      };
      std::vector<Value*> dropped;
      const QuantizedWeight* qw = nullptr;
      if (qn.weight >= 0) {
        Value* w = n->input(qn.weight);
        const Tensor& wt = *float_constant(w);
        WeightSpec spec;
        spec.is_signed = options.weight_signed;
        spec.symmetric = options.weight_signed;
        spec.reduce_range = options.reduce_range;
        spec.axis = options.per_channel && opset >= 13 ? weight_axis(*n, wt) : -1;
        qw = &weights.weight(*w->graph(), w, spec);
        n->set_input(qn.weight, dequantize(*qw, w->name()));
        dropped.push_back(w);
      }
      if (qn.bias >= 0 && qw != nullptr && host.count(qn.input0)) {
        Value* b = n->input(qn.bias);
        const Tensor* bt = float_constant(b);
        const bool plain_gemm = n->op_type() != "Gemm" ||
                                (n->attr_float("alpha", 1.0f) == 1.0f && n->attr_float("beta", 1.0f) == 1.0f);
        const auto channels = static_cast<int64_t>(qw->scales.size());
        if (bt != nullptr && plain_gemm && bt->dims().size() == 1 && (channels == 1 || bt->dims()[0] == channels)) {
          QuantizedWeight qb = weights.bias(*b->graph(), b, host.at(qn.input0).scale, qw->scales);
          n->set_input(qn.bias, dequantize(qb, b->name()));
          dropped.push_back(b);
        }
      }
      for (int idx : qn.constants) {
        Value* c = n->input(idx);
        const Tensor& ct = *float_constant(c);
        float lo = 0, hi = 0;
        for (float v : ct.values<float>()) {
          if (!std::isfinite(v)) continue;
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        QuantizedWeight qc = weights.constant_activation(*c->graph(), c, planner.activation_params(lo, hi),
                                                         options.activation_signed);
        n->set_input(idx, dequantize(qc, c->name()));
        dropped.push_back(c);
      }
      for (Value* v : dropped)
        if (v->uses().empty() && v->is_initializer()) v->graph()->drop_initializer(v);
    }
  }
  // Only now: a weight of an outer graph may lose its last use in a later (inner) graph.
  for (Graph* g : all_graphs(model)) g->remove_unused_values();
  weights.take_original_names();
  return summary;
}

}  // namespace edgeq
