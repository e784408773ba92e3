// Calibration: streaming statistics over the executor's observer, and the four range methods.
// The exact definitions live in include/edgeq/calib/calibrate.h; tools/calib_reference.py is an
// independent numpy version of the same definitions that the e2e test compares against.
#include "edgeq/calib/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "edgeq/error.h"
#include "runtime/thread_pool.h"

namespace edgeq {

namespace {

struct MethodInfo {
  CalibMethod method;
  const char* name;
  bool needs_histogram;
};

// The one table of methods: parser, names and the pass planner read it.
constexpr MethodInfo kMethods[] = {
    {CalibMethod::kMinMax, "minmax", false},
    {CalibMethod::kPercentile, "percentile", true},
    {CalibMethod::kEntropy, "entropy", true},
    {CalibMethod::kMse, "mse", true},
};

const MethodInfo& method_info(CalibMethod m) {
  for (const auto& info : kMethods)
    if (info.method == m) return info;
  EDGEQ_CHECK(false, "unknown calibration method");
}

// Elements per chunk when a tensor's statistics are split over threads: fixed, so the split
// depends on the tensor size alone (and min/max and integer counts combine exactly anyway).
constexpr int64_t kChunk = 1 << 16;

struct Stats {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t count = 0;
  bool reached = false;
  bool non_float = false;  // observed as something else than a float32 tensor: not calibrated
  // Pass 2: bins over [lo, hi] of x, or of |x| when `absolute`.
  bool absolute = false;
  double lo = 0, hi = 0;
  std::vector<int64_t> bins;
};

// Percentile and minmax keep the sign; entropy and mse search one threshold on |x|.
bool histogram_of_abs(CalibMethod method, bool symmetric) {
  return method == CalibMethod::kEntropy || method == CalibMethod::kMse || symmetric;
}

class Collector {
 public:
  Collector(ThreadPool& pool, int pass) : pool_(pool), pass_(pass) {}

  void observe(Stats& s, const RtValue& value) {
    if (value.kind != RtValue::Kind::kTensor) {
      s.non_float = true;
      return;
    }
    const Tensor& t = value.tensor;
    if (t.dtype() != DType::kFloat) {
      s.non_float = true;
      return;
    }
    s.reached = true;
    const auto v = t.values<float>();
    const int64_t n = static_cast<int64_t>(v.size());
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    if (pass_ == 1) {
      std::vector<Stats> part(static_cast<size_t>(chunks));
      auto run = [&](int64_t c) {
        Stats& p = part[static_cast<size_t>(c)];
        for (int64_t i = c * kChunk, e = std::min(n, (c + 1) * kChunk); i < e; ++i) {
          const double x = v[static_cast<size_t>(i)];
          if (!std::isfinite(x)) continue;  // NaN/Inf carry no range
          p.min = std::min(p.min, x);
          p.max = std::max(p.max, x);
          ++p.count;
        }
      };
      if (chunks > 1) pool_.parallel_for(chunks, run);
      else if (chunks == 1) run(0);
      for (const Stats& p : part) {
        s.min = std::min(s.min, p.min);
        s.max = std::max(s.max, p.max);
        s.count += p.count;
      }
      return;
    }
    const int64_t nbins = static_cast<int64_t>(s.bins.size());
    const double scale = s.hi > s.lo ? static_cast<double>(nbins) / (s.hi - s.lo) : 0.0;
    auto fill = [&](int64_t c, int64_t* bins) {
      for (int64_t i = c * kChunk, e = std::min(n, (c + 1) * kChunk); i < e; ++i) {
        double x = v[static_cast<size_t>(i)];
        if (!std::isfinite(x)) continue;
        if (s.absolute) x = std::fabs(x);
        const int64_t b = static_cast<int64_t>(std::floor((x - s.lo) * scale));
        ++bins[std::clamp<int64_t>(b, 0, nbins - 1)];
      }
    };
    if (chunks <= 1) {
      if (chunks == 1) fill(0, s.bins.data());
      return;
    }
    std::vector<int64_t> part(static_cast<size_t>(chunks * nbins), 0);
    pool_.parallel_for(chunks, [&](int64_t c) { fill(c, part.data() + c * nbins); });
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t b = 0; b < nbins; ++b) s.bins[static_cast<size_t>(b)] += part[static_cast<size_t>(c * nbins + b)];
  }

 private:
  ThreadPool& pool_;
  int pass_;
};

// Main-graph nodes that read no graph input (constant subexpressions): their outputs are the
// same on every run, so they are observed once per pass, which keeps counts independent of
// the batch size.
std::unordered_set<const Node*> constant_nodes(const Graph& g) {
  std::unordered_set<const Node*> out;
  for (const auto& node : g.nodes()) {
    if (!node->subgraphs().empty()) continue;
    bool constant = true;
    for (const Value* in : node->inputs()) {
      if (in == nullptr || in->is_initializer()) continue;
      if (in->producer() == nullptr || !out.count(in->producer())) constant = false;
    }
    if (constant && !node->op_type().starts_with("Random")) out.insert(node.get());
  }
  return out;
}

std::string format_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

CalibMethod parse_calib_method(const std::string& name) {
  std::string names;
  for (const auto& info : kMethods) {
    if (name == info.name) return info.method;
    names += (names.empty() ? "" : ", ") + std::string(info.name);
  }
  throw usage_error("unknown calibration method '" + name + "' (methods: " + names + ")");
}

const char* calib_method_name(CalibMethod method) { return method_info(method).name; }

std::string CalibrationTable::to_tsv() const {
  std::string out = "# edgeq calibration: method=" + std::string(calib_method_name(method)) +
                    " samples=" + std::to_string(samples) + "\n";
  out += "tensor\tmin\tmax\tcount\treached\n";
  for (const auto& [name, r] : ranges)
    out += name + "\t" + format_float(r.min) + "\t" + format_float(r.max) + "\t" + std::to_string(r.count) + "\t" +
           (r.reached ? "true" : "false") + "\n";
  return out;
}

std::pair<float, float> range_from_histogram(const Histogram& h, bool symmetric, const CalibOptions& options) {
  const int64_t n = static_cast<int64_t>(h.counts.size());
  EDGEQ_CHECK(n > 0, "an empty histogram");
  const double width = (h.hi - h.lo) / static_cast<double>(n);
  double total = 0;
  for (double c : h.counts) total += c;
  auto edge = [&](int64_t i) { return h.lo + static_cast<double>(i) * width; };
  auto sym = [](double t) { return std::pair<float, float>(static_cast<float>(-t), static_cast<float>(t)); };
  const bool abs_hist = histogram_of_abs(options.method, symmetric);
  if (total <= 0 || !(h.hi > h.lo))
    return abs_hist ? sym(h.hi) : std::pair<float, float>(static_cast<float>(h.lo), static_cast<float>(h.hi));

  switch (options.method) {
    case CalibMethod::kMinMax:
      return abs_hist ? sym(h.hi) : std::pair<float, float>(static_cast<float>(h.lo), static_cast<float>(h.hi));

    case CalibMethod::kPercentile: {
      if (abs_hist) {
        // Smallest k whose cumulative count reaches P % of all values; t = upper edge of bin k.
        const double target = options.percentile / 100.0 * total;
        double cum = 0;
        for (int64_t k = 0; k < n; ++k) {
          cum += h.counts[static_cast<size_t>(k)];
          if (cum >= target) return sym(edge(k + 1));
        }
        return sym(h.hi);
      }
      // Each tail holds (100 − P) / 2 % of the values: lower = lower edge of the first bin where
      // the count from the left passes the tail, upper = upper edge of the last bin where the
      // count from the right passes it.
      const double tail = (100.0 - options.percentile) / 200.0 * total;
      int64_t first = 0, last = n - 1;
      double cum = 0;
      for (int64_t k = 0; k < n; ++k) {
        cum += h.counts[static_cast<size_t>(k)];
        if (cum > tail) {
          first = k;
          break;
        }
      }
      cum = 0;
      for (int64_t k = n - 1; k >= 0; --k) {
        cum += h.counts[static_cast<size_t>(k)];
        if (cum > tail) {
          last = k;
          break;
        }
      }
      return {static_cast<float>(edge(first)), static_cast<float>(edge(last + 1))};
    }

    case CalibMethod::kEntropy: {
      // TensorRT's KL search on the |x| histogram. For each candidate of i bins (i from M =
      // quant_levels / 2, the magnitude levels of the integer type, to all bins):
      //   P = the first i bins, with every count beyond them added to bin i − 1 (clipping);
      //   Q = the first i bins as they were (unclipped), merged into M groups
      //       [floor(g·i/M), floor((g+1)·i/M)), each group's sum spread evenly over its bins
      //       where P is not zero (zero bins stay zero);
      //   KL(p‖q) = Σ_{P_j>0} p_j · ln(p_j / q_j), p = P/ΣP, q = Q/ΣQ (∞ when some q_j = 0).
      // The threshold is the upper edge of the best candidate, i · width (first one on ties).
      const int64_t m = std::max(1, options.quant_levels / 2);
      if (n < m) return sym(h.hi);
      std::vector<double> suffix(static_cast<size_t>(n + 1), 0.0);
      for (int64_t j = n - 1; j >= 0; --j)
        suffix[static_cast<size_t>(j)] = suffix[static_cast<size_t>(j + 1)] + h.counts[static_cast<size_t>(j)];
      double best = std::numeric_limits<double>::infinity();
      int64_t best_i = n;
      std::vector<double> p(static_cast<size_t>(n)), q(static_cast<size_t>(n));
      for (int64_t i = m; i <= n; ++i) {
        const double outliers = suffix[static_cast<size_t>(i)];
        for (int64_t j = 0; j < i; ++j) p[static_cast<size_t>(j)] = h.counts[static_cast<size_t>(j)];
        p[static_cast<size_t>(i - 1)] += outliers;
        double q_total = 0;
        for (int64_t g = 0; g < m; ++g) {
          const int64_t b0 = g * i / m, b1 = (g + 1) * i / m;
          double sum = 0;
          int64_t nonzero = 0;
          for (int64_t j = b0; j < b1; ++j) {
            sum += h.counts[static_cast<size_t>(j)];
            if (p[static_cast<size_t>(j)] > 0) ++nonzero;
          }
          for (int64_t j = b0; j < b1; ++j)
            q[static_cast<size_t>(j)] = p[static_cast<size_t>(j)] > 0 ? sum / static_cast<double>(nonzero) : 0.0;
          q_total += sum;
        }
        if (q_total <= 0) continue;  // everything clipped: q is all zero
        double kl = 0;
        for (int64_t j = 0; j < i; ++j) {
          const double pj = p[static_cast<size_t>(j)] / total, qj = q[static_cast<size_t>(j)] / q_total;
          if (pj <= 0) continue;
          kl = qj > 0 ? kl + pj * std::log(pj / qj) : std::numeric_limits<double>::infinity();
          if (std::isinf(kl)) break;
        }
        if (kl < best) {
          best = kl;
          best_i = i;
        }
      }
      return sym(edge(best_i));
    }

    case CalibMethod::kMse: {
      // Expected squared error of quantizing [−t, t] onto quant_levels uniform levels (step
      // Δ = 2t / (levels − 1)) with clipping, the mass of each |x| bin at its centre c_j:
      //   E(t) = Σ_{c_j<t} n_j · Δ²/12  +  Σ_{c_j>t} n_j · (c_j − t)²
      // (uniform rounding noise inside the range, the clipping distance outside). Candidates
      // are the bin edges t = i · width, i = 1..bins; the first minimum wins.
      const double levels = std::max(2, options.quant_levels);
      // Suffix sums of n, n·c and n·c² give the clipping term in O(1) per candidate.
      std::vector<double> s0(static_cast<size_t>(n + 1), 0.0), s1(s0), s2(s0);
      for (int64_t j = n - 1; j >= 0; --j) {
        const double c = h.lo + (static_cast<double>(j) + 0.5) * width, cnt = h.counts[static_cast<size_t>(j)];
        s0[static_cast<size_t>(j)] = s0[static_cast<size_t>(j + 1)] + cnt;
        s1[static_cast<size_t>(j)] = s1[static_cast<size_t>(j + 1)] + cnt * c;
        s2[static_cast<size_t>(j)] = s2[static_cast<size_t>(j + 1)] + cnt * c * c;
      }
      double best = std::numeric_limits<double>::infinity();
      int64_t best_i = n;
      for (int64_t i = 1; i <= n; ++i) {
        const double t = edge(i), step = 2.0 * t / (levels - 1.0);
        const size_t k = static_cast<size_t>(i);
        const double inside = total - s0[k];
        const double clip = s2[k] - 2.0 * t * s1[k] + t * t * s0[k];
        const double err = inside * step * step / 12.0 + clip;
        if (err < best) {
          best = err;
          best_i = i;
        }
      }
      return sym(edge(best_i));
    }
  }
  EDGEQ_CHECK(false, "unknown calibration method");
}

CalibrationTable calibrate(const Model& model, SampleSource& source, const std::set<std::string>& tensors,
                           const CalibOptions& options) {
  if (options.method == CalibMethod::kPercentile && !(options.percentile > 0 && options.percentile <= 100))
    throw usage_error("--percentile must be in (0, 100], got " + format_float(options.percentile));
  if (options.bins < 1) throw usage_error("histogram bins must be positive");
  if (options.quant_levels < 2) throw usage_error("quantization levels must be at least 2");

  Executor executor(model, {options.threads});
  std::unordered_map<std::string, Stats> stats;
  for (const std::string& name : tensors) stats[name];
  const Graph& g = *model.graph;
  const auto constants = constant_nodes(g);

  CalibrationTable table;
  table.method = options.method;
  const int passes = method_info(options.method).needs_histogram ? 2 : 1;
  for (int pass = 1; pass <= passes; ++pass) {
    Collector collector(executor.pool(), pass);
    if (pass == 2) {
      for (auto& [name, s] : stats) {
        if (!s.reached || s.non_float || s.count == 0) continue;
        s.absolute = histogram_of_abs(options.method, options.symmetric.count(name) > 0);
        s.lo = s.absolute ? 0.0 : s.min;
        s.hi = s.absolute ? std::max(std::fabs(s.min), std::fabs(s.max)) : s.max;
        s.bins.assign(static_cast<size_t>(options.bins), 0);
      }
      source.rewind();
    }
    // Pass 2 only fills histograms of tensors that have one.
    auto wanted = [&](Stats& s) { return pass == 1 || !s.bins.empty(); };
    bool first_run = true;
    std::unordered_map<std::string, std::shared_ptr<const TensorStorage>> fed_storage;
    executor.set_observer([&](const Node& node, const std::vector<const RtValue*>& outputs) {
      if (!first_run && constants.count(&node)) return;
      for (size_t k = 0; k < outputs.size(); ++k) {
        const Value* out = node.output(k);
        if (out == nullptr) continue;
        auto it = stats.find(out->name());
        if (it != stats.end() && wanted(it->second)) collector.observe(it->second, *outputs[k]);
      }
    });
    Batch batch;
    int64_t samples = 0;
    while (source.next(batch)) {
      // Graph inputs are no node's output: observe them from the feed. Initializers and fixed
      // inputs (the same tensor storage on every run) count once per pass.
      for (Value* v : g.inputs()) {
        auto it = stats.find(v->name());
        if (it == stats.end() || !wanted(it->second)) continue;
        auto fed = batch.feeds.find(v->name());
        if (fed != batch.feeds.end()) {
          // Held, not just compared: a freed storage's address could come back for new data.
          const std::shared_ptr<const TensorStorage>& storage = fed->second.tensor.storage();
          auto [prev, fresh] = fed_storage.emplace(v->name(), storage);
          if (fresh || prev->second != storage || storage == nullptr) collector.observe(it->second, fed->second);
          prev->second = storage;
        } else if (v->is_initializer() && first_run) {
          collector.observe(it->second, RtValue(*v->initializer()));
        }
      }
      executor.run(batch.feeds);
      samples += batch.samples;
      first_run = false;
      spdlog::debug("calibration pass {}/{}: {} samples", pass, passes, samples);
    }
    table.samples = samples;
  }
  executor.set_observer(nullptr);

  for (const auto& [name, s] : stats) {
    if (s.non_float && !s.reached) continue;  // not a float32 tensor: nothing to calibrate
    TensorRange r;
    r.reached = s.reached;
    r.count = s.count;
    if (s.reached && s.count > 0) {
      if (options.method == CalibMethod::kMinMax || s.bins.empty()) {
        r.min = static_cast<float>(s.min);
        r.max = static_cast<float>(s.max);
        if (options.symmetric.count(name)) {
          const double a = std::max(std::fabs(s.min), std::fabs(s.max));
          r.min = static_cast<float>(-a);
          r.max = static_cast<float>(a);
        }
      } else {
        Histogram h;
        h.lo = s.lo;
        h.hi = s.hi;
        h.counts.assign(s.bins.begin(), s.bins.end());
        const bool symmetric = options.symmetric.count(name) > 0;
        auto [lo, hi] = range_from_histogram(h, symmetric, options);
        if (!symmetric && s.absolute) {
          // A threshold on |x| for an asymmetric tensor: [−t, t] ∩ [min, max].
          lo = std::max(lo, static_cast<float>(s.min));
          hi = std::min(hi, static_cast<float>(s.max));
        }
        r.min = lo;
        r.max = hi;
      }
    }
    table.ranges[name] = r;
  }
  return table;
}

std::map<std::string, std::vector<double>> channel_means(const Model& model, SampleSource& source,
                                                         const std::map<std::string, int64_t>& tensors,
                                                         int threads) {
  struct Sums {
    int64_t axis;
    std::vector<double> sum;
    std::vector<int64_t> count;
    bool bad = false;  // not float32, or the channel count changed between batches
  };
  std::unordered_map<std::string, Sums> sums;
  for (const auto& [name, axis] : tensors) sums[name].axis = axis;
  auto add = [](Sums& s, const RtValue& v) {
    if (s.bad) return;
    const Tensor& t = v.tensor;
    const auto& dims = t.dims();
    const auto rank = static_cast<int64_t>(dims.size());
    const int64_t axis = s.axis < 0 ? s.axis + rank : s.axis;
    if (v.kind != RtValue::Kind::kTensor || t.dtype() != DType::kFloat || axis < 0 || axis >= rank) {
      s.bad = true;
      return;
    }
    const int64_t channels = dims[static_cast<size_t>(axis)];
    int64_t outer = 1, inner = 1;
    for (int64_t a = 0; a < axis; ++a) outer *= dims[static_cast<size_t>(a)];
    for (int64_t a = axis + 1; a < rank; ++a) inner *= dims[static_cast<size_t>(a)];
    if (s.sum.empty()) {
      s.sum.assign(static_cast<size_t>(channels), 0.0);
      s.count.assign(static_cast<size_t>(channels), 0);
    } else if (static_cast<int64_t>(s.sum.size()) != channels) {
      s.bad = true;
      return;
    }
    const float* x = t.values<float>().data();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t c = 0; c < channels; ++c) {
        double acc = 0;
        const float* row = x + (o * channels + c) * inner;
        for (int64_t i = 0; i < inner; ++i) acc += static_cast<double>(row[i]);
        s.sum[static_cast<size_t>(c)] += acc;
        s.count[static_cast<size_t>(c)] += inner;
      }
  };
  Executor executor(model, {threads});
  executor.set_observer([&](const Node& node, const std::vector<const RtValue*>& outputs) {
    for (size_t k = 0; k < outputs.size(); ++k) {
      const Value* out = node.output(k);
      if (out == nullptr) continue;
      auto it = sums.find(out->name());
      if (it != sums.end()) add(it->second, *outputs[k]);
    }
  });
  Batch batch;
  while (source.next(batch)) {
    for (const auto& [name, value] : batch.feeds) {
      auto it = sums.find(name);
      if (it != sums.end()) add(it->second, value);
    }
    executor.run(batch.feeds);
  }
  executor.set_observer(nullptr);
  std::map<std::string, std::vector<double>> means;
  for (auto& [name, s] : sums) {
    if (s.bad || s.sum.empty()) continue;
    std::vector<double> m(s.sum.size());
    for (size_t c = 0; c < m.size(); ++c) m[c] = s.count[c] ? s.sum[c] / static_cast<double>(s.count[c]) : 0.0;
    means[name] = std::move(m);
  }
  return means;
}

}  // namespace edgeq
