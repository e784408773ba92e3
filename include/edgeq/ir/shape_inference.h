// ONNX shape inference over the IR: libonnx's InferShapes runs on a protobuf copy of the model
// (weights larger than a few KiB are left out of the copy: inference reads only their dtype and
// dims), and the types it infers are recorded in the IR as value_info.
#pragma once

#include <string>
#include <vector>

#include "edgeq/ir/graph.h"

namespace edgeq {

struct InferredTypes {
  int recorded = 0;                   // values whose value_info was added or changed
  std::vector<std::string> warnings;  // what inference could not do, one line each
};

// Records the inferred type of every intermediate value (produced by a node of its graph and not
// a graph output) in the main graph and every subgraph, listing it in the graph's value_info.
// Graph inputs and outputs are never touched: they are the model's interface. Values whose type
// inference leaves unknown keep what they had. Inference errors (an op libonnx does not know, a
// type it rejects) become warnings and the types inferred before the error are still recorded;
// this never throws for them.
InferredTypes record_inferred_types(Model& model);

}  // namespace edgeq
