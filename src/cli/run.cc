// edgeq run MODEL --input [NAME=]FILE [--input …] [--output-dir DIR] [--threads N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>


#include "cli/commands.h"
#include "edgeq/data/feeds.h"
#include "edgeq/data/npy.h"
#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/runtime/executor.h"

namespace edgeq::cli {

namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::vector<std::string> fixed_inputs;
  std::string output_dir;
  int threads = 0;
  int repeat = 0;
};

// "name  [1,10]  float  min=… max=… mean=…"
std::string summary(const std::string& name, const Tensor& t) {
  std::ostringstream out;
  out << name << "  [";
  for (size_t i = 0; i < t.dims().size(); ++i) out << (i ? "," : "") << t.dims()[i];
  out << "]  " << dtype_name(t.dtype());
  const size_t n = t.element_count();
  if (n > 0 && t.dtype() != DType::kString && !std::isnan(element_as_double(t, 0))) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; ++i) {
      double v = element_as_double(t, i);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
    out << std::setprecision(6) << "  min=" << lo << " max=" << hi << " mean=" << sum / static_cast<double>(n);
  }
  return out.str();
}

}  // namespace

void setup_run(CLI::App& command, Action& run) {
  auto opts = std::make_shared<RunOptions>();
  command.add_option("model", opts->model, "ONNX model file")->required();
  command.add_option("-i,--input", opts->inputs,
                     "[NAME=]FILE: .npy, .pb, .npz (all inputs by name) or an ONNX test-data folder")
      ->required();
  command.add_option("--fixed-input", opts->fixed_inputs, "NAME=FILE fed unchanged (state, sample rate)");
  command.add_option("--output-dir", opts->output_dir, "Write each output as DIR/<name>.npy");
  command.add_option("--threads", opts->threads, "Threads (default: all cores); results do not depend on it")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--repeat", opts->repeat,
                     "Run N more times and print the median run time on stderr (for benchmarks)")
      ->check(CLI::NonNegativeNumber);
  command.callback([opts, &run] {
    run = [opts] {
      Model model = load_model(opts->model);
      std::vector<std::string> specs = opts->inputs;
      for (const auto& f : opts->fixed_inputs) {
        if (f.find('=') == std::string::npos) throw usage_error("--fixed-input expects NAME=FILE, got '" + f + "'");
        specs.push_back(f);
      }
      auto feeds = read_feeds(model, specs);
      Executor executor(model, {opts->threads});
      auto outputs = executor.run(feeds);
      if (opts->repeat > 0) {
        std::vector<double> ms;
        for (int r = 0; r < opts->repeat; ++r) {
          auto t0 = std::chrono::steady_clock::now();
          executor.run(feeds);
          ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const size_t mid = ms.size() / 2;
        const double median = ms.size() % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
        std::cerr << "run time: median " << std::fixed << std::setprecision(3) << median << " ms over "
                  << ms.size() << " runs\n";
      }
      if (!opts->output_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts->output_dir, ec);
        if (ec) throw io_error(opts->output_dir, "cannot create: " + ec.message());
      }
      for (const auto& [name, value] : outputs) {
        const std::string file = (std::filesystem::path(opts->output_dir) / sanitize_file_name(name)).string();
        if (value.kind == RtValue::Kind::kTensor) {
          std::cout << summary(name, value.tensor) << "\n";
          if (!opts->output_dir.empty()) write_npy(file + ".npy", value.tensor);
        } else if (value.kind == RtValue::Kind::kSequence) {
          std::cout << name << "  sequence of " << value.sequence.size() << "\n";
          for (size_t i = 0; i < value.sequence.size(); ++i) {
            std::cout << summary("  " + name + "[" + std::to_string(i) + "]", value.sequence[i]) << "\n";
            if (!opts->output_dir.empty()) write_npy(file + "_" + std::to_string(i) + ".npy", value.sequence[i]);
          }
        } else {
          std::cout << name << "  none\n";
        }
      }
      return 0;
    };
  });
}

}  // namespace edgeq::cli
