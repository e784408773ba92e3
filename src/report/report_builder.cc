// The JSON report every model-writing command writes: header, input/output files, options,
// timing and the size section (true bytes on disk, per tensor, per op type, bits per weight).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "common/atomic_file.h"
#include "edgeq/error.h"
#include "edgeq/hash.h"
#include "edgeq/report.h"
#include "edgeq/version.h"

namespace edgeq {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::pair<std::string, int>> count_ops(const Model& model) {
  std::map<std::string, int> counts;
  model.graph->for_each_graph([&](const Graph& g) {
    for (const auto& n : g.nodes())
      ++counts[(n->domain().empty() || n->domain() == "ai.onnx" ? "" : n->domain() + "::") + n->op_type()];
  });
  return {counts.begin(), counts.end()};
}

// A node of the written model counts as quantized when
//   - it is a quantized op (is_quantized_op: QuantizeLinear, DequantizeLinear, QLinear*, *Integer, ...), or
//   - it reads a constant through DequantizeLinear (its weights are stored as integers), or
//   - it reads a DequantizeLinear output and every use of its outputs is a QuantizeLinear: a QDQ
//     node group, which runtimes execute as one integer kernel;
// every other node is float. Counted over all graphs, like count_ops.
bool is_quantized_node(const Node& n) {
  auto op_is = [](const Node* p, const char* op) {
    return p != nullptr && p->op_type() == op &&
           (p->domain().empty() || p->domain() == "ai.onnx" || p->domain() == "com.microsoft");
  };
  if (is_quantized_op(n.domain(), n.op_type())) return true;
  bool reads_dequantized = false;
  for (const Value* in : n.inputs()) {
    if (in == nullptr || !op_is(in->producer(), "DequantizeLinear")) continue;
    reads_dequantized = true;
    const Value* stored = in->producer()->input(0);
    if (stored != nullptr && (stored->is_initializer() || op_is(stored->producer(), "Constant"))) return true;
  }
  if (!reads_dequantized) return false;
  bool any_use = false;
  for (const Value* out : n.outputs()) {
    if (out == nullptr) continue;
    for (const Use& u : out->uses()) {
      if (!op_is(u.node, "QuantizeLinear")) return false;
      any_use = true;
    }
  }
  return any_use;
}

json node_precision(const Model& model) {
  std::map<std::string, std::pair<int, int>> counts;  // op → (quantized, float)
  model.graph->for_each_graph([&](const Graph& g) {
    for (const auto& n : g.nodes()) {
      auto& c = counts[(n->domain().empty() || n->domain() == "ai.onnx" ? "" : n->domain() + "::") + n->op_type()];
      ++(is_quantized_node(*n) ? c.first : c.second);
    }
  });
  json rows = json::array();
  for (const auto& [op, c] : counts)
    rows.push_back({{"op_type", op}, {"quantized_nodes", c.first}, {"float_nodes", c.second}});
  return rows;
}

json weight_totals(const std::vector<WeightInfo>& weights) {
  uint64_t params = 0, bytes = 0;
  for (const auto& w : weights) {
    params += w.params;
    bytes += w.bytes;
  }
  return {{"params", params},
          {"bytes", bytes},
          {"bits_per_weight", params ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0.0}};
}

}  // namespace

std::string default_report_path(const std::string& output_model) {
  fs::path p(output_model);
  return (p.parent_path() / (p.stem().string() + ".report.json")).string();
}

ReportBuilder::ReportBuilder(std::string command, json options)
    : start_(std::chrono::steady_clock::now()) {
  report_["schema"] = "edgeq.report";
  report_["schema_version"] = kReportSchemaVersion;
  report_["edgeq_version"] = kVersion;
  report_["command"] = std::move(command);
  report_["options"] = std::move(options);
  report_["warnings"] = json::array();
}

void ReportBuilder::set_input(const Model& model, const ModelSource& source) {
  json files = json::array();
  files.push_back({{"path", source.path}, {"bytes", source.file_bytes}});
  for (const auto& f : source.data_files) files.push_back({{"path", f}, {"bytes", fs::file_size(f)}});
  bytes_before_ = source.file_bytes + source.data_bytes;
  report_["input"] = {{"path", source.path},
                      {"sha256", sha256_file(source.path)},
                      {"bytes", bytes_before_},
                      {"files", files}};
  before_ = collect_weights(model);
  ops_before_ = count_ops(model);
  for (const auto& w : source.warnings) add_warning(w);
}

void ReportBuilder::set_output(const Model& model, const SavedFiles& saved) {
  json files = json::array();
  files.push_back({{"path", saved.model_path}, {"bytes", saved.model_bytes}});
  if (!saved.data_path.empty()) files.push_back({{"path", saved.data_path}, {"bytes", saved.data_bytes}});
  bytes_after_ = saved.model_bytes + saved.data_bytes;
  report_["output"] = {{"path", saved.model_path}, {"bytes", bytes_after_}, {"files", files}};
  after_ = collect_weights(model);
  ops_after_ = count_ops(model);
  report_["size"]["node_precision"] = node_precision(model);
}

void ReportBuilder::add_warning(const std::string& warning) { report_["warnings"].push_back(warning); }

json ReportBuilder::finish() {
  json size = report_.value("size", json::object());  // set_output's node_precision
  size["bytes_before"] = bytes_before_;
  size["bytes_after"] = bytes_after_;
  size["ratio"] = bytes_after_ ? static_cast<double>(bytes_before_) / static_cast<double>(bytes_after_) : 0.0;
  size["weights_before"] = weight_totals(before_);
  size["weights_after"] = weight_totals(after_);

  // Tensors matched by name; one present on one side only gets nulls on the other.
  std::map<std::string, std::pair<const WeightInfo*, const WeightInfo*>> tensors;
  for (const auto& w : before_) tensors[w.name].first = &w;
  for (const auto& w : after_) tensors[w.name].second = &w;
  json tensor_rows = json::array();
  for (const auto& [name, pair] : tensors) {
    const WeightInfo* any = pair.first ? pair.first : pair.second;
    json row = {{"name", name}, {"shape", any->shape}, {"params", any->params},
                {"op_type", any->consumer_op}};
    row["dtype_before"] = pair.first ? json(std::string(dtype_name(pair.first->dtype))) : json(nullptr);
    row["dtype_after"] = pair.second ? json(std::string(dtype_name(pair.second->dtype))) : json(nullptr);
    row["bytes_before"] = pair.first ? json(pair.first->bytes) : json(nullptr);
    row["bytes_after"] = pair.second ? json(pair.second->bytes) : json(nullptr);
    tensor_rows.push_back(std::move(row));
  }
  size["tensors"] = tensor_rows;

  struct OpRow { int nodes_before = 0, nodes_after = 0; uint64_t pb = 0, pa = 0, bb = 0, ba = 0; };
  std::map<std::string, OpRow> ops;
  for (const auto& [op, n] : ops_before_) ops[op].nodes_before = n;
  for (const auto& [op, n] : ops_after_) ops[op].nodes_after = n;
  for (const auto& w : before_)
    if (!w.consumer_op.empty()) { ops[w.consumer_op].pb += w.params; ops[w.consumer_op].bb += w.bytes; }
  for (const auto& w : after_)
    if (!w.consumer_op.empty()) { ops[w.consumer_op].pa += w.params; ops[w.consumer_op].ba += w.bytes; }
  json op_rows = json::array();
  for (const auto& [op, r] : ops)
    op_rows.push_back({{"op_type", op},
                       {"nodes_before", r.nodes_before},
                       {"nodes_after", r.nodes_after},
                       {"weight_params_before", r.pb},
                       {"weight_params_after", r.pa},
                       {"weight_bytes_before", r.bb},
                       {"weight_bytes_after", r.ba}});
  size["op_types"] = op_rows;
  report_["size"] = size;
  report_["timing"] = {
      {"wall_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()}};
  return report_;
}

void write_report(const json& report, const std::string& path) {
  write_file_atomic(path, report.dump(2) + "\n");
}

SavedFiles save_model_and_report(const Model& model, const std::string& output,
                                 const SaveOptions& options, const ReportOutput& report,
                                 const std::function<json(const SavedFiles&)>& finish) {
  if (output.empty()) throw usage_error("the output path is empty");
  if (report.path.empty()) throw usage_error("the report path is empty");
  std::vector<std::string> taken = options.protected_paths;
  taken.push_back(output);
  taken.push_back(external_data_path_for(output));
  // The report and each rendering: opened (as temporary files) before the model is written.
  std::vector<std::string> formats = report.formats;
  if (std::find(formats.begin(), formats.end(), "json") == formats.end()) formats.insert(formats.begin(), "json");
  std::vector<std::pair<std::string, std::unique_ptr<AtomicFile>>> files;
  for (const auto& format : formats) {
    const std::string path = report_path_for_format(report.path, format);
    for (const auto& p : taken)
      if (same_file(path, p))
        throw usage_error("the report path '" + path + "' is the input, the output or a data file");
    taken.push_back(path);
    files.emplace_back(format, std::make_unique<AtomicFile>(path));
  }
  SavedFiles saved = save_model(model, output, options);
  std::vector<std::string> committed;
  try {
    const json j = finish(saved);
    for (auto& [format, file] : files) {
      const std::string text = render_report(j, format);
      file->write_all(text.data(), text.size());
    }
    for (auto& [format, file] : files) {
      file->commit();
      committed.push_back(file->final_path());
    }
  } catch (...) {
    for (const auto& p : committed) ::unlink(p.c_str());
    ::unlink(saved.model_path.c_str());
    if (!saved.data_path.empty()) ::unlink(saved.data_path.c_str());
    throw;
  }
  return saved;
}

SavedFiles save_model_and_report(const Model& model, const std::string& output,
                                 const SaveOptions& options, const std::string& report_path,
                                 const std::function<json(const SavedFiles&)>& finish) {
  return save_model_and_report(model, output, options, ReportOutput{report_path, {"json"}}, finish);
}

}  // namespace edgeq
