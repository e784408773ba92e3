// edgeq convert IN -o OUT [--external-data] [--report FILE]
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report.h"

namespace edgeq::cli {

namespace {
struct ConvertOptions {
  std::string input;
  std::string output;
  bool external_data = false;
  std::string report;
  std::string report_format = "json";
};
// Nothing changes in memory; --external-data decides how the model is stored.
Transform convert_transform(const ConvertOptions& o) {
  const bool external = o.external_data;
  return [external](Model&, StepContext& ctx) {
    StepResult r;
    if (external) {
      ctx.external_data = ExternalDataMode::kAlways;
      r.summary = "initializers of 1 KiB and more go to one external data file";
    } else {
      r.summary = "model unchanged";
    }
    return r;
  };
}
}  // namespace

void setup_convert(CLI::App& command, Actions& actions) {
  auto opts = std::make_shared<ConvertOptions>();
  command.add_option("model", opts->input, "ONNX model file to read")->required();
  command.add_option("-o,--output", opts->output, "Where to write the model")->required();
  command.add_flag("--external-data", opts->external_data,
                   "Store initializers of 1 KiB and more in one external data file OUT.data");
  command.add_option("--report", opts->report, "Report file (default: <OUT stem>.report.json)");
  command.add_option("--report-format", opts->report_format, kReportFormatHelp)->default_str("json");
  actions.transform = [opts] { return convert_transform(*opts); };
  command.callback([opts, &run = actions.run] {
    run = [opts] {
      const std::vector<std::string> formats = parse_report_formats(opts->report_format);
      const Transform transform = convert_transform(*opts);
      ReportBuilder report("convert", {{"external_data", opts->external_data}});
      ModelSource source;
      Model model = load_model(opts->input, &source);
      report.set_input(model, source);
      StepContext ctx;
      ctx.model_path = opts->input;
      transform(model, ctx);

      SaveOptions save;
      save.external = ctx.external_data;
      save.source_had_external_data = !source.data_files.empty();
      save.protected_paths = source.data_files;
      save.protected_paths.push_back(source.path);
      const std::string report_path = opts->report.empty() ? default_report_path(opts->output) : opts->report;
      SavedFiles saved = save_model_and_report(model, opts->output, save, ReportOutput{report_path, formats}, [&](const SavedFiles& files) {
        report.set_output(model, files);
        return report.finish();
      });

      std::cout << "converted " << opts->input << " -> " << saved.model_path << " ("
                << saved.model_bytes + saved.data_bytes << " bytes";
      if (!saved.data_path.empty()) std::cout << ", external data in " << saved.data_path;
      std::cout << ")\nreport: " << report_path << "\n";
      return 0;
    };
  });
}

}  // namespace edgeq::cli
