// The reference executor: runs an edgeq IR graph on the CPU. Calibration, evaluation and
// `edgeq run` all go through it, so its results are the product's results.
//
// Results are bitwise identical for any thread count: kernels split work into chunks whose
// boundaries depend only on the problem, never on the number of threads, and no reduction
// crosses a chunk boundary (see ThreadPool).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edgeq/ir/graph.h"

namespace edgeq {

// A runtime value: a tensor, a sequence of tensors, or an empty optional.
struct RtValue {
  enum class Kind { kTensor, kSequence, kNone };
  Kind kind = Kind::kTensor;
  Tensor tensor;
  std::vector<Tensor> sequence;

  RtValue() = default;
  RtValue(Tensor t) : tensor(std::move(t)) {}  // NOLINT: a tensor is the common case
  static RtValue make_sequence(std::vector<Tensor> items) {
    RtValue v;
    v.kind = Kind::kSequence;
    v.sequence = std::move(items);
    return v;
  }
  static RtValue none() {
    RtValue v;
    v.kind = Kind::kNone;
    return v;
  }
};

struct ExecutorOptions {
  int threads = 0;  // 0: all cores
};

class ThreadPool;
class KernelRegistry;
struct ExecutorState;

class Executor {
 public:
  // Resolves a kernel for every node (recursing into subgraphs). Throws kUnsupported naming the
  // op, its domain and opset version, and the node when one is missing.
  Executor(const Model& model, ExecutorOptions options = {});
  ~Executor();

  // Runs the main graph. `feeds` maps graph input names to values; inputs that are initializers
  // may be omitted. Missing or mistyped inputs throw kInvalidData. Returns the graph outputs in
  // order, named.
  std::vector<std::pair<std::string, RtValue>> run(const std::map<std::string, RtValue>& feeds);

  // Called after every node with its outputs, for calibration observers and per-layer reports.
  using NodeObserver = std::function<void(const Node&, const std::vector<const RtValue*>&)>;
  void set_observer(NodeObserver observer) { observer_ = std::move(observer); }

  const Model& model() const { return model_; }
  ThreadPool& pool() { return *pool_; }

  // Runs a subgraph with its formal inputs bound to `inputs`; outer-scope names resolve to the
  // values of the frame that is running the owning node. Used by If/Loop/Scan kernels.
  struct Frame;
  std::vector<RtValue> run_graph(const Graph& graph, const std::vector<RtValue>& inputs,
                                 const Frame* parent);

 private:
  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;
  const KernelRegistry& registry_;
  std::unique_ptr<ExecutorState> state_;  // kernel plan per graph, initializer values
  NodeObserver observer_;
};

// Checks a feed against the graph input's declared type (dtype, rank, fixed dims); throws
// kInvalidData naming the input.
void check_feed(const Value& input, const RtValue& value);

}  // namespace edgeq
