// The CLI's subcommands. Each file in src/cli/ adds one: it declares its options on the CLI11
// subcommand, parses them into a plain struct, and sets `run` to call the library. No logic
// lives here beyond that. The table in main.cc (command_table()) is the one place commands are
// registered; `edgeq compress` reads the same table to run commands as recipe steps.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgeq/ir/graph.h"
#include "edgeq/ir/onnx_io.h"

namespace edgeq::cli {

// Returns the process exit code; input-driven failures throw edgeq::Error instead.
using Action = std::function<int()>;

// What a model-transforming command does to a model in memory, apart from loading and saving
// it: the command's own `run` (load → transform → save model and report) and a recipe step of
// `edgeq compress` (one model, many transforms, one save) call the same function.
struct StepContext {
  std::string model_path;  // the file the model was read from: messages name it
  int threads = 0;         // 0: all cores
  // Where quantize spills weights of a model with external data ("" keeps them in memory).
  std::string spill_dir;
  // How the model is to be stored; convert --external-data sets kAlways.
  ExternalDataMode external_data = ExternalDataMode::kAuto;
  // For the report (and stderr: a transform logs what it appends). Transforms append.
  std::vector<std::string> warnings;
};

struct StepResult {
  int changes = 0;       // nodes / tensors / layers rewritten (0: nothing to do)
  std::string summary;   // one line for logs and the recipe section
  std::string section;   // the report section the result belongs in ("pruning"), "" for none
  nlohmann::json data;   // that section, exactly as the standalone command writes it
};

// Checks the parsed options (throws kUsage, reads small option files such as a schedule) and
// returns the transformation they describe; the returned function throws like a pass does.
using Transform = std::function<StepResult(Model&, StepContext&)>;
using TransformPlan = std::function<Transform()>;

struct Actions {
  Action run;  // set by the subcommand's callback: the command as a process
  // Set by setup for the commands that transform a model (prepare, quantize, prune, convert):
  // what makes them usable as a recipe step. It reads the options when called, after parsing.
  TransformPlan transform;
};

struct CommandSpec {
  const char* name;
  const char* summary;
  void (*setup)(CLI::App& command, Actions& actions);
};

// Every subcommand, in the order of `edgeq --help`.
const std::vector<CommandSpec>& command_table();

// The commands a recipe step may run (they set Actions::transform).
void setup_convert(CLI::App& command, Actions& actions);
void setup_prepare(CLI::App& command, Actions& actions);
void setup_quantize(CLI::App& command, Actions& actions);
void setup_prune(CLI::App& command, Actions& actions);
// Measures the model so far (a recipe step that leaves the model unchanged).
void setup_eval(CLI::App& command, Actions& actions);
// Runs a recipe of the commands above and registered passes on one model.
void setup_compress(CLI::App& command, Actions& actions);

// The other commands only run.
void setup_inspect(CLI::App& command, Action& run);
void setup_run(CLI::App& command, Action& run);
void setup_calibrate(CLI::App& command, Action& run);
void setup_compare(CLI::App& command, Action& run);
void setup_distill_targets(CLI::App& command, Action& run);

// Set from the global --log-format flag: log lines (and progress) are JSON objects on stderr.
inline bool json_logs = false;

// Splits "a,b,c" into {"a","b","c"}.
std::vector<std::string> split_list(const std::string& text);

}  // namespace edgeq::cli
