// Conv, ConvTranspose, pooling and normalization kernels: hand-computed cases, a naive direct
// convolution as an independent reference over many geometries, and thread-count invariance.
#include <gtest/gtest.h>

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/ir/graph.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"

namespace edgeq {
namespace {

using namespace test;
using Attr = AttrSpec;

// Runs one node over the given inputs (empty tensors with kUndefined dtype = omitted) and
// returns its outputs.
std::vector<Tensor> run_node(const std::string& op, const std::vector<Tensor>& inputs,
                             const std::vector<Attr>& attrs, int outputs = 1, int opset = 17,
                             int threads = 2) {
  return test::run_node(op, inputs, attrs, opset, "", threads, static_cast<size_t>(outputs));
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-4f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Deterministic pseudo-random values in [-1, 1).
std::vector<float> pseudo_random(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
  }
  return v;
}

int64_t product(const std::vector<int64_t>& d) {
  int64_t p = 1;
  for (int64_t x : d) p *= x;
  return p;
}

// Direct convolution straight from the definition, for up to 3 spatial dims (explicit pads).
std::vector<float> naive_conv(const std::vector<float>& x, const std::vector<int64_t>& xd,
                              const std::vector<float>& w, const std::vector<int64_t>& wd,
                              const std::vector<float>* b, int64_t group,
                              const std::vector<int64_t>& s, const std::vector<int64_t>& dl,
                              const std::vector<int64_t>& pads, std::vector<int64_t>& yd) {
  const size_t nd = xd.size() - 2;
  auto pad3 = [&](const std::vector<int64_t>& v, int64_t fill, size_t from) {
    std::vector<int64_t> o(3, fill);
    for (size_t i = 0; i < nd; ++i) o[3 - nd + i] = v[from + i];
    return o;
  };
  std::vector<int64_t> in = pad3(xd, 1, 2), k = pad3(wd, 1, 2), st = pad3(s, 1, 0), di = pad3(dl, 1, 0);
  std::vector<int64_t> pb = pad3(pads, 0, 0), pe = pad3(pads, 0, nd), out(3);
  for (int i = 0; i < 3; ++i) out[i] = (in[i] + pb[i] + pe[i] - ((k[i] - 1) * di[i] + 1)) / st[i] + 1;
  const int64_t N = xd[0], C = xd[1], M = wd[0], cg = C / group, mg = M / group;
  yd = {N, M};
  for (size_t i = 0; i < nd; ++i) yd.push_back(out[3 - nd + i]);
  std::vector<float> y(static_cast<size_t>(product(yd)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t od = 0; od < out[0]; ++od)
        for (int64_t oh = 0; oh < out[1]; ++oh)
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = b ? (*b)[m] : 0.0;
            const int64_t g = m / mg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t id = od * st[0] + kd * di[0] - pb[0];
                    const int64_t ih = oh * st[1] + kh * di[1] - pb[1];
                    const int64_t iw = ow * st[2] + kw * di[2] - pb[2];
                    if (id < 0 || ih < 0 || iw < 0 || id >= in[0] || ih >= in[1] || iw >= in[2]) continue;
                    const float xv = x[(((n * C + g * cg + c) * in[0] + id) * in[1] + ih) * in[2] + iw];
                    const float wv = w[(((m * cg + c) * k[0] + kd) * k[1] + kh) * k[2] + kw];
                    acc += static_cast<double>(xv) * wv;
                  }
            y[(((n * M + m) * out[0] + od) * out[1] + oh) * out[2] + ow] = static_cast<float>(acc);
          }
  return y;
}

TEST(ConvKernel, HandComputed2D) {
  std::vector<float> x(9);
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i);
  auto out = run_node("Conv", {f32({1, 1, 3, 3}, x), f32({1, 1, 2, 2}, {1, 1, 1, 1})}, {});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 2, 2}));
  expect_near(floats(out[0]), {8, 12, 20, 24});
  // SAME_UPPER with stride 2 on 3x3: output 2x2, total pad 1 at the end.
  out = run_node("Conv", {f32({1, 1, 3, 3}, x), f32({1, 1, 2, 2}, {1, 1, 1, 1}), f32({1}, {0.5f})},
                 {attr_str("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 2})});
  expect_near(floats(out[0]), {8.5f, 7.5f, 13.5f, 8.5f});
}

struct ConvCase {
  std::vector<int64_t> xd, wd;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads;
  bool bias;
};

TEST(ConvKernel, MatchesDirectDefinition) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 9, 8}, {4, 3, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},
      {{1, 4, 10, 7}, {6, 2, 3, 2}, 2, {2, 1}, {1, 2}, {0, 1, 2, 0}, true},
      {{1, 6, 11, 12}, {6, 1, 3, 3}, 6, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},   // depthwise
      {{2, 4, 9, 9}, {8, 1, 5, 5}, 4, {2, 2}, {2, 1}, {2, 3, 1, 0}, false},    // depthwise x2
      {{1, 6, 12, 13}, {6, 1, 3, 3}, 6, {2, 2}, {1, 1}, {1, 0, 0, 1}, true},  // depthwise s2
      {{1, 3, 12, 13}, {3, 1, 3, 3}, 3, {1, 3}, {2, 2}, {2, 2, 2, 2}, true},  // depthwise dilated
      {{1, 2, 5, 4}, {2, 1, 3, 3}, 2, {1, 1}, {1, 1}, {3, 3, 3, 3}, true},    // pads > kernel reach
      {{1, 8, 5, 6}, {16, 8, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, true},   // pointwise
      {{1, 64, 6, 6}, {128, 64, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},  // row-split chunks
      {{1, 3, 40, 40}, {5, 3, 7, 7}, 1, {2, 2}, {1, 1}, {3, 3, 3, 3}, true},    // many pixel blocks
      {{2, 3, 17}, {4, 3, 4}, 1, {3}, {2}, {1, 2}, true},                        // 1D
      {{1, 4, 5, 6, 7}, {4, 2, 2, 3, 2}, 2, {1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}, true},  // 3D
      {{1, 2, 7, 7}, {2, 1, 3, 3}, 2, {1, 1}, {1, 1}, {0, 0, 0, 0}, false},
  };
  uint32_t seed = 1;
  for (const auto& c : cases) {
    SCOPED_TRACE("case with X rank " + std::to_string(c.xd.size()) + ", seed " + std::to_string(seed));
    auto x = pseudo_random(static_cast<size_t>(product(c.xd)), seed++);
    auto w = pseudo_random(static_cast<size_t>(product(c.wd)), seed++);
    auto b = pseudo_random(static_cast<size_t>(c.wd[0]), seed++);
    std::vector<int64_t> yd;
    auto want = naive_conv(x, c.xd, w, c.wd, c.bias ? &b : nullptr, c.group, c.strides, c.dilations, c.pads, yd);
    std::vector<Tensor> inputs{f32(c.xd, x), f32(c.wd, w)};
    if (c.bias) inputs.push_back(f32({c.wd[0]}, b));
    std::vector<Attr> attrs{attr_int("group", c.group), attr_ints("strides", c.strides),
                                 attr_ints("dilations", c.dilations), attr_ints("pads", c.pads)};
    auto one = run_node("Conv", inputs, attrs, 1, 17, 1);
    auto many = run_node("Conv", inputs, attrs, 1, 17, 3);
    EXPECT_EQ(one[0].dims(), yd);
    expect_near(floats(one[0]), want, 1e-4f);
    // Bitwise identical for any thread count.
    ASSERT_EQ(one[0].byte_size(), many[0].byte_size());
    EXPECT_EQ(std::memcmp(one[0].bytes().data(), many[0].bytes().data(), one[0].byte_size()), 0);
  }
}

TEST(ConvKernel, BadShapesFail) {
  EXPECT_THROW(run_node("Conv", {f32({1, 3, 4, 4}, std::vector<float>(48)), f32({2, 2, 3, 3}, std::vector<float>(36))}, {}),
               Error);
  EXPECT_THROW(run_node("Conv", {f32({1, 1, 2, 2}, std::vector<float>(4)), f32({1, 1, 3, 3}, std::vector<float>(9))}, {}),
               Error);
}

TEST(ConvTransposeKernel, HandComputed) {
  auto out = run_node("ConvTranspose", {f32({1, 1, 2, 2}, {1, 2, 3, 4}), f32({1, 1, 2, 2}, {1, 1, 1, 1})}, {});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 3, 3}));
  expect_near(floats(out[0]), {1, 3, 2, 4, 10, 6, 3, 7, 4});
  // Stride 2 spreads the input out: the 2x2 kernel tiles a 4x4 output without overlap.
  out = run_node("ConvTranspose", {f32({1, 1, 2, 2}, {1, 2, 3, 4}), f32({1, 1, 2, 2}, {1, 10, 100, 1000})},
                 {attr_ints("strides", {2, 2})});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 4, 4}));
  expect_near(floats(out[0]), {1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000});
}

TEST(PoolKernels, MaxPoolWithIndices) {
  std::vector<float> x{1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2, 0, 0, 3, 3};
  auto out = run_node("MaxPool", {f32({1, 1, 4, 4}, x)},
                      {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2})}, 2, 12);
  expect_near(floats(out[0]), {5, 9, 7, 3});
  auto idx = out[1].values<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.end()), (std::vector<int64_t>{1, 6, 8, 14}));
  // Column-major indices: (h, w) -> w * H + h.
  out = run_node("MaxPool", {f32({1, 1, 4, 4}, x)},
                 {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2}), attr_int("storage_order", 1)}, 2, 12);
  idx = out[1].values<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.end()), (std::vector<int64_t>{4, 9, 2, 11}));
}

TEST(PoolKernels, AveragePoolPadding) {
  std::vector<float> x{1, 2, 3, 4};
  std::vector<Attr> base{attr_ints("kernel_shape", {2, 2}), attr_ints("pads", {1, 1, 0, 0})};
  auto out = run_node("AveragePool", {f32({1, 1, 2, 2}, x)}, base, 1, 11);
  expect_near(floats(out[0]), {1, 1.5f, 2, 2.5f});
  std::vector<Attr> incl{attr_ints("kernel_shape", {2, 2}), attr_ints("pads", {1, 1, 0, 0}),
                              attr_int("count_include_pad", 1)};
  out = run_node("AveragePool", {f32({1, 1, 2, 2}, x)}, incl, 1, 11);
  expect_near(floats(out[0]), {0.25f, 0.75f, 1, 2.5f});
  out = run_node("GlobalAveragePool", {f32({1, 2, 1, 2}, {1, 2, 3, 5})}, {});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 2, 1, 1}));
  expect_near(floats(out[0]), {1.5f, 4});
}

TEST(NormKernels, BatchAndLayerNorm) {
  // y = (x - mean) / sqrt(var + eps) * scale + B, channel 0: mean 1, var 4; channel 1: mean 0, var 1.
  auto out = run_node("BatchNormalization",
                      {f32({1, 2, 2}, {1, 5, 2, -1}), f32({2}, {2, 1}), f32({2}, {0, 1}),
                       f32({2}, {1, 0}), f32({2}, {4, 1})},
                      {attr_float("epsilon", 0.f)}, 1, 15);
  expect_near(floats(out[0]), {0, 4, 3, 0});
  out = run_node("LayerNormalization", {f32({2, 2}, {1, 3, 0, 4}), f32({2}, {1, 2}), f32({2}, {0, 1})},
                 {attr_float("epsilon", 0.f)}, 3, 17);
  expect_near(floats(out[0]), {-1, 3, -1, 3});
  expect_near(floats(out[1]), {2, 2});
  EXPECT_EQ(out[1].dims(), (std::vector<int64_t>{2, 1}));
  expect_near(floats(out[2]), {1, 0.5f});
}

TEST(ConvKernel, HalfAndDoubleMatchFloat) {
  std::vector<float> x(9);
  for (int i = 0; i < 9; ++i) x[i] = static_cast<float>(i);
  std::vector<Eigen::half> xh, wh(4, Eigen::half(1.0f));
  for (float v : x) xh.push_back(Eigen::half(v));
  auto out = run_node("Conv", {Tensor::from_values<Eigen::half>(DType::kFloat16, {1, 1, 3, 3}, xh),
                               Tensor::from_values<Eigen::half>(DType::kFloat16, {1, 1, 2, 2}, wh)},
                      {});
  ASSERT_EQ(out[0].dtype(), DType::kFloat16);
  auto yh = out[0].values<Eigen::half>();
  EXPECT_EQ(static_cast<float>(yh[3]), 24.0f);
  std::vector<double> xd(x.begin(), x.end()), wd(4, 1.0);
  out = run_node("Conv", {Tensor::from_values<double>(DType::kDouble, {1, 1, 3, 3}, xd),
                          Tensor::from_values<double>(DType::kDouble, {1, 1, 2, 2}, wd)},
                 {});
  auto yd = out[0].values<double>();
  EXPECT_EQ(std::vector<double>(yd.begin(), yd.end()), (std::vector<double>{8, 12, 20, 24}));
  // Integer inputs are not Conv types.
  std::vector<int32_t> xi(9, 1), wi(4, 1);
  EXPECT_THROW(run_node("Conv", {Tensor::from_values<int32_t>(DType::kInt32, {1, 1, 3, 3}, xi),
                                 Tensor::from_values<int32_t>(DType::kInt32, {1, 1, 2, 2}, wi)},
                        {}),
               Error);
}

TEST(PoolKernels, LpAndRoiPools) {
  auto out = run_node("LpPool", {f32({1, 1, 2, 2}, {3, 4, 0, 0})}, {attr_ints("kernel_shape", {2, 2})}, 1, 11);
  expect_near(floats(out[0]), {5});
  out = run_node("GlobalLpPool", {f32({1, 2, 2}, {3, 4, 1, 1})}, {attr_int("p", 1)}, 1, 2);
  expect_near(floats(out[0]), {7, 2});
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i);
  out = run_node("MaxRoiPool", {f32({1, 1, 4, 4}, x), f32({1, 5}, {0, 0, 0, 3, 3})},
                 {attr_ints("pooled_shape", {2, 2})}, 1, 1);
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 2, 2}));
  expect_near(floats(out[0]), {5, 7, 13, 15});
}

TEST(NormKernels, GroupAndInstanceNorm) {
  // One group over both channels: mean 4, variance 5.
  const float r = 1.0f / std::sqrt(5.0f);
  auto out = run_node("GroupNormalization", {f32({1, 2, 2}, {1, 3, 5, 7}), f32({1}, {1}), f32({1}, {0})},
                      {attr_int("num_groups", 1), attr_float("epsilon", 0.f)}, 1, 18);
  expect_near(floats(out[0]), {-3 * r, -r, r, 3 * r});
  // Opset 21: scale and bias per channel.
  out = run_node("GroupNormalization", {f32({1, 2, 2}, {1, 3, 5, 7}), f32({2}, {1, 2}), f32({2}, {0, 1})},
                 {attr_int("num_groups", 1), attr_float("epsilon", 0.f)}, 1, 21);
  expect_near(floats(out[0]), {-3 * r, -r, 2 * r + 1, 6 * r + 1});
  out = run_node("InstanceNormalization", {f32({1, 2, 2}, {1, 3, 5, 9}), f32({2}, {1, 2}), f32({2}, {0, 1})},
                 {attr_float("epsilon", 0.f)}, 1, 6);
  expect_near(floats(out[0]), {-1, 1, -1, 3});
}

}  // namespace
}  // namespace edgeq
