// Dynamic INT8: weights are stored as INT8, activations are quantized at run time.
//
//   MatMul(A, W)        → DynamicQuantizeLinear(A) → MatMulInteger(a_q, W_q, a_zp, W_zp)
//                         → Cast(float) → Mul(·, a_scale × W_scale)
//   Gemm(A, W, C)       → the same with W transposed when transB, alpha in the scale, + C
//   Conv / ConvTranspose → Conv(X, DequantizeLinear(W_q)): ONNX Runtime's ConvInteger takes
//                         uint8 weights only and runs slower than its float Conv, so the weight
//                         is stored INT8 and dequantized once per run
//   LSTM / GRU / RNN    → the same for W and R (one scale per gate row)
//   Gather(T, idx)      → DequantizeLinear(Gather(T_q, idx)) for constant tables (embeddings)
// The MatMul pattern is the one ONNX Runtime fuses into DynamicQuantizeMatMul. Weight scales
// are per output channel (per column of W) unless options.per_channel is off or the opset has
// no per-axis DequantizeLinear (13) where one is needed.
#include <map>

#include "edgeq/error.h"
#include "passes/passes.h"
#include "passes/quantize/quant_common.h"

namespace edgeq {

using namespace quantize;

namespace {

struct DynamicRewriter {
  Model& model;
  const QuantizeOptions& options;
  PassContext& ctx;
  QuantizeSummary& summary;
  WeightQuantizer& weights;
  int64_t opset;
  std::map<const Value*, std::array<Value*, 3>> dynamic_inputs;  // A → (a_q, a_scale, a_zp)
  std::map<std::pair<const Value*, int64_t>, Value*> dequantized;  // (W, axis) → DQ output

  WeightSpec spec(int64_t axis) const {
    WeightSpec s;
    s.is_signed = options.weight_signed;
    s.symmetric = options.weight_signed;
    s.reduce_range = options.reduce_range;
    s.axis = options.per_channel ? axis : -1;
    s.omit_zero_zero_point = true;
    return s;
  }

  void skip(const Node& n, const std::string& why) { summary.skipped.push_back(n.describe() + ": " + why); }

  std::string base_name(const Node& n) const { return n.name().empty() ? n.output(0)->name() : n.name(); }

  Node* add(Graph& g, const Node* before, const std::string& op, std::vector<Value*> in, std::vector<Value*> out,
            const std::string& name) {
    Node* node = g.insert_before(before, op, "", std::move(in), std::move(out));
    node->set_name(name);
    return node;
  }

  std::array<Value*, 3> quantize_input(Graph& g, Node* consumer, Value* a) {
    auto it = dynamic_inputs.find(a);
    if (it != dynamic_inputs.end() && it->second[0]->graph() == &g) return it->second;
    std::array<Value*, 3> q{g.add_value(g.unique_name(a->name() + "_quantized")),
                            g.add_value(g.unique_name(a->name() + "_scale")),
                            g.add_value(g.unique_name(a->name() + "_zero_point"))};
    add(g, consumer, "DynamicQuantizeLinear", {a}, {q[0], q[1], q[2]}, g.unique_name(a->name() + "_QuantizeLinear"));
    dynamic_inputs[a] = q;
    return q;
  }

  static std::vector<Value*> dq_inputs(const QuantizedWeight& qw) {
    if (qw.zero_point == nullptr) return {qw.q, qw.scale};
    return {qw.q, qw.scale, qw.zero_point};
  }

  void drop_if_unused(Value* w) {
    if (w->uses().empty() && w->is_initializer()) w->graph()->drop_initializer(w);
  }

  // MatMul and Gemm: integer matmul on a dynamically quantized A and the INT8 weight.
  bool rewrite_matmul(Graph& g, Node* n) {
    const bool gemm = n->op_type() == "Gemm";
    Value* a = n->input(0);
    Value* w = n->input(1);
    const Tensor* wt = float_constant(w);
    if (wt == nullptr || wt->dims().size() != 2) {
      skip(*n, "the second input is not a constant 2-D float32 weight");
      return false;
    }
    if (DType t = known_dtype(a); t != DType::kUndefined && t != DType::kFloat) {
      skip(*n, "input is not float32");
      return false;
    }
    if (opset < 11) {
      skip(*n, "DynamicQuantizeLinear needs opset 11 (the model has " + std::to_string(opset) + ")");
      return false;
    }
    float alpha = 1.0f, beta = 1.0f;
    Value* c = nullptr;
    WeightSpec s = spec(weight_axis(*n, *wt));
    if (gemm) {
      if (n->attr_int("transA", 0) != 0) {
        skip(*n, "Gemm with transA is left float");
        return false;
      }
      alpha = n->attr_float("alpha", 1.0f);
      beta = n->attr_float("beta", 1.0f);
      c = n->input(2);
      if (c != nullptr && beta != 1.0f && float_constant(c) == nullptr) {
        skip(*n, "Gemm with beta != 1 and a non-constant C is left float");
        return false;
      }
      s.transpose = n->attr_int("transB", 0) != 0;
    }
    const QuantizedWeight& qw = weights.weight(*w->graph(), w, s);
    const auto aq = quantize_input(g, n, a);
    const std::string base = base_name(*n);

    Value* out = n->output(0);
    Value* fresh = take_over(g, out);
    Value* yi = g.add_value(g.unique_name(out->name() + "_int32"));
    add(g, n, "MatMulInteger", qw.zero_point ? std::vector<Value*>{aq[0], qw.q, aq[2], qw.zero_point} : std::vector<Value*>{aq[0], qw.q, aq[2]}, {yi}, g.unique_name(base + "_MatMulInteger"));
    Value* yf = g.add_value(g.unique_name(out->name() + "_int32_float"));
    add(g, n, "Cast", {yi}, {yf}, g.unique_name(base + "_Cast"))->attributes().push_back(Attribute::of_int("to", 1));
    Value* wscale = qw.scale;
    if (alpha != 1.0f) {
      std::vector<float> scaled = qw.scales;
      for (float& v : scaled) v *= alpha;
      wscale = add_float_initializer(*w->graph(), w->name() + "_alpha_scale", scaled, scaled.size() == 1 && qw.axis < 0);
    }
    Value* scale = g.add_value(g.unique_name(out->name() + "_scale"));
    add(g, n, "Mul", {aq[1], wscale}, {scale}, g.unique_name(base + "_scale_Mul"));
    if (c == nullptr) {
      add(g, n, "Mul", {yf, scale}, {fresh}, g.unique_name(base + "_output_Mul"));
    } else {
      Value* product = g.add_value(g.unique_name(out->name() + "_product"));
      add(g, n, "Mul", {yf, scale}, {product}, g.unique_name(base + "_output_Mul"));
      Value* bias = c;
      if (beta != 1.0f) {
        const Tensor& ct = *float_constant(c);
        std::vector<float> scaled(ct.values<float>().begin(), ct.values<float>().end());
        for (float& v : scaled) v *= beta;
        bias = g.add_initializer(g.unique_name(c->name() + "_beta"),
                                 Tensor::from_values<float>(DType::kFloat, ct.dims(), std::span<const float>(scaled)));
      }
      add(g, n, "Add", {product, bias}, {fresh}, g.unique_name(base + "_bias_Add"));
    }
    finish_take_over(g, n, out, fresh);
    drop_if_unused(w);
    if (c != nullptr) drop_if_unused(c);
    return true;
  }

  // Conv / ConvTranspose / LSTM / GRU / RNN: the weights are stored INT8 and dequantized in
  // the graph (weight-only). Recurrent weights [directions, gates × hidden, in] get one scale
  // per gate row.
  bool rewrite_weight_only(Graph& g, Node* n) {
    const bool recurrent = n->op_type() == "LSTM" || n->op_type() == "GRU" || n->op_type() == "RNN";
    const std::vector<int> inputs = recurrent ? std::vector<int>{1, 2} : std::vector<int>{1};
    if (opset < 10) {
      skip(*n, "DequantizeLinear needs opset 10 (the model has " + std::to_string(opset) + ")");
      return false;
    }
    bool any = false;
    for (int index : inputs) {
      Value* w = n->input(index);
      const Tensor* wt = float_constant(w);
      if (wt == nullptr || wt->dims().size() < 3) {
        skip(*n, "input " + std::to_string(index) + " is not a constant float32 weight");
        continue;
      }
      const int64_t axis = opset < 13 ? -1 : recurrent ? 1 : weight_axis(*n, *wt);
      const WeightSpec s = spec(axis);
      auto key = std::make_pair(static_cast<const Value*>(w), s.axis);
      Value* dq = nullptr;
      if (auto it = dequantized.find(key); it != dequantized.end() && it->second->graph() == &g) {
        dq = it->second;
      } else {
        const QuantizedWeight& qw = weights.weight(*w->graph(), w, s);
        dq = g.add_value(g.unique_name(w->name() + "_dequantized"));
        Node* node = add(g, n, "DequantizeLinear", dq_inputs(qw), {dq}, g.unique_name(w->name() + "_DequantizeLinear"));
        if (qw.axis >= 0) node->attributes().push_back(Attribute::of_int("axis", qw.axis));
        dequantized[key] = dq;
      }
      n->set_input(index, dq);
      drop_if_unused(w);
      any = true;
    }
    return any;
  }

  // Gather on a constant table: gather INT8 rows, dequantize what was gathered.
  bool rewrite_gather(Graph& g, Node* n) {
    Value* table = n->input(0);
    if (float_constant(table) == nullptr) return false;  // not an embedding table: nothing to do
    if (opset < 10) {
      skip(*n, "DequantizeLinear needs opset 10");
      return false;
    }
    const QuantizedWeight& qw = weights.weight(*table->graph(), table, spec(-1));
    const std::string base = base_name(*n);
    Value* out = n->output(0);
    Value* fresh = take_over(g, out);
    Value* gathered = g.add_value(g.unique_name(out->name() + "_quantized"));
    Node* gather = add(g, n, "Gather", {qw.q, n->input(1)}, {gathered}, g.unique_name(base + "_quantized"));
    gather->attributes() = std::move(n->attributes());  // n is removed below
    std::vector<Value*> in = dq_inputs(qw);
    in[0] = gathered;
    add(g, n, "DequantizeLinear", std::move(in), {fresh}, g.unique_name(base + "_DequantizeLinear"));
    finish_take_over(g, n, out, fresh);
    drop_if_unused(table);
    return true;
  }

  void run_graph(Graph& g) {
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* n : nodes) {
      if (!selected(*n, options, dynamic_op_types())) continue;
      const std::string op = n->op_type();
      bool done = false;
      if (op == "MatMul" || op == "Gemm")
        done = rewrite_matmul(g, n);
      else if (op == "Conv" || op == "ConvTranspose" || op == "LSTM" || op == "GRU" || op == "RNN")
        done = rewrite_weight_only(g, n);
      else if (op == "Gather")
        done = rewrite_gather(g, n);
      if (done) summary.quantized_nodes[op]++;
    }
  }
};

}  // namespace

QuantizeSummary quantize_dynamic(Model& model, const QuantizeOptions& options, PassContext& ctx) {
  QuantizeSummary summary;
  WeightQuantizer weights(options, ctx, summary);
  DynamicRewriter rewriter{model, options, ctx, summary, weights, model.opset("").value_or(1), {}, {}};
  std::vector<Graph*> graphs;
  model.graph->for_each_graph([&](Graph& g) { graphs.push_back(&g); });
  for (Graph* g : graphs) rewriter.run_graph(*g);
  for (Graph* g : graphs) g->remove_unused_values();
  weights.take_original_names();
  return summary;
}

}  // namespace edgeq

namespace edgeq::passes {

PassResult quantize_dynamic_pass(Model& model, PassContext& ctx) {
  QuantizeSummary s = quantize_dynamic(model, QuantizeOptions{}, ctx);
  int nodes = 0;
  for (const auto& [op, n] : s.quantized_nodes) nodes += n;
  return {nodes, "quantized " + std::to_string(s.tensors.size()) + " weights, rewrote " + std::to_string(nodes) + " nodes"};
}

}  // namespace edgeq::passes
