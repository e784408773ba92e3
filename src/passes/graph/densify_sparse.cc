// densify_sparse: every sparse initializer (GraphProto.sparse_initializer, a SparseTensorProto,
// e.g. written by `edgeq prune --sparse-storage`) becomes a dense initializer of the same name,
// dtype and shape. onnx.proto defines the dense value as zeros except at the listed indices, which
// is what sparse_tensor_to_dense builds, so every node reads the same tensor. Graph inputs and
// outputs keep their names (a sparse initializer listed as a graph input stays listed: the
// Value does not change, only how its constant is stored).
//
// The passes that need constant weights (fold_constants, the quantizers, pruning) look at dense
// initializers only; `edgeq quantize` and `edgeq prune` run this pass first so a sparse weight is
// quantized or pruned like any other. A malformed sparse tensor throws kInvalidModel naming it.
#include <string>

#include "edgeq/error.h"
#include "edgeq/ir/sparse.h"
#include "edgeq/passes/pass.h"
#include "passes/passes.h"

namespace edgeq::passes {

namespace {

std::string sparse_what(const Graph& g, const Value& v) {
  std::string what = "sparse initializer '" + v.name() + "'";
  if (g.owner() != nullptr) what += " of the subgraph of " + g.owner()->describe();
  return what;
}


}  // namespace

PassResult densify_sparse(Model& model, PassContext& ctx) {
  int densified = 0;
  uint64_t sparse_bytes = 0, dense_bytes = 0;
  // Densify every tensor first: a malformed one throws before the model changed.
  struct Pending {
    Graph* graph;
    Value* value;
    Tensor dense;
  };
  std::vector<Pending> pending;
  model.graph->for_each_graph([&](Graph& g) {
    for (Value* v : g.sparse_initializers()) {
      Tensor dense = sparse_tensor_to_dense(v->sparse_initializer(), sparse_what(g, *v));
      sparse_bytes += v->sparse_initializer().size();
      dense_bytes += dense.bytes().size();
      pending.push_back({&g, v, std::move(dense)});
    }
  });
  for (Pending& p : pending) {
    const std::string name = p.value->name();
    const uint64_t sparse_size = p.value->sparse_initializer().size();
    const uint64_t dense_size = p.dense.bytes().size();
    p.graph->remove_sparse_initializer(p.value);
    p.graph->add_initializer(name, std::move(p.dense));
    ctx.note("densified " + name + ": " + std::to_string(sparse_size) + " B sparse -> " +
             std::to_string(dense_size) + " B dense");
    ++densified;
  }
  PassResult result;
  result.changes = densified;
  result.summary = "densified " + std::to_string(densified) + " sparse initializers (" +
                   std::to_string(sparse_bytes) + " B sparse -> " + std::to_string(dense_bytes) +
                   " B dense)";
  return result;
}

}  // namespace edgeq::passes
