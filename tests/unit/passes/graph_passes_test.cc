// The graph preparation passes: each one runs on a model where it applies, and the model must
// compute the same outputs on the executor before and after (within kRelTolerance), with the
// structural effect the pass promises (ops gone, names kept, no dead initializers left).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../ir/test_util.h"
#include "../runtime/kernel_test_util.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/pass.h"
#include "edgeq/runtime/executor.h"

namespace edgeq::test {
namespace {

// Issue #4: "outputs equal within 1e-5 relative (max abs diff ÷ max abs value)". Folding
// reassociates float arithmetic (w·s instead of (w·x)·s), so bitwise equality is not expected.
constexpr double kRelTolerance = 1e-5;

using Feeds = std::map<std::string, RtValue>;

// ---- building and inspecting models ----

struct Builder {
  Model model;
  Graph* g;
  explicit Builder(int64_t opset = 17) {
    model.ir_version = 8;
    model.opset_imports.push_back({"", opset});
    model.graph = std::make_unique<Graph>();
    model.graph->name = "test";
    g = model.graph.get();
  }
  Value* input(const std::string& name, std::vector<int64_t> dims, DType dtype = DType::kFloat) {
    Value* v = g->add_value(name);
    v->info.present = v->info.has_type = true;
    v->info.type_kind = "tensor";
    TensorType t;
    t.elem = dtype;
    std::vector<Dim> shape;
    for (int64_t d : dims) shape.push_back(Dim{d, "", ""});
    t.shape = shape;
    v->info.tensor = t;
    g->add_input(v);
    return v;
  }
  Value* init(const std::string& name, Tensor t) { return g->add_initializer(name, std::move(t)); }
  std::vector<Value*> node(const std::string& op, std::vector<Value*> ins, std::vector<std::string> outs,
                           std::vector<Attribute> attrs = {}, Graph* where = nullptr) {
    Graph& target = where ? *where : *g;
    std::vector<Value*> out_values;
    for (const auto& o : outs) out_values.push_back(o.empty() ? nullptr : target.add_value(o));
    Node* n = target.add_node(op, "", ins, out_values);
    n->set_name(op + "_" + (outs.empty() ? std::string() : outs[0]));
    for (auto& a : attrs) n->attributes().push_back(std::move(a));
    return out_values;
  }
  Value* op(const std::string& op, std::vector<Value*> ins, const std::string& out,
            std::vector<Attribute> attrs = {}) {
    return node(op, std::move(ins), {out}, std::move(attrs))[0];
  }
  // A graph output typed float when nothing says more; `dims` matter to tests that save the model
  // (the checker wants main-graph outputs typed, with a shape).
  void output(Value* v, std::optional<std::vector<int64_t>> dims = std::nullopt) {
    if (!v->info.has_type) {
      v->info.present = v->info.has_type = true;
      v->info.type_kind = "tensor";
      v->info.tensor = TensorType{DType::kFloat, std::nullopt};
      if (dims) {
        v->info.tensor->shape.emplace();
        for (int64_t d : *dims) v->info.tensor->shape->push_back(Dim{d, "", ""});
      }
    }
    g->add_output(v);
  }
};

// Attributes own subgraphs, so they move into the list (an initializer_list would copy).
template <class... A>
std::vector<Attribute> attrs(A&&... a) {
  std::vector<Attribute> v;
  (v.push_back(std::forward<A>(a)), ...);
  return v;
}

// Uniform values in [lo, hi) from a fixed seed: the same numbers on every run.
Tensor random_f32(std::vector<int64_t> dims, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return f32(std::move(dims), v);
}

std::vector<RtValue> run(const Model& m, const Feeds& feeds) {
  Executor ex(m, {2});
  std::vector<RtValue> out;
  for (auto& [name, v] : ex.run(feeds)) out.push_back(std::move(v));
  return out;
}

// max |a - b| ÷ max |a| over every element of every output (a: before, b: after).
double rel_diff(const std::vector<RtValue>& a, const std::vector<RtValue>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    std::vector<const Tensor*> ta, tb;
    if (a[i].kind == RtValue::Kind::kTensor) ta.push_back(&a[i].tensor);
    for (const auto& t : a[i].sequence) ta.push_back(&t);
    if (b[i].kind == RtValue::Kind::kTensor) tb.push_back(&b[i].tensor);
    for (const auto& t : b[i].sequence) tb.push_back(&t);
    EXPECT_EQ(ta.size(), tb.size());
    for (size_t k = 0; k < std::min(ta.size(), tb.size()); ++k) {
      EXPECT_EQ(ta[k]->dtype(), tb[k]->dtype());
      EXPECT_EQ(ta[k]->dims(), tb[k]->dims());
      if (ta[k]->dims() != tb[k]->dims()) return INFINITY;
      for (size_t e = 0; e < ta[k]->element_count(); ++e) {
        const double x = element_as_double(*ta[k], e), y = element_as_double(*tb[k], e);
        if (std::isnan(x) && std::isnan(y)) continue;
        diff = std::max(diff, std::abs(x - y));
        scale = std::max(scale, std::abs(x));
      }
    }
  }
  return scale == 0 ? diff : diff / scale;
}

int count_ops(const Model& m, const std::string& op) {
  int n = 0;
  m.graph->for_each_graph([&](const Graph& g) {
    for (const auto& node : g.nodes()) n += node->op_type() == op;
  });
  return n;
}

// Constant nodes fold_constants must have turned into initializers: all but those producing a
// graph output (which stay produced by a node).
int foldable_constants(const Model& m) {
  int n = 0;
  m.graph->for_each_graph([&](const Graph& g) {
    for (const auto& node : g.nodes()) {
      const auto& outs = g.outputs();
      n += node->op_type() == "Constant" && std::find(outs.begin(), outs.end(), node->output(0)) == outs.end();
    }
  });
  return n;
}

int count_nodes(const Graph& g) { return static_cast<int>(g.nodes().size()); }

std::vector<std::string> names(const std::vector<Value*>& values) {
  std::vector<std::string> out;
  for (const Value* v : values) out.push_back(v->name());
  return out;
}

// Initializers that nothing reads and that are not interface, in any graph.
std::vector<std::string> dead_initializers(const Model& m) {
  std::vector<std::string> dead;
  m.graph->for_each_graph([&](const Graph& g) {
    for (const Value* v : g.initializers()) {
      auto listed = [&](const std::vector<Value*>& l) { return std::find(l.begin(), l.end(), v) != l.end(); };
      if (v->uses().empty() && !listed(g.inputs()) && !listed(g.outputs())) dead.push_back(v->name());
    }
  });
  return dead;
}

PassResult run_one(const std::string& name, Model& m, std::vector<std::string>* warnings = nullptr) {
  PassContext ctx;
  ctx.threads = 2;
  PassResult r = run_pass(name, m, ctx);
  if (warnings) *warnings = ctx.warnings;
  return r;
}

// Saves and loads the model (libonnx checker included): what the passes write is a valid file.
Model round_trip(const Model& m, const TempDir& dir, const std::string& file) {
  save_model(m, dir.file(file), {});
  return load_model(dir.file(file));
}

Feeds fmnist_feeds(uint32_t seed, int64_t batch = 4) {
  return {{"image", random_f32({batch, 1, 28, 28}, seed, -1.f, 2.f)}};
}

std::string model_path(const std::string& name) { return source_dir() + "/models/" + name; }

// ---- fold_batchnorm ----

TEST(FoldBatchnorm, FoldsAllNineOfTheFashionMnistCnn) {
  Model m = load_model(model_path("fmnist_cnn.onnx"));
  ASSERT_EQ(count_ops(m, "BatchNormalization"), 9);
  const int nodes = count_nodes(*m.graph);
  const size_t inits = m.graph->initializers().size();
  const auto ins = names(m.graph->inputs()), outs = names(m.graph->outputs());
  const Feeds feeds = fmnist_feeds(1);
  auto before = run(m, feeds);

  PassResult r = run_one("fold_batchnorm", m);
  EXPECT_EQ(r.changes, 9);
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 0);
  EXPECT_EQ(count_ops(m, "Conv"), 9);
  EXPECT_EQ(count_nodes(*m.graph), nodes - 9);
  // Each BatchNormalization had 4 parameters and its Conv no bias: 4 dropped, 1 bias added, the
  // weight replaced (old one dropped, new one added).
  EXPECT_EQ(m.graph->initializers().size(), inits - 9 * 3);
  EXPECT_TRUE(dead_initializers(m).empty());
  EXPECT_EQ(names(m.graph->inputs()), ins);
  EXPECT_EQ(names(m.graph->outputs()), outs);
  EXPECT_LE(rel_diff(before, run(m, feeds)), kRelTolerance);

  TempDir dir;
  Model reloaded = round_trip(m, dir, "folded.onnx");
  EXPECT_LE(rel_diff(before, run(reloaded, feeds)), kRelTolerance);
  EXPECT_EQ(count_ops(reloaded, "BatchNormalization"), 0);
}

// BatchNormalization params for `c` channels with a positive variance.
void add_bn_params(Builder& b, const std::string& p, int64_t c, uint32_t seed) {
  b.init(p + "_scale", random_f32({c}, seed, 0.5f, 1.5f));
  b.init(p + "_B", random_f32({c}, seed + 1));
  b.init(p + "_mean", random_f32({c}, seed + 2));
  b.init(p + "_var", random_f32({c}, seed + 3, 0.2f, 2.f));
}
Value* bn(Builder& b, Value* x, const std::string& p, const std::string& out) {
  return b.op("BatchNormalization",
              {x, b.g->find_value(p + "_scale"), b.g->find_value(p + "_B"), b.g->find_value(p + "_mean"),
               b.g->find_value(p + "_var")},
              out, attrs(Attribute::of_float("epsilon", 1e-3f)));
}

// Folds, then checks the outputs against the unfolded model and the interface.
void expect_folds(Model& m, const Feeds& feeds, int expected) {
  const auto outs = names(m.graph->outputs());
  auto before = run(m, feeds);
  PassResult r = run_one("fold_batchnorm", m);
  EXPECT_EQ(r.changes, expected) << r.summary;
  EXPECT_EQ(count_ops(m, "BatchNormalization"), 0);
  EXPECT_TRUE(dead_initializers(m).empty());
  EXPECT_EQ(names(m.graph->outputs()), outs);
  EXPECT_LE(rel_diff(before, run(m, feeds)), kRelTolerance);
}

TEST(FoldBatchnorm, GroupedConvWithBiasAndTheBatchnormOutputAsGraphOutput) {
  Builder b;
  Value* x = b.input("x", {2, 4, 6, 6});
  b.init("w", random_f32({6, 2, 3, 3}, 10));  // group 2: [M=6, C/g=2, 3, 3]
  b.init("bias", random_f32({6}, 11));
  add_bn_params(b, "bn", 6, 12);
  Value* c = b.op("Conv", {x, b.g->find_value("w"), b.g->find_value("bias")}, "conv",
                  attrs(Attribute::of_int("group", 2), Attribute::of_ints("pads", {1, 1, 1, 1})));
  b.output(bn(b, c, "bn", "y"));
  expect_folds(b.model, {{"x", random_f32({2, 4, 6, 6}, 13)}}, 1);
  // The graph output is still called y and is now produced by the Conv.
  EXPECT_EQ(b.g->outputs()[0]->producer()->op_type(), "Conv");
}

TEST(FoldBatchnorm, ConvTransposeWithGroupsUsesTheTransposedWeightLayout) {
  Builder b;
  Value* x = b.input("x", {1, 4, 5, 5});
  // ConvTranspose weights are [Cin, Cout/g, k, k]: Cin 4, group 2, Cout 6.
  b.init("w", random_f32({4, 3, 3, 3}, 20));
  add_bn_params(b, "bn", 6, 21);
  Value* c = b.op("ConvTranspose", {x, b.g->find_value("w")}, "deconv",
                  attrs(Attribute::of_int("group", 2), Attribute::of_ints("strides", {2, 2})));
  b.output(b.op("Relu", {bn(b, c, "bn", "bn_out")}, "y"));
  expect_folds(b.model, {{"x", random_f32({1, 4, 5, 5}, 22)}}, 1);
}

TEST(FoldBatchnorm, GemmWithTransBBetaAndBroadcastBias) {
  Builder b;
  Value* x = b.input("x", {3, 5});
  b.init("w", random_f32({4, 5}, 30));  // transB: [N=4, K=5]
  b.init("c", random_f32({1, 4}, 31));
  add_bn_params(b, "bn", 4, 32);
  Value* y = b.op("Gemm", {x, b.g->find_value("w"), b.g->find_value("c")}, "gemm",
                  attrs(Attribute::of_int("transB", 1), Attribute::of_float("alpha", 0.7f), Attribute::of_float("beta", 0.5f)));
  b.output(bn(b, y, "bn", "y"));
  expect_folds(b.model, {{"x", random_f32({3, 5}, 33)}}, 1);
}

TEST(FoldBatchnorm, GemmWithoutBias) {
  Builder b;
  Value* x = b.input("x", {3, 5});
  b.init("w", random_f32({5, 4}, 40));  // [K=5, N=4]
  add_bn_params(b, "bn", 4, 41);
  Value* y = b.op("Gemm", {x, b.g->find_value("w")}, "gemm");
  b.output(b.op("Sigmoid", {bn(b, y, "bn", "bn_out")}, "y"));
  expect_folds(b.model, {{"x", random_f32({3, 5}, 42)}}, 1);
  EXPECT_EQ(b.g->nodes()[0]->inputs().size(), 3u);  // a bias was added
}

TEST(FoldBatchnorm, LeavesAConvWhoseOutputHasAnotherReader) {
  Builder b;
  Value* x = b.input("x", {1, 2, 4, 4});
  b.init("w", random_f32({3, 2, 1, 1}, 50));
  add_bn_params(b, "bn", 3, 51);
  Value* c = b.op("Conv", {x, b.g->find_value("w")}, "conv");
  b.output(bn(b, c, "bn", "y"));
  b.output(b.op("Relu", {c}, "z"));
  PassResult r = run_one("fold_batchnorm", b.model);
  EXPECT_EQ(r.changes, 0);
  EXPECT_EQ(count_ops(b.model, "BatchNormalization"), 1);
}

// ---- fold_constants ----

TEST(FoldConstants, ConstantNodesAndChainsBecomeInitializers) {
  Builder b;
  Value* x = b.input("x", {2, 3});
  Value* k = b.node("Constant", {}, {"k"}, attrs(Attribute::of_tensor("value", f32({3}, {1, 2, 3}))))[0];
  b.init("two", f32({}, {2}));
  Value* k2 = b.op("Mul", {k, b.g->find_value("two")}, "k2");      // [2, 4, 6]
  b.init("shape", i64({2}, {1, 3}));
  Value* k3 = b.op("Reshape", {k2, b.g->find_value("shape")}, "k3");  // [[2, 4, 6]]
  b.output(b.op("Add", {x, k3}, "y"));
  const Feeds feeds = {{"x", random_f32({2, 3}, 60)}};
  auto before = run(b.model, feeds);

  PassResult r = run_one("fold_constants", b.model);
  EXPECT_EQ(r.changes, 3) << r.summary;
  ASSERT_EQ(count_nodes(*b.g), 1);
  EXPECT_EQ(b.g->nodes()[0]->op_type(), "Add");
  // The folded value keeps its name and holds the product computed independently here.
  const Value* folded = b.g->find_value("k3");
  ASSERT_NE(folded, nullptr);
  ASSERT_TRUE(folded->is_initializer());
  EXPECT_EQ(folded->initializer()->dims(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(floats(*folded->initializer()), (std::vector<float>{2, 4, 6}));
  EXPECT_TRUE(dead_initializers(b.model).empty());
  EXPECT_EQ(b.g->find_value("two"), nullptr);  // read only by the folded Mul: dropped
  EXPECT_LE(rel_diff(before, run(b.model, feeds)), kRelTolerance);
}

TEST(FoldConstants, LeavesDequantizeRandomGraphOutputsAndBigExpansions) {
  Builder b;
  Value* x = b.input("x", {4});
  // Quantized weight: DequantizeLinear must stay so the weight stays int8 on disk.
  b.init("wq", i8({4}, {-3, 1, 2, 5}));
  b.init("scale", f32({}, {0.5f}));
  Value* w = b.op("DequantizeLinear", {b.g->find_value("wq"), b.g->find_value("scale")}, "w");
  Value* y = b.op("Mul", {x, w}, "y");
  b.output(y);
  // 16 bytes of shape → 4 MiB of zeros: stays a ConstantOfShape.
  b.init("big_shape", i64({2}, {1024, 1024}));
  Value* zeros = b.op("ConstantOfShape", {b.g->find_value("big_shape")}, "zeros");
  b.output(b.op("ReduceMax", {zeros}, "zmax"));
  // A small expansion folds.
  b.init("small_shape", i64({1}, {4}));
  Value* ones = b.op("ConstantOfShape", {b.g->find_value("small_shape")}, "ones",
                     attrs(Attribute::of_tensor("value", f32({1}, {1}))));
  b.output(b.op("Add", {x, ones}, "z"));
  b.output(b.op("Add", {x, b.op("RandomNormal", {}, "noise", attrs(Attribute::of_ints("shape", {4})))}, "noisy"));

  PassResult r = run_one("fold_constants", b.model);
  EXPECT_EQ(r.changes, 1) << r.summary;  // only the small ConstantOfShape
  EXPECT_EQ(count_ops(b.model, "DequantizeLinear"), 1);
  EXPECT_EQ(count_ops(b.model, "ConstantOfShape"), 1);
  EXPECT_EQ(count_ops(b.model, "RandomNormal"), 1);
  EXPECT_EQ(b.g->find_value("wq")->initializer()->dtype(), DType::kInt8);
  EXPECT_TRUE(b.g->find_value("ones")->is_initializer());
}

TEST(FoldConstants, TransformerConstantsFoldAndOutputsStayEqual) {
  Model m = load_model(model_path("fmnist_transformer.onnx"));
  const int constants = count_ops(m, "Constant");
  ASSERT_GT(constants, 0);
  const Feeds feeds = fmnist_feeds(2, 3);
  auto before = run(m, feeds);
  const auto outs = names(m.graph->outputs());
  PassResult r = run_one("fold_constants", m);
  EXPECT_GE(r.changes, constants);
  EXPECT_EQ(count_ops(m, "Constant"), 0);
  EXPECT_TRUE(dead_initializers(m).empty());
  EXPECT_EQ(names(m.graph->outputs()), outs);
  EXPECT_LE(rel_diff(before, run(m, feeds)), kRelTolerance);
  TempDir dir;
  EXPECT_LE(rel_diff(before, run(round_trip(m, dir, "t.onnx"), feeds)), kRelTolerance);
}

// ---- remove_identity ----

Value* bool_init(Builder& b, const std::string& name, bool v) {
  std::string bytes(1, v ? '\1' : '\0');
  return b.init(name, Tensor(DType::kBool, {}, make_owned_storage(bytes)));
}

TEST(RemoveIdentity, IdentityAndDropoutGoAndTheOutputNameStays) {
  Builder b;
  Value* x = b.input("x", {2, 3});
  Value* r1 = b.op("Relu", {x}, "r1");
  Value* i1 = b.op("Identity", {r1}, "i1");
  Value* s = b.op("Sigmoid", {i1}, "s");
  b.init("ratio", f32({}, {0.3f}));
  Value* d = b.node("Dropout", {s, b.g->find_value("ratio"), bool_init(b, "train", false)}, {"d", ""})[0];
  b.output(b.op("Identity", {d}, "y"), std::vector<int64_t>{2, 3});
  const Feeds feeds = {{"x", random_f32({2, 3}, 70)}};
  auto before = run(b.model, feeds);

  PassResult r = run_one("remove_identity", b.model);
  EXPECT_EQ(r.changes, 3) << r.summary;
  EXPECT_EQ(count_ops(b.model, "Identity"), 0);
  EXPECT_EQ(count_ops(b.model, "Dropout"), 0);
  EXPECT_EQ(count_nodes(*b.g), 2);
  EXPECT_EQ(names(b.g->outputs()), (std::vector<std::string>{"y"}));
  EXPECT_EQ(b.g->outputs()[0]->producer()->op_type(), "Sigmoid");
  EXPECT_LE(rel_diff(before, run(b.model, feeds)), kRelTolerance);
  TempDir dir;
  Model reloaded = round_trip(b.model, dir, "r.onnx");
  EXPECT_EQ(names(reloaded.graph->outputs()), (std::vector<std::string>{"y"}));
}

TEST(RemoveIdentity, KeepsTrainingDropoutUsedMasksAndInputToOutputCopies) {
  Builder b;
  Value* x = b.input("x", {4});
  // Output = input: removing it would rename an interface value.
  b.output(b.op("Identity", {x}, "copy"));
  Value* n = b.op("Neg", {x}, "n");
  b.output(b.node("Dropout", {n, nullptr, bool_init(b, "train", true)}, {"d1"})[0]);
  auto d2 = b.node("Dropout", {n}, {"d2", "mask"});
  b.output(d2[0]);
  b.output(d2[1]);
  PassResult r = run_one("remove_identity", b.model);
  EXPECT_EQ(r.changes, 0) << r.summary;
  EXPECT_EQ(count_ops(b.model, "Identity"), 1);
  EXPECT_EQ(count_ops(b.model, "Dropout"), 2);
}

// ---- eliminate_dead_nodes ----

TEST(EliminateDeadNodes, RemovesUnreachableNodesAndTheirWeights) {
  Builder b;
  Value* x = b.input("x", {3});
  b.input("unused_input", {3});
  b.init("w_dead", f32({3}, {1, 2, 3}));
  b.init("w_live", f32({3}, {4, 5, 6}));
  Value* dead = b.op("Mul", {x, b.g->find_value("w_dead")}, "dead");
  b.op("Neg", {dead}, "dead2");
  b.output(b.op("Add", {x, b.g->find_value("w_live")}, "y"));
  const Feeds feeds = {{"x", random_f32({3}, 80)}, {"unused_input", random_f32({3}, 81)}};
  auto before = run(b.model, feeds);

  PassResult r = run_one("eliminate_dead_nodes", b.model);
  EXPECT_EQ(r.changes, 3) << r.summary;  // 2 nodes, 1 initializer
  EXPECT_EQ(count_nodes(*b.g), 1);
  EXPECT_EQ(b.g->find_value("w_dead"), nullptr);
  EXPECT_EQ(names(b.g->inputs()), (std::vector<std::string>{"x", "unused_input"}));
  EXPECT_TRUE(dead_initializers(b.model).empty());
  EXPECT_LE(rel_diff(before, run(b.model, feeds)), kRelTolerance);
}

TEST(EliminateDeadNodes, SubgraphsAreCleanedAndUnusedIfNodesGo) {
  Builder b;
  Value* x = b.input("x", {3});
  Value* cond = b.input("cond", {}, DType::kBool);
  // A used If whose branches hold a dead node reading an outer value, and an unused If.
  auto make_if = [&](const std::string& out) {
    auto outs = b.node("If", {cond}, {out});
    Node* node = outs[0]->producer();
    for (const char* branch : {"then_branch", "else_branch"}) {
      Attribute a;
      a.name = branch;
      a.type = AttrType::kGraph;
      a.graphs.push_back(std::make_unique<Graph>(node));
      Graph* sub = a.graphs[0].get();
      sub->name = branch;
      b.node("Sin", {x}, {std::string(branch) + "_dead_" + out}, {}, sub);
      Value* r = b.node(branch[0] == 't' ? "Neg" : "Abs", {x}, {std::string(branch) + "_" + out}, {}, sub)[0];
      sub->add_output(r);
      node->attributes().push_back(std::move(a));
    }
    return outs[0];
  };
  b.output(make_if("y"));
  make_if("unused");
  const size_t x_uses = x->uses().size();
  const Feeds feeds = {{"x", random_f32({3}, 90)}, {"cond", RtValue(Tensor(DType::kBool, {}, make_owned_storage("\1")))}};
  auto before = run(b.model, feeds);

  PassResult r = run_one("eliminate_dead_nodes", b.model);
  EXPECT_EQ(r.changes, 3) << r.summary;  // the unused If, and one Sin in each branch of the other
  EXPECT_EQ(count_ops(b.model, "If"), 1);
  EXPECT_EQ(count_ops(b.model, "Sin"), 0);
  EXPECT_EQ(count_ops(b.model, "Neg"), 1);
  // 4 reads from the removed If's branches, 2 from the removed Sin nodes: no use list points at
  // a removed node.
  EXPECT_EQ(x->uses().size(), x_uses - 6);
  EXPECT_LE(rel_diff(before, run(b.model, feeds)), kRelTolerance);
}

// ---- infer_shapes ----

TEST(InferShapes, RecordsTheShapesTheExecutorProduces) {
  Model m = load_model(model_path("fmnist_cnn.onnx"));
  size_t listed_before = m.graph->value_infos().size();
  std::vector<std::string> warnings;
  PassResult r = run_one("infer_shapes", m, &warnings);
  EXPECT_TRUE(warnings.empty()) << (warnings.empty() ? "" : warnings[0]);
  // Every node output except the graph output gets a type.
  EXPECT_EQ(r.changes, count_nodes(*m.graph) - 1);
  EXPECT_EQ(m.graph->value_infos().size(), listed_before + static_cast<size_t>(r.changes));

  // Independent check: the shapes the executor actually computes on a batch of 3.
  std::map<std::string, std::vector<int64_t>> actual;
  Executor ex(m, {2});
  ex.set_observer([&](const Node& node, const std::vector<const RtValue*>& outs) {
    for (size_t k = 0; k < outs.size(); ++k) actual[node.output(k)->name()] = outs[k]->tensor.dims();
  });
  ex.run(fmnist_feeds(3, 3));
  for (const Value* v : m.graph->value_infos()) {
    ASSERT_TRUE(v->info.tensor && v->info.tensor->shape) << v->name();
    EXPECT_EQ(v->info.tensor->elem, DType::kFloat) << v->name();
    const auto& dims = *v->info.tensor->shape;
    ASSERT_EQ(dims.size(), actual.at(v->name()).size()) << v->name();
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i].value) EXPECT_EQ(*dims[i].value, actual.at(v->name())[i]) << v->name() << " dim " << i;
      else EXPECT_EQ(dims[i].param, "N") << v->name() << " dim " << i;  // the batch symbol flows through
    }
  }
  TempDir dir;
  Model reloaded = round_trip(m, dir, "shapes.onnx");
  EXPECT_EQ(reloaded.graph->value_infos().size(), m.graph->value_infos().size());
  // A second run finds nothing new.
  EXPECT_EQ(run_one("infer_shapes", m).changes, 0);
}

TEST(InferShapes, InferenceErrorsAreWarningsAndTheRestIsStillRecorded) {
  Builder b;
  Value* x = b.input("x", {2, 3});
  Value* n = b.op("Neg", {x}, "n");
  b.init("i", i64({1}, {1}));
  Value* bad = b.op("Add", {n, b.g->find_value("i")}, "bad");  // float + int64: a type error
  b.output(b.op("Abs", {bad}, "y"));
  std::vector<std::string> warnings;
  PassResult r = run_one("infer_shapes", b.model, &warnings);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("shape inference"), std::string::npos) << warnings[0];
  EXPECT_GE(r.changes, 1);
  const Value* neg = b.g->find_value("n");
  ASSERT_TRUE(neg->info.tensor && neg->info.tensor->shape);
  EXPECT_EQ(neg->info.tensor->shape->size(), 2u);
}

// ---- all passes, on models with Constant / Identity / Dropout / subgraphs ----

const char* const kDefaultOrder[] = {"fold_constants", "remove_identity", "fold_batchnorm",
                                     "eliminate_dead_nodes", "infer_shapes"};

// Runs every pass in the default order of `edgeq prepare`; returns the summed changes.
int run_all(Model& m) {
  int changes = 0;
  for (const char* p : kDefaultOrder) changes += run_one(p, m).changes;
  return changes;
}

TEST(AllGraphPasses, FashionMnistCnnAndTransformer) {
  for (const char* name : {"fmnist_cnn.onnx", "fmnist_transformer.onnx"}) {
    SCOPED_TRACE(name);
    Model m = load_model(model_path(name));
    const Feeds feeds = fmnist_feeds(4, 2);
    auto before = run(m, feeds);
    const auto ins = names(m.graph->inputs()), outs = names(m.graph->outputs());
    EXPECT_GT(run_all(m), 0);
    EXPECT_EQ(count_ops(m, "BatchNormalization"), 0);
    EXPECT_EQ(count_ops(m, "Constant"), 0);
    EXPECT_TRUE(dead_initializers(m).empty());
    EXPECT_EQ(names(m.graph->inputs()), ins);
    EXPECT_EQ(names(m.graph->outputs()), outs);
    TempDir dir;
    EXPECT_LE(rel_diff(before, run(round_trip(m, dir, "all.onnx"), feeds)), kRelTolerance);
  }
}

// ONNX backend test models with Constant and Identity nodes (the expanded function bodies),
// Constant nodes from old PyTorch exports, and If/Loop/Scan subgraphs: outputs before and after
// on the test's own inputs.
TEST(AllGraphPasses, BackendTestModels) {
  const char* const kModels[] = {
      "node/test_dynamicquantizelinear_expanded",
      "node/test_layer_normalization_4d_axis1_expanded",
      "node/test_logsoftmax_axis_1_expanded",
      "node/test_sce_mean_weight_log_prob_expanded",
      "node/test_mvn_expanded",
      "node/test_if",
      "node/test_if_seq",
      "node/test_loop11",
      "node/test_scan9_sum",
      "node/test_identity",
      "pytorch-converted/test_PixelShuffle",
      "pytorch-converted/test_Softsign",
      "pytorch-converted/test_BatchNorm2d_eval",
      "pytorch-operator/test_operator_repeat",
      "pytorch-operator/test_operator_addconstant",
  };
  int total_changes = 0;
  for (const char* name : kModels) {
    SCOPED_TRACE(name);
    const std::string dir = testdata_dir() + "/" + name;
    Model m = load_model(dir + "/model.onnx");
    Feeds feeds;
    for (size_t i = 0; i < m.graph->inputs().size(); ++i) {
      const std::string pb = dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb";
      if (!std::filesystem::exists(pb)) break;
      StoredValue sv = load_value_pb(pb);
      const std::string input = m.graph->inputs()[i]->name();
      if (sv.kind == StoredValue::Kind::kTensor) feeds[input] = sv.tensors.at(0);
      else feeds[input] = RtValue::make_sequence(sv.tensors);
    }
    auto before = run(m, feeds);
    const auto ins = names(m.graph->inputs()), outs = names(m.graph->outputs());
    total_changes += run_all(m);
    EXPECT_EQ(foldable_constants(m), 0);
    EXPECT_TRUE(dead_initializers(m).empty());
    EXPECT_EQ(names(m.graph->inputs()), ins);
    EXPECT_EQ(names(m.graph->outputs()), outs);
    EXPECT_LE(rel_diff(before, run(m, feeds)), kRelTolerance);
    TempDir tmp;
    EXPECT_LE(rel_diff(before, run(round_trip(m, tmp, "m.onnx"), feeds)), kRelTolerance);
  }
  EXPECT_GT(total_changes, 30);
}

TEST(GraphPasses, RegisteredUnderTheirNames) {
  for (const char* p : kDefaultOrder) {
    const PassInfo* info = find_pass(p);
    ASSERT_NE(info, nullptr) << p;
    EXPECT_STREQ(info->group, "graph");
  }
  Model m = load_model(model_path("fmnist_cnn.onnx"));
  PassContext ctx;
  try {
    run_pass("fold_everything", m, ctx);
    FAIL() << "an unknown pass must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
}

}  // namespace
}  // namespace edgeq::test
