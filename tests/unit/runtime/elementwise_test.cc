// Elementwise kernels against hand-computed values: broadcasting (including the chunked,
// multi-threaded path), integer semantics (Div truncation, Mod sign rules, wrap-around), rounding,
// Cast corner cases and the legacy opset < 7 broadcast attribute.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"
#include "runtime/kernel.h"

namespace edgeq {
namespace {

using namespace test;

TEST(Elementwise, AddBroadcastsRowAgainstColumn) {
  Tensor y = run_op("Add", {f32({2, 1}, {10, 20}), f32({3}, {1, 2, 3})});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(vals<float>(y), (std::vector<float>{11, 12, 13, 21, 22, 23}));
}

TEST(Elementwise, MulScalarAndMiddleAxisBroadcast) {
  Tensor y = run_op("Mul", {f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), f32({}, {2})});
  EXPECT_EQ(vals<float>(y), (std::vector<float>{2, 4, 6, 8, 10, 12, 14, 16}));
  // [2,1,2] * [1,3,1]: neither input is contiguous across the output's axes.
  Tensor z = run_op("Mul", {f32({2, 1, 2}, {1, 2, 3, 4}), f32({1, 3, 1}, {1, 10, 100})});
  EXPECT_EQ(vals<float>(z), (std::vector<float>{1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400}));
}

TEST(Elementwise, LargeBroadcastIsChunkedAndThreadIndependent) {
  // 300 x 700 = 210000 elements: four 64K chunks, with chunk boundaries inside rows.
  const int64_t R = 300, C = 700;
  std::vector<float> a(R * C), b(C);
  for (int64_t i = 0; i < R * C; ++i) a[i] = static_cast<float>(i % 977) * 0.5f;
  for (int64_t j = 0; j < C; ++j) b[j] = static_cast<float>(j) * 0.25f;
  Tensor y1 = run_op("Sub", {f32({R, C}, a), f32({C}, b)}, {}, 17, 1);
  Tensor y4 = run_op("Sub", {f32({R, C}, a), f32({C}, b)}, {}, 17, 4);
  auto v1 = vals<float>(y1), v4 = vals<float>(y4);
  ASSERT_EQ(v1.size(), static_cast<size_t>(R * C));
  EXPECT_EQ(v1, v4);
  for (int64_t i = 0; i < R * C; i += 4099) EXPECT_EQ(v1[i], a[i] - b[i % C]) << i;
}

TEST(Elementwise, IncompatibleShapesFail) {
  EXPECT_THROW(run_op("Add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2}, {1, 2})}), Error);
}

TEST(Elementwise, IntegerDivTruncatesAndRejectsZero) {
  Tensor y = run_op("Div", {i32({4}, {7, -7, 7, -7}), i32({4}, {2, 2, -2, -2})});
  EXPECT_EQ(vals<int32_t>(y), (std::vector<int32_t>{3, -3, -3, 3}));
  EXPECT_THROW(run_op("Div", {i32({2}, {1, 2}), i32({2}, {1, 0})}), Error);
}

TEST(Elementwise, ModSignRules) {
  Tensor a = i32({4}, {7, -7, 7, -7}), b = i32({4}, {3, 3, -3, -3});
  EXPECT_EQ(vals<int32_t>(run_op("Mod", {a, b})), (std::vector<int32_t>{1, 2, -2, -1}));
  EXPECT_EQ(vals<int32_t>(run_op("Mod", {a, b}, {attr_int("fmod", 1)})),
            (std::vector<int32_t>{1, -1, 1, -1}));
  EXPECT_THROW(run_op("Mod", {f32({1}, {1}), f32({1}, {2})}), Error);  // floats need fmod=1
  auto f =
      vals<float>(run_op("Mod", {f32({2}, {-4.5f, 4.5f}), f32({2}, {2, -2})}, {attr_int("fmod", 1)}));
  EXPECT_EQ(f, (std::vector<float>{-0.5f, 0.5f}));
}

TEST(Elementwise, IntegerAddWraps) {
  Tensor y = run_op("Add", {i32({1}, {std::numeric_limits<int32_t>::max()}), i32({1}, {1})});
  EXPECT_EQ(vals<int32_t>(y)[0], std::numeric_limits<int32_t>::min());
}

TEST(Elementwise, RoundHalfToEven) {
  Tensor y = run_op("Round", {f32({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.6f})});
  EXPECT_EQ(vals<float>(y), (std::vector<float>{0, 2, 2, -0.f, -2, 3}));
}

TEST(Elementwise, PowMixedTypes) {
  EXPECT_EQ(vals<int64_t>(run_op("Pow", {i64({3}, {2, 3, -2}), i64({3}, {10, 3, 3})})),
            (std::vector<int64_t>{1024, 27, -8}));
  EXPECT_EQ(vals<int32_t>(run_op("Pow", {i32({3}, {1, 2, 3}), f32({3}, {1, 2, 3})})),
            (std::vector<int32_t>{1, 4, 27}));
  EXPECT_EQ(vals<float>(run_op("Pow", {f32({3}, {1.5f, 2, 3}), i64({1}, {2})})),
            (std::vector<float>{2.25f, 4, 9}));
  auto sq = vals<float>(run_op("Pow", {f32({2}, {3, -2}), f32({}, {2})}));
  EXPECT_EQ(sq, (std::vector<float>{9, 4}));
}

TEST(Elementwise, ClipAttributesAndInputs) {
  Tensor x = f32({4}, {-5, -0.5f, 0.5f, 5});
  EXPECT_EQ(vals<float>(run_op("Clip", {x}, {attr_float("min", -1), attr_float("max", 1)}, 6)),
            (std::vector<float>{-1, -0.5f, 0.5f, 1}));
  EXPECT_EQ(vals<float>(run_op("Clip", {x, f32({}, {0})}, {}, 13)),
            (std::vector<float>{0, 0, 0.5f, 5}));
  // min > max: everything becomes max.
  EXPECT_EQ(vals<float>(run_op("Clip", {x, f32({}, {2}), f32({}, {1})}, {}, 13)),
            (std::vector<float>{1, 1, 1, 1}));
}

TEST(Elementwise, WhereBroadcastsThreeWays) {
  bool c[2] = {true, false};
  Tensor cond = Tensor::from_values<bool>(DType::kBool, {2, 1}, std::span<const bool>(c, 2));
  Tensor y = run_op("Where", {cond, f32({3}, {1, 2, 3}), f32({}, {0})});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(vals<float>(y), (std::vector<float>{1, 2, 3, 0, 0, 0}));
}

TEST(Elementwise, VariadicBroadcasts) {
  Tensor a = f32({3}, {1, 5, 3}), b = f32({2, 1}, {2, 4}), c = f32({}, {0});
  EXPECT_EQ(vals<float>(run_op("Sum", {a, b, c})), (std::vector<float>{3, 7, 5, 5, 9, 7}));
  EXPECT_EQ(vals<float>(run_op("Max", {a, b, c})), (std::vector<float>{2, 5, 3, 4, 5, 4}));
  EXPECT_EQ(vals<float>(run_op("Min", {a, b})), (std::vector<float>{1, 2, 2, 1, 4, 3}));
  EXPECT_EQ(vals<float>(run_op("Mean", {a, b})),
            (std::vector<float>{1.5f, 3.5f, 2.5f, 2.5f, 4.5f, 3.5f}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(vals<float>(run_op("Max", {f32({1}, {nan}), f32({1}, {1})}))[0]));
}

TEST(Elementwise, LegacyBroadcastWithAxis) {
  // Add-6 with broadcast=1, axis=0: B of shape [2] lines up with A's first axis.
  Tensor y = run_op("Add", {f32({2, 3}, {0, 0, 0, 0, 0, 0}), f32({2}, {1, 2})},
                    {attr_int("broadcast", 1), attr_int("axis", 0)}, 6);
  EXPECT_EQ(vals<float>(y), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(run_op("Add", {f32({2, 3}, {0, 0, 0, 0, 0, 0}), f32({3}, {1, 2, 3})}, {}, 6), Error);
}

TEST(Elementwise, PReluLegacyPerChannelSlope) {
  Tensor y = run_op("PRelu", {f32({1, 2, 2}, {-1, 1, -1, 1}), f32({2}, {0.5f, 0.25f})}, {}, 6);
  EXPECT_EQ(vals<float>(y), (std::vector<float>{-0.5f, 1, -0.25f, 1}));
}

TEST(Elementwise, ActivationsWithAttributes) {
  Tensor x = f32({3}, {-2, 0.5f, 2});
  EXPECT_EQ(vals<float>(run_op("LeakyRelu", {x}, {attr_float("alpha", 0.1f)})),
            (std::vector<float>{-0.2f, 0.5f, 2}));
  EXPECT_EQ(vals<float>(run_op("ThresholdedRelu", {x})), (std::vector<float>{0, 0, 2}));
  EXPECT_EQ(vals<float>(run_op("Shrink", {x}, {attr_float("lambd", 1), attr_float("bias", 0.5f)})),
            (std::vector<float>{-1.5f, 0, 1.5f}));
  auto g = vals<float>(run_op("Gelu", {x}, {}, 20));
  EXPECT_NEAR(g[2], 1.9544997f, 1e-6);
  auto gt = vals<float>(run_op("Gelu", {x}, {attr_str("approximate", "tanh")}, 20));
  EXPECT_NEAR(gt[2], 1.9545977f, 1e-6);
  auto s = vals<float>(run_op("Softplus", {f32({2}, {100, -100})}));
  EXPECT_FLOAT_EQ(s[0], 100);
  EXPECT_GT(s[1], 0);
}

TEST(Elementwise, CastCorners) {
  Tensor x = f32({5}, {1.9f, -1.9f, 300, std::numeric_limits<float>::quiet_NaN(), 0});
  Tensor to_i8 = run_op("Cast", {x}, {attr_int("to", static_cast<int>(DType::kInt8))});
  EXPECT_EQ(vals<int8_t>(to_i8), (std::vector<int8_t>{1, -1, 127, 0, 0}));
  Tensor to_b = run_op("Cast", {x}, {attr_int("to", static_cast<int>(DType::kBool))});
  EXPECT_EQ(vals<bool>(to_b), (std::vector<bool>{true, true, true, true, false}));
  // Cast-1 names the target type as a string.
  Tensor legacy = run_op("Cast", {i32({2}, {3, -4})}, {attr_str("to", "FLOAT")}, 1);
  EXPECT_EQ(vals<float>(legacy), (std::vector<float>{3, -4}));
  // double -> float16 rounds once (0.1 -> 0x2E66).
  double d[1] = {0.1};
  Tensor h = run_op(
      "Cast", {Tensor::from_values<double>(DType::kDouble, {1}, std::span<const double>(d, 1))},
      {attr_int("to", static_cast<int>(DType::kFloat16))});
  EXPECT_EQ(vals<uint16_t>(h)[0], 0x2E66);
}

TEST(Elementwise, CastStrings) {
  Tensor s({3}, std::vector<std::string>{"1.5", "-INF", "1e3"});
  Tensor f = run_op("Cast", {s}, {attr_int("to", static_cast<int>(DType::kFloat))});
  auto v = vals<float>(f);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_TRUE(std::isinf(v[1]) && v[1] < 0);
  EXPECT_EQ(v[2], 1000.f);
  Tensor back = run_op("Cast", {f32({2}, {0.1f, std::numeric_limits<float>::infinity()})},
                       {attr_int("to", static_cast<int>(DType::kString))});
  EXPECT_EQ(back.strings(), (std::vector<std::string>{"0.1", "INF"}));
}

TEST(Elementwise, ComparisonAndLogic) {
  Tensor y = run_op("Less", {i64({3}, {1, 2, 3}), i64({}, {2})});
  EXPECT_EQ(vals<bool>(y), (std::vector<bool>{true, false, false}));
  bool a[2] = {true, false}, b[2] = {true, true};
  Tensor ta = Tensor::from_values<bool>(DType::kBool, {2}, std::span<const bool>(a, 2));
  Tensor tb = Tensor::from_values<bool>(DType::kBool, {2}, std::span<const bool>(b, 2));
  EXPECT_EQ(vals<bool>(run_op("Xor", {ta, tb})), (std::vector<bool>{false, true}));
  EXPECT_THROW(run_op("Sqrt", {i32({1}, {4})}), Error);  // dtype outside the spec: unsupported
}

TEST(Elementwise, BitShiftAndBitwise) {
  uint8_t a[3] = {1, 128, 255}, s[3] = {3, 1, 9};
  Tensor ta = Tensor::from_values<uint8_t>(DType::kUint8, {3}, std::span<const uint8_t>(a, 3));
  Tensor ts = Tensor::from_values<uint8_t>(DType::kUint8, {3}, std::span<const uint8_t>(s, 3));
  EXPECT_EQ(vals<uint8_t>(run_op("BitShift", {ta, ts}, {attr_str("direction", "LEFT")})),
            (std::vector<uint8_t>{8, 0, 0}));
  EXPECT_EQ(vals<uint8_t>(run_op("BitShift", {ta, ts}, {attr_str("direction", "RIGHT")})),
            (std::vector<uint8_t>{0, 64, 0}));
  EXPECT_EQ(vals<int32_t>(run_op("BitwiseXor", {i32({2}, {6, -1}), i32({2}, {3, 0})}, {}, 18)),
            (std::vector<int32_t>{5, -1}));
}

TEST(Elementwise, StringsInWhereAndEqual) {
  bool c[2] = {true, false};
  Tensor cond = Tensor::from_values<bool>(DType::kBool, {2}, std::span<const bool>(c, 2));
  Tensor x({2}, std::vector<std::string>{"a", "b"});
  Tensor y({}, std::vector<std::string>{"z"});
  EXPECT_EQ(run_op("Where", {cond, x, y}).strings(), (std::vector<std::string>{"a", "z"}));
  EXPECT_EQ(vals<bool>(run_op("Equal", {x, Tensor({}, std::vector<std::string>{"b"})}, {}, 19)),
            (std::vector<bool>{false, true}));
}

TEST(Elementwise, Float16ComputesInFloat) {
  Eigen::half a[2] = {Eigen::half(1.5f), Eigen::half(-2.0f)};
  Tensor t =
      Tensor::from_values<Eigen::half>(DType::kFloat16, {2}, std::span<const Eigen::half>(a, 2));
  Tensor y = run_op("Mul", {t, t});
  ASSERT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>(y.values<Eigen::half>()[0]), 2.25f);
  EXPECT_EQ(static_cast<float>(y.values<Eigen::half>()[1]), 4.0f);
  Tensor r = run_op("Relu", {t});
  EXPECT_EQ(static_cast<float>(r.values<Eigen::half>()[1]), 0.0f);
}

TEST(Elementwise, Opset18And20Ops) {
  EXPECT_NEAR(vals<float>(run_op("Mish", {f32({1}, {1})}, {}, 18))[0], 0.8650984f, 1e-6);
  EXPECT_EQ(vals<int32_t>(run_op("BitwiseNot", {i32({2}, {0, 5})}, {}, 18)),
            (std::vector<int32_t>{-1, -6}));
  EXPECT_EQ(vals<int32_t>(run_op("BitwiseAnd", {i32({2}, {6, 5}), i32({}, {4})}, {}, 18)),
            (std::vector<int32_t>{4, 4}));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(vals<bool>(run_op("IsInf", {f32({3}, {inf, -inf, 1})}, {attr_int("detect_negative", 0)})),
            (std::vector<bool>{true, false, false}));
}

}  // namespace
}  // namespace edgeq
