// upgrade_opset: raises the ai.onnx opset import, rewriting nodes whose operator signature changed
// (see include/edgeq/passes/upgrade_opset.h). The changes between definitions are those of the
// ONNX spec's Changelog.md; kRules below holds one entry per (op, version that changed it).
#include "edgeq/passes/upgrade_opset.h"

#include <Eigen/Core>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/ir/op_schema.h"
#include "passes/graph/rewrite.h"
#include "passes/passes.h"

namespace edgeq {

namespace {

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// The IR version released with each opset (ONNX docs/Versioning.md): a model raised to opset 13
// but still stamped IR 3 would claim a format older than the operators it uses.
int64_t ir_version_for_opset(int64_t opset) {
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset == 11) return 6;
  if (opset == 10) return 5;
  if (opset == 9) return 4;
  return 3;
}

// What is known about a value without running the model: element type and, when known, dims
// (-1 for a dim of unknown size).
struct ValueFacts {
  DType elem = DType::kUndefined;
  std::optional<std::vector<int64_t>> dims;
  std::optional<int64_t> rank() const {
    return dims ? std::optional<int64_t>(static_cast<int64_t>(dims->size())) : std::nullopt;
  }
};

// Ops whose output 0 has the type and shape of input 0.
bool keeps_input_type(const std::string& op) {
  static const std::unordered_set<std::string> kOps = {"Abs",
                                                       "Neg",
                                                       "Relu",
                                                       "LeakyRelu",
                                                       "Elu",
                                                       "Selu",
                                                       "Celu",
                                                       "Sigmoid",
                                                       "HardSigmoid",
                                                       "HardSwish",
                                                       "Tanh",
                                                       "Exp",
                                                       "Log",
                                                       "Sqrt",
                                                       "Reciprocal",
                                                       "Floor",
                                                       "Ceil",
                                                       "Round",
                                                       "Sign",
                                                       "Erf",
                                                       "Sin",
                                                       "Cos",
                                                       "Tan",
                                                       "Asin",
                                                       "Acos",
                                                       "Atan",
                                                       "Sinh",
                                                       "Cosh",
                                                       "Asinh",
                                                       "Acosh",
                                                       "Atanh",
                                                       "Softplus",
                                                       "Softsign",
                                                       "ThresholdedRelu",
                                                       "Shrink",
                                                       "Mish",
                                                       "Identity",
                                                       "Dropout",
                                                       "Clip",
                                                       "Softmax",
                                                       "LogSoftmax",
                                                       "Hardmax",
                                                       "PRelu",
                                                       "BatchNormalization",
                                                       "InstanceNormalization",
                                                       "LRN",
                                                       "LpNormalization",
                                                       "MeanVarianceNormalization",
                                                       "CumSum"};
  return kOps.count(op) > 0;
}

// Ops that broadcast their inputs: output rank is the largest input rank, element type that of
// input 0.
bool broadcasts_inputs(const std::string& op) {
  static const std::unordered_set<std::string> kOps = {"Add", "Sub", "Mul", "Div",  "Pow",
                                                       "Max", "Min", "Sum", "Mean", "Mod"};
  return kOps.count(op) > 0;
}

std::string upper_to_dtype_name(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A scalar (dims {}) of a float type holding `v`; nullopt for other types.
std::optional<Tensor> float_scalar(DType dtype, double v) {
  switch (dtype) {
    case DType::kFloat: {
      float f = static_cast<float>(v);
      return Tensor::from_values<float>(dtype, {}, std::span<const float>(&f, 1));
    }
    case DType::kDouble:
      return Tensor::from_values<double>(dtype, {}, std::span<const double>(&v, 1));
    case DType::kFloat16: {
      uint16_t bits = Eigen::numext::bit_cast<uint16_t>(Eigen::half(static_cast<float>(v)));
      return Tensor::from_values<uint16_t>(dtype, {}, std::span<const uint16_t>(&bits, 1));
    }
    default:
      return std::nullopt;
  }
}

Tensor int64_vector(const std::vector<int64_t>& values) {
  return Tensor::from_values<int64_t>(DType::kInt64, {static_cast<int64_t>(values.size())},
                                      std::span<const int64_t>(values));
}

class Upgrader;

// One change of an operator's definition. `check` says why a node cannot take this step ("" when
// it can); it runs on the unchanged model, before any rewrite. `apply` rewrites the node to the
// new signature and returns whether it changed anything. A rule that `replaces` the node builds
// its replacement directly in the target opset's form, so no later step runs on it.
struct Rule {
  const char* op;
  int64_t since;  // the version whose definition differs from the one before
  std::string (*check)(const Node&, Upgrader&);
  bool (*apply)(Node&, Upgrader&);
  const char* change;  // what changed, for notes: "axes attribute → input"
  bool replaces = false;
};

class Upgrader {
 public:
  Upgrader(Model& model, int64_t from, int64_t to) : model_(model), from_(from), to_(to) {
    model.graph->for_each_graph([&](Graph& g) {
      for (Value* v : g.inputs()) names_.insert(v->name());
      for (Value* v : g.initializers()) names_.insert(v->name());
      for (Value* v : g.value_infos()) names_.insert(v->name());
      for (Value* v : g.sparse_initializers()) names_.insert(v->name());
      for (const auto& n : g.nodes())
        for (Value* v : n->outputs())
          if (v) names_.insert(v->name());
    });
  }

  int64_t from() const { return from_; }
  int64_t to() const { return to_; }

  // Memoized, so an apply reads the facts its check saw even after earlier rewrites.
  const ValueFacts& facts(const Value* v) { return facts_at(v, 0); }

  // A name no value of any graph in the model uses (the checker rejects an inner name that
  // shadows an outer one, and unique_name only looks outward).
  std::string fresh_name(const Graph& g, const std::string& base) {
    std::string name = g.unique_name(base);
    for (int k = 1; names_.count(name); ++k) name = g.unique_name(base + "_" + std::to_string(k));
    names_.insert(name);
    return name;
  }

  Value* add_constant(Graph& g, const std::string& base, Tensor t) {
    return g.add_initializer(fresh_name(g, base), std::move(t));
  }

  Value* add_temp(Graph& g, const std::string& base) { return g.add_value(fresh_name(g, base)); }

 private:
  const ValueFacts& facts_at(const Value* v, int depth) {
    static const ValueFacts kNone;
    if (v == nullptr) return kNone;
    auto it = cache_.find(v);
    if (it != cache_.end()) return it->second;
    ValueFacts f;
    if (const Tensor* t = v->initializer()) {
      f.elem = t->dtype();
      f.dims = t->dims();
    }
    if (v->info.tensor) {
      if (f.elem == DType::kUndefined) f.elem = v->info.tensor->elem;
      if (!f.dims && v->info.tensor->shape) {
        std::vector<int64_t> dims;
        for (const Dim& d : *v->info.tensor->shape) dims.push_back(d.value.value_or(-1));
        f.dims = dims;
      }
    }
    // Producer chains are followed a bounded distance: enough for exporter patterns, no deep
    // recursion on long graphs.
    constexpr int kMaxDepth = 48;
    const Node* p = v->producer();
    if ((f.elem == DType::kUndefined || !f.dims) && p != nullptr && depth < kMaxDepth &&
        default_domain(p->domain())) {
      ValueFacts derived = derive(*p, v, depth);
      if (f.elem == DType::kUndefined) f.elem = derived.elem;
      if (!f.dims) f.dims = derived.dims;
    }
    return cache_.emplace(v, std::move(f)).first->second;
  }

  ValueFacts derive(const Node& p, const Value* v, int depth) {
    const std::string& op = p.op_type();
    ValueFacts f;
    if (op == "Constant") {
      if (const Attribute* a = p.attr("value"); a && !a->tensors.empty()) {
        f.elem = a->tensors[0].dtype();
        f.dims = a->tensors[0].dims();
      } else if (p.attr("value_float")) {
        f = {DType::kFloat, std::vector<int64_t>{}};
      } else if (const Attribute* fs = p.attr("value_floats")) {
        f = {DType::kFloat, std::vector<int64_t>{static_cast<int64_t>(fs->floats.size())}};
      } else if (p.attr("value_int")) {
        f = {DType::kInt64, std::vector<int64_t>{}};
      } else if (const Attribute* is = p.attr("value_ints")) {
        f = {DType::kInt64, std::vector<int64_t>{static_cast<int64_t>(is->ints.size())}};
      }
      return f;
    }
    if (p.output(0) != v) return f;
    if (keeps_input_type(op)) return facts_at(p.input(0), depth + 1);
    if (op == "Cast") {
      f.dims = facts_at(p.input(0), depth + 1).dims;
      if (const Attribute* to = p.attr("to")) {
        if (to->type == AttrType::kInt) {
          if (const DTypeInfo* info = find_dtype(static_cast<int32_t>(to->i))) f.elem = info->dtype;
        } else if (auto d = dtype_from_name(upper_to_dtype_name(to->s))) {
          f.elem = *d;
        }
      }
      return f;
    }
    if (broadcasts_inputs(op)) {
      int64_t rank = 0;
      bool ranks_known = true;
      for (size_t i = 0; i < p.inputs().size(); ++i) {
        const ValueFacts& in = facts_at(p.input(i), depth + 1);
        if (i == 0 || f.elem == DType::kUndefined) f.elem = in.elem;
        if (auto r = in.rank())
          rank = std::max(rank, *r);
        else
          ranks_known = false;
      }
      if (op == "Pow") f.elem = facts_at(p.input(0), depth + 1).elem;
      if (ranks_known && !p.inputs().empty()) f.dims = std::vector<int64_t>(rank, -1);
      return f;
    }
    return f;
  }

  Model& model_;
  int64_t from_, to_;
  std::unordered_set<std::string> names_;
  std::unordered_map<const Value*, ValueFacts> cache_;
};

// ---- helpers shared by the rules ----

void erase_attr(Node& n, const std::string& name) {
  std::erase_if(n.attributes(), [&](const Attribute& a) { return a.name == name; });
}

// Appends inputs up to `index` (as omitted optional ones) and sets input `index`.
void set_input_at(Node& n, size_t index, Value* v) {
  while (n.inputs().size() <= index) n.add_input(nullptr);
  n.set_input(index, v);
}

// Base name for a node's new constant inputs: "<node name or first output>_<what>".
std::string base_name(const Node& n, const std::string& what) {
  std::string stem = !n.name().empty() ? n.name() : n.output(0) ? n.output(0)->name() : n.op_type();
  return stem + "_" + what;
}

// An ints attribute moved to a new int64 1-D input at `index`. Nothing when the attribute is
// absent (the input stays omitted, which every such input's definition gives the old default).
bool ints_attr_to_input(Node& n, Upgrader& up, const std::string& attr, size_t index) {
  const Attribute* a = n.attr(attr);
  if (!a) return false;
  Value* c = up.add_constant(*n.graph(), base_name(n, attr), int64_vector(a->ints));
  erase_attr(n, attr);
  set_input_at(n, index, c);
  return true;
}

std::string ints_attr_must_be_ints(const Node& n, const char* attr) {
  const Attribute* a = n.attr(attr);
  if (a && a->type != AttrType::kInts)
    return std::string("attribute '") + attr + "' is not a list of ints";
  return "";
}

// An Unsqueeze adding `axes` to `x`, in the target opset's form (axes an input from 13).
Value* make_unsqueeze(Graph& g, Upgrader& up, const Node& before, Value* x,
                      const std::vector<int64_t>& axes) {
  Value* out = up.add_temp(g, x->name() + "_unsqueezed");
  if (up.to() >= 13) {
    Value* a = up.add_constant(g, x->name() + "_unsqueeze_axes", int64_vector(axes));
    g.insert_before(&before, "Unsqueeze", "", {x, a}, {out});
  } else {
    Node* u = g.insert_before(&before, "Unsqueeze", "", {x}, {out});
    u->attributes().push_back({});
    u->attributes().back().name = "axes";
    u->attributes().back().type = AttrType::kInts;
    u->attributes().back().ints = axes;
  }
  return out;
}

// Replaces `old` by nodes that `build` adds at its position, producing the same output Values
// (names, value_info and every reader stay as they were). `build` receives the old node's
// inputs, attributes, name and outputs.
struct OldNode {
  std::string op_type;
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  std::vector<Attribute> attributes;
  std::string name;
  std::string carried;
};
template <class Build>
void replace_node(Node& old, Upgrader& up, Build build) {
  Graph& g = *old.graph();
  const size_t position = g.index_of(&old);
  OldNode o{old.op_type(), old.inputs(), old.outputs(), std::move(old.attributes()),
            old.name(),    old.carried};
  std::vector<Value*> holders;
  for (Value* y : o.outputs) {
    if (!y) {
      holders.push_back(nullptr);
      continue;
    }
    Value* h = g.add_value(g.unique_name(y->name() + "_upgrade_placeholder"));
    y->replace_all_uses_with(h);
    holders.push_back(h);
  }
  g.remove_node(&old);
  build(g, position, o);
  for (size_t i = 0; i < holders.size(); ++i)
    if (holders[i]) holders[i]->replace_all_uses_with(o.outputs[i]);
}

Node* add_at(Graph& g, size_t& position, const std::string& op, std::vector<Value*> inputs,
             std::vector<Value*> outputs) {
  return g.add_node(op, "", std::move(inputs), std::move(outputs), position++);
}

// ---- checks and rewrites, in the order of kRules ----

bool drop_consumed_inputs(Node& n, Upgrader&) {
  // consumed_inputs was a legacy in-place hint with no effect on results (removed at 6).
  if (!n.attr("consumed_inputs")) return false;
  erase_attr(n, "consumed_inputs");
  return true;
}

// Before 7, Add/Sub/Mul/Div/Pow/comparisons/logic ops broadcast only with broadcast=1: B's shape
// matches a contiguous run of A's dims starting at `axis` (default: the trailing dims). Numpy
// broadcasting (7) aligns trailing dims, so the two agree when axis + rank(B) = rank(A);
// otherwise B gets trailing unit dims first.
std::string check_legacy_broadcast(const Node& n, Upgrader& up) {
  const Attribute* axis = n.attr("axis");
  if (n.attr_int("broadcast", 0) == 0 || axis == nullptr) return "";
  auto ra = up.facts(n.input(0)).rank();
  auto rb = up.facts(n.input(1)).rank();
  if (!ra || !rb)
    return "legacy broadcast with axis=" + std::to_string(axis->i) + " on inputs of unknown rank";
  int64_t a = axis->i < 0 ? axis->i + *ra : axis->i;
  if (a < 0 || a + *rb > *ra)
    return "legacy broadcast axis " + std::to_string(axis->i) + " does not fit ranks " +
           std::to_string(*ra) + " and " + std::to_string(*rb);
  return "";
}

bool apply_legacy_broadcast(Node& n, Upgrader& up) {
  const bool had = n.attr("broadcast") || n.attr("axis");
  const Attribute* axis = n.attr("axis");
  if (n.attr_int("broadcast", 0) != 0 && axis != nullptr) {
    int64_t ra = *up.facts(n.input(0)).rank();
    int64_t rb = *up.facts(n.input(1)).rank();
    int64_t a = axis->i < 0 ? axis->i + ra : axis->i;
    std::vector<int64_t> trailing;
    for (int64_t k = rb; k < ra - a; ++k) trailing.push_back(k);
    if (!trailing.empty()) n.set_input(1, make_unsqueeze(*n.graph(), up, n, n.input(1), trailing));
  }
  erase_attr(n, "broadcast");
  erase_attr(n, "axis");
  return had;
}

bool drop_gemm_broadcast(Node& n, Upgrader&) {
  // Gemm-6 broadcast=0 demanded C of shape (M, N), broadcast=1 let it broadcast; Gemm-7 always
  // broadcasts C unidirectionally, which covers both.
  if (!n.attr("broadcast")) return false;
  erase_attr(n, "broadcast");
  return true;
}

// BatchNormalization outputs beyond Y were training outputs (mean, var, saved_mean, saved_var);
// their meaning changed at 7, 9 and 14.
std::string check_bn_inference_only(const Node& n, Upgrader&) {
  for (size_t k = 1; k < n.outputs().size(); ++k)
    if (n.output(k)) return "training outputs (mean/var) are used";
  return "";
}

bool apply_bn_7(Node& n, Upgrader& u) {
  // is_test is gone at 7: with only Y requested the node is in inference mode either way.
  bool changed = drop_consumed_inputs(n, u);
  if (n.attr("is_test")) {
    erase_attr(n, "is_test");
    changed = true;
  }
  return changed;
}

std::string check_bn_spatial(const Node& n, Upgrader& up) {
  if (std::string s = check_bn_inference_only(n, up); !s.empty()) return s;
  if (n.attr_int("spatial", 1) == 1) return "";
  // spatial=0 (per-activation statistics) equals spatial=1 only on (N, C) inputs.
  auto r = up.facts(n.input(0)).rank();
  if (r && *r == 2) return "";
  return "spatial=0 (per-activation mean/variance) has no equivalent after opset 9";
}

bool apply_bn_spatial(Node& n, Upgrader&) {
  if (!n.attr("spatial")) return false;
  erase_attr(n, "spatial");
  return true;
}

std::string check_cast_to(const Node& n, Upgrader&) {
  const Attribute* to = n.attr("to");
  if (!to) return "attribute 'to' is missing";
  if (to->type == AttrType::kString && !dtype_from_name(upper_to_dtype_name(to->s)))
    return "unknown type name '" + to->s + "' in attribute 'to'";
  return "";
}

bool apply_cast_to(Node& n, Upgrader&) {
  // Cast-1 named the type ("FLOAT"); Cast-6 takes its TensorProto.DataType code.
  Attribute* to = n.attr("to");
  if (to->type != AttrType::kString) return false;
  to->i = static_cast<int64_t>(*dtype_from_name(upper_to_dtype_name(to->s)));
  to->type = AttrType::kInt;
  to->s.clear();
  return true;
}

std::string check_float_dtype_for(const Node& n, Upgrader& up, bool needed) {
  if (!needed) return "";
  DType e = up.facts(n.input(0)).elem;
  if (e == DType::kFloat || e == DType::kDouble || e == DType::kFloat16) return "";
  return "the element type of input '" + (n.input(0) ? n.input(0)->name() : std::string()) +
         "' is unknown (needed for the new constant input)";
}

std::string check_clip_11(const Node& n, Upgrader& up) {
  return check_float_dtype_for(n, up, n.attr("min") || n.attr("max"));
}

bool apply_clip_11(Node& n, Upgrader& up) {
  // Clip-11 takes min and max as optional scalar inputs of the input's type.
  const Attribute* lo = n.attr("min");
  const Attribute* hi = n.attr("max");
  if (!lo && !hi) return false;
  DType e = up.facts(n.input(0)).elem;
  Graph& g = *n.graph();
  if (lo) set_input_at(n, 1, up.add_constant(g, base_name(n, "min"), *float_scalar(e, lo->f)));
  if (hi) set_input_at(n, 2, up.add_constant(g, base_name(n, "max"), *float_scalar(e, hi->f)));
  erase_attr(n, "min");
  erase_attr(n, "max");
  return true;
}

bool apply_concat_4(Node& n, Upgrader&) {
  // axis became required at 4; before, it defaulted to 1.
  if (n.attr("axis")) return false;
  n.set_attr(Attribute::of_int("axis", 1));
  return true;
}

std::string check_convtranspose_11(const Node& n, Upgrader&) {
  // ConvTranspose-11 swapped which side SAME_UPPER/SAME_LOWER put the odd padding on.
  const Attribute* p = n.attr("auto_pad");
  if (p && (p->s == "SAME_UPPER" || p->s == "SAME_LOWER"))
    return "auto_pad=" + p->s + " pads the other side from opset 11";
  return "";
}

bool apply_dropout_7(Node& n, Upgrader& u) {
  // is_test is gone at 7: the runtime decides; inference is a copy either way.
  bool changed = drop_consumed_inputs(n, u);
  if (n.attr("is_test")) {
    erase_attr(n, "is_test");
    changed = true;
  }
  return changed;
}

std::string check_dropout_10(const Node& n, Upgrader&) {
  // The mask output changed type from T to bool at 10.
  if (n.output(1)) return "its mask output changes type (T → bool) at opset 10";
  return "";
}

bool apply_dropout_12(Node& n, Upgrader& up) {
  // ratio moved from an attribute to an optional scalar input at 12.
  const Attribute* r = n.attr("ratio");
  if (!r) return false;
  Value* c = up.add_constant(*n.graph(), base_name(n, "ratio"), *float_scalar(DType::kFloat, r->f));
  erase_attr(n, "ratio");
  set_input_at(n, 1, c);
  return true;
}

bool apply_gru_3(Node& n, Upgrader&) {
  // GRU-1's direction default was misspelled "foward"; 3 spells it "forward".
  Attribute* d = n.attr("direction");
  if (!d || d->s != "foward") return false;
  d->s = "forward";
  return true;
}

bool drop_output_sequence(Node& n, Upgrader&) {
  // output_sequence is gone at 7: Y is produced exactly when it is listed as an output.
  if (!n.attr("output_sequence")) return false;
  erase_attr(n, "output_sequence");
  return true;
}

std::string check_lppool_2(const Node& n, Upgrader&) {
  const Attribute* p = n.attr("p");
  if (p && p->type == AttrType::kFloat && p->f != std::floor(p->f))
    return "p=" + std::to_string(p->f) + " is not an integer (an int from opset 2)";
  if (n.op_type() == "LpPool" && !n.attr("kernel_shape"))
    return "kernel_shape is required from opset 2";
  return "";
}

bool apply_lppool_2(Node& n, Upgrader&) {
  Attribute* p = n.attr("p");
  if (!p || p->type != AttrType::kFloat) return false;
  p->i = static_cast<int64_t>(p->f);
  p->type = AttrType::kInt;
  p->f = 0;
  return true;
}

std::string check_onehot_11(const Node& n, Upgrader& up) {
  // OneHot-9 gave all-off rows for negative indices; OneHot-11 counts them from the end.
  DType e = up.facts(n.input(0)).elem;
  if (e == DType::kUint8 || e == DType::kUint16 || e == DType::kUint32 || e == DType::kUint64)
    return "";
  if (const Tensor* t = passes::constant_value(n.input(0))) {
    for (uint64_t i = 0; i < t->element_count(); ++i)
      if (element_as_double(*t, i) < 0) return "negative constant indices change meaning at 11";
    return "";
  }
  return "indices that may be negative change meaning at opset 11";
}

bool apply_pad_2(Node& n, Upgrader&) {
  // Pad-1's `paddings` is Pad-2's `pads`, same layout.
  Attribute* a = n.attr("paddings");
  if (!a) return false;
  a->name = "pads";
  return true;
}

std::string check_pad_11(const Node& n, Upgrader& up) {
  if (!n.attr("pads") && !n.attr("paddings")) return "attribute 'pads' is missing";
  const Attribute* v = n.attr("value");
  return check_float_dtype_for(n, up, v != nullptr && v->f != 0.0f);
}

bool apply_pad_11(Node& n, Upgrader& up) {
  // Pad-11 takes pads (int64 1-D) and constant_value (scalar of the input's type) as inputs.
  ints_attr_to_input(n, up, "pads", 1);
  if (const Attribute* v = n.attr("value")) {
    if (v->f != 0.0f) {
      DType e = up.facts(n.input(0)).elem;
      set_input_at(
          n, 2,
          up.add_constant(*n.graph(), base_name(n, "constant_value"), *float_scalar(e, v->f)));
    }
    erase_attr(n, "value");
  }
  return true;
}

// PRelu before 7: a 1-D slope of C values applies per channel (axis 1). From 7 the slope
// broadcasts unidirectionally (trailing dims), so it gets trailing unit dims.
std::string check_prelu_7(const Node& n, Upgrader& up) {
  auto rx = up.facts(n.input(0)).rank();
  const ValueFacts& s = up.facts(n.input(1));
  auto rs = s.rank();
  if (!rx || !rs) return "slope or input of unknown rank";
  if (*rs == *rx || *rx <= 2 ||
      (s.dims && std::all_of(s.dims->begin(), s.dims->end(), [](int64_t d) { return d == 1; })))
    return "";
  if (*rs == 1) return "";
  return "slope of rank " + std::to_string(*rs) + " on an input of rank " + std::to_string(*rx);
}

bool apply_prelu_7(Node& n, Upgrader& up) {
  int64_t rx = *up.facts(n.input(0)).rank();
  const ValueFacts& s = up.facts(n.input(1));
  if (*s.rank() != 1 || rx <= 2) return false;
  if (std::all_of(s.dims->begin(), s.dims->end(), [](int64_t d) { return d == 1; })) return false;
  std::vector<int64_t> trailing;
  for (int64_t k = 1; k < rx - 1; ++k) trailing.push_back(k);
  n.set_input(1, make_unsqueeze(*n.graph(), up, n, n.input(1), trailing));
  return true;
}

bool apply_reshape_5(Node& n, Upgrader& up) {
  // Reshape-5 takes the shape as an int64 input.
  drop_consumed_inputs(n, up);
  return ints_attr_to_input(n, up, "shape", 1);
}

std::string check_reshape_5(const Node& n, Upgrader&) {
  if (!n.attr("shape")) return "attribute 'shape' is missing";
  return ints_attr_must_be_ints(n, "shape");
}

// Resize-10's nearest rounds down when upsampling; for downsampling runtimes disagree (ONNX
// Runtime rounds up), so only constant scales ≥ 1 are rewritten.
std::string check_resize_11(const Node& n, Upgrader&) {
  const Attribute* mode = n.attr("mode");
  if (mode && mode->s != "nearest") return "";
  const Tensor* scales = passes::constant_value(n.input(1));
  if (!scales) return "nearest mode with scales that are not constant";
  for (uint64_t i = 0; i < scales->element_count(); ++i)
    if (!(element_as_double(*scales, i) >= 1.0))
      return "nearest mode with a downsampling scale (rounding differs between runtimes)";
  return "";
}

bool apply_resize_11(Node& n, Upgrader& up) {
  // Resize-11 adds roi before scales and defaults to half_pixel coordinates; Resize-10 was
  // asymmetric, and its nearest rounds down.
  Value* scales = n.input(1);
  Value* roi =
      up.add_constant(*n.graph(), base_name(n, "roi"), Tensor::allocate(DType::kFloat, {0}));
  n.set_input(1, roi);
  set_input_at(n, 2, scales);
  n.set_attr(Attribute::of_string("coordinate_transformation_mode", "asymmetric"));
  const Attribute* mode = n.attr("mode");
  if (!mode || mode->s == "nearest") n.set_attr(Attribute::of_string("nearest_mode", "floor"));
  return true;
}

bool apply_roialign_16(Node& n, Upgrader&) {
  // RoiAlign-16 added coordinate_transformation_mode with default half_pixel; before 16 it
  // behaved as output_half_pixel.
  if (n.attr("coordinate_transformation_mode")) return false;
  n.set_attr(Attribute::of_string("coordinate_transformation_mode", "output_half_pixel"));
  return true;
}

bool apply_scatter_11(Node& n, Upgrader& up) {
  // Scatter is deprecated at 11; ScatterElements-11 is the same operation under a new name.
  replace_node(n, up, [](Graph& g, size_t pos, OldNode& o) {
    Node* s = add_at(g, pos, "ScatterElements", o.inputs, o.outputs);
    s->attributes() = std::move(o.attributes);
    s->set_name(o.name);
    s->carried = o.carried;
  });
  return true;
}

bool apply_selu_6(Node& n, Upgrader& u) {
  // Selu-6 changed the defaults of alpha and gamma; pin Selu-1's.
  drop_consumed_inputs(n, u);
  if (!n.attr("alpha")) n.set_attr(Attribute::of_float("alpha", 1.6732f));
  if (!n.attr("gamma")) n.set_attr(Attribute::of_float("gamma", 1.0507f));
  return true;
}

std::string check_slice_10(const Node& n, Upgrader&) {
  if (!n.attr("starts") || !n.attr("ends")) return "attributes 'starts'/'ends' are missing";
  return "";
}

bool apply_slice_10(Node& n, Upgrader& up) {
  ints_attr_to_input(n, up, "starts", 1);
  ints_attr_to_input(n, up, "ends", 2);
  ints_attr_to_input(n, up, "axes", 3);
  return true;
}

// Softmax, LogSoftmax and Hardmax before 13 coerce the input to 2-D at `axis` (default 1) and
// normalize each row; from 13 they normalize along one axis (default -1). The two agree when
// `axis` is the last axis; otherwise the 2-D coercion is spelled out with Flatten + op + Reshape.
std::string check_softmax_13(const Node& n, Upgrader& up) {
  up.facts(n.input(0));  // recorded now: apply must see what the unchanged graph says
  return "";
}

bool apply_softmax_13(Node& n, Upgrader& up) {
  const int64_t axis = n.attr_int("axis", 1);
  auto rank = up.facts(n.input(0)).rank();
  if (axis == -1 || (rank && axis == *rank - 1)) {
    n.set_attr(Attribute::of_int("axis", -1));
    return true;
  }
  replace_node(n, up, [&](Graph& g, size_t pos, OldNode& o) {
    Value* x = o.inputs[0];
    const std::string stem = o.outputs[0]->name();
    auto named = [&](Node* node, const char* suffix) {
      if (!o.name.empty()) node->set_name(o.name + suffix);
      return node;
    };
    Value* flat = up.add_temp(g, stem + "_2d");
    named(add_at(g, pos, "Flatten", {x}, {flat}), "_flatten")->set_attr(Attribute::of_int("axis", axis));
    Value* rows = up.add_temp(g, stem + "_rows");
    Node* op = add_at(g, pos, o.op_type, {flat}, {rows});
    op->set_name(o.name);
    op->carried = o.carried;
    op->set_attr(Attribute::of_int("axis", 1));
    Value* shape = up.add_temp(g, stem + "_shape");
    named(add_at(g, pos, "Shape", {x}, {shape}), "_shape");
    Node* reshape = named(add_at(g, pos, "Reshape", {rows, shape}, {o.outputs[0]}), "_reshape");
    // Dims of 0 in x's shape are real sizes, not "copy from the input".
    if (up.to() >= 14) reshape->set_attr(Attribute::of_int("allowzero", 1));
  });
  return true;
}

std::string check_split_2(const Node& n, Upgrader&) {
  if (n.input(1)) return "the split sizes come from a second input (Split-1), removed at 2";
  return "";
}

std::string check_split_13(const Node& n, Upgrader&) { return ints_attr_must_be_ints(n, "split"); }
bool apply_split_13(Node& n, Upgrader& up) { return ints_attr_to_input(n, up, "split", 1); }

std::string check_axes_13(const Node& n, Upgrader&) { return ints_attr_must_be_ints(n, "axes"); }
bool apply_axes_13(Node& n, Upgrader& up) { return ints_attr_to_input(n, up, "axes", 1); }

std::string check_unsqueeze_13(const Node& n, Upgrader&) {
  if (!n.attr("axes")) return "attribute 'axes' is missing";
  return ints_attr_must_be_ints(n, "axes");
}

std::string check_topk_10(const Node& n, Upgrader&) {
  if (!n.attr("k")) return "attribute 'k' is missing";
  return "";
}

bool apply_topk_10(Node& n, Upgrader& up) {
  // TopK-10 takes k as a 1-D int64 input of one element.
  Value* k = up.add_constant(*n.graph(), base_name(n, "k"), int64_vector({n.attr("k")->i}));
  erase_attr(n, "k");
  set_input_at(n, 1, k);
  return true;
}

std::string block_always(const Node&, Upgrader&) { return "no equivalent rewrite"; }

// ---- the rules: every change of an ai.onnx definition up to opset 17 ----
//
// nullptr check and apply: the step widens types or adds attributes/outputs whose defaults are
// the old behaviour (negative axes, new optional outputs, ...), so the node stays as it is.

std::vector<Rule> build_rules() {
  std::vector<Rule> r;
  auto same = [&](std::initializer_list<const char*> ops, std::initializer_list<int64_t> since) {
    for (const char* op : ops)
      for (int64_t v : since) r.push_back({op, v, nullptr, nullptr, "types or defaults only"});
  };
  auto rule = [&](std::initializer_list<const char*> ops, int64_t since,
                  std::string (*check)(const Node&, Upgrader&), bool (*apply)(Node&, Upgrader&),
                  const char* change, bool replaces = false) {
    for (const char* op : ops) r.push_back({op, since, check, apply, change, replaces});
  };

  // Unary math: consumed_inputs removed at 6, types widened at 13 (and 14 for Relu).
  rule({"Abs",  "Ceil",       "Exp",         "Floor",     "Log",
        "Neg",  "Reciprocal", "Relu",        "Sigmoid",   "Sqrt",
        "Tanh", "Elu",        "HardSigmoid", "LeakyRelu", "InstanceNormalization",
        "Max",  "Min",        "Mean",        "Sum",       "PRelu",
        "Clip"},
       6, nullptr, drop_consumed_inputs, "consumed_inputs attribute dropped");
  same({"Abs", "Ceil", "Exp", "Floor", "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Sqrt",
        "Tanh", "Erf", "IsNaN", "Sign", "LRN", "MeanVarianceNormalization", "NonZero"},
       {13});
  same({"Relu"}, {14});
  same({"LeakyRelu"}, {16});

  // Binary ops: legacy broadcast attributes removed at 7.
  rule({"Add", "Sub", "Mul", "Div"}, 6, nullptr, drop_consumed_inputs,
       "consumed_inputs attribute dropped");
  rule({"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "And", "Or", "Xor"}, 7,
       check_legacy_broadcast, apply_legacy_broadcast, "legacy broadcast → numpy broadcast");
  same({"Add", "Sub", "Mul", "Div"}, {13, 14});
  same({"Pow"}, {12, 13, 15});
  same({"Equal"}, {11, 13});
  same({"Greater", "Less"}, {9, 13});
  same({"GreaterOrEqual", "LessOrEqual"}, {16});
  same({"Max", "Min", "Mean", "Sum"}, {8, 13});  // 8: numpy broadcasting of equal shapes
  same({"Max", "Min"}, {12});
  same({"Mod"}, {13});

  same({"ArgMax", "ArgMin"}, {11, 12, 13});
  same({"AveragePool"}, {7, 10, 11});
  same({"MaxPool"}, {8, 10, 11, 12});
  same({"LpPool"}, {11});
  rule({"LpPool", "GlobalLpPool"}, 2, check_lppool_2, apply_lppool_2, "p float → int");
  same({"MaxUnpool"}, {11});
  same({"Conv"}, {11});
  rule({"ConvTranspose"}, 11, check_convtranspose_11, nullptr, "");

  rule({"BatchNormalization"}, 6, check_bn_inference_only, drop_consumed_inputs,
       "consumed_inputs attribute dropped");
  rule({"BatchNormalization"}, 7, check_bn_inference_only, apply_bn_7, "is_test attribute dropped");
  rule({"BatchNormalization"}, 9, check_bn_spatial, apply_bn_spatial, "spatial attribute dropped");
  rule({"BatchNormalization"}, 14, check_bn_inference_only, nullptr, "");
  same({"BatchNormalization"}, {15});

  rule({"Cast"}, 6, check_cast_to, apply_cast_to, "'to' type name → type code");
  same({"Cast"}, {9, 13});
  rule({"Clip"}, 11, check_clip_11, apply_clip_11, "min/max attributes → inputs");
  same({"Clip"}, {12, 13});
  same({"Compress"}, {11});
  rule({"Concat"}, 4, nullptr, apply_concat_4, "default axis made explicit");
  same({"Concat"}, {11, 13});
  same({"Constant"}, {9, 11, 12, 13});
  same({"CumSum"}, {14});
  same({"DepthToSpace"}, {11, 13});  // 11: mode defaults to DCR, DepthToSpace-1's behaviour
  same({"SpaceToDepth"}, {13});
  same({"QuantizeLinear", "DequantizeLinear"}, {13});

  rule({"Dropout"}, 6, nullptr, drop_consumed_inputs, "consumed_inputs attribute dropped");
  rule({"Dropout"}, 7, nullptr, apply_dropout_7, "is_test attribute dropped");
  rule({"Dropout"}, 10, check_dropout_10, nullptr, "");
  rule({"Dropout"}, 12, nullptr, apply_dropout_12, "ratio attribute → input");
  same({"Dropout"}, {13});

  same({"Expand"}, {13});
  same({"Flatten"}, {9, 11, 13});
  same({"Gather"}, {11, 13});
  same({"GatherElements"}, {13});
  same({"GatherND"}, {12, 13});
  same({"Gemm"}, {6, 9, 11, 13});
  rule({"Gemm"}, 7, nullptr, drop_gemm_broadcast, "broadcast attribute dropped");
  same({"MatMul"}, {9, 13});

  rule({"GRU"}, 3, nullptr, apply_gru_3, "direction spelling fixed");
  rule({"GRU", "LSTM", "RNN"}, 7, nullptr, drop_output_sequence,
       "output_sequence attribute dropped");
  same({"GRU", "LSTM", "RNN"}, {14});

  same({"Identity"}, {13, 14, 16});
  same({"If", "Loop"}, {11, 13, 16});
  rule({"Scan"}, 9, block_always, nullptr, "");  // sequence_lens input and batch axis removed
  same({"Scan"}, {11, 16});

  rule({"Softmax", "LogSoftmax", "Hardmax"}, 13, check_softmax_13, apply_softmax_13,
       "2-D coercion axis → single axis", /*replaces=*/true);
  same({"Softmax", "LogSoftmax", "Hardmax"}, {11});

  same({"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"}, {13});
  same({"NonMaxSuppression"}, {11});
  rule({"OneHot"}, 11, check_onehot_11, nullptr, "");

  rule({"Pad"}, 2, nullptr, apply_pad_2, "paddings attribute renamed pads");
  rule({"Pad"}, 11, check_pad_11, apply_pad_11, "pads/value attributes → inputs");
  same({"Pad"}, {13});

  rule({"PRelu"}, 7, check_prelu_7, apply_prelu_7, "per-channel slope → broadcast slope");
  same({"PRelu"}, {9, 16});

  same({"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"},
       {11});
  same({"ReduceMax", "ReduceMin"}, {12});
  same({"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSumSquare"},
       {13});
  rule({"ReduceSum"}, 13, check_axes_13, apply_axes_13, "axes attribute → input");

  rule({"Reshape"}, 5, check_reshape_5, apply_reshape_5, "shape attribute → input");
  same({"Reshape"}, {13, 14});
  rule({"Resize"}, 11, check_resize_11, apply_resize_11,
       "roi input added, Resize-10 coordinates kept");
  same({"Resize"}, {13});
  rule({"RoiAlign"}, 16, nullptr, apply_roialign_16, "coordinate mode made explicit");

  rule({"Scatter"}, 11, nullptr, apply_scatter_11, "deprecated Scatter → ScatterElements",
       /*replaces=*/true);
  same({"ScatterElements", "ScatterND"}, {13, 16});

  rule({"Selu"}, 6, nullptr, apply_selu_6, "Selu-1 default alpha/gamma made explicit");
  same({"Shape"}, {13, 15});
  same({"Size"}, {13});
  rule({"Slice"}, 10, check_slice_10, apply_slice_10, "starts/ends/axes attributes → inputs");
  same({"Slice"}, {11, 13});

  rule({"Split"}, 2, check_split_2, nullptr, "");
  same({"Split"}, {11});
  rule({"Split"}, 13, check_split_13, apply_split_13, "split attribute → input");
  same({"Squeeze", "Unsqueeze"}, {11});
  rule({"Squeeze"}, 13, check_axes_13, apply_axes_13, "axes attribute → input");
  rule({"Unsqueeze"}, 13, check_unsqueeze_13, apply_axes_13, "axes attribute → input");

  rule({"Tile"}, 6, block_always, nullptr, "");  // tiles + axis inputs → repeats
  same({"Tile"}, {13});
  rule({"TopK"}, 10, check_topk_10, apply_topk_10, "k attribute → input");
  same({"TopK"}, {11});
  same({"Transpose"}, {13});
  rule({"Upsample"}, 7, block_always, nullptr, "");
  rule({"Upsample"}, 9, block_always, nullptr, "");
  rule({"Upsample"}, 10, block_always, nullptr, "");  // deprecated: Resize replaces it
  same({"Where"}, {16});
  return r;
}

const Rule* find_rule(const std::string& op, int64_t since) {
  static const std::vector<Rule> kRules = build_rules();
  for (const Rule& r : kRules)
    if (op == r.op && since == r.since) return &r;
  return nullptr;
}

// The definition versions a node of `op` passes through from `from` to `to`, oldest first
// (excluding the one it starts at).
std::vector<int64_t> definition_steps(const std::string& op, int64_t from, int64_t to) {
  std::vector<int64_t> steps;
  int64_t current = op_since_version(op, "", from);
  for (int64_t v = from + 1; v <= to; ++v) {
    int64_t s = op_since_version(op, "", v);
    if (s != current) {
      steps.push_back(s);
      current = s;
    }
  }
  return steps;
}

struct PlannedNode {
  Node* node;
  std::vector<const Rule*> steps;
};

std::string versions(const std::string& op, int64_t a, int64_t b) {
  return op + "-" + std::to_string(a) + " → " + op + "-" + std::to_string(b);
}

}  // namespace

OpsetUpgrade upgrade_opset(Model& model, int64_t target, PassContext& ctx) {
  OpsetUpgrade result;
  const std::optional<int64_t> current = model.opset("");
  result.from = current.value_or(0);
  result.to = result.from;
  if (current && *current >= target) return result;

  // Every default-domain node, outer graphs first.
  std::vector<Node*> nodes;
  model.graph->for_each_graph([&](Graph& g) {
    for (const auto& n : g.nodes())
      if (default_domain(n->domain())) nodes.push_back(n.get());
  });

  auto block = [&](std::string why) {
    result.blocker = std::move(why);
    return result;
  };
  const int64_t known = newest_known_opset("");
  if (target > known)
    return block("target opset " + std::to_string(target) +
                 " is newer than the operator definitions edgeq knows (ai.onnx " +
                 std::to_string(known) + ")");
  if (!current && !nodes.empty())
    return block(nodes.front()->describe() +
                 " is in the ai.onnx domain but the model imports no "
                 "ai.onnx opset");
  if (!model.function_ids.empty())
    return block("model-local function '" + model.function_ids.front() +
                 "' keeps its own opset imports; upgrading them is not supported");

  // Check every node before changing anything.
  Upgrader up(model, result.from, target);
  std::vector<PlannedNode> plan;
  for (Node* n : nodes) {
    const std::string& op = n->op_type();
    const int64_t start = op_since_version(op, "", result.from);
    if (start == 0)
      return block(n->describe() + ": " + op + " is not an ai.onnx operator at opset " +
                   std::to_string(result.from));
    PlannedNode p{n, {}};
    int64_t previous = start;
    for (int64_t since : definition_steps(op, result.from, target)) {
      const Rule* rule = find_rule(op, since);
      if (!rule)
        return block(n->describe() + ": no upgrade rule for " + versions(op, previous, since));
      if (rule->check) {
        std::string why = rule->check(*n, up);
        if (!why.empty())
          return block(n->describe() + ": cannot upgrade " + versions(op, previous, since) + ": " +
                       why);
      }
      p.steps.push_back(rule);
      previous = since;
      if (rule->replaces) break;  // the replacement is built in the target's form
    }
    if (!p.steps.empty()) plan.push_back(std::move(p));
  }

  // Rewrite.
  for (PlannedNode& p : plan) {
    const std::string what = p.node->describe();
    std::string changes;
    for (const Rule* rule : p.steps) {
      if (!rule->apply) continue;
      if (rule->apply(*p.node, up))
        changes += (changes.empty() ? "" : "; ") + std::string(rule->change);
      if (rule->replaces) break;
    }
    if (!changes.empty()) {
      ++result.rewritten;
      ctx.note("upgrade_opset: " + what + ": " + changes);
    }
  }

  bool imported = false;
  for (OpsetImport& imp : model.opset_imports)
    if (default_domain(imp.domain)) {
      imp.version = target;
      imported = true;
    }
  if (!imported) model.opset_imports.push_back({"", target});
  model.ir_version = std::max(model.ir_version, ir_version_for_opset(target));
  result.to = target;
  return result;
}

namespace passes {

// The opset the quantizers need: per-axis QuantizeLinear/DequantizeLinear arrived at 13.
constexpr int64_t kQuantizeOpset = 13;

PassResult upgrade_opset_pass(Model& model, PassContext& ctx) {
  OpsetUpgrade u = upgrade_opset(model, kQuantizeOpset, ctx);
  if (!u.blocker.empty())
    throw Error(ErrorKind::kUnsupported, "cannot upgrade to ai.onnx opset " +
                                             std::to_string(kQuantizeOpset) + ": " + u.blocker);
  PassResult r;
  if (u.to == u.from) {
    r.summary =
        "ai.onnx opset " + std::to_string(u.from) + " already ≥ " + std::to_string(kQuantizeOpset);
    return r;
  }
  r.changes = u.rewritten + 1;  // the import itself changed
  r.summary = "upgraded ai.onnx opset " + std::to_string(u.from) + " → " + std::to_string(u.to) +
              ", " + std::to_string(u.rewritten) + " nodes rewritten";
  return r;
}

}  // namespace passes

}  // namespace edgeq
