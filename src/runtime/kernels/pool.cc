// pool.cc: MaxPool, AveragePool, LpPool, their Global* forms, MaxRoiPool and MaxUnpool.
//
// Windowed pools share one geometry (kernel, strides, dilations, pads, auto_pad, ceil_mode) with
// spatial dims padded in front to three (D, H, W). Work is split by (batch, channel) planes in
// groups whose size depends only on the shape; every output element is computed by one chunk.
// Padding never contributes a value: MaxPool skips it, LpPool adds nothing for it, AveragePool
// only counts it in the divisor when count_include_pad=1.
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/kernels/conv_geometry.h"
#include "runtime/kernel.h"

namespace edgeq {

namespace {


// Accumulator type: float for the 16-bit floats and float, double for double.
template <class T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };
template <class T> using acc_t = typename Acc<T>::type;

struct PoolGeom {
  int64_t n = 0, c = 0;
  int nd = 0;
  Dims3 in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0};
  int64_t in_pixels() const { return in[0] * in[1] * in[2]; }
  int64_t out_pixels() const { return out[0] * out[1] * out[2]; }
  int64_t planes() const { return n * c; }
  int64_t dk(int i) const { return (k[i] - 1) * d[i] + 1; }
  std::vector<int64_t> out_dims() const {
    std::vector<int64_t> o{n, c};
    for (int i = kMaxSpatial - nd; i < kMaxSpatial; ++i) o.push_back(out[i]);
    return o;
  }
};

void read_input_dims(const KernelContext& ctx, const Tensor& x, PoolGeom& g) {
  const auto& xd = x.dims();
  if (xd.size() < 3) ctx.fail("input X must have rank >= 3 (N x C x spatial...)");
  g.nd = static_cast<int>(xd.size()) - 2;
  if (g.nd > kMaxSpatial) ctx.unsupported("pooling over more than 3 spatial dims");
  g.n = xd[0];
  g.c = xd[1];
  for (int j = 0; j < g.nd; ++j) g.in[kMaxSpatial - g.nd + j] = xd[2 + j];
}

// Window geometry per the pooling spec (MaxPool / AveragePool / LpPool): explicit pads give
// floor((in + pads - dilated_kernel) / stride) + 1 (ceil with ceil_mode, where a window that would
// start inside the end padding is dropped); SAME_* gives ceil(in / stride) with the needed
// padding split evenly (odd unit at the end for SAME_UPPER); VALID uses no padding.
PoolGeom pool_geometry(const KernelContext& ctx, const Tensor& x, bool allow_ceil, bool allow_dilations) {
  PoolGeom g;
  read_input_dims(ctx, x, g);
  const size_t nd = static_cast<size_t>(g.nd);
  const int off = kMaxSpatial - g.nd;
  if (!ctx.has_attr("kernel_shape")) ctx.fail("kernel_shape is required");
  auto ks = spatial_attr(ctx, "kernel_shape", nd, 1);
  auto strides = spatial_attr(ctx, "strides", nd, 1);
  auto dil = allow_dilations ? spatial_attr(ctx, "dilations", nd, 1) : std::vector<int64_t>(nd, 1);
  auto pads = spatial_attr(ctx, "pads", 2 * nd, 0);
  const bool ceil_mode = allow_ceil && ctx.attr_int("ceil_mode", 0) != 0;
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  for (size_t j = 0; j < nd; ++j) {
    const int i = off + static_cast<int>(j);
    g.k[i] = ks[j];
    g.s[i] = strides[j];
    g.d[i] = dil[j];
    g.pb[i] = pads[j];
    g.pe[i] = pads[nd + j];
    if (g.k[i] <= 0 || g.s[i] <= 0 || g.d[i] <= 0) ctx.fail("kernel_shape, strides and dilations must be positive");
    if (g.pb[i] < 0 || g.pe[i] < 0) ctx.fail("pads must be non-negative");
    resolve_axis(ctx, auto_pad, g.in[i], g.dk(i), g.s[i], ceil_mode, g.pb[i], g.pe[i], g.out[i]);
  }
  return g;
}

// Per-axis tap ranges of one output position: taps j in [lo, hi) read the input, and
// `counted` taps fall inside the padded extent [-pb, in + pe) (for count_include_pad).
struct AxisWindow {
  int64_t start, lo, hi, counted;
};

inline AxisWindow axis_window(const PoolGeom& g, int i, int64_t o) {
  AxisWindow w;
  w.start = o * g.s[i] - g.pb[i];
  auto first_at_least = [&](int64_t bound) {  // first tap j with start + j*d >= bound
    const int64_t delta = bound - w.start;
    return delta <= 0 ? int64_t{0} : std::min(g.k[i], (delta + g.d[i] - 1) / g.d[i]);
  };
  w.lo = first_at_least(0);
  w.hi = std::max(w.lo, first_at_least(g.in[i]));
  const int64_t clo = first_at_least(-g.pb[i]);
  const int64_t chi = std::max(clo, first_at_least(g.in[i] + g.pe[i]));
  w.counted = chi - clo;
  return w;
}

// Calls visit(plane) for every (batch, channel) plane, grouping planes into chunks of roughly
// 32K window taps each.
template <class F>
void for_each_plane(KernelContext& ctx, int64_t planes, int64_t work_per_plane, F&& visit) {
  ctx.pool().for_each_item(planes, work_per_plane, int64_t{1} << 15, visit);
}

// Visits every output position of a plane with its three axis windows.
template <class F>
void for_each_window(const PoolGeom& g, F&& f) {
  int64_t o = 0;
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const AxisWindow wd = axis_window(g, 0, od);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const AxisWindow wh = axis_window(g, 1, oh);
      for (int64_t ow = 0; ow < g.out[2]; ++ow, ++o) f(o, wd, wh, axis_window(g, 2, ow));
    }
  }
}

// ---- MaxPool ----

void max_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t opset = ctx.opset();
  PoolGeom g = pool_geometry(ctx, x, opset >= 10, opset >= 10);
  const int64_t storage_order = opset >= 8 ? ctx.attr_int("storage_order", 0) : 0;
  const bool want_indices = ctx.output_count() > 1 && ctx.output_wanted(1);
  if (storage_order != 0 && storage_order != 1) ctx.fail("storage_order must be 0 or 1");
  Tensor y = Tensor::allocate(x.dtype(), g.out_dims());
  Tensor idx = want_indices ? Tensor::allocate(DType::kInt64, g.out_dims()) : Tensor();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    int64_t* ip = want_indices ? idx.mutable_values<int64_t>() : nullptr;
    const int64_t in_px = g.in_pixels(), out_px = g.out_pixels();
    const int64_t taps = g.k[0] * g.k[1] * g.k[2];
    for_each_plane(ctx, g.planes(), out_px * taps, [&](int64_t plane) {
      const T* xc = xp + plane * in_px;
      for_each_window(g, [&](int64_t o, const AxisWindow& wd, const AxisWindow& wh, const AxisWindow& ww) {
        // Padding is ignored (never selected); the first maximum in window order wins.
        T best = std::numeric_limits<T>::lowest();
        int64_t best_at = -1;
        for (int64_t jd = wd.lo; jd < wd.hi; ++jd) {
          const int64_t id = wd.start + jd * g.d[0];
          for (int64_t jh = wh.lo; jh < wh.hi; ++jh) {
            const int64_t ih = wh.start + jh * g.d[1];
            const T* row = xc + (id * g.in[1] + ih) * g.in[2];
            for (int64_t jw = ww.lo; jw < ww.hi; ++jw) {
              const int64_t iw = ww.start + jw * g.d[2];
              if (best_at < 0 || row[iw] > best) {
                best = row[iw];
                best_at = (id * g.in[1] + ih) * g.in[2] + iw;
              }
            }
          }
        }
        yp[plane * out_px + o] = best;
        if (ip) {
          int64_t local = best_at;
          if (storage_order == 1 && best_at >= 0) {
            // Column-major flattening of the spatial dims: the first spatial axis is fastest.
            const int64_t iw = best_at % g.in[2], ih = (best_at / g.in[2]) % g.in[1],
                          id = best_at / (g.in[2] * g.in[1]);
            if (g.nd == 3) local = id + g.in[0] * (ih + g.in[1] * iw);
            else local = ih + g.in[1] * iw;
          }
          ip[plane * out_px + o] = best_at < 0 ? -1 : plane * in_px + local;
        }
      });
    });
  };
  switch (x.dtype()) {
    case DType::kFloat: run(float{}); break;
    case DType::kDouble: run(double{}); break;
    case DType::kFloat16: run(Eigen::half{}); break;
    case DType::kBfloat16: run(Eigen::bfloat16{}); break;
    case DType::kInt8: run(int8_t{}); break;
    case DType::kUint8: run(uint8_t{}); break;
    default: ctx.unsupported("MaxPool on " + std::string(dtype_name(x.dtype())));
  }
  ctx.set_output(0, std::move(y));
  if (want_indices) ctx.set_output(1, std::move(idx));
}

// Dispatches the float dtypes (float, double, float16, bfloat16) that the averaging pools take.
template <class F>
void dispatch_float(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat: f(float{}); break;
    case DType::kDouble: f(double{}); break;
    case DType::kFloat16: f(Eigen::half{}); break;
    case DType::kBfloat16: f(Eigen::bfloat16{}); break;
    default: ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " (this pool takes float types)");
  }
}

// ---- AveragePool and LpPool ----

void average_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t opset = ctx.opset();
  // ceil_mode from opset 10, dilations from opset 19.
  PoolGeom g = pool_geometry(ctx, x, opset >= 10, opset >= 19);
  const bool include_pad = opset >= 7 && ctx.attr_int("count_include_pad", 0) != 0;
  Tensor y = Tensor::allocate(x.dtype(), g.out_dims());
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    const int64_t in_px = g.in_pixels(), out_px = g.out_pixels();
    for_each_plane(ctx, g.planes(), out_px * g.k[0] * g.k[1] * g.k[2], [&](int64_t plane) {
      const T* xc = xp + plane * in_px;
      for_each_window(g, [&](int64_t o, const AxisWindow& wd, const AxisWindow& wh, const AxisWindow& ww) {
        A sum = 0;
        for (int64_t jd = wd.lo; jd < wd.hi; ++jd) {
          const int64_t id = wd.start + jd * g.d[0];
          for (int64_t jh = wh.lo; jh < wh.hi; ++jh) {
            const T* row = xc + (id * g.in[1] + wh.start + jh * g.d[1]) * g.in[2];
            for (int64_t jw = ww.lo; jw < ww.hi; ++jw) sum += static_cast<A>(row[ww.start + jw * g.d[2]]);
          }
        }
        // count_include_pad counts taps inside the padded extent (not beyond it, which
        // ceil_mode can reach); otherwise only taps that read the input.
        const int64_t count = include_pad ? wd.counted * wh.counted * ww.counted
                                          : (wd.hi - wd.lo) * (wh.hi - wh.lo) * (ww.hi - ww.lo);
        yp[plane * out_px + o] = static_cast<T>(count > 0 ? sum / static_cast<A>(count) : A(0));
      });
    });
  });
  ctx.set_output(0, std::move(y));
}

// LpPool's p: a float attribute in opset 1, an int from opset 2 (default 2 in both).
double lp_order(const KernelContext& ctx) {
  const Attribute* a = ctx.node().attr("p");
  if (a == nullptr) return 2.0;
  return a->type == AttrType::kFloat ? static_cast<double>(a->f) : static_cast<double>(a->i);
}

template <class A>
inline A lp_term(A v, double p) {
  const A a = std::abs(v);
  if (p == 2.0) return a * a;
  if (p == 1.0) return a;
  return static_cast<A>(std::pow(a, static_cast<A>(p)));
}

template <class A>
inline A lp_finish(A sum, double p) {
  if (p == 2.0) return std::sqrt(sum);
  if (p == 1.0) return sum;
  return static_cast<A>(std::pow(sum, static_cast<A>(1.0 / p)));
}

void lp_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t opset = ctx.opset();
  PoolGeom g = pool_geometry(ctx, x, opset >= 18, opset >= 18);
  const double p = lp_order(ctx);
  if (!(p > 0)) ctx.fail("p must be positive");
  Tensor y = Tensor::allocate(x.dtype(), g.out_dims());
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    const int64_t in_px = g.in_pixels(), out_px = g.out_pixels();
    for_each_plane(ctx, g.planes(), out_px * g.k[0] * g.k[1] * g.k[2], [&](int64_t plane) {
      const T* xc = xp + plane * in_px;
      for_each_window(g, [&](int64_t o, const AxisWindow& wd, const AxisWindow& wh, const AxisWindow& ww) {
        A sum = 0;
        for (int64_t jd = wd.lo; jd < wd.hi; ++jd) {
          const int64_t id = wd.start + jd * g.d[0];
          for (int64_t jh = wh.lo; jh < wh.hi; ++jh) {
            const T* row = xc + (id * g.in[1] + wh.start + jh * g.d[1]) * g.in[2];
            for (int64_t jw = ww.lo; jw < ww.hi; ++jw)
              sum += lp_term(static_cast<A>(row[ww.start + jw * g.d[2]]), p);
          }
        }
        yp[plane * out_px + o] = static_cast<T>(lp_finish(sum, p));
      });
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- Global pools ----

enum class GlobalKind { kAverage, kMax, kLp };

template <GlobalKind kKind>
void global_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto& xd = x.dims();
  if (xd.size() < 2) ctx.fail("input X must have rank >= 2 (N x C x spatial...)");
  const int64_t planes = xd[0] * xd[1];
  int64_t plane_size = 1;
  for (size_t i = 2; i < xd.size(); ++i) plane_size *= xd[i];
  std::vector<int64_t> out_dims{xd[0], xd[1]};
  out_dims.resize(xd.size(), 1);
  Tensor y = Tensor::allocate(x.dtype(), out_dims);
  const double p = kKind == GlobalKind::kLp ? lp_order(ctx) : 2.0;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const T* xp = x.values<T>().data();
    T* yp = y.mutable_values<T>();
    for_each_plane(ctx, planes, plane_size, [&](int64_t plane) {
      const T* xc = xp + plane * plane_size;
      if constexpr (kKind == GlobalKind::kMax) {
        T best = std::numeric_limits<T>::lowest();
        for (int64_t i = 0; i < plane_size; ++i)
          if (i == 0 || xc[i] > best) best = xc[i];
        yp[plane] = best;
      } else if constexpr (kKind == GlobalKind::kAverage) {
        A sum = 0;
        for (int64_t i = 0; i < plane_size; ++i) sum += static_cast<A>(xc[i]);
        yp[plane] = static_cast<T>(plane_size > 0 ? sum / static_cast<A>(plane_size) : A(0));
      } else {
        A sum = 0;
        for (int64_t i = 0; i < plane_size; ++i) sum += lp_term(static_cast<A>(xc[i]), p);
        yp[plane] = static_cast<T>(lp_finish(sum, p));
      }
    });
  };
  dispatch_float(ctx, x.dtype(), run);
  ctx.set_output(0, std::move(y));
}

// ---- MaxRoiPool ----

// Caffe-style ROI max pooling: each ROI (batch_index, x1, y1, x2, y2) is scaled by spatial_scale
// and rounded, divided into pooled_shape bins, and each bin takes the max of its pixels (0 for an
// empty bin).
void max_roi_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& rois = ctx.required_input(1);
  const auto& xd = x.dims();
  if (xd.size() != 4) ctx.fail("X must be 4D (N x C x H x W)");
  if (rois.dims().size() != 2 || rois.dims()[1] != 5) ctx.fail("rois must have shape (num_rois, 5)");
  auto pooled = ctx.attr_ints("pooled_shape");
  if (pooled.size() != 2 || pooled[0] <= 0 || pooled[1] <= 0) ctx.fail("pooled_shape must be two positive ints");
  if (rois.dtype() != x.dtype()) ctx.fail("rois must have X's dtype");
  const float scale = ctx.attr_float("spatial_scale", 1.0f);
  const int64_t n = xd[0], c = xd[1], h = xd[2], w = xd[3];
  const int64_t num_rois = rois.dims()[0], ph = pooled[0], pw = pooled[1];
  Tensor y = Tensor::allocate(x.dtype(), {num_rois, c, ph, pw});
  dispatch_float(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.values<T>().data();
    const T* rp = rois.values<T>().data();
    T* yp = y.mutable_values<T>();
    for (int64_t r = 0; r < num_rois; ++r) {
      const double b = static_cast<double>(rp[r * 5]);
      if (!(b >= 0 && b < static_cast<double>(n))) ctx.fail("ROI batch index out of range");
    }
    for_each_plane(ctx, num_rois * c, ph * pw * 16, [&](int64_t plane) {
      const int64_t r = plane / c, ch = plane % c;
      const T* roi = rp + r * 5;
      const int64_t bi = static_cast<int64_t>(static_cast<double>(roi[0]));
      const int64_t x1 = std::llround(static_cast<float>(roi[1]) * scale);
      const int64_t y1 = std::llround(static_cast<float>(roi[2]) * scale);
      const int64_t x2 = std::llround(static_cast<float>(roi[3]) * scale);
      const int64_t y2 = std::llround(static_cast<float>(roi[4]) * scale);
      const int64_t rh = std::max<int64_t>(y2 - y1 + 1, 1), rw = std::max<int64_t>(x2 - x1 + 1, 1);
      const double bh = static_cast<double>(rh) / static_cast<double>(ph);
      const double bw = static_cast<double>(rw) / static_cast<double>(pw);
      const T* xc = xp + (bi * c + ch) * h * w;
      T* yc = yp + plane * ph * pw;
      for (int64_t i = 0; i < ph; ++i) {
        const int64_t hs = std::clamp<int64_t>(static_cast<int64_t>(std::floor(i * bh)) + y1, 0, h);
        const int64_t he = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((i + 1) * bh)) + y1, 0, h);
        for (int64_t j = 0; j < pw; ++j) {
          const int64_t ws = std::clamp<int64_t>(static_cast<int64_t>(std::floor(j * bw)) + x1, 0, w);
          const int64_t we = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((j + 1) * bw)) + x1, 0, w);
          bool any = false;
          T best = T(0);
          for (int64_t yy = hs; yy < he; ++yy)
            for (int64_t xx = ws; xx < we; ++xx)
              if (!any || xc[yy * w + xx] > best) {
                best = xc[yy * w + xx];
                any = true;
              }
          yc[i * pw + j] = any ? best : T(0);
        }
      }
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- MaxUnpool ----

// Scatters X into a zero tensor at the positions given by I. I holds flat indices into the
// tensor a transposed pooling would produce, (in - 1) * stride + kernel - pads per spatial axis
// (MaxPool's Indices output). When the optional output_shape input asks for another shape, each
// index is unflattened in that default shape and placed at the same coordinates of the
// requested one (what the backend test data expects), rather than reused as a flat offset.
void max_unpool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& ind = ctx.required_input(1);
  if (ind.dims() != x.dims()) ctx.fail("I must have X's shape");
  if (ind.dtype() != DType::kInt64) ctx.fail("I must be int64");
  PoolGeom g;
  read_input_dims(ctx, x, g);
  const size_t nd = static_cast<size_t>(g.nd);
  if (!ctx.has_attr("kernel_shape")) ctx.fail("kernel_shape is required");
  auto ks = spatial_attr(ctx, "kernel_shape", nd, 1);
  auto strides = spatial_attr(ctx, "strides", nd, 1);
  auto pads = spatial_attr(ctx, "pads", 2 * nd, 0);
  std::vector<int64_t> inferred{g.n, g.c};
  for (size_t j = 0; j < nd; ++j)
    inferred.push_back((x.dims()[2 + j] - 1) * strides[j] + ks[j] - pads[j] - pads[nd + j]);
  std::vector<int64_t> out_dims = inferred;
  if (const Tensor* os = ctx.input(2)) {
    out_dims = read_int_list(ctx, *os);
    if (out_dims.size() != x.dims().size() || out_dims[0] != g.n || out_dims[1] != g.c)
      ctx.fail("output_shape must have X's rank, batch and channels");
  }
  for (size_t j = 0; j < out_dims.size(); ++j)
    if (inferred[j] < 0 || out_dims[j] < 0) ctx.fail("MaxUnpool output dim would be negative");
  const int64_t inferred_total = shape_size(inferred);
  const bool reshaped = out_dims != inferred;
  Tensor y = Tensor::allocate(x.dtype(), out_dims);
  auto iv = ind.values<int64_t>();
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto xv = x.values<T>();
    T* yp = y.template mutable_values<T>();
    // Sequential on purpose: duplicate indices resolve to the last write, independent of threads.
    for (size_t i = 0; i < xv.size(); ++i) {
      int64_t at = iv[i];
      if (at < 0 || at >= inferred_total) ctx.fail("index " + std::to_string(at) + " is outside the output");
      if (reshaped) {
        int64_t rem = at, stride = 1, pos = 0;
        for (size_t j = inferred.size(); j-- > 0;) {
          const int64_t coord = rem % inferred[j];
          rem /= inferred[j];
          if (coord >= out_dims[j]) ctx.fail("index " + std::to_string(at) + " falls outside output_shape");
          pos += coord * stride;
          stride *= out_dims[j];
        }
        at = pos;
      }
      yp[at] = xv[i];
    }
  });
  ctx.set_output(0, std::move(y));
}

}  // namespace

void register_pool_kernels(KernelRegistry& r) {
  r.add("", "MaxPool", max_pool);
  r.add("", "AveragePool", average_pool);
  r.add("", "LpPool", lp_pool);
  r.add("", "GlobalAveragePool", global_pool<GlobalKind::kAverage>);
  r.add("", "GlobalMaxPool", global_pool<GlobalKind::kMax>);
  r.add("", "GlobalLpPool", global_pool<GlobalKind::kLp>);
  r.add("", "MaxRoiPool", max_roi_pool);
  r.add("", "MaxUnpool", max_unpool, 9);
}

}  // namespace edgeq
