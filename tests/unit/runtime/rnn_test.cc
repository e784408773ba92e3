// RNN/GRU/LSTM, control-flow (If, Loop, Scan, optionals) and sequence kernels against
// hand-computed values: one-node models, some with small Identity/Constant subgraphs, run
// through the executor. Sizes are tiny and activations piecewise linear where possible so the
// expected values are exact.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "edgeq/error.h"
#include "edgeq/ir/graph.h"
#include "edgeq/runtime/executor.h"
#include "kernel_test_util.h"

namespace edgeq {
namespace {

Tensor boolean(bool b) {
  Tensor t = Tensor::allocate(DType::kBool, {});
  t.mutable_values<bool>()[0] = b;
  return t;
}

using namespace test;
using Attr = AttrSpec;

// One node `op` at `opset`; inputs that are std::nullopt are omitted ("" in the model).
std::vector<RtValue> run_node(const std::string& op, int64_t opset, const std::vector<std::optional<RtValue>>& inputs,
                              const std::vector<Attr>& attrs, size_t outputs, int threads = 1) {
  return run_node_values(op, inputs, attrs, opset, "", threads, outputs);
}

// A body of Identity nodes: inputs named in_names, output k = Identity(input source[k]).
GraphBuilder identity_body(std::vector<std::string> in_names, std::vector<size_t> source) {
  return [in_names, source](Graph& g) {
    std::vector<Value*> ins;
    for (const std::string& n : in_names) {
      ins.push_back(g.add_value(n));
      g.add_input(ins.back());
    }
    for (size_t k = 0; k < source.size(); ++k) {
      Value* out = g.add_value("o" + std::to_string(k));
      g.add_node("Identity", "", {ins[source[k]]}, {out});
      g.add_output(out);
    }
  };
}

// ---- RNN / GRU / LSTM ----

// Bidirectional ReLU RNN, W = 1, R = 0.5, sequence_lens {3, 2}:
//   forward  b0: 1, 2+0.5*1 = 2.5, 3+0.5*2.5 = 4.25      b1: 10, 20+5 = 25, (pad)
//   reverse  b0 (t=2,1,0): 3, 2+1.5 = 3.5, 1+1.75 = 2.75  b1 (t=1,0): 20, 10+10 = 20
TEST(RnnKernels, BidirectionalRnnWithSequenceLens) {
  std::vector<Attr> attrs{attr_int("hidden_size", 1), attr_str("direction", "bidirectional"), attr_strs("activations", {"Relu", "Relu"})};
  auto out = run_node("RNN", 14,
                      {RtValue(f32({3, 2, 1}, {1, 10, 2, 20, 3, 30})), RtValue(f32({2, 1, 1}, {1, 1})),
                       RtValue(f32({2, 1, 1}, {0.5f, 0.5f})), std::nullopt, RtValue(i32({2}, {3, 2}))},
                      attrs, 2);
  EXPECT_EQ(out[0].tensor.dims(), (std::vector<int64_t>{3, 2, 2, 1}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 10, 2.75f, 20, 2.5f, 25, 3.5f, 20, 4.25f, 0, 3, 0}));
  EXPECT_EQ(out[1].tensor.dims(), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{4.25f, 25, 2.75f, 20}));

  // The same in layout 1: X [batch, seq, input], Y [batch, seq, dirs, hidden], Y_h [batch, dirs, hidden].
  attrs.push_back(attr_int("layout", 1));
  out = run_node("RNN", 14,
                 {RtValue(f32({2, 3, 1}, {1, 2, 3, 10, 20, 30})), RtValue(f32({2, 1, 1}, {1, 1})),
                  RtValue(f32({2, 1, 1}, {0.5f, 0.5f})), std::nullopt, RtValue(i32({2}, {3, 2}))},
                 attrs, 2);
  EXPECT_EQ(out[0].tensor.dims(), (std::vector<int64_t>{2, 3, 2, 1}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 2.75f, 2.5f, 3.5f, 4.25f, 3, 10, 20, 25, 20, 0, 0}));
  EXPECT_EQ(out[1].tensor.dims(), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{4.25f, 2.75f, 25, 20}));
}

TEST(RnnKernels, DoubleAndThreadCountIndependent) {
  std::vector<Attr> attrs{attr_int("hidden_size", 1), attr_str("direction", "reverse"), attr_strs("activations", {"Relu"})};
  auto out = run_node("RNN", 7, {RtValue(f64({3, 1, 1}, {1, 2, 3})), RtValue(f64({1, 1, 1}, {1})), RtValue(f64({1, 1, 1}, {0.5}))},
                      attrs, 2, 4);
  auto y = out[0].tensor.values<double>();
  EXPECT_EQ(std::vector<double>(y.begin(), y.end()), (std::vector<double>{2.75, 3.5, 3}));
}

// GRU, hidden 1: f = Affine(0.5, 0.5), g = Affine(1, 0) (alphas/betas consumed in order).
// Wz = 0, Wr = -0.5, Wh = 1; R = [0, 0, 2]; Rbh = 1; x = 1, h0 = 1:
//   z = f(0) = 0.5, r = f(-0.5) = 0.25
//   linear_before_reset = 0: h~ = 1 + (0.25*1)*2 + 1 = 2.5;     H = 0.5*2.5 + 0.5*1 = 1.75
//   linear_before_reset = 1: h~ = 1 + 0.25*(1*2 + 1) = 1.75;    H = 0.5*1.75 + 0.5 = 1.375
TEST(RnnKernels, GruLinearBeforeResetAndAffineActivations) {
  for (int lbr : {0, 1}) {
    auto out = run_node("GRU", 14,
                        {RtValue(f32({1, 1, 1}, {1})), RtValue(f32({1, 3, 1}, {0, -0.5f, 1})), RtValue(f32({1, 3, 1}, {0, 0, 2})),
                         RtValue(f32({1, 6}, {0, 0, 0, 0, 0, 1})), std::nullopt, RtValue(f32({1, 1, 1}, {1}))},
                        {attr_int("hidden_size", 1), attr_int("linear_before_reset", lbr), attr_strs("activations", {"Affine", "Affine"}),
                         attr_floats("activation_alpha", {0.5f, 1}), attr_floats("activation_beta", {0.5f, 0})},
                        2);
    EXPECT_EQ(floats(out[1]), (std::vector<float>{lbr ? 1.375f : 1.75f})) << "linear_before_reset " << lbr;
  }
}

// LSTM, hidden 1, f = Affine(0.5, 0.5), g = Relu, h = Affine(1, 0); W = 1 for every gate,
// R = 0, x = 1, h0 = 0, c0 = 2, P = [pi 0.5, po 0.25, pf -0.5]:
//   i = f(1 + 0.5*2) = 1.5, f = f(1 - 0.5*2) = 0.5, c~ = 1, C = 0.5*2 + 1.5*1 = 2.5,
//   o = f(1 + 0.25*2.5) = 1.3125, H = 1.3125*2.5 = 3.28125
// input_forget = 1: f = 1 - i = -0.5, C = -1 + 1.5 = 0.5, o = f(1.125) = 1.0625, H = 0.53125
// clip = 1.5: i = f(1.5) = 1.25, C = 1 + 1.25 = 2.25, o = f(min(1.5625, 1.5)) = 1.25, H = 2.8125
TEST(RnnKernels, LstmPeepholesInputForgetAndClip) {
  auto run = [](std::vector<Attr> extra) {
    std::vector<Attr> attrs{attr_int("hidden_size", 1), attr_strs("activations", {"Affine", "Relu", "Affine"}),
                            attr_floats("activation_alpha", {0.5f, 1}), attr_floats("activation_beta", {0.5f, 0})};
    attrs.insert(attrs.end(), extra.begin(), extra.end());
    return run_node("LSTM", 14,
                    {RtValue(f32({1, 1, 1}, {1})), RtValue(f32({1, 4, 1}, {1, 1, 1, 1})), RtValue(f32({1, 4, 1}, {0, 0, 0, 0})),
                     std::nullopt, std::nullopt, RtValue(f32({1, 1, 1}, {0})), RtValue(f32({1, 1, 1}, {2})),
                     RtValue(f32({1, 3}, {0.5f, 0.25f, -0.5f}))},
                    attrs, 3);
  };
  auto out = run({});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{3.28125f}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{3.28125f}));
  EXPECT_EQ(floats(out[2]), (std::vector<float>{2.5f}));
  out = run({attr_int("input_forget", 1)});
  EXPECT_EQ(floats(out[1]), (std::vector<float>{0.53125f}));
  EXPECT_EQ(floats(out[2]), (std::vector<float>{0.5f}));
  out = run({attr_float("clip", 1.5f)});
  EXPECT_EQ(floats(out[1]), (std::vector<float>{2.8125f}));
  EXPECT_EQ(floats(out[2]), (std::vector<float>{2.25f}));
}

TEST(RnnKernels, BadShapesFail) {
  // W says hidden 2 but hidden_size says 1.
  EXPECT_THROW(run_node("RNN", 14, {RtValue(f32({1, 1, 1}, {1})), RtValue(f32({1, 2, 1}, {1, 1})), RtValue(f32({1, 1, 1}, {1}))},
                        {attr_int("hidden_size", 1)}, 1),
               Error);
  EXPECT_THROW(run_node("RNN", 14, {RtValue(f32({1, 1, 1}, {1})), RtValue(f32({1, 1, 1}, {1})), RtValue(f32({1, 1, 1}, {1}))},
                        {attr_int("hidden_size", 1), attr_strs("activations", {"Swish"})}, 1),
               Error);
}

// ---- control flow ----

TEST(ControlFlowKernels, IfPicksBranch) {
  auto constant_branch = [](float v) {
    return [v](Graph& g) {
      Value* out = g.add_value("c");
      Node* n = g.add_node("Constant", "", {}, {out});
      Attribute a;
      a.name = "value";
      a.type = AttrType::kTensor;
      a.tensors.push_back(f32({1}, {v}));
      n->attributes().push_back(std::move(a));
      g.add_output(out);
    };
  };
  for (bool c : {true, false}) {
    auto out = run_node("If", 16, {RtValue(boolean(c))},
                        {attr_graph("then_branch", constant_branch(1)), attr_graph("else_branch", constant_branch(2))}, 1);
    EXPECT_EQ(floats(out[0]), (std::vector<float>{c ? 1.0f : 2.0f}));
  }
}

// Loop body (i, cond, v) -> (cond, i, i): the carried value ends as the last index and the scan
// output stacks every index.
TEST(ControlFlowKernels, LoopTripCountAndZeroIterations) {
  auto body = identity_body({"i", "cond", "v"}, {1, 0, 0});
  auto out = run_node("Loop", 16, {RtValue(i64({}, {3})), std::nullopt, RtValue(i64({}, {-1}))}, {attr_graph("body", body)}, 2);
  EXPECT_EQ(ints(out[0].tensor), (std::vector<int64_t>{2}));
  EXPECT_EQ(out[1].tensor.dims(), (std::vector<int64_t>{3}));
  EXPECT_EQ(ints(out[1].tensor), (std::vector<int64_t>{0, 1, 2}));

  // cond = false: no iteration; the carried value passes through, the scan output is empty.
  out = run_node("Loop", 16, {RtValue(i64({}, {3})), RtValue(boolean(false)), RtValue(i64({}, {-1}))},
                 {attr_graph("body", body)}, 2);
  EXPECT_EQ(ints(out[0].tensor), (std::vector<int64_t>{-1}));
  EXPECT_EQ(out[1].tensor.element_count(), 0u);
}

// Scan 9+: state and both scan outputs are the current element. X [2,3] scanned along axis 1
// in reverse: elements [3,6], [2,5], [1,4]. Output 1 is prepended along axis 1 (giving X back);
// output 2 is appended along axis 0.
TEST(ControlFlowKernels, ScanAxesAndDirections) {
  auto out = run_node("Scan", 16, {RtValue(f32({2}, {0, 0})), RtValue(f32({2, 3}, {1, 2, 3, 4, 5, 6}))},
                      {attr_graph("body", identity_body({"s", "x"}, {1, 1, 1})), attr_int("num_scan_inputs", 1),
                       attr_ints("scan_input_axes", {1}), attr_ints("scan_input_directions", {1}),
                       attr_ints("scan_output_axes", {1, 0}), attr_ints("scan_output_directions", {1, 0})},
                      3);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 4}));
  EXPECT_EQ(out[1].tensor.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out[2].tensor.dims(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(floats(out[2]), (std::vector<float>{3, 6, 2, 5, 1, 4}));
}

// Scan 8: batch axis 0, sequence axis 1, sequence_lens {2, 1}; short sequences are padded.
TEST(ControlFlowKernels, Scan8BatchesAndSequenceLens) {
  auto out = run_node("Scan", 8, {RtValue(i64({2}, {2, 1})), RtValue(f32({2, 1}, {0, 0})), RtValue(f32({2, 2, 1}, {1, 2, 3, 4}))},
                      {attr_graph("body", identity_body({"s", "x"}, {1, 1})), attr_int("num_scan_inputs", 1)}, 2);
  EXPECT_EQ(out[0].tensor.dims(), (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(floats(out[0]), (std::vector<float>{2, 3}));
  EXPECT_EQ(out[1].tensor.dims(), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 2, 3, 0}));
}

TEST(ControlFlowKernels, Optionals) {
  auto none = run_node("Optional", 15, {std::nullopt}, {}, 1);
  EXPECT_EQ(none[0].kind, RtValue::Kind::kNone);
  auto some = run_node("Optional", 15, {RtValue(f32({1}, {5}))}, {}, 1);
  EXPECT_EQ(floats(some[0]), (std::vector<float>{5}));
  EXPECT_TRUE(run_node("OptionalHasElement", 15, {RtValue(f32({1}, {5}))}, {}, 1)[0].tensor.values<bool>()[0]);
  EXPECT_FALSE(run_node("OptionalHasElement", 15, {RtValue::none()}, {}, 1)[0].tensor.values<bool>()[0]);
  EXPECT_FALSE(run_node("OptionalHasElement", 18, {std::nullopt}, {}, 1)[0].tensor.values<bool>()[0]);
  EXPECT_THROW(run_node("OptionalGetElement", 15, {RtValue::none()}, {}, 1), Error);
}

// ---- sequences ----

RtValue seq(std::vector<Tensor> items) { return RtValue::make_sequence(std::move(items)); }

TEST(SequenceKernels, InsertEraseAtWithNegativePositions) {
  const RtValue s = seq({f32({1}, {1}), f32({1}, {2})});
  auto out = run_node("SequenceInsert", 11, {s, RtValue(f32({1}, {9})), RtValue(i64({}, {-1}))}, {}, 1);
  ASSERT_EQ(out[0].sequence.size(), 3u);
  EXPECT_EQ(out[0].sequence[1].values<float>()[0], 9);
  out = run_node("SequenceErase", 11, {s, RtValue(i32({}, {-2}))}, {}, 1);
  ASSERT_EQ(out[0].sequence.size(), 1u);
  EXPECT_EQ(out[0].sequence[0].values<float>()[0], 2);
  out = run_node("SequenceAt", 11, {s, RtValue(i64({}, {-1}))}, {}, 1);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{2}));
  EXPECT_THROW(run_node("SequenceAt", 11, {s, RtValue(i64({}, {2}))}, {}, 1), Error);
  out = run_node("SequenceLength", 11, {s}, {}, 1);
  EXPECT_EQ(ints(out[0].tensor), (std::vector<int64_t>{2}));
}

TEST(SequenceKernels, SplitToSequenceAndConcatBack) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // Scalar split 2 on axis 1: pieces of width 2 and 1.
  auto out = run_node("SplitToSequence", 11, {RtValue(x), RtValue(i64({}, {2}))}, {attr_int("axis", 1)}, 1);
  ASSERT_EQ(out[0].sequence.size(), 2u);
  EXPECT_EQ(out[0].sequence[0].dims(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(out[0].sequence[1].dims(), (std::vector<int64_t>{2, 1}));
  auto back = run_node("ConcatFromSequence", 11, {out[0]}, {attr_int("axis", -1)}, 1);
  EXPECT_EQ(back[0].tensor.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(back[0]), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  // No split, keepdims 0: rows of shape [3]; stacking them on a new last axis transposes.
  out = run_node("SplitToSequence", 11, {RtValue(x)}, {attr_int("keepdims", 0)}, 1);
  ASSERT_EQ(out[0].sequence.size(), 2u);
  EXPECT_EQ(out[0].sequence[0].dims(), (std::vector<int64_t>{3}));
  back = run_node("ConcatFromSequence", 11, {out[0]}, {attr_int("axis", 1), attr_int("new_axis", 1)}, 1);
  EXPECT_EQ(back[0].tensor.dims(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(floats(back[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));

  // 1-D split must add up to the axis length.
  EXPECT_THROW(run_node("SplitToSequence", 11, {RtValue(x), RtValue(i64({2}, {1, 1}))}, {attr_int("axis", 1)}, 1), Error);
}

TEST(SequenceKernels, SequenceMapPairsSequenceAndTensorInputs) {
  // Body (x, t) -> (t, x): output 0 repeats the tensor input per element, output 1 copies the sequence.
  auto out = run_node("SequenceMap", 17, {seq({f32({1}, {1}), f32({2}, {2, 3})}), RtValue(f32({1}, {7}))},
                      {attr_graph("body", identity_body({"x", "t"}, {1, 0}))}, 2);
  ASSERT_EQ(out[0].sequence.size(), 2u);
  EXPECT_EQ(out[0].sequence[1].values<float>()[0], 7);
  ASSERT_EQ(out[1].sequence.size(), 2u);
  EXPECT_EQ(out[1].sequence[1].dims(), (std::vector<int64_t>{2}));
}

}  // namespace
}  // namespace edgeq
