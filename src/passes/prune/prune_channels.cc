// prune_channels: structured pruning that really shrinks the graph.
//
// Analysis walks the main graph in node order and gives every value that carries prunable
// channels a Channels record: for each position along its channel axis, the "atom" it holds.
// A producer (Conv/ConvTranspose/Gemm/MatMul with a constant weight) creates fresh atoms, one per
// output channel, in its own "space"; channel-local ops pass atoms through; an op that ties two
// tensors channel by channel (Add, Mul, depthwise Conv, Concat along another axis) unites their
// atoms (union-find), and the spaces they came from become one group. Concat along the channel
// axis concatenates atom lists, so its consumer's input channels map back to each branch.
// Anything else that reads atoms is a barrier: the groups it touches stay dense.
//
// Attention: a Reshape that splits the channel axis into [..., H, D] heads followed by the
// Transpose / MatMul / Transpose / Reshape pattern of multi-head attention (match_head_split)
// is followed through: every atom learns its head, the query and key dims d of a head are united
// (they meet in q·kᵀ), and the value dims reach the merging Reshape's output, where the out
// projection consumes them. Such groups lose the same number of dims in every head (head-dim
// pruning), so the Reshape constants only change D; the scores' scale constant is untouched
// (1/sqrt(D) of the original model), which keeps the kept dims' math unchanged.
//
// Decision: per group, each atom class (atoms united together) is scored by the sum of its
// atoms' weight norms (a query/key dim pair by their product), and the round(S × classes) lowest
// classes are removed (attention: round(S × D) in every head).
//
// Rewrite: every constant that lines up with a channel axis (weights on their output or input
// axis, biases, BatchNormalization parameters, per-channel Add/Mul constants) was recorded as a
// cut during analysis; the positions whose atom was removed are sliced out. Removing a channel
// this way is exact: its values only ever reach the input channels of consumers that are cut
// too, so the pruned model computes what the original computes with those consumer input
// channels zeroed.
#include "passes/prune/prune_channels.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edgeq/error.h"
#include "edgeq/report.h"
#include "passes/graph/rewrite.h"
#include "passes/prune/bias_correction.h"
#include "passes/prune/prune_common.h"

namespace edgeq {

namespace {

using passes::is_graph_input;
using passes::known_rank;
using passes::is_graph_output;

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

class UnionFind {
 public:
  int add() {
    parent_.push_back(static_cast<int>(parent_.size()));
    return static_cast<int>(parent_.size()) - 1;
  }
  int size() const { return static_cast<int>(parent_.size()); }
  int find(int x) {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }
  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);  // smallest id is the root
  }

 private:
  std::vector<int> parent_;
};

// The channel axis of a value and the atom at each of its positions.
struct Channels {
  std::vector<int> atoms;
  int from_end = 0;  // channel axis counted from the last axis: broadcasting aligns right
  int rank = -1;     // -1: unknown
  std::optional<int64_t> inner;  // product of the dims after the channel axis, when known
};

// Ops that compute each element from the same element of their first input (other inputs are
// scalars by the spec: Clip's bounds, Dropout's ratio).
const std::set<std::string> kChannelLocalUnary = {
    "Relu", "LeakyRelu", "Sigmoid",         "HardSigmoid", "HardSwish", "Tanh",    "Elu",  "Selu",
    "Celu", "Softplus",  "Softsign",        "Gelu",        "Erf",       "Abs",     "Neg",  "Exp",
    "Log",  "Sqrt",      "Reciprocal",      "Floor",       "Ceil",      "Round",   "Sign", "Sin",
    "Cos",  "Mish",      "ThresholdedRelu", "Clip",        "Identity",  "Dropout", "Cast"};
// Elementwise with multidirectional broadcasting (ONNX "Broadcasting.md"); PRelu's slope
// broadcasts unidirectionally, which the same per-input check covers.
const std::set<std::string> kBroadcast = {"Add", "Sub", "Mul", "Div",  "Pow",
                                          "Max", "Min", "Sum", "Mean", "PRelu"};
const std::set<std::string> kPools = {"MaxPool",           "AveragePool",   "LpPool",
                                      "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"};

std::optional<std::vector<int64_t>> static_shape(const Value* v) {
  if (v == nullptr || !v->info.tensor || !v->info.tensor->shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const Dim& d : *v->info.tensor->shape) {
    if (!d.value) return std::nullopt;
    dims.push_back(*d.value);
  }
  return dims;
}

// Product of the last `n` dims, when the shape is static.
std::optional<int64_t> trailing_product(const Value* v, int n) {
  auto s = static_shape(v);
  if (!s || static_cast<int>(s->size()) < n) return std::nullopt;
  int64_t p = 1;
  for (size_t i = s->size() - static_cast<size_t>(n); i < s->size(); ++i) p *= (*s)[i];
  return p;
}

// Bytes per element when the tensor can be sliced element by element (not strings, not packed
// sub-byte types).
size_t element_bytes(const Tensor& t) {
  const uint64_t n = t.element_count();
  if (t.dtype() == DType::kString || n == 0 || t.byte_size() % n != 0) return 0;
  return static_cast<size_t>(t.byte_size() / n);
}

// The tensor without the positions whose keep flag is false, axis by axis (an empty list keeps
// the whole axis).
Tensor slice_tensor(const Tensor& t, const std::vector<std::vector<bool>>& keep) {
  const auto& d = t.dims();
  const size_t es = element_bytes(t);
  EDGEQ_CHECK(es > 0 && keep.size() == d.size(), "prune_channels: cannot slice tensor");
  std::vector<std::vector<int64_t>> idx(d.size());
  std::vector<int64_t> out_dims(d.size());
  for (size_t a = 0; a < d.size(); ++a) {
    for (int64_t i = 0; i < d[a]; ++i)
      if (keep[a].empty() || keep[a][static_cast<size_t>(i)]) idx[a].push_back(i);
    out_dims[a] = static_cast<int64_t>(idx[a].size());
  }
  std::vector<int64_t> stride(d.size(), 1);
  for (size_t a = d.size(); a-- > 1;) stride[a - 1] = stride[a] * d[a];
  Tensor out = Tensor::allocate(t.dtype(), out_dims);
  uint64_t count = 1;
  for (int64_t x : out_dims) count *= static_cast<uint64_t>(x);
  if (count == 0) return out;
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.mutable_values<std::byte>();
  std::vector<size_t> pos(d.size(), 0);  // odometer over the kept indices
  for (uint64_t o = 0; o < count; ++o) {
    int64_t off = 0;
    for (size_t a = 0; a < d.size(); ++a) off += idx[a][pos[a]] * stride[a];
    std::memcpy(dst + o * es, src + static_cast<size_t>(off) * es, es);
    for (size_t a = d.size(); a-- > 0;) {
      if (++pos[a] < idx[a].size()) break;
      pos[a] = 0;
    }
  }
  return out;
}

// L1 or L2 norm of each slice of a float32 tensor along `axis`.
std::vector<double> channel_norms(const Tensor& w, int axis, bool l1) {
  const auto& d = w.dims();
  const int64_t channels = d[static_cast<size_t>(axis)];
  int64_t stride = 1;
  for (size_t a = static_cast<size_t>(axis) + 1; a < d.size(); ++a) stride *= d[a];
  std::vector<double> norms(static_cast<size_t>(channels), 0.0);
  auto v = w.values<float>();
  for (size_t i = 0; i < v.size(); ++i) {
    const auto c = static_cast<size_t>((static_cast<int64_t>(i) / stride) % channels);
    const double x = v[i];
    norms[c] += l1 ? std::abs(x) : x * x;
  }
  if (!l1)
    for (double& n : norms) n = std::sqrt(n);
  return norms;
}

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// A rank-1 int64 constant's values (a Reshape shape).
std::optional<std::vector<int64_t>> int64_vector(const Tensor* t) {
  if (t == nullptr || t->dtype() != DType::kInt64 || t->dims().size() != 1 ||
      t->byte_size() != t->element_count() * sizeof(int64_t))
    return std::nullopt;
  auto v = t->values<int64_t>();
  return std::vector<int64_t>(v.begin(), v.end());
}

// The node of type `op_type` (default domain, main graph `g`) that is the only reader of `v`, when
// `v` is no graph output; else nullptr.
Node* sole_reader(const Value* v, const char* op_type, const Graph& g) {
  if (v == nullptr || v->uses().size() != 1 || is_graph_output(v)) return nullptr;
  Node* n = v->uses()[0].node;
  if (n->graph() != &g || !default_domain(*n) || n->op_type() != op_type) return nullptr;
  return n;
}

// A Transpose's explicit perm (a Transpose without one reverses the axes: not an attention
// pattern).
std::optional<std::vector<int64_t>> perm_of(const Node* n) {
  if (n == nullptr || n->op_type() != "Transpose") return std::nullopt;
  const Attribute* a = n->attr("perm");
  if (a == nullptr || a->type != AttrType::kInts) return std::nullopt;
  return a->ints;
}

int index_of(const std::vector<int64_t>& perm, int64_t axis) {
  auto it = std::find(perm.begin(), perm.end(), axis);
  return it == perm.end() ? -1 : static_cast<int>(it - perm.begin());
}

enum class Role {
  kProducer,   // its output channels are a space of their own
  kDepthwise,  // group = channels, one filter per channel: its channels are its input's
  kOther,      // neither (grouped Conv, batched MatMul weight): a barrier
};

// One eligible node: Conv/ConvTranspose/Gemm/MatMul with a constant float32 weight.
struct Layer {
  Node* node = nullptr;
  Role role = Role::kOther;
  std::string reason;          // why its output channels stay, as far as the node itself says
  int space = -1;              // kProducer: the space it created
  std::vector<int> out_atoms;  // the atoms of its output channels (none: not followed)
  std::string weight;
  std::vector<int64_t> shape_before;
  int64_t params = 0;
  std::optional<double> sparsity;  // from the schedule
};

// A layer that reads pruned channels through its weight's input-channel axis (consume()).
struct ConsumerCut {
  Node* node;
  int axis;
  std::vector<int> atoms;
};

// What bias correction did for a consumer (bias_correction.h).
struct Correction {
  std::string why_not;  // "" when corrected
  std::string target;
  bool measured = false;
};

// Constant input `input` of `node` loses the positions whose atom is removed, along each axis.
struct Cut {
  Node* node;
  int input;
  std::vector<std::pair<int, std::vector<int>>> axes;
};

// A Reshape that splits the channel axis into attention heads, recognised by match_head_split:
//   query  Reshape [..., H, D] → Transpose (D last, H a batch axis) → MatMul input A
//   key    Reshape [..., H, D] → Transpose (D second to last, same batch axes) → MatMul input B
//   value  Reshape [..., H, D] → Transpose (D last) → MatMul input B → Transpose ([..., H, D]
//          again) → Reshape [..., H×D], whose output carries the value's channels on.
// Channel c is dim c mod D of head c ÷ D.
struct HeadSplit {
  enum Kind { kQuery, kKey, kValue };
  Kind kind = kQuery;
  Node* reshape = nullptr;
  Node* partner = nullptr;  // query ↔ key Reshape
  Node* merge = nullptr;    // value: the Reshape merging the heads back
  int64_t heads = 0, head_dim = 0;
  std::vector<std::pair<Value*, int>> dim_axes;  // values whose axis holds D (their value_info)
  std::vector<int> atoms;                        // the channels split
};

class ChannelPruner {
 public:
  ChannelPruner(Model& model, const PruneOptions& options, PassContext& ctx)
      : model_(model), g_(*model.graph), options_(options), ctx_(ctx) {}

  PruneSummary run();

 private:
  // ---- analysis ----
  const Tensor* constant(const Value* v) const;
  const Channels* channels(const Value* v) const {
    auto it = chan_.find(v);
    return it == chan_.end() ? nullptr : &it->second;
  }
  int new_space(const std::string& reason) {
    space_reason_.push_back(reason);
    return spaces_.add();
  }
  std::vector<int> new_atoms(int space, int64_t count) {
    std::vector<int> atoms;
    for (int64_t i = 0; i < count; ++i) {
      atoms.push_back(atoms_.add());
      atom_space_.push_back(space);
      atom_score_.push_back(0.0);
      atom_head_.push_back(-1);
    }
    return atoms;
  }
  void unite_atoms(const std::vector<int>& a, const std::vector<int>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      atoms_.unite(a[i], b[i]);
      spaces_.unite(atom_space_[a[i]], atom_space_[b[i]]);
    }
  }
  void block(const std::vector<int>& atoms, const std::string& reason) {
    for (int a : atoms) {
      std::string& r = space_reason_[atom_space_[a]];
      if (r.empty()) r = reason;
    }
  }
  // Blocks every channel input of `n`: `n` cannot follow them.
  void barrier(const Node& n, const std::string& why = "") {
    for (const Value* in : n.inputs())
      if (const Channels* c = channels(in))
        block(c->atoms, "reaches " + n.describe() + (why.empty() ? "" : " (" + why + ")"));
  }
  void set_channels(Value* v, Channels c);
  void add_cut(Node* n, int input, int axis, const std::vector<int>& atoms);

  void collect_layers();
  void visit(Node& n);
  void visit_layer(Node& n, Layer& layer);
  void consume(Node& n);
  void follow_unary(Node& n);
  void follow_broadcast(Node& n);
  void follow_norm(Node& n);
  void follow_pool(Node& n);
  void follow_flatten(Node& n);
  void follow_concat(Node& n);
  std::string match_head_split(Node& reshape, const Channels& in, HeadSplit& hs) const;
  void follow_reshape(Node& n);
  void pair_heads();

  // ---- decision and rewrite ----
  void decide();
  bool removed(int atom) { return removed_class_[static_cast<size_t>(atoms_.find(atom))]; }
  std::vector<int> kept(const std::vector<int>& atoms) {
    std::vector<int> k;
    for (int a : atoms)
      if (!removed(a)) k.push_back(a);
    return k;
  }
  void apply();
  void correct_consumers();
  void replace_constant(Node* node, int input, Tensor t);

  Model& model_;
  Graph& g_;
  const PruneOptions& options_;
  PassContext& ctx_;

  UnionFind atoms_, spaces_;
  std::vector<int> atom_space_;
  std::vector<double> atom_score_;
  std::vector<std::string> space_reason_;  // non-empty: the space (and its group) stays dense
  std::map<int, double> space_sparsity_;   // scheduled sparsity of a producer's space
  std::unordered_map<const Value*, Channels> chan_;
  std::vector<Layer> layers_;
  std::unordered_map<const Node*, size_t> layer_of_;
  std::vector<Cut> cuts_;
  std::vector<ConsumerCut> consumers_;
  std::unordered_map<const Node*, Correction> corrections_;
  std::vector<std::pair<Node*, std::vector<int>>> depthwise_;  // group attribute follows
  std::vector<char> removed_class_;
  int prunable_groups_ = 0;  // groups free to lose channels
  // Attention (see HeadSplit): the head of each atom (-1 none, -2 two different ones), the
  // matched splits by Reshape node, and the (query atom, key atom) pairs scored by their product.
  std::vector<int> atom_head_;
  std::vector<HeadSplit> head_splits_;
  std::unordered_map<const Node*, size_t> split_of_;
  std::vector<std::pair<int, int>> qk_pairs_;
  // apply(): initializers and Constant nodes that may have become unused.
  std::vector<Value*> replaced_;
  std::vector<Node*> constant_nodes_;
  bool added_ = false;
};

const Tensor* ChannelPruner::constant(const Value* v) const {
  if (v == nullptr) return nullptr;
  if (const Tensor* t = passes::constant_value(v, model_.ir_version)) return t;
  const Node* p = v->producer();
  if (p != nullptr && default_domain(*p) && p->op_type() == "Constant" && p->output(0) == v) {
    const Attribute* a = p->attr("value");
    if (a != nullptr && a->type == AttrType::kTensor && !a->tensors.empty()) return &a->tensors[0];
  }
  return nullptr;
}

void ChannelPruner::set_channels(Value* v, Channels c) {
  if (v == nullptr) return;
  if (c.from_end == 0) c.inner = 1;
  if (is_graph_output(v)) block(c.atoms, "reaches the graph output '" + v->name() + "'");
  for (const Use& u : v->uses())
    if (u.node->graph() != &g_) block(c.atoms, "'" + v->name() + "' is read inside a subgraph");
  chan_[v] = std::move(c);
}

void ChannelPruner::add_cut(Node* n, int input, int axis, const std::vector<int>& atoms) {
  for (Cut& c : cuts_)
    if (c.node == n && c.input == input) {
      c.axes.emplace_back(axis, atoms);
      return;
    }
  cuts_.push_back({n, input, {{axis, atoms}}});
}

// The eligible layers are pruning::find_candidates' (constant float32 initializer weights) read by
// one node of the main graph; pruning::dense_reason gives the option defaults (excluded, first /
// last layer, fewer than min_params, schedule). A depthwise Conv follows its input's channels,
// so min_params does not apply to it: its own size says nothing about the channels it follows.
void ChannelPruner::collect_layers() {
  const std::vector<pruning::Candidate> candidates = pruning::find_candidates(model_);
  PruneOptions follower_options = options_;
  follower_options.min_params = 0;
  for (size_t ci = 0; ci < candidates.size(); ++ci) {
    const pruning::Candidate& c = candidates[ci];
    for (Node* n : c.nodes) {
      if (n->graph() != &g_) continue;
      const Tensor& w = *c.weight->initializer();
      Layer l;
      l.node = n;
      l.weight = c.weight->name();
      l.shape_before = w.dims();
      l.params = static_cast<int64_t>(w.element_count());
      const std::string& op = n->op_type();
      const size_t rank = w.dims().size();
      if (passes::constant_value(c.weight, model_.ir_version) == nullptr) {
        l.reason = c.blocked;  // a caller may override it: not a constant
      } else if (op == "Conv" || op == "ConvTranspose") {
        const int64_t group = n->attr_int("group", 1);
        if (rank < 3)
          l.reason = "weight of rank " + std::to_string(rank);
        else if (group == 1)
          l.role = Role::kProducer;
        else if (op == "Conv" && w.dims()[1] == 1 && w.dims()[0] == group)
          l.role = Role::kDepthwise;
        else
          l.reason = "grouped convolution (group=" + std::to_string(group) + ")";
      } else if (rank == 2) {
        l.role = Role::kProducer;
      } else {
        l.reason = "weight of rank " + std::to_string(rank);
      }
      std::string dense = pruning::dense_reason(
          c, ci, candidates.size(), l.role == Role::kDepthwise ? follower_options : options_);
      if (dense.empty() && c.nodes.size() > 1)
        dense = "weight shared by " + std::to_string(c.nodes.size()) + " layers";
      if (l.reason.empty()) l.reason = dense;
      if (const double* s = pruning::scheduled_sparsity(c, options_)) l.sparsity = *s;
      layer_of_[n] = layers_.size();
      layers_.push_back(std::move(l));
    }
  }
  std::unordered_map<const Node*, size_t> order;
  for (const auto& n : g_.nodes()) order.emplace(n.get(), order.size());
  std::stable_sort(layers_.begin(), layers_.end(),
                   [&](const Layer& a, const Layer& b) { return order[a.node] < order[b.node]; });
  for (size_t i = 0; i < layers_.size(); ++i) layer_of_[layers_[i].node] = i;
}

void ChannelPruner::visit(Node& n) {
  auto it = layer_of_.find(&n);
  if (it != layer_of_.end()) {
    visit_layer(n, layers_[it->second]);
    return;
  }
  bool reads_channels = false;
  for (const Value* in : n.inputs()) reads_channels = reads_channels || channels(in) != nullptr;
  if (!reads_channels) return;
  const std::string& op = n.op_type();
  if (!default_domain(n) || !n.subgraphs().empty())
    barrier(n);
  else if (kChannelLocalUnary.count(op))
    follow_unary(n);
  else if (kBroadcast.count(op))
    follow_broadcast(n);
  else if (op == "BatchNormalization" || op == "InstanceNormalization")
    follow_norm(n);
  else if (kPools.count(op))
    follow_pool(n);
  else if (op == "Flatten")
    follow_flatten(n);
  else if (op == "Concat")
    follow_concat(n);
  else if (op == "Reshape")
    follow_reshape(n);
  else
    barrier(n);
}

// The node reads its input's channels through its weight's input-channel axis.
void ChannelPruner::consume(Node& n) {
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (channels(n.input(i))) {
      barrier(n, "channels reach a weight or bias input");
      return;
    }
  const Channels* in = channels(n.input(0));
  if (in == nullptr) return;
  if (options_.exclude_nodes.count(n.name())) {
    barrier(n, "excluded");
    return;
  }
  const std::string& op = n.op_type();
  const auto& w = constant(n.input(1))->dims();
  const auto size = static_cast<int64_t>(in->atoms.size());
  const int r = static_cast<int>(w.size());
  int axis = -1;
  if (op == "Conv" || op == "ConvTranspose") {
    const int64_t per_group = op == "Conv" ? w[1] : w[0];
    if (in->from_end == r - 2 && (in->rank < 0 || in->rank == r) && per_group == size)
      axis = op == "Conv" ? 1 : 0;
  } else if (op == "Gemm") {
    const bool trans_b = n.attr_int("transB", 0) != 0;
    if (n.attr_int("transA", 0) == 0 && in->from_end == 0 && (trans_b ? w[1] : w[0]) == size)
      axis = trans_b ? 1 : 0;
  } else if (op == "MatMul") {
    if (in->from_end == 0 && w[0] == size) axis = 0;
  }
  if (axis < 0) {
    barrier(n, "its input channels do not line up with the weight");
    return;
  }
  add_cut(&n, 1, axis, in->atoms);
  consumers_.push_back({&n, axis, in->atoms});
}

void ChannelPruner::visit_layer(Node& n, Layer& layer) {
  if (layer.role == Role::kOther) {
    barrier(n, layer.reason);
    return;
  }
  const Tensor& w = *constant(n.input(1));
  const int r = static_cast<int>(w.dims().size());
  const std::string& op = n.op_type();
  if (layer.role == Role::kDepthwise) {
    const Channels* in = channels(n.input(0));
    if (in == nullptr) {
      if (layer.reason.empty())
        layer.reason = "depthwise convolution whose input channels are not pruned";
      return;
    }
    const Tensor* bias = constant(n.input(2));
    std::string why = layer.reason;
    if (in->from_end != r - 2 || (in->rank >= 0 && in->rank != r) ||
        static_cast<int64_t>(in->atoms.size()) != w.dims()[0])
      why = "its input channels do not line up with the weight";
    else if (n.input(2) && (bias == nullptr || bias->dims() != std::vector<int64_t>{w.dims()[0]} ||
                            element_bytes(*bias) == 0))
      why = "bias is not a constant vector";
    for (size_t i = 1; i < n.inputs().size(); ++i)
      if (channels(n.input(i))) why = "channels reach a weight or bias input";
    if (!why.empty()) {
      barrier(n, why);
      return;
    }
    add_cut(&n, 1, 0, in->atoms);
    if (n.input(2)) add_cut(&n, 2, 0, in->atoms);
    const auto norms = channel_norms(w, 0, options_.l1);
    for (size_t c = 0; c < norms.size(); ++c)
      atom_score_[static_cast<size_t>(in->atoms[c])] += norms[c];
    depthwise_.emplace_back(&n, in->atoms);
    layer.out_atoms = in->atoms;
    Channels out = *in;
    out.inner = trailing_product(n.output(0), r - 2);
    set_channels(n.output(0), std::move(out));
    return;
  }

  consume(n);

  // Output channels: axis of the weight, count, and where the channel axis sits in the output.
  int out_axis = 0;
  Channels out;
  if (op == "Conv") {
    out_axis = 0;
    out.from_end = r - 2;
    out.rank = r;
  } else if (op == "ConvTranspose") {
    out_axis = 1;
    out.from_end = r - 2;
    out.rank = r;
  } else if (op == "Gemm") {
    out_axis = n.attr_int("transB", 0) != 0 ? 0 : 1;
    out.rank = 2;
  } else {  // MatMul [..., K] × [K, N]
    out_axis = 1;
    out.rank = known_rank(n.output(0));
  }
  const int64_t channel_count = w.dims()[static_cast<size_t>(out_axis)];
  std::string why = layer.reason;
  // The bias must be cut with the channels: Conv's B is [M]; Gemm's C broadcasts to [M, N].
  int bias_axis = -1;
  if (op != "MatMul" && n.input(2) != nullptr) {
    const Tensor* b = constant(n.input(2));
    const int rb = b ? static_cast<int>(b->dims().size()) : 0;
    if (b == nullptr || element_bytes(*b) == 0) {
      if (why.empty()) why = "bias is not a constant";
    } else if (op == "Gemm" && (rb == 0 || b->dims().back() == 1)) {
      // broadcast along the channels: nothing to cut
    } else if (rb >= 1 && b->dims().back() == channel_count && (op == "Gemm" || rb == 1)) {
      bias_axis = rb - 1;
    } else if (why.empty()) {
      why = "bias of shape " + dims_text(b->dims()) + " does not follow the channels";
    }
  }
  const int space = new_space(why.empty() ? why : n.describe() + ": " + why);
  layer.space = space;
  if (layer.sparsity) space_sparsity_[space] = *layer.sparsity;
  layer.out_atoms = new_atoms(space, channel_count);
  if (why.empty()) layer.reason.clear();
  add_cut(&n, 1, out_axis, layer.out_atoms);
  if (bias_axis >= 0) add_cut(&n, 2, bias_axis, layer.out_atoms);
  const auto norms = channel_norms(w, out_axis, options_.l1);
  for (size_t c = 0; c < norms.size(); ++c)
    atom_score_[static_cast<size_t>(layer.out_atoms[c])] += norms[c];
  out.atoms = layer.out_atoms;
  out.inner =
      out.from_end == 0 ? std::optional<int64_t>(1) : trailing_product(n.output(0), out.from_end);
  for (size_t k = 1; k < n.outputs().size(); ++k)
    if (n.output(k) && (!n.output(k)->uses().empty() || is_graph_output(n.output(k))))
      block(out.atoms, n.describe() + " has extra outputs");
  set_channels(n.output(0), std::move(out));
}

void ChannelPruner::follow_unary(Node& n) {
  for (size_t i = 1; i < n.inputs().size(); ++i)
    if (channels(n.input(i))) {
      barrier(n, "channels reach a parameter input");
      return;
    }
  const Channels* in = channels(n.input(0));
  if (in == nullptr) {
    barrier(n);
    return;
  }
  // Dropout's mask has the data's shape: it carries the same channels.
  for (Value* out : n.outputs())
    if (out) set_channels(out, *in);
}

void ChannelPruner::follow_broadcast(Node& n) {
  const Channels* first = nullptr;
  for (const Value* in : n.inputs())
    if ((first = channels(in))) break;
  const int f = first->from_end;
  const auto C = static_cast<int64_t>(first->atoms.size());
  std::vector<std::pair<int, int>> cuts;  // (input, axis)
  std::vector<const Channels*> ties;
  bool inner_kept = true;
  int rank = first->rank;
  for (size_t i = 0; i < n.inputs().size(); ++i) {
    const Value* v = n.input(i);
    if (v == nullptr) continue;
    if (const Channels* c = channels(v)) {
      if (c->from_end != f || static_cast<int64_t>(c->atoms.size()) != C) {
        barrier(n, "channel axes do not line up");
        return;
      }
      ties.push_back(c);
      inner_kept = inner_kept && c->inner == first->inner;
      rank = (rank < 0 || c->rank < 0) ? -1 : std::max(rank, c->rank);
      continue;
    }
    std::vector<int64_t> dims;
    const Tensor* t = constant(v);
    if (t) {
      dims = t->dims();
    } else if (auto s = static_shape(v)) {
      dims = *s;
    } else {
      barrier(n, "input '" + v->name() + "' has an unknown shape");
      return;
    }
    const int rc = static_cast<int>(dims.size());
    if (rank >= 0) rank = std::max(rank, rc);
    for (int k = 0; k < std::min(rc, f); ++k) inner_kept = inner_kept && dims[rc - 1 - k] == 1;
    if (rc <= f) continue;  // no channel axis in this input
    const int axis = rc - 1 - f;
    if (dims[axis] == 1) continue;  // broadcast along the channels
    if (dims[axis] != C || t == nullptr || element_bytes(*t) == 0) {
      barrier(n, "input '" + v->name() + "' does not broadcast per channel");
      return;
    }
    cuts.emplace_back(static_cast<int>(i), axis);
  }
  for (const Channels* c : ties) unite_atoms(first->atoms, c->atoms);
  for (auto [input, axis] : cuts) add_cut(&n, input, axis, first->atoms);
  Channels out = *first;
  out.rank = rank;
  if (!inner_kept) out.inner = trailing_product(n.output(0), f);
  set_channels(n.output(0), std::move(out));
}

// BatchNormalization / InstanceNormalization: per-channel parameters along axis 1.
void ChannelPruner::follow_norm(Node& n) {
  const Channels* in = channels(n.input(0));
  const bool bn = n.op_type() == "BatchNormalization";
  const size_t params = bn ? 5 : 3;
  std::string why;
  if (in == nullptr || in->rank < 2 || in->from_end != in->rank - 2)
    why = "channels are not on axis 1";
  else if (bn && (n.attr_int("training_mode", 0) != 0 || n.attr_int("spatial", 1) != 1))
    why = "training mode";
  else if (n.inputs().size() != params)
    why = "unexpected inputs";
  for (size_t k = 1; why.empty() && k < n.outputs().size(); ++k)
    if (n.output(k) && (!n.output(k)->uses().empty() || is_graph_output(n.output(k))))
      why = "statistics outputs are used";
  for (size_t i = 1; why.empty() && i < params; ++i) {
    const Tensor* t = constant(n.input(i));
    if (t == nullptr || t->dims() != std::vector<int64_t>{static_cast<int64_t>(in->atoms.size())} ||
        element_bytes(*t) == 0)
      why = "parameter '" + n.input(i)->name() + "' is not a constant per-channel vector";
  }
  if (!why.empty()) {
    barrier(n, why);
    return;
  }
  for (size_t i = 1; i < params; ++i) add_cut(&n, static_cast<int>(i), 0, in->atoms);
  set_channels(n.output(0), *in);
}

void ChannelPruner::follow_pool(Node& n) {
  const Channels* in = channels(n.input(0));
  if (in == nullptr || in->rank < 3 || in->from_end != in->rank - 2) {
    barrier(n, "channels are not on axis 1");
    return;
  }
  // MaxPool's indices count through the channel axis: they would change.
  if (n.output(1) && (!n.output(1)->uses().empty() || is_graph_output(n.output(1)))) {
    barrier(n, "indices output is used");
    return;
  }
  Channels out = *in;
  out.inner = n.op_type().rfind("Global", 0) == 0 ? std::optional<int64_t>(1)
                                                  : trailing_product(n.output(0), in->from_end);
  set_channels(n.output(0), std::move(out));
}

// Flatten(axis) with the channels on `axis`: position c of the input channels becomes positions
// c × inner … (c + 1) × inner − 1 of the output's last axis.
void ChannelPruner::follow_flatten(Node& n) {
  const Channels* in = channels(n.input(0));
  int64_t axis = n.attr_int("axis", 1);
  if (in->rank >= 0 && axis < 0) axis += in->rank;
  if (in->rank < 0 || axis != in->rank - 1 - in->from_end || !in->inner) {
    barrier(n, in->inner ? "channels are not on the flattened axis" : "spatial size unknown");
    return;
  }
  Channels out;
  out.rank = 2;
  out.from_end = 0;
  for (int a : in->atoms)
    for (int64_t k = 0; k < *in->inner; ++k) out.atoms.push_back(a);
  set_channels(n.output(0), std::move(out));
}

void ChannelPruner::follow_concat(Node& n) {
  const Channels* first = nullptr;
  for (const Value* in : n.inputs())
    if ((first = channels(in))) break;
  const int64_t axis = n.attr_int("axis", 1);
  int rank = first->rank;
  for (const Value* in : n.inputs()) {
    const Channels* c = channels(in);
    if (c && c->from_end != first->from_end) {
      barrier(n, "channel axes do not line up");
      return;
    }
    if (rank < 0) rank = c ? c->rank : known_rank(in);
  }
  int axis_from_end = -1;
  if (axis < 0)
    axis_from_end = static_cast<int>(-axis - 1);
  else if (rank >= 0)
    axis_from_end = rank - 1 - static_cast<int>(axis);
  if (axis_from_end < 0) {
    barrier(n, "rank unknown");
    return;
  }
  Channels out = *first;
  out.rank = rank;
  if (axis_from_end != first->from_end) {
    // Concatenated along another axis: every input must carry the same channels.
    for (const Value* in : n.inputs()) {
      const Channels* c = channels(in);
      if (c == nullptr || c->atoms.size() != first->atoms.size()) {
        barrier(n, "an input without prunable channels");
        return;
      }
    }
    for (const Value* in : n.inputs()) unite_atoms(first->atoms, channels(in)->atoms);
    out.inner = std::nullopt;
    set_channels(n.output(0), std::move(out));
    return;
  }
  // Along the channel axis: the output's channels are the inputs' channels one after the other.
  // An input that carries no prunable channels contributes channels that always stay.
  out.atoms.clear();
  for (const Value* in : n.inputs()) {
    if (const Channels* c = channels(in)) {
      out.atoms.insert(out.atoms.end(), c->atoms.begin(), c->atoms.end());
      if (c->inner != first->inner) out.inner = std::nullopt;
      continue;
    }
    std::optional<int64_t> extent;
    if (const Tensor* t = constant(in)) {
      if (static_cast<int>(t->dims().size()) > first->from_end)
        extent = t->dims()[t->dims().size() - 1 - static_cast<size_t>(first->from_end)];
    } else if (auto s = static_shape(in)) {
      if (static_cast<int>(s->size()) > first->from_end)
        extent = (*s)[s->size() - 1 - static_cast<size_t>(first->from_end)];
    }
    if (!extent) {
      barrier(n, "input '" + in->name() + "' has an unknown channel count");
      return;
    }
    const int fixed = new_space("concatenated with '" + in->name() + "', which is not pruned");
    auto atoms = new_atoms(fixed, *extent);
    out.atoms.insert(out.atoms.end(), atoms.begin(), atoms.end());
    out.inner = std::nullopt;
  }
  if (!out.inner) out.inner = trailing_product(n.output(0), first->from_end);
  set_channels(n.output(0), std::move(out));
}

// Checks that Reshape `r`, reading channels `in`, splits them into attention heads as HeadSplit
// describes, and fills `hs`. Returns why not ("" when it does). Only what keeps the rewrite exact
// is required: the split is exactly [..., H, D] of the channel axis; the Transposes keep D where
// the MatMul sums over it (query, key) or carries it (value) and H on a batch axis; query and key
// have equal shapes and batch axes, so head h of q meets head h of k; the value's heads come back
// to [..., H, D] and the last Reshape merges exactly those two axes. Every value in between has
// this one reader, so nothing else sees D change.
std::string ChannelPruner::match_head_split(Node& r, const Channels& in, HeadSplit& hs) const {
  const auto shape = int64_vector(constant(r.input(1)));
  if (!shape) return "its shape is not a constant int64 vector";
  const std::vector<int64_t>& s = *shape;
  const int L = static_cast<int>(s.size());
  const auto C = static_cast<int64_t>(in.atoms.size());
  if (in.from_end != 0) return "the channels are not on the last axis";
  if (L < 3) return "shape " + dims_text(s) + " does not split the channels into heads";
  if (std::count(s.begin(), s.end(), int64_t{-1}) > 1) return "more than one -1 in its shape";
  // ONNX Reshape: 0 copies the input's dim at that index (allowzero = 0), -1 is inferred.
  const bool allowzero = r.attr_int("allowzero", 0) != 0;
  const int rank = in.rank >= 0 ? in.rank : known_rank(r.input(0));
  for (int j = 0; j < L - 2; ++j) {
    if (s[static_cast<size_t>(j)] < -1) return "shape " + dims_text(s) + " is invalid";
    if (s[static_cast<size_t>(j)] == 0 && (allowzero || rank < 0 || j >= rank - 1))
      return "shape " + dims_text(s) + ": a 0 that does not copy a leading (batch/sequence) dim";
  }
  const int64_t a = s[static_cast<size_t>(L - 2)], b = s[static_cast<size_t>(L - 1)];
  if (a == 0 || b == 0 || a < -1 || b < -1)
    return "shape " + dims_text(s) + ": its last two dims are not [heads, head dim]";
  int64_t heads = a, head_dim = b;
  if (a > 0 && b > 0) {
    if (a * b != C)
      return "shape " + dims_text(s) + " does not split the " + std::to_string(C) +
             " channels exactly";
  } else {
    // A -1 among the head dims is C ÷ the other one only when the leading dims are the input's.
    const auto in_shape = static_shape(r.input(0));
    bool prefix = rank == L - 1;
    for (int j = 0; prefix && j < L - 2; ++j) {
      const int64_t sj = s[static_cast<size_t>(j)];
      prefix = sj == 0 || (in_shape && (*in_shape)[static_cast<size_t>(j)] == sj);
    }
    const int64_t other = a > 0 ? a : b;
    if (!prefix || C % other != 0)
      return "shape " + dims_text(s) + ": its -1 may not split the channels exactly";
    (a > 0 ? head_dim : heads) = C / other;
  }
  Node* t = sole_reader(r.output(0), "Transpose", g_);
  const auto perm = perm_of(t);
  if (!perm || perm->size() != static_cast<size_t>(L))
    return "its output does not go to one Transpose with a perm of " + std::to_string(L) + " axes";
  const int pd = index_of(*perm, L - 1), ph = index_of(*perm, L - 2);
  if (pd < 0 || ph < 0 || ph >= L - 2)
    return "Transpose " + t->describe() + " does not keep the heads on a batch axis";
  Node* mm = sole_reader(t->output(0), "MatMul", g_);
  if (mm == nullptr) return "the heads of " + t->describe() + " do not go to one MatMul";
  const int side = mm->input(0) == t->output(0) ? 0 : 1;
  hs.reshape = &r;
  hs.heads = heads;
  hs.head_dim = head_dim;
  hs.atoms = in.atoms;
  hs.dim_axes = {{r.output(0), L - 1}, {t->output(0), pd}};

  if (side == 1 && pd == L - 1) {  // value: context = P × v carries D on its last axis
    hs.kind = HeadSplit::kValue;
    Node* t2 = sole_reader(mm->output(0), "Transpose", g_);
    const auto perm2 = perm_of(t2);
    if (!perm2 || perm2->size() != static_cast<size_t>(L) ||
        (*perm2)[static_cast<size_t>(L - 1)] != L - 1 || (*perm2)[static_cast<size_t>(L - 2)] != ph)
      return "the output of " + mm->describe() + " does not go to one Transpose back to [..., " +
             "heads, head dim]";
    Node* merge = sole_reader(t2->output(0), "Reshape", g_);
    const auto ms = merge ? int64_vector(constant(merge->input(1))) : std::nullopt;
    if (!ms || ms->size() != static_cast<size_t>(L - 1))
      return "the output of " + t2->describe() + " does not go to one Reshape with a constant " +
             "shape of " + std::to_string(L - 1) + " axes";
    const bool merge_allowzero = merge->attr_int("allowzero", 0) != 0;
    const int64_t last = ms->back();
    bool ok = last == heads * head_dim || (last == -1 && heads > 1);
    for (size_t j = 0; ok && j + 1 < ms->size(); ++j) {
      const int64_t mj = (*ms)[j];
      // With an explicit last dim any -1 / copy / number keeps the merge exact; a -1 last dim is
      // H×D only when every leading dim is a copy.
      ok = last == -1 ? (mj == 0 && !merge_allowzero)
                      : (mj == -1 || mj > 0 || (mj == 0 && !merge_allowzero));
    }
    if (!ok)
      return "Reshape " + merge->describe() + " shape " + dims_text(*ms) +
             " does not merge the heads back into " + std::to_string(heads * head_dim) +
             " channels exactly";
    hs.merge = merge;
    hs.dim_axes.emplace_back(mm->output(0), L - 1);
    hs.dim_axes.emplace_back(t2->output(0), L - 1);
    return "";
  }
  const bool query = side == 0 && pd == L - 1;
  const bool key = side == 1 && pd == L - 2;
  if (!query && !key)
    return "the head dim is not on the axis " + mm->describe() + " sums over or carries";
  hs.kind = query ? HeadSplit::kQuery : HeadSplit::kKey;
  // The other operand: Transpose(Reshape(...)) with D where the MatMul sums over it, the same
  // batch axes and the same shape constant.
  Value* other = mm->input(query ? 1 : 0);
  Node* t2 = other->producer();
  const auto perm2 = perm_of(t2);
  Node* r2 = perm2 && t2->input(0) ? t2->input(0)->producer() : nullptr;
  if (!perm2 || !default_domain(*t2) || sole_reader(other, "MatMul", g_) != mm || r2 == nullptr ||
      r2->op_type() != "Reshape" || !default_domain(*r2) ||
      sole_reader(t2->input(0), "Transpose", g_) != t2)
    return std::string(query ? "the key" : "the query") + " of " + mm->describe() +
           " is not Transpose(Reshape(...)) read only there";
  bool same = perm2->size() == static_cast<size_t>(L) &&
              (*perm2)[static_cast<size_t>(query ? L - 2 : L - 1)] == L - 1 &&
              int64_vector(constant(r2->input(1))) == shape &&
              (r2->attr_int("allowzero", 0) != 0) == allowzero;
  for (int j = 0; same && j < L - 2; ++j)
    same = (*perm2)[static_cast<size_t>(j)] == (*perm)[static_cast<size_t>(j)];
  if (!same)
    return std::string(query ? "the key" : "the query") + " Reshape " + r2->describe() +
           " / Transpose " + t2->describe() + " do not pair its heads and head dims with these";
  hs.partner = r2;
  return "";
}

void ChannelPruner::follow_reshape(Node& n) {
  const Channels* in = channels(n.input(0));
  if (in == nullptr || channels(n.input(1)) != nullptr) {
    barrier(n, "channels reach its shape input");
    return;
  }
  HeadSplit hs;
  const std::string why = match_head_split(n, *in, hs);
  if (!why.empty()) {
    barrier(n, "not an attention head split: " + why);
    return;
  }
  for (size_t c = 0; c < hs.atoms.size(); ++c) {
    int& h = atom_head_[static_cast<size_t>(hs.atoms[c])];
    const auto head = static_cast<int>(static_cast<int64_t>(c) / hs.head_dim);
    h = (h == -1 || h == head) ? head : -2;
  }
  if (hs.kind == HeadSplit::kValue) {
    Channels out;
    out.atoms = hs.atoms;
    out.rank = hs.dim_axes[0].second;  // the split has rank L, the merge L - 1
    set_channels(hs.merge->output(0), std::move(out));
  }
  auto p = split_of_.find(hs.partner);
  if (p != split_of_.end()) {
    // Query dim d and key dim d of a head meet in q·kᵀ: one channel class.
    const HeadSplit& other = head_splits_[p->second];
    if (other.atoms.size() == hs.atoms.size()) {
      unite_atoms(hs.atoms, other.atoms);
      for (size_t c = 0; c < hs.atoms.size(); ++c)
        qk_pairs_.emplace_back(hs.atoms[c], other.atoms[c]);
    } else {
      block(hs.atoms, "query and key of " + n.describe() + " have different channel counts");
      block(other.atoms, "query and key of " + n.describe() + " have different channel counts");
    }
  }
  split_of_[&n] = head_splits_.size();
  head_splits_.push_back(std::move(hs));
}

// A query or key split whose partner was not followed would lose dims alone: it stays dense.
void ChannelPruner::pair_heads() {
  for (const HeadSplit& hs : head_splits_)
    if (hs.kind != HeadSplit::kValue && !split_of_.count(hs.partner))
      block(hs.atoms, std::string("its ") + (hs.kind == HeadSplit::kQuery ? "key" : "query") +
                          " Reshape " + hs.partner->describe() + " carries no prunable channels");
}

// Per group: remove the round(S × classes) lowest-scored channel classes, every space keeping at
// least one channel of its own.
void ChannelPruner::decide() {
  const int natoms = atoms_.size();
  removed_class_.assign(static_cast<size_t>(natoms), 0);
  std::vector<std::string> group_reason(space_reason_.size());
  for (int s = 0; s < spaces_.size(); ++s) {
    std::string& r = group_reason[static_cast<size_t>(spaces_.find(s))];
    if (r.empty()) r = space_reason_[static_cast<size_t>(s)];
  }
  std::vector<std::vector<int>> group_classes(space_reason_.size());
  std::vector<std::vector<int>> class_atoms(static_cast<size_t>(natoms));
  std::vector<double> class_score(static_cast<size_t>(natoms), 0.0);
  for (int a = 0; a < natoms; ++a) {
    const int cls = atoms_.find(a);
    if (class_atoms[static_cast<size_t>(cls)].empty())
      group_classes[static_cast<size_t>(spaces_.find(atom_space_[a]))].push_back(cls);
    class_atoms[static_cast<size_t>(cls)].push_back(a);
    class_score[static_cast<size_t>(cls)] += atom_score_[static_cast<size_t>(a)];
  }
  // A query/key dim is scored by the product of the two norms: the size of its q·k term.
  for (auto [q, k] : qk_pairs_) {
    const auto cls = static_cast<size_t>(atoms_.find(q));
    if (atoms_.find(k) == static_cast<int>(cls) && class_atoms[cls].size() == 2)
      class_score[cls] = atom_score_[static_cast<size_t>(q)] * atom_score_[static_cast<size_t>(k)];
  }
  std::vector<int64_t> live(space_reason_.size(), 0);
  for (int a = 0; a < natoms; ++a) ++live[static_cast<size_t>(atom_space_[a])];
  for (size_t grp = 0; grp < group_classes.size(); ++grp) {
    auto& classes = group_classes[grp];
    if (classes.empty() || !group_reason[grp].empty()) continue;
    // A scheduled sparsity of the group's first producer that has one, else --sparsity.
    double sparsity = options_.sparsity;
    for (auto it = space_sparsity_.rbegin(); it != space_sparsity_.rend(); ++it)
      if (static_cast<size_t>(spaces_.find(it->first)) == grp) sparsity = it->second;
    auto by_score = [&](int x, int y) {
      return class_score[static_cast<size_t>(x)] < class_score[static_cast<size_t>(y)];
    };
    // Attention head dims: round(S × D) of the D classes of every head go, so all heads keep the
    // same D' and the Reshape constants stay valid.
    std::map<int, std::vector<int>> by_head;
    bool headed = false, mixed = false;
    for (int cls : classes) {
      int head = atom_head_[static_cast<size_t>(class_atoms[static_cast<size_t>(cls)][0])];
      for (int a : class_atoms[static_cast<size_t>(cls)]) {
        headed = headed || atom_head_[static_cast<size_t>(a)] != -1;
        if (atom_head_[static_cast<size_t>(a)] != head) head = -2;
      }
      if (head < 0)
        mixed = true;
      else
        by_head[head].push_back(cls);
    }
    if (headed) {
      const size_t d = by_head.empty() ? 0 : by_head.begin()->second.size();
      for (const auto& [h, members] : by_head)
        if (members.size() != d) mixed = true;
      if (mixed) {
        group_reason[grp] = "attention head dims tied with channels outside their head";
        continue;
      }
      const auto dims = static_cast<int64_t>(d);
      prunable_groups_ += dims > 1;
      const int64_t k =
          std::min<int64_t>(std::llround(sparsity * static_cast<double>(dims)), dims - 1);
      for (auto& [h, members] : by_head) {
        std::stable_sort(members.begin(), members.end(), by_score);
        for (int64_t i = 0; i < k; ++i) removed_class_[static_cast<size_t>(members[i])] = 1;
      }
      continue;
    }
    const auto n = static_cast<int64_t>(classes.size());
    prunable_groups_ += n > 1;
    const int64_t k = std::min<int64_t>(std::llround(sparsity * static_cast<double>(n)), n - 1);
    std::stable_sort(classes.begin(), classes.end(), by_score);
    int64_t done = 0;
    for (int cls : classes) {
      if (done >= k) break;
      std::vector<int64_t> lose(space_reason_.size(), 0);
      bool ok = true;
      for (int a : class_atoms[static_cast<size_t>(cls)]) {
        const auto s = static_cast<size_t>(atom_space_[a]);
        ok = ok && live[s] - ++lose[s] > 0;
      }
      if (!ok) continue;
      for (int a : class_atoms[static_cast<size_t>(cls)])
        --live[static_cast<size_t>(atom_space_[a])];
      removed_class_[static_cast<size_t>(cls)] = 1;
      ++done;
    }
  }
  // What each layer reports when its channels stay: its own reason, else its group's.
  for (Layer& l : layers_) {
    if (!l.reason.empty() || l.out_atoms.empty()) continue;
    const std::string& r =
        group_reason[static_cast<size_t>(spaces_.find(atom_space_[l.out_atoms[0]]))];
    l.reason = r;
  }
}

// Input `input` of `node` becomes `t`: in place when the initializer is this node's alone, else
// (shared, or a Constant node's output) the node gets its own copy.
void ChannelPruner::replace_constant(Node* node, int input, Tensor t) {
  Value* v = node->input(static_cast<size_t>(input));
  if (v->is_initializer() && v->uses().size() == 1 && v->graph() == &g_ && !is_graph_input(v) &&
      !is_graph_output(v)) {
    t.carried = v->initializer()->carried;
    v->set_initializer(std::move(t));
    return;
  }
  Value* fresh = g_.add_initializer(g_.unique_name(v->name() + "_pruned"), std::move(t));
  node->set_input(static_cast<size_t>(input), fresh);
  added_ = true;
  if (v->is_initializer())
    replaced_.push_back(v);
  else if (v->producer())
    constant_nodes_.push_back(v->producer());
}

// Before anything is cut: a consumer losing input channels loses what those channels added to
// its outputs on average; bias correction adds that back (the producers' BatchNormalization
// constants, which give the expected values, are still whole here). A bias the correction adds to
// a layer whose own output channels go is cut with them.
void ChannelPruner::correct_consumers() {
  for (const ConsumerCut& cc : consumers_) {
    Value* wv = cc.node->input(1);
    if (!wv->is_initializer() || wv->initializer()->dtype() != DType::kFloat) continue;
    const Tensor& w = *wv->initializer();
    const auto& dims = w.dims();
    int64_t outer = 1, inner = 1;
    for (int a = 0; a < cc.axis; ++a) outer *= dims[static_cast<size_t>(a)];
    for (size_t a = static_cast<size_t>(cc.axis) + 1; a < dims.size(); ++a) inner *= dims[a];
    const auto len = static_cast<int64_t>(cc.atoms.size());
    const auto original = w.values<float>();
    std::vector<float> zeroed(original.begin(), original.end());
    bool any = false;
    for (int64_t i = 0; i < len; ++i) {
      if (!removed(cc.atoms[static_cast<size_t>(i)])) continue;
      any = true;
      for (int64_t o = 0; o < outer; ++o)
        std::fill_n(zeroed.begin() + (o * len + i) * inner, inner, 0.0f);
    }
    if (!any) continue;
    pruning::Candidate c;
    c.weight = wv;
    c.nodes = {cc.node};
    const Value* in = cc.node->input(0);
    auto m = in != nullptr ? options_.input_means.find(in->name()) : options_.input_means.end();
    const bool had_bias = cc.node->input(2) != nullptr;
    Correction& r = corrections_[cc.node];
    r.why_not = pruning::correct_bias(c, original.data(), zeroed.data(), r.target,
                                      m != options_.input_means.end() ? &m->second : nullptr, r.measured);
    r.measured = r.measured && r.why_not.empty();
    if (r.why_not.empty() && !had_bias && cc.node->input(2) != nullptr) {
      auto layer = layer_of_.find(cc.node);
      if (layer != layer_of_.end() && !layers_[layer->second].out_atoms.empty())
        add_cut(cc.node, 2, 0, layers_[layer->second].out_atoms);
    }
  }
}

void ChannelPruner::apply() {
  if (options_.bias_correction) correct_consumers();
  for (const Cut& cut : cuts_) {
    Value* v = cut.node->input(static_cast<size_t>(cut.input));
    const Tensor& t = *constant(v);
    std::vector<std::vector<bool>> keep(t.dims().size());
    bool any = false;
    for (const auto& [axis, atoms] : cut.axes) {
      EDGEQ_CHECK(static_cast<size_t>(axis) < t.dims().size() &&
                      t.dims()[static_cast<size_t>(axis)] == static_cast<int64_t>(atoms.size()),
                  "prune_channels: cut of '" + v->name() + "' does not match its shape");
      auto& k = keep[static_cast<size_t>(axis)];
      if (k.empty()) k.assign(atoms.size(), true);
      for (size_t i = 0; i < atoms.size(); ++i)
        if (removed(atoms[i])) {
          k[i] = false;
          any = true;
        }
    }
    if (!any) continue;
    replace_constant(cut.node, cut.input, slice_tensor(t, keep));
  }
  // Attention: D' = the dims each head keeps (decide() keeps as many in every head). A Reshape
  // dim of -1 infers the new size by itself.
  auto set_last_dim = [&](Node* reshape, int64_t value) {
    const auto s = int64_vector(constant(reshape->input(1)));
    EDGEQ_CHECK(s && !s->empty(), "prune_channels: Reshape shape is gone");
    if (s->back() <= 0 || s->back() == value) return;
    std::vector<int64_t> shape = *s;
    shape.back() = value;
    replace_constant(
        reshape, 1,
        Tensor::from_values<int64_t>(DType::kInt64, {static_cast<int64_t>(shape.size())},
                                     std::span<const int64_t>(shape)));
  };
  for (const HeadSplit& hs : head_splits_) {
    std::vector<int64_t> per_head(static_cast<size_t>(hs.heads), 0);
    for (size_t c = 0; c < hs.atoms.size(); ++c)
      if (!removed(hs.atoms[c]))
        ++per_head[static_cast<size_t>(static_cast<int64_t>(c) / hs.head_dim)];
    const int64_t d = per_head[0];
    EDGEQ_CHECK(std::all_of(per_head.begin(), per_head.end(), [&](int64_t x) { return x == d; }),
                "prune_channels: heads of " + hs.reshape->describe() + " keep different dims");
    if (d == hs.head_dim) continue;
    set_last_dim(hs.reshape, d);
    if (hs.merge) set_last_dim(hs.merge, hs.heads * d);
    for (auto [value, axis] : hs.dim_axes) {
      if (!value->info.tensor || !value->info.tensor->shape) continue;
      auto& shape = *value->info.tensor->shape;
      if (static_cast<size_t>(axis) >= shape.size()) continue;
      shape[static_cast<size_t>(axis)].value = d;
      shape[static_cast<size_t>(axis)].param.clear();
    }
    char line[160];
    std::snprintf(line, sizeof line, ": %lld heads, head dim %lld -> %lld",
                  static_cast<long long>(hs.heads), static_cast<long long>(hs.head_dim),
                  static_cast<long long>(d));
    const char* kind = hs.kind == HeadSplit::kQuery ? "query"
                       : hs.kind == HeadSplit::kKey ? "key"
                                                    : "value";
    ctx_.note(std::string("attention ") + kind + " " + hs.reshape->describe() + line);
  }
  for (auto& [node, atoms] : depthwise_)
    if (Attribute* group = node->attr("group")) group->i = static_cast<int64_t>(kept(atoms).size());
  // value_info: the channel dim of every cut value.
  for (auto& [v, c] : chan_) {
    const auto k = static_cast<int64_t>(kept(c.atoms).size());
    if (k == static_cast<int64_t>(c.atoms.size())) continue;
    Value* value = const_cast<Value*>(v);
    if (!value->info.tensor || !value->info.tensor->shape) continue;
    auto& shape = *value->info.tensor->shape;
    const int idx = static_cast<int>(shape.size()) - 1 - c.from_end;
    if (idx < 0) continue;
    shape[static_cast<size_t>(idx)].value = k;
    shape[static_cast<size_t>(idx)].param.clear();
  }
  // A Constant node read by several cut nodes is listed once per reader.
  std::sort(constant_nodes_.begin(), constant_nodes_.end());
  constant_nodes_.erase(std::unique(constant_nodes_.begin(), constant_nodes_.end()),
                        constant_nodes_.end());
  passes::drop_initializers_if_unused(replaced_);
  for (Node* n : constant_nodes_)
    if (n->output(0)->uses().empty() && !is_graph_output(n->output(0))) passes::remove_dead_node(n);
  g_.remove_unused_values();
  if (added_) passes::allow_initializers_without_inputs(model_, ctx_);
}

int64_t count_params(const Model& model) {
  int64_t n = 0;
  for (const WeightInfo& w : collect_weights(model)) n += static_cast<int64_t>(w.params);
  return n;
}

PruneSummary ChannelPruner::run() {
  PruneSummary summary;
  summary.params_before = count_params(model_);
  collect_layers();
  for (const auto& n : g_.nodes()) visit(*n);
  pair_heads();
  decide();

  if (prunable_groups_ == 0) {
    if (layers_.empty())
      throw Error(ErrorKind::kUnsupported,
                  "nothing to prune: the model has no Conv, ConvTranspose, Gemm or MatMul with a "
                  "constant float32 "
                  "weight in its main graph");
    std::string why;
    for (const Layer& l : layers_)
      why += (why.empty() ? "" : "; ") + l.node->describe() + ": " +
             (l.reason.empty() ? "no channel to remove" : l.reason);
    throw Error(ErrorKind::kUnsupported,
                "nothing to prune: no layer's output channels can be removed (" + why + ")");
  }
  apply();

  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    PrunedLayer p;
    p.node = l.node->describe();
    p.weight = l.weight;
    p.op_type = l.node->op_type();
    p.shape_before = l.shape_before;
    const Tensor* w_after = constant(l.node->input(1));
    p.shape_after = w_after ? w_after->dims() : l.shape_before;
    p.params = l.params;
    const auto removed_channels =
        static_cast<int64_t>(l.out_atoms.size() - kept(l.out_atoms).size());
    p.pruned = removed_channels > 0;
    p.sparsity = l.out_atoms.empty() ? 0.0
                                     : static_cast<double>(removed_channels) /
                                           static_cast<double>(l.out_atoms.size());
    if (!p.pruned) p.reason = l.reason.empty() ? "no channel removed" : l.reason;
    if (auto c = corrections_.find(l.node); c != corrections_.end()) {
      p.bias_corrected = c->second.why_not.empty();
      p.bias_tensor = c->second.target;
      p.bias_not_corrected = c->second.why_not;
      p.bias_measured = c->second.measured;
    }
    int64_t after = 1;
    for (int64_t d : p.shape_after) after *= d;
    summary.eligible_params += p.params;
    summary.zeros += p.params - after;
    char line[64];
    std::snprintf(line, sizeof line, "[%3zu/%3zu] ", i + 1, layers_.size());
    ctx_.note(line + p.node + " - " + p.weight + " " + dims_text(p.shape_before) + " -> " +
              dims_text(p.shape_after) +
              (p.pruned ? ", " + std::to_string(removed_channels) + " of " +
                              std::to_string(l.out_atoms.size()) + " output channels removed"
                        : ", output channels kept: " + p.reason));
    summary.layers.push_back(std::move(p));
  }
  summary.sparsity = summary.eligible_params > 0 ? static_cast<double>(summary.zeros) /
                                                       static_cast<double>(summary.eligible_params)
                                                 : 0.0;
  summary.params_after = count_params(model_);
  return summary;
}

}  // namespace

PruneSummary prune_channels(Model& model, const PruneOptions& options, PassContext& ctx) {
  ChannelPruner pruner(model, options, ctx);
  return pruner.run();
}

}  // namespace edgeq
