// Accuracy evaluation and CI gates for the commands that write a report (issue #6):
//   --eval DATA          run the compressed model and its float original on DATA (the data flags
//                        of src/cli/data_flags.h apply) and add the report's `accuracy` section
//   --labels FILE        .npy of class ids: top-1/top-5 of both models and the drop
//   --eval-samples N     use the first N samples of DATA
//   --min-size-ratio R   gate: size.bytes_before ÷ size.bytes_after ≥ R
//   --max-accuracy-drop X  gate: top-1 drop (points) ≤ X with labels; without labels
//                        100 × (1 − cosine) of the worst output ≤ X
// A failed gate still writes the model and the report (with its `gates` section) and makes the
// command exit 1; a gate that needs evaluation data without --eval is a usage error (exit 2),
// detected by check_eval_flags before anything is read or written.
//
// How a model-writing command uses this (src/cli/quantize.cc is the example):
//   EvalFlags eval; add_eval_flags(command, eval);                      // setup
//   check_eval_flags(eval);                                             // first thing in run
//   add_eval_options(options, eval);                                    // report options
//   WrittenModel w = evaluate_and_write(model, source, output, ..., eval, data, threads,
//                                       [&](json& j) { j["section"] = ...; });
//   std::cout << "<result line>"; return w.print_result(std::cout);
// (eval.cc, which writes no model, calls evaluate_for_report / add_accuracy_and_gates itself.)
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "edgeq/data/samples.h"
#include "edgeq/ir/graph.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report.h"

namespace edgeq::cli {

struct EvalFlags {
  std::string eval_data;  // --eval DATA (edgeq eval: --data)
  std::string labels;
  int64_t eval_samples = 0;  // 0: all
  double min_size_ratio = 0;  // 0: no gate
  std::optional<double> max_accuracy_drop;
};

// Declares --eval, --labels, --eval-samples and the gate flags.
void add_eval_flags(CLI::App& command, EvalFlags& flags);
// Declares only --min-size-ratio and --max-accuracy-drop (edgeq eval names its data --data).
void add_gate_flags(CLI::App& command, EvalFlags& flags);

// Throws kUsage when --labels, --eval-samples or --max-accuracy-drop are given without --eval.
void check_eval_flags(const EvalFlags& flags);

// Records the flags in the report's options (eval, labels, eval_samples, min_size_ratio,
// max_accuracy_drop; null when not given).
void add_eval_options(nlohmann::json& options, const EvalFlags& flags);

// With --eval: loads the float model from `reference_path`, opens DATA for it (`data` carries
// the data flags; max_samples is set from --eval-samples) and returns evaluate_accuracy of
// `model` against it, with a progress display on stderr. Without --eval: null.
nlohmann::json evaluate_for_report(const EvalFlags& flags, DataOptions data, const std::string& reference_path,
                                   const Model& model, int threads);

// Records in the section's notes which preparation passes align_reference ran on the reference.
void add_alignment_notes(nlohmann::json& accuracy, const std::vector<std::string>& passes);

// Adds `accuracy` (when not null) and, when a gate flag was given, `gates` to a finished report
// (its size section must be there). Logs each failed gate on stderr. True when every gate passed.
bool add_accuracy_and_gates(nlohmann::json& report, const nlohmann::json& accuracy, const EvalFlags& flags);

// Result lines for stdout: per output cosine/SQNR, top-1s and the drop, the worst layers; and
// one line per gate. Both print nothing for null / absent sections.
void print_accuracy(std::ostream& out, const nlohmann::json& accuracy);
void print_gates(std::ostream& out, const nlohmann::json& report);

// The context a model-transforming command (prune, quantize, compress) runs its transform in:
// the input's path (messages name it) and loader warnings, the thread count, and — for a model
// with external data — a spill folder beside `output` for quantized weights.
StepContext input_context(const ModelSource& source, const std::string& output, int threads);

// The end of a model-transforming command (prune, quantize, compress): evaluates `model` against
// the input it was loaded from (with --eval), writes the model and its reports (the input and its
// data files protected), adds accuracy and gates. `sections` adds the command's own sections to
// the finished report. `print_result` then prints the accuracy and gate lines under the
// command's own result line and returns the exit code (0, or kGateFailed's).
struct WrittenModel {
  SavedFiles files;
  std::string report_path;
  uint64_t bytes_in = 0, bytes_out = 0;  // model file + external data
  nlohmann::json accuracy;               // null without --eval
  nlohmann::json gates;                  // {"gates": [...]} when a gate flag was given
  bool gates_passed = true;
  double ratio() const { return bytes_out ? double(bytes_in) / double(bytes_out) : 0.0; }
  int print_result(std::ostream& out) const;
};
WrittenModel evaluate_and_write(const Model& model, const ModelSource& source, const std::string& output,
                                const std::string& report_option, const std::vector<std::string>& formats,
                                ReportBuilder& report, const EvalFlags& eval, const DataOptions& data, int threads,
                                const std::function<void(nlohmann::json&)>& sections, SaveOptions save = {});

// Progress on stderr: a bar redrawn in place on a terminal, otherwise a line every 10 %;
// nothing under --quiet.
std::function<void(int64_t done, int64_t total)> progress_display(const std::string& what);

}  // namespace edgeq::cli
