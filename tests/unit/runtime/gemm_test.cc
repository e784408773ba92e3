// Matrix products, reductions and softmax kernels against hand-computed values and naive
// references: numpy.matmul promotion and batch broadcasting, Gemm attributes, MatMulInteger zero
// points, Einsum (diagonals, ellipsis, implicit output), reductions over odd axis sets and empty
// sets, ArgMax/TopK tie rules, CumSum modes, the opset-13 change of Softmax's axis semantics, and
// bitwise-identical results for different thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"
#include "runtime/kernel.h"

namespace edgeq {
namespace {

using namespace test;
using Attr = AttrSpec;

// Runs one node and returns its `n_out` outputs. A default-constructed Tensor input (kUndefined)
// is passed as an omitted input.
std::vector<Tensor> run_node(const std::string& op, std::vector<Tensor> inputs, std::vector<Attr> attrs = {},
                             int64_t opset = 17, int threads = 2, int n_out = 1) {
  return test::run_node(op, inputs, attrs, opset, "", threads, static_cast<size_t>(n_out));
}

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// ---- MatMul / Gemm ----

TEST(GemmKernels, MatMul2D) {
  Tensor y = run_op("MatMul", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {7, 8, 9, 10, 11, 12})});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{2, 2}));
  expect_near(vals<float>(y), {58, 64, 139, 154});
}

TEST(GemmKernels, MatMulVectorPromotion) {
  // [3] x [3, 2] -> [2]; [2, 3] x [3] -> [2]; [3] x [3] -> scalar.
  Tensor a = run_op("MatMul", {f32({3}, {1, 2, 3}), f32({3, 2}, {7, 8, 9, 10, 11, 12})});
  EXPECT_EQ(a.dims(), (std::vector<int64_t>{2}));
  expect_near(vals<float>(a), {58, 64});
  Tensor b = run_op("MatMul", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {1, 0, -1})});
  EXPECT_EQ(b.dims(), (std::vector<int64_t>{2}));
  expect_near(vals<float>(b), {-2, -2});
  Tensor c = run_op("MatMul", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})});
  EXPECT_TRUE(c.dims().empty());
  expect_near(vals<float>(c), {32});
}

TEST(GemmKernels, MatMulBatchBroadcast) {
  // A [2, 1, 2, 2] x B [3, 2, 2] -> [2, 3, 2, 2].
  std::vector<float> av = {1, 0, 0, 1, 2, 0, 0, 2};
  std::vector<float> bv = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  Tensor y = run_op("MatMul", {f32({2, 1, 2, 2}, av), f32({3, 2, 2}, bv)});
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{2, 3, 2, 2}));
  std::vector<float> want;
  for (int s : {1, 2})
    for (float b : bv) want.push_back(s * b);
  expect_near(vals<float>(y), want);
}

TEST(GemmKernels, MatMulMismatchFails) {
  EXPECT_THROW(run_op("MatMul", {f32({2, 3}, std::vector<float>(6)), f32({2, 2}, std::vector<float>(4))}), Error);
}

TEST(GemmKernels, MatMulLargeMatchesNaiveAndIsThreadIndependent) {
  const int64_t B = 3, M = 130, K = 70, N = 600;
  auto av = random_floats(B * M * K, 1), bv = random_floats(K * N, 2);
  Tensor y1 = run_op("MatMul", {f32({B, M, K}, av), f32({K, N}, bv)}, {}, 17, 1);
  Tensor y4 = run_op("MatMul", {f32({B, M, K}, av), f32({K, N}, bv)}, {}, 17, 4);
  auto g1 = vals<float>(y1), g4 = vals<float>(y4);
  ASSERT_EQ(g1.size(), static_cast<size_t>(B * M * N));
  EXPECT_EQ(0, std::memcmp(g1.data(), g4.data(), g1.size() * sizeof(float)));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < M; i += 7)
      for (int64_t j = 0; j < N; j += 13) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += double(av[(b * M + i) * K + k]) * bv[k * N + j];
        EXPECT_NEAR(g1[(b * M + i) * N + j], s, 1e-4);
      }
  // A matrix-vector shape, which splits columns instead of rows.
  auto xv = random_floats(K, 3), wv = random_floats(K * 3000, 4);
  Tensor v1 = run_op("MatMul", {f32({1, K}, xv), f32({K, 3000}, wv)}, {}, 17, 1);
  Tensor v4 = run_op("MatMul", {f32({1, K}, xv), f32({K, 3000}, wv)}, {}, 17, 4);
  EXPECT_EQ(0, std::memcmp(v1.bytes().data(), v4.bytes().data(), v1.byte_size()));
}

TEST(GemmKernels, MatMulInt64AndHalf) {
  Tensor y = run_op("MatMul", {i64({2, 2}, {1, 2, 3, 4}), i64({2, 1}, {5, 6})});
  EXPECT_EQ(vals<int64_t>(y), (std::vector<int64_t>{17, 39}));
  std::vector<Eigen::half> a = {Eigen::half(1), Eigen::half(2)}, b = {Eigen::half(3), Eigen::half(4)};
  Tensor h = run_op("MatMul", {make(DType::kFloat16, {1, 2}, a), make(DType::kFloat16, {2, 1}, b)});
  EXPECT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>(vals<Eigen::half>(h)[0]), 11.0f);
}

TEST(GemmKernels, GemmAttributesAndBroadcastC) {
  // A^T is [[1,3],[2,4]] (A stored 2x2 transposed), B^T is [[1,0],[0,1]] scaled.
  Tensor a = f32({2, 2}, {1, 2, 3, 4});  // transA -> [[1,3],[2,4]]
  Tensor b = f32({2, 2}, {1, 2, 3, 4});  // transB -> [[1,3],[2,4]]
  Tensor c = f32({2}, {10, 20});         // broadcast over rows
  Tensor y = run_op("Gemm", {a, b, c},
                    {attr_int("transA", 1), attr_int("transB", 1), attr_float("alpha", 2.0f), attr_float("beta", 0.5f)}, 13);
  // A'B' = [[1,3],[2,4]] x [[1,3],[2,4]] = [[7,15],[10,22]]
  expect_near(vals<float>(y), {2 * 7 + 5, 2 * 15 + 10, 2 * 10 + 5, 2 * 22 + 10});
  // No C (optional from opset 11), scalar C.
  Tensor y2 = run_op("Gemm", {a, b}, {}, 13);
  expect_near(vals<float>(y2), {7, 10, 15, 22});
  Tensor y3 = run_op("Gemm", {a, b, f32({}, {1})}, {}, 13);
  expect_near(vals<float>(y3), {8, 11, 16, 23});
  Tensor y4 = run_op("Gemm", {a, b, f32({2, 1}, {1, 2})}, {}, 13);
  expect_near(vals<float>(y4), {8, 11, 17, 24});
  EXPECT_THROW(run_op("Gemm", {a, b, f32({3}, {1, 2, 3})}, {}, 13), Error);
}

TEST(GemmKernels, MatMulIntegerZeroPoints) {
  // A uint8 [2, 2] with per-row zero points [1, 2]; B int8 [2, 2] with per-column [0, -1].
  Tensor a = make<uint8_t>(DType::kUint8, {2, 2}, {3, 4, 5, 6});
  Tensor b = make<int8_t>(DType::kInt8, {2, 2}, {1, -2, 3, 4});
  Tensor za = make<uint8_t>(DType::kUint8, {2}, {1, 2});
  Tensor zb = make<int8_t>(DType::kInt8, {2}, {0, -1});
  Tensor y = run_op("MatMulInteger", {a, b, za, zb}, {}, 10);
  EXPECT_EQ(y.dtype(), DType::kInt32);
  // (A - za) = [[2,3],[3,4]], (B - zb) = [[1,-1],[3,5]]
  EXPECT_EQ(vals<int32_t>(y), (std::vector<int32_t>{11, 13, 15, 17}));
  Tensor y0 = run_op("MatMulInteger", {a, b, make<uint8_t>(DType::kUint8, {}, {3})}, {}, 10);
  // (A - 3) = [[0,1],[2,3]]
  EXPECT_EQ(vals<int32_t>(y0), (std::vector<int32_t>{3, 4, 11, 8}));
}

// ---- Einsum ----

TEST(GemmKernels, EinsumForms) {
  std::vector<float> m = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto es = [](const std::string& eq) { return std::vector<Attr>{attr_str("equation", eq)}; };
  expect_near(vals<float>(run_op("Einsum", {f32({3, 3}, m)}, es("ii->i"), 12)), {1, 5, 9});
  Tensor trace = run_op("Einsum", {f32({3, 3}, m)}, es("ii"), 12);
  EXPECT_TRUE(trace.dims().empty());
  expect_near(vals<float>(trace), {15});
  expect_near(vals<float>(run_op("Einsum", {f32({3, 3}, m)}, es("ij->ji"), 12)), {1, 4, 7, 2, 5, 8, 3, 6, 9});
  expect_near(vals<float>(run_op("Einsum", {f32({3, 3}, m)}, es("ji"), 12)), {1, 4, 7, 2, 5, 8, 3, 6, 9});
  expect_near(vals<float>(run_op("Einsum", {f32({3, 3}, m)}, es("ij->"), 12)), {45});
  expect_near(vals<float>(run_op("Einsum", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})}, es("i,i"), 12)), {32});
  // Outer product, and implicit matmul "ij,jk".
  expect_near(vals<float>(run_op("Einsum", {f32({2}, {1, 2}), f32({2}, {3, 4})}, es("i,j->ij"), 12)), {3, 4, 6, 8});
  expect_near(vals<float>(run_op("Einsum", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {7, 8, 9, 10, 11, 12})},
                                 es("ij,jk"), 12)),
              {58, 64, 139, 154});
  // Ellipsis with broadcasting: [2, 1, 2] x [3, 2] over "...j,...j->..."  -> [2, 3].
  Tensor e = run_op("Einsum", {f32({2, 1, 2}, {1, 2, 3, 4}), f32({3, 2}, {1, 0, 0, 1, 1, 1})},
                    es("...j,...j->..."), 12);
  EXPECT_EQ(e.dims(), (std::vector<int64_t>{2, 3}));
  expect_near(vals<float>(e), {1, 2, 3, 3, 4, 7});
  // Batch diagonal "...ii->...i" and a three-operand chain.
  Tensor bd = run_op("Einsum", {f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}, es("...ii->...i"), 12);
  expect_near(vals<float>(bd), {1, 4, 5, 8});
  Tensor chain = run_op("Einsum", {f32({1, 2}, {1, 2}), f32({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 1})},
                        es("ab,bc,c->a"), 12);
  expect_near(vals<float>(chain), {17});
  EXPECT_THROW(run_op("Einsum", {f32({2, 3}, std::vector<float>(6)), f32({2, 3}, std::vector<float>(6))},
                      es("ij,jk->ik"), 12),
               Error);
}

TEST(GemmKernels, EinsumTransposedBatchMatchesNaive) {
  // "bji,bjk->bki": contracts j with A transposed, so both operands get permuted first.
  const int64_t B = 2, J = 5, I = 70, K = 3;
  auto av = random_floats(B * J * I, 8), bv = random_floats(B * J * K, 9);
  Tensor y = run_op("Einsum", {f32({B, J, I}, av), f32({B, J, K}, bv)}, {attr_str("equation", "bji,bjk->bki")}, 12);
  EXPECT_EQ(y.dims(), (std::vector<int64_t>{B, K, I}));
  auto got = vals<float>(y);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < I; ++i) {
        double s = 0;
        for (int64_t j = 0; j < J; ++j) s += double(av[(b * J + j) * I + i]) * bv[(b * J + j) * K + k];
        EXPECT_NEAR(got[(b * K + k) * I + i], s, 1e-5);
      }
}

// ---- reductions ----

// Naive ReduceSum over a boolean axis mask of a [2, 3, 4] tensor.
std::vector<float> naive_sum_234(const std::vector<float>& x, bool r0, bool r1, bool r2) {
  int64_t o1 = r1 ? 1 : 3, o2 = r2 ? 1 : 4, o0 = r0 ? 1 : 2;
  std::vector<float> y(o0 * o1 * o2, 0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        y[((r0 ? 0 : i) * o1 + (r1 ? 0 : j)) * o2 + (r2 ? 0 : k)] += x[(i * 3 + j) * 4 + k];
  return y;
}

TEST(ReduceKernels, SumAxisSetsAttributeAndInput) {
  auto x = random_floats(24, 5);
  for (int mask = 0; mask < 8; ++mask) {
    std::vector<int64_t> axes;
    for (int a = 0; a < 3; ++a)
      if (mask & (1 << a)) axes.push_back(a - 3 * (a % 2));  // mix negative axes in
    auto want = naive_sum_234(x, mask & 1, mask & 2, mask & 4);
    if (axes.empty()) {  // reduce everything
      want = naive_sum_234(x, true, true, true);
    }
    Tensor a = run_op("ReduceSum", {f32({2, 3, 4}, x)}, {attr_ints("axes", axes)}, 11);
    expect_near(vals<float>(a), want);
    Tensor b = run_op("ReduceSum", {f32({2, 3, 4}, x), i64({static_cast<int64_t>(axes.size())}, axes)},
                      {attr_int("keepdims", 0)}, 13);
    expect_near(vals<float>(b), want);
  }
  // noop_with_empty_axes returns the input.
  Tensor n = run_op("ReduceSum", {f32({2, 3, 4}, x), i64({0}, {})}, {attr_int("noop_with_empty_axes", 1)}, 13);
  EXPECT_EQ(n.dims(), (std::vector<int64_t>{2, 3, 4}));
  expect_near(vals<float>(n), x);
  EXPECT_THROW(run_op("ReduceSum", {f32({2, 3, 4}, x), i64({1}, {3})}, {}, 13), Error);
}

TEST(ReduceKernels, OpsAndEmptySets) {
  Tensor x = f32({2, 2}, {1, -2, 3, 4});
  auto ax1 = [] { return std::vector<Attr>{attr_ints("axes", {1})}; };
  expect_near(vals<float>(run_op("ReduceMean", {x}, ax1(), 13)), {-0.5f, 3.5f});
  expect_near(vals<float>(run_op("ReduceMax", {x}, ax1(), 13)), {1, 4});
  expect_near(vals<float>(run_op("ReduceMin", {x}, ax1(), 13)), {-2, 3});
  expect_near(vals<float>(run_op("ReduceProd", {x}, ax1(), 13)), {-2, 12});
  expect_near(vals<float>(run_op("ReduceL1", {x}, ax1(), 13)), {3, 7});
  expect_near(vals<float>(run_op("ReduceL2", {x}, ax1(), 13)), {std::sqrt(5.0f), 5});
  expect_near(vals<float>(run_op("ReduceSumSquare", {x}, ax1(), 13)), {5, 25});
  expect_near(vals<float>(run_op("ReduceLogSum", {f32({2}, {1, 2})}, {}, 13)), {std::log(3.0f)});
  // LogSumExp stays finite for large inputs.
  expect_near(vals<float>(run_op("ReduceLogSumExp", {f32({2}, {1000, 1000})}, {}, 13)),
              {1000 + std::log(2.0f)}, 1e-3f);
  // Axes as input from opset 18.
  expect_near(vals<float>(run_op("ReduceMax", {x, i64({1}, {0})}, {}, 18)), {3, 4});
  // Empty reduced axis: identities from the spec.
  Tensor empty = f32({2, 0}, {});
  auto ax1_18 = i64({1}, {1});
  expect_near(vals<float>(run_op("ReduceSum", {empty, ax1_18}, {}, 18)), {0, 0});
  expect_near(vals<float>(run_op("ReduceProd", {empty, ax1_18}, {}, 18)), {1, 1});
  auto mx = vals<float>(run_op("ReduceMax", {empty, ax1_18}, {}, 18));
  EXPECT_TRUE(std::isinf(mx[0]) && mx[0] < 0);
  auto lse = vals<float>(run_op("ReduceLogSumExp", {empty, ax1_18}, {}, 18));
  EXPECT_TRUE(std::isinf(lse[0]) && lse[0] < 0);
  // Integer reductions.
  Tensor xi = i64({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(vals<int64_t>(run_op("ReduceSum", {xi}, {attr_int("keepdims", 0)}, 11)), (std::vector<int64_t>{10}));
  EXPECT_EQ(vals<int64_t>(run_op("ReduceMin", {xi}, {}, 11)), (std::vector<int64_t>{1}));
}

TEST(ReduceKernels, ThreadIndependent) {
  auto x = random_floats(64 * 50 * 33, 6);
  for (auto axes : {std::vector<int64_t>{1}, std::vector<int64_t>{0, 2}, std::vector<int64_t>{2}}) {
    Tensor a = run_op("ReduceSum", {f32({64, 50, 33}, x)}, {attr_ints("axes", axes)}, 11, 1);
    Tensor b = run_op("ReduceSum", {f32({64, 50, 33}, x)}, {attr_ints("axes", axes)}, 11, 4);
    ASSERT_EQ(a.byte_size(), b.byte_size());
    EXPECT_EQ(0, std::memcmp(a.bytes().data(), b.bytes().data(), a.byte_size()));
  }
}

TEST(ReduceKernels, ArgMaxTies) {
  Tensor x = f32({2, 3}, {1, 3, 3, 2, 2, 0});
  EXPECT_EQ(vals<int64_t>(run_op("ArgMax", {x}, {attr_int("axis", 1)}, 13)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(vals<int64_t>(run_op("ArgMax", {x}, {attr_int("axis", 1), attr_int("select_last_index", 1)}, 13)),
            (std::vector<int64_t>{2, 1}));
  Tensor am = run_op("ArgMin", {x}, {attr_int("axis", 0), attr_int("keepdims", 0)}, 13);
  EXPECT_EQ(am.dims(), (std::vector<int64_t>{3}));
  EXPECT_EQ(vals<int64_t>(am), (std::vector<int64_t>{0, 1, 1}));
}

TEST(ReduceKernels, TopKTiesAndAxis) {
  Tensor x = f32({2, 4}, {1, 3, 3, 2, 5, 5, 1, 5});
  auto out = run_node("TopK", {x, i64({1}, {2})}, {}, 11, 2, 2);
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{2, 2}));
  expect_near(vals<float>(out[0]), {3, 3, 5, 5});
  EXPECT_EQ(vals<int64_t>(out[1]), (std::vector<int64_t>{1, 2, 0, 1}));
  auto small = run_node("TopK", {x, i64({1}, {1})}, {attr_int("axis", 0), attr_int("largest", 0)}, 11, 2, 2);
  expect_near(vals<float>(small[0]), {1, 3, 1, 2});
  EXPECT_EQ(vals<int64_t>(small[1]), (std::vector<int64_t>{0, 0, 1, 0}));
  // Opset 1: k is an attribute.
  auto v1 = run_node("TopK", {f32({3}, {1, 2, 3})}, {attr_int("k", 1)}, 1, 2, 2);
  expect_near(vals<float>(v1[0]), {3});
  EXPECT_THROW(run_node("TopK", {x, i64({1}, {5})}, {}, 11, 2, 2), Error);
}

TEST(ReduceKernels, CumSumModes) {
  Tensor x = f32({4}, {1, 2, 3, 4});
  Tensor axis = i64({}, {0});
  expect_near(vals<float>(run_op("CumSum", {x, axis}, {}, 14)), {1, 3, 6, 10});
  expect_near(vals<float>(run_op("CumSum", {x, axis}, {attr_int("exclusive", 1)}, 14)), {0, 1, 3, 6});
  expect_near(vals<float>(run_op("CumSum", {x, axis}, {attr_int("reverse", 1)}, 14)), {10, 9, 7, 4});
  expect_near(vals<float>(run_op("CumSum", {x, axis}, {attr_int("reverse", 1), attr_int("exclusive", 1)}, 14)),
              {9, 7, 4, 0});
  Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_near(vals<float>(run_op("CumSum", {m, i64({}, {-2})}, {}, 14)), {1, 2, 3, 5, 7, 9});
}

// ---- softmax ----

TEST(SoftmaxKernels, AxisSemanticsChangeAtOpset13) {
  auto x = random_floats(2 * 3 * 4, 7);
  // Opset 11, axis 1: a softmax over each row of the [2, 12] coercion.
  auto old = vals<float>(run_op("Softmax", {f32({2, 3, 4}, x)}, {attr_int("axis", 1)}, 11));
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int i = 0; i < 12; ++i) s += std::exp(x[r * 12 + i]);
    for (int i = 0; i < 12; ++i) EXPECT_NEAR(old[r * 12 + i], std::exp(x[r * 12 + i]) / s, 1e-6);
  }
  // Opset 13, axis 1: a softmax along dim 1 only.
  auto now = vals<float>(run_op("Softmax", {f32({2, 3, 4}, x)}, {attr_int("axis", 1)}, 13));
  for (int a = 0; a < 2; ++a)
    for (int c = 0; c < 4; ++c) {
      double s = 0;
      for (int b = 0; b < 3; ++b) s += std::exp(x[(a * 3 + b) * 4 + c]);
      for (int b = 0; b < 3; ++b)
        EXPECT_NEAR(now[(a * 3 + b) * 4 + c], std::exp(x[(a * 3 + b) * 4 + c]) / s, 1e-6);
    }
}

TEST(SoftmaxKernels, ThreadIndependent) {
  auto x = random_floats(40 * 37 * 129, 10);
  for (const char* op : {"Softmax", "LogSoftmax"})
    for (int64_t axis : {-1, 1}) {
      Tensor a = run_op(op, {f32({40, 37, 129}, x)}, {attr_int("axis", axis)}, 13, 1);
      Tensor b = run_op(op, {f32({40, 37, 129}, x)}, {attr_int("axis", axis)}, 13, 4);
      EXPECT_EQ(0, std::memcmp(a.bytes().data(), b.bytes().data(), a.byte_size())) << op << " axis " << axis;
    }
}

TEST(SoftmaxKernels, LargeNumbersLogSoftmaxHardmax) {
  Tensor x = f32({1, 3}, {10000, 10001, 10002});
  auto s = vals<float>(run_op("Softmax", {x}, {}, 13));
  expect_near(s, {0.09003057f, 0.24472847f, 0.66524096f});
  auto ls = vals<float>(run_op("LogSoftmax", {x}, {}, 13));
  expect_near(ls, {-2.4076059f, -1.4076059f, -0.40760595f});
  // Hardmax: the first of tied maxima.
  auto h = vals<float>(run_op("Hardmax", {f32({2, 3}, {1, 3, 3, 0, -1, 0})}, {}, 13));
  expect_near(h, {0, 1, 0, 1, 0, 0});
}

}  // namespace
}  // namespace edgeq
