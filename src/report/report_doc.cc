// The report JSON → the document both renderers print (report_doc.h): what a reader needs first
// (the headline), then one section per report section.
#include "report/report_doc.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace edgeq::report_doc {

using nlohmann::json;

// ---- safe readers and formatting ----

const json& field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<double> number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  return j.get<double>();
}

std::string text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return j.dump();
}

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

std::string human_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.2f} {}", bytes, kUnits[unit]);
}

std::string bytes_cell(const json& j) {
  if (j.is_number_integer()) return fmt::format("{} ({})", j.dump(), human_bytes(j.get<double>()));
  if (auto v = number(j)) return fmt::format("{} ({})", *v, human_bytes(*v));
  return "–";
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string sqnr_text(const json& row) {
  if (auto v = number(field(row, "sqnr_db"))) return fixed(*v, 2);
  if (auto mse = number(field(row, "mse")); mse && *mse == 0.0) return "inf";
  return "n/a";
}

namespace {

std::string num_cell(const json& j, int digits) {
  if (j.is_number_integer()) return j.dump();
  if (auto v = number(j)) return fixed(*v, digits);
  return "–";
}

std::string percent_cell(const json& j) {
  if (auto v = number(j)) return fixed(*v, 2) + " %";
  return "–";
}

std::string shape_text(const json& shape) {
  if (!shape.is_array()) return "";
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + text(shape[i]);
  return s + "]";
}

// The top-level sections the document renders; any other key is listed as not rendered.
const std::set<std::string> kKnownSections = {
    "schema", "schema_version", "edgeq_version", "command", "options", "warnings", "input",
    "output", "size",   "timing",         "quantization",  "pruning", "accuracy", "gates", "recipe"};

// How many rows Markdown shows per table: enough to see the story, short enough for a CI comment.
constexpr size_t kMdTensorRows = 10;
constexpr size_t kMdOpRows = 25;
constexpr size_t kMdLayerRows = 15;
constexpr size_t kMdListItems = 5;

// ---- headline ----

// Accuracy in one phrase: the top-1 drop with labels, else the worst output's cosine.
std::optional<Line> accuracy_phrase(const json& acc) {
  if (!acc.is_object()) return std::nullopt;
  const json& labels = field(acc, "labels");
  if (auto drop = number(field(labels, "top1_drop")))
    return Line{{"top-1 "}, {percent_cell(field(labels, "top1"))},
                {", drop "}, {fixed(*drop, 2) + " points", Span::kBold}};
  if (auto cos = number(field(acc, "worst_output_cosine")))
    return Line{{"worst-output cosine "}, {fixed(*cos, 6), Span::kBold}};
  return std::nullopt;
}

std::string gate_sign(const json& gate) {
  const std::string name = text(field(gate, "name"));
  if (name.rfind("min", 0) == 0) return "≥";
  if (name.rfind("max", 0) == 0) return "≤";
  return "vs";
}

std::optional<Line> gates_phrase(const json& gates) {
  if (!gates.is_array() || gates.empty()) return std::nullopt;
  Line line{{"gates: "}};
  bool first = true;
  for (const json& g : gates) {
    if (!first) line.push_back({", "});
    first = false;
    const bool passed = field(g, "passed") == true;
    line.push_back({text(field(g, "name")), Span::kCode});
    line.push_back({" "});
    line.push_back({passed ? "✓ pass" : "✗ FAIL", Span::kBold});
    line.push_back({" (" + num_cell(field(g, "value"), 4) + " " + gate_sign(g) + " " +
                    num_cell(field(g, "threshold"), 4) + ")"});
  }
  return line;
}

Line headline(const json& r) {
  const json& size = field(r, "size");
  Line line{{"edgeq " + text(field(r, "command")), Span::kBold},
            {" "},
            {base_name(text(field(field(r, "input"), "path"))), Span::kCode},
            {" → "},
            {base_name(text(field(field(r, "output"), "path"))), Span::kCode},
            {": "}};
  if (auto ratio = number(field(size, "ratio")))
    line.push_back({fixed(*ratio, 2) + "× smaller", Span::kBold});
  line.push_back({" (" + num_cell(field(size, "bytes_before"), 0) + " → " +
                  num_cell(field(size, "bytes_after"), 0) + " bytes)"});
  const auto bpw_before = number(field(field(size, "weights_before"), "bits_per_weight"));
  const auto bpw_after = number(field(field(size, "weights_after"), "bits_per_weight"));
  if (bpw_after) {
    line.push_back({" · "});
    line.push_back({fixed(*bpw_after, 2) + " bits/weight", Span::kBold});
    if (bpw_before) line.push_back({" (was " + fixed(*bpw_before, 2) + ")"});
  }
  if (auto sparsity = number(field(field(r, "pruning"), "sparsity_achieved"))) {
    line.push_back({" · "});
    line.push_back({fixed(100.0 * *sparsity, 2) + " % sparse", Span::kBold});
    line.push_back({" (" + text(field(field(r, "pruning"), "pattern")) + ")"});
  }
  if (auto acc = accuracy_phrase(field(r, "accuracy"))) {
    line.push_back({" · "});
    line.insert(line.end(), acc->begin(), acc->end());
  }
  if (auto gates = gates_phrase(field(r, "gates"))) {
    line.push_back({" · "});
    line.insert(line.end(), gates->begin(), gates->end());
  }
  return line;
}

// ---- sections ----

Section size_section(const json& size) {
  Section s{"size", "Size", {}, {}, "bytes"};
  const json& wb = field(size, "weights_before");
  const json& wa = field(size, "weights_after");
  Table t{{"", "before", "after"}, "lrr", {}, 10, "rows"};
  t.rows.push_back({"bytes on disk", bytes_cell(field(size, "bytes_before")), bytes_cell(field(size, "bytes_after"))});
  t.rows.push_back({"weight parameters", num_cell(field(wb, "params"), 0), num_cell(field(wa, "params"), 0)});
  t.rows.push_back({"weight bytes", bytes_cell(field(wb, "bytes")), bytes_cell(field(wa, "bytes"))});
  t.rows.push_back({"bits per weight", num_cell(field(wb, "bits_per_weight"), 2),
                    num_cell(field(wa, "bits_per_weight"), 2)});
  s.tables.push_back(std::move(t));
  return s;
}

// Op types with their node counts, weight bytes, and (size.node_precision) how many nodes of the
// written model run quantized vs float.
Section op_types_section(const json& size) {
  Section s{"op_types", "Op types", {}, {}, ""};
  const json& rows = field(size, "op_types");
  std::map<std::string, const json*> precision;
  for (const json& p : field(size, "node_precision")) precision[text(field(p, "op_type"))] = &p;
  // Known columns first, then any numeric column a newer report adds.
  std::vector<std::pair<std::string, std::string>> columns = {
      {"nodes_before", "nodes before"},
      {"nodes_after", "nodes after"},
      {"weight_bytes_before", "weight bytes before"},
      {"weight_bytes_after", "weight bytes after"}};
  std::set<std::string> seen = {"op_type", "weight_params_before", "weight_params_after"};
  for (const auto& c : columns) seen.insert(c.first);
  for (const json& row : rows)
    for (auto it = row.begin(); row.is_object() && it != row.end(); ++it)
      if (it.value().is_number() && seen.insert(it.key()).second) {
        std::string label = it.key();
        std::replace(label.begin(), label.end(), '_', ' ');
        columns.push_back({it.key(), label});
      }
  Table t;
  t.header.push_back("op type");
  t.align = "l";
  for (const auto& c : columns) {
    t.header.push_back(c.second);
    t.align += 'r';
  }
  if (!precision.empty()) {
    t.header.insert(t.header.end(), {"quantized nodes", "float nodes"});
    t.align += "rr";
  }
  // Biggest weight holders first, then by name; ops without weights after them.
  std::vector<const json*> sorted;
  for (const json& row : rows) sorted.push_back(&row);
  std::stable_sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) {
    return number(field(*a, "weight_bytes_before")).value_or(0) > number(field(*b, "weight_bytes_before")).value_or(0);
  });
  for (const json* row : sorted) {
    std::vector<std::string> cells = {text(field(*row, "op_type"))};
    for (const auto& c : columns) cells.push_back(num_cell(field(*row, c.first.c_str()), 2));
    if (!precision.empty()) {
      auto it = precision.find(cells[0]);
      cells.push_back(it == precision.end() ? "0" : num_cell(field(*it->second, "quantized_nodes"), 0));
      cells.push_back(it == precision.end() ? "0" : num_cell(field(*it->second, "float_nodes"), 0));
    }
    t.rows.push_back(std::move(cells));
  }
  t.md_rows = kMdOpRows;
  t.what = "op types";
  s.tables.push_back(std::move(t));
  return s;
}

Section tensors_section(const json& rows) {
  Section s{"tensors", "Top tensors by bytes saved", {}, {}, ""};
  struct Row {
    const json* j;
    double saved, before;
  };
  std::vector<Row> sorted;
  double total_saved = 0;
  for (const json& row : rows) {
    const double b = number(field(row, "bytes_before")).value_or(0), a = number(field(row, "bytes_after")).value_or(0);
    sorted.push_back({&row, b - a, b});
    total_saved += b - a;
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const Row& x, const Row& y) {
    return x.saved != y.saved ? x.saved > y.saved : x.before > y.before;
  });
  s.lines.push_back({{fmt::format("{} weight tensors, {:.0f} bytes saved in all.", sorted.size(), total_saved)}});
  Table t{{"tensor", "shape", "op", "dtype", "bytes before", "bytes after", "saved"}, "llllrrr", {}, kMdTensorRows,
          "tensors"};
  for (const Row& r : sorted) {
    const json& j = *r.j;
    const std::string db = text(field(j, "dtype_before")), da = text(field(j, "dtype_after"));
    t.rows.push_back({text(field(j, "name")), shape_text(field(j, "shape")), text(field(j, "op_type")),
                      db == da ? db : (db.empty() ? "–" : db) + " → " + (da.empty() ? "–" : da),
                      num_cell(field(j, "bytes_before"), 0), num_cell(field(j, "bytes_after"), 0),
                      fmt::format("{:.0f}", r.saved)});
  }
  s.tables.push_back(std::move(t));
  return s;
}

// A list capped for Markdown readers: "a; b; c (and 4 more)".
std::string capped_list(const json& items) {
  std::string out;
  size_t n = 0;
  for (const json& it : items) {
    if (n == kMdListItems) break;
    out += (n++ ? "; " : "") + text(it);
  }
  if (items.size() > n) out += fmt::format(" (and {} more)", items.size() - n);
  return out;
}

// `edgeq compress`: the steps in order, what each ran and did.
Section recipe_section(const json& r) {
  Section s{"recipe", "Recipe", {}, {}, ""};
  std::string head = text(field(r, "path"));
  if (!text(field(r, "name")).empty()) head = text(field(r, "name")) + " (" + head + ")";
  if (!text(field(r, "description")).empty()) head += ": " + text(field(r, "description"));
  s.lines.push_back({{head}});
  Table t{{"step", "runs", "summary", "changes", "seconds"}, "lllrr", {}, kMdLayerRows, "steps"};
  for (const json& step : field(r, "steps")) {
    std::string runs;
    if (field(step, "command").is_string()) {
      runs = text(field(step, "command"));
      for (const json& word : field(step, "argv")) runs += " " + text(word);
    } else {
      runs = "pass " + text(field(step, "pass"));
    }
    t.rows.push_back({num_cell(field(step, "step"), 0), runs, text(field(step, "summary")),
                      num_cell(field(step, "changes"), 0), num_cell(field(step, "seconds"), 3)});
  }
  if (!t.rows.empty()) s.tables.push_back(std::move(t));
  return s;
}

Section quantization_section(const json& q) {
  Section s{"quantization", "Quantization", {}, {}, ""};
  std::string mode = text(field(q, "mode"));
  std::string how = mode + " INT8, " + text(field(q, "format"));
  const json& calib = field(q, "calibration");
  if (calib.is_object())
    how += ", calibration " + text(field(calib, "method")) + " on " + num_cell(field(calib, "samples"), 0) + " samples";
  how += ", opset " + num_cell(field(q, "opset_before"), 0) + " → " + num_cell(field(q, "opset_after"), 0);
  s.lines.push_back({{how}});
  std::string what = num_cell(field(q, "quantized_tensors"), 0) + " tensors quantized (" +
                     num_cell(field(q, "quantized_bytes_before"), 0) + " → " +
                     num_cell(field(q, "quantized_bytes_after"), 0) + " bytes)";
  if (auto a = number(field(q, "activations")); a && *a > 0) what += ", " + num_cell(field(q, "activations"), 0) + " activations with QDQ pairs";
  if (auto n = number(field(q, "qoperator_nodes")); n && *n > 0) what += ", " + num_cell(field(q, "qoperator_nodes"), 0) + " QOperator nodes";
  s.lines.push_back({{what}});
  const json& nodes = field(q, "quantized_nodes");
  if (nodes.is_object() && !nodes.empty()) {
    Table t{{"op type", "nodes quantized"}, "lr", {}, kMdOpRows, "op types"};
    for (auto it = nodes.begin(); it != nodes.end(); ++it) t.rows.push_back({it.key(), num_cell(it.value(), 0)});
    s.tables.push_back(std::move(t));
  }
  const json& skipped = field(q, "skipped");
  if (skipped.is_array() && !skipped.empty())
    s.lines.push_back({{fmt::format("{} nodes left float: ", skipped.size())}, {capped_list(skipped)}});
  const json& unreached = field(q, "unreached");
  if (unreached.is_array() && !unreached.empty())
    s.lines.push_back({{fmt::format("{} tensors never reached by calibration (left float): ", unreached.size())},
                       {capped_list(unreached)}});
  return s;
}

Section pruning_section(const json& p) {
  Section s{"pruning", "Pruning", {}, {}, "sparsity"};
  std::string head = "pattern " + text(field(p, "pattern")) + " (" + text(field(p, "scope")) + ")";
  if (!field(p, "norm").is_null()) head += ", norm " + text(field(p, "norm"));
  head += ": sparsity " + percent_cell(number(field(p, "sparsity_achieved")).has_value()
                                           ? json(100.0 * *number(field(p, "sparsity_achieved")))
                                           : json(nullptr));
  if (auto target = number(field(p, "sparsity_target"))) head += " (target " + fixed(100.0 * *target, 2) + " %)";
  head += " of " + num_cell(field(p, "eligible_params"), 0) + " eligible weights; " +
          num_cell(field(p, "layers_pruned"), 0) + " layers pruned, " + num_cell(field(p, "layers_dense"), 0) +
          " left dense";
  s.lines.push_back({{head}});
  s.lines.push_back({{"pruned weights: dense " + num_cell(field(p, "dense_bytes"), 0) + " B, sparse " +
                      num_cell(field(p, "sparse_bytes"), 0) + " B, zstd " + num_cell(field(p, "zstd_bytes"), 0) +
                      " B, stored " + num_cell(field(p, "stored_bytes"), 0) + " B" +
                      (field(p, "sparse_storage") == true ? " (sparse storage)" : "")}});
  if (field(p, "score").is_string()) s.lines.push_back({{"global ranking by " + text(field(p, "score")) + " score"}});
  Table t{{"layer", "op", "shape", "sparsity", "dense B", "sparse B", "zstd B", "storage", "bias correction"},
          "lllrrrrll", {}, kMdLayerRows, "layers"};
  for (const json& l : field(p, "layers")) {
    std::string shape = shape_text(field(l, "shape_before"));
    if (field(l, "shape_after") != field(l, "shape_before")) shape += " → " + shape_text(field(l, "shape_after"));
    std::string sparsity = field(l, "pruned") == true ? percent_cell(json(100.0 * number(field(l, "sparsity")).value_or(0)))
                                                       : "dense: " + text(field(l, "reason"));
    t.rows.push_back({text(field(l, "weight")), text(field(l, "op_type")), shape, sparsity,
                      num_cell(field(l, "dense_bytes"), 0), num_cell(field(l, "sparse_bytes"), 0),
                      num_cell(field(l, "zstd_bytes"), 0), text(field(l, "storage")),
                      field(l, "bias_corrected") == true ? "into " + text(field(l, "bias_tensor"))
                                                         : field(l, "bias_not_corrected").is_string()
                                                               ? "no: " + text(field(l, "bias_not_corrected"))
                                                               : "–"});
  }
  if (!t.rows.empty()) s.tables.push_back(std::move(t));
  return s;
}

std::vector<Section> accuracy_sections(const json& acc) {
  std::vector<Section> out;
  Section s{"accuracy", "Accuracy", {}, {}, ""};
  s.lines.push_back({{"float reference vs this model on " + num_cell(field(acc, "samples"), 0) + " samples"},
                     {field(acc, "data").is_string() ? " from " : ""},
                     {text(field(acc, "data")), Span::kCode}});
  const json& labels = field(acc, "labels");
  if (labels.is_object())
    s.lines.push_back({{"top-1 "},
                       {percent_cell(field(labels, "top1")), Span::kBold},
                       {" (float " + percent_cell(field(labels, "reference_top1")) + ", drop " +
                        num_cell(field(labels, "top1_drop"), 2) + " points) · top-5 " +
                        percent_cell(field(labels, "top5")) + " (float " +
                        percent_cell(field(labels, "reference_top5")) + ") · labels on output "},
                       {text(field(labels, "output")), Span::kCode}});
  Table t{{"output", "cosine", "min cosine", "SQNR dB", "max abs err", "mean abs err", "top-1 agreement"},
          "lrrrrrr", {}, kMdLayerRows, "outputs"};
  for (const json& o : field(acc, "outputs"))
    t.rows.push_back({text(field(o, "name")), num_cell(field(o, "cosine"), 6), num_cell(field(o, "cosine_min"), 6),
                      sqnr_text(o), num_cell(field(o, "max_abs_err"), 6), num_cell(field(o, "mean_abs_err"), 6),
                      percent_cell(field(o, "top1_agreement"))});
  if (!t.rows.empty()) s.tables.push_back(std::move(t));
  const json& notes = field(acc, "notes");
  if (notes.is_array())
    for (const json& n : notes) s.lines.push_back({{"note: " + text(n)}});
  out.push_back(std::move(s));

  const json& layers = field(acc, "layers");
  if (layers.is_array() && !layers.empty()) {
    Section l{"layers", "Per-layer SQNR (lowest first)", {}, {}, "sqnr"};
    const json& worst = field(acc, "worst_layers");
    if (worst.is_array() && !worst.empty()) {
      Line line{{"where the error comes from: "}};
      for (size_t i = 0; i < worst.size(); ++i) {
        if (i) line.push_back({", "});
        line.push_back({text(worst[i]), Span::kCode});
      }
      l.lines.push_back(std::move(line));
    }
    // Lowest SQNR first; exact layers (inf) and unknown ones last, in graph order.
    std::vector<const json*> sorted;
    for (const json& row : layers) sorted.push_back(&row);
    std::stable_sort(sorted.begin(), sorted.end(), [](const json* a, const json* b) {
      const double inf = std::numeric_limits<double>::infinity();
      return number(field(*a, "sqnr_db")).value_or(inf) < number(field(*b, "sqnr_db")).value_or(inf);
    });
    Table t{{"tensor", "op", "form", "SQNR dB", "cosine", "max abs err"}, "lllrrr", {}, kMdLayerRows, "layers"};
    for (const json* row : sorted)
      t.rows.push_back({text(field(*row, "name")), text(field(*row, "op_type")), text(field(*row, "form")),
                        sqnr_text(*row), num_cell(field(*row, "cosine"), 6), num_cell(field(*row, "max_abs_err"), 6)});
    l.tables.push_back(std::move(t));
    out.push_back(std::move(l));
  }
  return out;
}

Section gates_section(const json& gates) {
  Section s{"gates", "Gates", {}, {}, ""};
  Table t{{"gate", "measure", "value", "threshold", "result"}, "llrrl", {}, 10, "gates"};
  for (const json& g : gates)
    t.rows.push_back({text(field(g, "name")), text(field(g, "measure")), num_cell(field(g, "value"), 4),
                      gate_sign(g) + " " + num_cell(field(g, "threshold"), 4),
                      field(g, "passed") == true ? "✓ pass" : "✗ FAIL"});
  s.tables.push_back(std::move(t));
  return s;
}

Section warnings_section(const json& warnings) {
  Section s{"warnings", fmt::format("Warnings ({})", warnings.size()), {}, {}, ""};
  Table t{{"warning"}, "l", {}, kMdListItems, "warnings"};
  for (const json& w : warnings) t.rows.push_back({text(w)});
  s.tables.push_back(std::move(t));
  return s;
}

}  // namespace

Doc build_doc(const json& r) {
  Doc doc;
  doc.title = "edgeq " + text(field(r, "command")) + ": " + base_name(text(field(field(r, "input"), "path"))) +
              " → " + base_name(text(field(field(r, "output"), "path")));
  doc.headline = headline(r);
  const json& size = field(r, "size");
  doc.sections.push_back(size_section(size));
  if (field(r, "gates").is_array() && !field(r, "gates").empty()) doc.sections.push_back(gates_section(field(r, "gates")));
  if (field(r, "accuracy").is_object())
    for (auto& s : accuracy_sections(field(r, "accuracy"))) doc.sections.push_back(std::move(s));
  if (field(r, "recipe").is_object()) doc.sections.push_back(recipe_section(field(r, "recipe")));
  if (field(r, "quantization").is_object()) doc.sections.push_back(quantization_section(field(r, "quantization")));
  if (field(r, "pruning").is_object()) doc.sections.push_back(pruning_section(field(r, "pruning")));
  doc.sections.push_back(tensors_section(field(size, "tensors")));
  doc.sections.push_back(op_types_section(size));
  if (field(r, "warnings").is_array() && !field(r, "warnings").empty())
    doc.sections.push_back(warnings_section(field(r, "warnings")));

  std::string footer = "edgeq " + text(field(r, "edgeq_version")) + " · report schema " + text(field(r, "schema")) +
                       " v" + text(field(r, "schema_version"));
  if (auto wall = number(field(field(r, "timing"), "wall_seconds"))) footer += " · " + fixed(*wall, 2) + " s";
  footer += " · input sha256 " + text(field(field(r, "input"), "sha256")).substr(0, 12);
  std::vector<std::string> unknown;
  for (auto it = r.begin(); r.is_object() && it != r.end(); ++it)
    if (!kKnownSections.count(it.key())) unknown.push_back(it.key());
  if (!unknown.empty()) {
    footer += " · sections not rendered (newer than this renderer): ";
    for (size_t i = 0; i < unknown.size(); ++i) footer += (i ? ", " : "") + unknown[i];
  }
  doc.footer = {{footer}};
  return doc;
}

}  // namespace edgeq::report_doc
