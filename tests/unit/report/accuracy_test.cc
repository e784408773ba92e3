// The accuracy section's math (include/edgeq/report/accuracy.h), against computations written
// here independently:
//   - ErrorStats: cosine, SQNR, max/mean abs error, MSE over chunks equal the one-shot formulas,
//     and the degenerate cases (identical, zero reference, NaN);
//   - argmax / label_rank: first maximum, ties ranked by index;
//   - evaluate_accuracy on a two-layer model and a "compressed" twin built in code (perturbed
//     weights, an 8-bit QDQ pair on the hidden layer with its Relu folded into the range, as the
//     static quantizer writes it; and the QOperator spelling NAME_quantized + NAME_scale /
//     NAME_zero_point): per output and per layer numbers, labels, determinism across threads and
//     batch sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/quant.h"
#include "edgeq/report/accuracy.h"

namespace edgeq::test {
namespace {

using nlohmann::json;

// Sums here are in double like the implementation; relative agreement to 1e-9 leaves room only
// for summation order (chunks vs one pass).
constexpr double kRelTol = 1e-9;
// The executor's float32 MatMul may add in another order than the plain loops here (vectorized
// kernels): values agree to ~1e-7 relative, which moves the derived metrics by far less than 1e-4.
constexpr double kExecTol = 1e-4;

void expect_close(double got, double want, const char* what, double tol = kRelTol) {
  EXPECT_NEAR(got, want, tol * std::max(1.0, std::fabs(want))) << what;
}

std::vector<float> random_values(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// ---- ErrorStats ----

TEST(ErrorStats, ChunkedSumsMatchTheFormulas) {
  const std::vector<float> ref = random_values(1000, 1);
  std::vector<float> x = ref;
  const std::vector<float> noise = random_values(1000, 2, -0.05f, 0.05f);
  for (size_t i = 0; i < x.size(); ++i) x[i] += noise[i];

  double dot = 0, xx = 0, rr = 0, ee = 0, ae = 0, mx = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    dot += double(x[i]) * ref[i];
    xx += double(x[i]) * x[i];
    rr += double(ref[i]) * ref[i];
    const double e = double(x[i]) - ref[i];
    ee += e * e;
    ae += std::fabs(e);
    mx = std::max(mx, std::fabs(e));
  }
  ErrorStats s;
  for (size_t begin = 0; begin < x.size(); begin += 137) {
    const size_t n = std::min<size_t>(137, x.size() - begin);
    s.add(std::span<const float>(x).subspan(begin, n), std::span<const float>(ref).subspan(begin, n));
  }
  EXPECT_EQ(s.count(), 1000u);
  expect_close(s.cosine(), dot / std::sqrt(xx * rr), "cosine");
  ASSERT_TRUE(s.sqnr_db());
  expect_close(*s.sqnr_db(), 10 * std::log10(rr / ee), "sqnr");
  expect_close(s.mse(), ee / 1000, "mse");
  expect_close(s.mean_abs_err(), ae / 1000, "mean abs err");
  EXPECT_EQ(s.max_abs_err(), mx);
  // Uniform noise in ±0.05 on a uniform ±1 signal: SQNR = 10 log10((1/3) / (0.05²/3)) = 26 dB.
  EXPECT_NEAR(*s.sqnr_db(), 26.0, 1.0);
}

TEST(ErrorStats, DegenerateCases) {
  const std::vector<float> a{1, -2, 3};
  ErrorStats same;
  same.add(a, a);
  EXPECT_FALSE(same.sqnr_db());  // identical: infinite SQNR
  EXPECT_EQ(same.cosine(), 1.0);
  EXPECT_EQ(same.mse(), 0.0);

  const std::vector<float> zero{0, 0, 0};
  ErrorStats no_signal;
  no_signal.add(a, zero);
  EXPECT_FALSE(no_signal.sqnr_db());
  EXPECT_EQ(no_signal.cosine(), 0.0);
  EXPECT_GT(no_signal.mse(), 0.0);

  ErrorStats both_zero;
  both_zero.add(zero, zero);
  EXPECT_EQ(both_zero.cosine(), 1.0);

  const std::vector<float> with_nan{1, NAN, 3};
  ErrorStats nan;
  nan.add(with_nan, a);
  EXPECT_TRUE(nan.has_nan());
  EXPECT_FALSE(nan.sqnr_db());

  // Opposite vectors: cosine −1, and error = 2·ref so SQNR = 10 log10(1/4).
  const std::vector<float> neg{-1, 2, -3};
  ErrorStats opposite;
  opposite.add(neg, a);
  EXPECT_DOUBLE_EQ(opposite.cosine(), -1.0);
  EXPECT_NEAR(*opposite.sqnr_db(), 10 * std::log10(0.25), 1e-12);
}

TEST(Ranks, ArgmaxAndLabelRank) {
  const std::vector<float> s{0.1f, 0.7f, 0.7f, 0.2f, 0.9f, 0.0f};
  EXPECT_EQ(argmax(s), 4);
  EXPECT_EQ(label_rank(s, 4), 0);
  EXPECT_EQ(label_rank(s, 1), 1);  // only 0.9 above; class 2 ties but has a higher index
  EXPECT_EQ(label_rank(s, 2), 2);  // 0.9, and the tie of lower index
  EXPECT_EQ(label_rank(s, 5), 5);
  const std::vector<float> ties{0.5f, 0.5f};
  EXPECT_EQ(argmax(ties), 0);  // first maximum, as numpy
}

// ---- evaluate_accuracy on models built here ----

struct Builder {
  Model model;
  Graph* g;
  Builder() {
    model.ir_version = 8;
    model.opset_imports.push_back({"", 17});
    model.graph = std::make_unique<Graph>();
    g = model.graph.get();
  }
  Value* input(const std::string& name, int64_t features) {
    Value* v = g->add_value(name);
    v->info.present = v->info.has_type = true;
    v->info.type_kind = "tensor";
    v->info.tensor = TensorType{DType::kFloat, std::vector<Dim>{Dim{std::nullopt, "N", ""}, Dim{features, "", ""}}};
    g->add_input(v);
    return v;
  }
  Value* init(const std::string& name, DType dtype, std::vector<int64_t> dims, const std::vector<float>& values) {
    if (dtype == DType::kFloat)
      return g->add_initializer(name, Tensor::from_values<float>(dtype, dims, std::span<const float>(values)));
    std::vector<uint8_t> bytes(values.begin(), values.end());
    return g->add_initializer(name, Tensor::from_values<uint8_t>(dtype, dims, std::span<const uint8_t>(bytes)));
  }
  Value* op(const std::string& type, std::vector<Value*> ins, const std::string& out) {
    Value* o = g->add_value(out);
    g->add_node(type, "", std::move(ins), {o})->set_name(type + "_" + out);
    return o;
  }
  void output(Value* v) {
    v->info.present = v->info.has_type = true;
    v->info.type_kind = "tensor";
    v->info.tensor = TensorType{DType::kFloat, std::vector<Dim>(2)};
    g->add_output(v);
  }
};

constexpr int64_t kIn = 6, kHidden = 8, kClasses = 7, kSamples = 50;
// The hidden layer's 8-bit range, as a static quantizer would pick it for a Relu output.
constexpr float kHiddenScale = 0.02f;

const std::vector<float>& w1() { static const auto v = random_values(kIn * kHidden, 11); return v; }
const std::vector<float>& w2() { static const auto v = random_values(kHidden * kClasses, 12); return v; }
const std::vector<float>& w1_perturbed() {
  static const auto v = [] {
    auto w = w1();
    auto n = random_values(w.size(), 13, -0.25f, 0.25f);  // enough to flip some decisions
    for (size_t i = 0; i < w.size(); ++i) w[i] += n[i];
    return w;
  }();
  return v;
}

// X → MatMul(W1) → h → Relu → r → MatMul(W2) → logits
Model reference_model() {
  Builder b;
  Value* x = b.input("x", kIn);
  Value* h = b.op("MatMul", {x, b.init("W1", DType::kFloat, {kIn, kHidden}, w1())}, "h");
  Value* r = b.op("Relu", {h}, "r");
  b.output(b.op("MatMul", {r, b.init("W2", DType::kFloat, {kHidden, kClasses}, w2())}, "logits"));
  return std::move(b.model);
}

// The compressed twin: perturbed W1, the Relu folded into a u8 QDQ pair on h (zero point 0, so
// negatives clip to 0). qoperator: the DequantizeLinear output has another name, so only
// h_quantized + h_scale/h_zero_point identify h.
Model compressed_model(bool qoperator) {
  Builder b;
  Value* x = b.input("x", kIn);
  Value* h = b.op("MatMul", {x, b.init("W1", DType::kFloat, {kIn, kHidden}, w1_perturbed())}, "h");
  Value* s = b.init("h_scale", DType::kFloat, {}, {kHiddenScale});
  Value* z = b.init("h_zero_point", DType::kUint8, {}, {0});
  Value* q = b.op("QuantizeLinear", {h, s, z}, "h_quantized");
  Value* dq = b.op("DequantizeLinear", {q, s, z}, qoperator ? "h_int8_as_float" : "h_dequantized");
  b.output(b.op("MatMul", {dq, b.init("W2", DType::kFloat, {kHidden, kClasses}, w2())}, "logits"));
  return std::move(b.model);
}

class RowsSource final : public SampleSource {
 public:
  RowsSource(std::vector<float> rows, int64_t batch) : rows_(std::move(rows)), batch_(batch) {}
  bool next(Batch& batch) override {
    const int64_t total = total_samples();
    if (done_ >= total) return false;
    const int64_t n = std::min(batch_, total - done_);
    batch.feeds.clear();
    batch.feeds["x"] = RtValue(Tensor::from_values<float>(
        DType::kFloat, {n, kIn}, std::span<const float>(rows_).subspan(static_cast<size_t>(done_ * kIn), n * kIn)));
    batch.samples = n;
    done_ += n;
    return true;
  }
  void rewind() override { done_ = 0; }
  int64_t total_samples() const override { return static_cast<int64_t>(rows_.size()) / kIn; }
  std::string describe() const override { return "rows"; }

 private:
  std::vector<float> rows_;
  int64_t batch_;
  int64_t done_ = 0;
};

// Plain loops: y[n, out] = x[n, in] · w[in, out].
std::vector<float> matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t in, int64_t out) {
  const int64_t n = static_cast<int64_t>(x.size()) / in;
  std::vector<float> y(static_cast<size_t>(n * out), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      float acc = 0;
      for (int64_t k = 0; k < in; ++k) acc += x[i * in + k] * w[k * out + o];
      y[i * out + o] = acc;
    }
  return y;
}

struct Expected {
  std::vector<float> h_ref, r_ref, logits_ref, h_model, h_dq, logits_model;
};

Expected compute(const std::vector<float>& x) {
  Expected e;
  e.h_ref = matmul(x, w1(), kIn, kHidden);
  e.r_ref = e.h_ref;
  for (float& v : e.r_ref) v = std::max(v, 0.0f);
  e.logits_ref = matmul(e.r_ref, w2(), kHidden, kClasses);
  e.h_model = matmul(x, w1_perturbed(), kIn, kHidden);
  e.h_dq = e.h_model;
  for (float& v : e.h_dq) {
    const float q = std::clamp(std::nearbyint(v / kHiddenScale), 0.0f, 255.0f);
    v = q * kHiddenScale;
  }
  e.logits_model = matmul(e.h_dq, w2(), kHidden, kClasses);
  return e;
}

double sqnr(const std::vector<float>& x, const std::vector<float>& ref) {
  double s = 0, n = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    s += double(ref[i]) * ref[i];
    n += (double(ref[i]) - x[i]) * (double(ref[i]) - x[i]);
  }
  return 10 * std::log10(s / n);
}

const json& layer(const json& section, const std::string& name) {
  for (const auto& row : section["layers"])
    if (row["name"] == name) return row;
  static const json none;
  ADD_FAILURE() << "no layer row for " << name << " in " << section["layers"].dump();
  return none;
}

TEST(EvaluateAccuracy, MatchesAnIndependentComputation) {
  const std::vector<float> x = random_values(kSamples * kIn, 21);
  const Expected e = compute(x);
  std::vector<int64_t> labels(kSamples);
  for (int64_t i = 0; i < kSamples; ++i) labels[i] = (i * 3) % kClasses;

  const Model ref = reference_model();
  const Model model = compressed_model(false);
  RowsSource source(x, 16);  // 16 + 16 + 16 + 2: a partial last batch
  AccuracyOptions o;
  o.labels = labels;
  o.threads = 1;
  std::vector<int64_t> progress;
  o.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, kSamples);
    progress.push_back(done);
  };
  const json a = evaluate_accuracy(model, ref, source, o);
  EXPECT_EQ(progress, (std::vector<int64_t>{16, 32, 48, 50}));
  EXPECT_EQ(a["samples"], kSamples);

  // Output.
  ASSERT_EQ(a["outputs"].size(), 1u);
  const json& out = a["outputs"][0];
  EXPECT_EQ(out["name"], "logits");
  ErrorStats all;
  all.add(e.logits_model, e.logits_ref);
  expect_close(out["sqnr_db"].get<double>(), sqnr(e.logits_model, e.logits_ref), "output sqnr", kExecTol);
  expect_close(out["cosine"].get<double>(), all.cosine(), "output cosine", kExecTol);
  expect_close(a["worst_output_cosine"].get<double>(), all.cosine(), "worst cosine", kExecTol);
  double cos_min = 2;
  int64_t agree = 0, top1 = 0, ref_top1 = 0, top5 = 0, ref_top5 = 0;
  double max_err = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    std::span<const float> m(e.logits_model.data() + i * kClasses, kClasses);
    std::span<const float> r(e.logits_ref.data() + i * kClasses, kClasses);
    double dot = 0, mm = 0, rr = 0;
    int64_t am = 0, ar = 0, above_m = 0, above_r = 0;
    for (int64_t c = 0; c < kClasses; ++c) {
      dot += double(m[c]) * r[c];
      mm += double(m[c]) * m[c];
      rr += double(r[c]) * r[c];
      max_err = std::max(max_err, std::fabs(double(m[c]) - r[c]));
      if (m[c] > m[am]) am = c;
      if (r[c] > r[ar]) ar = c;
      if (m[c] > m[labels[i]]) ++above_m;  // random floats: no ties
      if (r[c] > r[labels[i]]) ++above_r;
    }
    cos_min = std::min(cos_min, dot / std::sqrt(mm * rr));
    agree += am == ar;
    top1 += am == labels[i];
    ref_top1 += ar == labels[i];
    top5 += above_m < 5;
    ref_top5 += above_r < 5;
  }
  expect_close(out["cosine_min"].get<double>(), cos_min, "cosine min", kExecTol);
  expect_close(out["max_abs_err"].get<double>(), max_err, "max abs err", kExecTol);
  expect_close(out["top1_agreement"].get<double>(), 100.0 * agree / kSamples, "agreement", kExecTol);
  const json& l = a["labels"];
  EXPECT_EQ(l["output"], "logits");
  expect_close(l["top1"].get<double>(), 100.0 * top1 / kSamples, "top1", kExecTol);
  expect_close(l["reference_top1"].get<double>(), 100.0 * ref_top1 / kSamples, "ref top1", kExecTol);
  expect_close(l["top5"].get<double>(), 100.0 * top5 / kSamples, "top5", kExecTol);
  expect_close(l["reference_top5"].get<double>(), 100.0 * ref_top5 / kSamples, "ref top5", kExecTol);
  expect_close(l["top1_drop"].get<double>(), 100.0 * (ref_top1 - top1) / kSamples, "drop", kExecTol);
  EXPECT_LT(agree, kSamples);  // the perturbation is large enough to be visible
  EXPECT_GT(agree, kSamples / 2);

  // Layers, in the reference's graph order: h against the model's float h, the folded Relu's r
  // against h_dequantized, logits against logits.
  ASSERT_EQ(a["layers"].size(), 3u);
  EXPECT_EQ(a["layers"][0]["name"], "h");
  EXPECT_EQ(a["layers"][1]["name"], "r");
  EXPECT_EQ(a["layers"][2]["name"], "logits");
  const json& h = layer(a, "h");
  EXPECT_EQ(h["model_tensor"], "h");
  EXPECT_EQ(h["form"], "float");
  EXPECT_EQ(h["op_type"], "MatMul");
  expect_close(h["sqnr_db"].get<double>(), sqnr(e.h_model, e.h_ref), "h sqnr", kExecTol);
  const json& r = layer(a, "r");
  EXPECT_EQ(r["model_tensor"], "h_dequantized");
  EXPECT_EQ(r["form"], "dequantized");
  EXPECT_EQ(r["op_type"], "Relu");
  expect_close(r["sqnr_db"].get<double>(), sqnr(e.h_dq, e.r_ref), "r sqnr", kExecTol);
  expect_close(layer(a, "logits")["sqnr_db"].get<double>(), sqnr(e.logits_model, e.logits_ref), "logits sqnr", kExecTol);
  // The worst layers: the lowest SQNR first, three at most.
  ASSERT_EQ(a["worst_layers"].size(), 3u);
  double prev = -1e300;
  for (const auto& name : a["worst_layers"]) {
    const double v = layer(a, name.get<std::string>())["sqnr_db"].get<double>();
    EXPECT_GE(v, prev);
    prev = v;
    EXPECT_TRUE(layer(a, name.get<std::string>())["worst"].get<bool>());
  }
}

TEST(EvaluateAccuracy, QOperatorTensorsAreDequantizedForTheComparison) {
  const std::vector<float> x = random_values(kSamples * kIn, 22);
  const Expected e = compute(x);
  RowsSource source(x, 32);
  AccuracyOptions o;
  o.threads = 1;
  const json a = evaluate_accuracy(compressed_model(true), reference_model(), source, o);
  EXPECT_TRUE(a["labels"].is_null());
  const json& r = layer(a, "r");
  EXPECT_EQ(r["model_tensor"], "h_quantized");
  EXPECT_EQ(r["form"], "quantized");
  expect_close(r["sqnr_db"].get<double>(), sqnr(e.h_dq, e.r_ref), "r sqnr via scale/zero point", kExecTol);
}

TEST(EvaluateAccuracy, SameResultForAnyThreadCountAndBatchSize) {
  const std::vector<float> x = random_values(kSamples * kIn, 23);
  const Model ref = reference_model();
  const Model model = compressed_model(false);
  auto run = [&](int threads, int64_t batch) {
    RowsSource source(x, batch);
    AccuracyOptions o;
    o.threads = threads;
    return evaluate_accuracy(model, ref, source, o);
  };
  const json one = run(1, 16);
  EXPECT_EQ(one.dump(), run(2, 16).dump());
  // Another batch size may change the executor's float blocking and the order of additions:
  // equal to float rounding.
  const json other = run(1, 50);
  expect_close(other["outputs"][0]["sqnr_db"].get<double>(), one["outputs"][0]["sqnr_db"].get<double>(), "batch",
               kExecTol);
}

TEST(EvaluateAccuracy, BadLabelsAreInvalidData) {
  const std::vector<float> x = random_values(kSamples * kIn, 24);
  const Model ref = reference_model();
  const Model model = compressed_model(false);
  auto kind_of = [&](std::vector<int64_t> labels) {
    RowsSource source(x, 16);
    AccuracyOptions o;
    o.threads = 1;
    o.labels = std::move(labels);
    try {
      evaluate_accuracy(model, ref, source, o);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of(std::vector<int64_t>(kSamples - 1, 0)), ErrorKind::kInvalidData);  // too few
  std::vector<int64_t> out_of_range(kSamples, 0);
  out_of_range[40] = kClasses;
  EXPECT_EQ(kind_of(out_of_range), ErrorKind::kInvalidData);
}

}  // namespace
}  // namespace edgeq::test
