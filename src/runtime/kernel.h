// What a kernel sees. A kernel is a plain function `void(KernelContext&)` registered under
// (domain, op type, opset range) in registry.cc; it reads inputs and attributes through the
// context and sets its outputs. Input-driven problems are reported with ctx.fail(...), which
// names the node. See kernels/TEMPLATE.cc.txt for the shape of a new kernel family.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/runtime/executor.h"
#include "runtime/thread_pool.h"

namespace edgeq {

class KernelContext {
 public:
  KernelContext(Executor& executor, const Node& node, int64_t opset,
                std::vector<const RtValue*> inputs, std::vector<RtValue>& outputs,
                const Executor::Frame* frame)
      : executor_(executor), node_(node), opset_(opset), inputs_(std::move(inputs)),
        outputs_(outputs), frame_(frame) {}

  const Node& node() const { return node_; }
  // The opset version the model imports for this node's domain.
  int64_t opset() const { return opset_; }
  ThreadPool& pool() { return executor_.pool(); }

  size_t input_count() const { return inputs_.size(); }
  // nullptr when the input is omitted ("" in the model) or past the end.
  const RtValue* input_value(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  // The tensor of an input, nullptr when omitted or an empty optional.
  const Tensor* input(size_t i) const {
    const RtValue* v = input_value(i);
    return v && v->kind == RtValue::Kind::kTensor ? &v->tensor : nullptr;
  }
  // Like input(), but a missing input is an error naming the node.
  const Tensor& required_input(size_t i) const;

  size_t output_count() const { return outputs_.size(); }
  // False when the model omits that output ("").
  bool output_wanted(size_t i) const { return i < node_.outputs().size() && node_.output(i) != nullptr; }
  void set_output(size_t i, Tensor t) { outputs_.at(i) = RtValue(std::move(t)); }
  void set_output_value(size_t i, RtValue v) { outputs_.at(i) = std::move(v); }

  bool has_attr(const std::string& name) const { return node_.attr(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  float attr_float(const std::string& name, float fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> fallback = {}) const;
  const Tensor* attr_tensor(const std::string& name) const;
  const Graph* attr_graph(const std::string& name) const;

  // Runs a subgraph attribute (If/Loop/Scan bodies) with its inputs bound in order.
  std::vector<RtValue> run_subgraph(const Graph& graph, const std::vector<RtValue>& inputs) {
    return executor_.run_graph(graph, inputs, frame_);
  }

  // Input-driven failure (bad shapes, bad values): kInvalidData by default.
  [[noreturn]] void fail(const std::string& reason, ErrorKind kind = ErrorKind::kInvalidData) const;
  // Dtype or attribute combination this kernel does not implement: kUnsupported.
  [[noreturn]] void unsupported(const std::string& reason) const {
    fail(reason, ErrorKind::kUnsupported);
  }

 private:
  Executor& executor_;
  const Node& node_;
  int64_t opset_;
  std::vector<const RtValue*> inputs_;
  std::vector<RtValue>& outputs_;
  const Executor::Frame* frame_;
};

using KernelFn = void (*)(KernelContext&);

struct KernelDef {
  std::string_view domain;  // "" for ai.onnx, "com.microsoft", ...
  std::string_view op_type;
  int since_version;  // first opset version this kernel implements
  int last_version;   // last one (kLatestOpset when it tracks the newest)
  KernelFn fn;
};

inline constexpr int kLatestOpset = 23;

class KernelRegistry {
 public:
  void add(const KernelDef& def) { defs_.push_back(def); }
  void add(std::string_view domain, std::string_view op_type, KernelFn fn, int since = 1,
           int last = kLatestOpset) {
    defs_.push_back({domain, op_type, since, last, fn});
  }
  const KernelDef* find(std::string_view domain, std::string_view op_type, int64_t version) const;
  const std::vector<KernelDef>& all() const { return defs_; }

 private:
  std::vector<KernelDef> defs_;
};

// The registry with every kernel family (built once; see kernels/registry.cc).
const KernelRegistry& kernel_registry();

// ---- helpers shared by kernel families ----

// Numpy-style multidirectional broadcasting of two or more shapes; nullopt when incompatible.
std::optional<std::vector<int64_t>> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes);

// For an output of shape `out` and an input of shape `in` (broadcastable to `out`), the strides
// to step through the input while iterating the output in row-major order (0 on broadcast axes).
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& in, const std::vector<int64_t>& out);

// Element count of a shape (shapes here are already validated).
int64_t shape_size(const std::vector<int64_t>& dims);

// Normalizes a possibly negative axis against `rank`; fails through ctx when out of range.
int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank);

// Reads an int64 or int32 tensor (shape inputs, axes, pads...) as int64 values.
std::vector<int64_t> read_int_list(const KernelContext& ctx, const Tensor& t);

// Calls f(T{}) with T the C++ type of `dtype` (float, double, Eigen::half, Eigen::bfloat16,
// int8..int64, uint8..uint64, bool); anything else fails as unsupported.
template <class F>
void dispatch_dtype(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat: f(float{}); break;
    case DType::kDouble: f(double{}); break;
    case DType::kFloat16: f(Eigen::half{}); break;
    case DType::kBfloat16: f(Eigen::bfloat16{}); break;
    case DType::kInt8: f(int8_t{}); break;
    case DType::kInt16: f(int16_t{}); break;
    case DType::kInt32: f(int32_t{}); break;
    case DType::kInt64: f(int64_t{}); break;
    case DType::kUint8: f(uint8_t{}); break;
    case DType::kUint16: f(uint16_t{}); break;
    case DType::kUint32: f(uint32_t{}); break;
    case DType::kUint64: f(uint64_t{}); break;
    case DType::kBool: f(bool{}); break;
    default:
      ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " is not supported by this kernel");
  }
}

// The DType of a C++ element type.
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kFloat; }
template <> constexpr DType dtype_of<double>() { return DType::kDouble; }
template <> constexpr DType dtype_of<Eigen::half>() { return DType::kFloat16; }
template <> constexpr DType dtype_of<Eigen::bfloat16>() { return DType::kBfloat16; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kInt8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::kInt16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kInt32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kInt64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kUint8; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::kUint16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kUint32; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::kUint64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

}  // namespace edgeq
