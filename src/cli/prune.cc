// edgeq prune MODEL --sparsity S [--pattern unstructured|N:M|channel] [--scope global|layer]
//   [--norm l1|l2] [--exclude-nodes …] [--min-params K] [--prune-first-last] [--schedule FILE]
//   [--sparse-storage] [--threads N] [-o OUT] [--report FILE]
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "cli/prune_report.h"
#include "cli/report_flags.h"
#include "edgeq/calib/calibrate.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/prune.h"
#include "edgeq/report.h"
#include "edgeq/report/render.h"
#include "passes/prune/prune_common.h"
#include "passes/prune/prune_storage.h"

namespace edgeq::cli {

namespace {

// How close --sparsity must be to 1 − N/M for an N:M pattern: three decimals (0.667 for 1:3).
constexpr double kNMSparsityTolerance = 5e-4;

struct PruneCliOptions {
  std::string input;
  std::string output;
  double sparsity_value = 0;
  std::optional<double> sparsity;  // set when --sparsity was given
  std::string pattern = "unstructured";
  std::string scope;  // "" = global, unless --schedule
  std::string norm;   // "" = l1, channel only
  std::string score;  // "" = lamp, global unstructured only
  bool no_bias_correction = false;
  std::string calib;          // measured input means for bias correction
  int64_t calib_samples = 0;  // 0: all
  std::string exclude_nodes;
  int64_t min_params = 256;
  bool prune_first_last = false;
  std::string schedule;
  bool sparse_storage = false;
  int threads = 0;
  std::string report;
  std::string report_format = "json";
  DataFlags data;  // for --eval
  EvalFlags eval;  // --eval, --labels, --eval-samples, gates
};

std::string default_output(const std::string& input) {
  std::filesystem::path p(input);
  return (p.parent_path() / (p.stem().string() + ".pruned.onnx")).string();
}

// A schedule file: one JSON object, layer (node or weight name) → sparsity.
std::map<std::string, double> read_schedule(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, "cannot read the schedule");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw usage_error(path + ": the schedule is not valid JSON");
  if (!j.is_object() || j.empty())
    throw usage_error(path + ": the schedule must be a non-empty JSON object {\"layer name\": sparsity, ...}");
  std::map<std::string, double> schedule;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number())
      throw usage_error(path + ": the sparsity of '" + it.key() + "' is not a number");
    schedule[it.key()] = it.value().get<double>();
  }
  return schedule;
}

PruneOptions to_options(const PruneCliOptions& c) {
  PruneOptions o;
  o.min_params = c.min_params;
  o.prune_first_last = c.prune_first_last;
  for (const auto& n : split_list(c.exclude_nodes)) o.exclude_nodes.insert(n);
  if (!c.norm.empty() && c.pattern != "channel") throw usage_error("--norm applies to --pattern channel only");
  o.l1 = c.norm != "l2";
  if (!c.score.empty() && (c.pattern != "unstructured" || c.scope == "layer" || !c.schedule.empty()))
    throw usage_error("--score applies to global unstructured pruning only");
  o.score = c.score == "magnitude" ? PruneScore::kMagnitude : PruneScore::kLamp;
  o.bias_correction = !c.no_bias_correction;

  static const std::regex kNM(R"((\d{1,6}):(\d{1,6}))");
  std::smatch nm;
  if (c.pattern == "unstructured") {
    o.pattern = PrunePattern::kUnstructured;
  } else if (c.pattern == "channel") {
    o.pattern = PrunePattern::kChannel;
  } else if (std::regex_match(c.pattern, nm, kNM)) {
    o.pattern = PrunePattern::kNM;
    o.n = std::stoi(nm[1]);
    o.m = std::stoi(nm[2]);
    if (o.n < 1 || o.m < 1 || o.n > o.m)
      throw usage_error("--pattern " + c.pattern + ": N:M needs 1 <= N <= M (keep N of every M weights)");
  } else {
    throw usage_error("--pattern must be unstructured, N:M (e.g. 2:4) or channel (got '" + c.pattern + "')");
  }

  if (!c.schedule.empty()) {
    if (o.pattern != PrunePattern::kUnstructured) throw usage_error("--schedule needs --pattern unstructured");
    if (c.scope == "global") throw usage_error("--schedule sets per-layer sparsities: it cannot be --scope global");
    o.schedule = read_schedule(c.schedule);
  }
  o.scope = c.scope == "layer" || !c.schedule.empty() ? PruneScope::kLayer : PruneScope::kGlobal;
  if (o.pattern == PrunePattern::kNM) {
    if (!c.scope.empty()) throw usage_error("--scope does not apply to N:M (every block of M keeps N)");
    const double implied = 1.0 - static_cast<double>(o.n) / o.m;
    if (c.sparsity && !(std::fabs(*c.sparsity - implied) <= kNMSparsityTolerance))
      throw usage_error("--sparsity " + fmt::format("{}", *c.sparsity) + " disagrees with --pattern " + c.pattern +
                        " (which means sparsity " + fmt::format("{:.4f}", implied) + "); omit --sparsity");
    o.sparsity = implied;
  } else if (c.sparsity) {
    o.sparsity = *c.sparsity;
  } else if (!c.schedule.empty()) {
    o.sparsity = 0.0;  // layers the schedule does not name stay dense
  } else {
    throw usage_error("--sparsity S is required (fraction of the eligible weights to remove, e.g. 0.5)");
  }
  return o;
}

std::string pattern_name(const PruneOptions& o) {
  switch (o.pattern) {
    case PrunePattern::kUnstructured: return "unstructured";
    case PrunePattern::kNM: return std::to_string(o.n) + ":" + std::to_string(o.m);
    case PrunePattern::kChannel: return "channel";
  }
  return "";
}

std::string scope_name(const PruneOptions& o) {
  if (o.pattern == PrunePattern::kNM) return "block";
  if (!o.schedule.empty()) return "schedule";
  return o.scope == PruneScope::kLayer ? "layer" : "global";
}


// Checks the options (reading a --schedule file) and returns the pruning they describe.
Transform prune_transform(const PruneCliOptions& c) {
  const DataFlags& d = c.data;
  if (c.eval.eval_data.empty() && c.calib.empty() &&
      (!d.fixed_inputs.empty() || !d.image_size.empty() || !d.mean.empty() || !d.std.empty() || !d.layout.empty() ||
       d.rgb || d.bgr || d.grayscale))
    throw usage_error("data flags (--fixed-input, --image-size, ...) describe --calib / --eval data and need --calib or --eval");
  const PruneOptions o = to_options(c);
  if (!c.calib.empty() && !o.bias_correction)
    throw usage_error("--calib measures input means for bias correction: it cannot go with --no-bias-correction");
  if (c.calib_samples > 0 && c.calib.empty()) throw usage_error("--calib-samples needs --calib");
  const bool sparse_storage = c.sparse_storage;
  const std::string calib = c.calib;
  DataOptions calib_data;
  if (!calib.empty()) {
    calib_data = to_data_options(c.data);
    calib_data.max_samples = c.calib_samples;
  }
  return [o, sparse_storage, calib, calib_data](Model& model, StepContext& step) {
    const size_t first_warning = step.warnings.size();
    PassContext ctx;
    ctx.threads = step.threads;
    ctx.warnings = std::move(step.warnings);
    // Constant nodes become initializers first, so weights held by Constant nodes count.
    {
      PassContext fold = ctx;
      fold.log = [](const std::string& line) { spdlog::debug("{}", line); };
      // Sparse initializers (an earlier --sparse-storage) become dense first: pruning reads dense weights.
      for (const char* name : {"densify_sparse", "fold_constants"}) {
        PassResult r = run_pass(name, model, fold);
        if (r.changes > 0) spdlog::info("{}: {}", name, r.summary);
      }
      ctx.warnings = fold.warnings;
    }
    ctx.log = [](const std::string& line) { spdlog::debug("{}", line); };
    PruneOptions options = o;
    if (!calib.empty()) {
      // The mean of every channel of every candidate layer's input, on the model before pruning.
      std::map<std::string, int64_t> inputs;
      for (const pruning::Candidate& cand : pruning::find_candidates(model)) {
        const Node* n = cand.nodes.front();
        if (n->input(0) == nullptr || n->op_type() == "ConvTranspose") continue;  // ConvTranspose: not corrected
        inputs[n->input(0)->name()] = n->op_type() == "Conv" ? 1 : -1;
      }
      auto samples = open_samples(model, calib, calib_data);
      spdlog::info("measuring the mean inputs of {} layers on {} for bias correction", inputs.size(),
                   samples->describe());
      options.input_means = channel_means(model, *samples, inputs, step.threads);
    }
    PruneSummary summary;
    try {
      summary = prune(model, options, ctx);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kUsage || e.kind() == ErrorKind::kUnsupported)
        throw Error(e.kind(), step.model_path + ": " + e.what());
      throw;
    }
    const std::vector<pruning::WeightStorage> storage = pruning::measure_and_store(model, summary, sparse_storage, ctx);

    // One line per layer, then the totals.
    const size_t width = std::to_string(summary.layers.size()).size();
    for (size_t i = 0; i < summary.layers.size(); ++i) {
      const PrunedLayer& l = summary.layers[i];
      std::string line = fmt::format("[{:>{}}/{}] {} {} {}", i + 1, width, summary.layers.size(), l.weight,
                                     pruning::shape_text(l.shape_before), l.node);
      if (l.shape_after != l.shape_before) line += " -> " + pruning::shape_text(l.shape_after);
      if (!l.pruned) {
        line += ": dense: " + l.reason;
      } else {
        line += fmt::format(": {:.1f}% zero ({}/{})", 100.0 * l.sparsity, l.zeros, l.params);
        const pruning::WeightStorage& st = storage[i];
        if (st.dense_bytes > 0)
          line += fmt::format(", {} B dense, {} B sparse, {} B zstd{}", st.dense_bytes, st.sparse_bytes, st.zstd_bytes,
                              st.stored_sparse ? ", stored sparse" : "");
      }
      if (l.bias_corrected)
        line += ", bias corrected in " + l.bias_tensor + (l.bias_measured ? " (measured)" : "");
      else if (!l.bias_not_corrected.empty())
        line += ", bias not corrected: " + l.bias_not_corrected;
      spdlog::info("{}", line);
    }
    uint64_t dense = 0, sparse = 0, zstd = 0;
    int pruned = 0;
    for (size_t i = 0; i < storage.size(); ++i) {
      dense += storage[i].dense_bytes;
      sparse += storage[i].sparse_bytes;
      zstd += storage[i].zstd_bytes;
      pruned += summary.layers[i].pruned;
    }
    spdlog::info("{} of {} layers pruned: {} of {} eligible weights zero ({:.2f}%, target {}); weights {} B dense, "
                 "{} B sparse, {} B zstd",
                 pruned, summary.layers.size(), summary.zeros, summary.eligible_params, 100.0 * summary.sparsity,
                 o.schedule.empty() ? fmt::format("{:.2f}%", 100.0 * o.sparsity) : std::string("per layer"), dense,
                 sparse, zstd);
    for (size_t i = first_warning; i < ctx.warnings.size(); ++i) spdlog::warn("{}", ctx.warnings[i]);
    step.warnings = std::move(ctx.warnings);

    StepResult r;
    r.changes = pruned;
    r.summary = fmt::format("{}: {:.2f}% of {} eligible weights zero, {} layers pruned", pattern_name(o),
                            100.0 * summary.sparsity, summary.eligible_params, pruned);
    r.section = "pruning";
    r.data = pruning_json(o, summary, storage, sparse_storage);
    r.data["bias_correction_data"] = calib.empty() ? nlohmann::json(nullptr) : nlohmann::json(calib);
    return r;
  };
}

}  // namespace

nlohmann::json pruning_json(const PruneOptions& o, const PruneSummary& s,
                            const std::vector<pruning::WeightStorage>& storage, bool sparse_storage) {
  nlohmann::json j;
  j["pattern"] = pattern_name(o);
  j["scope"] = scope_name(o);
  j["norm"] = o.pattern == PrunePattern::kChannel ? nlohmann::json(o.l1 ? "l1" : "l2") : nlohmann::json(nullptr);
  const bool global_unstructured =
      o.pattern == PrunePattern::kUnstructured && o.scope == PruneScope::kGlobal && o.schedule.empty();
  j["score"] = global_unstructured ? nlohmann::json(o.score == PruneScore::kLamp ? "lamp" : "magnitude")
                                   : nlohmann::json(nullptr);
  j["bias_correction"] = o.bias_correction;
  j["sparsity_target"] = o.schedule.empty() ? nlohmann::json(o.sparsity) : nlohmann::json(nullptr);
  j["sparsity_achieved"] = s.sparsity;
  j["eligible_params"] = s.eligible_params;
  j["zeros"] = s.zeros;
  j["params_before"] = s.params_before;
  j["params_after"] = s.params_after;
  j["sparse_storage"] = sparse_storage;
  uint64_t dense = 0, sparse = 0, zstd = 0, stored = 0;
  int pruned = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const PrunedLayer& l = s.layers[i];
    const pruning::WeightStorage& st = storage[i];
    const bool measured = st.dense_bytes > 0;
    nlohmann::json r = {{"node", l.node},
                        {"weight", l.weight},
                        {"op_type", l.op_type},
                        {"shape_before", l.shape_before},
                        {"shape_after", l.shape_after},
                        {"params", l.params},
                        {"pruned", l.pruned},
                        {"reason", l.pruned ? nlohmann::json(nullptr) : nlohmann::json(l.reason)},
                        {"zeros", l.zeros},
                        {"sparsity", l.sparsity}};
    r["bias_corrected"] = l.bias_corrected;
    r["bias_measured"] = l.bias_measured;
    r["bias_tensor"] = l.bias_corrected ? nlohmann::json(l.bias_tensor) : nlohmann::json(nullptr);
    r["bias_not_corrected"] = l.bias_not_corrected.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.bias_not_corrected);
    r["dense_bytes"] = measured ? nlohmann::json(st.dense_bytes) : nlohmann::json(nullptr);
    r["sparse_bytes"] = measured ? nlohmann::json(st.sparse_bytes) : nlohmann::json(nullptr);
    r["zstd_bytes"] = measured ? nlohmann::json(st.zstd_bytes) : nlohmann::json(nullptr);
    r["storage"] = st.stored_sparse ? "sparse" : "dense";
    rows.push_back(std::move(r));
    pruned += l.pruned;
    dense += st.dense_bytes;
    sparse += st.sparse_bytes;
    zstd += st.zstd_bytes;
    stored += st.stored_sparse ? st.sparse_bytes : st.dense_bytes;
  }
  j["layers_pruned"] = pruned;
  j["layers_dense"] = static_cast<int>(s.layers.size()) - pruned;
  j["dense_bytes"] = dense;
  j["sparse_bytes"] = sparse;
  j["zstd_bytes"] = zstd;
  j["stored_bytes"] = stored;
  j["layers"] = std::move(rows);
  return j;
}

void setup_prune(CLI::App& command, Actions& actions) {
  auto c = std::make_shared<PruneCliOptions>();
  command.add_option("model", c->input, "ONNX model to prune")->required();
  command.add_option("-o,--output", c->output, "Output model (default: <stem>.pruned.onnx beside the input)");
  command.add_option("--sparsity", c->sparsity_value,
                     "Fraction of the eligible weights to zero, in [0, 1) (channel: of the output channels to "
                     "remove; N:M: may be omitted, it is 1 - N/M)");
  command.add_option("--pattern", c->pattern, "unstructured (default), N:M (e.g. 2:4) or channel");
  command.add_option("--scope", c->scope, "unstructured: rank all eligible weights together (global, default) or "
                                          "prune each layer to S (layer)")
      ->check(CLI::IsMember({"global", "layer"}));
  command.add_option("--norm", c->norm, "channel: rank output channels by l1 (default) or l2 norm")
      ->check(CLI::IsMember({"l1", "l2"}));
  command.add_option("--score", c->score,
                     "global unstructured: compare layers by LAMP score (lamp, default) or by |w| (magnitude)")
      ->check(CLI::IsMember({"lamp", "magnitude"}));
  command.add_flag("--no-bias-correction", c->no_bias_correction,
                   "Do not put the output means pruning removed back into biases");
  command.add_option("--calib", c->calib,
                     "Measure the layers' mean inputs on DATA for bias correction where the graph's "
                     "BatchNormalization constants give no estimate")
      ->type_name("PATH");
  command.add_option("--calib-samples", c->calib_samples, "Use the first N samples of --calib (default: all)")
      ->check(CLI::PositiveNumber);
  command.add_option("--exclude-nodes", c->exclude_nodes, "Node names to leave dense (comma-separated)");
  command.add_option("--min-params", c->min_params, "Leave layers with fewer parameters dense (default 256)");
  command.add_flag("--prune-first-last", c->prune_first_last, "Also prune the first and last eligible layers");
  command.add_option("--schedule", c->schedule,
                     "JSON object {\"node or weight name\": sparsity, ...}: per-layer sparsities (unnamed layers "
                     "get --sparsity, default 0 = dense)")
      ->type_name("PATH");
  command.add_flag("--sparse-storage", c->sparse_storage,
                   "Store pruned weights as ONNX sparse initializers where that is smaller");
  command.add_option("--threads", c->threads, "Threads (default: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--report", c->report, "Report file (default: <OUT stem>.report.json)");
  command.add_option("--report-format", c->report_format, kReportFormatHelp)->default_str("json");
  add_eval_flags(command, c->eval);
  add_data_flags(command, c->data);

  CLI::App* cmd = &command;
  actions.transform = [c] { return prune_transform(*c); };
  command.callback([c, cmd, &run = actions.run] {
    if (cmd->count("--sparsity")) c->sparsity = c->sparsity_value;
    run = [c] {
      const std::vector<std::string> report_formats = parse_report_formats(c->report_format);
      check_eval_flags(c->eval);
      const Transform transform = prune_transform(*c);
      const PruneOptions o = to_options(*c);  // for the report's options
      const bool has_eval = !c->eval.eval_data.empty();
      const DataOptions data = has_eval ? to_data_options(c->data) : DataOptions{};
      nlohmann::json options = {{"sparsity", c->sparsity ? nlohmann::json(*c->sparsity) : nlohmann::json(nullptr)},
                                {"pattern", pattern_name(o)},
                                {"scope", scope_name(o)},
                                {"norm", o.pattern == PrunePattern::kChannel ? (o.l1 ? "l1" : "l2") : ""},
                                {"score", o.pattern == PrunePattern::kUnstructured && o.scope == PruneScope::kGlobal &&
                                                  o.schedule.empty()
                                              ? (o.score == PruneScore::kLamp ? "lamp" : "magnitude")
                                              : ""},
                                {"bias_correction", o.bias_correction},
                                {"calib", c->calib.empty() ? nlohmann::json(nullptr) : nlohmann::json(c->calib)},
                                {"exclude_nodes", split_list(c->exclude_nodes)},
                                {"min_params", o.min_params},
                                {"prune_first_last", o.prune_first_last},
                                {"schedule", c->schedule.empty() ? nlohmann::json(nullptr) : nlohmann::json(c->schedule)},
                                {"sparse_storage", c->sparse_storage}};
      add_eval_options(options, c->eval);
      ReportBuilder report("prune", options);
      ModelSource source;
      Model model = load_model(c->input, &source);
      report.set_input(model, source);
      const std::string output = c->output.empty() ? default_output(c->input) : c->output;

      StepContext ctx = input_context(source, output, c->threads);
      const StepResult result = transform(model, ctx);
      for (const auto& w : ctx.warnings) report.add_warning(w);

      const WrittenModel w = evaluate_and_write(model, source, output, c->report, report_formats, report, c->eval, data,
                                                c->threads, [&](nlohmann::json& j) { j[result.section] = result.data; });
      std::cout << "pruned " << c->input << " -> " << w.files.model_path << " ("
                << fmt::format("{:.2f}", 100.0 * result.data["sparsity_achieved"].get<double>()) << "% of "
                << result.data["eligible_params"].get<uint64_t>() << " eligible weights zero, "
                << result.data["layers_pruned"].get<int>() << " layers; " << w.bytes_in << " -> " << w.bytes_out
                << " bytes)\nreport: " << w.report_path << "\n";
      return w.print_result(std::cout);
    };
  });
}

}  // namespace edgeq::cli
