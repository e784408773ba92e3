// The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, and a
// Content-Security-Policy that forbids loading anything, so the page shows the same offline, in
// a CI artifact viewer or attached to a mail.
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "edgeq/report/render.h"
#include "report/report_doc.h"

namespace edgeq {

using nlohmann::json;
using report_doc::Doc;
using report_doc::field;
using report_doc::fixed;
using report_doc::Line;
using report_doc::number;
using report_doc::Section;
using report_doc::Span;
using report_doc::Table;
using report_doc::text;

namespace {

// Rows per chart: beyond this a horizontal bar chart stops being readable; the caption says how
// many were left out and which ones were kept.
constexpr size_t kChartRows = 40;
// Rows per HTML table: all of them for any model a person reads; a cap keeps a page for a model
// with tens of thousands of tensors loadable.
constexpr size_t kHtmlTableRows = 2000;

// Chart geometry (px): a label column, then the bars, then room for the value text.
constexpr int kChartWidth = 960;
constexpr int kLabelWidth = 300;
constexpr int kBarLeft = kLabelWidth + 10;
constexpr int kBarSpan = 520;
constexpr int kLegendHeight = 26;
constexpr size_t kLabelChars = 44;

constexpr const char* kColorBefore = "#9aa5b1";
constexpr const char* kColorAfter = "#2f6fde";
constexpr const char* kColorGood = "#2a9d8f";
constexpr const char* kColorWorst = "#d1495b";

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Shortens a label for the chart's label column (the full text is in the bar's tooltip), cutting
// on a UTF-8 character boundary.
std::string short_label(const std::string& s) {
  if (s.size() <= kLabelChars) return s;
  size_t cut = kLabelChars - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "…";
}

// Gate verdicts ("✓ pass" / "✗ FAIL") in green / red.
std::string verdict_class(const std::string& text) {
  if (text.rfind("✓", 0) == 0) return " class=\"pass\"";
  if (text.rfind("✗", 0) == 0) return " class=\"fail\"";
  return "";
}

std::string html_line(const Line& line) {
  std::string out;
  for (const Span& s : line) {
    switch (s.style) {
      case Span::kPlain: out += esc(s.text); break;
      case Span::kBold: out += "<strong" + verdict_class(s.text) + ">" + esc(s.text) + "</strong>"; break;
      case Span::kCode: out += "<code>" + esc(s.text) + "</code>"; break;
    }
  }
  return out;
}

void html_table(std::string& out, const Table& t) {
  out += "<div class=\"table\"><table>\n<thead><tr>";
  for (size_t i = 0; i < t.header.size(); ++i)
    out += std::string(i < t.align.size() && t.align[i] == 'r' ? "<th class=\"num\">" : "<th>") + esc(t.header[i]) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  const size_t shown = std::min(t.rows.size(), kHtmlTableRows);
  for (size_t r = 0; r < shown; ++r) {
    out += "<tr>";
    for (size_t i = 0; i < t.rows[r].size(); ++i) {
      const bool num = i < t.align.size() && t.align[i] == 'r';
      const std::string verdict = verdict_class(t.rows[r][i]);
      out += (num ? std::string("<td class=\"num\">") : "<td" + verdict + ">") + esc(t.rows[r][i]) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody></table></div>\n";
  if (t.rows.size() > shown) out += fmt::format("<p class=\"note\">{} more {} not shown.</p>\n", t.rows.size() - shown, t.what);
}

// ---- charts: horizontal bars, one row per layer ----

struct Bar {
  double value;
  const char* color;
};
struct ChartRow {
  std::string label;
  std::vector<Bar> bars;  // drawn stacked inside the row, top to bottom
  std::string value_text;
  std::string tooltip;
};

std::string bar_chart(const std::string& id, const std::string& caption, const std::vector<ChartRow>& rows,
                      double scale_max, const std::vector<std::pair<std::string, const char*>>& legend) {
  const size_t bars_per_row = rows.empty() ? 1 : std::max<size_t>(1, rows.front().bars.size());
  const int bar_h = bars_per_row > 1 ? 9 : 14;
  const int row_h = static_cast<int>(bars_per_row) * (bar_h + 1) + 8;
  const int height = kLegendHeight + static_cast<int>(rows.size()) * row_h + 6;
  std::string svg = fmt::format(
      "<svg width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\" "
      "aria-label=\"{2}\">\n",
      kChartWidth, height, esc(caption));
  int lx = kBarLeft;
  for (const auto& [name, color] : legend) {
    svg += fmt::format("<rect x=\"{}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{}\"/>", lx, color);
    svg += fmt::format("<text x=\"{}\" y=\"16\" class=\"legend\">{}</text>\n", lx + 16, esc(name));
    lx += 24 + 8 * static_cast<int>(name.size());
  }
  const double scale = scale_max > 0 ? kBarSpan / scale_max : 0.0;
  int y = kLegendHeight;
  for (const ChartRow& r : rows) {
    svg += "<g class=\"row\"><title>" + esc(r.tooltip) + "</title>";
    svg += fmt::format("<text x=\"{}\" y=\"{}\" class=\"label\" text-anchor=\"end\">{}</text>", kLabelWidth,
                       y + row_h / 2 + 3, esc(short_label(r.label)));
    int by = y + 4;
    double longest = 0;
    for (const Bar& b : r.bars) {
      const double w = std::clamp(b.value * scale, 0.0, static_cast<double>(kBarSpan));
      longest = std::max(longest, w);
      svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>", kBarLeft, by, w,
                         bar_h, b.color);
      by += bar_h + 1;
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"value\">{}</text></g>\n", kBarLeft + longest + 6,
                       y + row_h / 2 + 3, esc(r.value_text));
    y += row_h;
  }
  svg += "</svg>";
  return "<figure class=\"chart\" data-chart=\"" + esc(id) + "\">\n<figcaption>" + esc(caption) +
         "</figcaption>\n" + svg + "\n</figure>\n";
}

// Per-tensor weight bytes before and after: the largest tensors (by their bigger side).
std::string bytes_chart(const json& report) {
  const json& tensors = field(field(report, "size"), "tensors");
  std::vector<const json*> rows;
  for (const json& t : tensors) rows.push_back(&t);
  auto biggest = [](const json* t) {
    return std::max(number(field(*t, "bytes_before")).value_or(0), number(field(*t, "bytes_after")).value_or(0));
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const json* a, const json* b) { return biggest(a) > biggest(b); });
  const size_t total = rows.size();
  if (rows.size() > kChartRows) rows.resize(kChartRows);
  double scale = 0;
  std::vector<ChartRow> chart;
  for (const json* t : rows) {
    const auto before = number(field(*t, "bytes_before")), after = number(field(*t, "bytes_after"));
    scale = std::max(scale, biggest(t));
    const std::string b = before ? report_doc::human_bytes(*before) : "–";
    const std::string a = after ? report_doc::human_bytes(*after) : "–";
    const std::string name = text(field(*t, "name"));
    chart.push_back({name,
                     {{before.value_or(0), kColorBefore}, {after.value_or(0), kColorAfter}},
                     b + " → " + a,
                     fmt::format("{} ({}): {} → {} bytes", name, text(field(*t, "op_type")),
                                 before ? fmt::format("{:.0f}", *before) : "–",
                                 after ? fmt::format("{:.0f}", *after) : "–")});
  }
  std::string caption = "Weight bytes per tensor, before and after";
  if (total > rows.size()) caption += fmt::format(" ({} largest of {})", rows.size(), total);
  if (total == 0) caption += " (the model has no constant weights)";
  return bar_chart("bytes", caption, chart, scale, {{"before", kColorBefore}, {"after", kColorAfter}});
}

// Per-layer sparsity of the pruned model, in node order.
std::string sparsity_chart(const json& pruning) {
  std::vector<ChartRow> chart;
  const json& layers = field(pruning, "layers");
  size_t total = 0;
  for (const json& l : layers) {
    if (total++ >= kChartRows) continue;
    const bool pruned = field(l, "pruned") == true;
    const double s = 100.0 * number(field(l, "sparsity")).value_or(0);
    chart.push_back({text(field(l, "weight")),
                     {{s, pruned ? kColorAfter : kColorBefore}},
                     pruned ? fixed(s, 2) + " %" : "dense",
                     text(field(l, "node")) + ": " + (pruned ? fixed(s, 2) + " % zeros" : "dense: " + text(field(l, "reason")))});
  }
  std::string caption = "Sparsity per layer (% of weights zero), in node order";
  if (total > chart.size()) caption += fmt::format(" (first {} of {})", chart.size(), total);
  return bar_chart("sparsity", caption, chart, 100.0, {{"pruned", kColorAfter}, {"left dense", kColorBefore}});
}

// Per-layer SQNR of the compressed model against the float one, in graph order: the lowest bars
// show where the error comes from.
std::string sqnr_chart(const json& accuracy) {
  const json& layers = field(accuracy, "layers");
  std::vector<const json*> finite;
  size_t exact = 0;
  for (const json& l : layers) {
    if (number(field(l, "sqnr_db"))) finite.push_back(&l);
    else ++exact;
  }
  const size_t total = finite.size();
  if (finite.size() > kChartRows) {
    // Keep the lowest, then restore graph order.
    std::vector<const json*> lowest = finite;
    std::stable_sort(lowest.begin(), lowest.end(), [](const json* a, const json* b) {
      return *number(field(*a, "sqnr_db")) < *number(field(*b, "sqnr_db"));
    });
    lowest.resize(kChartRows);
    const std::set<const json*> keep(lowest.begin(), lowest.end());
    std::erase_if(finite, [&](const json* l) { return !keep.count(l); });
  }
  const std::set<std::string> worst = [&] {
    std::set<std::string> names;
    for (const json& n : field(accuracy, "worst_layers")) names.insert(text(n));
    return names;
  }();
  double scale = 1.0;
  std::vector<ChartRow> chart;
  for (const json* l : finite) {
    const double db = *number(field(*l, "sqnr_db"));
    scale = std::max(scale, db);
    const std::string name = text(field(*l, "name"));
    const bool is_worst = field(*l, "worst") == true || worst.count(name);
    chart.push_back({name, {{db, is_worst ? kColorWorst : kColorGood}}, fixed(db, 2) + " dB",
                     fmt::format("{} ({}, {}): SQNR {:.2f} dB", name, text(field(*l, "op_type")),
                                 text(field(*l, "form")), db)});
  }
  std::string caption = "SQNR per layer (dB, higher is better), in graph order";
  if (total > chart.size()) caption += fmt::format(" ({} lowest of {})", chart.size(), total);
  if (exact) caption += fmt::format("; {} layers exact (infinite SQNR) not drawn", exact);
  return bar_chart("sqnr", caption, chart, scale, {{"layer", kColorGood}, {"lowest SQNR", kColorWorst}});
}

std::string chart_for(const std::string& chart, const json& report) {
  if (chart == "bytes") return bytes_chart(report);
  if (chart == "sparsity") return sparsity_chart(field(report, "pruning"));
  if (chart == "sqnr") return sqnr_chart(field(report, "accuracy"));
  return "";
}

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #fff;
       margin: 0 auto; max-width: 1040px; padding: 16px 24px 40px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d8dee4; }
p { margin: 6px 0; }
.headline { font-size: 15px; background: #f6f8fa; border: 1px solid #d8dee4; border-radius: 6px; padding: 10px 12px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eff1f3; padding: 1px 4px; border-radius: 4px; }
.table { overflow-x: auto; max-height: 640px; overflow-y: auto; margin: 8px 0; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d8dee4; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; position: sticky; top: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 10px 0 14px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
svg .row:hover rect { opacity: .75; }
.note { color: #59636e; font-style: italic; }
.pass { color: #1a7f37; }
.fail { color: #cf222e; }
footer { margin-top: 32px; color: #59636e; font-size: 12px; }
)";

}  // namespace

std::string render_html(const json& report) {
  const Doc doc = report_doc::build_doc(report);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // Nothing may be loaded: the page is complete as it is.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"edgeq\">\n<title>" +
      esc(doc.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<header>\n<h1>" + esc(doc.title) +
      "</h1>\n<p class=\"headline\">" + html_line(doc.headline) + "</p>\n</header>\n<main>\n";
  for (const Section& s : doc.sections) {
    out += "<section id=\"" + esc(s.id) + "\">\n<h2>" + esc(s.title) + "</h2>\n";
    for (const Line& l : s.lines) out += "<p>" + html_line(l) + "</p>\n";
    if (!s.chart.empty()) out += chart_for(s.chart, report);
    for (const Table& t : s.tables) html_table(out, t);
    out += "</section>\n";
  }
  out += "</main>\n<footer>" + html_line(doc.footer) + "</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace edgeq
