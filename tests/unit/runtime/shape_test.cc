// Shape-family kernels against hand-computed values: one-node models run through the executor.
#include <gtest/gtest.h>

#include <map>

#include "edgeq/error.h"
#include "edgeq/ir/graph.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"

namespace edgeq {
namespace {

using namespace test;
using Attr = AttrSpec;

// One node `op` at `opset` with the given inputs (as graph inputs) and attributes; returns
// its outputs.
std::vector<Tensor> run_op(const std::string& op, int64_t opset, const std::vector<Tensor>& inputs,
                           const std::vector<Attr>& attrs = {}, size_t outputs = 1, int threads = 1) {
  return run_node(op, inputs, attrs, opset, "", threads, outputs);
}

TEST(ShapeKernels, ReshapeCopiesZeroAndInfersMinusOne) {
  auto out = run_op("Reshape", 14, {f32({2, 3, 4}, std::vector<float>(24, 1.0f)), i64({3}, {0, -1, 2})});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{2, 6, 2}));
  EXPECT_THROW(run_op("Reshape", 14, {f32({2, 3}, std::vector<float>(6)), i64({2}, {4, -1})}), Error);
}

TEST(ShapeKernels, TransposeDefaultReverses) {
  auto out = run_op("Transpose", 13, {f32({2, 3}, {1, 2, 3, 4, 5, 6})});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(ShapeKernels, SliceNegativeStepClamps) {
  auto out = run_op("Slice", 13,
                    {f32({5}, {0, 1, 2, 3, 4}), i64({1}, {100}), i64({1}, {-100}), i64({1}, {0}), i64({1}, {-2})});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{4, 2, 0}));
}

TEST(ShapeKernels, PadReflectEdgeWrapAndCrop) {
  const Tensor x = f32({3}, {1, 2, 3});
  auto pads = i64({2}, {2, 2});
  EXPECT_EQ(floats(run_op("Pad", 19, {x, pads}, {attr_str("mode", "reflect")})[0]),
            (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(floats(run_op("Pad", 19, {x, pads}, {attr_str("mode", "edge")})[0]),
            (std::vector<float>{1, 1, 1, 2, 3, 3, 3}));
  EXPECT_EQ(floats(run_op("Pad", 19, {x, pads}, {attr_str("mode", "wrap")})[0]),
            (std::vector<float>{2, 3, 1, 2, 3, 1, 2}));
  EXPECT_EQ(floats(run_op("Pad", 19, {x, i64({2}, {-1, 1}), f32({}, {9})})[0]), (std::vector<float>{2, 3, 9}));
  // Opset 2: pads and value are attributes.
  EXPECT_EQ(floats(run_op("Pad", 2, {x}, {attr_ints("pads", {1, 0}), attr_float("value", 7)})[0]),
            (std::vector<float>{7, 1, 2, 3}));
}

TEST(ShapeKernels, SplitUnevenWithNumOutputs) {
  auto out = run_op("Split", 18, {f32({5}, {1, 2, 3, 4, 5})}, {attr_int("num_outputs", 2)}, 2);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{4, 5}));
}

TEST(ShapeKernels, GatherWrapsNegativeAndRejectsOutOfRange) {
  auto out = run_op("Gather", 13, {f32({3, 2}, {1, 2, 3, 4, 5, 6}), i64({2}, {-1, 0})});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{5, 6, 1, 2}));
  EXPECT_THROW(run_op("Gather", 13, {f32({3, 2}, {1, 2, 3, 4, 5, 6}), i64({1}, {3})}), Error);
}

TEST(ShapeKernels, ScatterElementsReductions) {
  const Tensor data = f32({1, 3}, {1, 2, 3});
  const Tensor idx = i64({1, 2}, {1, 1});
  const Tensor upd = f32({1, 2}, {5, 7});
  EXPECT_EQ(floats(run_op("ScatterElements", 18, {data, idx, upd}, {attr_int("axis", 1), attr_str("reduction", "add")})[0]),
            (std::vector<float>{1, 14, 3}));
  EXPECT_EQ(floats(run_op("ScatterElements", 18, {data, idx, upd}, {attr_int("axis", 1), attr_str("reduction", "max")})[0]),
            (std::vector<float>{1, 7, 3}));
}

TEST(ShapeKernels, GatherNDBatchDims) {
  // data [2,2,2], indices [2,1] with batch_dims 1: out[b] = data[b, idx[b]].
  auto out = run_op("GatherND", 13, {f32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), i64({2, 1}, {1, 0})},
                    {attr_int("batch_dims", 1)});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{2, 3, 4, 5}));
}

TEST(ShapeKernels, ShapeStartEnd) {
  auto out = run_op("Shape", 15, {f32({2, 3, 4}, std::vector<float>(24))}, {attr_int("start", -2)});
  EXPECT_EQ(ints(out[0]), (std::vector<int64_t>{3, 4}));
}

TEST(ShapeKernels, ResizeLinearAsymmetricUpsample) {
  // 1-D along the last axis: [0, 2] upsampled x2 with asymmetric coordinates -> 0 1 2 2.
  Tensor empty = f32({0}, {});
  auto out = run_op("Resize", 13, {f32({1, 2}, {0, 2}), empty, f32({2}, {1, 2})},
                    {attr_str("mode", "linear"), attr_str("coordinate_transformation_mode", "asymmetric")});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{0, 1, 2, 2}));
}

TEST(ShapeKernels, DepthToSpaceInvertsSpaceToDepth) {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
  const Tensor x = f32({1, 1, 4, 4}, v);
  auto s2d = run_op("SpaceToDepth", 13, {x}, {attr_int("blocksize", 2)});
  EXPECT_EQ(s2d[0].dims(), (std::vector<int64_t>{1, 4, 2, 2}));
  auto back = run_op("DepthToSpace", 13, {s2d[0]}, {attr_int("blocksize", 2), attr_str("mode", "DCR")});
  EXPECT_EQ(floats(back[0]), v);
}

// Expected values below come from evaluating the ONNX reference algorithm (op_resize.py) by hand.
std::vector<float> iota16() {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i + 1);
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << "element " << i;
}

TEST(ShapeKernels, ResizeAntialiasDownscale) {
  const Tensor x = f32({1, 1, 4, 4}, iota16());
  const Tensor scales = f32({4}, {1, 1, 0.6f, 0.6f});
  const Tensor empty = f32({0}, {});
  auto lin = run_op("Resize", 18, {x, empty, scales}, {attr_str("mode", "linear"), attr_int("antialias", 1)});
  expect_near(floats(lin[0]), {2.875f, 4.5f, 9.375f, 11.0f});
  auto cub = run_op("Resize", 18, {x, empty, scales}, {attr_str("mode", "cubic"), attr_int("antialias", 1)});
  expect_near(floats(cub[0]), {2.5180723f, 4.2858864f, 9.5893287f, 11.357143f});
  auto cub3 = run_op("Resize", 18, {x, empty, empty, i64({4}, {1, 1, 3, 3})},
                     {attr_str("mode", "cubic"), attr_int("antialias", 1)});
  expect_near(floats(cub3[0]), {1.7750092f, 3.1200073f, 4.4650055f, 7.1550018f, 8.5f, 9.8449982f, 12.534995f,
                                13.879993f, 15.224991f});
}

TEST(ShapeKernels, ResizeHalfPixelSymmetricAndAxes) {
  const Tensor x = f32({1, 1, 4, 4}, iota16());
  const Tensor empty = f32({0}, {});
  // Only axis 3 is resized (axes attribute, opset 19), by 0.6: output width floor(2.4) = 2.
  auto out = run_op("Resize", 19, {x, empty, f32({1}, {0.6f})},
                    {attr_str("mode", "linear"), attr_ints("axes", {3}),
                     attr_str("coordinate_transformation_mode", "half_pixel_symmetric")});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 4, 2}));
  expect_near(floats(out[0]), {1.6666666f, 3.3333333f, 5.6666666f, 7.3333333f, 9.6666666f, 11.333333f,
                               13.666667f, 15.333333f});
}

TEST(ShapeKernels, ResizeKeepAspectRatioNotLarger) {
  // sizes [1, 3] on [2, 4] -> scales 0.5 / 0.75 -> 0.5 for both -> output [1, 2].
  const Tensor x = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto out = run_op("Resize", 18, {x, f32({0}, {}), f32({0}, {}), i64({2}, {1, 3})},
                    {attr_ints("axes", {2, 3}), attr_str("keep_aspect_ratio_policy", "not_larger")});
  EXPECT_EQ(out[0].dims(), (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 3}));
}

TEST(ShapeKernels, ScatterNDMinAndPadAxes) {
  auto sc = run_op("ScatterND", 18, {f32({4}, {5, 5, 5, 5}), i64({2, 1}, {1, 1}), f32({2}, {7, 2})},
                   {attr_str("reduction", "min")});
  EXPECT_EQ(floats(sc[0]), (std::vector<float>{5, 2, 5, 5}));
  // Pad-18 with axes: only axis -1 padded by (1, 2) with 0.
  auto pd = run_op("Pad", 18, {f32({2, 1}, {1, 2}), i64({2}, {1, 2}), f32({}, {0}), i64({1}, {-1})});
  EXPECT_EQ(pd[0].dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(floats(pd[0]), (std::vector<float>{0, 1, 0, 0, 0, 2, 0, 0}));
}

TEST(ShapeKernels, StringsMoveLikeAnyDtype) {
  const Tensor s({2, 2}, std::vector<std::string>{"a", "b", "c", "d"});
  auto t = run_op("Transpose", 13, {s});
  EXPECT_EQ(t[0].strings(), (std::vector<std::string>{"a", "c", "b", "d"}));
  auto g = run_op("Gather", 13, {s, i64({1}, {1})}, {attr_int("axis", 1)});
  EXPECT_EQ(g[0].strings(), (std::vector<std::string>{"b", "d"}));
}

TEST(ShapeKernels, LargeCopiesDoNotDependOnThreads) {
  std::vector<float> v(2 * 3 * 96 * 80);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 1000) / 7.0f;
  const Tensor x = f32({2, 3, 96, 80}, v);
  const Tensor empty = f32({0}, {});
  const Tensor scales = f32({4}, {1, 1, 1.7f, 0.45f});
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    auto one = run_op("Resize", 13, {x, empty, scales}, {attr_str("mode", mode)}, 1, 1);
    auto four = run_op("Resize", 13, {x, empty, scales}, {attr_str("mode", mode)}, 1, 4);
    EXPECT_EQ(floats(one[0]), floats(four[0])) << mode;
  }
  auto t1 = run_op("Transpose", 13, {x}, {attr_ints("perm", {3, 1, 0, 2})}, 1, 1);
  auto t4 = run_op("Transpose", 13, {x}, {attr_ints("perm", {3, 1, 0, 2})}, 1, 4);
  EXPECT_EQ(floats(t1[0]), floats(t4[0]));
  // Transposing back restores the input.
  auto back = run_op("Transpose", 13, {t4[0]}, {attr_ints("perm", {2, 1, 3, 0})}, 1, 4);
  EXPECT_EQ(floats(back[0]), v);
}

}  // namespace
}  // namespace edgeq
