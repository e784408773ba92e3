// The quantize / dequantize arithmetic, in one place. The runtime kernels (QuantizeLinear,
// DequantizeLinear, the QLinear* ops, ...) and the quantizer passes both use these functions, so
// a model edgeq quantizes and the model edgeq then runs agree bit for bit.
//
// Conventions (ONNX QuantizeLinear / DequantizeLinear):
//   quantize:   q = saturate(round(x / scale) + zero_point), round = half to even
//   dequantize: x = (q - zero_point) * scale
// saturate clamps into the target type's range ([-128, 127] for int8, [0, 15] for uint4, ...).
// Rounding uses std::nearbyint, i.e. the current FP rounding mode, which is round-half-to-even
// in the default environment; edgeq never changes it.
//
// Parameter layouts: a tensor is viewed as [outer, axis_dim, inner] around the quantization
// axis. Per-tensor is the degenerate case (axis_dim == 1), per-axis uses one parameter per index
// along the axis, blocked (opset 21) one parameter per `block` consecutive indices along the axis
// for every (outer, inner) position, with the scale tensor shaped like x except
// dims[axis] = ceil(axis_dim / block).
//
// Float8 (opset 19): the four ONNX float8 formats with round-to-nearest-even and the ONNX
// saturate rules (see float_to_float8).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>

namespace edgeq::quant {

// ---- integer ranges ----

struct QRange {
  int32_t min;
  int32_t max;
};

template <class Q>
constexpr QRange range_of() {
  static_assert(std::is_integral_v<Q> && sizeof(Q) <= 4);
  return {static_cast<int32_t>(std::numeric_limits<Q>::min()),
          static_cast<int32_t>(std::numeric_limits<Q>::max())};
}
inline constexpr QRange kInt4Range{-8, 7};
inline constexpr QRange kUint4Range{0, 15};

// ---- scalar arithmetic ----

// Round half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2).
inline float round_half_even(float v) { return std::nearbyint(v); }
inline double round_half_even(double v) { return std::nearbyint(v); }

// Clamps an already-rounded value into `r`. NaN has no integer image; it maps to 0, the value
// a NaN input would have as "nothing" (callers that add a zero point do so before this step,
// see quantize_value).
template <class F>
int32_t saturate(F v, QRange r) {
  if (std::isnan(v)) return std::clamp<int32_t>(0, r.min, r.max);
  if (v <= static_cast<F>(r.min)) return r.min;
  if (v >= static_cast<F>(r.max)) return r.max;
  return static_cast<int32_t>(v);
}

// saturate(round(x / scale) + zero_point). F is the precision of the division: float for
// float inputs (as ONNX computes x / y_scale in the input type), double for int32 inputs.
// A NaN x (or 0 / 0) quantizes to the zero point, i.e. it is treated as 0.0.
template <class F>
int32_t quantize_value(F x, F scale, int32_t zero_point, QRange r) {
  F q = round_half_even(x / scale);
  if (std::isnan(q)) q = 0;
  return saturate(q + static_cast<F>(zero_point), r);
}

template <class Q>
Q quantize(float x, float scale, int32_t zero_point) {
  return static_cast<Q>(quantize_value<float>(x, scale, zero_point, range_of<Q>()));
}

// (q - zero_point) * scale, in float.
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(static_cast<int64_t>(q) - zero_point) * scale;
}

// Requantizes an int32 accumulator (the integer result of a quantized conv/matmul/...) with a
// real multiplier: saturate(round(acc * multiplier) + zero_point). Computed in float, the
// precision of the scales, as ONNX Runtime's requantization does.
inline int32_t requantize(int32_t acc, float multiplier, int32_t zero_point, QRange r) {
  float v = round_half_even(static_cast<float>(acc) * multiplier);
  if (std::isnan(v)) v = 0;
  return saturate(v + static_cast<float>(zero_point), r);
}

// ---- scale / zero-point from a real range ----

struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// Asymmetric (affine) parameters: the real range is first widened to include 0, so that 0.0 is
// exactly representable (needed for zero padding), then mapped onto [r.min, r.max]:
//   scale = (max(rmax, 0) - min(rmin, 0)) / (r.max - r.min)
//   zero_point = saturate(round(r.min - min(rmin, 0) / scale))
// This is DynamicQuantizeLinear's formula. An all-zero range (where the formula divides 0 by 0)
// gets scale 1 and zero point r.min, so every value quantizes to the zero point.
inline QParams asymmetric_params(float rmin, float rmax, QRange r) {
  rmin = std::min(rmin, 0.0f);
  rmax = std::max(rmax, 0.0f);
  QParams p;
  const float span = rmax - rmin;
  p.scale = span > 0 ? span / static_cast<float>(r.max - r.min) : 1.0f;
  const float zp = static_cast<float>(r.min) - rmin / p.scale;
  p.zero_point = saturate(round_half_even(zp), r);
  return p;
}

// Symmetric parameters: the range [-a, a] with a = max(|rmin|, |rmax|) is mapped onto
// [r.min, r.max], so scale = 2a / (r.max - r.min) and the zero point is the middle of the range,
// round((r.min + r.max) / 2): 0 for int8 ([-128, 127] -> -0.5 rounds to 0) and for the
// "restricted" int8 range [-127, 127] (which gives scale = a / 127), 128 for uint8.
// a == 0 gets scale 1.
inline QParams symmetric_params(float rmin, float rmax, QRange r) {
  const float a = std::max(std::fabs(rmin), std::fabs(rmax));
  QParams p;
  p.scale = a > 0 ? 2.0f * a / static_cast<float>(r.max - r.min) : 1.0f;
  p.zero_point = static_cast<int32_t>(
      round_half_even((static_cast<double>(r.min) + static_cast<double>(r.max)) / 2.0));
  return p;
}

// ---- parameter layouts ----

struct ParamLayout {
  int64_t outer = 1;     // product of dims before the axis
  int64_t axis_dim = 1;  // dims[axis] (1 for per-tensor)
  int64_t inner = 1;     // product of dims after the axis
  int64_t block = 0;     // > 0: blocked quantization with this block size along the axis

  static ParamLayout per_tensor(int64_t count) { return {1, 1, count, 0}; }
  // dims[axis] parameters; `axis` must already be normalized.
  static ParamLayout per_axis(std::span<const int64_t> dims, int64_t axis) {
    ParamLayout l;
    for (int64_t i = 0; i < axis; ++i) l.outer *= dims[i];
    l.axis_dim = dims[axis];
    for (size_t i = axis + 1; i < dims.size(); ++i) l.inner *= dims[i];
    return l;
  }
  static ParamLayout blocked(std::span<const int64_t> dims, int64_t axis, int64_t block) {
    ParamLayout l = per_axis(dims, axis);
    l.block = block;
    return l;
  }

  int64_t count() const { return outer * axis_dim * inner; }
  int64_t blocks() const { return block > 0 ? (axis_dim + block - 1) / block : axis_dim; }
  // Number of scale / zero-point entries this layout expects.
  int64_t param_count() const { return block > 0 ? outer * blocks() * inner : axis_dim; }
};

// Calls f(i, p) for every element index i in [begin, end) with the index p of its parameters,
// walking row by row so there is no division per element.
template <class F>
void for_each_param(const ParamLayout& l, int64_t begin, int64_t end, F&& f) {
  int64_t i = begin;
  const int64_t nblocks = l.blocks();
  while (i < end) {
    const int64_t row = i / l.inner;
    const int64_t j = i - row * l.inner;
    const int64_t stop = std::min(end, (row + 1) * l.inner);
    const int64_t a = row % l.axis_dim;
    if (l.block > 0) {
      const int64_t o = row / l.axis_dim;
      int64_t p = (o * nblocks + a / l.block) * l.inner + j;
      for (; i < stop; ++i, ++p) f(i, p);
    } else {
      for (; i < stop; ++i) f(i, a);
    }
  }
}

// y[i] = saturate(round(x[i] / scale[p]) + zp[p]) for i in [begin, end), as int32 values in
// range `r` (the caller stores them in the target type, packing 4-bit types). `zero_points` may
// be null (all zero). X is float, double, int32 or anything convertible to float; F is the
// precision of the division.
template <class F, class X>
void quantize_array(const X* x, int32_t* y, const ParamLayout& l, const float* scales,
                    const int32_t* zero_points, QRange r, int64_t begin, int64_t end) {
  for_each_param(l, begin, end, [&](int64_t i, int64_t p) {
    y[i] = quantize_value<F>(static_cast<F>(x[i]), static_cast<F>(scales[p]),
                             zero_points ? zero_points[p] : 0, r);
  });
}

// y[i] = (q[i] - zp[p]) * scale[p] for i in [begin, end).
template <class Q>
void dequantize_array(const Q* q, float* y, const ParamLayout& l, const float* scales,
                      const int32_t* zero_points, int64_t begin, int64_t end) {
  for_each_param(l, begin, end, [&](int64_t i, int64_t p) {
    y[i] = dequantize_value(static_cast<int32_t>(q[i]), scales[p], zero_points ? zero_points[p] : 0);
  });
}

// ---- 4-bit packing (ONNX raw layout: two per byte, first element in the low nibble) ----

inline int32_t unpack_int4(const uint8_t* bytes, int64_t i, bool is_signed) {
  const uint8_t b = bytes[i >> 1];
  const int32_t nib = (i & 1) ? (b >> 4) : (b & 0x0F);
  return is_signed && nib >= 8 ? nib - 16 : nib;
}
// `bytes` must be zero-initialized where not yet written (Tensor::allocate zero-fills).
inline void pack_int4(uint8_t* bytes, int64_t i, int32_t v) {
  const uint8_t nib = static_cast<uint8_t>(v) & 0x0F;
  uint8_t& b = bytes[i >> 1];
  b = (i & 1) ? static_cast<uint8_t>((b & 0x0F) | (nib << 4)) : static_cast<uint8_t>((b & 0xF0) | nib);
}

// ---- float8 ----

enum class Float8 { kE4M3FN, kE4M3FNUZ, kE5M2, kE5M2FNUZ };

struct Float8Format {
  int exp_bits;
  int mant_bits;
  int bias;
  bool uz;           // "FNUZ": no negative zero, the only NaN is 0x80, no infinities
  bool has_inf;      // E5M2: IEEE-like infinities (0x7C / 0xFC)
  uint8_t max_code;  // largest finite magnitude, as a code without sign
};

constexpr Float8Format float8_format(Float8 f) {
  switch (f) {
    case Float8::kE4M3FN: return {4, 3, 7, false, false, 0x7E};    // max 448
    case Float8::kE4M3FNUZ: return {4, 3, 8, true, false, 0x7F};   // max 240
    case Float8::kE5M2: return {5, 2, 15, false, true, 0x7B};      // max 57344
    case Float8::kE5M2FNUZ: return {5, 2, 16, true, false, 0x7F};  // max 57344
  }
  return {4, 3, 7, false, false, 0x7E};
}

inline float float8_to_float(uint8_t v, Float8 f) {
  const Float8Format fmt = float8_format(f);
  const bool neg = v & 0x80;
  const uint8_t mag = v & 0x7F;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (fmt.uz) {
    if (v == 0x80) return nan;
  } else if (fmt.has_inf) {
    if ((mag >> fmt.mant_bits) == (1 << fmt.exp_bits) - 1)
      return (mag & ((1 << fmt.mant_bits) - 1)) ? nan
                                                : (neg ? -std::numeric_limits<float>::infinity()
                                                       : std::numeric_limits<float>::infinity());
  } else if (mag == 0x7F) {
    return nan;  // E4M3FN: S.1111.111
  }
  const int e = mag >> fmt.mant_bits;
  const int m = mag & ((1 << fmt.mant_bits) - 1);
  float val = e == 0 ? std::ldexp(static_cast<float>(m), 1 - fmt.bias - fmt.mant_bits)
                     : std::ldexp(static_cast<float>(m + (1 << fmt.mant_bits)), e - fmt.bias - fmt.mant_bits);
  return neg ? -val : val;
}

// Round to nearest even. Values whose rounded magnitude exceeds the format's largest finite
// value, and infinities, follow the ONNX Cast table: with saturate they become +-max (except
// that the FNUZ formats turn infinities into NaN); without saturate they become +-inf for E5M2
// and NaN for the others. NaN stays NaN.
inline uint8_t float_to_float8(float x, Float8 f, bool saturate_out) {
  const Float8Format fmt = float8_format(f);
  const uint8_t nan_code = fmt.uz ? 0x80 : 0x7F;
  const bool neg = std::signbit(x);
  const uint8_t sign = neg ? 0x80 : 0x00;  // FNUZ keeps the sign of non-zero values too
  if (std::isnan(x)) return fmt.uz ? nan_code : static_cast<uint8_t>(nan_code | (neg ? 0x80 : 0));
  if (std::isinf(x)) {
    if (fmt.uz) return nan_code;
    if (saturate_out) return static_cast<uint8_t>(sign | fmt.max_code);
    return fmt.has_inf ? static_cast<uint8_t>(sign | 0x7C) : static_cast<uint8_t>(sign | nan_code);
  }
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return fmt.uz ? 0 : sign;
  int e2;
  std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1)
  const int e = e2 - 1;  // floor(log2(a))
  const int min_normal_exp = 1 - fmt.bias;
  int64_t code;
  if (e < min_normal_exp) {
    // Subnormal: multiples of 2^(min_normal_exp - mant_bits); a carry into the smallest normal
    // lands on the right code because code == q.
    const double q = std::nearbyint(std::ldexp(a, fmt.mant_bits - min_normal_exp));
    code = static_cast<int64_t>(q);
  } else {
    const double q = std::nearbyint(std::ldexp(a, fmt.mant_bits - e));  // in [2^m, 2^(m+1)]
    code = (static_cast<int64_t>(e + fmt.bias) << fmt.mant_bits) + static_cast<int64_t>(q) -
           (int64_t{1} << fmt.mant_bits);
  }
  if (code > fmt.max_code) {
    if (saturate_out) return static_cast<uint8_t>(sign | fmt.max_code);
    return fmt.has_inf ? static_cast<uint8_t>(sign | 0x7C) : (fmt.uz ? nan_code : static_cast<uint8_t>(sign | nan_code));
  }
  if (code == 0) return fmt.uz ? 0 : sign;  // FNUZ has no -0
  return static_cast<uint8_t>(sign | code);
}

}  // namespace edgeq::quant
