// The report for people: the JSON report (docs/report.schema.json) rendered as Markdown that fits
// a CI comment and as one self-contained HTML page with charts. Both are pure functions of the
// JSON, so `edgeq compare`, a later re-render and the command itself all show the same facts.
//
// The renderers show whatever sections a report has: `size` always; `quantization`, `pruning`,
// `accuracy` (per output and per layer) and `gates` when present. A top-level section they do not
// know is named in a closing line, never an error, so a newer report still renders.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgeq {

// The report formats: one table read by the --report-format parser, its help text and the writer.
struct ReportFormatInfo {
  const char* name;       // as given to --report-format
  const char* extension;  // FILE.<extension> beside FILE.json
  std::string (*render)(const nlohmann::json& report);
};
std::span<const ReportFormatInfo> report_formats();

// "json,md,html" → {"json", "md", "html"}: each name once, in table order, "json" always present
// (the JSON is the report; the others are renderings of it). Throws kUsage naming an unknown
// format.
std::vector<std::string> parse_report_formats(const std::string& list);

// FILE.json → FILE.<extension> for `format` (FILE = the path without its ".json"; a path that
// does not end in ".json" gets the extension appended).
std::string report_path_for_format(const std::string& json_path, const std::string& format);

// The report rendered in one format ("json": the JSON text itself). Throws kUsage for an unknown
// format.
std::string render_report(const nlohmann::json& report, const std::string& format);

// GitHub-flavored Markdown: a headline (command, input → output, size ratio, bits per weight,
// accuracy drop and gate results when present), then compact tables with capped row counts.
std::string render_markdown(const nlohmann::json& report);

// One HTML page with inline CSS and inline SVG charts (no script, no network: a Content-Security-
// Policy forbids loading anything). Each chart is `<figure class="chart" data-chart="NAME">`:
// "bytes" (per-tensor bytes before/after) always, "sparsity" with a pruning section, "sqnr"
// (per-layer SQNR) with an accuracy section that has per-layer rows.
std::string render_html(const nlohmann::json& report);

// Writes FILE.json and FILE.md / FILE.html for the other `formats` (from parse_report_formats),
// each atomically.
void write_report_files(const nlohmann::json& report, const std::string& json_path,
                        const std::vector<std::string>& formats);

// ---- `edgeq compare`: reports side by side ----

// Reads a report file and checks it is one: throws kIo when it cannot be read, kInvalidData when
// it is not JSON, not an "edgeq.report" of schema_version 1, or lacks the size facts compared.
nlohmann::json read_report_file(const std::string& path);

// Gates of a comparison, each applied to every report after the first (the baseline B):
//   min_size_ratio R:    B.size.bytes_after ÷ L.size.bytes_after ≥ R
//   max_accuracy_drop X: with labels in both, B top-1 − L top-1 (points) ≤ X; otherwise
//                        100 × (B worst-output cosine − L worst-output cosine) ≤ X. A baseline
//                        without an accuracy section is the float model: its top-1 is L's
//                        reference top-1 and its cosine 1. A later report without an accuracy
//                        section cannot be gated: kUsage.
struct CompareGates {
  std::optional<double> min_size_ratio;
  std::optional<double> max_accuracy_drop;
};

// The comparison as data ("edgeq.compare" JSON): columns, one row per report (label = the
// output file's name) whose cells are {"value", "best"}, the gate results and "passed".
nlohmann::json compare_reports(const std::vector<std::string>& paths, const std::vector<nlohmann::json>& reports,
                               const CompareGates& gates);

// The comparison as a text table ("text", best values marked '*'), a Markdown table ("md", best
// in bold) or its JSON ("json"). Throws kUsage for another format.
std::string render_comparison(const nlohmann::json& comparison, const std::string& format);

}  // namespace edgeq
