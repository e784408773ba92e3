// resize.cc: Resize (opset 10 onwards) and the deprecated Upsample (1-9), which is Resize with
// the "asymmetric" coordinate transform.
//
// Every output coordinate along a resized axis maps back to a source coordinate x (per
// coordinate_transformation_mode), then:
//  - nearest picks one source index: a separable gather, exact for every dtype;
//  - linear / cubic weight a few neighbouring source indices. N-linear and N-cubic are
//    separable, so axes are resized one after another on a float (double for double inputs)
//    buffer, as the ONNX reference implementation does.
// Neighbours follow the reference: taps base + i around base = ceil(x) - 1 (so the fractional
// part `ratio` lies in (0, 1]), indices past the edges repeat the edge element, and
// exclude_outside drops them and renormalizes. With antialias (opset 18) the filter is widened
// by 1 / scale when downscaling and normalized.
#include <cmath>
#include <limits>

#include "runtime/kernels/shape_common.h"

namespace edgeq {

namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
// kSimple is what Resize-10 and Upsample do (the spec names no rounding there): floor when
// upscaling, ceil when downscaling, as onnxruntime does.
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct Plan {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
  std::vector<int64_t> in, out;  // per dim
  std::vector<double> scale;     // per dim: output / input as the coordinate maths uses it
  std::vector<double> roi_start, roi_end;
};

Mode parse_mode(const KernelContext& ctx, const std::string& s) {
  if (s == "nearest") return Mode::kNearest;
  if (s == "linear" || s == "bilinear") return Mode::kLinear;  // "bilinear": Upsample-1
  if (s == "cubic") return Mode::kCubic;
  ctx.unsupported("resize mode '" + s + "'");
}

Coord parse_coord(const KernelContext& ctx, const std::string& s) {
  if (s == "half_pixel") return Coord::kHalfPixel;
  if (s == "half_pixel_symmetric") return Coord::kHalfPixelSymmetric;
  if (s == "pytorch_half_pixel") return Coord::kPytorchHalfPixel;
  if (s == "align_corners") return Coord::kAlignCorners;
  if (s == "asymmetric") return Coord::kAsymmetric;
  if (s == "tf_half_pixel_for_nn") return Coord::kTfHalfPixelForNn;
  if (s == "tf_crop_and_resize") return Coord::kTfCropAndResize;
  ctx.unsupported("coordinate_transformation_mode '" + s + "'");
}

Nearest parse_nearest(const KernelContext& ctx, const std::string& s) {
  if (s == "round_prefer_floor") return Nearest::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return Nearest::kRoundPreferCeil;
  if (s == "floor") return Nearest::kFloor;
  if (s == "ceil") return Nearest::kCeil;
  ctx.unsupported("nearest_mode '" + s + "'");
}

// The source coordinate of output index x along dim d (spec of coordinate_transformation_mode).
// `output_width` is scale * input length, fractional when the output size came from a scale;
// like the reference implementation, align_corners and tf_crop_and_resize divide by it.
// Sets *outside for tf_crop_and_resize coordinates beyond the input (extrapolated).
double source_coordinate(const Plan& p, size_t d, int64_t x, bool* outside) {
  const double in = static_cast<double>(p.in[d]);
  const double scale = p.scale[d];
  const double output_width = scale * in;
  const double xr = static_cast<double>(x);
  *outside = false;
  switch (p.coord) {
    case Coord::kHalfPixel: return (xr + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(p.out[d]) / output_width;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (xr + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel: return p.out[d] > 1 ? (xr + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners: return output_width == 1 ? 0.0 : xr * (in - 1) / (output_width - 1);
    case Coord::kAsymmetric: return xr / scale;
    case Coord::kTfHalfPixelForNn: return (xr + 0.5) / scale;
    case Coord::kTfCropAndResize: {
      const double s = p.roi_start[d], e = p.roi_end[d];
      const double v = output_width == 1 ? (e - s) * (in - 1) / 2 + s * (in - 1)
                                         : s * (in - 1) + xr * (e - s) * (in - 1) / (output_width - 1);
      *outside = v < 0 || v > in - 1;
      return v;
    }
  }
  return 0;
}

int64_t nearest_index(const Plan& p, size_t d, double x) {
  const double fl = std::floor(x);
  int64_t i;
  if (x == fl) {
    i = static_cast<int64_t>(fl);
  } else {
    const double ratio = x - fl;
    bool up = false;
    switch (p.nearest) {
      case Nearest::kRoundPreferFloor: up = ratio > 0.5; break;
      case Nearest::kRoundPreferCeil: up = ratio >= 0.5; break;
      case Nearest::kFloor: up = false; break;
      case Nearest::kCeil: up = true; break;
      case Nearest::kSimple: up = p.scale[d] < 1; break;
    }
    i = static_cast<int64_t>(fl) + (up ? 1 : 0);
  }
  return std::clamp<int64_t>(i, 0, p.in[d] - 1);
}

bool axis_is_identity(const Plan& p, size_t d) {
  if (p.scale[d] != 1.0 || p.out[d] != p.in[d]) return false;
  return p.coord != Coord::kTfCropAndResize || (p.roi_start[d] == 0 && p.roi_end[d] == 1);
}

void resize_nearest(KernelContext& ctx, const Tensor& x, const Plan& p) {
  const auto strides = row_major_strides(x.dims());
  std::vector<std::vector<int64_t>> offsets(p.out.size());
  bool any_outside = false;
  for (size_t d = 0; d < p.out.size(); ++d) {
    offsets[d].resize(p.out[d]);
    for (int64_t j = 0; j < p.out[d]; ++j) {
      if (axis_is_identity(p, d)) {
        offsets[d][j] = j * strides[d];
        continue;
      }
      bool outside = false;
      const double c = source_coordinate(p, d, j, &outside);
      any_outside |= outside;
      offsets[d][j] = outside ? kOutside : nearest_index(p, d, c) * strides[d];
    }
  }
  Tensor fill;
  if (any_outside) {
    fill = Tensor::allocate(x.dtype(), {});
    dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fill.template mutable_values<T>()[0] = from_double<T>(p.extrapolation);
    });
  }
  ctx.set_output(0, gather_copy(ctx, x, p.out, std::move(offsets), any_outside ? &fill : nullptr));
}

// The filter of one output position along an axis: n taps of (source index, weight).
struct Taps {
  int64_t n = 0;
  std::vector<int64_t> index;  // [out * n], clamped into the input
  std::vector<double> weight;  // [out * n]
  std::vector<char> outside;   // [out]: extrapolated (tf_crop_and_resize)
};

double cubic_kernel(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

Taps make_taps(const Plan& p, size_t d) {
  const bool linear = p.mode == Mode::kLinear;
  const double support = linear ? 1 : 2;
  // Without antialias the filter has its natural width (2 taps linear, 4 cubic); with it,
  // downscaling by s widens it to cover support / s source pixels each side.
  const double s = p.antialias ? std::min(p.scale[d], 1.0) : 1.0;
  const int64_t i_start = static_cast<int64_t>(std::floor(-support / s)) + 1;
  Taps t;
  t.n = 2 - 2 * i_start;
  const int64_t out = p.out[d], in = p.in[d];
  t.index.assign(out * t.n, 0);
  t.weight.assign(out * t.n, 0.0);
  t.outside.assign(out, 0);
  for (int64_t j = 0; j < out; ++j) {
    bool outside = false;
    const double x = source_coordinate(p, d, j, &outside);
    if (outside) {
      t.outside[j] = 1;
      continue;
    }
    double base = std::floor(x);
    if (base == x) base -= 1;  // ratio in (0, 1]: prefer the pixel left of x
    const double ratio = x - base;
    int64_t* idx = &t.index[j * t.n];
    double* w = &t.weight[j * t.n];
    double sum = 0;
    for (int64_t k = 0; k < t.n; ++k) {
      const double arg = s * (static_cast<double>(i_start + k) - ratio);
      w[k] = linear ? std::max(0.0, 1 - std::fabs(arg)) : cubic_kernel(arg, p.cubic_a);
      sum += w[k];
      const int64_t pos = static_cast<int64_t>(base) + i_start + k;
      idx[k] = pos;
    }
    if (p.antialias && sum != 0)
      for (int64_t k = 0; k < t.n; ++k) w[k] /= sum;
    if (p.exclude_outside) {
      sum = 0;
      for (int64_t k = 0; k < t.n; ++k) {
        if (idx[k] < 0 || idx[k] >= in) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0)
        for (int64_t k = 0; k < t.n; ++k) w[k] /= sum;
    }
    for (int64_t k = 0; k < t.n; ++k) idx[k] = std::clamp<int64_t>(idx[k], 0, in - 1);
  }
  return t;
}

// Linear / cubic: one separable pass per resized axis over a buffer of C.
template <class T, class C>
void resize_interpolate(KernelContext& ctx, const Tensor& x, const Plan& p) {
  auto src = x.values<T>();
  std::vector<C> cur(src.size());
  for (size_t i = 0; i < src.size(); ++i) cur[i] = static_cast<C>(to_double(src[i]));
  std::vector<int64_t> dims = p.in;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (axis_is_identity(p, d)) continue;
    const Taps taps = make_taps(p, d);
    int64_t outer = 1, inner = 1;
    for (size_t k = 0; k < d; ++k) outer *= dims[k];
    for (size_t k = d + 1; k < dims.size(); ++k) inner *= dims[k];
    const int64_t in = dims[d], out = p.out[d];
    std::vector<C> next(static_cast<size_t>(outer * out * inner));
    const C extrapolation = static_cast<C>(p.extrapolation);
    const int64_t rows = outer * out;
    const int64_t rows_per_chunk = std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1));
    const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    auto run = [&](int64_t chunk) {
      const int64_t r1 = std::min(rows, (chunk + 1) * rows_per_chunk);
      for (int64_t r = chunk * rows_per_chunk; r < r1; ++r) {
        const int64_t o = r / out, j = r % out;
        C* dst = next.data() + r * inner;
        if (taps.outside[j]) {
          std::fill(dst, dst + inner, extrapolation);
          continue;
        }
        for (int64_t k = 0; k < taps.n; ++k) {
          const C w = static_cast<C>(taps.weight[j * taps.n + k]);
          if (w == 0) continue;
          const C* s = cur.data() + (o * in + taps.index[j * taps.n + k]) * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += w * s[i];
        }
      }
    };
    if (chunks <= 1) {
      if (rows > 0) run(0);
    } else {
      ctx.pool().parallel_for(chunks, run);
    }
    cur = std::move(next);
    dims[d] = out;
  }
  Tensor y = Tensor::allocate(x.dtype(), p.out);
  T* o = y.template mutable_values<T>();
  for (size_t i = 0; i < cur.size(); ++i) {
    if constexpr (std::is_integral_v<T>) {
      // Integer outputs round to nearest (ties to even) and saturate, like the reference's
      // saturate_cast.
      const double v = std::nearbyint(static_cast<double>(cur[i]));
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      o[i] = v <= lo ? std::numeric_limits<T>::lowest() : v >= hi ? std::numeric_limits<T>::max() : static_cast<T>(v);
    } else {
      o[i] = from_double<T>(static_cast<double>(cur[i]));
    }
  }
  ctx.set_output(0, std::move(y));
}

void run_plan(KernelContext& ctx, const Tensor& x, Plan& p) {
  for (size_t d = 0; d < p.in.size(); ++d) {
    if (p.out[d] < 0) ctx.fail("output size is negative");
    if (p.in[d] == 0 && p.out[d] > 0) ctx.fail("cannot resize an empty axis to a non-empty one");
  }
  if (p.roi_start.empty()) {
    p.roi_start.assign(p.in.size(), 0.0);
    p.roi_end.assign(p.in.size(), 1.0);
  }
  if (shape_size(p.out) == 0) return ctx.set_output(0, Tensor::allocate(x.dtype(), p.out));
  if (p.mode == Mode::kNearest) return resize_nearest(ctx, x, p);
  if (x.dtype() == DType::kBool) ctx.unsupported("linear/cubic resize of bool");
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, double>) resize_interpolate<T, double>(ctx, x, p);
    else resize_interpolate<T, float>(ctx, x, p);
  });
}

// Scales per dim; output sizes are floor(input * scale) (Resize-10/11+, Upsample).
void plan_from_scales(const KernelContext& ctx, Plan& p, const std::vector<double>& scales) {
  if (scales.size() != p.in.size())
    ctx.fail("scales has " + std::to_string(scales.size()) + " entries for rank " + std::to_string(p.in.size()));
  p.scale = scales;
  p.out.resize(p.in.size());
  for (size_t d = 0; d < p.in.size(); ++d) {
    if (!(scales[d] > 0)) ctx.fail("scales must be positive");
    p.out[d] = static_cast<int64_t>(std::floor(scales[d] * static_cast<double>(p.in[d])));
  }
}

void resize(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  Plan p;
  p.in = x.dims();
  p.mode = parse_mode(ctx, ctx.attr_string("mode", "nearest"));
  if (ctx.opset() < 11) {
    // Resize-10: X and scales only; asymmetric coordinates.
    p.coord = Coord::kAsymmetric;
    p.nearest = Nearest::kSimple;
    if (p.mode == Mode::kCubic) ctx.unsupported("cubic mode needs Resize-11");
    plan_from_scales(ctx, p, read_doubles(ctx, ctx.required_input(1)));
    return run_plan(ctx, x, p);
  }
  p.coord = parse_coord(ctx, ctx.attr_string("coordinate_transformation_mode", "half_pixel"));
  p.nearest = parse_nearest(ctx, ctx.attr_string("nearest_mode", "round_prefer_floor"));
  p.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
  p.extrapolation = ctx.attr_float("extrapolation_value", 0.0f);
  std::string policy = "stretch";
  std::vector<int64_t> axes;
  if (ctx.opset() >= 18) {
    p.antialias = ctx.attr_int("antialias", 0) != 0;
    policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");
    if (ctx.has_attr("axes")) axes = read_axes(ctx, ctx.attr_ints("axes"), rank);
  }
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  const size_t n = axes.size();

  // An empty tensor stands for an omitted roi / scales / sizes.
  auto given = [&](size_t i) -> const Tensor* {
    const Tensor* t = ctx.input(i);
    return t && t->element_count() > 0 ? t : nullptr;
  };
  const Tensor* scales_t = given(2);
  const Tensor* sizes_t = given(3);
  if ((scales_t != nullptr) == (sizes_t != nullptr)) ctx.fail("exactly one of scales and sizes must be given");
  if (scales_t != nullptr) {
    const auto s = read_doubles(ctx, *scales_t);
    if (s.size() != n) ctx.fail("scales has " + std::to_string(s.size()) + " entries for " + std::to_string(n) + " axes");
    std::vector<double> all(rank, 1.0);
    for (size_t i = 0; i < n; ++i) all[axes[i]] = s[i];
    plan_from_scales(ctx, p, all);
  } else {
    const auto sizes = read_int_list(ctx, *sizes_t);
    if (sizes.size() != n) ctx.fail("sizes has " + std::to_string(sizes.size()) + " entries for " + std::to_string(n) + " axes");
    p.out = p.in;
    p.scale.assign(rank, 1.0);
    for (size_t i = 0; i < n; ++i) {
      if (sizes[i] < 0) ctx.fail("sizes must be non-negative");
      p.out[axes[i]] = sizes[i];
      p.scale[axes[i]] = static_cast<double>(sizes[i]) / static_cast<double>(p.in[axes[i]]);
    }
    if (policy != "stretch") {
      // keep_aspect_ratio_policy (opset 18): one scale for every listed axis, the smallest
      // (not_larger) or largest (not_smaller); sizes become round_half_up(scale * input).
      if (policy != "not_larger" && policy != "not_smaller") ctx.fail("unknown keep_aspect_ratio_policy '" + policy + "'");
      double s = p.scale[axes[0]];
      for (int64_t a : axes) s = policy == "not_larger" ? std::min(s, p.scale[a]) : std::max(s, p.scale[a]);
      for (int64_t a : axes) {
        p.scale[a] = s;
        p.out[a] = static_cast<int64_t>(s * static_cast<double>(p.in[a]) + 0.5);
      }
    }
  }
  if (p.coord == Coord::kTfCropAndResize) {
    const Tensor* roi_t = given(1);
    if (roi_t == nullptr) ctx.fail("tf_crop_and_resize needs roi");
    const auto roi = read_doubles(ctx, *roi_t);
    if (roi.size() != 2 * n) ctx.fail("roi must hold 2 entries per resized axis");
    p.roi_start.assign(rank, 0.0);
    p.roi_end.assign(rank, 1.0);
    for (size_t i = 0; i < n; ++i) {
      p.roi_start[axes[i]] = roi[i];
      p.roi_end[axes[i]] = roi[n + i];
    }
  }
  run_plan(ctx, x, p);
}

// Upsample: height_scale / width_scale attributes on NCHW (opset 1), a `scales` attribute
// (7, 8) or input (9). Same maths as Resize-10.
void upsample(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  Plan p;
  p.in = x.dims();
  p.mode = parse_mode(ctx, ctx.attr_string("mode", "nearest"));
  if (p.mode == Mode::kCubic) ctx.unsupported("Upsample has no cubic mode");
  p.coord = Coord::kAsymmetric;
  p.nearest = Nearest::kSimple;
  std::vector<double> scales;
  if (ctx.opset() >= 9) {
    scales = read_doubles(ctx, ctx.required_input(1));
  } else if (ctx.opset() >= 7) {
    for (float s : ctx.attr_floats("scales")) scales.push_back(s);
  } else {
    if (x.dims().size() != 4) ctx.fail("Upsample-1 needs a 4-D input");
    scales = {1.0, 1.0, ctx.attr_float("height_scale", 1.0f), ctx.attr_float("width_scale", 1.0f)};
  }
  plan_from_scales(ctx, p, scales);
  run_plan(ctx, x, p);
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  r.add("", "Resize", resize, 10);
  r.add("", "Upsample", upsample);
}

}  // namespace edgeq
