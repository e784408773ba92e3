// The CLI's subcommands. Each file in src/cli/ adds one: it declares its options on the CLI11
// subcommand, parses them into a plain struct, and sets `run` to call the library. No logic
// lives here beyond that. The list in main.cc is the one place commands are registered.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace edgeq::cli {

// Returns the process exit code; input-driven failures throw edgeq::Error instead.
using Action = std::function<int()>;

struct CommandSpec {
  const char* name;
  const char* summary;
  void (*setup)(CLI::App& command, Action& run);
};

void setup_inspect(CLI::App& command, Action& run);
void setup_convert(CLI::App& command, Action& run);
void setup_run(CLI::App& command, Action& run);
void setup_prepare(CLI::App& command, Action& run);
void setup_calibrate(CLI::App& command, Action& run);
void setup_quantize(CLI::App& command, Action& run);
void setup_prune(CLI::App& command, Action& run);
void setup_compare(CLI::App& command, Action& run);
void setup_distill_targets(CLI::App& command, Action& run);
void setup_eval(CLI::App& command, Action& run);

// Set from the global --log-format flag: log lines (and progress) are JSON objects on stderr.
inline bool json_logs = false;

// Splits "a,b,c" into {"a","b","c"}.
std::vector<std::string> split_list(const std::string& text);

}  // namespace edgeq::cli
