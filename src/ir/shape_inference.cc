// record_inferred_types: libonnx's shape inference on a protobuf copy, results back into the IR.
#include "edgeq/ir/shape_inference.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <unordered_map>

#include "edgeq/error.h"
#include "ir/proto_util.h"

namespace edgeq {

namespace {

// Initializers up to this size keep their bytes in the copy: shape inference reads the values
// of small constant inputs (Reshape's shape, Slice's starts, ...), never of weights.
constexpr uint64_t kInlineBytes = 4096;

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The IR form of an inferred TypeProto, the way the loader stores value_info: tensor types
// modeled, everything else (sequence, optional, map types) carried as serialized protobuf.
// Returns false for a type the IR cannot hold (an element type edgeq does not know).
bool to_value_info(const onnx::TypeProto& inferred, ValueInfo& out) {
  onnx::TypeProto tp = inferred;
  out.present = true;
  out.has_type = true;
  out.type_kind = tp.has_tensor_type() ? "tensor" : tp.has_sequence_type() ? "sequence"
                  : tp.has_optional_type() ? "optional" : tp.has_map_type() ? "map"
                  : tp.has_sparse_tensor_type() ? "sparse_tensor" : "";
  out.tensor.reset();
  if (tp.has_tensor_type()) {
    onnx::TypeProto_Tensor& tt = *tp.mutable_tensor_type();
    int32_t code = proto::read_enum(tt, 1, tt.elem_type(), tt.has_elem_type());
    if (code != 0 && find_dtype(code) == nullptr) return false;
    TensorType t;
    t.elem = static_cast<DType>(code);
    if (tt.has_shape()) {
      std::vector<Dim> dims;
      for (auto& d : *tt.mutable_shape()->mutable_dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.param = d.dim_param();
        // TensorShapeProto.Dimension: dim_value 1, dim_param 2.
        dim.carried = proto::take_residue(d, {1, 2});
        dims.push_back(std::move(dim));
      }
      t.shape = std::move(dims);
    }
    out.tensor = std::move(t);
    tt.clear_elem_type();
    tt.clear_shape();
  }
  out.type_carried = proto::serialize_deterministic(tp);
  return true;
}

bool same_type(const ValueInfo& a, const ValueInfo& b) {
  if (a.has_type != b.has_type || a.type_kind != b.type_kind || a.type_carried != b.type_carried ||
      a.tensor.has_value() != b.tensor.has_value())
    return false;
  if (!a.tensor) return true;
  if (a.tensor->elem != b.tensor->elem || a.tensor->shape.has_value() != b.tensor->shape.has_value())
    return false;
  if (!a.tensor->shape) return true;
  const auto& x = *a.tensor->shape;
  const auto& y = *b.tensor->shape;
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].value != y[i].value || x[i].param != y[i].param || x[i].carried != y[i].carried) return false;
  return true;
}

// Inference may know less than the model already says (a type without a shape): only a type
// that is at least as specific replaces the recorded one.
bool knows_less(const ValueInfo& inferred, const ValueInfo& had) {
  if (!had.has_type) return false;
  if (!inferred.tensor || !had.tensor) return false;
  if (inferred.tensor->elem == DType::kUndefined && had.tensor->elem != DType::kUndefined) return true;
  return !inferred.tensor->shape && had.tensor->shape;
}

bool listed(const std::vector<Value*>& list, const Value* v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// The writer emits nodes, attributes and subgraphs in IR order, so the protobuf graphs can be
// walked side by side with the IR graphs.
int record_graph(onnx::GraphProto& gp, Graph& g) {
  int recorded = 0;
  for (const auto& vi : gp.value_info()) {
    Value* v = g.find_value(vi.name());
    if (v == nullptr || v->producer() == nullptr || v->producer()->graph() != &g ||
        v->is_initializer() || listed(g.outputs(), v) || listed(g.inputs(), v) || !vi.has_type())
      continue;
    ValueInfo info;
    if (!to_value_info(vi.type(), info)) continue;
    if (knows_less(info, v->info) || same_type(info, v->info)) {
      if (!listed(g.value_infos(), v)) g.add_value_info(v);
      continue;
    }
    info.carried = v->info.carried;  // the value's doc string and newer fields stay
    v->info = std::move(info);
    if (!listed(g.value_infos(), v)) g.add_value_info(v);
    ++recorded;
  }
  EDGEQ_CHECK(static_cast<size_t>(gp.node_size()) == g.nodes().size(),
              "shape inference: protobuf and IR graphs differ");
  for (int i = 0; i < gp.node_size(); ++i) {
    onnx::NodeProto& np = *gp.mutable_node(i);
    std::vector<onnx::GraphProto*> subs;
    for (auto& a : *np.mutable_attribute()) {
      if (a.has_g()) subs.push_back(a.mutable_g());
      for (auto& sg : *a.mutable_graphs()) subs.push_back(&sg);
    }
    std::vector<Graph*> ir_subs = g.nodes()[static_cast<size_t>(i)]->subgraphs();
    EDGEQ_CHECK(subs.size() == ir_subs.size(), "shape inference: subgraphs of a node differ");
    for (size_t k = 0; k < subs.size(); ++k) recorded += record_graph(*subs[k], *ir_subs[k]);
  }
  return recorded;
}

// Why inference cannot run on this model at all, or "" when it can: libonnx only has schemas up
// to the opsets it was released with, and guessing a newer op's types would record wrong ones.
std::string too_new_for_libonnx(const onnx::ModelProto& mp) {
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& op : mp.opset_import()) {
    const std::string domain = op.domain() == "ai.onnx" ? std::string() : op.domain();
    auto it = known.find(domain);
    if (it != known.end() && op.version() > it->second.second)
      return "opset " + (domain.empty() ? std::string("ai.onnx") : domain) + " " +
             std::to_string(op.version()) + " is newer than libonnx knows (" +
             std::to_string(it->second.second) + ")";
  }
  if (mp.ir_version() > onnx::IR_VERSION)
    return "IR version " + std::to_string(mp.ir_version()) + " is newer than libonnx knows";
  return "";
}

}  // namespace

InferredTypes record_inferred_types(Model& model) {
  EDGEQ_CHECK(model.graph != nullptr, "record_inferred_types: model has no graph");
  InferredTypes result;
  onnx::ModelProto mp = proto::model_proto_without_large_tensors(model, kInlineBytes);
  if (std::string why = too_new_for_libonnx(mp); !why.empty()) {
    result.warnings.push_back("shape inference skipped: " + why);
    return result;
  }
  // Strict first, so an error is reported; then, if it failed, lenient on a fresh copy, which
  // skips the nodes it cannot infer and keeps everything else.
  onnx::ModelProto strict = mp;
  try {
    onnx::ShapeInferenceOptions opts(/*check_type=*/true, /*strict_mode=*/1, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(strict, onnx::OpSchemaRegistry::Instance(), opts);
    mp = std::move(strict);
  } catch (const std::exception& e) {
    result.warnings.push_back(std::string("shape inference: ") + first_line(e.what()));
    try {
      onnx::ShapeInferenceOptions opts(/*check_type=*/false, /*strict_mode=*/0, /*data_prop=*/true);
      onnx::shape_inference::InferShapes(mp, onnx::OpSchemaRegistry::Instance(), opts);
    } catch (const std::exception& e2) {
      result.warnings.push_back(std::string("shape inference (lenient): ") + first_line(e2.what()));
      return result;
    }
  }
  result.recorded = record_graph(*mp.mutable_graph(), *model.graph);
  return result;
}

}  // namespace edgeq
