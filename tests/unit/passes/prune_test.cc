// Magnitude pruning (src/passes/prune/): exact zero counts (round(S × params), globally and per
// layer) checked against a reference that sorts every weight; the N:M pattern in every block of
// every pruned tensor with the block axis worked out here per op; the defaults that leave layers
// dense; option errors; determinism over thread counts; sparse storage round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../ir/test_util.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/ir/sparse.h"
#include "edgeq/passes/pass.h"
#include "edgeq/passes/prune.h"
#include "passes/prune/prune_storage.h"

namespace edgeq::test {
namespace {

// ---- a small network with one layer of every eligible kind ----

// Uniform in [-1, 1) from a fixed seed; `levels` > 0 rounds to that many steps per unit, so
// many weights tie in magnitude.
Tensor random_weight(std::vector<int64_t> dims, uint32_t seed, int levels = 0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    x = dist(rng);
    if (levels > 0) x = std::round(x * levels) / levels;
    if (x == 0.0f) x = 1.0f / 64;  // keep "zeros after" = "weights zeroed"
  }
  return Tensor::from_values<float>(DType::kFloat, std::move(dims), std::span<const float>(v));
}

struct Net {
  Model model;
  Graph* g;
  Value* x;
  Net() {
    model.ir_version = 8;
    model.opset_imports.push_back({"", 17});
    model.graph = std::make_unique<Graph>();
    g = model.graph.get();
    g->name = "net";
    x = g->add_value("x");
    x->info.present = x->info.has_type = true;
    x->info.type_kind = "tensor";
    x->info.tensor = TensorType{DType::kFloat, std::vector<Dim>{{1, "", ""}, {3, "", ""}, {8, "", ""}, {8, "", ""}}};
    g->add_input(x);
  }
  Value* weight(const std::string& name, std::vector<int64_t> dims, uint32_t seed, int levels = 0) {
    return g->add_initializer(name, random_weight(std::move(dims), seed, levels));
  }
  Value* op(const std::string& type, const std::string& name, std::vector<Value*> ins,
            std::vector<Attribute> attrs = {}) {
    Value* out = g->add_value(name + "_out");
    Node* n = g->add_node(type, "", std::move(ins), {out});
    n->set_name(name);
    for (auto& a : attrs) n->attributes().push_back(std::move(a));
    return out;
  }
  // The checker wants main-graph outputs typed with a shape (any rank will do for these tests).
  void output(Value* v, std::vector<int64_t> dims = {1, 10}) {
    v->info.present = v->info.has_type = true;
    v->info.type_kind = "tensor";
    std::vector<Dim> shape;
    for (int64_t d : dims) shape.push_back(Dim{d, "", ""});
    v->info.tensor = TensorType{DType::kFloat, shape};
    g->add_output(v);
  }
  const Tensor& w(const std::string& name) const { return *g->find_value(name)->initializer(); }
};

// A (first)  Conv            W0 [16,3,3,3]   432   input channels 3 (not a multiple of 4)
// B          Conv            W1 [32,16,3,3]  4608
// C          Conv group 2    W2 [32,16,1,1]  512   16 input channels per group
// D          ConvTranspose   W3 [32,16,2,2]  2048  W is [Cin, Cout/g, k...]: channels on axis 0
// E          MatMul          W4 [16,64]      1024  K = 16 on axis 0
// F          Gemm transB=1   W5 [32,64]      2048  B is [N, K]: K = 64 on axis 1
// G          MatMul          W6 [32,4]       128   under 256 parameters
// H (last)   Gemm            W7 [4,10]       40
Net make_net(int levels = 0) {
  Net n;
  Value* a = n.op("Conv", "conv_a", {n.x, n.weight("W0", {16, 3, 3, 3}, 1, levels)}, [] {
    std::vector<Attribute> v;
    v.push_back(Attribute::of_ints("pads", {1, 1, 1, 1}));
    return v;
  }());
  a = n.op("Relu", "relu_a", {a});
  Value* b = n.op("Conv", "conv_b", {a, n.weight("W1", {32, 16, 3, 3}, 2, levels)}, [] {
    std::vector<Attribute> v;
    v.push_back(Attribute::of_ints("pads", {1, 1, 1, 1}));
    return v;
  }());
  Value* c = n.op("Conv", "conv_c", {b, n.weight("W2", {32, 16, 1, 1}, 3, levels)}, [] {
    std::vector<Attribute> v;
    v.push_back(Attribute::of_int("group", 2));
    return v;
  }());
  Value* d = n.op("ConvTranspose", "convt_d", {c, n.weight("W3", {32, 16, 2, 2}, 4, levels)}, [] {
    std::vector<Attribute> v;
    v.push_back(Attribute::of_ints("strides", {2, 2}));
    return v;
  }());
  Value* p = n.op("GlobalAveragePool", "pool", {d});
  Value* f = n.op("Flatten", "flatten", {p});
  Value* e = n.op("MatMul", "matmul_e", {f, n.weight("W4", {16, 64}, 5, levels)});
  Value* ff = n.op("Gemm", "gemm_f", {e, n.weight("W5", {32, 64}, 6, levels)}, [] {
    std::vector<Attribute> v;
    v.push_back(Attribute::of_int("transB", 1));
    return v;
  }());
  Value* gg = n.op("MatMul", "matmul_g", {ff, n.weight("W6", {32, 4}, 7, levels)});
  Value* h = n.op("Gemm", "gemm_h", {gg, n.weight("W7", {4, 10}, 8, levels)});
  n.output(h);
  return n;
}

const std::vector<std::string> kWeights = {"W0", "W1", "W2", "W3", "W4", "W5", "W6", "W7"};

std::vector<float> values(const Tensor& t) {
  auto v = t.values<float>();
  return {v.begin(), v.end()};
}

int64_t zeros_in(const Tensor& t) {
  int64_t z = 0;
  for (float v : t.values<float>()) z += v == 0.0f;
  return z;
}

const PrunedLayer& layer_of(const PruneSummary& s, const std::string& weight) {
  for (const PrunedLayer& l : s.layers)
    if (l.weight == weight) return l;
  ADD_FAILURE() << "no layer for " << weight;
  static PrunedLayer none;
  return none;
}

PruneSummary run_prune(Model& m, const PruneOptions& o, int threads = 2) {
  PassContext ctx;
  ctx.threads = threads;
  return prune(m, o, ctx);
}

// The reference: every weight of `names` ranked by (|w|, layer order, index) with std::sort;
// the first k are the ones to zero.
std::map<std::string, std::vector<bool>> reference_zero_set(const Net& n, const std::vector<std::string>& names,
                                                            int64_t k) {
  struct Entry {
    float mag;
    size_t layer;
    size_t index;
  };
  std::vector<Entry> all;
  for (size_t l = 0; l < names.size(); ++l) {
    auto v = n.w(names[l]).values<float>();
    for (size_t i = 0; i < v.size(); ++i) all.push_back({std::fabs(v[i]), l, i});
  }
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    if (a.mag != b.mag) return a.mag < b.mag;
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.index < b.index;
  });
  std::map<std::string, std::vector<bool>> zero;
  for (const auto& name : names) zero[name].assign(n.w(name).element_count(), false);
  for (int64_t i = 0; i < k; ++i) zero[names[all[static_cast<size_t>(i)].layer]][all[static_cast<size_t>(i)].index] = true;
  return zero;
}

// ---- unstructured ----

TEST(Prune, GlobalZeroesExactlyRoundSTimesEligibleParamsMatchingAFullSort) {
  const std::vector<std::string> pruned = {"W1", "W2", "W3", "W4", "W5"};  // defaults leave W0, W6, W7
  for (int levels : {0, 8}) {  // 8: magnitudes in steps of 1/8, so the threshold falls inside a tie
    for (double s : {0.3, 0.5, 0.77}) {
      Net n = make_net(levels);
      Net original = make_net(levels);
      PruneOptions o;
      o.sparsity = s;
      o.score = PruneScore::kMagnitude;  // the reference sorts |w|; LAMP has its own test (prune_bias_test.cc)
      PruneSummary sum = run_prune(n.model, o);
      int64_t total = 0;
      for (const auto& w : pruned) total += static_cast<int64_t>(n.w(w).element_count());
      ASSERT_EQ(total, 10240);
      const int64_t expected = std::llround(s * static_cast<double>(total));
      EXPECT_EQ(sum.eligible_params, total);
      EXPECT_EQ(sum.zeros, expected) << "S=" << s << " levels=" << levels;
      EXPECT_DOUBLE_EQ(sum.sparsity, static_cast<double>(expected) / static_cast<double>(total));
      int64_t counted = 0;
      for (const auto& w : pruned) counted += zeros_in(n.w(w));
      EXPECT_EQ(counted, expected);
      // Exactly the reference's set, and every survivor keeps its value.
      auto ref = reference_zero_set(original, pruned, expected);
      for (const auto& w : pruned) {
        auto after = values(n.w(w));
        auto before = values(original.w(w));
        for (size_t i = 0; i < after.size(); ++i) {
          if (ref[w][i])
            ASSERT_EQ(after[i], 0.0f) << w << "[" << i << "]";
          else
            ASSERT_EQ(after[i], before[i]) << w << "[" << i << "]";
        }
        EXPECT_EQ(layer_of(sum, w).zeros, zeros_in(n.w(w)));
      }
      // Dense layers are untouched, bit for bit.
      for (const auto& w : {"W0", "W6", "W7"}) EXPECT_EQ(values(n.w(w)), values(original.w(w))) << w;
    }
  }
}

TEST(Prune, GlobalZeroesAreNeverLargerThanSurvivors) {
  Net n = make_net();
  Net original = make_net();
  PruneOptions o;
  o.sparsity = 0.6;
  o.score = PruneScore::kMagnitude;
  run_prune(n.model, o);
  float max_zeroed = 0, min_kept = std::numeric_limits<float>::infinity();
  for (const auto& w : {"W1", "W2", "W3", "W4", "W5"}) {
    auto after = values(n.w(w));
    auto before = values(original.w(w));
    for (size_t i = 0; i < after.size(); ++i) {
      if (after[i] == 0.0f)
        max_zeroed = std::max(max_zeroed, std::fabs(before[i]));
      else
        min_kept = std::min(min_kept, std::fabs(before[i]));
    }
  }
  EXPECT_LE(max_zeroed, min_kept);
  EXPECT_GT(max_zeroed, 0.0f);
}

TEST(Prune, LayerScopeZeroesRoundSTimesParamsInEveryLayer) {
  for (double s : {0.25, 0.5, 0.9}) {
    Net n = make_net(16);
    Net original = make_net(16);
    PruneOptions o;
    o.scope = PruneScope::kLayer;
    o.sparsity = s;
    PruneSummary sum = run_prune(n.model, o);
    int64_t total_zeros = 0;
    for (const auto& w : {"W1", "W2", "W3", "W4", "W5"}) {
      const int64_t params = static_cast<int64_t>(n.w(w).element_count());
      const int64_t expected = std::llround(s * static_cast<double>(params));
      EXPECT_EQ(zeros_in(n.w(w)), expected) << w << " S=" << s;
      EXPECT_EQ(layer_of(sum, w).zeros, expected);
      EXPECT_TRUE(layer_of(sum, w).pruned);
      auto ref = reference_zero_set(original, {w}, expected)[w];
      auto after = values(n.w(w));
      for (size_t i = 0; i < after.size(); ++i) ASSERT_EQ(after[i] == 0.0f, bool(ref[i])) << w << "[" << i << "]";
      total_zeros += expected;
    }
    EXPECT_EQ(sum.zeros, total_zeros);
  }
}

TEST(Prune, ScheduleSetsPerLayerSparsityAndOverridesDefaults) {
  Net n = make_net();
  PruneOptions o;
  o.sparsity = 0.0;                       // unnamed layers stay dense
  o.schedule = {{"conv_a", 0.5},          // by node name, overrides "first layer"
                {"W4", 0.9},              // by weight name
                {"matmul_g", 0.25}};      // overrides "fewer than 256 parameters"
  PruneSummary sum = run_prune(n.model, o);
  EXPECT_EQ(zeros_in(n.w("W0")), std::llround(0.5 * 432));
  EXPECT_EQ(zeros_in(n.w("W4")), std::llround(0.9 * 1024));
  EXPECT_EQ(zeros_in(n.w("W6")), std::llround(0.25 * 128));
  EXPECT_EQ(zeros_in(n.w("W1")), 0);
  EXPECT_FALSE(layer_of(sum, "W1").pruned);
  EXPECT_NE(layer_of(sum, "W1").reason.find("not in the schedule"), std::string::npos);
  EXPECT_EQ(sum.eligible_params, 432 + 1024 + 128);
}

// ---- defaults, exclusion ----

TEST(Prune, FirstLastAndSmallLayersStayDenseByDefault) {
  Net n = make_net();
  PruneSummary sum = run_prune(n.model, PruneOptions{});
  ASSERT_EQ(sum.layers.size(), 8u);
  for (size_t i = 0; i < kWeights.size(); ++i) EXPECT_EQ(sum.layers[i].weight, kWeights[i]);  // node order
  EXPECT_NE(layer_of(sum, "W0").reason.find("first layer"), std::string::npos);
  EXPECT_NE(layer_of(sum, "W7").reason.find("last layer"), std::string::npos);
  EXPECT_NE(layer_of(sum, "W6").reason.find("fewer than 256"), std::string::npos);
  for (const auto& w : {"W0", "W6", "W7"}) EXPECT_EQ(zeros_in(n.w(w)), 0) << w;
  EXPECT_EQ(layer_of(sum, "W3").op_type, "ConvTranspose");
  EXPECT_EQ(layer_of(sum, "W1").node, "node 'conv_b' (Conv)");

  Net all = make_net();
  PruneOptions o;
  o.prune_first_last = true;
  PruneSummary s2 = run_prune(all.model, o);
  EXPECT_TRUE(layer_of(s2, "W0").pruned);
  EXPECT_FALSE(layer_of(s2, "W7").pruned);  // still under 256 parameters
  EXPECT_FALSE(layer_of(s2, "W6").pruned);
  o.min_params = 0;
  Net every = make_net();
  PruneSummary s3 = run_prune(every.model, o);
  for (const PrunedLayer& l : s3.layers) EXPECT_TRUE(l.pruned) << l.weight;
  EXPECT_EQ(s3.eligible_params, 432 + 4608 + 512 + 2048 + 1024 + 2048 + 128 + 40);
  EXPECT_EQ(s3.zeros, std::llround(0.5 * static_cast<double>(s3.eligible_params)));
}

TEST(Prune, ExcludedNodesStayDense) {
  Net n = make_net();
  PruneOptions o;
  o.exclude_nodes = {"conv_b", "relu_a"};  // relu_a exists but is no layer: a warning
  PassContext ctx;
  PruneSummary sum = prune(n.model, o, ctx);
  EXPECT_FALSE(layer_of(sum, "W1").pruned);
  EXPECT_NE(layer_of(sum, "W1").reason.find("excluded"), std::string::npos);
  EXPECT_EQ(zeros_in(n.w("W1")), 0);
  EXPECT_EQ(sum.eligible_params, 512 + 2048 + 1024 + 2048);
  ASSERT_EQ(ctx.warnings.size(), 1u);
  EXPECT_NE(ctx.warnings[0].find("relu_a"), std::string::npos);
}

// ---- N:M ----

// Axis and per-group channel count of each layer, from the op definitions (see the table above).
struct NMLayout {
  int64_t axis;
};
const std::map<std::string, NMLayout> kLayouts = {
    {"W1", {1}}, {"W2", {1}}, {"W3", {0}}, {"W4", {0}}, {"W5", {1}}};

void expect_nm_pattern(const Tensor& after, const Tensor& before, int64_t axis, int n, int m, const std::string& what) {
  const auto& d = after.dims();
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= d[static_cast<size_t>(a)];
  for (size_t a = static_cast<size_t>(axis) + 1; a < d.size(); ++a) inner *= d[a];
  const int64_t len = d[static_cast<size_t>(axis)];
  auto va = after.values<float>();
  auto vb = before.values<float>();
  int64_t blocks = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t start = 0; start < len; start += m)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<size_t> at;
        for (int64_t t = 0; t < m; ++t) at.push_back(static_cast<size_t>((o * len + start + t) * inner + i));
        int kept = 0;
        float min_kept = std::numeric_limits<float>::infinity(), max_zeroed = 0;
        for (size_t p : at) {
          if (va[p] != 0.0f) {
            ++kept;
            ASSERT_EQ(va[p], vb[p]) << what;
            min_kept = std::min(min_kept, std::fabs(vb[p]));
          } else {
            max_zeroed = std::max(max_zeroed, std::fabs(vb[p]));
          }
        }
        ASSERT_EQ(kept, n) << what << " block at outer " << o << " channel " << start << " inner " << i;
        ASSERT_LE(max_zeroed, min_kept) << what;
        ++blocks;
      }
  EXPECT_EQ(blocks * m, static_cast<int64_t>(after.element_count())) << what;
}

TEST(Prune, NMKeepsTheNLargestOfEveryMAlongInputChannels) {
  for (auto [nn, mm] : {std::pair{2, 4}, std::pair{1, 4}, std::pair{3, 8}}) {
    Net n = make_net();
    Net original = make_net();
    PruneOptions o;
    o.pattern = PrunePattern::kNM;
    o.n = nn;
    o.m = mm;
    o.prune_first_last = true;
    PruneSummary sum = run_prune(n.model, o);
    // W0 has 3 input channels: dense, listed with the reason.
    EXPECT_FALSE(layer_of(sum, "W0").pruned);
    EXPECT_NE(layer_of(sum, "W0").reason.find("not a multiple of " + std::to_string(mm)), std::string::npos);
    int64_t eligible = 0;
    for (const auto& [w, layout] : kLayouts) {
      const PrunedLayer& l = layer_of(sum, w);
      ASSERT_TRUE(l.pruned) << w << " " << l.reason;
      expect_nm_pattern(n.w(w), original.w(w), layout.axis, nn, mm, w + " " + std::to_string(nn) + ":" + std::to_string(mm));
      EXPECT_EQ(l.zeros, l.params / mm * (mm - nn));
      eligible += l.params;
    }
    EXPECT_EQ(sum.eligible_params, eligible);
    EXPECT_NEAR(sum.sparsity, 1.0 - static_cast<double>(nn) / mm, 1e-12);
  }
}

TEST(Prune, NMGemmWithoutTransBRunsAlongAxisZero) {
  Net n;
  Value* flat = n.op("Flatten", "flatten", {n.x});
  Value* y = n.op("Gemm", "gemm", {flat, n.weight("B", {192, 8}, 11)});
  n.output(y);
  Net original;
  original.weight("B", {192, 8}, 11);
  PruneOptions o;
  o.pattern = PrunePattern::kNM;
  o.prune_first_last = true;
  run_prune(n.model, o);
  expect_nm_pattern(n.w("B"), original.w("B"), 0, 2, 4, "Gemm B [K, N]");
}

// ---- errors ----

TEST(Prune, BadOptionsThrowUsageAndLeaveTheModelAlone) {
  auto expect_usage = [](PruneOptions o, const std::string& what) {
    Net n = make_net();
    const std::vector<float> before = values(n.w("W1"));
    try {
      run_prune(n.model, o);
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage) << what << ": " << e.what();
    }
    EXPECT_EQ(values(n.w("W1")), before) << what;
  };
  for (double s : {-0.1, 1.0, 1.2, std::nan("")}) {
    PruneOptions o;
    o.sparsity = s;
    expect_usage(o, "S=" + std::to_string(s));
  }
  for (auto [nn, mm] : {std::pair{3, 2}, std::pair{0, 4}, std::pair{2, 0}}) {
    PruneOptions o;
    o.pattern = PrunePattern::kNM;
    o.n = nn;
    o.m = mm;
    expect_usage(o, std::to_string(nn) + ":" + std::to_string(mm));
  }
  PruneOptions o;
  o.exclude_nodes = {"no_such_node"};
  expect_usage(o, "unknown excluded node");
  o = {};
  o.schedule = {{"no_such_layer", 0.5}};
  expect_usage(o, "unknown schedule key");
  o.schedule = {{"relu_a", 0.5}};
  expect_usage(o, "schedule names a node that is no layer");
  o.schedule = {{"W1", 1.5}};
  expect_usage(o, "schedule sparsity out of range");
  o.schedule = {{"conv_b", 0.5}};
  o.exclude_nodes = {"conv_b"};
  expect_usage(o, "both scheduled and excluded");
  o = {};
  o.min_params = -1;
  expect_usage(o, "negative min_params");
}

TEST(Prune, NothingPrunableIsUnsupported) {
  {
    Net n;
    n.output(n.op("Relu", "relu", {n.x}));
    try {
      run_prune(n.model, PruneOptions{});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
      EXPECT_NE(std::string(e.what()).find("nothing to prune"), std::string::npos) << e.what();
    }
  }
  {
    // One Conv: it is both the first and the last layer.
    Net n;
    n.output(n.op("Conv", "conv", {n.x, n.weight("W", {16, 3, 3, 3}, 1)}));
    try {
      run_prune(n.model, PruneOptions{});
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
      EXPECT_NE(std::string(e.what()).find("first layer"), std::string::npos) << e.what();
    }
    PruneOptions o;
    o.prune_first_last = true;
    EXPECT_EQ(run_prune(n.model, o).zeros, std::llround(0.5 * 432));
  }
}

// ---- what counts as a layer ----

// Wc is a Constant node read by two MatMuls; Wh [64,10] and Wt [10,10] are initializers.
Net make_constant_net() {
  Net n;
  Value* flat = n.op("Flatten", "flatten", {n.x});
  Value* w = n.g->add_value("Wc");
  Node* c = n.g->add_node("Constant", "", {}, {w});
  c->set_name("const_w");
  Attribute value;
  value.name = "value";
  value.type = AttrType::kTensor;
  value.tensors.push_back(random_weight({192, 64}, 21));
  c->attributes().push_back(std::move(value));
  Value* a = n.op("MatMul", "mm1", {flat, w});
  Value* b = n.op("MatMul", "mm2", {flat, w});  // the same weight read twice: one layer
  Value* s = n.op("Add", "add", {a, b});
  Value* h = n.op("MatMul", "head", {s, n.weight("Wh", {64, 10}, 22)});
  n.output(n.op("MatMul", "tail", {h, n.weight("Wt", {10, 10}, 23)}));
  PassContext ctx;
  run_pass("fold_constants", n.model, ctx);
  return n;
}

TEST(Prune, ConstantNodeWeightsCountAfterFoldConstantsAndSharedWeightsAreOneLayer) {
  Net n = make_constant_net();
  PruneOptions o;
  o.min_params = 0;
  PruneSummary sum = run_prune(n.model, o);
  ASSERT_EQ(sum.layers.size(), 3u);
  EXPECT_EQ(sum.layers[0].weight, "Wc");
  EXPECT_EQ(sum.layers[0].node, "node 'mm1' (MatMul)");
  EXPECT_FALSE(sum.layers[0].pruned);  // the first layer
  EXPECT_TRUE(sum.layers[1].pruned);
  EXPECT_EQ(sum.zeros, std::llround(0.5 * 640));

  Net all = make_constant_net();
  o.prune_first_last = true;
  PruneSummary s2 = run_prune(all.model, o);
  EXPECT_TRUE(s2.layers[0].pruned);
  EXPECT_EQ(s2.layers[0].params, 192 * 64);
  EXPECT_EQ(s2.zeros, std::llround(0.5 * (192 * 64 + 640 + 100)));
  EXPECT_EQ(zeros_in(all.w("Wc")) + zeros_in(all.w("Wh")) + zeros_in(all.w("Wt")), s2.zeros);
}

TEST(Prune, WeightsAlsoReadElsewhereStayDense) {
  Net n;
  Value* flat = n.op("Flatten", "flatten", {n.x});
  Value* w = n.weight("W", {192, 192}, 31);
  Value* a = n.op("MatMul", "mm", {flat, w});
  Value* sum = n.op("ReduceSum", "rs", {w});  // reads the weight as data
  n.output(a);
  n.output(sum);
  Value* w2 = n.weight("W2", {192, 192}, 32);
  n.output(n.op("MatMul", "mm2", {flat, w2}));
  PruneOptions o;
  o.prune_first_last = true;
  PruneSummary s = run_prune(n.model, o);
  EXPECT_FALSE(layer_of(s, "W").pruned);
  EXPECT_NE(layer_of(s, "W").reason.find("'rs' (ReduceSum)"), std::string::npos) << layer_of(s, "W").reason;
  EXPECT_TRUE(layer_of(s, "W2").pruned);
}

// ---- determinism ----

TEST(Prune, SameResultForAnyThreadCount) {
  auto make = [] {
    Net n;
    Value* flat = n.op("Flatten", "flatten", {n.x});
    Value* a = n.op("MatMul", "big", {flat, n.weight("Wbig", {640, 512}, 41, 32)});  // 5 chunks, many ties
    Value* b = n.op("MatMul", "mid", {a, n.weight("Wmid", {512, 130}, 42, 32)});
    n.output(n.op("MatMul", "small", {b, n.weight("Wsmall", {130, 300}, 43, 32)}));
    return n;
  };
  for (auto scope : {PruneScope::kGlobal, PruneScope::kLayer}) {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 5}) {
      Net n = make();
      PruneOptions o;
      o.scope = scope;
      o.score = PruneScore::kMagnitude;
      o.sparsity = 0.55;
      o.prune_first_last = true;
      PruneSummary s = run_prune(n.model, o, threads);
      std::vector<float> all;
      for (const auto& w : {"Wbig", "Wmid", "Wsmall"}) {
        auto v = values(n.w(w));
        all.insert(all.end(), v.begin(), v.end());
      }
      if (scope == PruneScope::kGlobal) {
        EXPECT_EQ(s.zeros, std::llround(0.55 * (640 * 512 + 512 * 130 + 130 * 300)));
        Net ref = make();
        auto zero = reference_zero_set(ref, {"Wbig", "Wmid", "Wsmall"}, s.zeros);
        size_t at = 0;
        for (const auto& w : {"Wbig", "Wmid", "Wsmall"})
          for (bool z : zero[w]) ASSERT_EQ(all[at++] == 0.0f, z) << w;
      }
      results.push_back(std::move(all));
    }
    for (size_t i = 1; i < results.size(); ++i)
      EXPECT_EQ(std::memcmp(results[0].data(), results[i].data(), results[0].size() * sizeof(float)), 0);
  }
}

TEST(Prune, RegisteredPassPrunesHalfGlobally) {
  ASSERT_NE(find_pass("prune_magnitude"), nullptr);
  Net n = make_net();
  PassContext ctx;
  PassResult r = run_pass("prune_magnitude", n.model, ctx);
  EXPECT_EQ(r.changes, 5);
  int64_t zeros = 0;
  for (const auto& w : {"W1", "W2", "W3", "W4", "W5"}) zeros += zeros_in(n.w(w));
  EXPECT_EQ(zeros, std::llround(0.5 * 10240));
}

// ---- sparse storage ----

TEST(SparseTensor, RoundTripsAndCountsNonZeros) {
  std::vector<float> v = {0, 1.5f, 0, 0, -2, 0, -0.0f, 3};
  Tensor t = Tensor::from_values<float>(DType::kFloat, {2, 4}, std::span<const float>(v));
  const std::string s = serialize_sparse_tensor("T", t);
  Tensor back = sparse_tensor_to_dense(s, "T");
  EXPECT_EQ(back.dims(), t.dims());
  ASSERT_EQ(back.byte_size(), t.byte_size());
  EXPECT_EQ(std::memcmp(back.bytes().data(), t.bytes().data(), t.byte_size()), 0);  // -0.0 kept
  // 4 non-zero bytes patterns (1.5, -2, -0.0, 3): values 16 B + indices 32 B + framing.
  EXPECT_GT(s.size(), 48u);
  EXPECT_LT(s.size(), 48u + 40u);
  EXPECT_THROW(sparse_tensor_to_dense("not a proto \xff\xff", "x"), Error);
}

TEST(SparseTensor, PrunedWeightsStoredSparseWhereSmallerAndReloaded) {
  TempDir dir;
  Net n = make_net();
  Net original = make_net();
  PruneOptions o;
  o.scope = PruneScope::kLayer;
  o.schedule = {{"W1", 0.9}, {"W4", 0.5}};  // 90 %: sparse is smaller; 50 %: 12 B per non-zero is not
  o.sparsity = 0;
  PassContext ctx;
  PruneSummary s = prune(n.model, o, ctx);
  const std::vector<float> w1 = values(n.w("W1"));
  auto storage = pruning::measure_and_store(n.model, s, true, ctx);
  ASSERT_EQ(storage.size(), s.layers.size());
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const auto& st = storage[i];
    if (s.layers[i].weight == "W1") {
      EXPECT_TRUE(st.stored_sparse);
      EXPECT_EQ(st.dense_bytes, 4608u * 4);
      EXPECT_LT(st.sparse_bytes, st.dense_bytes);
      EXPECT_GT(st.sparse_bytes, (4608u - 4147u) * 12);  // 461 non-zeros × (4 + 8) bytes
      EXPECT_LT(st.zstd_bytes, st.dense_bytes);
    } else if (s.layers[i].weight == "W4") {
      EXPECT_FALSE(st.stored_sparse);
      EXPECT_GT(st.sparse_bytes, st.dense_bytes);
    } else {
      EXPECT_EQ(st.dense_bytes, 0u) << s.layers[i].weight;  // dense layers are not measured
    }
  }
  Value* v = n.g->find_value("W1");
  ASSERT_TRUE(v->is_sparse_initializer());
  EXPECT_FALSE(v->is_initializer());
  Tensor dense = sparse_tensor_to_dense(v->sparse_initializer(), "W1");
  EXPECT_EQ(values(dense), w1);

  // Saved and loaded again (the ONNX checker runs on load): the sparse initializer survives.
  const std::string path = dir.path() + "/sparse.onnx";
  save_model(n.model, path, SaveOptions{});
  Model back = load_model(path);
  Value* r = back.graph->find_value("W1");
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->is_sparse_initializer());
  EXPECT_EQ(values(sparse_tensor_to_dense(r->sparse_initializer(), "W1")), w1);
}

}  // namespace
}  // namespace edgeq::test
