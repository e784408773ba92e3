// quantize.cc: quantization kernels.
//
//   ai.onnx        QuantizeLinear (10, 13 axis, 19 float8 + saturate, 21 block_size / output_dtype
//                  / 16- and 4-bit types), DequantizeLinear (same versions), DynamicQuantizeLinear,
//                  ConvInteger, QLinearConv, QLinearMatMul
//   com.microsoft  QuantizeLinear, DequantizeLinear, QLinearAdd, QLinearMul, QLinearConcat,
//                  QLinearGlobalAveragePool, QLinearSigmoid, QLinearLeakyRelu, QLinearConv, QGemm,
//                  DynamicQuantizeMatMul, MatMulIntegerToFloat
//
// All rounding / saturation goes through edgeq/quant.h. The com.microsoft semantics follow ONNX
// Runtime's contrib operator documentation (docs/ContribOperators.md); each kernel quotes the
// formula it implements.
//
// Integer products (convolutions, matrix products) subtract the zero points while converting the
// 8-bit operands to int32 and multiply the int32 matrices with Eigen, so results are exact and
// independent of the thread count; requantization then happens per output element in float.
// MatMulInteger itself lives in gemm.cc.
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "edgeq/quant.h"
#include "runtime/kernels/conv_geometry.h"
#include "runtime/kernel.h"

namespace edgeq {

namespace {

using quant::ParamLayout;
using quant::QRange;

using IntMat = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstIntMap = Eigen::Map<const IntMat>;
using IntMap = Eigen::Map<IntMat>;

// Elements per chunk for element-wise loops that are split across threads. Even, so two chunks
// never share a byte of a packed 4-bit output.
constexpr int64_t kElemChunk = int64_t{1} << 16;

// ---- dtype helpers ----

bool is_float8(DType d) {
  return d == DType::kFloat8E4M3FN || d == DType::kFloat8E4M3FNUZ || d == DType::kFloat8E5M2 ||
         d == DType::kFloat8E5M2FNUZ;
}

quant::Float8 float8_kind(DType d) {
  switch (d) {
    case DType::kFloat8E4M3FNUZ: return quant::Float8::kE4M3FNUZ;
    case DType::kFloat8E5M2: return quant::Float8::kE5M2;
    case DType::kFloat8E5M2FNUZ: return quant::Float8::kE5M2FNUZ;
    default: return quant::Float8::kE4M3FN;
  }
}


// The integer range of a quantized integer dtype; nullopt for anything else.
std::optional<QRange> int_range(DType d) {
  switch (d) {
    case DType::kInt8: return quant::range_of<int8_t>();
    case DType::kUint8: return quant::range_of<uint8_t>();
    case DType::kInt16: return quant::range_of<int16_t>();
    case DType::kUint16: return quant::range_of<uint16_t>();
    case DType::kInt32: return quant::range_of<int32_t>();
    case DType::kInt4: return quant::kInt4Range;
    case DType::kUint4: return quant::kUint4Range;
    default: return std::nullopt;
  }
}

std::string dt(DType d) { return std::string(dtype_name(d)); }

// Element i of an integer-typed tensor (8/16/32-bit or packed 4-bit) as int32.
int32_t int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt8: return t.values<int8_t>()[i];
    case DType::kUint8: return t.values<uint8_t>()[i];
    case DType::kInt16: return t.values<int16_t>()[i];
    case DType::kUint16: return t.values<uint16_t>()[i];
    case DType::kInt32: return t.values<int32_t>()[i];
    case DType::kInt4:
    case DType::kUint4:
      return quant::unpack_int4(reinterpret_cast<const uint8_t*>(t.bytes().data()), i, t.dtype() == DType::kInt4);
    default: return 0;
  }
}

// Every element of a float-typed tensor (float, double, float16, bfloat16) as float.
std::vector<float> read_floats(const KernelContext& ctx, const Tensor& t, const std::string& what) {
  const int64_t n = static_cast<int64_t>(t.element_count());
  std::vector<float> out(n);
  switch (t.dtype()) {
    case DType::kFloat: std::copy_n(t.values<float>().data(), n, out.data()); break;
    case DType::kDouble: for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(t.values<double>()[i]); break;
    case DType::kFloat16: for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(t.values<Eigen::half>()[i]); break;
    case DType::kBfloat16: for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(t.values<Eigen::bfloat16>()[i]); break;
    default: ctx.unsupported(what + " must be a float tensor, got " + dt(t.dtype()));
  }
  return out;
}

float read_scalar_float(const KernelContext& ctx, const Tensor& t, const std::string& what) {
  if (t.element_count() != 1) ctx.fail(what + " must be a scalar (one element)");
  return read_floats(ctx, t, what)[0];
}

// Zero points as int32: every element of an integer tensor; an omitted tensor gives {}.
std::vector<int32_t> read_zero_points(const KernelContext& ctx, const Tensor* t, const std::string& what) {
  if (t == nullptr) return {};
  if (!int_range(t->dtype())) ctx.unsupported(what + " has unsupported dtype " + dt(t->dtype()));
  const int64_t n = static_cast<int64_t>(t->element_count());
  std::vector<int32_t> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = int_at(*t, i);
  return out;
}

// A per-tensor zero point (0 when omitted), checked to have one element and the expected type.
int32_t read_scalar_zp(const KernelContext& ctx, const Tensor* t, DType expected, const std::string& what) {
  if (t == nullptr) return 0;
  if (t->dtype() != expected) ctx.fail(what + " must have dtype " + dt(expected) + ", got " + dt(t->dtype()));
  if (t->element_count() != 1) ctx.fail(what + " must be a scalar (one element)");
  return read_zero_points(ctx, t, what)[0];
}

// Calls f(T{}) for the 8-bit quantized types.
template <class F>
void dispatch_q8(const KernelContext& ctx, DType d, const std::string& what, F&& f) {
  if (d == DType::kUint8) f(uint8_t{});
  else if (d == DType::kInt8) f(int8_t{});
  else ctx.unsupported(what + " must be int8 or uint8, got " + dt(d));
}

// Stores int32 value v (already in range) as element i of an integer-typed output.
inline void store_int(DType d, std::byte* base, int64_t i, int32_t v) {
  switch (d) {
    case DType::kInt8: reinterpret_cast<int8_t*>(base)[i] = static_cast<int8_t>(v); break;
    case DType::kUint8: reinterpret_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v); break;
    case DType::kInt16: reinterpret_cast<int16_t*>(base)[i] = static_cast<int16_t>(v); break;
    case DType::kUint16: reinterpret_cast<uint16_t*>(base)[i] = static_cast<uint16_t>(v); break;
    case DType::kInt32: reinterpret_cast<int32_t*>(base)[i] = v; break;
    case DType::kInt4:
    case DType::kUint4: quant::pack_int4(reinterpret_cast<uint8_t*>(base), i, v); break;
    default: break;
  }
}

std::byte* mutable_bytes(Tensor& t) { return const_cast<std::byte*>(t.bytes().data()); }

// Writes float values into a float / float16 / bfloat16 output.
void store_float(DType d, std::byte* base, int64_t i, float v) {
  switch (d) {
    case DType::kFloat: reinterpret_cast<float*>(base)[i] = v; break;
    case DType::kFloat16: reinterpret_cast<Eigen::half*>(base)[i] = Eigen::half(v); break;
    case DType::kBfloat16: reinterpret_cast<Eigen::bfloat16*>(base)[i] = Eigen::bfloat16(v); break;
    case DType::kDouble: reinterpret_cast<double*>(base)[i] = v; break;
    default: break;
  }
}

// ---- QuantizeLinear / DequantizeLinear ----

struct LinearQuantConfig {
  bool allow_axis;   // opset >= 13 (and com.microsoft): 1-D scales quantize per axis
  bool allow_block;  // opset >= 21: block_size
};

// Decides per-tensor / per-axis / blocked from the scale's shape (ONNX: "the shape of y_scale
// determines the quantization granularity") and validates the zero point's shape against it.
ParamLayout resolve_layout(const KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp,
                           LinearQuantConfig cfg, const std::string& scale_name) {
  const auto& xd = x.dims();
  const auto& sd = scale.dims();
  const int64_t rank = static_cast<int64_t>(xd.size());
  const int64_t block = cfg.allow_block ? ctx.attr_int("block_size", 0) : 0;
  if (block < 0) ctx.fail("block_size must be >= 0");
  if (zp && zp->dims() != sd && !(zp->element_count() == 1 && scale.element_count() == 1))
    ctx.fail("zero point shape must match " + scale_name + "'s shape");
  ParamLayout layout;
  if (block > 0) {
    if (static_cast<int64_t>(sd.size()) != rank) ctx.fail(scale_name + " must have x's rank for blocked quantization");
    const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), rank);
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t want = i == axis ? (xd[i] + block - 1) / block : xd[i];
      if (sd[i] != want)
        ctx.fail(scale_name + " dim " + std::to_string(i) + " is " + std::to_string(sd[i]) + ", expected " +
                 std::to_string(want) + " for block_size " + std::to_string(block));
    }
    layout = ParamLayout::blocked(xd, axis, block);
  } else if (sd.size() <= 1 && scale.element_count() == 1) {
    layout = ParamLayout::per_tensor(static_cast<int64_t>(x.element_count()));
  } else if (sd.size() == 1 && cfg.allow_axis) {
    const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), rank);
    if (sd[0] != xd[axis])
      ctx.fail(scale_name + " has " + std::to_string(sd[0]) + " values but x has " + std::to_string(xd[axis]) +
               " along axis " + std::to_string(axis));
    layout = ParamLayout::per_axis(xd, axis);
  } else {
    ctx.fail(scale_name + " must be a scalar" + std::string(cfg.allow_axis ? " or a 1-D tensor" : "") +
             (cfg.allow_block ? " (or x's rank with block_size)" : ""));
  }
  return layout;
}

void quantize_linear_impl(KernelContext& ctx, bool contrib) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor* zp_t = ctx.input(2);
  const int64_t opset = ctx.opset();
  const LinearQuantConfig cfg{contrib || opset >= 13, !contrib && opset >= 21};

  // Output type: the zero point's type, else output_dtype (opset 21), else uint8.
  DType out_type = DType::kUint8;
  const int64_t output_dtype = (!contrib && opset >= 21) ? ctx.attr_int("output_dtype", 0) : 0;
  if (zp_t) {
    out_type = zp_t->dtype();
    if (output_dtype != 0 && output_dtype != static_cast<int64_t>(out_type))
      ctx.fail("output_dtype does not match y_zero_point's dtype");
  } else if (output_dtype != 0) {
    const DTypeInfo* info = find_dtype(static_cast<int32_t>(output_dtype));
    if (!info) ctx.fail("unknown output_dtype " + std::to_string(output_dtype));
    out_type = info->dtype;
  }
  const bool fp8_out = is_float8(out_type);
  if (fp8_out && !contrib && opset < 19) ctx.fail("float8 outputs need opset 19");
  if (!fp8_out && !int_range(out_type)) ctx.unsupported("QuantizeLinear to " + dt(out_type));
  if (out_type == DType::kInt32) ctx.unsupported("QuantizeLinear to int32 is not an ONNX quantized type");

  const ParamLayout layout = resolve_layout(ctx, x, scale_t, zp_t, cfg, "y_scale");
  const std::vector<float> scales = read_floats(ctx, scale_t, "y_scale");
  const int64_t n = static_cast<int64_t>(x.element_count());
  Tensor y = Tensor::allocate(out_type, x.dims());
  std::byte* yb = mutable_bytes(y);
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;

  if (fp8_out) {
    // y = saturate(x / y_scale + y_zero_point) in the float8 format, round to nearest even.
    const quant::Float8 kind = float8_kind(out_type);
    const bool sat = ctx.attr_int("saturate", 1) != 0;
    std::vector<float> zps;
    if (zp_t) {
      auto raw = zp_t->values<uint8_t>();
      for (uint8_t v : raw) zps.push_back(quant::float8_to_float(v, kind));
    }
    const std::vector<float> xf = read_floats(ctx, x, "x");
    uint8_t* out = reinterpret_cast<uint8_t*>(yb);
    ctx.pool().parallel_for(chunks, [&](int64_t c) {
      const int64_t b = c * kElemChunk, e = std::min(n, b + kElemChunk);
      quant::for_each_param(layout, b, e, [&](int64_t i, int64_t p) {
        out[i] = quant::float_to_float8(xf[i] / scales[p] + (zps.empty() ? 0.0f : zps[p]), kind, sat);
      });
    });
    return ctx.set_output(0, std::move(y));
  }

  const QRange range = *int_range(out_type);
  const std::vector<int32_t> zps = read_zero_points(ctx, zp_t, "y_zero_point");
  const int32_t* zp = zps.empty() ? nullptr : zps.data();
  auto run = [&](auto compute_tag, auto get) {
    using F = decltype(compute_tag);
    ctx.pool().parallel_for(chunks, [&](int64_t c) {
      const int64_t b = c * kElemChunk, e = std::min(n, b + kElemChunk);
      quant::for_each_param(layout, b, e, [&](int64_t i, int64_t p) {
        store_int(out_type, yb, i,
                  quant::quantize_value<F>(static_cast<F>(get(i)), static_cast<F>(scales[p]), zp ? zp[p] : 0, range));
      });
    });
  };
  switch (x.dtype()) {
    case DType::kFloat: { auto v = x.values<float>(); run(float{}, [&](int64_t i) { return v[i]; }); break; }
    case DType::kFloat16: { auto v = x.values<Eigen::half>(); run(float{}, [&](int64_t i) { return static_cast<float>(v[i]); }); break; }
    case DType::kBfloat16: { auto v = x.values<Eigen::bfloat16>(); run(float{}, [&](int64_t i) { return static_cast<float>(v[i]); }); break; }
    // int32 / float divides in double in the ONNX reference (numpy promotes int32 with float32).
    case DType::kInt32: { auto v = x.values<int32_t>(); run(double{}, [&](int64_t i) { return static_cast<double>(v[i]); }); break; }
    case DType::kDouble: { auto v = x.values<double>(); run(double{}, [&](int64_t i) { return v[i]; }); break; }
    default: ctx.unsupported("QuantizeLinear input dtype " + dt(x.dtype()));
  }
  ctx.set_output(0, std::move(y));
}

void quantize_linear(KernelContext& ctx) { quantize_linear_impl(ctx, false); }
void quantize_linear_ms(KernelContext& ctx) { quantize_linear_impl(ctx, true); }

void dequantize_linear_impl(KernelContext& ctx, bool contrib) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& scale_t = ctx.required_input(1);
  const Tensor* zp_t = ctx.input(2);
  const int64_t opset = ctx.opset();
  const LinearQuantConfig cfg{contrib || opset >= 13, !contrib && opset >= 21};
  if (zp_t && zp_t->dtype() != x.dtype()) ctx.fail("x_zero_point must have x's dtype");

  // y has x_scale's type (float before opset 19); opset 23 may override it with output_dtype.
  DType out_type = scale_t.dtype();
  if (!contrib && opset >= 23) {
    const int64_t od = ctx.attr_int("output_dtype", 0);
    if (od != 0) {
      const DTypeInfo* info = find_dtype(static_cast<int32_t>(od));
      if (!info) ctx.fail("unknown output_dtype " + std::to_string(od));
      out_type = info->dtype;
    }
  }
  if (out_type != DType::kFloat && out_type != DType::kFloat16 && out_type != DType::kBfloat16)
    ctx.unsupported("DequantizeLinear output dtype " + dt(out_type));

  const ParamLayout layout = resolve_layout(ctx, x, scale_t, zp_t, cfg, "x_scale");
  const std::vector<float> scales = read_floats(ctx, scale_t, "x_scale");
  const int64_t n = static_cast<int64_t>(x.element_count());
  Tensor y = Tensor::allocate(out_type, x.dims());
  std::byte* yb = mutable_bytes(y);
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;

  if (is_float8(x.dtype())) {
    const quant::Float8 kind = float8_kind(x.dtype());
    auto q = x.values<uint8_t>();
    std::vector<float> zps;
    if (zp_t)
      for (uint8_t v : zp_t->values<uint8_t>()) zps.push_back(quant::float8_to_float(v, kind));
    ctx.pool().parallel_for(chunks, [&](int64_t c) {
      const int64_t b = c * kElemChunk, e = std::min(n, b + kElemChunk);
      quant::for_each_param(layout, b, e, [&](int64_t i, int64_t p) {
        store_float(out_type, yb, i, (quant::float8_to_float(q[i], kind) - (zps.empty() ? 0.0f : zps[p])) * scales[p]);
      });
    });
    return ctx.set_output(0, std::move(y));
  }
  if (!int_range(x.dtype())) ctx.unsupported("DequantizeLinear input dtype " + dt(x.dtype()));
  const std::vector<int32_t> zps = read_zero_points(ctx, zp_t, "x_zero_point");
  if (x.dtype() == DType::kInt32)
    for (int32_t z : zps)
      if (z != 0) ctx.fail("int32 input requires a zero x_zero_point");
  const int32_t* zp = zps.empty() ? nullptr : zps.data();
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    const int64_t b = c * kElemChunk, e = std::min(n, b + kElemChunk);
    quant::for_each_param(layout, b, e, [&](int64_t i, int64_t p) {
      store_float(out_type, yb, i, quant::dequantize_value(int_at(x, i), scales[p], zp ? zp[p] : 0));
    });
  });
  ctx.set_output(0, std::move(y));
}

void dequantize_linear(KernelContext& ctx) { dequantize_linear_impl(ctx, false); }
void dequantize_linear_ms(KernelContext& ctx) { dequantize_linear_impl(ctx, true); }

// ---- DynamicQuantizeLinear ----
// y_scale = (max(0, max(x)) - min(0, min(x))) / 255, y_zero_point = saturate(round(0 - min/scale)),
// y = saturate(round(x / y_scale) + y_zero_point), all uint8 (the spec's only output type).
void dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  if (x.dtype() != DType::kFloat) ctx.unsupported("DynamicQuantizeLinear input must be float, got " + dt(x.dtype()));
  auto v = x.values<float>();
  float lo = 0, hi = 0;  // the range always includes 0
  for (float f : v) {
    if (f < lo) lo = f;
    if (f > hi) hi = f;
  }
  const quant::QParams p = quant::asymmetric_params(lo, hi, quant::range_of<uint8_t>());
  const int64_t n = static_cast<int64_t>(v.size());
  Tensor y = Tensor::allocate(DType::kUint8, x.dims());
  uint8_t* out = y.mutable_values<uint8_t>();
  const int64_t chunks = (n + kElemChunk - 1) / kElemChunk;
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    const int64_t b = c * kElemChunk, e = std::min(n, b + kElemChunk);
    for (int64_t i = b; i < e; ++i) out[i] = quant::quantize<uint8_t>(v[i], p.scale, p.zero_point);
  });
  ctx.set_output(0, std::move(y));
  if (ctx.output_count() > 1) ctx.set_output(1, Tensor::from_values<float>(DType::kFloat, {}, std::span(&p.scale, 1)));
  if (ctx.output_count() > 2) {
    const uint8_t z = static_cast<uint8_t>(p.zero_point);
    ctx.set_output(2, Tensor::from_values<uint8_t>(DType::kUint8, {}, std::span(&z, 1)));
  }
}

// ---- integer convolution (ConvInteger, QLinearConv) ----

// Conv's shape rules (auto_pad, pads, strides, dilations, group, kernel_shape), shared by the
// integer convolutions; spatial dims are padded in front to (D, H, W).
ConvGeom conv_geometry(const KernelContext& ctx, const std::vector<int64_t>& xd, const std::vector<int64_t>& wd) {
  if (xd.size() < 3) ctx.fail("x must have rank >= 3 (N x C x spatial...)");
  if (wd.size() != xd.size()) ctx.fail("w must have the same rank as x");
  ConvGeom g;
  g.nd = static_cast<int>(xd.size()) - 2;
  if (g.nd > kMaxSpatial) ctx.unsupported("convolutions with more than 3 spatial dims");
  g.n = xd[0];
  g.c = xd[1];
  g.m = wd[0];
  g.groups = ctx.attr_int("group", 1);
  if (g.groups <= 0 || g.c % g.groups != 0 || g.m % g.groups != 0)
    ctx.fail("group must be positive and divide the input and output channels");
  if (wd[1] != g.cg()) ctx.fail("w has " + std::to_string(wd[1]) + " input channels per group, expected " + std::to_string(g.cg()));
  const size_t nd = static_cast<size_t>(g.nd);
  auto ints = [&](const std::string& name, size_t count, int64_t fallback) {
    auto v = ctx.attr_ints(name, std::vector<int64_t>(count, fallback));
    if (v.size() != count) ctx.fail("attribute '" + name + "' must have " + std::to_string(count) + " values");
    return v;
  };
  std::vector<int64_t> kshape(wd.begin() + 2, wd.end());
  if (ctx.has_attr("kernel_shape") && ctx.attr_ints("kernel_shape") != kshape)
    ctx.fail("kernel_shape does not match w's spatial dims");
  const auto strides = ints("strides", nd, 1), dil = ints("dilations", nd, 1), pads = ints("pads", 2 * nd, 0);
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  const int off = kMaxSpatial - g.nd;
  for (size_t i = 0; i < nd; ++i) {
    const int j = off + static_cast<int>(i);
    g.in[j] = xd[2 + i];
    g.k[j] = kshape[i];
    g.s[j] = strides[i];
    g.d[j] = dil[i];
    if (g.s[j] <= 0 || g.d[j] <= 0 || g.k[j] <= 0) ctx.fail("strides, dilations and kernel dims must be positive");
    g.pb[j] = pads[i];
    g.pe[j] = pads[nd + i];
    resolve_axis(ctx, auto_pad, g.in[j], g.dk(j), g.s[j], false, g.pb[j], g.pe[j], g.out[j]);
  }
  return g;
}

// Fills rows (c, kd, kh, kw) x columns [p0, p1) of one (batch, group)'s column matrix with
// x - x_zero_point; padded taps are 0, i.e. the padding holds the zero point, as in ONNX.
template <class TX>
void im2col_int(const ConvGeom& g, const TX* xg, int32_t xzp, int64_t p0, int64_t p1, int32_t* col) {
  const int64_t width = p1 - p0;
  const int64_t plane = g.in_pixels();
  int64_t row = 0;
  for (int64_t c = 0; c < g.cg(); ++c) {
    const TX* xc = xg + c * plane;
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, ++row) {
          int32_t* dst = col + row * width;
          int64_t ow = p0 % g.out[2], oh = (p0 / g.out[2]) % g.out[1], od = p0 / (g.out[2] * g.out[1]);
          for (int64_t p = p0; p < p1; ++p) {
            const int64_t id = od * g.s[0] + kd * g.d[0] - g.pb[0];
            const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
            const int64_t iw = ow * g.s[2] + kw * g.d[2] - g.pb[2];
            const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
            dst[p - p0] = inside ? static_cast<int32_t>(xc[(id * g.in[1] + ih) * g.in[2] + iw]) - xzp : 0;
            if (++ow == g.out[2]) {
              ow = 0;
              if (++oh == g.out[1]) {
                oh = 0;
                ++od;
              }
            }
          }
        }
  }
}

// sum over (c, kernel) of (x - x_zp) * (w - w_zp[m]) for every output element; calls
// epi(n, m, p0, count, acc) with the int32 accumulators of output row (n, m), pixels [p0, p0+count).
// Chunks are (batch, group, block of output pixels), sized from the shape alone.
template <class TX, class TW, class Epi>
void int_conv(ThreadPool& pool, const ConvGeom& g, const TX* x, int32_t xzp, const TW* w,
              const std::vector<int32_t>& wzp, Epi&& epi) {
  const int64_t cgk = g.cg() * g.kernel_size();
  const int64_t out_px = g.out_pixels();
  if (g.n == 0 || g.m == 0 || out_px == 0) return;
  std::vector<int32_t> wi(static_cast<size_t>(g.m * cgk));
  for (int64_t m = 0; m < g.m; ++m) {
    const int32_t z = wzp.empty() ? 0 : wzp[wzp.size() == 1 ? 0 : m];
    for (int64_t j = 0; j < cgk; ++j) wi[m * cgk + j] = static_cast<int32_t>(w[m * cgk + j]) - z;
  }
  const int64_t block = std::min(out_px, std::max<int64_t>(16, (int64_t{1} << 16) / std::max<int64_t>(1, cgk)));
  const int64_t pblocks = (out_px + block - 1) / block;
  const int64_t mg = g.mg();
  pool.parallel_for(g.n * g.groups * pblocks, [&](int64_t chunk) {
    const int64_t pb = chunk % pblocks;
    const int64_t grp = (chunk / pblocks) % g.groups;
    const int64_t n = chunk / (pblocks * g.groups);
    const int64_t p0 = pb * block, p1 = std::min(out_px, p0 + block), width = p1 - p0;
    std::vector<int32_t> col(static_cast<size_t>(cgk * width));
    std::vector<int32_t> acc(static_cast<size_t>(mg * width));
    im2col_int(g, x + (n * g.c + grp * g.cg()) * g.in_pixels(), xzp, p0, p1, col.data());
    ConstIntMap wm(wi.data() + grp * mg * cgk, mg, cgk);
    ConstIntMap cm(col.data(), cgk, width);
    IntMap am(acc.data(), mg, width);
    am.noalias() = wm * cm;
    for (int64_t r = 0; r < mg; ++r) epi(n, grp * mg + r, p0, width, acc.data() + r * width);
  });
}

// Zero points of w: a scalar or one per output channel.
std::vector<int32_t> read_w_zero_points(const KernelContext& ctx, const Tensor* t, DType wtype, int64_t m,
                                        const std::string& what) {
  if (!t) return {};
  if (t->dtype() != wtype) ctx.fail(what + " must have w's dtype");
  auto z = read_zero_points(ctx, t, what);
  if (z.size() != 1 && static_cast<int64_t>(z.size()) != m) ctx.fail(what + " must be a scalar or have one value per output channel");
  return z;
}

// ConvInteger (opset 10): y = conv(x - x_zero_point, w - w_zero_point), int32.
void conv_integer(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& w = ctx.required_input(1);
  const ConvGeom g = conv_geometry(ctx, x.dims(), w.dims());
  const int32_t xzp = read_scalar_zp(ctx, ctx.input(2), x.dtype(), "x_zero_point");
  const auto wzp = read_w_zero_points(ctx, ctx.input(3), w.dtype(), g.m, "w_zero_point");
  Tensor y = Tensor::allocate(DType::kInt32, g.out_dims());
  int32_t* out = y.mutable_values<int32_t>();
  const int64_t out_px = g.out_pixels();
  dispatch_q8(ctx, x.dtype(), "x", [&](auto xt) {
    dispatch_q8(ctx, w.dtype(), "w", [&](auto wt) {
      using TX = decltype(xt);
      using TW = decltype(wt);
      int_conv(ctx.pool(), g, x.values<TX>().data(), xzp, w.values<TW>().data(), wzp,
               [&](int64_t n, int64_t m, int64_t p0, int64_t count, const int32_t* acc) {
                 std::copy_n(acc, count, out + (n * g.m + m) * out_px + p0);
               });
    });
  });
  ctx.set_output(0, std::move(y));
}

// NHWC <-> NCHW for the com.microsoft channels_last variants (8-bit elements).
Tensor to_channels_first(const Tensor& t) {
  const auto& d = t.dims();
  std::vector<int64_t> nd{d[0], d.back()};
  nd.insert(nd.end(), d.begin() + 1, d.end() - 1);
  const int64_t c = d.back(), px = shape_size(d) / std::max<int64_t>(1, d[0] * c);
  Tensor out = Tensor::allocate(t.dtype(), nd);
  const auto* src = reinterpret_cast<const uint8_t*>(t.bytes().data());
  auto* dst = out.mutable_values<uint8_t>();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t p = 0; p < px; ++p)
      for (int64_t ch = 0; ch < c; ++ch) dst[(n * c + ch) * px + p] = src[(n * px + p) * c + ch];
  return out;
}

Tensor to_channels_last(const Tensor& t) {
  const auto& d = t.dims();
  std::vector<int64_t> nd{d[0]};
  nd.insert(nd.end(), d.begin() + 2, d.end());
  nd.push_back(d[1]);
  const int64_t c = d[1], px = shape_size(d) / std::max<int64_t>(1, d[0] * c);
  Tensor out = Tensor::allocate(t.dtype(), nd);
  const auto* src = reinterpret_cast<const uint8_t*>(t.bytes().data());
  auto* dst = out.mutable_values<uint8_t>();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t p = 0; p < px; ++p)
      for (int64_t ch = 0; ch < c; ++ch) dst[(n * px + p) * c + ch] = src[(n * c + ch) * px + p];
  return out;
}

// QLinearConv (opset 10; com.microsoft adds channels_last):
//   y = saturate(round((sum (x - x_zp)(w - w_zp[m]) + B[m]) * x_scale * w_scale[m] / y_scale) + y_zp)
// w_scale / w_zero_point are a scalar or per output channel.
void qlinear_conv_impl(KernelContext& ctx, bool channels_last) {
  const Tensor& x_in = ctx.required_input(0);
  const float x_scale = read_scalar_float(ctx, ctx.required_input(1), "x_scale");
  const Tensor& w = ctx.required_input(3);
  const Tensor& w_scale_t = ctx.required_input(4);
  const float y_scale = read_scalar_float(ctx, ctx.required_input(6), "y_scale");
  const Tensor* y_zp_t = ctx.input(7);
  const Tensor* bias = ctx.input(8);
  if (x_in.dims().size() < 3) ctx.fail("x must have rank >= 3");
  const Tensor x = channels_last ? to_channels_first(x_in) : x_in;
  const ConvGeom g = conv_geometry(ctx, x.dims(), w.dims());
  const int32_t xzp = read_scalar_zp(ctx, ctx.input(2), x.dtype(), "x_zero_point");
  const auto wzp = read_w_zero_points(ctx, ctx.input(5), w.dtype(), g.m, "w_zero_point");
  const std::vector<float> w_scale = read_floats(ctx, w_scale_t, "w_scale");
  if (w_scale.size() != 1 && static_cast<int64_t>(w_scale.size()) != g.m)
    ctx.fail("w_scale must be a scalar or have one value per output channel");
  const DType out_type = y_zp_t ? y_zp_t->dtype() : x.dtype();
  const int32_t yzp = read_scalar_zp(ctx, y_zp_t, out_type, "y_zero_point");
  const auto range = int_range(out_type);
  if (out_type != DType::kInt8 && out_type != DType::kUint8) ctx.unsupported("QLinearConv output dtype " + dt(out_type));
  std::vector<int32_t> b;
  if (bias) {
    if (bias->dtype() != DType::kInt32 || static_cast<int64_t>(bias->element_count()) != g.m)
      ctx.fail("B must be an int32 tensor with one value per output channel");
    auto bv = bias->values<int32_t>();
    b.assign(bv.begin(), bv.end());
  }
  // One real multiplier per output channel, in float as (x_scale * w_scale) / y_scale.
  std::vector<float> mult(static_cast<size_t>(g.m));
  for (int64_t m = 0; m < g.m; ++m) mult[m] = x_scale * w_scale[w_scale.size() == 1 ? 0 : m] / y_scale;

  Tensor y = Tensor::allocate(out_type, g.out_dims());
  std::byte* yb = mutable_bytes(y);
  const int64_t out_px = g.out_pixels();
  dispatch_q8(ctx, x.dtype(), "x", [&](auto xt) {
    dispatch_q8(ctx, w.dtype(), "w", [&](auto wt) {
      using TX = decltype(xt);
      using TW = decltype(wt);
      int_conv(ctx.pool(), g, x.values<TX>().data(), xzp, w.values<TW>().data(), wzp,
               [&](int64_t n, int64_t m, int64_t p0, int64_t count, const int32_t* acc) {
                 const int64_t base = (n * g.m + m) * out_px + p0;
                 const int32_t bm = b.empty() ? 0 : b[m];
                 for (int64_t i = 0; i < count; ++i)
                   store_int(out_type, yb, base + i, quant::requantize(acc[i] + bm, mult[m], yzp, *range));
               });
    });
  });
  ctx.set_output(0, channels_last ? to_channels_last(y) : std::move(y));
}

void qlinear_conv(KernelContext& ctx) { qlinear_conv_impl(ctx, false); }
void qlinear_conv_ms(KernelContext& ctx) { qlinear_conv_impl(ctx, ctx.attr_int("channels_last", 0) != 0); }

// ---- integer matrix products ----

// numpy.matmul shapes: 1-D operands are promoted (and the promoted dim dropped from the output),
// batch dims broadcast. a_mat / b_mat give, per output batch item, the matrix index in A / B.
struct MatmulPlan {
  std::vector<int64_t> out_dims;
  int64_t m = 1, k = 1, n = 1;
  int64_t a_mats = 1, b_mats = 1;
  std::vector<int64_t> a_mat, b_mat;
};

MatmulPlan plan_matmul(const KernelContext& ctx, std::vector<int64_t> ad, std::vector<int64_t> bd) {
  if (ad.empty() || bd.empty()) ctx.fail("matrix product operands must have rank >= 1");
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  MatmulPlan p;
  p.m = ad[ad.size() - 2];
  p.k = ad.back();
  p.n = bd.back();
  if (bd[bd.size() - 2] != p.k)
    ctx.fail("inner dimensions do not match: " + std::to_string(p.k) + " vs " + std::to_string(bd[bd.size() - 2]));
  std::vector<int64_t> ab(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
  auto ob = broadcast_shapes({ab, bb});
  if (!ob) ctx.fail("batch dimensions do not broadcast");
  p.a_mats = shape_size(ab);
  p.b_mats = shape_size(bb);
  const int64_t batch = shape_size(*ob);
  const auto sa = broadcast_strides(ab, *ob), sb = broadcast_strides(bb, *ob);
  p.a_mat.resize(batch);
  p.b_mat.resize(batch);
  std::vector<int64_t> idx(ob->size(), 0);
  for (int64_t t = 0; t < batch; ++t) {
    int64_t ia = 0, ib = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      ia += idx[i] * sa[i];
      ib += idx[i] * sb[i];
    }
    p.a_mat[t] = ia;
    p.b_mat[t] = ib;
    for (int64_t i = static_cast<int64_t>(idx.size()) - 1; i >= 0; --i) {
      if (++idx[i] < (*ob)[i]) break;
      idx[i] = 0;
    }
  }
  p.out_dims = *ob;
  if (!a_vec) p.out_dims.push_back(p.m);
  if (!b_vec) p.out_dims.push_back(p.n);
  return p;
}

// How a per-tensor / per-row (A) or per-column (B) parameter vector is indexed: by nothing, by
// the row (column), or by (matrix, row). `count` is the vector's length.
struct ParamIndex {
  int kind = 0;  // 0: single, 1: per row/col, 2: per (matrix, row/col)
  int64_t width = 1;
  int64_t at(int64_t mat, int64_t r) const { return kind == 0 ? 0 : kind == 1 ? r : mat * width + r; }
};

ParamIndex param_index(const KernelContext& ctx, size_t count, int64_t width, int64_t mats, const std::string& what) {
  if (count <= 1) return {0, width};
  if (static_cast<int64_t>(count) == width) return {1, width};
  if (static_cast<int64_t>(count) == width * mats) return {2, width};
  ctx.fail(what + " has " + std::to_string(count) + " values; expected 1, " + std::to_string(width) + " or " +
           std::to_string(width * mats));
}

// A (a_mats x M x K) as int32 minus its zero point (indexed per row).
template <class T>
std::vector<int32_t> a_minus_zp(const T* a, const MatmulPlan& p, const std::vector<int32_t>& zp, ParamIndex pi) {
  std::vector<int32_t> out(static_cast<size_t>(p.a_mats * p.m * p.k));
  for (int64_t mat = 0, e = 0; mat < p.a_mats; ++mat)
    for (int64_t r = 0; r < p.m; ++r) {
      const int32_t z = zp.empty() ? 0 : zp[pi.at(mat, r)];
      for (int64_t c = 0; c < p.k; ++c, ++e) out[e] = static_cast<int32_t>(a[e]) - z;
    }
  return out;
}

// B (b_mats x K x N) as int32 minus its zero point (indexed per column).
template <class T>
std::vector<int32_t> b_minus_zp(const T* b, const MatmulPlan& p, const std::vector<int32_t>& zp, ParamIndex pi) {
  std::vector<int32_t> out(static_cast<size_t>(p.b_mats * p.k * p.n));
  for (int64_t mat = 0, e = 0; mat < p.b_mats; ++mat)
    for (int64_t r = 0; r < p.k; ++r)
      for (int64_t c = 0; c < p.n; ++c, ++e) out[e] = static_cast<int32_t>(b[e]) - (zp.empty() ? 0 : zp[pi.at(mat, c)]);
  return out;
}

// For every output batch item t and block of rows [m0, m0 + rows): acc = A[a_mat] * B[b_mat]
// (int32), then epi(t, m0, rows, acc) with acc row-major rows x N. Chunks are (batch item, row
// block) with the block size chosen from the shape.
template <class Epi>
void int_matmul(ThreadPool& pool, const MatmulPlan& p, const int32_t* a, const int32_t* b, Epi&& epi) {
  const int64_t batch = static_cast<int64_t>(p.a_mat.size());
  if (batch == 0 || p.m == 0 || p.n == 0) return;
  const int64_t rows = std::min(p.m, std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, p.n)));
  const int64_t rblocks = (p.m + rows - 1) / rows;
  pool.parallel_for(batch * rblocks, [&](int64_t chunk) {
    const int64_t t = chunk / rblocks, m0 = (chunk % rblocks) * rows, r = std::min(rows, p.m - m0);
    std::vector<int32_t> acc(static_cast<size_t>(r * p.n));
    ConstIntMap am(a + (p.a_mat[t] * p.m + m0) * p.k, r, p.k);
    ConstIntMap bm(b + p.b_mat[t] * p.k * p.n, p.k, p.n);
    IntMap cm(acc.data(), r, p.n);
    if (p.k == 0) cm.setZero();
    else cm.noalias() = am * bm;
    epi(t, m0, r, acc.data());
  });
}

// QLinearMatMul (opset 10; 21 adds float8, not supported here):
//   y = saturate(round(((a - a_zp)(b - b_zp)) * (a_scale * b_scale / y_scale)) + y_zp)
// a's scale / zero point are per tensor or per row, b's per tensor or per column.
void qlinear_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(3);
  const Tensor* y_zp_t = ctx.input(7);
  const MatmulPlan p = plan_matmul(ctx, a.dims(), b.dims());
  const auto a_scale = read_floats(ctx, ctx.required_input(1), "a_scale");
  const auto b_scale = read_floats(ctx, ctx.required_input(4), "b_scale");
  const float y_scale = read_scalar_float(ctx, ctx.required_input(6), "y_scale");
  const Tensor* a_zp_t = ctx.input(2);
  const Tensor* b_zp_t = ctx.input(5);
  if (a_zp_t && a_zp_t->dtype() != a.dtype()) ctx.fail("a_zero_point must have a's dtype");
  if (b_zp_t && b_zp_t->dtype() != b.dtype()) ctx.fail("b_zero_point must have b's dtype");
  const auto a_zp = read_zero_points(ctx, a_zp_t, "a_zero_point");
  const auto b_zp = read_zero_points(ctx, b_zp_t, "b_zero_point");
  const ParamIndex ai_s = param_index(ctx, a_scale.size(), p.m, p.a_mats, "a_scale");
  const ParamIndex ai_z = param_index(ctx, a_zp.size(), p.m, p.a_mats, "a_zero_point");
  const ParamIndex bi_s = param_index(ctx, b_scale.size(), p.n, p.b_mats, "b_scale");
  const ParamIndex bi_z = param_index(ctx, b_zp.size(), p.n, p.b_mats, "b_zero_point");
  const DType out_type = y_zp_t ? y_zp_t->dtype() : a.dtype();
  if (out_type != DType::kInt8 && out_type != DType::kUint8) ctx.unsupported("QLinearMatMul output dtype " + dt(out_type));
  const int32_t yzp = read_scalar_zp(ctx, y_zp_t, out_type, "y_zero_point");
  const QRange range = *int_range(out_type);

  std::vector<int32_t> ai, bi;
  dispatch_q8(ctx, a.dtype(), "a", [&](auto t) { ai = a_minus_zp(a.values<decltype(t)>().data(), p, a_zp, ai_z); });
  dispatch_q8(ctx, b.dtype(), "b", [&](auto t) { bi = b_minus_zp(b.values<decltype(t)>().data(), p, b_zp, bi_z); });
  Tensor y = Tensor::allocate(out_type, p.out_dims);
  std::byte* yb = mutable_bytes(y);
  int_matmul(ctx.pool(), p, ai.data(), bi.data(), [&](int64_t t, int64_t m0, int64_t rows, const int32_t* acc) {
    for (int64_t r = 0; r < rows; ++r) {
      const float sa = a_scale[ai_s.at(p.a_mat[t], m0 + r)];
      const int64_t base = (t * p.m + m0 + r) * p.n;
      for (int64_t c = 0; c < p.n; ++c) {
        const float mult = sa * b_scale[bi_s.at(p.b_mat[t], c)] / y_scale;
        store_int(out_type, yb, base + c, quant::requantize(acc[r * p.n + c], mult, yzp, range));
      }
    }
  });
  ctx.set_output(0, std::move(y));
}

// Shared by MatMulIntegerToFloat and DynamicQuantizeMatMul (ORT contrib docs):
//   Y = ((A - a_zp)(B - b_zp)) * (a_scale * b_scale[n]) + bias[n]
// with a per-tensor A and a per-tensor or per-column B; Y has a_scale's float type.
template <class TA>
void matmul_to_float(KernelContext& ctx, const TA* a, const MatmulPlan& p, float a_scale, int32_t a_zp, const Tensor& b,
                     const std::vector<float>& b_scale, const Tensor* b_zp_t, const Tensor* bias_t, DType out_type) {
  if (b_zp_t && b_zp_t->dtype() != b.dtype()) ctx.fail("b_zero_point must have B's dtype");
  const auto b_zp = read_zero_points(ctx, b_zp_t, "b_zero_point");
  const ParamIndex bi_s = param_index(ctx, b_scale.size(), p.n, p.b_mats, "b_scale");
  const ParamIndex bi_z = param_index(ctx, b_zp.size(), p.n, p.b_mats, "b_zero_point");
  std::vector<float> bias;
  if (bias_t) {
    bias = read_floats(ctx, *bias_t, "bias");
    if (static_cast<int64_t>(bias.size()) != p.n) ctx.fail("bias must have B's last dimension");
  }
  const std::vector<int32_t> a_zps{a_zp};
  const auto ai = a_minus_zp(a, p, a_zps, ParamIndex{0, p.m});
  std::vector<int32_t> bi;
  dispatch_q8(ctx, b.dtype(), "B", [&](auto t) { bi = b_minus_zp(b.values<decltype(t)>().data(), p, b_zp, bi_z); });
  Tensor y = Tensor::allocate(out_type, p.out_dims);
  std::byte* yb = mutable_bytes(y);
  int_matmul(ctx.pool(), p, ai.data(), bi.data(), [&](int64_t t, int64_t m0, int64_t rows, const int32_t* acc) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = (t * p.m + m0 + r) * p.n;
      for (int64_t c = 0; c < p.n; ++c) {
        float v = static_cast<float>(acc[r * p.n + c]) * (a_scale * b_scale[bi_s.at(p.b_mat[t], c)]);
        if (!bias.empty()) v += bias[c];
        store_float(out_type, yb, base + c, v);
      }
    }
  });
  ctx.set_output(0, std::move(y));
}

// com.microsoft MatMulIntegerToFloat: inputs A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?.
void matmul_integer_to_float(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  const Tensor& a_scale_t = ctx.required_input(2);
  const MatmulPlan p = plan_matmul(ctx, a.dims(), b.dims());
  // The doc allows a 1-D a_scale "per column of A", which cannot be factored out of the product
  // over K; only a per-tensor A is implemented.
  if (a_scale_t.element_count() != 1) ctx.unsupported("MatMulIntegerToFloat with a non-scalar a_scale");
  const float a_scale = read_scalar_float(ctx, a_scale_t, "a_scale");
  const auto b_scale = read_floats(ctx, ctx.required_input(3), "b_scale");
  const Tensor* a_zp_t = ctx.input(4);
  if (a_zp_t && a_zp_t->element_count() != 1) ctx.unsupported("MatMulIntegerToFloat with a non-scalar a_zero_point");
  const int32_t a_zp = read_scalar_zp(ctx, a_zp_t, a.dtype(), "a_zero_point");
  const DType out_type = a_scale_t.dtype();
  if (out_type != DType::kFloat && out_type != DType::kFloat16) ctx.unsupported("a_scale dtype " + dt(out_type));
  dispatch_q8(ctx, a.dtype(), "A", [&](auto t) {
    matmul_to_float(ctx, a.values<decltype(t)>().data(), p, a_scale, a_zp, b, b_scale, ctx.input(5), ctx.input(6), out_type);
  });
}

// com.microsoft DynamicQuantizeMatMul: inputs A (float), B, b_scale, b_zero_point?, bias?.
// A is quantized to uint8 with DynamicQuantizeLinear's parameters, then as MatMulIntegerToFloat.
void dynamic_quantize_matmul(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  if (a.dtype() != DType::kFloat) ctx.unsupported("DynamicQuantizeMatMul A must be float");
  const MatmulPlan p = plan_matmul(ctx, a.dims(), b.dims());
  const auto b_scale = read_floats(ctx, ctx.required_input(2), "b_scale");
  auto av = a.values<float>();
  float lo = 0, hi = 0;
  for (float f : av) {
    if (f < lo) lo = f;
    if (f > hi) hi = f;
  }
  const quant::QParams ap = quant::asymmetric_params(lo, hi, quant::range_of<uint8_t>());
  std::vector<uint8_t> aq(av.size());
  for (size_t i = 0; i < av.size(); ++i) aq[i] = quant::quantize<uint8_t>(av[i], ap.scale, ap.zero_point);
  matmul_to_float(ctx, aq.data(), p, ap.scale, ap.zero_point, b, b_scale, ctx.input(3), ctx.input(4), DType::kFloat);
}

// com.microsoft QGemm: inputs A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?,
// y_zero_point?; attributes alpha, transA, transB.
//   acc = (A' - a_zp)(B' - b_zp[n]) + C   (C is int32 with scale alpha * a_scale * b_scale)
//   float output:      Y = acc * alpha * a_scale * b_scale[n]
//   quantized output:  Y = saturate(round(acc * alpha * a_scale * b_scale[n] / y_scale) + y_zp)
// The output is quantized (to y_zero_point's type) when y_zero_point is given.
void qgemm(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(3);
  const float a_scale = read_scalar_float(ctx, ctx.required_input(1), "a_scale");
  const int32_t a_zp = read_scalar_zp(ctx, ctx.input(2), a.dtype(), "a_zero_point");
  const auto b_scale = read_floats(ctx, ctx.required_input(4), "b_scale");
  const Tensor* b_zp_t = ctx.input(5);
  const Tensor* c_t = ctx.input(6);
  const Tensor* y_scale_t = ctx.input(7);
  const Tensor* y_zp_t = ctx.input(8);
  const float alpha = ctx.attr_float("alpha", 1.0f);
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  if (a.dims().size() != 2 || b.dims().size() != 2) ctx.fail("QGemm A and B must be 2-D");
  const int64_t m = ta ? a.dims()[1] : a.dims()[0], k = ta ? a.dims()[0] : a.dims()[1];
  const int64_t kb = tb ? b.dims()[1] : b.dims()[0], n = tb ? b.dims()[0] : b.dims()[1];
  if (k != kb) ctx.fail("QGemm inner dimensions do not match");
  if (b_zp_t && b_zp_t->dtype() != b.dtype()) ctx.fail("b_zero_point must have B's dtype");
  const auto b_zp = read_zero_points(ctx, b_zp_t, "b_zero_point");
  if (b_zp.size() > 1 && static_cast<int64_t>(b_zp.size()) != n) ctx.fail("b_zero_point must be a scalar or have N values");
  if (b_scale.size() > 1 && static_cast<int64_t>(b_scale.size()) != n) ctx.fail("b_scale must be a scalar or have N values");
  if (y_scale_t && !y_zp_t) ctx.unsupported("QGemm with y_scale but no y_zero_point (output type unknown)");
  if (y_zp_t && !y_scale_t) ctx.fail("QGemm y_zero_point needs y_scale");

  // A' (M x K) and B' (K x N) as int32 with zero points subtracted.
  MatmulPlan p;
  p.m = m;
  p.k = k;
  p.n = n;
  p.a_mat = {0};
  p.b_mat = {0};
  p.out_dims = {m, n};
  std::vector<int32_t> ai(static_cast<size_t>(m * k)), bi(static_cast<size_t>(k * n));
  dispatch_q8(ctx, a.dtype(), "A", [&](auto t) {
    auto v = a.values<decltype(t)>();
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < k; ++c) ai[r * k + c] = static_cast<int32_t>(v[ta ? c * m + r : r * k + c]) - a_zp;
  });
  dispatch_q8(ctx, b.dtype(), "B", [&](auto t) {
    auto v = b.values<decltype(t)>();
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < n; ++c)
        bi[r * n + c] = static_cast<int32_t>(v[tb ? c * k + r : r * n + c]) - (b_zp.empty() ? 0 : b_zp[b_zp.size() == 1 ? 0 : c]);
  });
  // C broadcasts unidirectionally to (M, N).
  const int32_t* cv = nullptr;
  std::vector<int64_t> cs;
  if (c_t) {
    if (c_t->dtype() != DType::kInt32) ctx.fail("QGemm C must be int32");
    auto bs = broadcast_shapes({c_t->dims(), {m, n}});
    if (!bs || *bs != std::vector<int64_t>{m, n}) ctx.fail("QGemm C does not broadcast to (M, N)");
    cs = broadcast_strides(c_t->dims(), {m, n});
    cv = c_t->values<int32_t>().data();
  }
  const bool quantized = y_zp_t != nullptr;
  const DType out_type = quantized ? y_zp_t->dtype() : DType::kFloat;
  if (quantized && out_type != DType::kInt8 && out_type != DType::kUint8) ctx.unsupported("QGemm output dtype " + dt(out_type));
  const float y_scale = quantized ? read_scalar_float(ctx, *y_scale_t, "y_scale") : 1.0f;
  const int32_t y_zp = quantized ? read_scalar_zp(ctx, y_zp_t, out_type, "y_zero_point") : 0;
  std::vector<float> mult(static_cast<size_t>(n));
  for (int64_t c = 0; c < n; ++c) {
    mult[c] = alpha * a_scale * b_scale[b_scale.size() == 1 ? 0 : c];
    if (quantized) mult[c] /= y_scale;
  }
  Tensor y = Tensor::allocate(out_type, {m, n});
  std::byte* yb = mutable_bytes(y);
  const QRange range = quantized ? *int_range(out_type) : QRange{0, 0};
  int_matmul(ctx.pool(), p, ai.data(), bi.data(), [&](int64_t, int64_t m0, int64_t rows, const int32_t* acc) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c) {
        int32_t v = acc[r * n + c];
        if (cv) v += cv[(m0 + r) * cs[0] + c * cs[1]];
        const int64_t i = (m0 + r) * n + c;
        if (quantized) store_int(out_type, yb, i, quant::requantize(v, mult[c], y_zp, range));
        else reinterpret_cast<float*>(yb)[i] = static_cast<float>(v) * mult[c];
      }
  });
  ctx.set_output(0, std::move(y));
}

// ---- com.microsoft element-wise ops ----

// Per-tensor quantization parameters of one operand (scale + optional zero point of type T).
struct QParam {
  float scale;
  int32_t zp;
};

QParam read_qparam(const KernelContext& ctx, size_t scale_idx, size_t zp_idx, DType type, const std::string& name) {
  return {read_scalar_float(ctx, ctx.required_input(scale_idx), name + "_scale"),
          read_scalar_zp(ctx, ctx.input(zp_idx), type, name + "_zero_point")};
}

// Binary element-wise op with numpy broadcasting over two 8-bit operands.
template <class Op>
void qlinear_binary(KernelContext& ctx, Op&& op) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(3);
  if (a.dtype() != b.dtype()) ctx.fail("A and B must have the same dtype");
  const QParam pa = read_qparam(ctx, 1, 2, a.dtype(), "A");
  const QParam pb = read_qparam(ctx, 4, 5, a.dtype(), "B");
  const QParam pc = read_qparam(ctx, 6, 7, a.dtype(), "C");
  auto od = broadcast_shapes({a.dims(), b.dims()});
  if (!od) ctx.fail("A and B shapes do not broadcast");
  const auto sa = broadcast_strides(a.dims(), *od), sb = broadcast_strides(b.dims(), *od);
  dispatch_q8(ctx, a.dtype(), "A", [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::allocate(a.dtype(), *od);
    T* out = y.template mutable_values<T>();
    const T* av = a.values<T>().data();
    const T* bv = b.values<T>().data();
    const int64_t total = shape_size(*od);
    const int64_t rank = static_cast<int64_t>(od->size());
    std::vector<int64_t> idx(od->size(), 0);
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < total; ++i) {
      out[i] = static_cast<T>(op(static_cast<int32_t>(av[ia]), static_cast<int32_t>(bv[ib]), pa, pb, pc, quant::range_of<T>()));
      for (int64_t d = rank - 1; d >= 0; --d) {
        ia += sa[d];
        ib += sb[d];
        if (++idx[d] < (*od)[d]) break;
        ia -= sa[d] * idx[d];
        ib -= sb[d] * idx[d];
        idx[d] = 0;
      }
    }
    ctx.set_output(0, std::move(y));
  });
}

// QLinearAdd: C = (A_scale * (A - A_zp) + B_scale * (B - B_zp)) / C_scale + C_zp.
void qlinear_add(KernelContext& ctx) {
  qlinear_binary(ctx, [](int32_t a, int32_t b, const QParam& pa, const QParam& pb, const QParam& pc, QRange r) {
    const float real = pa.scale * static_cast<float>(a - pa.zp) + pb.scale * static_cast<float>(b - pb.zp);
    return quant::quantize_value<float>(real, pc.scale, pc.zp, r);
  });
}

// QLinearMul: C = ((A - A_zp) * (B - B_zp)) * (A_scale * B_scale / C_scale) + C_zp.
void qlinear_mul(KernelContext& ctx) {
  qlinear_binary(ctx, [](int32_t a, int32_t b, const QParam& pa, const QParam& pb, const QParam& pc, QRange r) {
    return quant::requantize((a - pa.zp) * (b - pb.zp), pa.scale * pb.scale / pc.scale, pc.zp, r);
  });
}

// Unary ops on 8-bit data through a 256-entry table: y = quantize(f(dequantize(x))).
template <class F>
void qlinear_unary(KernelContext& ctx, F&& f) {
  const Tensor& x = ctx.required_input(0);
  const QParam px = read_qparam(ctx, 1, 2, x.dtype(), "X");
  const QParam py = read_qparam(ctx, 3, 4, x.dtype(), "Y");
  dispatch_q8(ctx, x.dtype(), "X", [&](auto tag) {
    using T = decltype(tag);
    constexpr QRange r = quant::range_of<T>();
    std::array<T, 256> table{};
    for (int32_t q = r.min; q <= r.max; ++q)
      table[q - r.min] = static_cast<T>(quant::quantize_value<float>(f(quant::dequantize_value(q, px.scale, px.zp)),
                                                                     py.scale, py.zp, r));
    Tensor y = Tensor::allocate(x.dtype(), x.dims());
    T* out = y.template mutable_values<T>();
    auto in = x.values<T>();
    for (size_t i = 0; i < in.size(); ++i) out[i] = table[static_cast<int32_t>(in[i]) - r.min];
    ctx.set_output(0, std::move(y));
  });
}

// QLinearSigmoid: f(x) = quantize(Sigmoid(dequantize(x))).
void qlinear_sigmoid(KernelContext& ctx) {
  qlinear_unary(ctx, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}

// QLinearLeakyRelu: quantize(alpha * dequantize(x)) for negative values, else quantize(dequantize(x)).
// alpha defaults to 0.01 as in ONNX LeakyRelu.
void qlinear_leaky_relu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 0.01f);
  qlinear_unary(ctx, [alpha](float v) { return v < 0 ? alpha * v : v; });
}

// QLinearGlobalAveragePool: the mean over the spatial dims of the dequantized input, quantized
// with the output parameters. channels_last selects (N x spatial... x C).
void qlinear_global_average_pool(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const bool cl = ctx.attr_int("channels_last", 0) != 0;
  const auto& d = x.dims();
  if (d.size() < 3) ctx.fail("X must have rank >= 3");
  const QParam px = read_qparam(ctx, 1, 2, x.dtype(), "x");
  const QParam py = read_qparam(ctx, 3, 4, x.dtype(), "y");
  const int64_t n = d[0], c = cl ? d.back() : d[1];
  const int64_t px_count = shape_size(d) / std::max<int64_t>(1, n * c);
  std::vector<int64_t> od(d.size(), 1);
  od[0] = n;
  od[cl ? d.size() - 1 : 1] = c;
  dispatch_q8(ctx, x.dtype(), "X", [&](auto tag) {
    using T = decltype(tag);
    Tensor y = Tensor::allocate(x.dtype(), od);
    T* out = y.template mutable_values<T>();
    const T* in = x.values<T>().data();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t ch = 0; ch < c; ++ch) {
        int64_t sum = 0;
        if (cl)
          for (int64_t p = 0; p < px_count; ++p) sum += in[(b * px_count + p) * c + ch];
        else
          for (int64_t p = 0; p < px_count; ++p) sum += in[(b * c + ch) * px_count + p];
        const float mean = px_count > 0 ? px.scale * static_cast<float>(sum - px.zp * px_count) / static_cast<float>(px_count) : 0.0f;
        out[b * c + ch] = static_cast<T>(quant::quantize_value<float>(mean, py.scale, py.zp, quant::range_of<T>()));
      }
    ctx.set_output(0, std::move(y));
  });
}

// QLinearConcat: inputs Y_scale, Y_zero_point, then (tensor, scale, zero_point) per input.
// Every input is requantized to (Y_scale, Y_zero_point): quantize(dequantize(x)), through a
// 256-entry table, or copied when its parameters already equal the output's.
void qlinear_concat(KernelContext& ctx) {
  const size_t n_in = ctx.input_count();
  if (n_in < 5 || (n_in - 2) % 3 != 0) ctx.fail("QLinearConcat takes Y_scale, Y_zero_point and (tensor, scale, zero_point) triples");
  const Tensor& y_zp_t = ctx.required_input(1);
  const DType type = y_zp_t.dtype();
  const QParam py{read_scalar_float(ctx, ctx.required_input(0), "Y_scale"), read_scalar_zp(ctx, &y_zp_t, type, "Y_zero_point")};
  const size_t k = (n_in - 2) / 3;
  std::vector<const Tensor*> xs;
  std::vector<QParam> ps;
  for (size_t i = 0; i < k; ++i) {
    const Tensor& t = ctx.required_input(2 + 3 * i);
    if (t.dtype() != type) ctx.fail("input " + std::to_string(i) + " must have Y_zero_point's dtype");
    xs.push_back(&t);
    ps.push_back(read_qparam(ctx, 3 + 3 * i, 4 + 3 * i, type, "input " + std::to_string(i)));
  }
  const int64_t rank = static_cast<int64_t>(xs[0]->dims().size());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  std::vector<int64_t> od = xs[0]->dims();
  od[axis] = 0;
  for (const Tensor* t : xs) {
    if (static_cast<int64_t>(t->dims().size()) != rank) ctx.fail("all inputs must have the same rank");
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis && t->dims()[i] != xs[0]->dims()[i]) ctx.fail("input shapes differ outside the concat axis");
    od[axis] += t->dims()[axis];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= od[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= od[i];
  dispatch_q8(ctx, type, "Y", [&](auto tag) {
    using T = decltype(tag);
    constexpr QRange r = quant::range_of<T>();
    std::vector<std::array<T, 256>> tables(k);
    std::vector<bool> same(k);
    for (size_t i = 0; i < k; ++i) {
      same[i] = ps[i].scale == py.scale && ps[i].zp == py.zp;
      for (int32_t q = r.min; q <= r.max; ++q)
        tables[i][q - r.min] = static_cast<T>(
            quant::quantize_value<float>(quant::dequantize_value(q, ps[i].scale, ps[i].zp), py.scale, py.zp, r));
    }
    Tensor y = Tensor::allocate(type, od);
    T* out = y.template mutable_values<T>();
    int64_t pos = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (size_t i = 0; i < k; ++i) {
        const int64_t len = xs[i]->dims()[axis] * inner;
        const T* src = xs[i]->values<T>().data() + o * len;
        if (same[i]) std::copy_n(src, len, out + pos);
        else
          for (int64_t j = 0; j < len; ++j) out[pos + j] = tables[i][static_cast<int32_t>(src[j]) - r.min];
        pos += len;
      }
    ctx.set_output(0, std::move(y));
  });
}

}  // namespace

void register_quantize_kernels(KernelRegistry& r) {
  r.add("", "QuantizeLinear", quantize_linear, 10);
  r.add("", "DequantizeLinear", dequantize_linear, 10);
  r.add("", "DynamicQuantizeLinear", dynamic_quantize_linear, 11);
  r.add("", "ConvInteger", conv_integer, 10);
  r.add("", "QLinearConv", qlinear_conv, 10);
  r.add("", "QLinearMatMul", qlinear_matmul, 10);

  r.add("com.microsoft", "QuantizeLinear", quantize_linear_ms, 1);
  r.add("com.microsoft", "DequantizeLinear", dequantize_linear_ms, 1);
  r.add("com.microsoft", "QLinearConv", qlinear_conv_ms, 1);
  r.add("com.microsoft", "QLinearAdd", qlinear_add, 1);
  r.add("com.microsoft", "QLinearMul", qlinear_mul, 1);
  r.add("com.microsoft", "QLinearConcat", qlinear_concat, 1);
  r.add("com.microsoft", "QLinearGlobalAveragePool", qlinear_global_average_pool, 1);
  r.add("com.microsoft", "QLinearSigmoid", qlinear_sigmoid, 1);
  r.add("com.microsoft", "QLinearLeakyRelu", qlinear_leaky_relu, 1);
  r.add("com.microsoft", "QGemm", qgemm, 1);
  r.add("com.microsoft", "DynamicQuantizeMatMul", dynamic_quantize_matmul, 1);
  r.add("com.microsoft", "MatMulIntegerToFloat", matmul_integer_to_float, 1);
}

}  // namespace edgeq
