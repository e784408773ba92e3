// The shared quantization arithmetic (edgeq/quant.h) and the quantization kernels against
// hand-computed values: half-to-even ties, saturation, NaN/inf, scale / zero-point helpers,
// per-axis and blocked parameter layouts, float8 and 4-bit encodings; QuantizeLinear /
// DequantizeLinear across opsets (int32 input, blocked, int4, int16 via output_dtype, float8);
// every com.microsoft op on a small example; thread-count independence of the integer products.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/quant.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"
#include "runtime/kernel.h"

namespace edgeq {
namespace {

using namespace edgeq::quant;

// ---- shared arithmetic ----

TEST(QuantArithmetic, RoundsHalfToEven) {
  EXPECT_EQ(quantize<uint8_t>(0.5f, 1.0f, 0), 0);
  EXPECT_EQ(quantize<uint8_t>(1.5f, 1.0f, 0), 2);
  EXPECT_EQ(quantize<uint8_t>(2.5f, 1.0f, 0), 2);
  EXPECT_EQ(quantize<uint8_t>(3.5f, 1.0f, 0), 4);
  EXPECT_EQ(quantize<int8_t>(-0.5f, 1.0f, 0), 0);
  EXPECT_EQ(quantize<int8_t>(-2.5f, 1.0f, 0), -2);
  EXPECT_EQ(quantize<int8_t>(-3.5f, 1.0f, 0), -4);
  // The rounding happens before the zero point is added: round(2.5) + 1 = 3, not round(3.5).
  EXPECT_EQ(quantize<uint8_t>(5.0f, 2.0f, 1), 3);
  EXPECT_EQ(round_half_even(-1.5), -2.0);
}

TEST(QuantArithmetic, SaturatesToTheTargetRange) {
  EXPECT_EQ(quantize<uint8_t>(300.0f, 1.0f, 0), 255);
  EXPECT_EQ(quantize<uint8_t>(-5.0f, 1.0f, 0), 0);
  EXPECT_EQ(quantize<int8_t>(200.0f, 1.0f, 0), 127);
  EXPECT_EQ(quantize<int8_t>(-200.0f, 1.0f, 0), -128);
  EXPECT_EQ(quantize<uint8_t>(-1.0f, 1.0f, 128), 127);
  EXPECT_EQ(quantize<int8_t>(100.0f, 1.0f, 50), 127);  // saturates after adding the zero point
  EXPECT_EQ(quantize<int16_t>(1e9f, 1.0f, 0), 32767);
  EXPECT_EQ(quantize<uint16_t>(-1e9f, 1.0f, 0), 0);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(quantize<int8_t>(inf, 1.0f, 0), 127);
  EXPECT_EQ(quantize<int8_t>(-inf, 1.0f, 0), -128);
  EXPECT_EQ(quantize<uint8_t>(std::nanf(""), 1.0f, 7), 7);  // NaN is treated as 0.0
  EXPECT_EQ(quantize_value<float>(20.0f, 1.0f, 0, kInt4Range), 7);
  EXPECT_EQ(quantize_value<float>(-20.0f, 1.0f, 0, kInt4Range), -8);
  EXPECT_EQ(quantize_value<float>(20.0f, 1.0f, 0, kUint4Range), 15);
}

TEST(QuantArithmetic, DequantizeAndRequantize) {
  EXPECT_FLOAT_EQ(dequantize_value(130, 0.5f, 128), 1.0f);
  EXPECT_FLOAT_EQ(dequantize_value(-128, 0.25f, 0), -32.0f);
  // acc * multiplier rounds half to even, then the zero point, then saturation.
  EXPECT_EQ(requantize(5, 0.5f, 0, range_of<uint8_t>()), 2);
  EXPECT_EQ(requantize(7, 0.5f, 10, range_of<uint8_t>()), 14);
  EXPECT_EQ(requantize(100000, 0.5f, 0, range_of<int8_t>()), 127);
}

TEST(QuantArithmetic, AsymmetricParamsIncludeZero) {
  // [-1, 3] -> scale 4/255, zero point round(0 + 1 / (4/255)) = round(63.75) = 64.
  QParams p = asymmetric_params(-1.0f, 3.0f, range_of<uint8_t>());
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 64);
  EXPECT_EQ(quantize<uint8_t>(0.0f, p.scale, p.zero_point), 64);  // 0.0 is exact
  // [1, 2] is widened to [0, 2].
  p = asymmetric_params(1.0f, 2.0f, range_of<uint8_t>());
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  // [-2, -1] is widened to [-2, 0]: zero point at the top.
  p = asymmetric_params(-2.0f, -1.0f, range_of<uint8_t>());
  EXPECT_EQ(p.zero_point, 255);
  // int8 [-127.5, 127.5]: scale 1, zero point -128 + 127.5 = -0.5 -> 0 (half to even).
  p = asymmetric_params(-127.5f, 127.5f, range_of<int8_t>());
  EXPECT_FLOAT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 0);
  // All zero: scale 1, every value maps to the zero point.
  p = asymmetric_params(0.0f, 0.0f, range_of<uint8_t>());
  EXPECT_FLOAT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 0);
}

TEST(QuantArithmetic, SymmetricParams) {
  QParams p = symmetric_params(-2.0f, 1.0f, range_of<int8_t>());
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  p = symmetric_params(-2.0f, 1.0f, QRange{-127, 127});  // restricted range: scale = a / 127
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 127.0f);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(quantize<int8_t>(2.0f, p.scale, p.zero_point), 127);
  EXPECT_EQ(quantize<int8_t>(-2.0f, p.scale, p.zero_point), -127);
  p = symmetric_params(-1.0f, 0.5f, range_of<uint8_t>());
  EXPECT_EQ(p.zero_point, 128);
  p = symmetric_params(0.0f, 0.0f, range_of<int8_t>());
  EXPECT_FLOAT_EQ(p.scale, 1.0f);
}

TEST(QuantArithmetic, PerAxisLayout) {
  // dims {2, 3, 2}, axis 1: element i uses parameter (i / 2) % 3.
  const std::vector<int64_t> dims{2, 3, 2};
  ParamLayout l = ParamLayout::per_axis(dims, 1);
  EXPECT_EQ(l.param_count(), 3);
  std::vector<float> x(12, 4.0f);
  std::vector<int32_t> y(12);
  const float scales[] = {1, 2, 4};
  const int32_t zps[] = {0, 10, -1};
  quantize_array<float>(x.data(), y.data(), l, scales, zps, range_of<int8_t>(), 0, 12);
  EXPECT_EQ(y, (std::vector<int32_t>{4, 4, 12, 12, 0, 0, 4, 4, 12, 12, 0, 0}));
  // Partial ranges starting mid-row give the same parameters.
  std::vector<int32_t> z(12, -99);
  quantize_array<float>(x.data(), z.data(), l, scales, zps, range_of<int8_t>(), 3, 9);
  for (int i = 3; i < 9; ++i) EXPECT_EQ(z[i], y[i]) << i;
  std::vector<float> back(12);
  const std::vector<int8_t> q{4, 4, 12, 12, 0, 0, 4, 4, 12, 12, 0, 0};
  dequantize_array(q.data(), back.data(), l, scales, zps, 0, 12);
  for (float v : back) EXPECT_FLOAT_EQ(v, 4.0f);
}

TEST(QuantArithmetic, BlockedLayout) {
  // dims {2, 5}, axis 1, block 2: 3 blocks per row; element (r, c) uses parameter r * 3 + c / 2.
  const std::vector<int64_t> dims{2, 5};
  ParamLayout l = ParamLayout::blocked(dims, 1, 2);
  EXPECT_EQ(l.param_count(), 6);
  std::vector<int64_t> got;
  for_each_param(l, 0, 10, [&](int64_t, int64_t p) { got.push_back(p); });
  EXPECT_EQ(got, (std::vector<int64_t>{0, 0, 1, 1, 2, 3, 3, 4, 4, 5}));
  // Blocked along axis 0 of {4, 2} with block 3: parameters (r / 3) * 2 + c.
  const std::vector<int64_t> d2{4, 2};
  ParamLayout l2 = ParamLayout::blocked(d2, 0, 3);
  got.clear();
  for_each_param(l2, 0, 8, [&](int64_t, int64_t p) { got.push_back(p); });
  EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 0, 1, 0, 1, 2, 3}));
}

TEST(QuantArithmetic, Int4Packing) {
  uint8_t bytes[2] = {0, 0};
  pack_int4(bytes, 0, 1);
  pack_int4(bytes, 1, -3);
  pack_int4(bytes, 2, 7);
  EXPECT_EQ(bytes[0], 0xD1);
  EXPECT_EQ(bytes[1], 0x07);
  EXPECT_EQ(unpack_int4(bytes, 0, true), 1);
  EXPECT_EQ(unpack_int4(bytes, 1, true), -3);
  EXPECT_EQ(unpack_int4(bytes, 1, false), 13);
  EXPECT_EQ(unpack_int4(bytes, 2, true), 7);
}

TEST(QuantArithmetic, Float8Encodings) {
  EXPECT_EQ(float_to_float8(1.0f, Float8::kE4M3FN, true), 0x38);
  EXPECT_EQ(float_to_float8(-1.0f, Float8::kE4M3FN, true), 0xB8);
  EXPECT_EQ(float_to_float8(448.0f, Float8::kE4M3FN, true), 0x7E);
  EXPECT_EQ(float_to_float8(500.0f, Float8::kE4M3FN, true), 0x7E);
  EXPECT_EQ(float_to_float8(500.0f, Float8::kE4M3FN, false), 0x7F);  // NaN
  EXPECT_EQ(float_to_float8(450.0f, Float8::kE4M3FN, false), 0x7E);  // rounds down to 448
  EXPECT_EQ(float_to_float8(std::ldexp(1.0f, -9), Float8::kE4M3FN, true), 0x01);  // min subnormal
  EXPECT_EQ(float_to_float8(std::ldexp(1.0f, -10), Float8::kE4M3FN, true), 0x00);  // tie -> even (0)
  EXPECT_EQ(float_to_float8(std::ldexp(3.0f, -10), Float8::kE4M3FN, true), 0x02);  // tie -> even (2)
  EXPECT_EQ(float_to_float8(1.0f + 1.0f / 16, Float8::kE4M3FN, true), 0x38);      // tie -> even
  EXPECT_EQ(float_to_float8(1.0f + 3.0f / 16, Float8::kE4M3FN, true), 0x3A);      // tie -> even
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(float_to_float8(inf, Float8::kE5M2, false), 0x7C);
  EXPECT_EQ(float_to_float8(-inf, Float8::kE5M2, true), 0xFB);
  EXPECT_EQ(float_to_float8(1e6f, Float8::kE5M2, false), 0x7C);
  EXPECT_EQ(float_to_float8(inf, Float8::kE4M3FNUZ, true), 0x80);  // FNUZ: inf -> NaN
  EXPECT_EQ(float_to_float8(-0.0f, Float8::kE4M3FNUZ, true), 0x00);  // no negative zero
  EXPECT_EQ(float_to_float8(-0.0f, Float8::kE4M3FN, true), 0x80);
  EXPECT_FLOAT_EQ(float8_to_float(0x7E, Float8::kE4M3FN), 448.0f);
  EXPECT_FLOAT_EQ(float8_to_float(0x7F, Float8::kE4M3FNUZ), 240.0f);
  EXPECT_FLOAT_EQ(float8_to_float(0x7B, Float8::kE5M2), 57344.0f);
  EXPECT_FLOAT_EQ(float8_to_float(0x7F, Float8::kE5M2FNUZ), 57344.0f);
  EXPECT_TRUE(std::isnan(float8_to_float(0x7F, Float8::kE4M3FN)));
  EXPECT_TRUE(std::isnan(float8_to_float(0x80, Float8::kE5M2FNUZ)));
  EXPECT_TRUE(std::isinf(float8_to_float(0xFC, Float8::kE5M2)));
  // Every finite code round-trips.
  for (Float8 f : {Float8::kE4M3FN, Float8::kE4M3FNUZ, Float8::kE5M2, Float8::kE5M2FNUZ})
    for (int c = 0; c < 256; ++c) {
      const float v = float8_to_float(static_cast<uint8_t>(c), f);
      if (std::isnan(v) || std::isinf(v)) continue;
      EXPECT_EQ(float_to_float8(v, f, false), c) << "format " << static_cast<int>(f) << " code " << c;
    }
}

// ---- kernels ----

using namespace test;
using Attr = AttrSpec;

Tensor f32s(float v) { return make<float>(DType::kFloat, {}, {v}); }
Tensor u8s(uint8_t v) { return make<uint8_t>(DType::kUint8, {}, {v}); }
Tensor i8s(int8_t v) { return make<int8_t>(DType::kInt8, {}, {v}); }

// Runs one node; a default-constructed Tensor input is passed as an omitted input.
Tensor run(const std::string& op, std::vector<Tensor> inputs, std::vector<Attr> attrs = {},
           const std::string& domain = "", int64_t opset = 13, int threads = 2) {
  return test::run_node(op, inputs, attrs, opset, domain, threads).at(0);
}

Tensor ms(const std::string& op, std::vector<Tensor> inputs, std::vector<Attr> attrs = {}, int threads = 2) {
  return run(op, std::move(inputs), std::move(attrs), "com.microsoft", 1, threads);
}

std::vector<uint8_t> raw(const Tensor& t) {
  auto b = t.bytes();
  std::vector<uint8_t> out(b.size());
  std::memcpy(out.data(), b.data(), b.size());
  return out;
}

TEST(QuantizeKernels, QuantizeLinearInt32InputDividesInDouble) {
  // 5 / 2 = 2.5 -> 2, -7 / 2 = -3.5 -> -4, then + 10.
  Tensor y = run("QuantizeLinear", {i32({2}, {5, -7}), f32s(2.0f), u8s(10)}, {}, "", 10);
  EXPECT_EQ(y.dtype(), DType::kUint8);
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{12, 6}));
}

TEST(QuantizeKernels, QuantizeLinearDefaultsToUint8) {
  Tensor y = run("QuantizeLinear", {f32({3}, {-1.0f, 0.5f, 1000.0f}), f32s(1.0f)}, {}, "", 10);
  EXPECT_EQ(y.dtype(), DType::kUint8);
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{0, 0, 255}));
}

TEST(QuantizeKernels, QuantizeLinearPerAxisNeedsOpset13) {
  Tensor x = f32({1, 2}, {1.0f, 1.0f});
  Tensor s = f32({2}, {1.0f, 0.5f});
  Tensor y = run("QuantizeLinear", {x, s, i8({2}, {0, 1})}, {}, "", 13);
  EXPECT_EQ(vals<int8_t>(y), (std::vector<int8_t>{1, 3}));
  EXPECT_THROW(run("QuantizeLinear", {x, s, i8({2}, {0, 1})}, {}, "", 10), Error);
  // Scale length must match the axis.
  EXPECT_THROW(run("QuantizeLinear", {x, s, i8({2}, {0, 1})}, {attr_int("axis", 0)}, "", 13), Error);
}

TEST(QuantizeKernels, QuantizeLinearBlocked) {
  Tensor x = f32({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor s = f32({2, 2}, {1, 2, 4, 8});
  Tensor y = run("QuantizeLinear", {x, s}, {attr_int("axis", 1), attr_int("block_size", 2)}, "", 21);
  // row 0: 0/1, 1/1, 2/2, 3/2 = 1.5 -> 2; row 1: 4/4, 5/4 -> 1, 6/8 -> 1, 7/8 -> 1.
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{0, 1, 1, 2, 1, 1, 1, 1}));
  Tensor back = run("DequantizeLinear", {y, s}, {attr_int("axis", 1), attr_int("block_size", 2)}, "", 21);
  EXPECT_EQ(vals<float>(back), (std::vector<float>{0, 1, 2, 4, 4, 4, 8, 8}));
  // block_size 3 also gives ceil(4 / 3) = 2 blocks; block_size 1 would need 4.
  Tensor y3 = run("QuantizeLinear", {x, s}, {attr_int("axis", 1), attr_int("block_size", 3)}, "", 21);
  EXPECT_EQ(vals<uint8_t>(y3), (std::vector<uint8_t>{0, 1, 2, 2, 1, 1, 2, 1}));
  EXPECT_THROW(run("QuantizeLinear", {x, s}, {attr_int("axis", 1), attr_int("block_size", 1)}, "", 21), Error);
}

TEST(QuantizeKernels, QuantizeLinearInt4AndOutputDtype) {
  Tensor zp4 = make<uint8_t>(DType::kInt4, {}, {0});
  Tensor y = run("QuantizeLinear", {f32({3}, {1, -3, 20}), f32s(1.0f), zp4}, {}, "", 21);
  EXPECT_EQ(y.dtype(), DType::kInt4);
  EXPECT_EQ(raw(y), (std::vector<uint8_t>{0xD1, 0x07}));
  Tensor back = run("DequantizeLinear", {y, f32s(0.5f), zp4}, {}, "", 21);
  EXPECT_EQ(vals<float>(back), (std::vector<float>{0.5f, -1.5f, 3.5f}));
  // output_dtype = int16 (5) without a zero point.
  Tensor y16 = run("QuantizeLinear", {f32({2}, {40000.4f, -3.5f}), f32s(1.0f)}, {attr_int("output_dtype", 5)}, "", 21);
  EXPECT_EQ(y16.dtype(), DType::kInt16);
  EXPECT_EQ(vals<int16_t>(y16), (std::vector<int16_t>{32767, -4}));
}

TEST(QuantizeKernels, QuantizeLinearFloat8) {
  Tensor zp = make<uint8_t>(DType::kFloat8E4M3FN, {}, {0});
  Tensor x = f32({2}, {2.0f, 1000.0f});
  Tensor y = run("QuantizeLinear", {x, f32s(2.0f), zp}, {}, "", 19);
  EXPECT_EQ(y.dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(raw(y), (std::vector<uint8_t>{0x38, 0x7E}));
  Tensor ns = run("QuantizeLinear", {x, f32s(2.0f), zp}, {attr_int("saturate", 0)}, "", 19);
  EXPECT_EQ(raw(ns), (std::vector<uint8_t>{0x38, 0x7F}));
  Tensor back = run("DequantizeLinear", {y, f32s(2.0f), zp}, {}, "", 19);
  EXPECT_EQ(vals<float>(back), (std::vector<float>{2.0f, 896.0f}));
}

TEST(QuantizeKernels, DequantizeLinearFloat16ScaleAndInt32) {
  Tensor s16 = make<Eigen::half>(DType::kFloat16, {}, {Eigen::half(0.5f)});
  Tensor y = run("DequantizeLinear", {u8({2}, {130, 126}), s16, u8s(128)}, {}, "", 19);
  EXPECT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>(y.values<Eigen::half>()[0]), 1.0f);
  EXPECT_EQ(static_cast<float>(y.values<Eigen::half>()[1]), -1.0f);
  Tensor yi = run("DequantizeLinear", {i32({2}, {-4, 1000}), f32s(0.25f)}, {}, "", 10);
  EXPECT_EQ(vals<float>(yi), (std::vector<float>{-1.0f, 250.0f}));
  EXPECT_THROW(run("DequantizeLinear", {i32({1}, {1}), f32s(1.0f), i32({}, {3})}, {}, "", 10), Error);
}

TEST(QuantizeKernels, DynamicQuantizeLinearAllZero) {
  // Through the shared helper: an all-zero input gets scale 1 and zero point 0.
  const QParams p = asymmetric_params(0.0f, 0.0f, range_of<uint8_t>());
  EXPECT_EQ(quantize<uint8_t>(0.0f, p.scale, p.zero_point), 0);
  Tensor y = run("DynamicQuantizeLinear", {f32({3}, {0, 0, 0})}, {}, "", 11);
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{0, 0, 0}));
}

// ---- com.microsoft ----

TEST(QuantizeContribKernels, QLinearAdd) {
  // A real = 0.5 * (A - 10) = [0, 5], B real = 5 (broadcast); C = sum / 0.25 + 3.
  Tensor c = ms("QLinearAdd", {u8({2}, {10, 20}), f32s(0.5f), u8s(10), u8({1}, {5}), f32s(1.0f), u8s(0), f32s(0.25f), u8s(3)});
  EXPECT_EQ(c.dims(), (std::vector<int64_t>{2}));
  EXPECT_EQ(vals<uint8_t>(c), (std::vector<uint8_t>{23, 43}));
  // Ties round to even: 0.5 -> 0, 1.5 -> 2; zero points omitted.
  Tensor t = ms("QLinearAdd", {u8({2, 1}, {1, 3}), f32s(0.5f), Tensor(), u8({1, 2}, {0, 1}), f32s(1.0f), Tensor(), f32s(1.0f)});
  EXPECT_EQ(t.dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(vals<uint8_t>(t), (std::vector<uint8_t>{0, 2, 2, 2}));
}

TEST(QuantizeContribKernels, QLinearMul) {
  // (A - 1) * B = [2, -5] * 2 = [4, -10]; * (0.5 * 2 / 0.5) = [8, -20].
  Tensor c = ms("QLinearMul", {i8({2}, {3, -4}), f32s(0.5f), i8s(1), i8({}, {2}), f32s(2.0f), i8s(0), f32s(0.5f), i8s(0)});
  EXPECT_EQ(vals<int8_t>(c), (std::vector<int8_t>{8, -20}));
}

TEST(QuantizeContribKernels, QLinearSigmoid) {
  // X real = 0.1 * (X - 128) = [0, -12.8, 12.7]; sigmoid * 256 = [128, ~0, ~256 -> 255].
  Tensor y = ms("QLinearSigmoid", {u8({3}, {128, 0, 255}), f32s(0.1f), u8s(128), f32s(1.0f / 256), u8s(0)});
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{128, 0, 255}));
}

TEST(QuantizeContribKernels, QLinearLeakyRelu) {
  // alpha 0.1: [-15, -25, 10] -> [-1.5, -2.5, 10] -> half to even [-2, -2, 10].
  Tensor y = ms("QLinearLeakyRelu", {i8({3}, {-15, -25, 10}), f32s(1.0f), i8s(0), f32s(1.0f), i8s(0)}, {attr_float("alpha", 0.1f)});
  EXPECT_EQ(vals<int8_t>(y), (std::vector<int8_t>{-2, -2, 10}));
  // Default alpha 0.01; zero points omitted.
  Tensor d = ms("QLinearLeakyRelu", {i8({2}, {-100, 100}), f32s(1.0f), Tensor(), f32s(0.01f)});
  EXPECT_EQ(vals<int8_t>(d), (std::vector<int8_t>{-100, 127}));
}

TEST(QuantizeContribKernels, QLinearGlobalAveragePool) {
  // Channel means 2.5 -> 2 and 10.25 -> 10.
  Tensor y = ms("QLinearGlobalAveragePool", {u8({1, 2, 2, 2}, {1, 2, 3, 4, 10, 10, 10, 11}), f32s(1.0f), u8s(0), f32s(1.0f), u8s(0)});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{2, 10}));
  Tensor cl = ms("QLinearGlobalAveragePool", {u8({1, 2, 2, 2}, {1, 10, 2, 10, 3, 10, 4, 11}), f32s(1.0f), u8s(0), f32s(1.0f), u8s(0)},
                 {attr_int("channels_last", 1)});
  EXPECT_EQ(cl.dims(), (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(vals<uint8_t>(cl), (std::vector<uint8_t>{2, 10}));
  // Zero points and scales: x real = 0.5 * (x - 4) = [1, 2] -> mean 1.5; / 0.5 + 1 = 4.
  Tensor z = ms("QLinearGlobalAveragePool", {u8({1, 1, 1, 2}, {6, 8}), f32s(0.5f), u8s(4), f32s(0.5f), u8s(1)});
  EXPECT_EQ(vals<uint8_t>(z), (std::vector<uint8_t>{4}));
}

TEST(QuantizeContribKernels, QLinearConcat) {
  // A (same parameters as Y) is copied; B real = 0.5 * (B - 4) = [3, 4] is requantized.
  Tensor y = ms("QLinearConcat", {f32s(1.0f), u8s(0), u8({2, 1}, {1, 2}), f32s(1.0f), u8s(0), u8({2, 1}, {10, 12}), f32s(0.5f), u8s(4)},
                {attr_int("axis", 1)});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{1, 3, 2, 4}));
  EXPECT_THROW(ms("QLinearConcat", {f32s(1.0f), u8s(0), u8({2, 1}, {1, 2}), f32s(1.0f), u8s(0), u8({3, 1}, {1, 2, 3}), f32s(1.0f), u8s(0)},
                  {attr_int("axis", 1)}),
               Error);
}

TEST(QuantizeContribKernels, QGemm) {
  // (A - 1) = [[0, 1], [2, 3]], B = [[1, 0], [0, 2]] -> [[0, 2], [2, 6]]; + C [1, 1] -> [[1, 3], [3, 7]].
  Tensor a = u8({2, 2}, {1, 2, 3, 4});
  Tensor b = i8({2, 2}, {1, 0, 0, 2});
  Tensor c = i32({2}, {1, 1});
  Tensor yf = ms("QGemm", {a, f32s(1.0f), u8s(1), b, f32s(0.5f), i8s(0), c});
  EXPECT_EQ(yf.dtype(), DType::kFloat);
  EXPECT_EQ(vals<float>(yf), (std::vector<float>{0.5f, 1.5f, 1.5f, 3.5f}));
  // Quantized output: acc * (1 * 0.5 / 0.5) + 10.
  Tensor yq = ms("QGemm", {a, f32s(1.0f), u8s(1), b, f32s(0.5f), i8s(0), c, f32s(0.5f), u8s(10)});
  EXPECT_EQ(vals<uint8_t>(yq), (std::vector<uint8_t>{11, 13, 13, 17}));
  // transA with the transposed A, alpha 2, per-column b_scale.
  Tensor at = u8({2, 2}, {1, 3, 2, 4});
  Tensor yt = ms("QGemm", {at, f32s(1.0f), u8s(1), b, f32({2}, {0.5f, 1.0f}), i8s(0), c}, {attr_int("transA", 1), attr_float("alpha", 2.0f)});
  EXPECT_EQ(vals<float>(yt), (std::vector<float>{1.0f, 6.0f, 3.0f, 14.0f}));
}

TEST(QuantizeContribKernels, MatMulIntegerToFloat) {
  // (A - 1) = [2, 4]; B = [[1, -1], [2, 0]] -> acc [10, -2]; * 0.5 * [1, 2] = [5, -2]; + bias 1.
  Tensor y = ms("MatMulIntegerToFloat", {u8({1, 2}, {3, 5}), i8({2, 2}, {1, -1, 2, 0}), f32s(0.5f), f32({2}, {1.0f, 2.0f}), u8s(1),
                                         Tensor(), f32({2}, {1.0f, 1.0f})});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(vals<float>(y), (std::vector<float>{6.0f, -1.0f}));
}

TEST(QuantizeContribKernels, DynamicQuantizeMatMul) {
  // A = [-1, 3] quantizes with scale 4/255, zero point 64 to [0, 255]; B = [2, 1] (uint8, scale 1):
  // acc = (0 - 64) * 2 + (255 - 64) * 1 = 63; Y = 63 * 4/255.
  Tensor y = ms("DynamicQuantizeMatMul", {f32({1, 2}, {-1.0f, 3.0f}), u8({2, 1}, {2, 1}), f32s(1.0f)});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{1, 1}));
  EXPECT_FLOAT_EQ(vals<float>(y)[0], 63.0f * (4.0f / 255.0f));
}

TEST(QuantizeContribKernels, QLinearConvChannelsLast) {
  // 1x1 conv: acc = 2x + 1 = [3, 5, 7, 9]; * 0.5 -> [1.5, 2.5, 3.5, 4.5] -> [2, 2, 4, 4].
  Tensor y = ms("QLinearConv", {u8({1, 1, 2, 2}, {1, 2, 3, 4}), f32s(1.0f), u8s(0), i8({1, 1, 1, 1}, {2}), f32s(0.5f), i8s(0), f32s(1.0f),
                                u8s(0), i32({1}, {1})});
  EXPECT_EQ(vals<uint8_t>(y), (std::vector<uint8_t>{2, 2, 4, 4}));
  // NHWC input (H=1, W=2, C=2); w sums both channels.
  Tensor cl = ms("QLinearConv", {u8({1, 1, 2, 2}, {1, 10, 2, 20}), f32s(1.0f), u8s(0), i8({1, 2, 1, 1}, {1, 1}), f32s(1.0f), i8s(0),
                                 f32s(1.0f), u8s(0)},
                 {attr_int("channels_last", 1)});
  EXPECT_EQ(cl.dims(), (std::vector<int64_t>{1, 1, 2, 1}));
  EXPECT_EQ(vals<uint8_t>(cl), (std::vector<uint8_t>{11, 22}));
}

// ---- thread-count independence ----

TEST(QuantizeKernels, IntegerProductsIgnoreThreadCount) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> d(0, 255);
  auto rand_u8 = [&](size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& x : v) x = static_cast<uint8_t>(d(gen));
    return v;
  };
  auto rand_i8 = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(d(gen) - 128);
    return v;
  };
  Tensor a = u8({3, 37, 65}, rand_u8(3 * 37 * 65));
  Tensor b = i8({65, 29}, rand_i8(65 * 29));
  std::vector<Tensor> in{a, f32s(0.02f), u8s(120), b, f32({29}, std::vector<float>(29, 0.01f)), i8s(3), f32s(0.05f), u8s(128)};
  Tensor y1 = run("QLinearMatMul", in, {}, "", 13, 1);
  Tensor y4 = run("QLinearMatMul", in, {}, "", 13, 4);
  EXPECT_EQ(raw(y1), raw(y4));

  Tensor x = u8({2, 4, 13, 11}, rand_u8(2 * 4 * 13 * 11));
  Tensor w = i8({6, 2, 3, 3}, rand_i8(6 * 2 * 3 * 3));
  std::vector<Tensor> cin{x, f32s(0.02f), u8s(100), w, f32({6}, {0.01f, 0.02f, 0.03f, 0.01f, 0.02f, 0.03f}), i8s(0), f32s(0.1f), u8s(128)};
  Tensor c1 = run("QLinearConv", cin, {attr_int("group", 2)}, "", 13, 1);
  Tensor c4 = run("QLinearConv", cin, {attr_int("group", 2)}, "", 13, 4);
  EXPECT_EQ(c1.dims(), (std::vector<int64_t>{2, 6, 11, 9}));
  EXPECT_EQ(raw(c1), raw(c4));
}

}  // namespace
}  // namespace edgeq
