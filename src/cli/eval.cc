// edgeq eval MODEL --reference REF --data DATA [--labels FILE] [data flags] [--eval-samples N]
//   [--threads N] [--report FILE] [--min-size-ratio R] [--max-accuracy-drop X]
//
// The accuracy section of a report for a model that already exists. The report keeps the shape
// every model-writing command writes (docs/report.schema.json): `input` is the reference (the
// "before"), `output` the evaluated model (the "after", read, not written), so the size section
// compares REF's bytes with MODEL's and the gates mean what they mean on `quantize`.
//
// As a step of a recipe (edgeq compress), eval measures the model as the steps before it left it
// against --reference (default: the recipe's input model); the accuracy goes into the step's
// entry of the recipe section, the model is unchanged.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "cli/report_flags.h"
#include "common/atomic_file.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report.h"
#include "edgeq/report/render.h"
#include "edgeq/report/accuracy.h"

namespace edgeq::cli {

namespace {

struct EvalCliOptions {
  std::string model;
  std::string reference;
  DataFlags data;
  EvalFlags eval;  // eval_data is --data here
  int threads = 0;
  std::string report;
  std::string report_format = "json";
  bool no_layers = false;
};

// m.int8.onnx → m.int8.eval.report.json beside it.
std::string default_eval_report(const std::string& model) {
  std::filesystem::path p(model);
  return (p.parent_path() / (p.stem().string() + ".eval.report.json")).string();
}


// What the accuracy says in one line (a recipe step's summary).
std::string accuracy_summary(const nlohmann::json& a) {
  const nlohmann::json& labels = a.contains("labels") ? a["labels"] : nlohmann::json();
  if (labels.is_object() && labels.contains("top1") && labels["top1"].is_number())
    return fmt::format("top-1 {:.2f} % (reference {:.2f} %, drop {:.2f} points) on {} samples",
                       labels["top1"].get<double>(), labels["reference_top1"].get<double>(),
                       labels["top1_drop"].get<double>(), a.value("samples", int64_t{0}));
  return fmt::format("worst output cosine {:.6f} on {} samples", a.value("worst_output_cosine", 0.0),
                     a.value("samples", int64_t{0}));
}

}  // namespace

void setup_eval(CLI::App& command, Actions& actions) {
  auto o = std::make_shared<EvalCliOptions>();
  command.add_option("model", o->model, "The compressed model to evaluate")->required();
  command.add_option("--reference", o->reference,
                     "The float model it was made from (required; in a recipe step, default: the recipe's input)")
      ->type_name("PATH");
  command.add_option("--data", o->eval.eval_data, "Samples to run both on (see README: Data)")
      ->required()
      ->type_name("PATH");
  command.add_option("--labels", o->eval.labels, ".npy of integer class ids, one per sample: top-1/top-5")
      ->type_name("PATH");
  command.add_option("--eval-samples", o->eval.eval_samples, "Use the first N samples (default: all)")
      ->check(CLI::PositiveNumber);
  add_data_flags(command, o->data);
  command.add_flag("--no-layers", o->no_layers, "Skip the per-layer SQNR table (faster on large models)");
  command.add_option("--threads", o->threads, "Threads (default: all cores; results do not depend on it)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--report", o->report, "Report file (default: <MODEL stem>.eval.report.json)");
  command.add_option("--report-format", o->report_format, kReportFormatHelp)->default_str("json");
  add_gate_flags(command, o->eval);

  actions.transform = [o]() -> Transform {
    DataOptions data = to_data_options(o->data);
    data.max_samples = o->eval.eval_samples;
    const EvalCliOptions opts = *o;
    return [opts, data](Model& model, StepContext& step) {
      const std::string ref_path = opts.reference.empty() ? step.model_path : opts.reference;
      Model reference = load_model(ref_path);
      const std::vector<std::string> aligned = align_reference(reference, model);
      auto samples = open_samples(reference, opts.eval.eval_data, data);
      AccuracyOptions ao;
      ao.labels_path = opts.eval.labels;
      ao.threads = step.threads;
      ao.per_layer = !opts.no_layers;
      ao.progress = progress_display("eval");
      spdlog::info("evaluating the model so far against {} on {}", ref_path, samples->describe());
      nlohmann::json accuracy = evaluate_accuracy(model, reference, *samples, ao);
      add_alignment_notes(accuracy, aligned);
      StepResult r;
      r.summary = accuracy_summary(accuracy);
      r.data = std::move(accuracy);  // no report section of its own: the step's entry keeps it
      return r;
    };
  };

  command.callback([o, &run = actions.run] {
    run = [o] {
      if (o->reference.empty()) throw usage_error("--reference is required: the float model MODEL was made from");
      const std::vector<std::string> report_formats = parse_report_formats(o->report_format);
      DataOptions data = to_data_options(o->data);
      data.max_samples = o->eval.eval_samples;
      const std::string report_path = o->report.empty() ? default_eval_report(o->model) : o->report;

      nlohmann::json options = {{"reference", o->reference}, {"per_layer", !o->no_layers}};
      add_eval_options(options, o->eval);
      ReportBuilder report("eval", options);
      ModelSource ref_source, model_source;
      Model reference = load_model(o->reference, &ref_source);
      report.set_input(reference, ref_source);  // its weights as they are on disk
      Model model = load_model(o->model, &model_source);
      const std::vector<std::string> aligned = align_reference(reference, model);
      // Checked before the (long) evaluation: the report must not replace a model or its data.
      std::vector<std::string> taken{model_source.path, ref_source.path};
      taken.insert(taken.end(), model_source.data_files.begin(), model_source.data_files.end());
      taken.insert(taken.end(), ref_source.data_files.begin(), ref_source.data_files.end());
      for (const auto& p : taken)
        if (same_file(report_path, p))
          throw usage_error("the report path '" + report_path + "' is one of the models or their data files");

      auto samples = open_samples(reference, o->eval.eval_data, data);
      AccuracyOptions ao;
      ao.labels_path = o->eval.labels;
      ao.threads = o->threads;
      ao.per_layer = !o->no_layers;
      ao.progress = progress_display("eval");
      spdlog::info("evaluating {} against {} on {}", o->model, o->reference, samples->describe());
      nlohmann::json accuracy = evaluate_accuracy(model, reference, *samples, ao);
      add_alignment_notes(accuracy, aligned);

      SavedFiles files;
      files.model_path = model_source.path;
      files.model_bytes = model_source.file_bytes;
      files.data_bytes = model_source.data_bytes;
      if (!model_source.data_files.empty()) files.data_path = model_source.data_files.front();
      report.set_output(model, files);
      for (const auto& w : model_source.warnings) report.add_warning(o->model + ": " + w);
      nlohmann::json j = report.finish();
      // A model read (not written) may reference several data files: list them all.
      nlohmann::json out_files = nlohmann::json::array();
      out_files.push_back({{"path", model_source.path}, {"bytes", model_source.file_bytes}});
      for (const auto& f : model_source.data_files)
        out_files.push_back({{"path", f}, {"bytes", std::filesystem::file_size(f)}});
      j["output"]["files"] = out_files;
      const bool passed = add_accuracy_and_gates(j, accuracy, o->eval);
      write_report_files(j, report_path, report_formats);

      std::cout << "evaluated " << o->model << " against " << o->reference << "\n";
      print_accuracy(std::cout, accuracy);
      print_gates(std::cout, j);
      std::cout << "report: " << report_path << "\n";
      return passed ? 0 : error_kind_info(ErrorKind::kGateFailed).exit_code;
    };
  });
}

}  // namespace edgeq::cli
