// Report formats (the table behind --report-format), the Markdown rendering, and writing a
// report with its renderings. The document both renderers print is built in report_doc.cc.
#include "edgeq/report/render.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cctype>

#include "common/atomic_file.h"
#include "edgeq/error.h"
#include "report/report_doc.h"

namespace edgeq {

using nlohmann::json;
using report_doc::Doc;
using report_doc::Line;
using report_doc::Section;
using report_doc::Span;
using report_doc::Table;

namespace {

std::string render_json(const json& report) { return report.dump(2) + "\n"; }

constexpr ReportFormatInfo kReportFormats[] = {
    {"json", "json", render_json},
    {"md", "md", render_markdown},
    {"html", "html", render_html},
};

// Plain text in Markdown: characters that would start emphasis, code, links, HTML or (in a
// table) a new cell are escaped.
// An underscore inside a word (conv_1) cannot open or close emphasis in GFM and stays as is, so
// tensor names read naturally in the raw text; "](" would start a link target.
std::string md_escape(const std::string& s) {
  auto word = [&](size_t i) { return i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || (s[i] & 0x80)); };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\n': out += ' '; break;
      case '_':
        if (i > 0 && word(i - 1) && word(i + 1)) out += c;
        else out += "\\_";
        break;
      case '(':
        if (i > 0 && s[i - 1] == ']') out += '\\';
        out += c;
        break;
      case '\\': case '|': case '*': case '`': out += '\\'; out += c; break;
      default: out += c;
    }
  }
  return out;
}

std::string md_code(const std::string& s) {
  // A code span cannot hold its own delimiter run: use one backtick more than the text has.
  size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(longest + 1, '`');
  std::string body = s;
  std::replace(body.begin(), body.end(), '\n', ' ');
  return longest ? fence + " " + body + " " + fence : fence + body + fence;
}

std::string md_line(const Line& line) {
  std::string out;
  for (const Span& s : line) {
    switch (s.style) {
      case Span::kPlain: out += md_escape(s.text); break;
      case Span::kBold: out += "**" + md_escape(s.text) + "**"; break;
      case Span::kCode: out += md_code(s.text); break;
    }
  }
  return out;
}

void md_table(std::string& out, const Table& t) {
  out += "|";
  for (const auto& h : t.header) out += " " + md_escape(h) + " |";
  out += "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) out += i < t.align.size() && t.align[i] == 'r' ? "---:|" : "---|";
  out += "\n";
  const size_t shown = std::min(t.rows.size(), t.md_rows);
  for (size_t r = 0; r < shown; ++r) {
    out += "|";
    for (const auto& cell : t.rows[r]) out += " " + md_escape(cell) + " |";
    out += "\n";
  }
  if (t.rows.size() > shown) out += fmt::format("\n_{} more {} not shown._\n", t.rows.size() - shown, t.what);
}

}  // namespace

std::span<const ReportFormatInfo> report_formats() { return kReportFormats; }

std::vector<std::string> parse_report_formats(const std::string& list) {
  std::vector<std::string> asked;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string name = list.substr(start, comma - start);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty()) {
      bool known = false;
      std::string names;
      for (const auto& f : kReportFormats) {
        known = known || name == f.name;
        names += (names.empty() ? "" : ", ") + std::string(f.name);
      }
      if (!known) throw usage_error("unknown report format '" + name + "' (--report-format takes: " + names + ")");
      asked.push_back(name);
    }
    start = comma + 1;
  }
  std::vector<std::string> formats;
  for (const auto& f : kReportFormats)
    if (std::string(f.name) == "json" || std::find(asked.begin(), asked.end(), f.name) != asked.end())
      formats.push_back(f.name);
  return formats;
}

std::string report_path_for_format(const std::string& json_path, const std::string& format) {
  for (const auto& f : kReportFormats)
    if (format == f.name) {
      if (format == "json") return json_path;
      const std::string ext = ".json";
      const bool has_ext = json_path.size() > ext.size() && json_path.compare(json_path.size() - ext.size(), ext.size(), ext) == 0;
      return (has_ext ? json_path.substr(0, json_path.size() - ext.size()) : json_path) + "." + f.extension;
    }
  throw usage_error("unknown report format '" + format + "'");
}

std::string render_report(const json& report, const std::string& format) {
  for (const auto& f : kReportFormats)
    if (format == f.name) return f.render(report);
  throw usage_error("unknown report format '" + format + "'");
}

std::string render_markdown(const json& report) {
  const Doc doc = report_doc::build_doc(report);
  std::string out = md_line(doc.headline) + "\n";
  for (const Section& s : doc.sections) {
    out += "\n#### " + md_escape(s.title) + "\n\n";
    for (const Line& l : s.lines) out += md_line(l) + "\n\n";
    for (size_t i = 0; i < s.tables.size(); ++i) {
      if (i) out += "\n";
      md_table(out, s.tables[i]);
    }
  }
  out += "\n<sub>" + md_line(doc.footer) + "</sub>\n";
  return out;
}

void write_report_files(const json& report, const std::string& json_path, const std::vector<std::string>& formats) {
  // Render everything first, so a rendering problem leaves no file behind.
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& f : formats) files.emplace_back(report_path_for_format(json_path, f), render_report(report, f));
  for (const auto& [path, content] : files) write_file_atomic(path, content);
}

}  // namespace edgeq
