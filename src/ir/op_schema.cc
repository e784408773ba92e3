// Operator-definition queries over libonnx's schema registry (see include/edgeq/ir/op_schema.h).
#include "edgeq/ir/op_schema.h"

#include <onnx/defs/schema.h>

#include <climits>

namespace edgeq {

namespace {

std::string registry_domain(const std::string& domain) {
  return domain == "ai.onnx" ? std::string() : domain;
}

const onnx::OpSchema* find_schema(const std::string& op_type, const std::string& domain,
                                  int64_t opset) {
  if (opset <= 0 || opset > INT_MAX) return nullptr;
  return onnx::OpSchemaRegistry::Schema(op_type, static_cast<int>(opset), registry_domain(domain));
}

}  // namespace

int64_t op_since_version(const std::string& op_type, const std::string& domain, int64_t opset) {
  const onnx::OpSchema* schema = find_schema(op_type, domain, opset);
  return schema ? schema->since_version() : 0;
}

bool op_deprecated(const std::string& op_type, const std::string& domain, int64_t opset) {
  const onnx::OpSchema* schema = find_schema(op_type, domain, opset);
  return schema != nullptr && schema->Deprecated();
}

int64_t newest_known_opset(const std::string& domain) {
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = ranges.find(registry_domain(domain));
  return it == ranges.end() ? 0 : it->second.second;
}

}  // namespace edgeq
