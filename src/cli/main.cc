// edgeq: parse the command line, run one command, map the outcome to an exit code.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "edgeq/error.h"
#include "edgeq/version.h"

namespace edgeq::cli {

namespace {
// The commands that only run (no transform) keep the plain `run` setup.
template <void (*Setup)(CLI::App&, Action&)>
void run_only(CLI::App& command, Actions& actions) {
  Setup(command, actions.run);
}
}  // namespace

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> kCommands = {
      {"inspect", "Show what a model holds: inputs, outputs, ops, parameters, sizes", run_only<setup_inspect>},
      {"convert", "Load and save a model unchanged (normalizes storage, external data); writes a report",
       setup_convert},
      {"run", "Run a model on the reference executor and print (or save) its outputs", run_only<setup_run>},
      {"prepare", "Run graph preparation passes (fold constants and BatchNormalization, remove copies, ...)",
       setup_prepare},
      {"calibrate",
       "Run a model over samples and write the range of every float tensor (minmax, percentile, entropy, mse)",
       run_only<setup_calibrate>},
      {"quantize", "INT8 quantization: dynamic, or static (QDQ / QOperator) with --calib DATA; writes a report",
       setup_quantize},
      {"prune", "Magnitude pruning (unstructured, N:M, channel) of Conv/Gemm/MatMul weights; writes a report",
       setup_prune},
      {"compress", "Run a recipe (JSON list of commands and passes, e.g. prune 2:4 then static INT8) on a model; "
                   "one report",
       setup_compress},
      {"compare", "Reports side by side (size, bits per weight, accuracy), best per column marked; gates vs the first",
       run_only<setup_compare>},
      {"distill-targets",
       "Run a teacher over samples and write soft targets (.npz) for distillation; --student-width writes a pruned "
       "student",
       run_only<setup_distill_targets>},
      {"eval",
       "Compare a compressed model with its float reference on samples (cosine, SQNR, top-1, per layer); writes a "
       "report",
       setup_eval},
  };
  return kCommands;
}

}  // namespace edgeq::cli

namespace {

int exit_code(edgeq::ErrorKind kind) { return edgeq::error_kind_info(kind).exit_code; }

// --log-format json: one JSON object per line on stderr, {"level": "...", "message": "..."}, for
// pipelines that parse logs. Messages are escaped by nlohmann::json (invalid UTF-8 replaced).
class JsonLogSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line = {{"level", std::string(level.data(), level.size())},
                           {"message", std::string(msg.payload.data(), msg.payload.size())}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

int main(int argc, char** argv) {
  // Logs, warnings and progress go to stderr; stdout carries only results.
  auto logger = spdlog::stderr_color_mt("edgeq");
  logger->set_pattern("edgeq: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);

  CLI::App app{"edgeq: make ONNX models small and fast for edge devices, and prove what it did"};
  app.set_version_flag("--version", std::string("edgeq ") + edgeq::kVersion);
  app.require_subcommand(1);
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "Debug logging on stderr");
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "Log lines on stderr: text (default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));

  // One Actions for all: only the parsed subcommand's callback sets `run`.
  edgeq::cli::Actions actions;
  for (const auto& spec : edgeq::cli::command_table()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.summary);
    sub->fallthrough();  // global flags (-q, -v) also after the subcommand
    spec.setup(*sub, actions);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; every real parse error is a usage error.
    if (e.get_exit_code() == 0) return app.exit(e);
    app.exit(e);
    return exit_code(edgeq::ErrorKind::kUsage);
  }
  if (log_format == "json") {
    edgeq::cli::json_logs = true;
    logger->sinks().clear();
    logger->sinks().push_back(std::make_shared<JsonLogSink>());
  }
  if (quiet) spdlog::set_level(spdlog::level::err);
  if (verbose) spdlog::set_level(spdlog::level::debug);

  try {
    return actions.run();
  } catch (const edgeq::Error& e) {
    spdlog::error("{}", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    spdlog::error("out of memory");
    return exit_code(edgeq::ErrorKind::kInternal);
  } catch (const std::exception& e) {
    spdlog::error("internal error (a bug in edgeq): {}", e.what());
    return exit_code(edgeq::ErrorKind::kInternal);
  }
}
