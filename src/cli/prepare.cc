// edgeq prepare MODEL [-o OUT] [--passes a,b,c] [--list] [--report FILE]
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/passes/pass.h"
#include "edgeq/report.h"

namespace edgeq::cli {

namespace {

// Constants become initializers first (fold_batchnorm needs constant weights), copies go before
// fold_batchnorm (a Conv → Identity → BatchNormalization chain folds only without the copy),
// dead nodes after the rewrites that orphan them, and shape inference last so the value_info
// describes the graph that is written.
constexpr const char* kDefaultPasses =
    "fold_constants,remove_identity,fold_batchnorm,eliminate_dead_nodes,infer_shapes";

struct PrepareOptions {
  std::string input;
  std::string output;
  std::string passes = kDefaultPasses;
  bool list = false;
  std::string report;
  std::string report_format = "json";
};

// m.onnx → m.prepared.onnx, beside the input.
std::string default_output(const std::string& input) {
  return std::filesystem::path(input).replace_extension(".prepared.onnx").string();
}

// Checks the pass names (unknown ones fail before a large model is loaded for nothing) and
// returns the passes run in order.
Transform prepare_transform(const PrepareOptions& opts) {
  if (opts.list) throw usage_error("--list prints the registered passes; it does not transform a model");
  std::vector<std::string> passes = split_list(opts.passes);
  if (passes.empty()) throw usage_error("--passes names no pass");
  for (const auto& name : passes)
    if (find_pass(name) == nullptr) {
      std::string known;
      for (const PassInfo& p : registered_passes()) known += (known.empty() ? "" : ", ") + std::string(p.name);
      throw usage_error("unknown pass '" + name + "' (known passes: " + known + ")");
    }
  return [passes](Model& model, StepContext& step) {
    StepResult out;
    for (const auto& name : passes) {
      PassContext ctx;
      ctx.threads = step.threads;
      ctx.log = [](const std::string& line) { spdlog::debug("{}", line); };
      PassResult result = run_pass(name, model, ctx);
      spdlog::info("{}: {}", name, result.summary);
      for (const auto& w : ctx.warnings) {
        spdlog::warn("{}: {}", name, w);
        step.warnings.push_back(name + ": " + w);
      }
      out.changes += result.changes;
      out.summary += (out.summary.empty() ? "" : "; ") + name + ": " + result.summary;
    }
    return out;
  };
}

}  // namespace

void setup_prepare(CLI::App& command, Actions& actions) {
  auto opts = std::make_shared<PrepareOptions>();
  command.add_option("model", opts->input, "ONNX model file to read");
  command.add_option("-o,--output", opts->output, "Where to write the model (default: <stem>.prepared.onnx)");
  command.add_option("--passes", opts->passes, "Comma-separated passes to run, in order (see --list)")
      ->default_str(kDefaultPasses);
  command.add_flag("--list", opts->list, "List the registered passes and exit");
  command.add_option("--report", opts->report, "Report file (default: <OUT stem>.report.json)");
  command.add_option("--report-format", opts->report_format, kReportFormatHelp)->default_str("json");
  actions.transform = [opts] { return prepare_transform(*opts); };
  command.callback([opts, &run = actions.run] {
    run = [opts] {
      if (opts->list) {
        for (const PassInfo& p : registered_passes())
          std::cout << p.name << "\t" << p.group << "\t" << p.summary << "\n";
        return 0;
      }
      if (opts->input.empty()) throw usage_error("prepare needs a MODEL (or --list)");
      const std::vector<std::string> formats = parse_report_formats(opts->report_format);
      const Transform transform = prepare_transform(*opts);
      const std::vector<std::string> passes = split_list(opts->passes);
      const std::string output = opts->output.empty() ? default_output(opts->input) : opts->output;

      ReportBuilder report("prepare", {{"passes", passes}});
      ModelSource source;
      Model model = load_model(opts->input, &source);
      report.set_input(model, source);

      StepContext ctx;
      ctx.model_path = opts->input;
      const StepResult result = transform(model, ctx);
      for (const auto& w : ctx.warnings) report.add_warning(w);
      const int changes = result.changes;

      SaveOptions save;
      save.source_had_external_data = !source.data_files.empty();
      save.protected_paths = source.data_files;
      save.protected_paths.push_back(source.path);
      const std::string report_path = opts->report.empty() ? default_report_path(output) : opts->report;
      SavedFiles saved = save_model_and_report(model, output, save, ReportOutput{report_path, formats}, [&](const SavedFiles& files) {
        report.set_output(model, files);
        return report.finish();
      });

      std::cout << "prepared " << opts->input << " -> " << saved.model_path << " (" << passes.size()
                << " passes, " << changes << " changes, " << saved.model_bytes + saved.data_bytes
                << " bytes); report: " << report_path << "\n";
      return 0;
    };
  });
}

}  // namespace edgeq::cli
