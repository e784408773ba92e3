// Shape-family kernels against hand-computed values: one-node models run through the executor.
#include <gtest/gtest.h>

#include <map>

#include "edgeq/error.h"
#include "edgeq/ir/graph.h"
#include "edgeq/runtime/executor.h"

namespace edgeq {
namespace {

Tensor f32(std::vector<int64_t> dims, std::vector<float> v) {
  return Tensor::from_values<float>(DType::kFloat, std::move(dims), std::span<const float>(v));
}
Tensor i64(std::vector<int64_t> dims, std::vector<int64_t> v) {
  return Tensor::from_values<int64_t>(DType::kInt64, std::move(dims), std::span<const int64_t>(v));
}

// One node `op` at `opset` with the given inputs (as graph inputs) and attributes; returns
// its outputs.
std::vector<Tensor> run_op(const std::string& op, int64_t opset, const std::vector<Tensor>& inputs,
                           std::vector<Attribute> attrs = {}, size_t outputs = 1) {
  Model model;
  model.ir_version = 8;
  model.opset_imports.push_back({"", opset});
  model.graph = std::make_unique<Graph>();
  Graph& g = *model.graph;
  std::vector<Value*> ins, outs;
  std::map<std::string, RtValue> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Value* v = g.add_value("in" + std::to_string(i));
    g.add_input(v);
    ins.push_back(v);
    feeds["in" + std::to_string(i)] = RtValue(inputs[i]);
  }
  for (size_t i = 0; i < outputs; ++i) {
    Value* v = g.add_value("out" + std::to_string(i));
    outs.push_back(v);
  }
  Node* node = g.add_node(op, "", ins, outs);
  for (auto& a : attrs) node->attributes().push_back(std::move(a));
  for (Value* v : outs) g.add_output(v);
  Executor ex(model, ExecutorOptions{1});
  std::vector<Tensor> result;
  for (auto& [name, value] : ex.run(feeds)) result.push_back(value.tensor);
  return result;
}

Attribute attr_int(const std::string& name, int64_t v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kInt;
  a.i = v;
  return a;
}
Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute attr_str(const std::string& name, const std::string& v) {
  Attribute a;
  a.name = name;
  a.type = AttrType::kString;
  a.s = v;
  return a;
}

std::vector<float> floats(const Tensor& t) {
  auto v = t.values<float>();
  return {v.begin(), v.end()};
}
std::vector<int64_t> ints(const Tensor& t) {
  auto v = t.values<int64_t>();
  return {v.begin(), v.end()};
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
  Attribute value;
  value.name = "value";
  value.type = AttrType::kFloat;
  value.f = 7;
  EXPECT_EQ(floats(run_op("Pad", 2, {x}, {attr_ints("pads", {1, 0}), value})[0]), (std::vector<float>{7, 1, 2, 3}));
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

}  // namespace
}  // namespace edgeq
