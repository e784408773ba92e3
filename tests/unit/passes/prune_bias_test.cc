// Global LAMP ranking and data-free bias correction after pruning (src/passes/prune/prune.cc,
// bias_correction.cc). The bias tests make the pruned layer's input exactly its expected value
// (a BatchNormalization with scale 0 outputs its B on every element), so after correction the
// pruned model's output must equal the original's, element for element; without correction it
// does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../runtime/kernel_test_util.h"
#include "edgeq/passes/pass.h"
#include "edgeq/passes/prune.h"
#include "edgeq/runtime/executor.h"

namespace edgeq::test {
namespace {

std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

Tensor tensor(std::vector<int64_t> dims, uint32_t seed, float lo = -1, float hi = 1) {
  size_t n = 1;
  for (int64_t d : dims) n *= static_cast<size_t>(d);
  return f32(std::move(dims), uniform(n, seed, lo, hi));
}

struct Builder {
  Model model;
  Graph* g;
  Value* x;
  Builder() {
    model.ir_version = 8;
    model.opset_imports.push_back({"", 17});
    model.graph = std::make_unique<Graph>();
    g = model.graph.get();
    g->name = "bias";
    x = g->add_value("x");
    g->add_input(x);
  }
  // Attributes are move-only (a subgraph attribute owns its graph): passed as arguments.
  template <class... Attrs>
  Value* op(const std::string& type, const std::string& name, std::vector<Value*> ins, Attrs... attrs) {
    Value* out = g->add_value(name + "_out");
    Node* n = g->add_node(type, "", std::move(ins), {out});
    n->set_name(name);
    (n->set_attr(std::move(attrs)), ...);
    return out;
  }
  Value* init(const std::string& name, Tensor t) { return g->add_initializer(name, std::move(t)); }
  // BatchNormalization over `c` channels; scale 0 makes its output exactly B (some B negative,
  // so the Relu after it matters).
  Value* batchnorm(const std::string& name, Value* in, int64_t c, bool zero_scale, uint32_t seed) {
    Tensor scale = zero_scale ? f32({c}, std::vector<float>(static_cast<size_t>(c), 0.0f)) : tensor({c}, seed, 0.5f, 1.5f);
    return op("BatchNormalization", name,
              {in, init(name + ".scale", scale), init(name + ".B", tensor({c}, seed + 1, -0.5f, 1.0f)),
               init(name + ".mean", tensor({c}, seed + 2, -1, 1)), init(name + ".var", tensor({c}, seed + 3, 0.5f, 2))});
  }
  // x [1,3,6,6] -> Conv (3x3, pad 1) -> BatchNormalization (scale 0) -> Relu: every element of
  // channel c is max(B_c, 0), the expected value bias correction assumes.
  Value* constant_features() {
    Value* a = op("Conv", "conv_a", {x, init("Wa", tensor({16, 3, 3, 3}, 1))}, Attribute::of_ints("pads", {1, 1, 1, 1}));
    return op("Relu", "relu_a", {batchnorm("bn_a", a, 16, true, 10)});
  }
  std::vector<float> run(std::optional<Tensor> x = std::nullopt) const {
    Executor ex(model, {2});
    auto out = ex.run({{"x", RtValue(x ? *x : tensor({1, 3, 6, 6}, 99))}});
    auto v = out.at(0).second.tensor.values<float>();
    return {v.begin(), v.end()};
  }
};

PruneSummary prune_layer(Model& m, const std::string& node, bool correct) {
  PruneOptions o;
  o.sparsity = 0.6;
  o.scope = PruneScope::kLayer;
  o.min_params = 0;
  o.prune_first_last = true;
  o.exclude_nodes = {"conv_a"};
  o.bias_correction = correct;
  PassContext ctx;
  PruneSummary s = prune(m, o, ctx);
  for (const PrunedLayer& l : s.layers)
    if (l.node.find(node) != std::string::npos) EXPECT_TRUE(l.pruned) << node;
  return s;
}

const PrunedLayer& layer(const PruneSummary& s, const std::string& weight) {
  for (const PrunedLayer& l : s.layers)
    if (l.weight == weight) return l;
  ADD_FAILURE() << "no layer " << weight;
  static PrunedLayer none;
  return none;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

// Builds the same model three times: original, pruned without and with correction. The
// corrected output matches the original; the uncorrected one is visibly off.
template <class Make>
void expect_corrected(Make make, const std::string& weight, const std::string& expected_target) {
  Builder original = make();
  const std::vector<float> want = original.run();
  Builder plain = make();
  PruneSummary s0 = prune_layer(plain.model, weight, false);
  EXPECT_FALSE(layer(s0, weight).bias_corrected);
  Builder fixed = make();
  PruneSummary s1 = prune_layer(fixed.model, weight, true);
  EXPECT_TRUE(layer(s1, weight).bias_corrected) << layer(s1, weight).bias_not_corrected;
  EXPECT_EQ(layer(s1, weight).bias_tensor, expected_target);
  double scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(double(v)));
  EXPECT_GT(max_abs_diff(want, plain.run()), 1e-2 * scale) << "pruning without correction should change the output";
  EXPECT_LE(max_abs_diff(want, fixed.run()), 1e-5 * scale) << "the corrected output differs from the original";
}

TEST(PruneBiasCorrection, ConvFollowedByBatchNormGetsItsRunningMeanShifted) {
  expect_corrected(
      [] {
        Builder b;
        Value* y = b.op("Conv", "conv_b", {b.constant_features(), b.init("Wb", tensor({8, 16, 3, 3}, 2))});
        b.g->add_output(b.batchnorm("bn_b", y, 8, false, 20));
        return b;
      },
      "Wb", "bn_b.mean");
}

TEST(PruneBiasCorrection, ConvWithoutBiasGetsOne) {
  expect_corrected(
      [] {
        Builder b;
        b.g->add_output(b.op("Conv", "conv_b", {b.constant_features(), b.init("Wb", tensor({8, 16, 3, 3}, 2))}));
        return b;
      },
      "Wb", "Wb_bias");
}

TEST(PruneBiasCorrection, DepthwiseConvBiasIsCorrectedPerGroup) {
  expect_corrected(
      [] {
        Builder b;
        b.g->add_output(b.op("Conv", "conv_b",
                             {b.constant_features(), b.init("Wb", tensor({32, 1, 3, 3}, 3)), b.init("Bb", tensor({32}, 4))},
                             Attribute::of_int("group", 16)));
        return b;
      },
      "Wb", "Bb");
}

TEST(PruneBiasCorrection, GemmAfterPoolingAndFlattenGetsItsCShiftedThroughAlphaAndBeta) {
  expect_corrected(
      [] {
        Builder b;
        Value* f = b.op("Flatten", "flatten", {b.op("GlobalAveragePool", "pool", {b.constant_features()})});
        b.g->add_output(b.op("Gemm", "gemm", {f, b.init("Wg", tensor({10, 16}, 5)), b.init("Cg", tensor({10}, 6))},
                             Attribute::of_int("transB", 1), Attribute::of_float("alpha", -2.0f),
                             Attribute::of_float("beta", 0.5f)));
        return b;
      },
      "Wg", "Cg");
}

TEST(PruneBiasCorrection, MatMulFollowedByABiasAddGetsTheAddShifted) {
  expect_corrected(
      [] {
        Builder b;
        Value* f = b.op("Flatten", "flatten", {b.op("GlobalAveragePool", "pool", {b.constant_features()})});
        Value* m = b.op("MatMul", "matmul", {f, b.init("Wm", tensor({16, 10}, 7))});
        b.g->add_output(b.op("Add", "bias_add", {b.init("Am", tensor({10}, 8)), m}));
        return b;
      },
      "Wm", "Am");
}

TEST(PruneBiasCorrection, UnknownInputStatisticsLeaveEverythingElseAlone) {
  Builder b;
  Value* y = b.op("Conv", "conv_b", {b.x, b.init("Wb", tensor({8, 3, 3, 3}, 2))});
  b.g->add_output(b.batchnorm("bn_b", y, 8, false, 20));
  const std::vector<float> mean_before = [&] {
    auto v = b.g->find_value("bn_b.mean")->initializer()->values<float>();
    return std::vector<float>(v.begin(), v.end());
  }();
  PruneOptions o;
  o.min_params = 0;
  o.prune_first_last = true;
  PassContext ctx;
  PruneSummary s = prune(b.model, o, ctx);
  EXPECT_FALSE(layer(s, "Wb").bias_corrected);
  EXPECT_NE(layer(s, "Wb").bias_not_corrected.find("graph input"), std::string::npos)
      << layer(s, "Wb").bias_not_corrected;
  auto after = b.g->find_value("bn_b.mean")->initializer()->values<float>();
  EXPECT_EQ(std::vector<float>(after.begin(), after.end()), mean_before);
}

TEST(PruneBiasCorrection, MeasuredInputMeansCorrectLayersTheGraphGivesNoEstimateFor) {
  // The Conv reads the graph input: no estimate from the graph, but measured means are given. An
  // input whose every channel is constant (its mean) makes the corrected output exact.
  auto make = [] {
    Builder b;
    b.g->add_output(b.op("Conv", "conv_b", {b.x, b.init("Wb", tensor({8, 3, 3, 3}, 2)), b.init("Bb", tensor({8}, 3))}));
    return b;
  };
  const std::vector<double> means = {0.7, -0.3, 1.9};
  std::vector<float> x;
  for (double m : means) x.insert(x.end(), 36, static_cast<float>(m));
  const Tensor input = f32({1, 3, 6, 6}, x);
  Builder original = make();
  const std::vector<float> want = original.run(input);
  for (bool give_means : {false, true}) {
    Builder b = make();
    PruneOptions o;
    o.sparsity = 0.5;
    o.min_params = 0;
    o.prune_first_last = true;
    if (give_means) o.input_means["x"] = means;
    PassContext ctx;
    PruneSummary s = prune(b.model, o, ctx);
    const PrunedLayer& l = layer(s, "Wb");
    EXPECT_EQ(l.bias_corrected, give_means) << l.bias_not_corrected;
    EXPECT_EQ(l.bias_measured, give_means);
    double scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(double(v)));
    if (give_means) {
      EXPECT_EQ(l.bias_tensor, "Bb");
      EXPECT_LE(max_abs_diff(want, b.run(input)), 1e-5 * scale);
    } else {
      EXPECT_GT(max_abs_diff(want, b.run(input)), 1e-2 * scale);
    }
  }
}

TEST(PruneBiasCorrection, ChannelPruningPutsTheRemovedChannelsMeanIntoTheConsumer) {
  // conv_a's channels are constant after BatchNormalization (scale 0) + Relu, so a consumer that
  // loses some of them loses exactly their mean: with the correction, the output is unchanged.
  auto make = [] {
    Builder b;
    Value* y = b.op("Conv", "conv_b", {b.constant_features(), b.init("Wb", tensor({8, 16, 3, 3}, 2))});
    b.g->add_output(b.batchnorm("bn_b", y, 8, false, 20));
    return b;
  };
  Builder original = make();
  const std::vector<float> want = original.run();
  double scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(double(v)));
  for (bool correct : {false, true}) {
    Builder b = make();
    PruneOptions o;
    o.pattern = PrunePattern::kChannel;
    o.sparsity = 0.25;
    o.min_params = 0;
    o.prune_first_last = true;
    o.bias_correction = correct;  // conv_b keeps its channels: its output is the graph's
    PassContext ctx;
    PruneSummary s = prune(b.model, o, ctx);
    EXPECT_EQ(b.g->find_value("Wa")->initializer()->dims()[0], 12);  // 4 of 16 channels gone
    EXPECT_EQ(layer(s, "Wb").bias_corrected, correct) << layer(s, "Wb").bias_not_corrected;
    if (correct) {
      EXPECT_EQ(layer(s, "Wb").bias_tensor, "bn_b.mean");
      EXPECT_LE(max_abs_diff(want, b.run()), 1e-5 * scale);
    } else {
      EXPECT_GT(max_abs_diff(want, b.run()), 1e-2 * scale);
    }
  }
}

// ---- LAMP ----

// Reference LAMP selection: per layer, sort by (|w|, index); score = w^2 / suffix sum of squares
// (double, then float as stored); then all (score, layer, index) ascending, the first k go.
std::vector<std::vector<bool>> lamp_reference(const std::vector<std::vector<float>>& layers, int64_t k) {
  struct Entry {
    float score;
    size_t layer, index;
  };
  std::vector<Entry> all;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& w = layers[l];
    std::vector<size_t> order(w.size());
    for (size_t i = 0; i < w.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const float fa = std::fabs(w[a]), fb = std::fabs(w[b]);
      return fa != fb ? fa < fb : a < b;
    });
    double suffix = 0;
    for (size_t r = order.size(); r-- > 0;) {
      const double v = w[order[r]];
      suffix += v * v;
      all.push_back({static_cast<float>(v * v / suffix), l, order[r]});
    }
  }
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    if (a.score != b.score) return a.score < b.score;
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.index < b.index;
  });
  std::vector<std::vector<bool>> zero;
  for (const auto& w : layers) zero.emplace_back(w.size(), false);
  for (int64_t i = 0; i < k; ++i) zero[all[static_cast<size_t>(i)].layer][all[static_cast<size_t>(i)].index] = true;
  return zero;
}

TEST(PruneLamp, GlobalRankingMatchesTheReferenceAndSparesSmallScaleLayers) {
  // Three MatMuls whose weights differ 100x in scale: plain magnitude would empty the small one.
  auto make = [] {
    Builder b;
    Value* h = b.op("MatMul", "big", {b.x, b.init("W1", tensor({64, 48}, 31, -1, 1))});
    h = b.op("MatMul", "tiny", {h, b.init("W2", tensor({48, 40}, 32, -0.01f, 0.01f))});
    b.g->add_output(b.op("MatMul", "mid", {h, b.init("W3", tensor({40, 20}, 33, -0.1f, 0.1f))}));
    return b;
  };
  for (double s : {0.5, 0.9}) {
    Builder original = make();
    Builder pruned = make();
    PruneOptions o;
    o.sparsity = s;
    o.prune_first_last = true;
    PassContext ctx;
    PruneSummary sum = prune(pruned.model, o, ctx);
    std::vector<std::vector<float>> before, after;
    for (const char* w : {"W1", "W2", "W3"}) {
      auto a = original.g->find_value(w)->initializer()->values<float>();
      auto b = pruned.g->find_value(w)->initializer()->values<float>();
      before.emplace_back(a.begin(), a.end());
      after.emplace_back(b.begin(), b.end());
    }
    const int64_t total = 64 * 48 + 48 * 40 + 40 * 20;
    const int64_t k = std::llround(s * total);
    EXPECT_EQ(sum.zeros, k);
    auto ref = lamp_reference(before, k);
    for (size_t l = 0; l < 3; ++l) {
      int64_t zeros = 0;
      for (size_t i = 0; i < after[l].size(); ++i) {
        ASSERT_EQ(after[l][i] == 0.0f, bool(ref[l][i])) << "layer " << l << " [" << i << "] S=" << s;
        if (after[l][i] != 0.0f) ASSERT_EQ(after[l][i], before[l][i]);
        zeros += after[l][i] == 0.0f;
      }
      EXPECT_LT(zeros, static_cast<int64_t>(after[l].size())) << "LAMP never empties a layer";
    }
    // The 100x smaller layer keeps weights where magnitude ranking would not keep one.
    int64_t tiny_kept = 0;
    for (float v : after[1]) tiny_kept += v != 0.0f;
    EXPECT_GT(tiny_kept, static_cast<int64_t>(0.02 * after[1].size())) << "S=" << s;

    Builder by_magnitude = make();
    o.score = PruneScore::kMagnitude;
    PassContext ctx2;
    prune(by_magnitude.model, o, ctx2);
    int64_t tiny_kept_magnitude = 0;
    for (float v : by_magnitude.g->find_value("W2")->initializer()->values<float>()) tiny_kept_magnitude += v != 0.0f;
    EXPECT_EQ(tiny_kept_magnitude, 0) << "S=" << s << ": the magnitude ranking should empty the small layer here";
  }
}

}  // namespace
}  // namespace edgeq::test
