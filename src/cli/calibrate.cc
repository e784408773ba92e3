// edgeq calibrate MODEL --calib DATA [--method M] [--percentile P] [--calib-samples N]
//   [data flags] [--symmetric] [--threads N] [-o table.tsv]
// Calibrates every float32 graph input and node output and writes the range table.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/data_flags.h"
#include "common/atomic_file.h"
#include "edgeq/calib/calibrate.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"

namespace edgeq::cli {

namespace {

struct CalibrateFlags {
  std::string model;
  std::string calib;
  std::string method = "minmax";
  double percentile = 99.999;
  int64_t samples = 0;
  int64_t batch = 32;
  bool symmetric = false;
  int threads = 0;
  std::string output;
  DataFlags data;
};

// Float32 (or not yet typed) main-graph inputs and node outputs, subgraphs included: the
// tensors static quantization needs ranges for. Untyped ones are kept when they turn out float.
std::set<std::string> float_tensors(const Model& model) {
  std::set<std::string> out;
  auto maybe_float = [](const Value* v) {
    return v != nullptr && (!v->info.tensor || v->info.tensor->elem == DType::kFloat ||
                            v->info.tensor->elem == DType::kUndefined) &&
           (v->info.type_kind.empty() || v->info.type_kind == "tensor");
  };
  for (Value* v : model.graph->inputs())
    if (!v->is_initializer() && maybe_float(v)) out.insert(v->name());
  model.graph->for_each_graph([&](const Graph& g) {
    for (const auto& node : g.nodes())
      for (Value* v : node->outputs())
        if (maybe_float(v)) out.insert(v->name());
  });
  return out;
}

}  // namespace

void setup_calibrate(CLI::App& command, Action& run) {
  auto flags = std::make_shared<CalibrateFlags>();
  command.add_option("model", flags->model, "ONNX model file")->required();
  command.add_option("--calib", flags->calib, "Samples: .npy, .npz, .pb, or a folder (feeds, test sets, images)")
      ->required();
  command.add_option("--method", flags->method, "minmax (default), percentile, entropy or mse");
  command.add_option("--percentile", flags->percentile, "P for --method percentile (default 99.999)");
  command.add_option("--calib-samples", flags->samples, "Use at most N samples (rows on axis 0; default all)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--batch", flags->batch, "Samples per run when the model's batch axis is free (default 32)")
      ->check(CLI::PositiveNumber);
  command.add_flag("--symmetric", flags->symmetric, "Symmetric ranges [-t, t] for every tensor");
  command.add_option("--threads", flags->threads, "Threads (default: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  command.add_option("-o,--output", flags->output, "Write the table to this file (default: stdout)");
  add_data_flags(command, flags->data);
  command.callback([flags, &run] {
    run = [flags] {
      CalibOptions options;
      options.method = parse_calib_method(flags->method);
      if (!(flags->percentile > 0 && flags->percentile <= 100))
        throw usage_error("--percentile must be in (0, 100], got " + std::to_string(flags->percentile));
      options.percentile = flags->percentile;
      options.threads = flags->threads;
      DataOptions data = to_data_options(flags->data);
      data.max_samples = flags->samples;
      data.batch = flags->batch;

      Model model = load_model(flags->model);
      const std::set<std::string> tensors = float_tensors(model);
      if (flags->symmetric) options.symmetric = tensors;
      auto source = open_samples(model, flags->calib, data);
      spdlog::info("calibrating {} tensors ({}) over {}", tensors.size(), calib_method_name(options.method),
                   source->describe());
      CalibrationTable table = calibrate(model, *source, tensors, options);
      int64_t unreached = 0;
      for (const auto& [name, r] : table.ranges) unreached += r.reached ? 0 : 1;
      if (unreached > 0) spdlog::warn("{} tensors were never computed (untaken branches); they stay float", unreached);
      const std::string tsv = table.to_tsv();
      if (flags->output.empty()) {
        std::cout << tsv;
      } else {
        write_file_atomic(flags->output, tsv);
        spdlog::info("wrote {} ({} tensors)", flags->output, table.ranges.size());
      }
      return 0;
    };
  });
}

}  // namespace edgeq::cli
