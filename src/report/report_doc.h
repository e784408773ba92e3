// The report as a document: headline, sections of lines and tables, built once from the JSON
// (report_doc.cc) and printed by the Markdown and HTML renderers, so both show the same facts in
// the same order. Cells hold plain text; each renderer escapes for its own syntax.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgeq::report_doc {

struct Span {
  enum Style { kPlain, kBold, kCode };
  std::string text;
  Style style = kPlain;
};
using Line = std::vector<Span>;

struct Table {
  std::vector<std::string> header;
  std::string align;  // one char per column: 'l' or 'r'
  std::vector<std::vector<std::string>> rows;
  // Markdown shows the first `md_rows` rows and says how many it left out; HTML shows them all.
  size_t md_rows = 20;
  std::string what = "rows";  // "12 more <what> not shown"
};

struct Section {
  std::string id;  // stable anchor: "size", "op_types", "tensors", "quantization", ...
  std::string title;
  std::vector<Line> lines;
  std::vector<Table> tables;
  std::string chart;  // HTML only: the chart drawn under the title ("" for none)
};

struct Doc {
  std::string title;  // "edgeq quantize: m.onnx → m.int8.onnx"
  Line headline;
  std::vector<Section> sections;
  Line footer;
};

Doc build_doc(const nlohmann::json& report);

// Safe readers: a missing key or a value of another type gives null / nullopt / "", never throws,
// so a report from a newer edgeq (or a hand-edited one) still renders.
const nlohmann::json& field(const nlohmann::json& j, const char* key);
std::optional<double> number(const nlohmann::json& j);
std::string text(const nlohmann::json& j);

// Formatting shared by the renderers and `edgeq compare`.
std::string fixed(double v, int digits);
std::string human_bytes(double bytes);           // "1.63 MiB"
std::string bytes_cell(const nlohmann::json& j);  // "1704321 (1.63 MiB)", "–" for null
std::string base_name(const std::string& path);

// SQNR of an accuracy row as text: "inf" for an exact match (null SQNR with zero MSE), "n/a" when
// unknown.
std::string sqnr_text(const nlohmann::json& row);

}  // namespace edgeq::report_doc
