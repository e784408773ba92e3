// The one list of passes. Adding a pass: write src/passes/<group>/<name>.cc (see TEMPLATE.cc.txt),
// declare its run function in passes.h, add one line here.
#include <algorithm>

#include "edgeq/error.h"
#include "passes/passes.h"

namespace edgeq {

const std::vector<PassInfo>& registered_passes() {
  static const std::vector<PassInfo> kPasses = {
      {"infer_shapes", "graph", "Record inferred types and shapes of intermediate values (value_info)",
       passes::infer_shapes},
      {"fold_constants", "graph", "Evaluate nodes whose inputs are all constant and store the results as initializers",
       passes::fold_constants},
      {"fold_batchnorm", "graph", "Fold BatchNormalization into the preceding Conv, ConvTranspose or Gemm",
       passes::fold_batchnorm},
      {"remove_identity", "graph", "Remove Identity and inference-mode Dropout nodes",
       passes::remove_identity},
      {"eliminate_dead_nodes", "graph", "Remove nodes and initializers no graph output depends on",
       passes::eliminate_dead_nodes},
      {"densify_sparse", "graph", "Turn sparse initializers (SparseTensorProto) into dense initializers of the same name",
       passes::densify_sparse},
      {"upgrade_opset", "graph", "Raise the ai.onnx opset to 13, rewriting ops whose signature changed", passes::upgrade_opset_pass},
      {"quantize_dynamic", "quantize", "Dynamic INT8: INT8 weights, MatMul/Gemm on integers, Conv/Gather weights dequantized",
       passes::quantize_dynamic_pass},
      {"qdq_to_qoperator", "quantize", "Rewrite QDQ groups into QLinearConv, QLinearMatMul and com.microsoft QLinear* ops",
       passes::qdq_to_qoperator_pass},
      {"prune_magnitude", "prune", "Unstructured magnitude pruning to 50 % over all eligible weights (edgeq prune for options)", passes::prune_magnitude},
  };
  return kPasses;
}

const PassInfo* find_pass(std::string_view name) {
  const auto& all = registered_passes();
  auto it = std::find_if(all.begin(), all.end(), [&](const PassInfo& p) { return name == p.name; });
  return it == all.end() ? nullptr : &*it;
}

PassResult run_pass(std::string_view name, Model& model, PassContext& ctx) {
  const PassInfo* pass = find_pass(name);
  if (!pass) {
    std::string known;
    for (const auto& p : registered_passes()) known += (known.empty() ? "" : ", ") + std::string(p.name);
    throw usage_error("unknown pass '" + std::string(name) + "' (known passes: " + known + ")");
  }
  return pass->run(model, ctx);
}

}  // namespace edgeq
