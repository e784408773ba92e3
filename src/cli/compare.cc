// edgeq compare A.json B.json [C.json …] [--format text|md|json] [--min-size-ratio R]
//                [--max-accuracy-drop X]
#include <iostream>

#include "cli/commands.h"
#include "edgeq/error.h"
#include "edgeq/report/render.h"

namespace edgeq::cli {

namespace {
struct CompareOptions {
  std::vector<std::string> reports;
  std::string format = "text";
  std::optional<double> min_size_ratio;
  std::optional<double> max_accuracy_drop;
};
}  // namespace

void setup_compare(CLI::App& command, Action& run) {
  auto o = std::make_shared<CompareOptions>();
  command.add_option("reports", o->reports, "Report files (edgeq.report JSON); the first is the baseline")
      ->required();
  command.add_option("--format", o->format, "Output: text (default), md or json")
      ->check(CLI::IsMember({"text", "md", "json"}));
  const char* group = "Gates, each later report against the first (exit 1 when one fails; the table is still printed)";
  command.add_option("--min-size-ratio", o->min_size_ratio, "Gate: first's bytes ÷ this report's bytes must be ≥ R")
      ->check(CLI::PositiveNumber)
      ->group(group);
  command
      .add_option("--max-accuracy-drop", o->max_accuracy_drop,
                  "Gate: top-1 points lost against the first (both with labels), else 100 × the loss in "
                  "worst-output cosine, must be ≤ X")
      ->check(CLI::NonNegativeNumber)
      ->group(group);
  command.callback([o, &run] {
    run = [o] {
      if (o->reports.size() < 2) throw usage_error("compare needs at least two reports");
      std::vector<nlohmann::json> reports;
      for (const auto& path : o->reports) reports.push_back(read_report_file(path));
      const nlohmann::json cmp = compare_reports(o->reports, reports, {o->min_size_ratio, o->max_accuracy_drop});
      std::cout << render_comparison(cmp, o->format);
      return cmp["passed"] == true ? 0 : error_kind_info(ErrorKind::kGateFailed).exit_code;
    };
  });
}

}  // namespace edgeq::cli
