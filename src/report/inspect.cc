// `edgeq inspect`: the facts about a model, as JSON (the stable form scripts read) and as text
// rendered from that same JSON.
#include <map>
#include <sstream>

#include "edgeq/report.h"

namespace edgeq {

namespace {

using nlohmann::json;

std::string domain_name(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

json shape_json(const Value& v) {
  if (!v.info.tensor || !v.info.tensor->shape) return nullptr;
  json dims = json::array();
  for (const Dim& d : *v.info.tensor->shape) {
    if (d.value) dims.push_back(*d.value);
    else if (!d.param.empty()) dims.push_back(d.param);
    else dims.push_back(nullptr);
  }
  return dims;
}

json value_json(const Value& v) {
  std::string dtype = "unknown";
  if (v.info.tensor) dtype = std::string(dtype_name(v.info.tensor->elem));
  else if (v.info.has_type) dtype = "non-tensor";
  return {{"name", v.name()}, {"dtype", dtype}, {"shape", shape_json(v)}};
}

}  // namespace

json inspect_json(const Model& model, const ModelSource& source) {
  json j;
  j["schema"] = "edgeq.inspect";
  j["schema_version"] = kInspectSchemaVersion;
  j["path"] = source.path;
  j["file_bytes"] = source.file_bytes;
  j["external_data_bytes"] = source.data_bytes;
  j["total_bytes"] = source.file_bytes + source.data_bytes;
  j["external_data_files"] = source.data_files;
  j["ir_version"] = model.ir_version;
  json opsets = json::array();
  for (const auto& op : model.opset_imports)
    opsets.push_back({{"domain", domain_name(op.domain)}, {"version", op.version}});
  j["opset_imports"] = opsets;
  j["producer"] = {{"name", model.producer_name}, {"version", model.producer_version}};
  j["model_version"] = model.model_version;
  json meta = json::object();
  for (const auto& [k, v] : model.metadata_props) meta[k] = v;
  j["metadata"] = meta;

  const Graph& g = *model.graph;
  json inputs = json::array(), outputs = json::array();
  for (Value* v : g.inputs())
    if (!v->is_initializer()) inputs.push_back(value_json(*v));
  for (Value* v : g.outputs()) outputs.push_back(value_json(*v));
  j["inputs"] = inputs;
  j["outputs"] = outputs;

  std::map<std::pair<std::string, std::string>, int> ops;
  int total_nodes = 0, subgraphs = -1;
  uint64_t initializers = 0;
  g.for_each_graph([&](const Graph& sub) {
    ++subgraphs;
    initializers += sub.initializers().size() + sub.sparse_initializers().size();
    for (const auto& n : sub.nodes()) {
      ++ops[{domain_name(n->domain()), n->op_type()}];
      ++total_nodes;
    }
  });
  j["node_count"] = g.nodes().size();
  j["node_count_with_subgraphs"] = total_nodes;
  json op_types = json::array(), quantized = json::array();
  for (const auto& [key, count] : ops) {
    json entry = {{"domain", key.first}, {"op_type", key.second}, {"count", count}};
    op_types.push_back(entry);
    if (is_quantized_op(key.first == "ai.onnx" ? "" : key.first, key.second)) quantized.push_back(entry);
  }
  j["op_types"] = op_types;
  j["quantized_ops"] = quantized;
  j["is_quantized"] = !quantized.empty();
  j["subgraph_count"] = subgraphs;
  j["initializer_count"] = initializers;

  std::map<std::string, std::pair<uint64_t, uint64_t>> by_dtype;
  uint64_t params = 0, weight_bytes = 0;
  for (const WeightInfo& w : collect_weights(model)) {
    auto& [p, b] = by_dtype[std::string(dtype_name(w.dtype))];
    p += w.params;
    b += w.bytes;
    params += w.params;
    weight_bytes += w.bytes;
  }
  json dtypes = json::array();
  for (const auto& [name, pb] : by_dtype)
    dtypes.push_back({{"dtype", name}, {"params", pb.first}, {"bytes", pb.second}});
  j["parameter_count"] = params;
  j["parameter_bytes"] = weight_bytes;
  j["parameters_by_dtype"] = dtypes;
  j["functions"] = model.function_ids;
  j["training_info_count"] = model.training_info_count;
  j["checked_by_onnx_checker"] = source.checked;
  j["warnings"] = source.warnings;
  return j;
}

std::string inspect_text(const json& j) {
  std::ostringstream out;
  auto shape_text = [](const json& shape) {
    if (shape.is_null()) return std::string("?");
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i) s += ", ";
      if (shape[i].is_null()) s += "?";
      else if (shape[i].is_string()) s += shape[i].get<std::string>();
      else s += std::to_string(shape[i].get<int64_t>());
    }
    return s + "]";
  };
  out << "model:        " << j["path"].get<std::string>() << "\n";
  out << "size:         " << j["total_bytes"].get<uint64_t>() << " bytes";
  if (j["external_data_bytes"].get<uint64_t>() > 0)
    out << " (" << j["file_bytes"].get<uint64_t>() << " model + "
        << j["external_data_bytes"].get<uint64_t>() << " external data)";
  out << "\n";
  out << "ir version:   " << j["ir_version"].get<int64_t>() << "\n";
  out << "opsets:      ";
  for (const auto& op : j["opset_imports"])
    out << " " << op["domain"].get<std::string>() << " " << op["version"].get<int64_t>();
  out << "\n";
  const auto& producer = j["producer"];
  out << "producer:     " << producer["name"].get<std::string>() << " "
      << producer["version"].get<std::string>() << "\n";
  for (const char* which : {"inputs", "outputs"}) {
    out << which << ":\n";
    for (const auto& v : j[which])
      out << "  " << v["name"].get<std::string>() << "  " << v["dtype"].get<std::string>() << " "
          << shape_text(v["shape"]) << "\n";
  }
  out << "nodes:        " << j["node_count"].get<int64_t>();
  if (j["node_count_with_subgraphs"] != j["node_count"])
    out << " (" << j["node_count_with_subgraphs"].get<int64_t>() << " with "
        << j["subgraph_count"].get<int64_t>() << " subgraphs)";
  out << "\n";
  out << "op types:\n";
  for (const auto& op : j["op_types"]) {
    std::string domain = op["domain"].get<std::string>();
    out << "  " << (domain == "ai.onnx" ? "" : domain + "::") << op["op_type"].get<std::string>()
        << "  " << op["count"].get<int64_t>() << "\n";
  }
  out << "initializers: " << j["initializer_count"].get<uint64_t>() << "\n";
  out << "parameters:   " << j["parameter_count"].get<uint64_t>() << " ("
      << j["parameter_bytes"].get<uint64_t>() << " bytes)\n";
  for (const auto& d : j["parameters_by_dtype"])
    out << "  " << d["dtype"].get<std::string>() << "  " << d["params"].get<uint64_t>()
        << " params, " << d["bytes"].get<uint64_t>() << " bytes\n";
  if (!j["functions"].empty()) out << "functions:    " << j["functions"].size() << "\n";
  out << "quantized:    " << (j["is_quantized"].get<bool>() ? "yes" : "no");
  for (const auto& op : j["quantized_ops"])
    out << " " << op["op_type"].get<std::string>() << "×" << op["count"].get<int64_t>();
  out << "\n";
  return out.str();
}

}  // namespace edgeq
