// Shared helpers of the kernel unit tests: a copyable attribute description, tensor builders and
// readers, and run_node, which builds a one-node model and runs it through the Executor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "edgeq/ir/graph.h"
#include "edgeq/runtime/executor.h"

namespace edgeq::test {

// Builds a subgraph: gets the graph and adds inputs, nodes and outputs to it.
using GraphBuilder = std::function<void(Graph&)>;

// A copyable attribute description (edgeq::Attribute owns subgraphs, so it is move-only), turned
// into an Attribute when the node is built.
struct AttrSpec {
  std::string name;
  AttrType type = AttrType::kUndefined;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  GraphBuilder graph;
};
inline AttrSpec attr_spec(const std::string& name, AttrType type) {
  AttrSpec a;
  a.name = name;
  a.type = type;
  return a;
}
inline AttrSpec attr_int(const std::string& n, int64_t v) {
  AttrSpec a = attr_spec(n, AttrType::kInt);
  a.i = v;
  return a;
}
inline AttrSpec attr_float(const std::string& n, float v) {
  AttrSpec a = attr_spec(n, AttrType::kFloat);
  a.f = v;
  return a;
}
inline AttrSpec attr_str(const std::string& n, const std::string& v) {
  AttrSpec a = attr_spec(n, AttrType::kString);
  a.s = v;
  return a;
}
inline AttrSpec attr_ints(const std::string& n, std::vector<int64_t> v) {
  AttrSpec a = attr_spec(n, AttrType::kInts);
  a.ints = std::move(v);
  return a;
}
inline AttrSpec attr_floats(const std::string& n, std::vector<float> v) {
  AttrSpec a = attr_spec(n, AttrType::kFloats);
  a.floats = std::move(v);
  return a;
}
inline AttrSpec attr_strs(const std::string& n, std::vector<std::string> v) {
  AttrSpec a = attr_spec(n, AttrType::kStrings);
  a.strings = std::move(v);
  return a;
}
inline AttrSpec attr_graph(const std::string& n, GraphBuilder b) {
  AttrSpec a = attr_spec(n, AttrType::kGraph);
  a.graph = std::move(b);
  return a;
}

// Runs one node `op` of `domain` at `opset` and returns its `outputs` outputs. Inputs that are
// std::nullopt are omitted ("" in the model). A node of a non-default domain also imports the
// default domain at opset 21.
inline std::vector<RtValue> run_node_values(const std::string& op, const std::vector<std::optional<RtValue>>& inputs,
                                            const std::vector<AttrSpec>& attrs, int64_t opset,
                                            const std::string& domain, int threads, size_t outputs) {
  Model model;
  model.ir_version = 8;
  if (domain.empty()) {
    model.opset_imports.push_back({"", opset});
  } else {
    model.opset_imports.push_back({"", 21});
    model.opset_imports.push_back({domain, opset});
  }
  model.graph = std::make_unique<Graph>();
  Graph& g = *model.graph;
  std::vector<Value*> ins, outs;
  std::map<std::string, RtValue> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    Value* v = g.add_value(name);
    g.add_input(v);
    ins.push_back(v);
    feeds[name] = *inputs[i];
  }
  for (size_t i = 0; i < outputs; ++i) outs.push_back(g.add_value("out" + std::to_string(i)));
  Node* node = g.add_node(op, domain, ins, outs);
  for (const AttrSpec& a : attrs) {
    Attribute attr;
    attr.name = a.name;
    attr.type = a.type;
    attr.i = a.i;
    attr.f = a.f;
    attr.s = a.s;
    attr.ints = a.ints;
    attr.floats = a.floats;
    attr.strings = a.strings;
    if (a.graph) {
      attr.graphs.push_back(std::make_unique<Graph>(node));
      attr.graphs[0]->name = a.name;
      a.graph(*attr.graphs[0]);
    }
    node->attributes().push_back(std::move(attr));
  }
  for (Value* v : outs) g.add_output(v);
  ExecutorOptions options;
  options.threads = threads;
  Executor ex(model, options);
  std::vector<RtValue> result;
  for (auto& [name, value] : ex.run(feeds)) result.push_back(std::move(value));
  return result;
}

// The same over tensors: a default-constructed Tensor input (kUndefined) is an omitted input.
inline std::vector<Tensor> run_node(const std::string& op, const std::vector<Tensor>& inputs,
                                    const std::vector<AttrSpec>& attrs = {}, int64_t opset = 17,
                                    const std::string& domain = "", int threads = 2, size_t outputs = 1) {
  std::vector<std::optional<RtValue>> values;
  for (const Tensor& t : inputs) {
    if (t.dtype() == DType::kUndefined)
      values.emplace_back(std::nullopt);
    else
      values.emplace_back(RtValue(t));
  }
  std::vector<Tensor> result;
  for (RtValue& v : run_node_values(op, values, attrs, opset, domain, threads, outputs))
    result.push_back(v.tensor);
  return result;
}

// One default-domain node; returns its only output.
inline Tensor run_op(const std::string& op, const std::vector<Tensor>& inputs, const std::vector<AttrSpec>& attrs = {},
                     int64_t opset = 17, int threads = 2) {
  return run_node(op, inputs, attrs, opset, "", threads).at(0);
}

// ---- tensors ----

template <class T>
Tensor make(DType d, std::vector<int64_t> dims, std::vector<T> v) {
  return Tensor::from_values<T>(d, std::move(dims), std::span<const T>(v));
}
inline Tensor f32(std::vector<int64_t> dims, std::vector<float> v) { return make<float>(DType::kFloat, dims, v); }
inline Tensor f64(std::vector<int64_t> dims, std::vector<double> v) { return make<double>(DType::kDouble, dims, v); }
inline Tensor i64(std::vector<int64_t> dims, std::vector<int64_t> v) { return make<int64_t>(DType::kInt64, dims, v); }
inline Tensor i32(std::vector<int64_t> dims, std::vector<int32_t> v) { return make<int32_t>(DType::kInt32, dims, v); }
inline Tensor u8(std::vector<int64_t> dims, std::vector<uint8_t> v) { return make<uint8_t>(DType::kUint8, dims, v); }
inline Tensor i8(std::vector<int64_t> dims, std::vector<int8_t> v) { return make<int8_t>(DType::kInt8, dims, v); }

template <class T>
std::vector<T> vals(const Tensor& t) {
  auto s = t.values<T>();
  return {s.begin(), s.end()};
}
inline std::vector<float> floats(const Tensor& t) { return vals<float>(t); }
inline std::vector<float> floats(const RtValue& v) { return vals<float>(v.tensor); }
inline std::vector<int64_t> ints(const Tensor& t) { return vals<int64_t>(t); }

}  // namespace edgeq::test
