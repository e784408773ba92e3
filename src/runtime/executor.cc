#include "edgeq/runtime/executor.h"

#include <set>
#include <unordered_map>

#include "edgeq/ir/sparse.h"
#include "runtime/kernel.h"

namespace edgeq {

namespace {

struct GraphPlan {
  std::vector<KernelFn> kernels;                    // per node
  std::vector<int64_t> opsets;                      // per node
  std::vector<std::vector<const Value*>> release;   // values dead after node i
};

// Values of `graph` (or its ancestors) read anywhere inside `sub`.
void collect_reads(const Graph& sub, std::set<const Value*>& out) {
  sub.for_each_graph([&](const Graph& g) {
    for (const auto& n : g.nodes())
      for (Value* v : n->inputs())
        if (v) out.insert(v);
  });
}

// How messages name a sparse initializer: with its graph when that is a subgraph.
std::string sparse_what(const Graph& g, const Value& v) {
  std::string what = "sparse initializer '" + v.name() + "'";
  if (g.owner() != nullptr) what += " of the subgraph of " + g.owner()->describe();
  return what;
}

bool is_constant(const Value& v) { return v.is_initializer() || v.is_sparse_initializer(); }

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

struct Executor::Frame {
  const Graph* graph;
  const Frame* parent;
  std::unordered_map<const Value*, RtValue> values;

  const RtValue* find(const Value* v) const {
    for (const Frame* f = this; f != nullptr; f = f->parent) {
      auto it = f->values.find(v);
      if (it != f->values.end()) return &it->second;
    }
    return nullptr;
  }
};

// Per-executor state that does not belong in the public header.
struct ExecutorState {
  std::unordered_map<const Graph*, GraphPlan> plans;
  std::unordered_map<const Value*, RtValue> initializers;
};

Executor::Executor(const Model& model, ExecutorOptions options)
    : model_(model), pool_(std::make_unique<ThreadPool>(options.threads)), registry_(kernel_registry()) {
  auto state = std::make_unique<ExecutorState>();
  std::vector<std::string> missing;
  std::set<std::string> missing_ops;
  model.graph->for_each_graph([&](const Graph& g) {
    GraphPlan& plan = state->plans[&g];
    for (Value* v : g.initializers()) state->initializers.emplace(v, RtValue(*v->initializer()));
    // Sparse initializers (onnx.proto SparseTensorProto, e.g. from `prune --sparse-storage`) are
    // densified once here, as ONNX Runtime does at session creation: kernels see plain tensors.
    // A malformed one throws kInvalidModel naming it, before anything runs.
    for (Value* v : g.sparse_initializers())
      state->initializers.emplace(
          v, RtValue(sparse_tensor_to_dense(v->sparse_initializer(), sparse_what(g, *v))));
    // Last node (index) that reads each value of this graph, directly or from a subgraph.
    std::unordered_map<const Value*, size_t> last_use;
    for (size_t i = 0; i < g.nodes().size(); ++i) {
      const Node& n = *g.nodes()[i];
      std::set<const Value*> reads(n.inputs().begin(), n.inputs().end());
      for (const Graph* sub : n.subgraphs()) collect_reads(*sub, reads);
      for (const Value* v : reads)
        if (v && v->graph() == &g && !is_constant(*v)) last_use[v] = i;
      const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
      auto version = model.opset(domain);
      const KernelDef* def = version ? registry_.find(domain, n.op_type(), *version) : nullptr;
      plan.kernels.push_back(def ? def->fn : nullptr);
      plan.opsets.push_back(version.value_or(0));
      if (def == nullptr) {
        std::string key = (domain.empty() ? "ai.onnx" : domain) + "::" + n.op_type() + " (opset " +
                          (version ? std::to_string(*version) : std::string("not imported")) + ")";
        if (missing_ops.insert(key).second) missing.push_back(key + " at " + n.describe());
      }
    }
    plan.release.resize(g.nodes().size());
    std::set<const Value*> outputs(g.outputs().begin(), g.outputs().end());
    for (const auto& [v, i] : last_use)
      if (!outputs.count(v)) plan.release[i].push_back(v);
    // Outputs nobody reads are dropped right after their node.
    for (size_t i = 0; i < g.nodes().size(); ++i)
      for (Value* out : g.nodes()[i]->outputs())
        if (out && !last_use.count(out) && !outputs.count(out)) plan.release[i].push_back(out);
  });
  if (!missing.empty()) {
    std::string message = "no kernel for ";
    for (size_t i = 0; i < missing.size(); ++i) message += (i ? "; " : "") + missing[i];
    throw Error(ErrorKind::kUnsupported, message);
  }
  state_ = std::move(state);
}

Executor::~Executor() = default;

void check_feed(const Value& input, const RtValue& value) {
  const std::string name = "input '" + input.name() + "'";
  if (!input.info.tensor) return;  // sequences/optionals: checked by the kernels that read them
  if (value.kind != RtValue::Kind::kTensor)
    throw Error(ErrorKind::kInvalidData, name + " expects a tensor");
  const TensorType& type = *input.info.tensor;
  const Tensor& t = value.tensor;
  if (type.elem != DType::kUndefined && t.dtype() != type.elem)
    throw Error(ErrorKind::kInvalidData, name + " expects dtype " + std::string(dtype_name(type.elem)) +
                                             ", got " + std::string(dtype_name(t.dtype())));
  if (!type.shape) return;
  if (type.shape->size() != t.dims().size())
    throw Error(ErrorKind::kInvalidData, name + " expects rank " + std::to_string(type.shape->size()) +
                                             ", got shape " + shape_text(t.dims()));
  for (size_t i = 0; i < t.dims().size(); ++i) {
    const Dim& d = (*type.shape)[i];
    if (d.value && *d.value != t.dims()[i])
      throw Error(ErrorKind::kInvalidData, name + " expects dim " + std::to_string(i) + " = " +
                                               std::to_string(*d.value) + ", got shape " + shape_text(t.dims()));
  }
}

std::vector<std::pair<std::string, RtValue>> Executor::run(const std::map<std::string, RtValue>& feeds) {
  const Graph& g = *model_.graph;
  std::set<std::string> known;
  std::string names;
  for (Value* v : g.inputs()) {
    known.insert(v->name());
    if (!is_constant(*v)) names += (names.empty() ? "" : ", ") + v->name();
  }
  for (const auto& [name, _] : feeds)
    if (!known.count(name))
      throw Error(ErrorKind::kInvalidData, "the model has no input named '" + name + "' (inputs: " + names + ")");
  std::vector<RtValue> inputs;
  for (Value* v : g.inputs()) {
    auto it = feeds.find(v->name());
    if (it != feeds.end()) {
      check_feed(*v, it->second);
      inputs.push_back(it->second);
    } else if (is_constant(*v)) {  // an initializer listed as an input: its value is the default
      inputs.push_back(state_->initializers.at(v));
    } else {
      throw Error(ErrorKind::kInvalidData, "input '" + v->name() + "' is missing (inputs: " + names + ")");
    }
  }
  std::vector<RtValue> outputs = run_graph(g, inputs, nullptr);
  std::vector<std::pair<std::string, RtValue>> named;
  for (size_t i = 0; i < outputs.size(); ++i) named.emplace_back(g.outputs()[i]->name(), std::move(outputs[i]));
  return named;
}

std::vector<RtValue> Executor::run_graph(const Graph& graph, const std::vector<RtValue>& inputs,
                                         const Frame* parent) {
  ExecutorState& state = *state_;
  const GraphPlan& plan = state.plans.at(&graph);
  Frame frame{&graph, parent, {}};
  if (inputs.size() > graph.inputs().size())
    throw Error(ErrorKind::kInvalidData, "subgraph '" + graph.name + "' takes " +
                                             std::to_string(graph.inputs().size()) + " inputs, got " +
                                             std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) frame.values[graph.inputs()[i]] = inputs[i];

  auto lookup = [&](const Value* v) -> const RtValue* {
    if (const RtValue* r = frame.find(v)) return r;
    auto it = state.initializers.find(v);
    return it == state.initializers.end() ? nullptr : &it->second;
  };

  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = *graph.nodes()[i];
    std::vector<const RtValue*> in;
    for (Value* v : node.inputs()) {
      if (v == nullptr) {
        in.push_back(nullptr);
        continue;
      }
      const RtValue* r = lookup(v);
      if (r == nullptr)
        throw Error(ErrorKind::kInvalidData, node.describe() + ": input '" + v->name() + "' has no value");
      in.push_back(r);
    }
    std::vector<RtValue> out(node.outputs().size(), RtValue::none());
    KernelContext ctx(*this, node, plan.opsets[i], std::move(in), out, &frame);
    plan.kernels[i](ctx);
    if (observer_) {
      std::vector<const RtValue*> produced;
      for (auto& o : out) produced.push_back(&o);
      observer_(node, produced);
    }
    for (size_t k = 0; k < out.size(); ++k)
      if (node.output(k)) frame.values[node.output(k)] = std::move(out[k]);
    for (const Value* dead : plan.release[i]) frame.values.erase(dead);
  }
  std::vector<RtValue> results;
  for (Value* v : graph.outputs()) {
    const RtValue* r = lookup(v);
    if (r == nullptr) throw Error(ErrorKind::kInvalidData, "graph output '" + v->name() + "' was not computed");
    results.push_back(*r);
  }
  return results;
}

}  // namespace edgeq
