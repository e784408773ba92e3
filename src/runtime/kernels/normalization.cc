// normalization.cc: BatchNormalization, LayerNormalization, InstanceNormalization,
// GroupNormalization, LRN and MeanVarianceNormalization.
//
// Statistics are accumulated in double (two passes: mean, then mean squared deviation), which
// is at least as accurate as the spec's float formulas. Each reduction group (a channel, a row, a
// (batch, group) block) is computed whole by one chunk, so results never depend on the thread
// count. float16/bfloat16 values are read and written through float.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

// Calls f(T{}) for the float dtypes these ops take.
template <class F>
void dispatch_float(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat: f(float{}); break;
    case DType::kDouble: f(double{}); break;
    case DType::kFloat16: f(Eigen::half{}); break;
    case DType::kBfloat16: f(Eigen::bfloat16{}); break;
    default: ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " (normalization takes float types)");
  }
}

template <class T>
inline double load(const T* p, int64_t i) { return static_cast<double>(p[i]); }
template <>
inline double load<Eigen::half>(const Eigen::half* p, int64_t i) { return static_cast<float>(p[i]); }
template <>
inline double load<Eigen::bfloat16>(const Eigen::bfloat16* p, int64_t i) { return static_cast<float>(p[i]); }

// A float tensor's values as double, whatever its float dtype (parameters may differ from X's
// dtype: BatchNormalization-15 has separate T, T1, T2).
std::vector<double> as_double(const KernelContext& ctx, const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.element_count()));
  dispatch_float(ctx, t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = t.values<T>().data();
    for (size_t i = 0; i < out.size(); ++i) out[i] = load(v, static_cast<int64_t>(i));
  });
  return out;
}

template <class T>
inline T store(double v) { return static_cast<T>(static_cast<float>(v)); }
template <>
inline double store<double>(double v) { return v; }

// Writes doubles into a new tensor of `dtype` (a float type).
Tensor tensor_from_doubles(const KernelContext& ctx, DType dtype, std::vector<int64_t> dims,
                           const std::vector<double>& v) {
  Tensor t = Tensor::allocate(dtype, std::move(dims));
  dispatch_float(ctx, dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.mutable_values<T>();
    for (size_t i = 0; i < v.size(); ++i) p[i] = store<T>(v[i]);
  });
  return t;
}

// Runs fn(i) for i in [0, groups) in chunks of about 64K elements of work.
template <class F>
void for_each_group(KernelContext& ctx, int64_t groups, int64_t group_size, F&& fn) {
  ctx.pool().for_each_item(groups, group_size, int64_t{1} << 16, fn);
}

// Mean and population variance of n values at p[0], p[stride], ... (two passes).
template <class T>
inline void moments(const T* p, int64_t n, double& mean, double& var) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += load(p, i);
  mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double dlt = load(p, i) - mean;
    sq += dlt * dlt;
  }
  var = n > 0 ? sq / static_cast<double>(n) : 0.0;
}

int64_t spatial_size(const std::vector<int64_t>& dims, size_t from) {
  int64_t s = 1;
  for (size_t i = from; i < dims.size(); ++i) s *= dims[i];
  return s;
}

// ---- BatchNormalization ----

// y = (x - mean) / sqrt(var + epsilon) * scale + B per channel (axis 1). In training mode
// (opset 14+ training_mode=1) mean/var are the batch's own statistics (population variance) and
// the optional outputs 1 and 2 are the updated running statistics:
// running = input * momentum + current * (1 - momentum).
// Before opset 9, spatial=0 means the parameters have shape C x D1 x ... (one per activation).
void batch_norm(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor& bias_t = ctx.required_input(2);
  const Tensor& mean_t = ctx.required_input(3);
  const Tensor& var_t = ctx.required_input(4);
  const int64_t opset = ctx.opset();
  const auto& xd = x.dims();
  if (xd.size() < 2) ctx.fail("X must have rank >= 2 (N x C x ...)");
  const int64_t n = xd[0], c = xd[1], s = spatial_size(xd, 2);
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  // Training mode: the training_mode attribute from opset 14; before that, is_test=0 (its
  // default) up to opset 6, and asking for the statistics outputs in opsets 7-13.
  bool training = false;
  if (opset >= 14) {
    training = ctx.attr_int("training_mode", 0) != 0;
  } else if (opset < 7) {
    training = ctx.attr_int("is_test", 0) == 0;
  } else {
    for (size_t i = 1; i < ctx.output_count(); ++i) training = training || ctx.output_wanted(i);
  }
  // Before opset 14 training also has saved_mean/saved_var outputs, whose content the spec
  // leaves open (frameworks store the variance or its inverse square root).
  for (size_t i = 3; i < ctx.output_count(); ++i)
    if (ctx.output_wanted(i)) ctx.unsupported("BatchNormalization saved_mean/saved_var outputs");
  const bool per_activation = opset < 9 && ctx.attr_int("spatial", 1) == 0;
  const int64_t params = per_activation ? c * s : c;
  auto check = [&](const Tensor& t, const char* name) {
    if (static_cast<int64_t>(t.element_count()) != params)
      ctx.fail(std::string(name) + " must have " + std::to_string(params) + " values");
  };
  check(scale_t, "scale");
  check(bias_t, "B");
  check(mean_t, "input_mean");
  check(var_t, "input_var");
  if (training && per_activation) ctx.unsupported("training mode with spatial=0");
  std::vector<double> scale = as_double(ctx, scale_t), bias = as_double(ctx, bias_t);
  std::vector<double> mean = as_double(ctx, mean_t), var = as_double(ctx, var_t);
  const int64_t per_param = per_activation ? 1 : s;  // contiguous elements sharing a parameter

  Tensor y = Tensor::allocate(x.dtype(), xd);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    if (training) {
      // Batch statistics per channel over N and the spatial dims (one chunk per channel).
      std::vector<double> bmean(c), bvar(c);
      for_each_group(ctx, c, n * s, [&](int64_t ch) {
        double sum = 0;
        for (int64_t b = 0; b < n; ++b)
          for (int64_t i = 0; i < s; ++i) sum += load(xp, (b * c + ch) * s + i);
        const double m = n * s > 0 ? sum / static_cast<double>(n * s) : 0.0;
        double sq = 0;
        for (int64_t b = 0; b < n; ++b)
          for (int64_t i = 0; i < s; ++i) {
            const double dlt = load(xp, (b * c + ch) * s + i) - m;
            sq += dlt * dlt;
          }
        bmean[ch] = m;
        bvar[ch] = n * s > 0 ? sq / static_cast<double>(n * s) : 0.0;
      });
      const double momentum = ctx.attr_float("momentum", 0.9f);
      std::vector<double> run_mean(c), run_var(c);
      for (int64_t ch = 0; ch < c; ++ch) {
        run_mean[ch] = mean[ch] * momentum + bmean[ch] * (1 - momentum);
        run_var[ch] = var[ch] * momentum + bvar[ch] * (1 - momentum);
      }
      mean = bmean;
      var = bvar;
      if (ctx.output_count() > 1 && ctx.output_wanted(1))
        ctx.set_output(1, tensor_from_doubles(ctx, mean_t.dtype(), mean_t.dims(), run_mean));
      if (ctx.output_count() > 2 && ctx.output_wanted(2))
        ctx.set_output(2, tensor_from_doubles(ctx, var_t.dtype(), var_t.dims(), run_var));
    }
    // Fold into y = x * a + b per parameter.
    std::vector<double> a(params), b(params);
    for (int64_t i = 0; i < params; ++i) {
      a[i] = scale[i] / std::sqrt(var[i] + eps);
      b[i] = bias[i] - mean[i] * a[i];
    }
    for_each_group(ctx, n * c, s, [&](int64_t plane) {
      const int64_t ch = plane % c;
      const T* xc = xp + plane * s;
      T* yc = yp + plane * s;
      if (per_param == 1) {
        const int64_t base = ch * s;
        for (int64_t i = 0; i < s; ++i) yc[i] = store<T>(load(xc, i) * a[base + i] + b[base + i]);
      } else if constexpr (std::is_same_v<T, float>) {
        const float fa = static_cast<float>(a[ch]), fb = static_cast<float>(b[ch]);
        for (int64_t i = 0; i < s; ++i) yc[i] = xc[i] * fa + fb;
      } else {
        for (int64_t i = 0; i < s; ++i) yc[i] = store<T>(load(xc, i) * a[ch] + b[ch]);
      }
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- InstanceNormalization ----

void instance_norm(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor& bias_t = ctx.required_input(2);
  const auto& xd = x.dims();
  if (xd.size() < 3) ctx.fail("X must have rank >= 3 (N x C x spatial...)");
  const int64_t n = xd[0], c = xd[1], s = spatial_size(xd, 2);
  if (static_cast<int64_t>(scale_t.element_count()) != c || static_cast<int64_t>(bias_t.element_count()) != c)
    ctx.fail("scale and B must have C values");
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  std::vector<double> scale = as_double(ctx, scale_t), bias = as_double(ctx, bias_t);
  Tensor y = Tensor::allocate(x.dtype(), xd);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    for_each_group(ctx, n * c, s, [&](int64_t plane) {
      const int64_t ch = plane % c;
      double m, v;
      moments(xp + plane * s, s, m, v);
      const double a = scale[ch] / std::sqrt(v + eps), b = bias[ch] - m * a;
      const T* xc = xp + plane * s;
      T* yc = yp + plane * s;
      for (int64_t i = 0; i < s; ++i) yc[i] = store<T>(load(xc, i) * a + b);
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- LayerNormalization (opset 17) ----

// Normalizes over the trailing axes [axis, rank): Y = (X - mean) * inv_std * Scale + B, with
// Scale and B unidirectionally broadcast to X. Mean and InvStdDev have X's shape with the
// normalized axes set to 1, in the stash_type dtype.
void layer_norm(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor* bias_t = ctx.input(2);
  const auto& xd = x.dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  if (rank < 1) ctx.fail("X must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), rank);
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  const int64_t stash = ctx.attr_int("stash_type", 1);
  DType stash_dtype;
  switch (stash) {
    case 1: stash_dtype = DType::kFloat; break;
    case 11: stash_dtype = DType::kDouble; break;
    case 10: stash_dtype = DType::kFloat16; break;
    case 16: stash_dtype = DType::kBfloat16; break;
    default: ctx.unsupported("stash_type " + std::to_string(stash));
  }
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= xd[i];
  const int64_t inner = spatial_size(xd, static_cast<size_t>(axis));

  // Scale/B offsets factor into outer and inner parts because broadcast strides are per axis.
  auto offsets = [&](const Tensor& t, const char* name, std::vector<int64_t>& outer_off,
                     std::vector<int64_t>& inner_off) {
    auto b = broadcast_shapes({xd, t.dims()});
    if (!b || *b != xd) ctx.fail(std::string(name) + " is not broadcastable to X");
    std::vector<int64_t> st = broadcast_strides(t.dims(), xd);
    auto expand = [&](int64_t from, int64_t to, std::vector<int64_t>& out) {
      int64_t count = 1;
      for (int64_t i = from; i < to; ++i) count *= xd[i];
      out.assign(static_cast<size_t>(count), 0);
      for (int64_t idx = 0; idx < count; ++idx) {
        int64_t rem = idx, off = 0;
        for (int64_t i = to - 1; i >= from; --i) {
          off += (rem % xd[i]) * st[i];
          rem /= xd[i];
        }
        out[idx] = off;
      }
    };
    expand(0, axis, outer_off);
    expand(axis, rank, inner_off);
  };
  std::vector<int64_t> s_outer, s_inner, b_outer, b_inner;
  offsets(scale_t, "Scale", s_outer, s_inner);
  if (bias_t) offsets(*bias_t, "B", b_outer, b_inner);
  std::vector<double> scale = as_double(ctx, scale_t);
  std::vector<double> bias = bias_t ? as_double(ctx, *bias_t) : std::vector<double>();

  std::vector<double> means(outer), inv_stds(outer);
  Tensor y = Tensor::allocate(x.dtype(), xd);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    for_each_group(ctx, outer, inner, [&](int64_t row) {
      const T* xr = xp + row * inner;
      T* yr = yp + row * inner;
      double m, v;
      moments(xr, inner, m, v);
      const double inv = 1.0 / std::sqrt(v + eps);
      means[row] = m;
      inv_stds[row] = inv;
      const double* sc = scale.data() + s_outer[row];
      if (bias_t) {
        const double* bs = bias.data() + b_outer[row];
        for (int64_t i = 0; i < inner; ++i)
          yr[i] = store<T>((load(xr, i) - m) * inv * sc[s_inner[i]] + bs[b_inner[i]]);
      } else {
        for (int64_t i = 0; i < inner; ++i) yr[i] = store<T>((load(xr, i) - m) * inv * sc[s_inner[i]]);
      }
    });
  });
  ctx.set_output(0, std::move(y));
  std::vector<int64_t> stat_dims(xd.begin(), xd.begin() + axis);
  stat_dims.resize(static_cast<size_t>(rank), 1);
  if (ctx.output_count() > 1 && ctx.output_wanted(1))
    ctx.set_output(1, tensor_from_doubles(ctx, stash_dtype, stat_dims, means));
  if (ctx.output_count() > 2 && ctx.output_wanted(2))
    ctx.set_output(2, tensor_from_doubles(ctx, stash_dtype, stat_dims, inv_stds));
}

// ---- GroupNormalization (opset 18 and 21) ----

// Channels are split into num_groups groups; each (batch, group) block is normalized over its
// channels and spatial dims. Opset 18 has one scale/bias per group, opset 21 one per channel.
void group_norm(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor& bias_t = ctx.required_input(2);
  const auto& xd = x.dims();
  if (xd.size() < 2) ctx.fail("X must have rank >= 2 (N x C x ...)");
  const int64_t n = xd[0], c = xd[1], s = spatial_size(xd, 2);
  const int64_t groups = ctx.attr_int("num_groups", 0);
  if (groups <= 0 || c % groups != 0) ctx.fail("num_groups must be positive and divide the channel count");
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  const bool per_channel = ctx.opset() >= 21;
  const int64_t params = per_channel ? c : groups;
  if (static_cast<int64_t>(scale_t.element_count()) != params ||
      static_cast<int64_t>(bias_t.element_count()) != params)
    ctx.fail("scale and bias must have " + std::to_string(params) + " values");
  std::vector<double> scale = as_double(ctx, scale_t), bias = as_double(ctx, bias_t);
  const int64_t cpg = c / groups, block = cpg * s;
  Tensor y = Tensor::allocate(x.dtype(), xd);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    // Channels of one group are contiguous, so a (batch, group) block is contiguous too.
    for_each_group(ctx, n * groups, block, [&](int64_t blk) {
      const int64_t grp = blk % groups;
      double m, v;
      moments(xp + blk * block, block, m, v);
      const double inv = 1.0 / std::sqrt(v + eps);
      for (int64_t j = 0; j < cpg; ++j) {
        const int64_t p = per_channel ? grp * cpg + j : grp;
        const double a = scale[p] * inv, b = bias[p] - m * a;
        const T* xc = xp + blk * block + j * s;
        T* yc = yp + blk * block + j * s;
        for (int64_t i = 0; i < s; ++i) yc[i] = store<T>(load(xc, i) * a + b);
      }
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- LRN ----

// Cross-channel local response normalization: for channel c the square sum runs over channels
// [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C), and
// y = x / (bias + alpha / size * square_sum) ^ beta.
void lrn(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto& xd = x.dims();
  if (xd.size() < 2) ctx.fail("X must have rank >= 2 (N x C x ...)");
  const int64_t size = ctx.attr_int("size", 0);
  if (size <= 0) ctx.fail("size must be positive");
  const double alpha = ctx.attr_float("alpha", 1e-4f), beta = ctx.attr_float("beta", 0.75f);
  const double bias = ctx.attr_float("bias", 1.0f);
  const int64_t n = xd[0], c = xd[1], s = spatial_size(xd, 2);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  Tensor y = Tensor::allocate(x.dtype(), xd);
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    for_each_group(ctx, n * c, s * size, [&](int64_t plane) {
      const int64_t b = plane / c, ch = plane % c;
      const int64_t c0 = std::max<int64_t>(0, ch - before), c1 = std::min(c - 1, ch + after);
      for (int64_t i = 0; i < s; ++i) {
        double sq = 0;
        for (int64_t k = c0; k <= c1; ++k) {
          const double v = load(xp, (b * c + k) * s + i);
          sq += v * v;
        }
        const double v = load(xp, plane * s + i);
        yp[plane * s + i] = store<T>(v / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
      }
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- MeanVarianceNormalization (opset 9, 13) ----

// Y = (X - mean) / (sqrt(variance) + 1e-9) with statistics over `axes` (default [0, 2, 3]).
void mean_variance_norm(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto& xd = x.dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  std::vector<int64_t> axes = ctx.attr_ints("axes", {0, 2, 3});
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    const int64_t ax = normalize_axis(ctx, a, rank);
    if (reduced[ax]) ctx.fail("axes has a duplicate");
    reduced[ax] = true;
  }
  // Offsets of the kept and the reduced index spaces; an element's offset is their sum.
  std::vector<int64_t> strides(static_cast<size_t>(rank), 1);
  for (int64_t i = rank - 2; i >= 0; --i) strides[i] = strides[i + 1] * xd[i + 1];
  auto offsets = [&](bool want_reduced) {
    std::vector<int64_t> out{0};
    for (int64_t i = 0; i < rank; ++i) {
      if (reduced[i] != want_reduced) continue;
      std::vector<int64_t> next;
      next.reserve(out.size() * static_cast<size_t>(xd[i]));
      for (int64_t base : out)
        for (int64_t j = 0; j < xd[i]; ++j) next.push_back(base + j * strides[i]);
      out.swap(next);
    }
    return out;
  };
  const std::vector<int64_t> kept = offsets(false), red = offsets(true);
  const int64_t rn = static_cast<int64_t>(red.size());
  Tensor y = Tensor::allocate(x.dtype(), xd);
  if (x.element_count() == 0) return ctx.set_output(0, std::move(y));
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    for_each_group(ctx, static_cast<int64_t>(kept.size()), rn, [&](int64_t k) {
      const int64_t base = kept[k];
      double sum = 0;
      for (int64_t r = 0; r < rn; ++r) sum += load(xp, base + red[r]);
      const double m = sum / static_cast<double>(rn);
      double sq = 0;
      for (int64_t r = 0; r < rn; ++r) {
        const double dlt = load(xp, base + red[r]) - m;
        sq += dlt * dlt;
      }
      const double denom = std::sqrt(sq / static_cast<double>(rn)) + 1e-9;
      for (int64_t r = 0; r < rn; ++r) yp[base + red[r]] = store<T>((load(xp, base + red[r]) - m) / denom);
    });
  });
  ctx.set_output(0, std::move(y));
}

}  // namespace

void register_normalization_kernels(KernelRegistry& r) {
  r.add("", "BatchNormalization", batch_norm);
  r.add("", "InstanceNormalization", instance_norm);
  r.add("", "LayerNormalization", layer_norm, 17);
  r.add("", "GroupNormalization", group_norm, 18);
  r.add("", "LRN", lrn);
  r.add("", "MeanVarianceNormalization", mean_variance_norm, 9);
}

}  // namespace edgeq
