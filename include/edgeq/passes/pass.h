// Passes: named rewrites of a Model. One pass per file under src/passes/<group>/, named after the
// pass; every pass is listed once in src/passes/registry.cc (no static self-registration).
//
// A pass takes the model and a PassContext and returns what it changed. Passes recurse into
// subgraphs themselves (Graph::for_each_graph) when their rewrite applies there too. A pass that
// cannot do its work on this model throws edgeq::Error (kUnsupported names the op or node); it
// must leave the model unchanged in that case or the caller must discard the model.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeq/ir/graph.h"

namespace edgeq {

struct PassContext {
  int threads = 0;  // for passes that run the executor; 0: all cores
  // Messages for the user (stderr) and the report's warnings. Passes append; callers print.
  std::vector<std::string> warnings;
  // Called with one line per notable change (e.g. per quantized tensor); may be empty.
  std::function<void(const std::string&)> log;

  void note(const std::string& line) const {
    if (log) log(line);
  }
};

struct PassResult {
  int changes = 0;       // nodes/tensors rewritten, added or removed (0: nothing to do)
  std::string summary;   // one line for logs: "folded 9 BatchNormalization into Conv"
};

struct PassInfo {
  const char* name;     // "fold_batchnorm"
  const char* group;    // "graph", "quantize", "prune", "distill"
  const char* summary;  // one line for `--help` listings and docs
  PassResult (*run)(Model& model, PassContext& ctx);
};

// Every registered pass, in the order of the registry list.
const std::vector<PassInfo>& registered_passes();
// The pass of that name, or nullptr.
const PassInfo* find_pass(std::string_view name);
// Runs the pass of that name; throws kUsage for an unknown name (listing the known ones).
PassResult run_pass(std::string_view name, Model& model, PassContext& ctx);

}  // namespace edgeq
