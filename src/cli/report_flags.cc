#include "cli/report_flags.h"
#include "cli/commands.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <cstdio>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report/accuracy.h"

namespace edgeq::cli {

using nlohmann::json;

namespace {

// Gate comparisons forgive the last bits of a double: a drop is a difference of two counts
// divided by the sample count, which can land a hair above the threshold it equals.
constexpr double kGateSlack = 1e-9;

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

}  // namespace

void add_gate_flags(CLI::App& command, EvalFlags& flags) {
  const char* group = "Gates (exit 1 when one fails; model and report are still written)";
  command.add_option("--min-size-ratio", flags.min_size_ratio, "Gate: bytes before ÷ bytes after must be ≥ R")
      ->check(CLI::PositiveNumber)
      ->group(group);
  command
      .add_option("--max-accuracy-drop", flags.max_accuracy_drop,
                  "Gate: top-1 drop in points (with --labels), else 100 × (1 − cosine) of the worst output, must be ≤ X")
      ->check(CLI::NonNegativeNumber)
      ->group(group);
}

void add_eval_flags(CLI::App& command, EvalFlags& flags) {
  const char* group = "Evaluation (accuracy section of the report)";
  command.add_option("--eval", flags.eval_data, "Samples to compare the output with the float input on")
      ->group(group);
  command.add_option("--labels", flags.labels, ".npy of integer class ids, one per --eval sample: top-1/top-5")
      ->group(group);
  command.add_option("--eval-samples", flags.eval_samples, "Evaluate on the first N samples (default: all)")
      ->check(CLI::PositiveNumber)
      ->group(group);
  add_gate_flags(command, flags);
}

void check_eval_flags(const EvalFlags& flags) {
  if (!flags.eval_data.empty()) return;
  if (flags.max_accuracy_drop) throw usage_error("--max-accuracy-drop needs --eval DATA (accuracy is measured on it)");
  if (!flags.labels.empty()) throw usage_error("--labels needs --eval DATA");
  if (flags.eval_samples > 0) throw usage_error("--eval-samples needs --eval DATA");
}

void add_eval_options(json& options, const EvalFlags& flags) {
  options["eval"] = flags.eval_data.empty() ? json(nullptr) : json(flags.eval_data);
  options["labels"] = flags.labels.empty() ? json(nullptr) : json(flags.labels);
  options["eval_samples"] = flags.eval_samples;
  options["min_size_ratio"] = flags.min_size_ratio > 0 ? json(flags.min_size_ratio) : json(nullptr);
  options["max_accuracy_drop"] = flags.max_accuracy_drop ? json(*flags.max_accuracy_drop) : json(nullptr);
}

json evaluate_for_report(const EvalFlags& flags, DataOptions data, const std::string& reference_path,
                         const Model& model, int threads) {
  if (flags.eval_data.empty()) return nullptr;
  Model reference = load_model(reference_path);
  const std::vector<std::string> aligned = align_reference(reference, model);
  data.max_samples = flags.eval_samples;
  auto samples = open_samples(reference, flags.eval_data, data);
  AccuracyOptions ao;
  ao.labels_path = flags.labels;
  ao.threads = threads;
  ao.progress = progress_display("eval");
  spdlog::info("evaluating against {} on {}", reference_path, samples->describe());
  json accuracy = evaluate_accuracy(model, reference, *samples, ao);
  add_alignment_notes(accuracy, aligned);
  return accuracy;
}

void add_alignment_notes(json& accuracy, const std::vector<std::string>& passes) {
  for (const auto& pass : passes)
    accuracy["notes"].push_back("the reference ran after " + pass +
                                " (as the compressed model did), so that layer names line up");
}

bool add_accuracy_and_gates(json& report, const json& accuracy, const EvalFlags& flags) {
  if (!accuracy.is_null()) report["accuracy"] = accuracy;
  if (flags.min_size_ratio <= 0 && !flags.max_accuracy_drop) return true;
  json gates = json::array();
  bool all = true;
  if (flags.min_size_ratio > 0) {
    const double ratio = report.at("size").at("ratio").get<double>();
    const bool passed = ratio + kGateSlack >= flags.min_size_ratio;
    gates.push_back({{"name", "min_size_ratio"},
                     {"measure", "size.ratio (bytes before ÷ bytes after)"},
                     {"threshold", flags.min_size_ratio},
                     {"value", ratio},
                     {"passed", passed}});
    if (!passed)
      spdlog::error("gate --min-size-ratio failed: the output is {}x smaller, {} required", fixed(ratio, 3),
                    flags.min_size_ratio);
    all = all && passed;
  }
  if (flags.max_accuracy_drop) {
    EDGEQ_CHECK(!accuracy.is_null(), "--max-accuracy-drop without an accuracy section");
    const bool labels = !accuracy.at("labels").is_null();
    const double drop = labels ? accuracy["labels"]["top1_drop"].get<double>()
                               : 100.0 * (1.0 - accuracy.at("worst_output_cosine").get<double>());
    const bool passed = drop <= *flags.max_accuracy_drop + kGateSlack;
    gates.push_back({{"name", "max_accuracy_drop"},
                     {"measure", labels ? "accuracy.labels.top1_drop (points)"
                                        : "100 × (1 − accuracy.worst_output_cosine)"},
                     {"threshold", *flags.max_accuracy_drop},
                     {"value", drop},
                     {"passed", passed}});
    if (!passed)
      spdlog::error("gate --max-accuracy-drop failed: {} {} > {}", labels ? "top-1 drop" : "100 × (1 − cosine)",
                    fixed(drop, 4), *flags.max_accuracy_drop);
    all = all && passed;
  }
  report["gates"] = gates;
  return all;
}

void print_accuracy(std::ostream& out, const json& accuracy) {
  if (accuracy.is_null()) return;
  auto num = [](const json& v, int digits) { return v.is_number() ? fixed(v.get<double>(), digits) : std::string("n/a"); };
  out << "accuracy on " << accuracy["samples"].get<int64_t>() << " samples:\n";
  for (const auto& o : accuracy["outputs"]) {
    out << "  output " << o["name"].get<std::string>() << ": cosine " << num(o["cosine"], 6) << " (min "
        << num(o["cosine_min"], 6) << "), SQNR " << (o["sqnr_db"].is_null() && o["mse"] == 0.0 ? "inf" : num(o["sqnr_db"], 2))
        << " dB, max abs err " << num(o["max_abs_err"], 6);
    if (!o["top1_agreement"].is_null()) out << ", top-1 agreement " << num(o["top1_agreement"], 2) << " %";
    out << "\n";
  }
  if (const json& l = accuracy["labels"]; !l.is_null()) {
    out << "  top-1 " << num(l["top1"], 2) << " % (reference " << num(l["reference_top1"], 2) << " %, drop "
        << num(l["top1_drop"], 2) << " points), top-5 " << num(l["top5"], 2) << " % (reference "
        << num(l["reference_top5"], 2) << " %)\n";
  }
  if (accuracy["layers"].is_array() && !accuracy["worst_layers"].empty()) {
    out << "  lowest per-layer SQNR:";
    std::string sep = " ";
    for (const auto& name : accuracy["worst_layers"])
      for (const auto& row : accuracy["layers"])
        if (row["name"] == name) {
          out << sep << name.get<std::string>() << " " << num(row["sqnr_db"], 2) << " dB";
          sep = ", ";
          break;
        }
    out << "\n";
  }
}

void print_gates(std::ostream& out, const json& report) {
  if (!report.contains("gates")) return;
  for (const auto& g : report["gates"])
    out << "gate " << g["name"].get<std::string>() << ": " << (g["passed"].get<bool>() ? "passed" : "FAILED") << " ("
        << fixed(g["value"].get<double>(), 4) << (g["name"] == "min_size_ratio" ? " >= " : " <= ")
        << g["threshold"].get<double>() << " required)\n";
}

std::function<void(int64_t, int64_t)> progress_display(const std::string& what) {
  if (!spdlog::should_log(spdlog::level::info)) return {};
  if (::isatty(STDERR_FILENO) && !json_logs) {
    return [what](int64_t done, int64_t total) {
      constexpr int kWidth = 30;
      const double f = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 1.0;
      const int filled = static_cast<int>(f * kWidth);
      std::fprintf(stderr, "\r%s [%s%s] %lld/%lld samples (%3.0f %%)", what.c_str(), std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, ' ').c_str(), static_cast<long long>(done),
                   static_cast<long long>(total), 100.0 * f);
      if (done >= total) std::fputc('\n', stderr);
      std::fflush(stderr);
    };
  }
  // Not a terminal (CI logs): a plain line at every 10 % step reached.
  auto next = std::make_shared<int>(1);
  return [what, next](int64_t done, int64_t total) {
    if (total <= 0) return;
    const int tenth = static_cast<int>(10 * done / total);
    if (tenth < *next && done < total) return;
    *next = tenth + 1;
    spdlog::info("{}: {}/{} samples ({} %)", what, done, total, 100 * done / total);
  };
}

StepContext input_context(const ModelSource& source, const std::string& output, int threads) {
  StepContext ctx;
  ctx.model_path = source.path;
  ctx.threads = threads;
  ctx.warnings = source.warnings;  // the loader logged them already
  if (!source.data_files.empty()) {
    const std::filesystem::path dir = std::filesystem::path(output).parent_path();
    ctx.spill_dir = dir.empty() ? "." : dir.string();
  }
  return ctx;
}

WrittenModel evaluate_and_write(const Model& model, const ModelSource& source, const std::string& output,
                                const std::string& report_option, const std::vector<std::string>& formats,
                                ReportBuilder& report, const EvalFlags& eval, const DataOptions& data, int threads,
                                const std::function<void(json&)>& sections, SaveOptions save) {
  WrittenModel w;
  // The model in memory against the input, before anything is written.
  w.accuracy = evaluate_for_report(eval, data, source.path, model, threads);
  save.source_had_external_data = !source.data_files.empty();
  save.protected_paths = source.data_files;
  save.protected_paths.push_back(source.path);
  w.report_path = report_option.empty() ? default_report_path(output) : report_option;
  w.files = save_model_and_report(model, output, save, ReportOutput{w.report_path, formats}, [&](const SavedFiles& files) {
    report.set_output(model, files);
    json j = report.finish();
    sections(j);
    w.gates_passed = add_accuracy_and_gates(j, w.accuracy, eval);
    if (j.contains("gates")) w.gates["gates"] = j["gates"];
    return j;
  });
  w.bytes_in = source.file_bytes + source.data_bytes;
  w.bytes_out = w.files.model_bytes + w.files.data_bytes;
  return w;
}

int WrittenModel::print_result(std::ostream& out) const {
  print_accuracy(out, accuracy);
  print_gates(out, gates);
  return gates_passed ? 0 : error_kind_info(ErrorKind::kGateFailed).exit_code;
}

}  // namespace edgeq::cli
