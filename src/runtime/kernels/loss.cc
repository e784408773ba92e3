// Loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13), which models
// exported with their training loss attached still contain.
//
// Per the ONNX spec, with input [N, C, d1..dk] and target [N, d1..dk]:
//   loss[n, d] = -input[n, target[n, d], d] * weight[target[n, d]]   (0 where target == ignore_index)
//   reduction "none": loss; "sum": Σ loss; "mean": Σ loss / Σ weight[target] over kept elements.
// SoftmaxCrossEntropyLoss is the same on log_softmax(scores) along axis 1, and can also return
// that log-probability tensor.
#include <cmath>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

template <class T>
double to_double(T v) {
  return static_cast<double>(static_cast<float>(v));
}
template <>
double to_double<double>(double v) {
  return v;
}

struct LossShape {
  int64_t n, c, inner;  // input viewed as [N, C, inner]
};

LossShape loss_shape(const KernelContext& ctx, const Tensor& input, const Tensor& target) {
  const auto& in = input.dims();
  if (in.size() < 2) ctx.fail("input must be at least 2-D [N, C, ...]");
  std::vector<int64_t> expected{in[0]};
  expected.insert(expected.end(), in.begin() + 2, in.end());
  if (target.dims() != expected) ctx.fail("target shape must be input shape without the class axis");
  int64_t inner = 1;
  for (size_t i = 2; i < in.size(); ++i) inner *= in[i];
  return {in[0], in[1], inner};
}

std::vector<int64_t> read_targets(const KernelContext& ctx, const Tensor& target) {
  return read_int_list(ctx, target);
}

// Computes the NLL loss from log-probabilities `logp` (as doubles, [N, C, inner]).
template <class T>
Tensor nll(const KernelContext& ctx, const std::vector<double>& logp, const LossShape& s,
           const std::vector<int64_t>& target, const Tensor* weight, const std::vector<int64_t>& out_dims) {
  const std::string reduction = ctx.attr_string("reduction", "mean");
  const bool has_ignore = ctx.has_attr("ignore_index");
  const int64_t ignore = ctx.attr_int("ignore_index", 0);
  std::vector<double> w;
  if (weight != nullptr) {
    if (weight->dims() != std::vector<int64_t>{s.c}) ctx.fail("weight must have shape [C]");
    dispatch_dtype(ctx, weight->dtype(), [&](auto tag) {
      using W = decltype(tag);
      for (W v : weight->values<W>()) w.push_back(to_double(v));
    });
  }
  std::vector<double> loss(static_cast<size_t>(s.n * s.inner), 0.0);
  double weight_sum = 0;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t t = target[static_cast<size_t>(n * s.inner + i)];
      if (has_ignore && t == ignore) continue;
      if (t < 0 || t >= s.c) ctx.fail("target " + std::to_string(t) + " is outside [0, " + std::to_string(s.c) + ")");
      const double wt = w.empty() ? 1.0 : w[static_cast<size_t>(t)];
      loss[static_cast<size_t>(n * s.inner + i)] = -logp[static_cast<size_t>((n * s.c + t) * s.inner + i)] * wt;
      weight_sum += wt;
    }
  if (reduction == "none") {
    Tensor out = Tensor::allocate(dtype_of<T>(), out_dims);
    T* o = out.mutable_values<T>();
    for (size_t i = 0; i < loss.size(); ++i) o[i] = static_cast<T>(loss[i]);
    return out;
  }
  double total = 0;
  for (double v : loss) total += v;
  if (reduction == "mean") total = total / weight_sum;
  else if (reduction != "sum") ctx.fail("reduction must be none, sum or mean, got '" + reduction + "'");
  Tensor out = Tensor::allocate(dtype_of<T>(), {});
  out.mutable_values<T>()[0] = static_cast<T>(total);
  return out;
}

template <class F>
void dispatch_float(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat: f(float{}); break;
    case DType::kDouble: f(double{}); break;
    case DType::kFloat16: f(Eigen::half{}); break;
    case DType::kBfloat16: f(Eigen::bfloat16{}); break;
    default: ctx.unsupported("loss input of dtype " + std::string(dtype_name(dtype)));
  }
}

void negative_log_likelihood_loss(KernelContext& ctx) {
  const Tensor& input = ctx.required_input(0);
  const Tensor& target = ctx.required_input(1);
  const LossShape s = loss_shape(ctx, input, target);
  dispatch_float(ctx, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<double> logp;
    logp.reserve(input.element_count());
    for (T v : input.values<T>()) logp.push_back(to_double(v));
    ctx.set_output(0, nll<T>(ctx, logp, s, read_targets(ctx, target), ctx.input(2), target.dims()));
  });
}

void softmax_cross_entropy_loss(KernelContext& ctx) {
  const Tensor& scores = ctx.required_input(0);
  const Tensor& labels = ctx.required_input(1);
  const LossShape s = loss_shape(ctx, scores, labels);
  dispatch_float(ctx, scores.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto x = scores.values<T>();
    std::vector<double> logp(x.size());
    // log_softmax along the class axis, per (n, inner) position, max subtracted for stability.
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t i = 0; i < s.inner; ++i) {
        auto at = [&](int64_t c) { return static_cast<size_t>((n * s.c + c) * s.inner + i); };
        double mx = -INFINITY;
        for (int64_t c = 0; c < s.c; ++c) mx = std::max(mx, to_double(x[at(c)]));
        double sum = 0;
        for (int64_t c = 0; c < s.c; ++c) sum += std::exp(to_double(x[at(c)]) - mx);
        const double log_sum = std::log(sum);
        for (int64_t c = 0; c < s.c; ++c) logp[at(c)] = to_double(x[at(c)]) - mx - log_sum;
      }
    ctx.set_output(0, nll<T>(ctx, logp, s, read_targets(ctx, labels), ctx.input(2), labels.dims()));
    if (ctx.output_wanted(1)) {
      Tensor lp = Tensor::allocate(scores.dtype(), scores.dims());
      T* o = lp.template mutable_values<T>();
      for (size_t k = 0; k < logp.size(); ++k) o[k] = static_cast<T>(logp[k]);
      ctx.set_output(1, std::move(lp));
    }
  });
}

}  // namespace

void register_loss_kernels(KernelRegistry& r) {
  r.add("", "NegativeLogLikelihoodLoss", negative_log_likelihood_loss, 12);
  r.add("", "SoftmaxCrossEntropyLoss", softmax_cross_entropy_loss, 12);
}

}  // namespace edgeq
