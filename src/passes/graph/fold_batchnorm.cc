// fold_batchnorm: inference BatchNormalization is a per-channel affine map,
//   y = (x - mean) * s + B  with  s = scale / sqrt(var + epsilon),
// so when x comes straight from a Conv, ConvTranspose or Gemm with constant weights, scaling the
// weights of output channel c by s[c] and replacing the bias b by (b - mean) * s + B gives the
// same result without the BatchNormalization node. The producer's output must have no other
// reader. The folded weights are new initializers (fresh names: the old ones may be shared);
// the old ones are dropped once nothing reads them.
#include <Eigen/Core>

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>

#include "edgeq/error.h"
#include "edgeq/passes/pass.h"
#include "passes/graph/rewrite.h"
#include "passes/passes.h"

namespace edgeq::passes {

namespace {

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// What the fold needs to know about the producer.
struct Producer {
  Node* node;
  const Tensor* weight;
  const Tensor* bias;       // nullptr when absent
  int64_t channels;         // output channels C
  int64_t group = 1;        // Conv / ConvTranspose
  bool trans_b = false;     // Gemm
  double beta = 1.0;        // Gemm
};

// A constant 1-D parameter of length C with the weights' dtype, or nullptr.
const Tensor* channel_param(const Value* v, DType dtype, int64_t channels, int64_t ir) {
  const Tensor* t = constant_value(v, ir);
  if (t == nullptr || t->dtype() != dtype || t->dims().size() != 1 || t->dims()[0] != channels)
    return nullptr;
  return t;
}

bool supported_dtype(DType d) {
  return d == DType::kFloat || d == DType::kDouble || d == DType::kFloat16;
}

// The producer of `x` when the fold applies to it, else nullopt.
std::optional<Producer> foldable_producer(const Value* x, const Graph& g, int64_t ir) {
  Node* p = x->producer();
  if (p == nullptr || p->graph() != &g || !default_domain(*p) || p->output(0) != x ||
      x->uses().size() != 1 || is_graph_output(x))
    return std::nullopt;
  const std::string& op = p->op_type();
  if (op != "Conv" && op != "ConvTranspose" && op != "Gemm") return std::nullopt;
  Producer r{p, constant_value(p->input(1), ir), nullptr, 0};
  if (r.weight == nullptr || !supported_dtype(r.weight->dtype())) return std::nullopt;
  const auto& w = r.weight->dims();
  if (op == "Gemm") {
    if (w.size() != 2) return std::nullopt;
    r.trans_b = p->attr_int("transB", 0) != 0;
    r.beta = p->attr_float("beta", 1.0f);
    r.channels = r.trans_b ? w[0] : w[1];
  } else {
    r.group = p->attr_int("group", 1);
    if (w.size() < 3 || r.group < 1) return std::nullopt;
    r.channels = op == "Conv" ? w[0] : w[1] * r.group;
    if (op == "ConvTranspose" && w[0] % r.group != 0) return std::nullopt;
  }
  if (Value* b = p->input(2)) {
    r.bias = constant_value(b, ir);
    if (r.bias == nullptr || r.bias->dtype() != r.weight->dtype()) return std::nullopt;
    const uint64_t n = r.bias->element_count();
    // Gemm's C broadcasts: a scalar or one value per column folds; a full [M, N] matrix does not.
    const bool per_channel = r.bias->dims().size() >= 1 && r.bias->dims().back() == r.channels &&
                             n == static_cast<uint64_t>(r.channels);
    if (!(per_channel || (op == "Gemm" && n == 1))) return std::nullopt;
  }
  return r;
}

// Inference form only: training_mode (opset 14) off, no statistics outputs in use, and the
// per-channel ("spatial") form of opsets before 9.
bool inference_batchnorm(const Node& bn) {
  if (bn.attr_int("training_mode", 0) != 0 || bn.attr_int("spatial", 1) != 1) return false;
  if (bn.inputs().size() != 5 || bn.output(0) == nullptr) return false;
  for (size_t k = 1; k < bn.outputs().size(); ++k) {
    const Value* extra = bn.output(k);
    if (extra != nullptr && (!extra->uses().empty() || is_graph_output(extra))) return false;
  }
  return true;
}

template <class T>
double to_double(T v) {
  return static_cast<double>(static_cast<float>(v));
}
template <>
double to_double(double v) {
  return v;
}
template <class T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else return static_cast<T>(static_cast<float>(v));
}

// New weight and bias: channel c of the output scaled by s[c], bias (b - mean) * s + B.
template <class T>
std::pair<Tensor, Tensor> fold(const Producer& p, const Node& bn) {
  const int64_t C = p.channels;
  const double eps = bn.attr_float("epsilon", 1e-5f);
  auto param = [&](size_t i) { return bn.input(i)->initializer()->values<T>(); };
  auto scale = param(1), shift = param(2), mean = param(3), var = param(4);
  std::vector<double> s(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    s[c] = to_double(scale[c]) / std::sqrt(to_double(var[c]) + eps);

  const Tensor& w = *p.weight;
  const auto& d = w.dims();
  Tensor w2 = Tensor::allocate(w.dtype(), d);
  auto in = w.values<T>();
  T* out = w2.template mutable_values<T>();
  const std::string& op = p.node->op_type();
  // The output channel of weight element i.
  std::function<int64_t(size_t)> channel_of;
  if (op == "Conv") {
    const size_t per_channel = in.size() / static_cast<size_t>(d[0]);  // [M, C/g, k...]
    channel_of = [=](size_t i) { return static_cast<int64_t>(i / per_channel); };
  } else if (op == "ConvTranspose") {
    // [Cin, M/g, k...]: input channel ci belongs to group ci / (Cin/g), whose output channels
    // are group * M/g + j.
    size_t kernel = 1;
    for (size_t k = 2; k < d.size(); ++k) kernel *= static_cast<size_t>(d[k]);
    const int64_t in_per_group = d[0] / p.group, out_per_group = d[1];
    channel_of = [=](size_t i) {
      const int64_t ci = static_cast<int64_t>(i / (kernel * static_cast<size_t>(out_per_group)));
      const int64_t j = static_cast<int64_t>(i / kernel) % out_per_group;
      return ci / in_per_group * out_per_group + j;
    };
  } else if (p.trans_b) {  // Gemm B [N, K]
    const size_t k = static_cast<size_t>(d[1]);
    channel_of = [=](size_t i) { return static_cast<int64_t>(i / k); };
  } else {  // Gemm B [K, N]
    const size_t n = static_cast<size_t>(d[1]);
    channel_of = [=](size_t i) { return static_cast<int64_t>(i % n); };
  }
  for (size_t i = 0; i < in.size(); ++i) out[i] = from_double<T>(to_double(in[i]) * s[channel_of(i)]);

  Tensor b2 = Tensor::allocate(w.dtype(), {C});
  T* bout = b2.template mutable_values<T>();
  for (int64_t c = 0; c < C; ++c) {
    double b = 0;
    if (p.bias) {
      auto bv = p.bias->values<T>();
      b = to_double(bv[bv.size() == 1 ? 0 : static_cast<size_t>(c)]);
    }
    if (op == "Gemm") b *= p.beta;  // beta becomes 1 below
    bout[c] = from_double<T>((b - to_double(mean[c])) * s[c] + to_double(shift[c]));
  }
  return {std::move(w2), std::move(b2)};
}

}  // namespace

PassResult fold_batchnorm(Model& model, PassContext& ctx) {
  int folded = 0;
  std::vector<Value*> replaced;
  model.graph->for_each_graph([&](Graph& g) {
    std::vector<Node*> nodes;
    for (const auto& n : g.nodes()) nodes.push_back(n.get());
    for (Node* bn : nodes) {
      if (!default_domain(*bn) || bn->op_type() != "BatchNormalization" || !inference_batchnorm(*bn))
        continue;
      Value* x = bn->input(0);
      if (x == nullptr) continue;
      auto p = foldable_producer(x, g, model.ir_version);
      if (!p) continue;
      const DType dtype = p->weight->dtype();
      bool params_ok = true;
      for (size_t i = 1; i < 5; ++i) params_ok = params_ok && channel_param(bn->input(i), dtype, p->channels, model.ir_version);
      if (!params_ok) continue;

      std::pair<Tensor, Tensor> wb;
      if (dtype == DType::kFloat) wb = fold<float>(*p, *bn);
      else if (dtype == DType::kDouble) wb = fold<double>(*p, *bn);
      else wb = fold<Eigen::half>(*p, *bn);

      Node* producer = p->node;
      Value* old_w = producer->input(1);
      Value* old_b = producer->input(2);
      for (size_t i = 1; i < 5; ++i) replaced.push_back(bn->input(i));
      replaced.push_back(old_w);
      replaced.push_back(old_b);
      Value* new_w = g.add_initializer(g.unique_name(old_w->name() + "_bn"), std::move(wb.first));
      Value* new_b = g.add_initializer(
          g.unique_name((old_b ? old_b->name() : old_w->name() + "_bias") + "_bn"), std::move(wb.second));
      producer->set_input(1, new_w);
      if (producer->inputs().size() > 2) producer->set_input(2, new_b);
      else producer->add_input(new_b);
      if (Attribute* beta = producer->attr("beta")) beta->f = 1.0f;
      const std::string what = bn->describe() + " into " + producer->describe();
      // The producer's output is read only by the BatchNormalization and is not a graph output,
      // so it can always take the BatchNormalization output's place (and name, if needed).
      EDGEQ_CHECK(bypass_node(bn, x, bn->output(0)), "fold_batchnorm: cannot bypass " + what);
      ctx.note("folded " + what);
      ++folded;
    }
    g.remove_unused_values();
  });
  const int dropped = drop_initializers_if_unused(replaced);
  if (folded > 0) allow_initializers_without_inputs(model, ctx);
  PassResult result;
  result.changes = folded;
  result.summary = "folded " + std::to_string(folded) + " BatchNormalization into Conv/ConvTranspose/Gemm (" +
                   std::to_string(dropped) + " old initializers dropped)";
  return result;
}

}  // namespace edgeq::passes
