#include "passes/prune/prune_storage.h"

#include <zstd.h>

#include <set>
#include <string>

#include "edgeq/error.h"
#include "edgeq/ir/sparse.h"
#include "runtime/thread_pool.h"

namespace edgeq::pruning {

namespace {

// Sparse initializers (GraphProto.sparse_initializer) exist from IR version 6 (ONNX 1.6).
constexpr int64_t kSparseInitializerIrVersion = 6;

}  // namespace

uint64_t zstd_compressed_size(std::span<const std::byte> bytes) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), kZstdLevel);
  EDGEQ_CHECK(!ZSTD_isError(n), std::string("zstd: ") + ZSTD_getErrorName(n));
  return n;
}

std::vector<WeightStorage> measure_and_store(Model& model, const PruneSummary& summary, bool sparse_storage,
                                             PassContext& ctx) {
  // The weight of each pruned layer, by name: the first initializer of that name not claimed by
  // an earlier layer, in the order prune() lists them (outer graphs first).
  std::vector<Value*> weights(summary.layers.size(), nullptr);
  std::set<const Value*> claimed;
  for (size_t i = 0; i < summary.layers.size(); ++i) {
    if (!summary.layers[i].pruned) continue;
    model.graph->for_each_graph([&](Graph& g) {
      if (weights[i] != nullptr) return;
      Value* v = g.find_value(summary.layers[i].weight);
      if (v != nullptr && v->is_initializer() && !claimed.count(v)) weights[i] = v;
    });
    if (weights[i] != nullptr) claimed.insert(weights[i]);
  }

  std::vector<WeightStorage> out(summary.layers.size());
  std::vector<std::string> sparse(summary.layers.size());
  ThreadPool pool(ctx.threads);
  pool.for_each_item(static_cast<int64_t>(weights.size()), 1, 1, [&](int64_t i) {
    const Value* v = weights[static_cast<size_t>(i)];
    if (v == nullptr) return;
    const Tensor& t = *v->initializer();
    WeightStorage& s = out[static_cast<size_t>(i)];
    s.dense_bytes = t.byte_size();
    s.zstd_bytes = zstd_compressed_size(t.bytes());
    sparse[static_cast<size_t>(i)] = serialize_sparse_tensor(v->name(), t);
    s.sparse_bytes = sparse[static_cast<size_t>(i)].size();
  });
  if (!sparse_storage) return out;
  if (model.ir_version < kSparseInitializerIrVersion) {
    ctx.warnings.push_back("--sparse-storage: sparse initializers need IR version 6 and the model is IR " +
                           std::to_string(model.ir_version) + "; weights stay dense");
    return out;
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    Value* v = weights[i];
    if (v == nullptr || out[i].sparse_bytes >= out[i].dense_bytes) continue;
    Graph& g = *v->graph();
    g.remove_initializer(v);
    g.add_sparse_initializer(v->name(), std::move(sparse[i]));
    out[i].stored_sparse = true;
  }
  return out;
}

}  // namespace edgeq::pruning
