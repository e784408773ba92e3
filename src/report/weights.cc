#include <map>
#include <set>

#include "edgeq/report.h"
#include "edgeq/ir/sparse.h"

namespace edgeq {

namespace {

std::string op_label(const Node& n) {
  return (n.domain().empty() || n.domain() == "ai.onnx" ? std::string() : n.domain() + "::") +
         n.op_type();
}

std::string first_consumer(const Value* v) {
  const Node* best = nullptr;
  size_t best_index = 0;
  for (const Use& use : v->uses()) {
    // Prefer a consumer in the value's own graph, earliest in node order.
    size_t index = use.node->graph() == v->graph() ? v->graph()->index_of(use.node) : SIZE_MAX;
    if (best == nullptr || index < best_index) {
      best = use.node;
      best_index = index;
    }
  }
  return best ? op_label(*best) : std::string();
}

}  // namespace

bool is_quantized_op(const std::string& domain, const std::string& op_type) {
  static const std::set<std::string> kOnnx = {
      "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger",
      "ConvInteger",    "QLinearConv",      "QLinearMatMul"};
  static const std::set<std::string> kMicrosoft = {
      "QLinearAdd",        "QLinearMul",     "QLinearConcat",      "QLinearGlobalAveragePool",
      "QLinearSigmoid",    "QLinearLeakyRelu", "QGemm",            "QLinearAveragePool",
      "QLinearSoftmax",    "QAttention",     "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
      "MatMulNBits",       "QuantizeLinear", "DequantizeLinear",   "QLinearWhere"};
  if (domain.empty() || domain == "ai.onnx") return kOnnx.count(op_type) > 0;
  if (domain == "com.microsoft") return kMicrosoft.count(op_type) > 0;
  return false;
}

std::vector<WeightInfo> collect_weights(const Model& model) {
  std::vector<WeightInfo> out;
  auto add = [&](const std::string& name, const Tensor& t, const std::string& consumer) {
    out.push_back({name, t.dtype(), t.dims(), t.element_count(), t.byte_size(), consumer});
  };
  model.graph->for_each_graph([&](const Graph& g) {
    for (Value* v : g.initializers()) add(v->name(), *v->initializer(), first_consumer(v));
    // Sparse initializers count with their dense shape and the bytes they are stored in.
    for (Value* v : g.sparse_initializers()) {
      const Tensor dense = sparse_tensor_to_dense(v->sparse_initializer(), "sparse initializer '" + v->name() + "'");
      out.push_back({v->name(), dense.dtype(), dense.dims(), dense.element_count(),
                     static_cast<uint64_t>(v->sparse_initializer().size()), first_consumer(v)});
    }
    for (const auto& n : g.nodes()) {
      if (n->op_type() != "Constant" || !(n->domain().empty() || n->domain() == "ai.onnx")) continue;
      const Attribute* value = n->attr("value");
      if (value == nullptr || value->tensors.empty() || n->output(0) == nullptr) continue;
      add(n->output(0)->name(), value->tensors[0], first_consumer(n->output(0)));
    }
  });
  return out;
}

}  // namespace edgeq
