// fold_constants: a node whose inputs are all constant computes the same tensors on every run,
// so it is evaluated once, here, by the executor (a one-node model, so the numbers are exactly
// the ones the kernel would produce at run time) and replaced by initializers holding its
// outputs, under the same names. Constant nodes become initializers the same way. Nodes go in
// topological order, so chains of constant nodes fold in one sweep.
//
// Not folded:
// - non-deterministic ops (RandomNormal, Multinomial, ...; Dropout is remove_identity's);
// - nodes with subgraphs (If/Loop/Scan): their bodies may read non-constant outer values;
// - DequantizeLinear: a quantized weight must stay int8 on disk, the float result would be 4×
//   larger and undo the quantization the model was made for;
// - results much bigger than their inputs (more than 1 MiB and at least twice the input bytes):
//   Expand, Tile, ConstantOfShape or Range turn a few bytes into megabytes the file would then
//   carry, and a widening Cast (fp16 weights → fp32) would double the weights; computing them
//   at run time is cheap. The sizes of shape-making ops are predicted before evaluating, so a
//   huge result is never allocated;
// - nodes whose output is a graph output: the interface stays produced by a node;
// - ops outside the default ONNX domain.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "edgeq/error.h"
#include "edgeq/passes/pass.h"
#include "edgeq/runtime/executor.h"
#include "passes/graph/rewrite.h"
#include "passes/passes.h"

namespace edgeq::passes {

namespace {

constexpr uint64_t kGrowthLimitBytes = uint64_t{1} << 20;  // 1 MiB: below it, growth is harmless
constexpr uint64_t kGrowthFactor = 2;                       // ... above it, at most this × inputs

const std::set<std::string> kNonDeterministic = {
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
    "Multinomial",  "Bernoulli",        "Dropout"};

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

bool too_big(uint64_t out_bytes, uint64_t in_bytes) {
  return out_bytes > kGrowthLimitBytes && out_bytes >= kGrowthFactor * in_bytes;
}

uint64_t bytes_of(DType dtype, double elements) {
  const int bits = dtype == DType::kString ? 64 : dtype_info(dtype).bits;
  return static_cast<uint64_t>(std::min(elements * bits / 8, 1e18));
}

// Elements of an int64 shape tensor multiplied out, with broadcasting against `dims` (Expand),
// as a double so absurd shapes compare as absurd instead of overflowing.
double shape_elements(const Tensor& shape, const std::vector<int64_t>& dims, bool broadcast) {
  if (shape.dtype() != DType::kInt64) return 0;
  auto v = shape.values<int64_t>();
  const size_t rank = std::max(v.size(), broadcast ? dims.size() : size_t{0});
  double n = 1;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i + v.size() >= rank ? v[i + v.size() - rank] : 1;
    const int64_t b = broadcast && i + dims.size() >= rank ? dims[i + dims.size() - rank] : 1;
    n *= static_cast<double>(std::max<int64_t>({a, b, 0}));
  }
  return n;
}

// The byte size of the result of the ops that make big tensors from small inputs, computed
// from the constant inputs without running the op; nullopt for other ops.
std::optional<uint64_t> predicted_bytes(const Node& n, int64_t ir) {
  const std::string& op = n.op_type();
  auto in = [&](size_t i) { return constant_value(n.input(i), ir); };
  if (op == "ConstantOfShape" && in(0)) {
    const Attribute* value = n.attr("value");
    const DType dtype = value && !value->tensors.empty() ? value->tensors[0].dtype() : DType::kFloat;
    return bytes_of(dtype, shape_elements(*in(0), {}, false));
  }
  if (op == "Expand" && in(0) && in(1))
    return bytes_of(in(0)->dtype(), shape_elements(*in(1), in(0)->dims(), true));
  if (op == "Tile" && in(0) && in(1) && in(1)->dtype() == DType::kInt64) {
    auto reps = in(1)->values<int64_t>();
    double elements = static_cast<double>(in(0)->element_count());
    for (int64_t r : reps) elements *= static_cast<double>(std::max<int64_t>(r, 0));
    return bytes_of(in(0)->dtype(), elements);
  }
  if (op == "Range" && in(0) && in(1) && in(2) && in(0)->element_count() == 1) {
    const double start = element_as_double(*in(0), 0), limit = element_as_double(*in(1), 0),
                 delta = element_as_double(*in(2), 0);
    if (!std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta) || delta == 0) return std::nullopt;
    return bytes_of(in(0)->dtype(), std::max(std::ceil((limit - start) / delta), 0.0));
  }
  return std::nullopt;
}

Attribute copy_attribute(const Attribute& a) {
  Attribute c;
  c.name = a.name;
  c.type = a.type;
  c.f = a.f;
  c.i = a.i;
  c.s = a.s;
  c.floats = a.floats;
  c.ints = a.ints;
  c.strings = a.strings;
  c.tensors = a.tensors;  // shares the bytes
  c.ref_attr_name = a.ref_attr_name;
  c.carried = a.carried;
  return c;
}

// Runs `n` alone on its constant inputs. Returns its outputs, or nullopt when one is not a tensor.
std::optional<std::vector<Tensor>> evaluate(const Model& model, const Node& n) {
  Model one;
  one.ir_version = model.ir_version;
  one.opset_imports = model.opset_imports;
  one.graph = std::make_unique<Graph>();
  Graph& g = *one.graph;
  std::vector<Value*> ins, outs;
  for (size_t i = 0; i < n.inputs().size(); ++i)
    ins.push_back(n.input(i) ? g.add_initializer("in" + std::to_string(i), *n.input(i)->initializer())
                             : nullptr);
  for (size_t k = 0; k < n.outputs().size(); ++k) {
    Value* out = n.output(k) ? g.add_value("out" + std::to_string(k)) : nullptr;
    if (out) g.add_output(out);
    outs.push_back(out);
  }
  Node* copy = g.add_node(n.op_type(), n.domain(), ins, outs);
  copy->set_name(n.name());
  for (const Attribute& a : n.attributes()) copy->attributes().push_back(copy_attribute(a));
  Executor executor(one, {/*threads=*/1});
  std::vector<Tensor> results;
  for (auto& [name, value] : executor.run({})) {
    if (value.kind != RtValue::Kind::kTensor) return std::nullopt;
    results.push_back(std::move(value.tensor));
  }
  // Back to one entry per node output, omitted ones included.
  std::vector<Tensor> per_output;
  size_t next = 0;
  for (const Value* out : n.outputs()) per_output.push_back(out ? std::move(results[next++]) : Tensor());
  return per_output;
}

struct Counts {
  int constants = 0;  // Constant nodes turned into initializers
  int folded = 0;     // other nodes evaluated
  int too_big = 0;
  int failed = 0;
};

void fold_graph(Model& model, Graph& g, PassContext& ctx, Counts& counts, std::vector<Value*>& replaced) {
  std::vector<Node*> nodes;
  for (const auto& n : g.nodes()) nodes.push_back(n.get());
  for (Node* n : nodes) {
    if (!default_domain(*n) || kNonDeterministic.count(n->op_type()) ||
        n->op_type() == "DequantizeLinear" || !n->subgraphs().empty())
      continue;
    bool foldable = std::any_of(n->outputs().begin(), n->outputs().end(), [](Value* v) { return v != nullptr; });
    uint64_t in_bytes = 0;
    for (Value* in : n->inputs()) {
      if (in == nullptr) continue;
      const Tensor* t = constant_value(in, model.ir_version);
      if (t == nullptr) foldable = false;
      else in_bytes += t->byte_size();
    }
    for (Value* out : n->outputs()) foldable = foldable && !(out && is_graph_output(out));
    if (!foldable) continue;
    const bool constant = n->op_type() == "Constant";
    if (!constant) {
      if (auto predicted = predicted_bytes(*n, model.ir_version); predicted && too_big(*predicted, in_bytes)) {
        ++counts.too_big;
        continue;
      }
    }
    std::optional<std::vector<Tensor>> values;
    try {
      values = evaluate(model, *n);
    } catch (const Error& e) {
      // No kernel for this op (kUnsupported) just means it stays; anything else means the
      // model would fail the same way at run time, which the user should hear about.
      if (e.kind() != ErrorKind::kUnsupported)
        ctx.warnings.push_back("fold_constants: " + n->describe() + " not folded: " + e.what());
      ++counts.failed;
      continue;
    }
    if (!values) continue;
    uint64_t out_bytes = 0;
    for (const Tensor& t : *values) out_bytes += t.byte_size();
    if (!constant && too_big(out_bytes, in_bytes)) {
      ++counts.too_big;
      continue;
    }
    for (Value* in : n->inputs()) replaced.push_back(in);
    ctx.note("folded " + n->describe());
    replace_with_initializers(n, std::move(*values));
    ++(constant ? counts.constants : counts.folded);
  }
}

}  // namespace

PassResult fold_constants(Model& model, PassContext& ctx) {
  Counts counts;
  std::vector<Value*> replaced;
  // Collect the graphs first: folding removes nodes, and with them nothing that owns a graph
  // (nodes with subgraphs are never folded), so the pointers stay valid.
  std::vector<Graph*> graphs;
  model.graph->for_each_graph([&](Graph& g) { graphs.push_back(&g); });
  for (Graph* g : graphs) fold_graph(model, *g, ctx, counts, replaced);
  const int dropped = drop_initializers_if_unused(replaced);
  if (counts.constants + counts.folded > 0) allow_initializers_without_inputs(model, ctx);
  PassResult result;
  result.changes = counts.constants + counts.folded;
  result.summary = "folded " + std::to_string(counts.folded) + " nodes, " + std::to_string(counts.constants) +
                   " Constant nodes became initializers, " + std::to_string(dropped) +
                   " unused initializers dropped";
  if (counts.too_big > 0) result.summary += "; " + std::to_string(counts.too_big) + " left: result too big";
  if (counts.failed > 0) result.summary += "; " + std::to_string(counts.failed) + " left: cannot evaluate";
  return result;
}

}  // namespace edgeq::passes
