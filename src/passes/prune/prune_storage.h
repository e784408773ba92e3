// How pruned weights are stored, and what each storage costs: the dense float32 bytes, an ONNX
// sparse initializer (SparseTensorProto: values + INT64 linearized indices, so 12 bytes per
// non-zero float and smaller than dense only above 2/3 sparsity) and zstd of the dense bytes
// (what a compressed download of the file pays).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "edgeq/passes/prune.h"

namespace edgeq::pruning {

// zstd level of the reported compressed size: zstd's default, a common choice for shipping
// files; higher levels change the figure by a few percent at many times the time.
constexpr int kZstdLevel = 3;

struct WeightStorage {
  uint64_t dense_bytes = 0;   // the tensor's raw bytes
  uint64_t sparse_bytes = 0;  // the serialized SparseTensorProto
  uint64_t zstd_bytes = 0;    // zstd (kZstdLevel) of the raw bytes
  bool stored_sparse = false;
};

// Size of `bytes` compressed by zstd at kZstdLevel (deterministic for given bytes and level).
uint64_t zstd_compressed_size(std::span<const std::byte> bytes);

// One entry per summary.layers entry, measured for the layers whose weight is still a dense
// initializer of that name after pruning (left dense or channel-pruned-away ones stay 0). With
// `sparse_storage`, each pruned weight whose sparse form is smaller than its dense bytes becomes
// a sparse initializer of the same name (ONNX Runtime densifies it at load). Sparse initializers
// need IR 6: an older model keeps dense weights and gets a warning in ctx.
std::vector<WeightStorage> measure_and_store(Model& model, const PruneSummary& summary, bool sparse_storage,
                                             PassContext& ctx);

}  // namespace edgeq::pruning
