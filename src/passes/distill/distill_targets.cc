// Distillation targets: the teacher's logits, softmax(logits / T), top-k and chosen intermediate
// tensors over a data set, streamed into a .npz (include/edgeq/passes/distill.h).
#include <spdlog/spdlog.h>

#include <Eigen/Core>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "edgeq/error.h"
#include "edgeq/hash.h"
#include "edgeq/passes/distill.h"
#include "edgeq/runtime/executor.h"
#include "edgeq/version.h"
#include "passes/prune/prune_channels.h"

namespace edgeq {

namespace {

bool is_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBfloat16;
}

std::string numpy_name(DType t) {
  switch (t) {
    case DType::kFloat:
      return "float32";
    case DType::kDouble:
      return "float64";
    case DType::kFloat16:
      return "float16";
    case DType::kBool:
      return "bool";
    default:
      return std::string(dtype_name(t));  // int8..uint64 are spelt alike
  }
}

// Member-name part for a tensor name: [A-Za-z0-9_] kept, everything else '_'.
std::string sanitize(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  return out.empty() ? "_" : out;
}

// Member names are unique: a clash after sanitizing gets _2, _3, ...
std::string unique_member(const std::string& base, std::set<std::string>& used) {
  std::string name = base;
  for (int k = 2; used.count(name); ++k) name = base + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// Classes per sample of an output whose per-sample dims are `rest` (after the batch axis), or
// nullopt when more than one of them exceeds 1: no single class axis to take a softmax over.
std::optional<int64_t> flat_classes(const std::vector<int64_t>& rest) {
  int64_t c = 1, wide = 0;
  for (int64_t d : rest) {
    c *= d;
    wide += d > 1;
  }
  if (wide > 1) return std::nullopt;
  return c;
}

Error not_class_shaped(const std::string& file, const std::string& output,
                       const std::string& shape) {
  return unsupported(
      file,
      "teacher output '" + output + "' has shape " + shape +
          ": distillation targets need [batch, classes] (dims of 1 besides the class axis are "
          "flattened away); an output with several axes above 1 has no single class axis to "
          "take a softmax over");
}

// Float graph outputs of the teacher (unknown element type counts as float until it runs).
std::vector<const Value*> target_outputs(const Model& teacher, std::vector<std::string>* skipped) {
  std::vector<const Value*> out;
  for (const Value* v : teacher.graph->outputs()) {
    const bool known = v->info.tensor && v->info.tensor->elem != DType::kUndefined;
    if (known && !is_float(v->info.tensor->elem)) {
      if (skipped) skipped->push_back(v->name());
      continue;
    }
    out.push_back(v);
  }
  return out;
}

// Values of one row of a float tensor, as double.
void row_as_double(const Tensor& t, int64_t row, int64_t c, std::vector<double>& out) {
  out.resize(static_cast<size_t>(c));
  const size_t base = static_cast<size_t>(row * c);
  switch (t.dtype()) {
    case DType::kFloat: {
      auto v = t.values<float>();
      for (int64_t i = 0; i < c; ++i)
        out[static_cast<size_t>(i)] = v[base + static_cast<size_t>(i)];
      break;
    }
    case DType::kDouble: {
      auto v = t.values<double>();
      for (int64_t i = 0; i < c; ++i)
        out[static_cast<size_t>(i)] = v[base + static_cast<size_t>(i)];
      break;
    }
    case DType::kFloat16: {
      auto v = t.values<Eigen::half>();
      for (int64_t i = 0; i < c; ++i)
        out[static_cast<size_t>(i)] = static_cast<float>(v[base + static_cast<size_t>(i)]);
      break;
    }
    case DType::kBfloat16: {
      auto v = t.values<Eigen::bfloat16>();
      for (int64_t i = 0; i < c; ++i)
        out[static_cast<size_t>(i)] = static_cast<float>(v[base + static_cast<size_t>(i)]);
      break;
    }
    default:
      EDGEQ_CHECK(false, "row_as_double on a non-float tensor");
  }
}

// softmax(x / T) in double: shifted by the maximum so exp never overflows.
void softmax(const std::vector<double>& x, double temperature, std::vector<double>& p) {
  p.resize(x.size());
  double top = -INFINITY;
  for (double v : x) top = std::max(top, v / temperature);
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    p[i] = std::exp(x[i] / temperature - top);
    sum += p[i];
  }
  for (double& v : p) v /= sum;
}

// Per teacher output: its arrays in the archive.
struct OutputArrays {
  const Value* value;
  size_t graph_index;
  int64_t classes = -1;  // fixed at the first batch
  size_t logits = 0, probs = 0, topk_indices = 0, topk_probs = 0;
  std::string logits_name, probs_name, topk_indices_name, topk_probs_name;
};

struct FeatureArray {
  std::string tensor;
  std::string member;
  bool declared = false;  // declared at its first observation, when the row dims are known
  size_t id = 0;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> row_dims;
};

}  // namespace

void check_distill_options(const Model& teacher, const DistillOptions& o) {
  if (!std::isfinite(o.temperature) || o.temperature <= 0)
    throw usage_error("--temperature must be a finite number > 0 (got " +
                      fmt::format("{}", o.temperature) + ")");
  if (o.top_k < 0) throw usage_error("--top-k must be >= 1");
  const Graph& g = *teacher.graph;
  std::set<std::string> seen;
  for (const std::string& name : o.features) {
    if (name.empty()) throw usage_error("--features: empty tensor name");
    if (!seen.insert(name).second) throw usage_error("--features: '" + name + "' is named twice");
    const Value* v = g.find_value(name);
    if (v != nullptr && v->producer() != nullptr) continue;
    if (v != nullptr && v->is_initializer())
      throw usage_error("--features: '" + name +
                        "' is a constant (initializer) of the teacher, not an activation");
    if (v != nullptr)
      throw usage_error("--features: '" + name +
                        "' is a graph input of the teacher: it is in the data already");
    // Suggest the closest node outputs.
    std::vector<std::pair<size_t, std::string>> near;
    for (const auto& n : g.nodes())
      for (const Value* out : n->outputs())
        if (out != nullptr) near.emplace_back(edit_distance(name, out->name()), out->name());
    std::sort(near.begin(), near.end());
    std::string hint;
    for (size_t i = 0; i < near.size() && i < 3; ++i) hint += (i ? "', '" : "") + near[i].second;
    throw usage_error("--features: the teacher has no tensor '" + name + "' in its main graph" +
                      (hint.empty() ? std::string() : " (closest: '" + hint + "')"));
  }

  const std::vector<const Value*> outputs = target_outputs(teacher, nullptr);
  if (outputs.empty())
    throw unsupported(
        o.teacher_path,
        "the teacher has no float output to take logits from (outputs of other types are skipped)");
  for (const Value* v : outputs) {
    if (!v->info.tensor || !v->info.tensor->shape) continue;
    const auto& shape = *v->info.tensor->shape;
    std::vector<int64_t> rest;
    bool known = true;
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
      const Dim& d = shape[i];
      text += (i ? "," : "") + (d.value           ? std::to_string(*d.value)
                                : d.param.empty() ? "?"
                                                  : d.param);
      if (i == 0) continue;
      if (d.value)
        rest.push_back(*d.value);
      else
        known = false;
    }
    text += "]";
    if (shape.empty()) throw not_class_shaped(o.teacher_path, v->name(), text);
    if (!known) continue;
    const auto classes = flat_classes(rest);
    if (!classes) throw not_class_shaped(o.teacher_path, v->name(), text);
    if (o.top_k > *classes)
      throw usage_error("--top-k " + std::to_string(o.top_k) + " exceeds the " +
                        std::to_string(*classes) + " classes of teacher output '" + v->name() +
                        "'");
  }
}

DistillSummary write_distill_targets(const Model& teacher, SampleSource& samples,
                                     const DistillOptions& o, NpzWriter& out,
                                     std::vector<std::string>& warnings) {
  check_distill_options(teacher, o);
  const Graph& g = *teacher.graph;
  DistillSummary summary;

  std::vector<std::string> skipped;
  const std::vector<const Value*> targets = target_outputs(teacher, &skipped);
  for (const auto& s : skipped)
    warnings.push_back("teacher output '" + s + "' is not a float tensor: no logits/probs for it");

  // Member names are fixed before running. Arrays are declared when their per-sample shape is
  // known (at the first batch), so the archive's order is index, the features in the order the
  // teacher computes them, then per output logits, probs (top-k) — the same for any data.
  std::set<std::string> used{"index", "meta"};
  std::vector<OutputArrays> outputs;
  for (const Value* v : targets) {
    OutputArrays a;
    a.value = v;
    a.graph_index = static_cast<size_t>(std::find(g.outputs().begin(), g.outputs().end(), v) -
                                        g.outputs().begin());
    const std::string suffix = targets.size() == 1 ? "" : "_" + sanitize(v->name());
    a.logits_name = unique_member("logits" + suffix, used);
    a.probs_name = unique_member("probs" + suffix, used);
    if (o.top_k > 0) {
      a.topk_indices_name = unique_member("topk_indices" + suffix, used);
      a.topk_probs_name = unique_member("topk_probs" + suffix, used);
    }
    outputs.push_back(std::move(a));
  }
  std::vector<FeatureArray> features;
  std::map<const Value*, size_t> feature_of;
  for (const std::string& name : o.features) {
    FeatureArray f;
    f.tensor = name;
    f.member = unique_member("feat_" + sanitize(name), used);
    feature_of[g.find_value(name)] = features.size();
    features.push_back(std::move(f));
  }

  const size_t index_id = out.add_array("index", DType::kInt64, {});
  ExecutorOptions eo;
  eo.threads = o.threads;
  Executor executor(teacher, eo);

  int64_t rows_in_batch = 0;  // samples of the batch being run
  executor.set_observer([&](const Node& node, const std::vector<const RtValue*>& values) {
    if (node.graph() != &g) return;  // subgraph nodes: features are main-graph tensors
    for (size_t k = 0; k < values.size(); ++k) {
      auto it = feature_of.find(node.output(k));
      if (it == feature_of.end()) continue;
      FeatureArray& f = features[it->second];
      const RtValue& rv = *values[k];
      if (rv.kind != RtValue::Kind::kTensor)
        throw unsupported(o.teacher_path,
                          "feature '" + f.tensor + "' is not a tensor (a sequence or optional)");
      const Tensor& t = rv.tensor;
      if (t.dims().empty() || t.dims()[0] < rows_in_batch)
        throw unsupported(o.teacher_path, "feature '" + f.tensor + "' has shape " +
                                              shape_text(t.dims()) + " for a batch of " +
                                              std::to_string(rows_in_batch) +
                                              " samples: its axis 0 is not the batch axis");
      std::vector<int64_t> rest(t.dims().begin() + 1, t.dims().end());
      if (!f.declared) {
        f.id = out.add_array(f.member, t.dtype(), rest);
        f.dtype = t.dtype();
        f.row_dims = rest;
        f.declared = true;
      } else if (rest != f.row_dims || t.dtype() != f.dtype) {
        throw unsupported(o.teacher_path, "feature '" + f.tensor +
                                              "' changes shape between batches (" +
                                              shape_text(f.row_dims) + " per sample, then " +
                                              shape_text(rest) + "): it cannot be stacked");
      }
      out.append(f.id, t.bytes().data(), rows_in_batch);
    }
  });

  Batch batch;
  int64_t done = 0;
  std::vector<double> logits, probs;
  std::vector<float> logits_rows, probs_rows, topk_probs_rows;
  std::vector<int64_t> topk_rows, index_rows, order;
  while (samples.next(batch)) {
    rows_in_batch = batch.samples;
    auto results = executor.run(batch.feeds);
    const int64_t n = batch.samples;
    for (OutputArrays& a : outputs) {
      const RtValue& rv = results[a.graph_index].second;
      const std::string& name = a.value->name();
      if (rv.kind != RtValue::Kind::kTensor)
        throw not_class_shaped(o.teacher_path, name, "(not a tensor)");
      const Tensor& t = rv.tensor;
      if (!is_float(t.dtype()))
        throw unsupported(o.teacher_path, "teacher output '" + name + "' is " +
                                              std::string(dtype_name(t.dtype())) +
                                              ", not a float tensor");
      if (t.dims().empty()) throw not_class_shaped(o.teacher_path, name, shape_text(t.dims()));
      if (t.dims()[0] < n)
        throw unsupported(o.teacher_path, "teacher output '" + name + "' has shape " +
                                              shape_text(t.dims()) + " for a batch of " +
                                              std::to_string(n) +
                                              " samples: its axis 0 is not the batch axis");
      const auto classes = flat_classes({t.dims().begin() + 1, t.dims().end()});
      if (!classes) throw not_class_shaped(o.teacher_path, name, shape_text(t.dims()));
      if (a.classes < 0) {
        a.classes = *classes;
        if (o.top_k > a.classes)
          throw usage_error("--top-k " + std::to_string(o.top_k) + " exceeds the " +
                            std::to_string(a.classes) + " classes of teacher output '" + name +
                            "'");
        a.logits = out.add_array(a.logits_name, DType::kFloat, {a.classes});
        a.probs = out.add_array(a.probs_name, DType::kFloat, {a.classes});
        if (o.top_k > 0) {
          a.topk_indices = out.add_array(a.topk_indices_name, DType::kInt64, {o.top_k});
          a.topk_probs = out.add_array(a.topk_probs_name, DType::kFloat, {o.top_k});
        }
      } else if (*classes != a.classes) {
        throw unsupported(o.teacher_path, "teacher output '" + name + "' has " +
                                              std::to_string(*classes) +
                                              " classes in one batch and " +
                                              std::to_string(a.classes) + " in another");
      }
      const int64_t c = a.classes;
      const int64_t k = o.top_k;
      logits_rows.resize(static_cast<size_t>(n * c));
      probs_rows.resize(static_cast<size_t>(n * c));
      topk_rows.resize(static_cast<size_t>(n * k));
      topk_probs_rows.resize(static_cast<size_t>(n * k));
      for (int64_t r = 0; r < n; ++r) {
        row_as_double(t, r, c, logits);
        softmax(logits, o.temperature, probs);
        for (int64_t i = 0; i < c; ++i) {
          logits_rows[static_cast<size_t>(r * c + i)] =
              static_cast<float>(logits[static_cast<size_t>(i)]);
          probs_rows[static_cast<size_t>(r * c + i)] =
              static_cast<float>(probs[static_cast<size_t>(i)]);
        }
        if (k > 0) {
          order.resize(static_cast<size_t>(c));
          std::iota(order.begin(), order.end(), int64_t{0});
          std::partial_sort(
              order.begin(), order.begin() + k, order.end(), [&](int64_t x, int64_t y) {
                const double px = probs[static_cast<size_t>(x)], py = probs[static_cast<size_t>(y)];
                return px > py || (px == py && x < y);
              });
          for (int64_t j = 0; j < k; ++j) {
            topk_rows[static_cast<size_t>(r * k + j)] = order[static_cast<size_t>(j)];
            topk_probs_rows[static_cast<size_t>(r * k + j)] =
                static_cast<float>(probs[static_cast<size_t>(order[static_cast<size_t>(j)])]);
          }
        }
      }
      out.append(a.logits, logits_rows.data(), n);
      out.append(a.probs, probs_rows.data(), n);
      if (k > 0) {
        out.append(a.topk_indices, topk_rows.data(), n);
        out.append(a.topk_probs, topk_probs_rows.data(), n);
      }
    }
    index_rows.resize(static_cast<size_t>(n));
    std::iota(index_rows.begin(), index_rows.end(), done);
    out.append(index_id, index_rows.data(), n);
    done += n;
    spdlog::debug("distill-targets: {} / {} samples", done, samples.total_samples());
  }
  executor.set_observer(nullptr);
  if (done == 0) throw Error(ErrorKind::kInvalidData, samples.describe() + ": no samples");

  // What the archive holds, for meta and the caller's summary.
  summary.samples = done;
  summary.arrays.push_back({"index", "index", "", "int64", {done}});
  for (const OutputArrays& a : outputs) {
    const std::string& tensor = a.value->name();
    summary.outputs.push_back(tensor);
    summary.arrays.push_back({a.logits_name, "logits", tensor, "float32", {done, a.classes}});
    summary.arrays.push_back({a.probs_name, "probs", tensor, "float32", {done, a.classes}});
    if (o.top_k > 0) {
      summary.arrays.push_back(
          {a.topk_indices_name, "topk_indices", tensor, "int64", {done, o.top_k}});
      summary.arrays.push_back(
          {a.topk_probs_name, "topk_probs", tensor, "float32", {done, o.top_k}});
    }
  }
  for (const FeatureArray& f : features) {
    EDGEQ_CHECK(f.declared, "feature never observed: " + f.tensor);
    std::vector<int64_t> shape{done};
    shape.insert(shape.end(), f.row_dims.begin(), f.row_dims.end());
    summary.arrays.push_back({f.member, "feature", f.tensor, numpy_name(f.dtype), shape});
  }

  nlohmann::json meta;
  meta["format"] = "edgeq-distill-targets";
  meta["format_version"] = 1;
  meta["edgeq_version"] = kVersion;
  meta["teacher"] = o.teacher_path;
  meta["teacher_sha256"] = o.teacher_path.empty() ? nlohmann::json(nullptr)
                                                  : nlohmann::json(sha256_file(o.teacher_path));
  meta["temperature"] = o.temperature;
  nlohmann::json inputs = nlohmann::json::array();
  for (const Value* v : g.inputs())
    if (!v->is_initializer()) inputs.push_back(v->name());
  meta["inputs"] = inputs;
  meta["outputs"] = summary.outputs;
  meta["skipped_outputs"] = skipped;
  meta["data"] = samples.describe();
  meta["samples"] = done;
  meta["top_k"] = o.top_k > 0 ? nlohmann::json(o.top_k) : nlohmann::json(nullptr);
  meta["features"] = o.features;
  nlohmann::json arrays = nlohmann::json::object();
  for (const DistillArray& a : summary.arrays)
    arrays[a.name] = {
        {"kind", a.kind},
        {"tensor", a.tensor.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.tensor)},
        {"dtype", a.dtype},
        {"shape", a.shape}};
  meta["arrays"] = arrays;
  out.add_string("meta", meta.dump(-1, ' ', /*ensure_ascii=*/true));
  summary.meta = std::move(meta);
  return summary;
}

PruneSummary make_student(Model& model, double width, PassContext& ctx) {
  if (!(width > 0.0 && width <= 1.0))
    throw usage_error("--student-width must be in (0, 1], the fraction of channels kept (got " +
                      fmt::format("{}", width) + ")");
  if (width == 1.0) return {};
  // Weights held by Constant nodes become initializers first, as `edgeq prune` does.
  PassContext fold = ctx;
  fold.log = nullptr;
  run_pass("fold_constants", model, fold);
  ctx.warnings = fold.warnings;
  PruneOptions po;
  po.pattern = PrunePattern::kChannel;
  po.sparsity = 1.0 - width;
  po.prune_first_last = true;
  po.min_params = 0;
  return prune_channels(model, po, ctx);
}

}  // namespace edgeq
