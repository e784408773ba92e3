// Data-free bias correction after pruning (bias_correction.h).
#include "passes/prune/bias_correction.h"

#include "passes/graph/rewrite.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

namespace edgeq::pruning {

namespace {

using passes::is_graph_input;
using passes::is_graph_output;
using passes::known_rank;

const Tensor* float_constant(const Value* v) {
  if (v == nullptr || !v->is_initializer()) return nullptr;
  const Tensor* t = v->initializer();
  return t->dtype() == DType::kFloat ? t : nullptr;
}

// A constant only `node` reads (so changing it changes nothing else), and no caller can override
// (not a graph input).
const Tensor* private_constant(const Value* v) {
  const Tensor* t = float_constant(v);
  if (t == nullptr || v->uses().size() != 1 || is_graph_output(v) || is_graph_input(v)) return nullptr;
  return t;
}

// The single reader of `v`, or nullptr.
Node* only_reader(const Value* v) {
  if (v == nullptr || v->uses().size() != 1 || is_graph_output(v)) return nullptr;
  return v->uses().front().node;
}

// BatchNormalization's per-channel scale and B, when both are float constants of `channels`.
bool bn_affine(const Node* bn, std::vector<double>& scale, std::vector<double>& shift, std::string& why) {
  const Tensor* s = float_constant(bn->input(1));
  const Tensor* b = float_constant(bn->input(2));
  if (s == nullptr || b == nullptr || s->element_count() != b->element_count()) {
    why = "the BatchNormalization before it has no constant scale and bias";
    return false;
  }
  scale.assign(s->values<float>().begin(), s->values<float>().end());
  shift.assign(b->values<float>().begin(), b->values<float>().end());
  return true;
}

// E[x_c] of the value `x` a layer reads, per channel (axis 1); nullopt with `why` when the graph's
// constants do not determine it. `flattened` allows Flatten(axis 1) of GlobalAveragePool's output
// (the [N, C] input of Gemm / MatMul).
std::optional<std::vector<double>> expected_input(const Value* x, bool flattened, std::string& why) {
  const Node* p = x->producer();
  auto unknown = [&why](const Node* producer) {
    why = std::string("the expected value of its input is unknown (produced by ") +
          (producer == nullptr ? "a graph input" : producer->op_type()) + "; --calib measures it)";
    return std::nullopt;
  };
  if (flattened) {
    if (p == nullptr || p->op_type() != "Flatten" || p->attr_int("axis", 1) != 1) return unknown(p);
    p = p->input(0)->producer();
    if (p == nullptr || p->op_type() != "GlobalAveragePool") return unknown(p);
  }
  // GlobalAveragePool keeps each channel's mean.
  if (p != nullptr && p->op_type() == "GlobalAveragePool") p = p->input(0)->producer();
  const bool rectified = p != nullptr && p->op_type() == "Relu";
  if (rectified) p = p->input(0)->producer();
  if (p == nullptr || p->op_type() != "BatchNormalization" || !p->domain().empty()) return unknown(p);
  std::vector<double> scale, shift;
  if (!bn_affine(p, scale, shift, why)) return std::nullopt;
  std::vector<double> e(shift.size());
  for (size_t c = 0; c < e.size(); ++c) {
    const double mu = shift[c], sigma = std::fabs(scale[c]);
    if (!rectified) {
      e[c] = mu;
    } else if (sigma == 0.0) {
      e[c] = std::max(mu, 0.0);
    } else {
      const double a = mu / sigma;
      const double pdf = std::exp(-0.5 * a * a) / std::sqrt(2.0 * std::numbers::pi);
      const double cdf = 0.5 * std::erfc(-a / std::numbers::sqrt2);
      e[c] = mu * cdf + sigma * pdf;
    }
    if (!std::isfinite(e[c])) {
      why = "the BatchNormalization before it has non-finite constants";
      return std::nullopt;
    }
  }
  return e;
}

Tensor plus(const Tensor& t, const std::vector<double>& add, double factor) {
  Tensor out = Tensor::allocate(DType::kFloat, t.dims());
  out.carried = t.carried;
  const auto in = t.values<float>();
  float* o = out.mutable_values<float>();
  for (size_t i = 0; i < add.size(); ++i) o[i] = static_cast<float>(static_cast<double>(in[i]) + factor * add[i]);
  return out;
}

Tensor vector_tensor(const std::vector<double>& v, double factor) {
  Tensor out = Tensor::allocate(DType::kFloat, {static_cast<int64_t>(v.size())});
  float* o = out.mutable_values<float>();
  for (size_t i = 0; i < v.size(); ++i) o[i] = static_cast<float>(factor * v[i]);
  return out;
}

// Sets optional input `index` of `node` to a new initializer.
std::string add_constant_input(Node* node, size_t index, const std::string& base, Tensor t) {
  Graph* g = node->graph();
  Value* v = g->add_initializer(g->unique_name(base), std::move(t));
  while (node->inputs().size() < index) node->add_input(nullptr);
  if (node->inputs().size() == index)
    node->add_input(v);
  else
    node->set_input(index, v);
  return v->name();
}

// Adds `s` to the per-channel constant that follows a layer without its own bias: the running
// mean of a BatchNormalization (mean − s; BatchNormalization's channels are axis 1, so only after
// a Conv, or a Gemm / MatMul whose output is known to be 2-D), or the constant of a bias Add
// (only after Gemm / MatMul, whose channels are the last axis the constant broadcasts along; a
// Conv without bias gets one instead).
std::string add_after(Node* layer, const std::vector<double>& s, std::string& target) {
  const std::string& op = layer->op_type();
  Node* next = only_reader(layer->output(0));
  const bool channels_on_axis1 = op == "Conv" || op == "Gemm" || known_rank(layer->output(0)) == 2;
  if (next != nullptr && next->op_type() == "BatchNormalization" && next->domain().empty() &&
      next->input(0) == layer->output(0) && channels_on_axis1) {
    const Tensor* mean = private_constant(next->input(3));
    if (mean == nullptr || mean->element_count() != s.size())
      return "the BatchNormalization after it has no private constant mean";
    next->input(3)->set_initializer(plus(*mean, s, -1.0));
    target = next->input(3)->name();
    return "";
  }
  if (next != nullptr && next->op_type() == "Add" && next->domain().empty() && op != "Conv") {
    Value* other = next->input(0) == layer->output(0) ? next->input(1) : next->input(0);
    const Tensor* bias = private_constant(other);
    if (bias == nullptr || bias->element_count() != s.size() || bias->dims().empty() ||
        bias->dims().back() != static_cast<int64_t>(s.size()))
      return "the Add after it has no private constant bias of its channels";
    other->set_initializer(plus(*bias, s, 1.0));
    target = other->name();
    return "";
  }
  return "its output has no per-channel constant to correct";
}

}  // namespace

std::string correct_bias(const Candidate& c, const float* original, const float* pruned, std::string& target,
                         const std::vector<double>* measured, bool& used_measured) {
  used_measured = false;
  if (c.nodes.size() != 1) return "the weight is read by several layers";
  Node* node = c.nodes.front();
  const std::string& op = node->op_type();
  const std::vector<int64_t>& dims = c.weight->initializer()->dims();
  std::string why;
  std::vector<double> s;  // per output channel: the mean the pruning removed

  if (op == "Conv") {
    if (dims.size() < 2) return "unexpected weight rank";
    const int64_t cout = dims[0], cin_g = dims[1];
    const int64_t groups = std::max<int64_t>(1, node->attr_int("group", 1));
    int64_t ksize = 1;
    for (size_t a = 2; a < dims.size(); ++a) ksize *= dims[a];
    auto e = expected_input(node->input(0), false, why);
    if (!e && measured) {
      e = *measured;
      used_measured = true;
    }
    if (!e) return why;
    if (cout % groups != 0 || static_cast<int64_t>(e->size()) != cin_g * groups)
      return "the channels of its input and weight disagree";
    s.assign(static_cast<size_t>(cout), 0.0);
    for (int64_t o = 0; o < cout; ++o) {
      const int64_t first = (o / (cout / groups)) * cin_g;
      double sum = 0;
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        const double ex = (*e)[static_cast<size_t>(first + ci)];
        const int64_t base = (o * cin_g + ci) * ksize;
        for (int64_t k = 0; k < ksize; ++k)
          sum += (static_cast<double>(original[base + k]) - static_cast<double>(pruned[base + k])) * ex;
      }
      s[static_cast<size_t>(o)] = sum;
    }
  } else if (op == "Gemm" || op == "MatMul") {
    if (dims.size() != 2) return "the weight is not 2-D";
    if (op == "Gemm" && node->attr_int("transA", 0) != 0) return "Gemm with transA";
    const bool trans = op == "Gemm" && node->attr_int("transB", 0) != 0;
    const int64_t k = trans ? dims[1] : dims[0], n = trans ? dims[0] : dims[1];
    auto e = expected_input(node->input(0), true, why);
    if (!e && measured) {
      e = *measured;
      used_measured = true;
    }
    if (!e) return why;
    if (static_cast<int64_t>(e->size()) != k) return "the channels of its input and weight disagree";
    s.assign(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = trans ? j * k + i : i * n + j;
        s[static_cast<size_t>(j)] +=
            (static_cast<double>(original[at]) - static_cast<double>(pruned[at])) * (*e)[static_cast<size_t>(i)];
      }
  } else {
    return op + " is not corrected";
  }
  // Gemm: Y = alpha·A·B + beta·C, so the outputs lost alpha·s.
  if (op == "Gemm") {
    const double alpha = node->attr_float("alpha", 1.0f);
    for (double& v : s) v *= alpha;
  }
  if (std::all_of(s.begin(), s.end(), [](double v) { return v == 0.0; })) return "nothing to correct";
  if (std::any_of(s.begin(), s.end(), [](double v) { return !std::isfinite(v); })) return "non-finite weights";

  const std::string base = c.weight->name() + "_bias";
  if (op == "Conv") {
    Value* bias = node->input(2);
    if (bias != nullptr) {
      const Tensor* t = private_constant(bias);
      if (t == nullptr || t->element_count() != s.size()) return "its bias is shared or not a constant";
      bias->set_initializer(plus(*t, s, 1.0));
      target = bias->name();
      return "";
    }
    if (add_after(node, s, target).empty()) return "";
    target = add_constant_input(node, 2, base, vector_tensor(s, 1.0));
    return "";
  }
  if (op == "Gemm") {
    const double beta = node->attr_float("beta", 1.0f);
    if (beta == 0.0) return "Gemm with beta 0";
    Value* bias = node->input(2);
    if (bias != nullptr) {
      const Tensor* t = private_constant(bias);
      if (t == nullptr || t->element_count() != s.size() || t->dims().empty() ||
          t->dims().back() != static_cast<int64_t>(s.size()))
        return "its bias C is shared, not a constant or not one value per output";
      bias->set_initializer(plus(*t, s, 1.0 / beta));
      target = bias->name();
      return "";
    }
    if (add_after(node, s, target).empty()) return "";
    target = add_constant_input(node, 2, base, vector_tensor(s, 1.0 / beta));  // C is optional from opset 11, required before
    return "";
  }
  return add_after(node, s, target);  // MatMul
}

}  // namespace edgeq::pruning
