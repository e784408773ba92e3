// The run functions of every registered pass, one per file under src/passes/<group>/.
// registry.cc lists them; nothing else should call them by these names.
#pragma once

#include "edgeq/passes/pass.h"

namespace edgeq::passes {

// graph/
PassResult infer_shapes(Model& model, PassContext& ctx);
PassResult fold_constants(Model& model, PassContext& ctx);
PassResult fold_batchnorm(Model& model, PassContext& ctx);
PassResult remove_identity(Model& model, PassContext& ctx);
PassResult eliminate_dead_nodes(Model& model, PassContext& ctx);
PassResult densify_sparse(Model& model, PassContext& ctx);
PassResult upgrade_opset_pass(Model& model, PassContext& ctx);

// quantize/ (registered with default options; the quantize command passes its own)
PassResult quantize_dynamic_pass(Model& model, PassContext& ctx);
PassResult qdq_to_qoperator_pass(Model& model, PassContext& ctx);

// prune/ (registered with default options; the prune command passes its own)
PassResult prune_magnitude(Model& model, PassContext& ctx);

}  // namespace edgeq::passes
