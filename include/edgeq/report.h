// Reports: what a model holds (inspect) and what a command did to it (the JSON report every
// model-writing command writes). The JSON is a public, versioned interface; its schema lives in
// docs/report.schema.json and docs/inspect.schema.json, and tests validate against them.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgeq/ir/graph.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report/render.h"

namespace edgeq {

inline constexpr int kReportSchemaVersion = 1;
inline constexpr int kInspectSchemaVersion = 1;

// A constant weight: an initializer or the tensor of a Constant node, in any (sub)graph.
struct WeightInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t params;
  uint64_t bytes;
  std::string consumer_op;  // "domain::Op" of its first consumer, "" when unused
};
std::vector<WeightInfo> collect_weights(const Model& model);

// Op types whose presence means a model is already quantized.
bool is_quantized_op(const std::string& domain, const std::string& op_type);

// `edgeq inspect` as data (the --json form) and as text rendered from that same data.
nlohmann::json inspect_json(const Model& model, const ModelSource& source);
std::string inspect_text(const nlohmann::json& inspected);

// m.int8.onnx → m.int8.report.json
std::string default_report_path(const std::string& output_model);

// Builds the JSON report of one model-writing command.
class ReportBuilder {
 public:
  ReportBuilder(std::string command, nlohmann::json options);
  void set_input(const Model& model, const ModelSource& source);
  void set_output(const Model& model, const SavedFiles& saved);
  void add_warning(const std::string& warning);
  // Finishes the size section and the timing; call once after set_input and set_output.
  nlohmann::json finish();

 private:
  std::chrono::steady_clock::time_point start_;
  nlohmann::json report_;
  std::vector<WeightInfo> before_, after_;
  std::vector<std::pair<std::string, int>> ops_before_, ops_after_;
  uint64_t bytes_before_ = 0, bytes_after_ = 0;
};

void write_report(const nlohmann::json& report, const std::string& path);

// Where a command's report goes: `path` (FILE.json) and, for each other format, FILE.md /
// FILE.html beside it (edgeq/report/render.h). Commands take the formats from
// `--report-format json,md,html` (help text: kReportFormatHelp) through parse_report_formats,
// called before any work so an unknown format is a usage error (exit 2) that costs nothing.
struct ReportOutput {
  std::string path;
  std::vector<std::string> formats{"json"};
};
inline constexpr const char* kReportFormatHelp =
    "Report formats, comma-separated: json (always written), md (FILE.md: Markdown for a CI comment), "
    "html (FILE.html: one self-contained page with charts)";

// Writes a model and its report so that both appear or neither does: the report path is
// checked (never the input, the output or its data file) and opened before the model is
// written, and a report that then fails to write takes the model with it.
// `finish` builds the report once the written files are known.
// With a ReportOutput, every rendering is written the same way: all report files are opened
// before the model, and if any of them fails, none of them and no model is left.
SavedFiles save_model_and_report(const Model& model, const std::string& output,
                                 const SaveOptions& options, const ReportOutput& report,
                                 const std::function<nlohmann::json(const SavedFiles&)>& finish);
SavedFiles save_model_and_report(const Model& model, const std::string& output,
                                 const SaveOptions& options, const std::string& report_path,
                                 const std::function<nlohmann::json(const SavedFiles&)>& finish);

}  // namespace edgeq
