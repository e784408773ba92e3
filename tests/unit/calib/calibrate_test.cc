#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>

#include "../ir/test_util.h"
#include "calib_test_util.h"
#include "edgeq/calib/calibrate.h"
#include "edgeq/data/npy.h"
#include "edgeq/error.h"

namespace edgeq {
namespace {

CalibOptions method(CalibMethod m, int levels = 256, double percentile = 99.999) {
  CalibOptions o;
  o.method = m;
  o.quant_levels = levels;
  o.percentile = percentile;
  return o;
}

// Counts come from named static arrays: GCC 12.2 at -O2 -march=native (AVX-512) materializes
// some braced temporaries wrongly ({8, 8, 0, 0} became 8 8 8 8), see the report of issue #4.
template <size_t N>
Histogram hist(double lo, double hi, const std::array<double, N>& counts) {
  Histogram h;
  h.lo = lo;
  h.hi = hi;
  h.counts.assign(counts.begin(), counts.end());
  return h;
}

TEST(RangeFromHistogram, MinMaxIsTheHistogramRange) {
  static constexpr std::array<double, 4> kCounts1 = {1, 0, 0, 5};
  auto h = hist(-2, 6, kCounts1);
  EXPECT_EQ(range_from_histogram(h, false, method(CalibMethod::kMinMax)), std::make_pair(-2.0f, 6.0f));
  h.lo = 0;
  EXPECT_EQ(range_from_histogram(h, true, method(CalibMethod::kMinMax)), std::make_pair(-6.0f, 6.0f));
}

TEST(RangeFromHistogram, PercentileTails) {
  // 10 bins over [0, 10]: one value in bin 0, 98 in bins 1..8, one in bin 9. P = 98: each tail
  // holds 1 % = 1 value, so both lonely values are cut: [1, 9].
  static constexpr std::array<double, 10> kCounts2 = {1, 10, 10, 10, 10, 10, 10, 20, 18, 1};
  auto h = hist(0, 10, kCounts2);
  EXPECT_EQ(range_from_histogram(h, false, method(CalibMethod::kPercentile, 256, 98)), std::make_pair(1.0f, 9.0f));
  // P = 99.5: tails of 0.25 values cut nothing.
  EXPECT_EQ(range_from_histogram(h, false, method(CalibMethod::kPercentile, 256, 99.5)), std::make_pair(0.0f, 10.0f));
  // Symmetric, |x| histogram of 10 × 10: half the values lie below 5.
  static constexpr std::array<double, 10> kFlat = {10, 10, 10, 10, 10, 10, 10, 10, 10, 10};
  auto a = hist(0, 10, kFlat);
  EXPECT_EQ(range_from_histogram(a, true, method(CalibMethod::kPercentile, 256, 50)), std::make_pair(-5.0f, 5.0f));
  EXPECT_EQ(range_from_histogram(a, true, method(CalibMethod::kPercentile, 256, 50.1)), std::make_pair(-6.0f, 6.0f));
}

TEST(RangeFromHistogram, EntropyMatchesAHandComputedKlSearch) {
  // quant_levels 4 → M = 2 target bins; 4 bins of width 1 with counts 8, 4, 2, 1.
  //   i=2: P = [8, 7]/15, Q = [8, 4]/12            KL = 0.03801
  //   i=3: P = [8, 4, 3]/15, Q = [8, 3, 3]/14      KL = 0.00772  ← minimum
  //   i=4: P = [8, 4, 2, 1]/15, Q = [6, 6, 1.5, 1.5]/15  KL = 0.05663
  static constexpr std::array<double, 4> kCounts3 = {8, 4, 2, 1};
  auto h = hist(0, 4, kCounts3);
  EXPECT_EQ(range_from_histogram(h, true, method(CalibMethod::kEntropy, 4)), std::make_pair(-3.0f, 3.0f));
  // Nothing beyond the first M bins: the smallest threshold already loses nothing (KL = 0).
  static constexpr std::array<double, 4> kCounts4 = {8, 8, 0, 0};
  auto tight = hist(0, 4, kCounts4);
  EXPECT_EQ(range_from_histogram(tight, true, method(CalibMethod::kEntropy, 4)), std::make_pair(-2.0f, 2.0f));
}

// E(t) straight from the definition, for comparison with the O(1)-per-candidate search.
double mse_of(const Histogram& h, int i, int levels) {
  const double w = (h.hi - h.lo) / static_cast<double>(h.counts.size()), t = i * w, step = 2 * t / (levels - 1);
  double e = 0;
  for (size_t j = 0; j < h.counts.size(); ++j) {
    const double c = (static_cast<double>(j) + 0.5) * w;
    e += h.counts[j] * (static_cast<int>(j) < i ? step * step / 12 : (c - t) * (c - t));
  }
  return e;
}

TEST(RangeFromHistogram, MseTradesClippingForResolution) {
  // A far outlier costs more clipped than it costs in rounding with 255 levels: keep it.
  static constexpr std::array<double, 10> kCounts5 = {100, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto keep = hist(0, 10, kCounts5);
  EXPECT_EQ(range_from_histogram(keep, true, method(CalibMethod::kMse, 256)), std::make_pair(-10.0f, 10.0f));
  // With 4 levels, a million values near 0 pay dearly for a wide step: clip the outlier.
  static constexpr std::array<double, 10> kCounts6 = {1e6, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto clip = hist(0, 10, kCounts6);
  EXPECT_EQ(range_from_histogram(clip, true, method(CalibMethod::kMse, 4)), std::make_pair(-1.0f, 1.0f));
  // A random histogram: the chosen threshold is the argmin of the direct formula.
  std::mt19937 rng(3);
  std::exponential_distribution<double> e(0.05);
  Histogram r = hist(0, 8, std::array<double, 64>{});
  for (double& c : r.counts) c = std::floor(e(rng));
  for (int levels : {4, 16, 256}) {
    int best = 1;
    for (int i = 1; i <= 64; ++i)
      if (mse_of(r, i, levels) < mse_of(r, best, levels)) best = i;
    EXPECT_FLOAT_EQ(range_from_histogram(r, true, method(CalibMethod::kMse, levels)).second, best * 8.0f / 64) << levels;
  }
}

std::vector<float> sample_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> t(2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = t(rng);
  return v;
}

TEST(Calibrate, MinMaxOfEveryTensorOfAChain) {
  test::TempDir dir;
  const auto xv = sample_values(64 * 4, 1);
  write_npy(dir.file("x.npy"), test::floats_tensor({64, 4}, xv));
  Model m = test::chain_model();
  auto source = open_samples(m, dir.file("x.npy"), {});
  CalibrationTable t = calibrate(m, *source, {"x", "a", "b", "c", "not_a_tensor"}, method(CalibMethod::kMinMax));
  const float lo = *std::min_element(xv.begin(), xv.end()), hi = *std::max_element(xv.begin(), xv.end());
  EXPECT_EQ(t.samples, 64);
  EXPECT_EQ(t.ranges.at("x").min, lo);
  EXPECT_EQ(t.ranges.at("x").max, hi);
  EXPECT_EQ(t.ranges.at("a").min, lo * 2);
  EXPECT_EQ(t.ranges.at("b").min, 0.0f);
  EXPECT_EQ(t.ranges.at("b").max, hi * 2);
  EXPECT_EQ(t.ranges.at("c").min, -1.0f);
  EXPECT_EQ(t.ranges.at("c").max, hi * 2 - 1.0f);
  EXPECT_EQ(t.ranges.at("c").count, 256);
  EXPECT_TRUE(t.ranges.at("c").reached);
  EXPECT_FALSE(t.ranges.at("not_a_tensor").reached);
}

TEST(Calibrate, UntakenIfBranchIsNotReached) {
  test::TempDir dir;
  Model m = test::empty_model();
  Graph& g = *m.graph;
  Value* x = test::add_float_input(g, "x", {-1, 4});
  const bool no = false;
  Value* cond = g.add_initializer("cond", Tensor::from_values<bool>(DType::kBool, {}, std::span<const bool>(&no, 1)));
  Value* y = g.add_value("y");
  Node* node = g.add_node("If", "", {cond}, {y});
  for (const char* branch : {"then_branch", "else_branch"}) {
    Attribute a;
    a.name = branch;
    a.type = AttrType::kGraph;
    a.graphs.push_back(std::make_unique<Graph>(node));
    Graph& b = *a.graphs[0];
    b.name = branch;
    Value* out = b.add_value(std::string(branch) + "_out");
    b.add_node(branch == std::string("then_branch") ? "Neg" : "Relu", "", {x}, {out});
    b.add_output(out);
    node->attributes().push_back(std::move(a));
  }
  g.add_output(y);
  write_npy(dir.file("x.npy"), test::floats_tensor({8, 4}, sample_values(32, 2)));
  auto source = open_samples(m, dir.file("x.npy"), {});
  CalibrationTable t = calibrate(m, *source, {"then_branch_out", "else_branch_out", "y"}, method(CalibMethod::kEntropy));
  EXPECT_FALSE(t.ranges.at("then_branch_out").reached);
  EXPECT_TRUE(t.ranges.at("else_branch_out").reached);
  EXPECT_EQ(t.ranges.at("else_branch_out").min, 0.0f);
  EXPECT_TRUE(t.ranges.at("y").reached);
  EXPECT_NE(t.to_tsv().find("then_branch_out\t0\t0\t0\tfalse\n"), std::string::npos) << t.to_tsv();
}

TEST(Calibrate, SameTableForAnyBatchSizeAndThreadCount) {
  test::TempDir dir;
  write_npy(dir.file("x.npy"), test::floats_tensor({100, 4}, sample_values(400, 3)));
  Model m = test::chain_model();
  const std::set<std::string> tensors = {"x", "a", "b", "c"};
  for (CalibMethod cm : {CalibMethod::kMinMax, CalibMethod::kPercentile, CalibMethod::kEntropy, CalibMethod::kMse}) {
    std::string first;
    for (int64_t batch : {1, 32}) {
      for (int threads : {1, 2}) {
        DataOptions d;
        d.batch = batch;
        auto source = open_samples(m, dir.file("x.npy"), d);
        CalibOptions o = method(cm, 256, 99.0);
        o.threads = threads;
        o.symmetric = {"a"};
        const std::string tsv = calibrate(m, *source, tensors, o).to_tsv();
        if (first.empty()) first = tsv;
        EXPECT_EQ(tsv, first) << calib_method_name(cm) << " batch " << batch << " threads " << threads;
      }
    }
  }
}

TEST(Calibrate, StoredAndDeflatedNpzGiveTheNpyTable) {
  test::TempDir dir;
  const Tensor x = test::floats_tensor({50, 4}, sample_values(200, 4));
  write_npy(dir.file("x.npy"), x);
  test::write_bytes(dir.file("s.npz"), test::zip_bytes({{"x", npy_bytes(x)}}, false));
  test::write_bytes(dir.file("d.npz"), test::zip_bytes({{"x", npy_bytes(x)}}, true));
  Model m = test::chain_model();
  auto table = [&](const std::string& f) {
    auto s = open_samples(m, dir.file(f), {});
    return calibrate(m, *s, {"x", "c"}, method(CalibMethod::kPercentile, 256, 99)).to_tsv();
  };
  EXPECT_EQ(table("s.npz"), table("x.npy"));
  EXPECT_EQ(table("d.npz"), table("x.npy"));
}

TEST(Calibrate, MethodNamesRoundTrip) {
  for (CalibMethod m : {CalibMethod::kMinMax, CalibMethod::kPercentile, CalibMethod::kEntropy, CalibMethod::kMse})
    EXPECT_EQ(parse_calib_method(calib_method_name(m)), m);
  try {
    parse_calib_method("median");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
  }
}

}  // namespace
}  // namespace edgeq
