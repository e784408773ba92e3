// infer_shapes: records the types and shapes ONNX shape inference finds for intermediate values
// as value_info, in the main graph and every subgraph, so later passes and other tools (ONNX
// Runtime's graph optimizers, quantizers that pick per-channel axes) know them without running
// the model. The protobuf side lives in src/ir/shape_inference.cc. What inference cannot handle
// becomes a warning, never a failure: the model stays valid without value_info.
#include <string>

#include "edgeq/ir/shape_inference.h"
#include "edgeq/passes/pass.h"
#include "passes/passes.h"

namespace edgeq::passes {

PassResult infer_shapes(Model& model, PassContext& ctx) {
  InferredTypes inferred = record_inferred_types(model);
  for (auto& w : inferred.warnings) ctx.warnings.push_back(std::move(w));
  size_t listed = 0;
  model.graph->for_each_graph([&](const Graph& g) { listed += g.value_infos().size(); });
  PassResult result;
  result.changes = inferred.recorded;
  result.summary = "recorded " + std::to_string(inferred.recorded) + " inferred types (" +
                   std::to_string(listed) + " values with value_info)";
  return result;
}

}  // namespace edgeq::passes
