// Calibration: run the float model over samples and find, for each requested tensor, the real
// range [min, max] that static quantization maps onto the integer range.
//
// Statistics stream: pass 1 keeps min, max and the count of finite values per tensor (NaN and
// ±Inf are skipped); the histogram methods rewind the source and fill, in pass 2, a histogram of
// `bins` equal-width bins whose edges pass 1 fixed: of x over [min, max], or of |x| over
// [0, max|x|]. Memory does not depend on the number of samples, and as counts are integers and
// min/max are exact, the table is the same for any thread count, batch size or sample order.
//
// Methods (w = bin width, T = values counted, n_j = count of bin j):
//   minmax      [min, max] (symmetric: [−a, a], a = max|x|).
//   percentile  symmetric: |x| histogram, t = upper edge of the first bin where the cumulative
//               count reaches P % of T, range [−t, t]. Asymmetric: x histogram, each tail holds
//               (100 − P)/2 %: min = lower edge of the first bin where the count from the left
//               exceeds it, max = upper edge of the last bin where the count from the right
//               exceeds it. Within one bin of numpy's exact quantiles.
//   entropy     TensorRT's KL search on the |x| histogram with M = quant_levels / 2 target bins
//               (the magnitude levels of a signed 8-bit grid): for i = M..bins, P = first i bins
//               with the tail beyond added to bin i−1, Q = the first i bins unclipped, merged
//               into M groups [⌊g·i/M⌋, ⌊(g+1)·i/M⌋) and spread evenly over each group's bins
//               where P ≠ 0; t = i·w for the i minimizing KL(P/ΣP ‖ Q/ΣQ) (the first on ties).
//   mse         on the |x| histogram, t = i·w (i = 1..bins) minimizing the expected squared
//               error of mapping [−t, t] onto quant_levels levels (step Δ = 2t/(levels−1)) with
//               clipping, each bin's mass at its centre c_j:
//               E(t) = Σ_{c_j<t} n_j·Δ²/12 + Σ_{c_j>t} n_j·(c_j − t)².
// entropy and mse give a threshold t on |x|: [−t, t] for symmetric tensors, [−t, t] ∩ [min, max]
// for asymmetric ones (so a Relu output gets [0, t]). Ranges are reported as observed; the
// quantizer widens them to include 0.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "edgeq/data/samples.h"
#include "edgeq/ir/graph.h"

namespace edgeq {

enum class CalibMethod { kMinMax, kPercentile, kEntropy, kMse };

// "minmax" | "percentile" | "entropy" | "mse"; throws kUsage otherwise.
CalibMethod parse_calib_method(const std::string& name);
const char* calib_method_name(CalibMethod method);

struct CalibOptions {
  CalibMethod method = CalibMethod::kMinMax;
  double percentile = 99.999;  // for kPercentile, in (0, 100]
  int bins = 2048;             // histogram bins
  int quant_levels = 256;      // levels of the target integer type (entropy, mse)
  int threads = 0;
  // Tensors whose range should be symmetric around 0 (weights-like / s8 activations); others
  // are asymmetric.
  std::set<std::string> symmetric;
};

struct TensorRange {
  float min = 0;
  float max = 0;
  int64_t count = 0;     // values observed
  bool reached = false;  // false: calibration never computed this tensor (e.g. an If branch)
};

struct CalibrationTable {
  CalibMethod method = CalibMethod::kMinMax;
  int64_t samples = 0;
  std::map<std::string, TensorRange> ranges;  // every requested tensor
  // A "# edgeq calibration: method=M samples=N" line, then tab-separated
  // "tensor\tmin\tmax\tcount\treached" (header row, then one row per tensor sorted by name;
  // floats with 9 significant digits, reached = true|false): readable and diffable.
  std::string to_tsv() const;
};

// Runs `model` on every batch of `source` with an observer on the `tensors` named (main-graph
// inputs and node outputs, also inside If/Loop/Scan bodies) and returns their ranges. Tensors
// never computed get reached = false; tensors that turn out not to be float32 are left out.
// Outputs of nodes that read no graph input are observed once per pass. Throws kUsage for bad
// options, and whatever the source and the executor throw.
CalibrationTable calibrate(const Model& model, SampleSource& source, const std::set<std::string>& tensors,
                           const CalibOptions& options);

// The range one method picks from a histogram of equal-width bins covering [lo, hi] (exposed
// for tests). The histogram is of |x| over [0, hi] (result [−t, t]) for entropy and mse, and for
// percentile and minmax when `symmetric`; otherwise of x (percentile: [lower, upper]).
struct Histogram {
  double lo = 0, hi = 0;
  std::vector<double> counts;
};
std::pair<float, float> range_from_histogram(const Histogram& h, bool symmetric, const CalibOptions& options);

// Per-channel means over every sample of the float32 tensors named (main-graph inputs and node
// outputs), each along its axis (negative: from the end): name -> one mean per channel, in double,
// accumulated in a fixed order (the same result for any thread count). A tensor never computed
// or not float32 is left out. Pruning's bias correction reads the means of its layers' inputs.
std::map<std::string, std::vector<double>> channel_means(const Model& model, SampleSource& source,
                                                         const std::map<std::string, int64_t>& tensors,
                                                         int threads);

}  // namespace edgeq
