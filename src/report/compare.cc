// `edgeq compare`: reports side by side, the best value per column marked, and the gates that hold
// every later report against the first. The columns are one table of data (kColumns) read by
// the comparison, the renderers and the README.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "edgeq/error.h"
#include "edgeq/report.h"
#include "edgeq/report/render.h"
#include "report/report_doc.h"

namespace edgeq {

using nlohmann::json;
using report_doc::field;
using report_doc::number;
using report_doc::text;

namespace {

// Gate comparisons forgive the last bits of a double (a ratio equal to its threshold can land a
// hair below it).
constexpr double kGateSlack = 1e-9;

struct Column {
  const char* key;
  const char* title;
  bool higher_is_better;
  int digits;  // -1: an integer
  bool accuracy;  // shown only when some report has it
  std::optional<double> (*read)(const json& report);
};

std::optional<double> worst_output_sqnr(const json& r) {
  std::optional<double> worst;
  for (const json& o : field(field(r, "accuracy"), "outputs"))
    if (auto v = number(field(o, "sqnr_db"))) worst = worst ? std::min(*worst, *v) : *v;
  return worst;
}

constexpr Column kColumns[] = {
    {"bytes_after", "size bytes", false, -1, false,
     [](const json& r) { return number(field(field(r, "size"), "bytes_after")); }},
    {"size_ratio", "size ratio", true, 3, false, [](const json& r) { return number(field(field(r, "size"), "ratio")); }},
    {"bits_per_weight", "bits/weight", false, 3, false,
     [](const json& r) { return number(field(field(field(r, "size"), "weights_after"), "bits_per_weight")); }},
    {"top1", "top-1 %", true, 2, true,
     [](const json& r) { return number(field(field(field(r, "accuracy"), "labels"), "top1")); }},
    {"top1_drop", "top-1 drop", false, 2, true,
     [](const json& r) { return number(field(field(field(r, "accuracy"), "labels"), "top1_drop")); }},
    {"worst_cosine", "worst cosine", true, 6, true,
     [](const json& r) { return number(field(field(r, "accuracy"), "worst_output_cosine")); }},
    {"sqnr_db", "SQNR dB", true, 2, true, worst_output_sqnr},
};

Error bad_report(const std::string& path, const std::string& reason) {
  return Error(ErrorKind::kInvalidData, path + ": " + reason);
}

std::string cell_text(const json& cell, int digits) {
  const json& v = field(cell, "value");
  if (!v.is_number()) return "–";
  if (digits < 0) return v.is_number_integer() ? v.dump() : fmt::format("{:.0f}", v.get<double>());
  return report_doc::fixed(v.get<double>(), digits);
}

// Unique row labels: the output file name, or the report path where two names are the same.
std::vector<std::string> row_labels(const std::vector<std::string>& paths, const std::vector<json>& reports) {
  std::vector<std::string> labels;
  std::map<std::string, int> seen;
  for (const json& r : reports) ++seen[report_doc::base_name(text(field(field(r, "output"), "path")))];
  for (size_t i = 0; i < reports.size(); ++i) {
    const std::string name = report_doc::base_name(text(field(field(reports[i], "output"), "path")));
    labels.push_back(seen[name] > 1 ? paths[i] : name);
  }
  return labels;
}

// The accuracy drop of `later` against `base` as the gate measures it (see CompareGates).
std::pair<double, std::string> accuracy_drop(const json& base, const json& later, const std::string& later_path) {
  const json& lacc = field(later, "accuracy");
  if (!lacc.is_object())
    throw usage_error("--max-accuracy-drop: " + later_path +
                      " has no accuracy section (write it with --eval DATA, or run edgeq eval)");
  const json& bacc = field(base, "accuracy");
  const auto l_top1 = number(field(field(lacc, "labels"), "top1"));
  if (!bacc.is_object()) {
    // The baseline is the float model: the later report's own reference is its accuracy.
    if (auto drop = number(field(field(lacc, "labels"), "top1_drop")); drop && l_top1)
      return {*drop, "reference top-1 − top-1 (points; the baseline has no accuracy section)"};
    if (auto cos = number(field(lacc, "worst_output_cosine")))
      return {100.0 * (1.0 - *cos), "100 × (1 − worst-output cosine) (the baseline has no accuracy section)"};
  } else {
    const auto b_top1 = number(field(field(bacc, "labels"), "top1"));
    if (b_top1 && l_top1) return {*b_top1 - *l_top1, "baseline top-1 − top-1 (points)"};
    const auto b_cos = number(field(bacc, "worst_output_cosine"));
    const auto l_cos = number(field(lacc, "worst_output_cosine"));
    if (b_cos && l_cos) return {100.0 * (*b_cos - *l_cos), "100 × (baseline worst-output cosine − worst-output cosine)"};
  }
  throw usage_error("--max-accuracy-drop: " + later_path + " has no top-1 or worst-output cosine to compare");
}

}  // namespace

json read_report_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path, std::string("cannot open: ") + std::strerror(errno));
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw io_error(path, "cannot read");
  json r;
  try {
    r = json::parse(buf.str());
  } catch (const json::parse_error& e) {
    throw bad_report(path, std::string("not JSON (") + e.what() + ")");
  }
  if (!r.is_object() || field(r, "schema") != "edgeq.report")
    throw bad_report(path, "not an edgeq report (its \"schema\" is " +
                               (field(r, "schema").is_null() ? std::string("missing") : field(r, "schema").dump()) +
                               ", expected \"edgeq.report\")");
  if (field(r, "schema_version") != kReportSchemaVersion)
    throw bad_report(path, "report schema_version " + field(r, "schema_version").dump() + " (this edgeq reads " +
                               std::to_string(kReportSchemaVersion) + ")");
  const json& size = field(r, "size");
  if (!field(size, "bytes_after").is_number_integer() || !field(size, "bytes_before").is_number_integer() ||
      !field(size, "ratio").is_number() || !field(field(size, "weights_after"), "bits_per_weight").is_number())
    throw bad_report(path, "the size section lacks bytes_before, bytes_after, ratio or weights_after.bits_per_weight");
  if (!field(field(r, "output"), "path").is_string()) throw bad_report(path, "output.path is missing");
  return r;
}

json compare_reports(const std::vector<std::string>& paths, const std::vector<json>& reports, const CompareGates& gates) {
  EDGEQ_CHECK(paths.size() == reports.size() && !reports.empty(), "compare_reports needs one path per report");
  const std::vector<std::string> labels = row_labels(paths, reports);

  json columns = json::array();
  std::vector<const Column*> shown;
  for (const Column& c : kColumns) {
    bool any = !c.accuracy;
    for (const json& r : reports) any = any || c.read(r).has_value();
    if (!any) continue;
    shown.push_back(&c);
    columns.push_back({{"key", c.key}, {"title", c.title}, {"better", c.higher_is_better ? "higher" : "lower"}});
  }

  json rows = json::array();
  for (size_t i = 0; i < reports.size(); ++i) {
    json cells = json::object();
    for (const Column* c : shown) {
      const auto v = c->read(reports[i]);
      json value = nullptr;
      if (v) value = c->digits < 0 ? json(static_cast<uint64_t>(*v)) : json(*v);
      cells[c->key] = {{"value", value}, {"best", false}};
    }
    rows.push_back({{"label", labels[i]},
                    {"report", paths[i]},
                    {"command", text(field(reports[i], "command"))},
                    {"cells", cells}});
  }
  // Best per column: marked when at least two reports have the value; ties all marked.
  for (const Column* c : shown) {
    std::optional<double> best;
    int present = 0;
    for (const json& r : reports)
      if (auto v = c->read(r)) {
        ++present;
        best = !best ? *v : c->higher_is_better ? std::max(*best, *v) : std::min(*best, *v);
      }
    if (present < 2) continue;
    for (size_t i = 0; i < reports.size(); ++i)
      if (auto v = c->read(reports[i]); v && *v == *best) rows[i]["cells"][c->key]["best"] = true;
  }

  json gate_rows = json::array();
  bool passed = true;
  const json& base = reports.front();
  for (size_t i = 1; i < reports.size(); ++i) {
    if (gates.min_size_ratio) {
      const double b = *number(field(field(base, "size"), "bytes_after"));
      const double l = *number(field(field(reports[i], "size"), "bytes_after"));
      const double ratio = l > 0 ? b / l : 0.0;
      const bool ok = ratio + kGateSlack >= *gates.min_size_ratio;
      gate_rows.push_back({{"name", "min_size_ratio"},
                           {"report", labels[i]},
                           {"baseline", labels[0]},
                           {"measure", "baseline size.bytes_after ÷ size.bytes_after"},
                           {"value", ratio},
                           {"threshold", *gates.min_size_ratio},
                           {"passed", ok}});
      passed = passed && ok;
    }
    if (gates.max_accuracy_drop) {
      const auto [drop, measure] = accuracy_drop(base, reports[i], paths[i]);
      const bool ok = drop <= *gates.max_accuracy_drop + kGateSlack;
      gate_rows.push_back({{"name", "max_accuracy_drop"},
                           {"report", labels[i]},
                           {"baseline", labels[0]},
                           {"measure", measure},
                           {"value", drop},
                           {"threshold", *gates.max_accuracy_drop},
                           {"passed", ok}});
      passed = passed && ok;
    }
  }

  return {{"schema", "edgeq.compare"},
          {"schema_version", 1},
          {"baseline", labels[0]},
          {"columns", columns},
          {"rows", rows},
          {"gates", gate_rows},
          {"passed", passed}};
}

std::string render_comparison(const json& cmp, const std::string& format) {
  if (format == "json") return cmp.dump(2) + "\n";
  if (format != "text" && format != "md") throw usage_error("unknown compare format '" + format + "' (text, md, json)");
  const bool md = format == "md";
  std::map<std::string, int> digits;
  for (const Column& c : kColumns) digits[c.key] = c.digits;

  // Cells as text, then padded (text) or piped (md).
  std::vector<std::string> header = {"report", "command"};
  for (const json& c : cmp["columns"]) header.push_back(c["title"].get<std::string>());
  std::vector<std::vector<std::string>> body;
  for (const json& row : cmp["rows"]) {
    std::vector<std::string> cells = {md ? "`" + row["label"].get<std::string>() + "`" : row["label"].get<std::string>(),
                                      row["command"].get<std::string>()};
    for (const json& c : cmp["columns"]) {
      const std::string key = c["key"].get<std::string>();
      const json& cell = row["cells"][key];
      std::string s = cell_text(cell, digits[key]);
      // Text: a mark or a space after every value, so the digits stay aligned.
      if (cell["best"] == true) s = md ? "**" + s + "**" : s + "*";
      else if (!md) s += " ";
      cells.push_back(s);
    }
    body.push_back(std::move(cells));
  }

  std::string out;
  if (md) {
    out += "|";
    for (const auto& h : header) out += " " + h + " |";
    out += "\n|---|---|";
    for (size_t i = 2; i < header.size(); ++i) out += "---:|";
    out += "\n";
    for (const auto& cells : body) {
      out += "|";
      for (const auto& c : cells) out += " " + c + " |";
      out += "\n";
    }
    out += "\nBest per column in **bold**";
  } else {
    std::vector<size_t> width(header.size(), 0);
    // Display width: count UTF-8 code points, not bytes ("–" is three bytes, one column).
    auto columns_of = [](const std::string& s) {
      size_t n = 0;
      for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
      return n;
    };
    for (size_t i = 0; i < header.size(); ++i) width[i] = columns_of(header[i]);
    for (const auto& cells : body)
      for (size_t i = 0; i < cells.size(); ++i) width[i] = std::max(width[i], columns_of(cells[i]));
    auto line = [&](const std::vector<std::string>& cells) {
      std::string l;
      for (size_t i = 0; i < cells.size(); ++i) {
        const std::string pad(width[i] - columns_of(cells[i]), ' ');
        l += (i ? "  " : "") + (i < 2 ? cells[i] + pad : pad + cells[i]);
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      return l + "\n";
    };
    out += line(header);
    for (const auto& cells : body) out += line(cells);
    out += "\n* best in column";
  }
  out += " (size bytes, bits/weight, top-1 drop: lowest; the others: highest).\n";

  if (!cmp["gates"].empty()) {
    out += md ? "\n| gate | report | value | threshold | result |\n|---|---|---:|---:|---|\n" : "\n";
    for (const json& g : cmp["gates"]) {
      const std::string name = g["name"].get<std::string>();
      const std::string sign = name == "min_size_ratio" ? ">=" : "<=";
      const std::string value = report_doc::fixed(g["value"].get<double>(), 4);
      const std::string threshold = fmt::format("{}", g["threshold"].get<double>());
      const bool ok = g["passed"] == true;
      if (md)
        out += "| " + name + " | `" + g["report"].get<std::string>() + "` | " + value + " | " + sign + " " +
               threshold + " | " + (ok ? "✓ pass" : "✗ FAIL") + " |\n";
      else
        out += "gate " + name + " " + g["report"].get<std::string>() + " vs " + g["baseline"].get<std::string>() +
               ": " + value + " " + sign + " " + threshold + " " + (ok ? "passed" : "FAILED") + " (" +
               g["measure"].get<std::string>() + ")\n";
    }
  }
  return out;
}

}  // namespace edgeq
