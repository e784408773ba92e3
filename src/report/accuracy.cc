// The report's accuracy section: a compressed model against its float reference, batch by batch
// on the executor (include/edgeq/report/accuracy.h).
//
// Per layer, a reference tensor is compared with the tensor the compressed model computes in its
// place, found by the names edgeq's quantizers give (src/passes/quantize/):
//   NAME_dequantized  the DequantizeLinear output of the QDQ pair inserted after NAME (static QDQ);
//   NAME_quantized    an 8-bit tensor with initializers NAME_scale / NAME_zero_point: what a
//                     QOperator node (QLinearConv, ...) writes in NAME's place; dequantized here
//                     with include/edgeq/quant.h;
//   NAME              the same tensor, still float (ops left float, dynamic INT8 outputs, ...).
// A Relu/Clip folded into its producer's range (static INT8) no longer exists in the compressed
// model: the quantized form of the producer's output is what stands in for it, so the folded
// activation's output is compared with that, and the producer's output with its float self (when
// the model still computes it).
#include "edgeq/report/accuracy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "edgeq/data/npy.h"
#include "edgeq/error.h"
#include "edgeq/passes/pass.h"
#include "edgeq/quant.h"
#include "edgeq/runtime/executor.h"

namespace edgeq {

using nlohmann::json;

namespace {

constexpr int64_t kTopK = 5;

Error bad_data(const std::string& what, const std::string& reason) {
  return Error(ErrorKind::kInvalidData, what + ": " + reason);
}

std::string op_name(const Node& n) {
  const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
  return (default_domain ? "" : n.domain() + "::") + n.op_type();
}

// A JSON number, or null for NaN/infinity (JSON has neither).
json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
json finite_or_null(std::optional<double> v) { return v ? finite_or_null(*v) : json(nullptr); }

bool is_float_dtype(DType d) {
  return d == DType::kFloat || d == DType::kFloat16 || d == DType::kBfloat16 || d == DType::kDouble;
}

// A tensor's values as float32: a view for float32 tensors, a converted copy otherwise.
class FloatValues {
 public:
  explicit FloatValues(const Tensor& t) {
    if (t.dtype() == DType::kFloat) {
      view_ = t.values<float>().first(t.element_count());
      return;
    }
    owned_.resize(t.element_count());
    for (size_t i = 0; i < owned_.size(); ++i) owned_[i] = static_cast<float>(element_as_double(t, i));
    view_ = owned_;
  }
  FloatValues(const Tensor& q, float scale, int32_t zero_point) {
    owned_.resize(q.element_count());
    for (size_t i = 0; i < owned_.size(); ++i)
      owned_[i] = quant::dequantize_value(static_cast<int32_t>(element_as_double(q, i)), scale, zero_point);
    view_ = owned_;
  }
  std::span<const float> span() const { return view_; }

 private:
  std::vector<float> owned_;
  std::span<const float> view_;
};

// ---- outputs ----

struct OutputStats {
  std::string name;
  ErrorStats all;
  double cosine_min = std::numeric_limits<double>::infinity();
  int64_t cosine_min_sample = -1;
  bool nan_cosine = false;
  bool classes = true;  // every batch was [N, C] with N = the batch's samples
  int64_t agree = 0;
  int64_t compared_rows = 0;
};

struct LabelStats {
  int output = -1;  // index into the outputs
  int64_t top1 = 0, top5 = 0, ref_top1 = 0, ref_top5 = 0;
};

// ---- layers ----

enum class TwinKind { kSame, kDequantized, kQuantized };

struct LayerRow {
  const Value* reference = nullptr;
  std::string op_type;
  const Value* twin = nullptr;
  TwinKind kind = TwinKind::kSame;
  float scale = 1.0f;  // kQuantized
  int32_t zero_point = 0;
  ErrorStats stats;
  bool skipped = false;  // not float32 in the reference, or shapes that differ
};

const Tensor* scalar_initializer(const Graph& g, const std::string& name) {
  const Value* v = g.find_value(name);
  if (v == nullptr || !v->is_initializer() || v->initializer()->element_count() != 1) return nullptr;
  return v->initializer();
}

// The compressed model's tensor that stands for reference tensor `name`, in preference order.
std::optional<std::pair<const Value*, TwinKind>> find_twin(const Graph& model, const std::string& name,
                                                          bool quantized_only) {
  if (const Value* dq = model.find_value(name + "_dequantized");
      dq && dq->producer() && dq->producer()->op_type() == "DequantizeLinear")
    return std::pair{dq, TwinKind::kDequantized};
  if (const Value* q = model.find_value(name + "_quantized"); q && q->producer()) {
    if (scalar_initializer(model, name + "_scale") && scalar_initializer(model, name + "_zero_point"))
      return std::pair{q, TwinKind::kQuantized};
  }
  if (quantized_only) return std::nullopt;
  if (const Value* same = model.find_value(name); same && same->producer()) return std::pair{same, TwinKind::kSame};
  return std::nullopt;
}

std::vector<LayerRow> match_layers(const Model& model, const Model& reference) {
  const Graph& mg = *model.graph;
  const Graph& rg = *reference.graph;
  std::vector<LayerRow> rows;
  std::map<const Value*, size_t> row_of;
  for (const auto& n : rg.nodes()) {
    if (n->op_type() == "Constant") continue;  // a constant is no layer
    for (Value* v : n->outputs()) {
      if (v == nullptr) continue;
      LayerRow row;
      row.reference = v;
      row.op_type = op_name(*n);
      if (auto twin = find_twin(mg, v->name(), false)) std::tie(row.twin, row.kind) = *twin;
      row_of[v] = rows.size();
      rows.push_back(std::move(row));
    }
  }
  // Folded activations: Relu/Clip outputs the model no longer computes take the quantized form
  // of their input, which then falls back to its float self.
  for (LayerRow& row : rows) {
    const Node* n = row.reference->producer();
    if (row.twin || !(n->op_type() == "Relu" || n->op_type() == "Clip") || n->input(0) == nullptr) continue;
    auto it = row_of.find(n->input(0));
    if (it == row_of.end()) continue;
    LayerRow& producer = rows[it->second];
    if (!producer.twin || producer.kind == TwinKind::kSame) continue;
    row.twin = producer.twin;
    row.kind = producer.kind;
    producer.twin = nullptr;
    if (auto same = mg.find_value(producer.reference->name()); same && same->producer()) {
      producer.twin = same;
      producer.kind = TwinKind::kSame;
    }
  }
  for (LayerRow& row : rows) {
    if (row.kind != TwinKind::kQuantized || row.twin == nullptr) continue;
    // The twin was found as NAME_quantized for the name of the tensor it originally stood for.
    std::string base = row.twin->name().substr(0, row.twin->name().size() - std::string("_quantized").size());
    const Tensor* s = scalar_initializer(mg, base + "_scale");
    const Tensor* z = scalar_initializer(mg, base + "_zero_point");
    row.scale = static_cast<float>(element_as_double(*s, 0));
    row.zero_point = static_cast<int32_t>(element_as_double(*z, 0));
  }
  std::erase_if(rows, [](const LayerRow& r) { return r.twin == nullptr; });
  return rows;
}

std::vector<int64_t> labels_for(const AccuracyOptions& options) {
  if (options.labels) return *options.labels;
  if (!options.labels_path.empty()) return read_labels(options.labels_path);
  return {};
}

}  // namespace

// ---- metric math ----

double ErrorStats::cosine_of(double dot, double x_sq, double ref_sq) {
  if (x_sq == 0 && ref_sq == 0) return 1.0;
  if (x_sq == 0 || ref_sq == 0) return 0.0;
  return dot / std::sqrt(x_sq * ref_sq);
}

void ErrorStats::add(std::span<const float> x, std::span<const float> ref) {
  EDGEQ_CHECK(x.size() == ref.size(), "ErrorStats::add on spans of different sizes");
  double dot = 0, xx = 0, rr = 0, ee = 0, ae = 0, mx = max_abs_err_;
  for (size_t i = 0; i < x.size(); ++i) {
    const double a = x[i], b = ref[i], e = a - b;
    dot += a * b;
    xx += a * a;
    rr += b * b;
    ee += e * e;
    ae += std::fabs(e);
    if (std::fabs(e) > mx) mx = std::fabs(e);
    if (std::isnan(e)) nan_ = true;
  }
  dot_ += dot;
  x_sq_ += xx;
  ref_sq_ += rr;
  err_sq_ += ee;
  abs_err_ += ae;
  max_abs_err_ = mx;
  count_ += x.size();
}

std::optional<double> ErrorStats::sqnr_db() const {
  if (nan_ || err_sq_ == 0 || ref_sq_ == 0) return std::nullopt;
  return 10.0 * std::log10(ref_sq_ / err_sq_);
}

int64_t argmax(std::span<const float> scores) {
  int64_t best = 0;
  for (size_t c = 1; c < scores.size(); ++c)
    if (scores[c] > scores[static_cast<size_t>(best)]) best = static_cast<int64_t>(c);
  return best;
}

int64_t label_rank(std::span<const float> scores, int64_t label) {
  const float s = scores[static_cast<size_t>(label)];
  int64_t rank = 0;
  for (size_t c = 0; c < scores.size(); ++c) {
    const float v = scores[c];
    if (v > s || (v == s && static_cast<int64_t>(c) < label)) ++rank;
  }
  return rank;
}

std::vector<int64_t> read_labels(const std::string& path) {
  const Tensor t = read_npy(path);
  switch (t.dtype()) {
    case DType::kInt8: case DType::kUint8: case DType::kInt16: case DType::kUint16:
    case DType::kInt32: case DType::kUint32: case DType::kInt64: case DType::kUint64:
      break;
    default:
      throw bad_data(path, "labels must be integer class ids, the array holds " + std::string(dtype_name(t.dtype())));
  }
  std::vector<int64_t> labels(t.element_count());
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(element_as_double(t, i));
  return labels;
}

std::vector<std::string> align_reference(Model& reference, const Model& model) {
  auto has = [](const Model& m, const std::vector<const char*>& ops) {
    bool found = false;
    m.graph->for_each_graph([&](const Graph& g) {
      for (const auto& n : g.nodes())
        for (const char* op : ops) found |= (n->domain().empty() || n->domain() == "ai.onnx") && n->op_type() == op;
    });
    return found;
  };
  std::vector<std::string> ran;
  PassContext ctx;
  ctx.threads = 1;
  struct Trace {
    const char* pass;
    std::vector<const char*> removes;  // op types the pass leaves none of
  };
  static const Trace kTraces[] = {{"remove_identity", {"Identity", "Dropout"}},
                                  {"fold_batchnorm", {"BatchNormalization"}}};
  for (const auto& [pass, ops] : kTraces) {
    if (!has(reference, ops) || has(model, ops)) continue;
    run_pass(pass, reference, ctx);
    ran.emplace_back(pass);
  }
  return ran;
}

// ---- the evaluation ----

json evaluate_accuracy(const Model& model, const Model& reference, SampleSource& samples,
                       const AccuracyOptions& options) {
  const std::vector<int64_t> labels = labels_for(options);
  const bool with_labels = options.labels.has_value() || !options.labels_path.empty();
  const std::string labels_what = options.labels_path.empty() ? "labels" : options.labels_path;
  const int64_t total = samples.total_samples();
  if (with_labels && static_cast<int64_t>(labels.size()) < total)
    throw bad_data(labels_what, std::to_string(labels.size()) + " labels for " + std::to_string(total) + " samples");

  ExecutorOptions eo;
  eo.threads = options.threads;
  Executor ref_exec(reference, eo);
  Executor model_exec(model, eo);

  // Layers: the reference's values of one batch wait (shared storage, no copy) until the model
  // produces their twin; the map is emptied after every batch.
  std::vector<LayerRow> layers = options.per_layer ? match_layers(model, reference) : std::vector<LayerRow>{};
  std::map<const Value*, size_t> by_reference, by_twin;
  for (size_t i = 0; i < layers.size(); ++i) {
    by_reference[layers[i].reference] = i;
    by_twin[layers[i].twin] = i;
  }
  std::map<size_t, Tensor> waiting;
  if (!layers.empty()) {
    ref_exec.set_observer([&](const Node& node, const std::vector<const RtValue*>& outputs) {
      for (size_t k = 0; k < outputs.size(); ++k) {
        auto it = by_reference.find(node.output(k));
        if (it == by_reference.end() || outputs[k]->kind != RtValue::Kind::kTensor) continue;
        if (outputs[k]->tensor.dtype() != DType::kFloat) {
          layers[it->second].skipped = true;  // a float tensor's twin is only compared as float
          continue;
        }
        waiting[it->second] = outputs[k]->tensor;
      }
    });
    model_exec.set_observer([&](const Node& node, const std::vector<const RtValue*>& outputs) {
      for (size_t k = 0; k < outputs.size(); ++k) {
        auto it = by_twin.find(node.output(k));
        if (it == by_twin.end() || outputs[k]->kind != RtValue::Kind::kTensor) continue;
        LayerRow& row = layers[it->second];
        auto ref = waiting.find(it->second);
        if (ref == waiting.end() || row.skipped) continue;
        const Tensor& x = outputs[k]->tensor;
        if (x.dims() != ref->second.dims()) {
          row.skipped = true;
        } else if (row.kind == TwinKind::kQuantized) {
          if (x.dtype() != DType::kUint8 && x.dtype() != DType::kInt8) {
            row.skipped = true;
          } else {
            row.stats.add(FloatValues(x, row.scale, row.zero_point).span(), FloatValues(ref->second).span());
          }
        } else if (!is_float_dtype(x.dtype())) {
          row.skipped = true;
        } else {
          row.stats.add(FloatValues(x).span(), FloatValues(ref->second).span());
        }
        waiting.erase(ref);
      }
    });
  }

  std::vector<OutputStats> outputs;
  std::vector<std::string> notes;
  std::set<std::string> skipped_outputs;
  LabelStats label_stats;
  int64_t done = 0;
  Batch batch;
  while (samples.next(batch)) {
    const auto ref_out = ref_exec.run(batch.feeds);
    const auto model_out = model_exec.run(batch.feeds);
    waiting.clear();
    const int64_t n = batch.samples;
    if (outputs.empty()) {
      // Outputs matched by name; the reference's order.
      for (const auto& [name, _] : ref_out) {
        bool found = false;
        for (const auto& [mname, __] : model_out) found |= mname == name;
        if (found) {
          OutputStats st;
          st.name = name;
          outputs.push_back(std::move(st));
        } else {
          notes.push_back("output '" + name + "' of the reference is not an output of the model");
        }
      }
      if (outputs.empty())
        throw bad_data(samples.describe(), "the model and the reference share no output name to compare");
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      OutputStats& st = outputs[o];
      const RtValue* a = nullptr;
      const RtValue* b = nullptr;
      for (const auto& [name, v] : model_out) if (name == st.name) a = &v;
      for (const auto& [name, v] : ref_out) if (name == st.name) b = &v;
      if (a->kind != RtValue::Kind::kTensor || b->kind != RtValue::Kind::kTensor ||
          !is_float_dtype(b->tensor.dtype()) || !is_float_dtype(a->tensor.dtype())) {
        if (skipped_outputs.insert(st.name).second)
          notes.push_back("output '" + st.name + "' is not a float tensor in both models: not compared");
        continue;
      }
      const Tensor& x = a->tensor;
      const Tensor& r = b->tensor;
      if (x.dims() != r.dims()) {
        std::string dims_x, dims_r;
        for (int64_t d : x.dims()) dims_x += (dims_x.empty() ? "" : ",") + std::to_string(d);
        for (int64_t d : r.dims()) dims_r += (dims_r.empty() ? "" : ",") + std::to_string(d);
        throw bad_data(samples.describe(), "output '" + st.name + "' has shape [" + dims_x +
                                               "] in the model and [" + dims_r + "] in the reference");
      }
      FloatValues xv(x), rv(r);
      st.all.add(xv.span(), rv.span());
      // Per sample: rows along axis 0 when it is the batch axis, else the whole tensor is one.
      const bool per_row = !x.dims().empty() && x.dims()[0] == n && n > 0;
      const size_t groups = per_row ? static_cast<size_t>(n) : 1;
      const size_t per = groups ? xv.span().size() / groups : 0;
      for (size_t g = 0; g < groups; ++g) {
        ErrorStats row;
        row.add(xv.span().subspan(g * per, per), rv.span().subspan(g * per, per));
        const double c = row.cosine();
        if (std::isnan(c)) st.nan_cosine = true;
        if (c < st.cosine_min) {
          st.cosine_min = c;
          st.cosine_min_sample = per_row ? done + static_cast<int64_t>(g) : -1;
        }
      }
      st.classes = st.classes && x.dims().size() == 2 && per_row && x.dims()[1] > 0;
      if (!st.classes) continue;
      const size_t c = static_cast<size_t>(x.dims()[1]);
      if (with_labels && label_stats.output < 0) label_stats.output = static_cast<int>(o);
      for (size_t g = 0; g < groups; ++g) {
        auto xs = xv.span().subspan(g * c, c);
        auto rs = rv.span().subspan(g * c, c);
        if (argmax(xs) == argmax(rs)) ++st.agree;
        ++st.compared_rows;
        if (label_stats.output == static_cast<int>(o)) {
          const int64_t index = done + static_cast<int64_t>(g);
          const int64_t label = labels[static_cast<size_t>(index)];
          if (label < 0 || label >= static_cast<int64_t>(c))
            throw bad_data(labels_what, "label " + std::to_string(label) + " of sample " + std::to_string(index) +
                                            " is outside the " + std::to_string(c) + " classes of output '" +
                                            st.name + "'");
          const int64_t rank = label_rank(xs, label), ref_rank = label_rank(rs, label);
          label_stats.top1 += rank == 0;
          label_stats.top5 += rank < kTopK;
          label_stats.ref_top1 += ref_rank == 0;
          label_stats.ref_top5 += ref_rank < kTopK;
        }
      }
    }
    if (with_labels && label_stats.output < 0)
      throw bad_data(labels_what, "labels need an output shaped [N, classes]; no output of the model has that shape");
    done += n;
    if (options.progress) options.progress(done, total);
  }
  ref_exec.set_observer(nullptr);
  model_exec.set_observer(nullptr);
  if (done == 0) throw bad_data(samples.describe(), "no samples to evaluate");

  json section;
  section["data"] = samples.describe();
  section["samples"] = done;
  const auto pct = [&](int64_t k) { return 100.0 * static_cast<double>(k) / static_cast<double>(done); };
  json outs = json::array();
  double worst_cosine = 1.0;
  bool any_compared = false;
  for (const OutputStats& st : outputs) {
    if (skipped_outputs.count(st.name)) continue;
    any_compared = true;
    const bool nan = st.all.has_nan() || st.nan_cosine;
    json row = {{"name", st.name},
                {"cosine", nan ? json(nullptr) : finite_or_null(st.all.cosine())},
                {"cosine_min", nan ? json(nullptr) : finite_or_null(st.cosine_min)},
                {"cosine_min_sample", st.cosine_min_sample},
                {"sqnr_db", finite_or_null(st.all.sqnr_db())},
                {"max_abs_err", nan ? json(nullptr) : finite_or_null(st.all.max_abs_err())},
                {"mean_abs_err", nan ? json(nullptr) : finite_or_null(st.all.mean_abs_err())},
                {"mse", nan ? json(nullptr) : finite_or_null(st.all.mse())},
                {"top1_agreement", st.classes && st.compared_rows > 0 ? json(pct(st.agree)) : json(nullptr)}};
    worst_cosine = nan ? -1.0 : std::min(worst_cosine, st.all.cosine());
    outs.push_back(std::move(row));
  }
  if (!any_compared) throw bad_data(samples.describe(), "no output is a float tensor in both models");
  section["outputs"] = outs;
  section["worst_output_cosine"] = worst_cosine;
  if (with_labels) {
    const double top1 = pct(label_stats.top1), ref_top1 = pct(label_stats.ref_top1);
    const double top5 = pct(label_stats.top5), ref_top5 = pct(label_stats.ref_top5);
    section["labels"] = {{"output", outputs[static_cast<size_t>(label_stats.output)].name},
                         {"top1", top1},
                         {"top5", top5},
                         {"reference_top1", ref_top1},
                         {"reference_top5", ref_top5},
                         {"top1_drop", ref_top1 - top1},
                         {"top5_drop", ref_top5 - top5}};
  } else {
    section["labels"] = nullptr;
  }

  if (!options.per_layer) {
    section["layers"] = nullptr;
    section["worst_layers"] = json::array();
  } else {
    std::vector<const LayerRow*> kept;
    for (const LayerRow& row : layers)
      if (!row.skipped && row.stats.count() > 0) kept.push_back(&row);
    // Worst: the lowest finite SQNR; ties keep graph order.
    std::vector<const LayerRow*> ranked;
    for (const LayerRow* r : kept)
      if (r->stats.sqnr_db()) ranked.push_back(r);
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const LayerRow* a, const LayerRow* b) { return *a->stats.sqnr_db() < *b->stats.sqnr_db(); });
    if (ranked.size() > static_cast<size_t>(std::max(0, options.worst_layers)))
      ranked.resize(static_cast<size_t>(std::max(0, options.worst_layers)));
    const std::set<const LayerRow*> worst(ranked.begin(), ranked.end());
    json rows = json::array();
    for (const LayerRow* r : kept)
      rows.push_back({{"name", r->reference->name()},
                      {"op_type", r->op_type},
                      {"model_tensor", r->twin->name()},
                      {"form", r->kind == TwinKind::kSame ? "float"
                               : r->kind == TwinKind::kDequantized ? "dequantized"
                                                                   : "quantized"},
                      {"sqnr_db", finite_or_null(r->stats.sqnr_db())},
                      {"cosine", r->stats.has_nan() ? json(nullptr) : finite_or_null(r->stats.cosine())},
                      {"mse", r->stats.has_nan() ? json(nullptr) : finite_or_null(r->stats.mse())},
                      {"max_abs_err", r->stats.has_nan() ? json(nullptr) : finite_or_null(r->stats.max_abs_err())},
                      {"worst", worst.count(r) > 0}});
    section["layers"] = rows;
    json names = json::array();
    for (const LayerRow* r : ranked) names.push_back(r->reference->name());
    section["worst_layers"] = names;
  }
  section["notes"] = notes;
  return section;
}

}  // namespace edgeq
