// INT8 quantization passes (src/passes/quantize/).
//
// What to quantize is decided apart from how to rewrite it. The selector side is one table of
// op policies (src/passes/quantize/policy.cc): which inputs of an op are activations, which is
// its weight (and along which axis a per-channel scale runs), which is its bias, and whether its
// output gets its own range, shares its input's range (data movement: Reshape, MaxPool, ...) or
// can be dropped into the producer's range (Relu, Clip). The actions are:
//   quantize_dynamic    weights stored as INT8; MatMul/Gemm become DynamicQuantizeLinear +
//                       MatMulInteger + scale multiply (+ bias add), Conv reads its INT8 weight
//                       through DequantizeLinear, Gather on a constant table gathers INT8 rows;
//   quantize_static     QuantizeLinear/DequantizeLinear pairs on activations with ranges from
//                       calibration, INT8 weights and INT32 biases behind DequantizeLinear (QDQ);
//   qdq_to_qoperator    QDQ groups → QLinearConv, QLinearMatMul and the com.microsoft QLinear*
//                       ops, QDQ pairs between them dropped.
// The quantize arithmetic itself is include/edgeq/quant.h, shared with the runtime kernels.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "edgeq/calib/calibrate.h"
#include "edgeq/passes/pass.h"

namespace edgeq {

enum class QuantFormat { kQdq, kQOperator };

struct QuantizeOptions {
  QuantFormat format = QuantFormat::kQdq;
  bool per_channel = true;           // per output channel weight scales where the op allows
  bool weight_signed = true;         // s8 symmetric weights; false: u8 asymmetric
  bool activation_signed = false;    // static: u8 (default) or s8 activations
  bool symmetric_activations = false;
  bool reduce_range = false;         // 7-bit weights (older CPUs without VNNI saturate u8×s8)
  std::set<std::string> exclude_nodes;     // node names
  std::set<std::string> exclude_op_types;
  std::set<std::string> op_types;          // empty: every op type the mode quantizes
  // When set, quantized weights of 1 MiB and more go to an unlinked scratch file in this
  // folder instead of memory, so quantizing a model much larger than RAM streams.
  std::string spill_dir;
};

// One weight (or bias, or constant input) stored quantized.
struct QuantizedTensorInfo {
  std::string name;  // the original tensor
  std::vector<int64_t> shape;
  DType before = DType::kUndefined;
  DType after = DType::kUndefined;
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;  // quantized values + scales + zero points
  bool per_channel = false;
};

struct QuantizeSummary {
  std::vector<QuantizedTensorInfo> tensors;
  std::map<std::string, int> quantized_nodes;  // op type → nodes rewritten
  std::vector<std::string> activations;        // static: activation tensors given QDQ pairs
  std::vector<std::string> unreached;          // static: left float, calibration never saw them
  std::vector<std::string> skipped;            // "node 'x' (MatMul): weight is not constant", ...
};

// The op types each mode quantizes by default.
const std::set<std::string>& dynamic_op_types();
const std::set<std::string>& static_op_types();

QuantizeSummary quantize_dynamic(Model& model, const QuantizeOptions& options, PassContext& ctx);

// The activation tensors static quantization needs ranges for (calibrate these).
std::set<std::string> static_calibration_tensors(const Model& model, const QuantizeOptions& options);
QuantizeSummary quantize_static(Model& model, const QuantizeOptions& options,
                                const CalibrationTable& table, PassContext& ctx);

// Rewrites QDQ groups into QOperator ops; returns the number of nodes converted.
int qdq_to_qoperator(Model& model, PassContext& ctx);

}  // namespace edgeq
