#include "passes/prune/prune_common.h"

#include <algorithm>
#include <map>
#include <set>

#include "edgeq/error.h"
#include "passes/graph/rewrite.h"

namespace edgeq::pruning {

namespace {

bool default_domain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// The input index holding the weight of an eligible op, or -1.
int weight_input(const Node& n) {
  if (!default_domain(n)) return -1;
  const std::string& op = n.op_type();
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul" ? 1 : -1;
}

// The N:M axis of `node`'s weight of shape `dims` and the channels of one group along it.
std::pair<int64_t, int64_t> channel_axis(const Node& node, const std::vector<int64_t>& dims) {
  const auto rank = static_cast<int64_t>(dims.size());
  const std::string& op = node.op_type();
  if (op == "Conv") return rank >= 2 ? std::pair{int64_t{1}, dims[1]} : std::pair{int64_t{-1}, int64_t{0}};
  if (op == "ConvTranspose") {
    const int64_t group = std::max<int64_t>(1, node.attr_int("group", 1));
    if (rank < 2 || dims[0] % group) return {-1, 0};
    return {0, dims[0] / group};
  }
  if (op == "Gemm") {
    if (rank != 2) return {-1, 0};
    const int64_t axis = node.attr_int("transB", 0) ? 1 : 0;
    return {axis, dims[static_cast<size_t>(axis)]};
  }
  // MatMul: numpy semantics, B [..., K, N]; a 1-D B is [K].
  if (rank == 0) return {-1, 0};
  const int64_t axis = rank == 1 ? 0 : rank - 2;
  return {axis, dims[static_cast<size_t>(axis)]};
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s + "]";
}

std::vector<Candidate> find_candidates(Model& model) {
  std::vector<Candidate> out;
  std::map<const Value*, size_t> index;
  model.graph->for_each_graph([&](Graph& g) {
    for (const auto& n : g.nodes()) {
      const int w = weight_input(*n);
      Value* v = w < 0 ? nullptr : n->input(static_cast<size_t>(w));
      if (v == nullptr || !v->is_initializer() || v->initializer()->dtype() != DType::kFloat) continue;
      auto [it, fresh] = index.emplace(v, out.size());
      if (fresh) out.push_back(Candidate{v, {}, -1, 0, ""});
      Candidate& c = out[it->second];
      auto [axis, channels] = channel_axis(*n, v->initializer()->dims());
      if (c.nodes.empty()) {
        c.channel_axis = axis;
        c.group_channels = channels;
      } else if (axis != c.channel_axis || channels != c.group_channels) {
        c.channel_axis = -1;  // readers disagree on the input-channel layout
        c.group_channels = 0;
      }
      c.nodes.push_back(n.get());
    }
  });
  for (Candidate& c : out) {
    const Value* v = c.weight;
    if (passes::constant_value(v, model.ir_version) == nullptr) {
      c.blocked = "also a graph input (a caller may override it)";
      continue;
    }
    if (passes::is_graph_output(v)) {
      c.blocked = "also a graph output";
      continue;
    }
    for (const Use& use : v->uses()) {
      if (weight_input(*use.node) == use.input_index) continue;
      c.blocked = "also read by " + use.node->describe() + " (input " + std::to_string(use.input_index) + ")";
      break;
    }
  }
  return out;
}

const double* scheduled_sparsity(const Candidate& c, const PruneOptions& options) {
  auto it = options.schedule.find(c.weight->name());
  if (it != options.schedule.end()) return &it->second;
  for (const Node* n : c.nodes) {
    if (n->name().empty()) continue;
    it = options.schedule.find(n->name());
    if (it != options.schedule.end()) return &it->second;
  }
  return nullptr;
}

namespace {

bool excluded(const Candidate& c, const PruneOptions& options) {
  return std::any_of(c.nodes.begin(), c.nodes.end(),
                     [&](const Node* n) { return !n->name().empty() && options.exclude_nodes.count(n->name()); });
}

}  // namespace

std::vector<std::string> check_options(Model& model, const std::vector<Candidate>& candidates,
                                       const PruneOptions& o) {
  auto fraction_ok = [](double s) { return s >= 0.0 && s < 1.0; };  // NaN fails both
  if (!fraction_ok(o.sparsity))
    throw usage_error("--sparsity must be in [0, 1) (got " + std::to_string(o.sparsity) + ")");
  if (o.pattern == PrunePattern::kNM) {
    if (o.n < 1 || o.m < 1 || o.n > o.m)
      throw usage_error("N:M pattern " + std::to_string(o.n) + ":" + std::to_string(o.m) +
                        ": N and M must be at least 1 and N at most M");
    if (!o.schedule.empty())
      throw usage_error("a schedule sets per-layer sparsities; the N:M pattern fixes the sparsity at 1 - N/M");
  }
  if (o.min_params < 0) throw usage_error("--min-params must not be negative");

  std::set<std::string> node_names;
  model.graph->for_each_graph([&](const Graph& g) {
    for (const auto& n : g.nodes())
      if (!n->name().empty()) node_names.insert(n->name());
  });
  std::map<std::string, const Candidate*> layer_names;  // weight names and reader names
  for (const Candidate& c : candidates) {
    layer_names.emplace(c.weight->name(), &c);
    for (const Node* n : c.nodes)
      if (!n->name().empty()) layer_names.emplace(n->name(), &c);
  }

  std::vector<std::string> warnings;
  for (const std::string& name : o.exclude_nodes) {
    if (!node_names.count(name)) throw usage_error("--exclude-nodes: the model has no node named '" + name + "'");
    if (!layer_names.count(name))
      warnings.push_back("--exclude-nodes: '" + name + "' is not a prunable layer; nothing to exclude");
  }
  for (const auto& [name, s] : o.schedule) {
    if (!fraction_ok(s))
      throw usage_error("schedule: sparsity of '" + name + "' must be in [0, 1) (got " + std::to_string(s) + ")");
    auto it = layer_names.find(name);
    if (it == layer_names.end()) {
      if (node_names.count(name))
        throw usage_error("schedule: node '" + name +
                          "' is not a prunable layer (Conv, ConvTranspose, Gemm or MatMul with a constant "
                          "float32 weight)");
      throw usage_error("schedule: the model has no node or weight named '" + name + "'");
    }
    if (excluded(*it->second, o))
      throw usage_error("schedule: '" + name + "' is also excluded by --exclude-nodes");
  }
  return warnings;
}

std::string dense_reason(const Candidate& c, size_t index, size_t count, const PruneOptions& o) {
  if (!c.blocked.empty()) return c.blocked;
  if (excluded(c, o)) return "excluded (--exclude-nodes)";
  if (scheduled_sparsity(c, o) != nullptr) return "";
  if (!o.schedule.empty() && o.sparsity == 0.0) return "not in the schedule";
  if (!o.prune_first_last && index == 0) return "first layer (--prune-first-last prunes it)";
  if (!o.prune_first_last && index + 1 == count) return "last layer (--prune-first-last prunes it)";
  const auto params = static_cast<int64_t>(c.weight->initializer()->element_count());
  if (params < o.min_params)
    return "fewer than " + std::to_string(o.min_params) + " parameters (--min-params)";
  return "";
}

}  // namespace edgeq::pruning
