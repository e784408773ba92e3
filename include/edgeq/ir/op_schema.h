// Questions about ONNX operator definitions, answered from libonnx's schema registry. Only src/ir
// may include ONNX headers, so passes that need the operator specs (upgrade_opset) ask here.
#pragma once

#include <cstdint>
#include <string>

namespace edgeq {

// The version of `op_type`'s definition that a model importing `opset` of `domain` uses (the
// definition's since_version, as in the spec's Changelog.md): e.g. ("Squeeze", "", 12) → 11.
// "" and "ai.onnx" are the same domain. 0 when libonnx knows no such op at that opset.
int64_t op_since_version(const std::string& op_type, const std::string& domain, int64_t opset);

// True when the definition selected by `opset` is a deprecation marker (Upsample at 10,
// Scatter at 11): the op may no longer be used at that opset.
bool op_deprecated(const std::string& op_type, const std::string& domain, int64_t opset);

// The newest opset of `domain` whose definitions libonnx knows (17 for ai.onnx with ONNX 1.12);
// 0 for domains it does not know.
int64_t newest_known_opset(const std::string& domain);

}  // namespace edgeq
