// upgrade_opset: raises a model's ai.onnx opset import so that ops that need a newer opset
// (QuantizeLinear ≥ 10, DynamicQuantizeLinear ≥ 11, per-axis scales ≥ 13) can be added, without
// the model ever claiming an opset whose operator definitions it breaks.
//
// Every default-domain node of every graph (subgraphs too) is walked through each version of its
// operator's definition between the model's opset and the target (libonnx's schema registry, see
// ir/op_schema.h). A step that only widens the accepted types, or adds an attribute whose default
// is the old behaviour, needs nothing. A step that changes the signature is rewritten to the new
// one (Squeeze/Unsqueeze/ReduceSum/Split axes or split → input at 13, Clip min/max and Pad
// pads/value → inputs at 11, Slice and TopK → inputs at 10, Softmax-family axis at 13 through
// Flatten + op + Reshape, legacy broadcast attributes before 7, ...). A step edgeq cannot prove
// equivalent blocks the upgrade. Other domains and their imports are untouched. The IR version is
// raised to the one that ships with the target opset when it is older.
#pragma once

#include <cstdint>
#include <string>

#include "edgeq/passes/pass.h"

namespace edgeq {

struct OpsetUpgrade {
  int64_t from = 0;     // the model's ai.onnx opset before (0: the model imported none)
  int64_t to = 0;       // its ai.onnx opset after: the target when done, `from` when blocked
  int rewritten = 0;    // nodes rewritten to a newer signature (attributes moved, replaced, ...)
  std::string blocker;  // empty when done; else why not, naming the op, node and versions
};

// Raises the ai.onnx ("" or "ai.onnx") opset import to `target`. No-op when the model already
// imports `target` or newer (the opset is never lowered). A model that imports no ai.onnx opset
// and has no default-domain node gets the import. When any node cannot be upgraded (or the target
// is newer than the operator definitions libonnx knows), `blocker` says which and the model is
// left exactly as it was: every node is checked before anything is rewritten. New constant inputs
// become initializers with names unused anywhere in the model. Notes one line per rewritten node
// through ctx.note.
OpsetUpgrade upgrade_opset(Model& model, int64_t target, PassContext& ctx);

}  // namespace edgeq
