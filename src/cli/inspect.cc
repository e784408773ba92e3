// edgeq inspect MODEL [--json]
#include <iostream>

#include "cli/commands.h"
#include "edgeq/ir/onnx_io.h"
#include "edgeq/report.h"

namespace edgeq::cli {

namespace {
struct InspectOptions {
  std::string model;
  bool json = false;
};
}  // namespace

void setup_inspect(CLI::App& command, Action& run) {
  auto opts = std::make_shared<InspectOptions>();
  command.add_option("model", opts->model, "ONNX model file")->required();
  command.add_flag("--json", opts->json, "Print the stable JSON form (see README) instead of text");
  command.callback([opts, &run] {
    run = [opts] {
      ModelSource source;
      Model model = load_model(opts->model, &source);
      nlohmann::json inspected = inspect_json(model, source);
      if (opts->json) std::cout << inspected.dump(2) << "\n";
      else std::cout << inspect_text(inspected);
      return 0;
    };
  });
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace edgeq::cli
