// Shared by the quantization passes: the op policy table (selectors), weight quantization with
// optional spilling to a scratch file, and the small graph edits every action makes.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgeq/passes/quantize.h"
#include "edgeq/quant.h"

namespace edgeq {
class ThreadPool;
}

namespace edgeq::quantize {

// ---- selectors ----

enum class OutputRule {
  kOwnRange,     // the output gets its own calibrated range (Conv, Add, AveragePool, ...)
  kSharedRange,  // the output has the input's range: data movement (Reshape, MaxPool, ...)
  kFoldable,     // Relu/Clip: dropped into the producer's output range when that is exact
};

struct OpPolicy {
  const char* op_type;
  OutputRule output;
  std::vector<int> activations;  // input indices quantized as activations; {-1}: every input
  int weight = -1;               // input index of the weight (-1: none)
  int bias = -1;                 // input index of the bias (-1: none)
};

// The static-quantization policy of an op type (default domain), or nullptr.
const OpPolicy* static_policy(const std::string& op_type);
std::vector<const char*> static_policy_ops();

// The per-channel axis of a node's weight (-1: only per-tensor makes sense).
int64_t weight_axis(const Node& node, const Tensor& weight);

// True when the node is to be quantized under `options` and the mode's op set.
bool selected(const Node& node, const QuantizeOptions& options, const std::set<std::string>& mode_ops);

// ---- weights ----

// A constant float32 tensor behind `v`: an initializer of v's graph (seen from any subgraph).
const Tensor* float_constant(const Value* v);

struct WeightSpec {
  bool is_signed = true;
  bool symmetric = true;
  bool reduce_range = false;
  int64_t axis = -1;  // -1: per-tensor
  // Leave out the zero-point input when it is 0 (s8 symmetric): ONNX defaults it to 0, and a
  // per-channel vector of zeros costs a byte per channel. QLinear* ops need it, so static
  // quantization keeps it.
  bool omit_zero_zero_point = false;
  // 2-D weights only: store the quantized tensor transposed ([N, K] → [K, N], Gemm with
  // transB); `axis` still names the axis of the original tensor.
  bool transpose = false;
};

struct QuantizedWeight {
  Value* q = nullptr;
  Value* scale = nullptr;
  Value* zero_point = nullptr;  // nullptr when omitted (0)
  int64_t axis = -1;
  std::vector<float> scales;  // host copy, for bias scales
};

// Integer range of weights under a spec: s8 symmetric [-127, 127] (7-bit [-63, 63]),
// u8 [0, 255] (7-bit [0, 127]).
quant::QRange weight_range(const WeightSpec& spec);

// Adds quantized weights to graphs and remembers what it did (for the log and the report).
// One instance per quantization run.
class WeightQuantizer {
 public:
  WeightQuantizer(const QuantizeOptions& options, PassContext& ctx, QuantizeSummary& summary);
  ~WeightQuantizer();

  // Quantizes the float32 initializer `w` and adds q / scale / zero-point initializers to
  // `graph` (w's graph). Cached: the same weight with the same spec is quantized once.
  const QuantizedWeight& weight(Graph& graph, Value* w, const WeightSpec& spec);

  // A float32 bias quantized to int32 with scale[c] = input_scale × weight_scale[c], zero
  // point 0 (the scale is a scalar when both are per-tensor).
  QuantizedWeight bias(Graph& graph, Value* b, float input_scale, const std::vector<float>& weight_scales);

  // A tensor quantized with given activation parameters (constant inputs of Add, Mul, Concat).
  QuantizedWeight constant_activation(Graph& graph, Value* c, quant::QParams params, bool is_signed);

  // Stores a finished quantized tensor: in memory, or in the scratch file when spilling.
  Tensor store(Tensor t);

  // Once the float originals are dropped, each quantized tensor takes its original's name, so
  // the file (and the size report) shows "W: float32 → int8" rather than a new tensor.
  void take_original_names();

 private:
  void record(const Value* w, const Tensor& source, const Tensor& q, uint64_t param_bytes, bool per_channel);

  const QuantizeOptions& options_;
  PassContext& ctx_;
  QuantizeSummary& summary_;
  std::map<std::pair<const Value*, std::string>, QuantizedWeight> cache_;
  std::vector<std::pair<std::string, Value*>> renames_;  // original name → quantized value
  struct Spill;
  std::unique_ptr<Spill> spill_;
  std::unique_ptr<ThreadPool> pool_;
};

// ---- graph edits ----

// Float32 scalar / 1-D initializers.
Value* add_float_initializer(Graph& g, const std::string& base, const std::vector<float>& values, bool scalar);
// A zero-point initializer of the given integer type (scalar or 1-D).
Value* add_zero_point(Graph& g, const std::string& base, DType type, const std::vector<int32_t>& values, bool scalar);

// Begins replacing `out` (an output of a node about to be removed): returns a new value that
// takes out's name, type information and value_info entry; `out` gets a placeholder name.
// Finish with finish_take_over once the new producer exists.
Value* take_over(Graph& g, Value* out);
// Moves every use of `old_out` (graph outputs too) to `fresh` and removes `old_node`.
void finish_take_over(Graph& g, Node* old_node, Value* old_out, Value* fresh);


// ONNX elem type of a value when known (initializer, value_info or graph input type).
DType known_dtype(const Value* v);

// Makes sure the model imports `domain` (e.g. "com.microsoft" version 1).
void ensure_opset(Model& model, const std::string& domain, int64_t version);

}  // namespace edgeq::quantize
