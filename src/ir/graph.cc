#include "edgeq/ir/graph.h"

#include <algorithm>

#include "edgeq/error.h"

namespace edgeq {

namespace {

void erase_use(std::vector<Use>& uses, Use use) {
  auto it = std::find(uses.begin(), uses.end(), use);
  EDGEQ_CHECK(it != uses.end(), "use list out of sync");
  uses.erase(it);
}

}  // namespace

// ---- Value ----

void Value::replace_all_uses_with(Value* other) {
  EDGEQ_CHECK(other != nullptr && other != this, "replace_all_uses_with: bad replacement");
  std::vector<Use> uses = uses_;
  for (const Use& use : uses) use.node->set_input(static_cast<size_t>(use.input_index), other);
  for (size_t i = 0; i < graph_->outputs_.size(); ++i)
    if (graph_->outputs_[i] == this) graph_->outputs_[i] = other;
}

// ---- Node ----

void Node::set_input(size_t i, Value* value) {
  EDGEQ_CHECK(i < inputs_.size(), "set_input: index out of range");
  if (inputs_[i] != nullptr) erase_use(inputs_[i]->uses_, {this, static_cast<int>(i)});
  inputs_[i] = value;
  if (value != nullptr) value->uses_.push_back({this, static_cast<int>(i)});
}

void Node::add_input(Value* value) {
  inputs_.push_back(nullptr);
  set_input(inputs_.size() - 1, value);
}

const Attribute* Node::attr(const std::string& name) const {
  for (const auto& a : attributes_)
    if (a.name == name) return &a;
  return nullptr;
}

Attribute* Node::attr(const std::string& name) {
  for (auto& a : attributes_)
    if (a.name == name) return &a;
  return nullptr;
}

int64_t Node::attr_int(const std::string& name, int64_t fallback) const {
  const Attribute* a = attr(name);
  return a && a->type == AttrType::kInt ? a->i : fallback;
}

float Node::attr_float(const std::string& name, float fallback) const {
  const Attribute* a = attr(name);
  return a && a->type == AttrType::kFloat ? a->f : fallback;
}

std::vector<Graph*> Node::subgraphs() const {
  std::vector<Graph*> out;
  for (const auto& a : attributes_)
    for (const auto& g : a.graphs) out.push_back(g.get());
  return out;
}

std::string Node::describe() const {
  std::string id = name_.empty() && graph_ ? "#" + std::to_string(graph_->index_of(this))
                                           : "'" + name_ + "'";
  return "node " + id + " (" + (domain_.empty() ? "" : domain_ + "::") + op_type_ + ")";
}

void Node::set_attr(Attribute a) {
  if (Attribute* existing = attr(a.name))
    *existing = std::move(a);
  else
    attributes_.push_back(std::move(a));
}

// ---- Attribute ----

namespace {
Attribute named(std::string name, AttrType type) {
  Attribute a;
  a.name = std::move(name);
  a.type = type;
  return a;
}
}  // namespace

Attribute Attribute::of_int(std::string name, int64_t v) {
  Attribute a = named(std::move(name), AttrType::kInt);
  a.i = v;
  return a;
}
Attribute Attribute::of_float(std::string name, float v) {
  Attribute a = named(std::move(name), AttrType::kFloat);
  a.f = v;
  return a;
}
Attribute Attribute::of_ints(std::string name, std::vector<int64_t> v) {
  Attribute a = named(std::move(name), AttrType::kInts);
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::of_string(std::string name, std::string v) {
  Attribute a = named(std::move(name), AttrType::kString);
  a.s = std::move(v);
  return a;
}
Attribute Attribute::of_tensor(std::string name, Tensor t) {
  Attribute a = named(std::move(name), AttrType::kTensor);
  a.tensors.push_back(std::move(t));
  return a;
}

// ---- Graph ----

Graph* Graph::parent() const { return owner_ ? owner_->graph() : nullptr; }

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::lookup(const std::string& name) const {
  for (const Graph* g = this; g != nullptr; g = g->parent())
    if (Value* v = g->find_value(name)) return v;
  return nullptr;
}

bool Graph::name_taken(const std::string& name) const { return lookup(name) != nullptr; }

std::string Graph::unique_name(const std::string& base) const {
  if (!name_taken(base)) return base;
  for (size_t i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!name_taken(candidate)) return candidate;
  }
}

void Graph::rename_value(Value* value, const std::string& name) {
  EDGEQ_CHECK(value->graph_ == this, "rename_value: '" + value->name_ + "' belongs to another graph");
  EDGEQ_CHECK(by_name_.count(name) == 0, "rename_value: name '" + name + "' is taken");
  by_name_.erase(value->name_);
  value->name_ = name;
  by_name_.emplace(name, value);
}

Value* Graph::add_value(const std::string& name) {
  EDGEQ_CHECK(by_name_.count(name) == 0, "add_value: duplicate value name '" + name + "'");
  auto value = std::make_unique<Value>();
  value->name_ = name;
  value->graph_ = this;
  Value* raw = value.get();
  values_.push_back(std::move(value));
  by_name_.emplace(name, raw);
  return raw;
}

Value* Graph::add_initializer(const std::string& name, Tensor tensor) {
  Value* v = find_value(name);
  if (v == nullptr) v = add_value(name);
  EDGEQ_CHECK(!v->is_initializer() && v->producer() == nullptr,
              "add_initializer: '" + name + "' already has a definition");
  v->initializer_ = std::move(tensor);
  initializers_.push_back(v);
  return v;
}

Value* Graph::add_sparse_initializer(const std::string& name, std::string serialized) {
  Value* v = find_value(name);
  if (v == nullptr) v = add_value(name);
  v->sparse_initializer_ = std::move(serialized);
  sparse_initializers_.push_back(v);
  return v;
}

void Graph::remove_sparse_initializer(Value* value) {
  auto it = std::find(sparse_initializers_.begin(), sparse_initializers_.end(), value);
  EDGEQ_CHECK(it != sparse_initializers_.end(), "remove_sparse_initializer: not a sparse initializer");
  sparse_initializers_.erase(it);
  value->sparse_initializer_.clear();
}

void Graph::add_input(Value* value) { inputs_.push_back(value); }
void Graph::add_output(Value* value) { outputs_.push_back(value); }
void Graph::set_output(size_t i, Value* value) {
  EDGEQ_CHECK(i < outputs_.size(), "set_output: index out of range");
  outputs_[i] = value;
}
void Graph::add_value_info(Value* value) { value_infos_.push_back(value); }

void Graph::remove_initializer(Value* value) {
  auto it = std::find(initializers_.begin(), initializers_.end(), value);
  EDGEQ_CHECK(it != initializers_.end(), "remove_initializer: not an initializer");
  initializers_.erase(it);
  value->initializer_.reset();
}

void Graph::drop_initializer(Value* value) {
  EDGEQ_CHECK(value->uses_.empty(), "drop_initializer: '" + value->name_ + "' is still used");
  remove_initializer(value);
  std::erase(inputs_, value);
}

Node* Graph::add_node(std::string op_type, std::string domain, std::vector<Value*> inputs,
                      std::vector<Value*> outputs, std::optional<size_t> position) {
  auto node = std::make_unique<Node>();
  Node* raw = node.get();
  raw->op_type_ = std::move(op_type);
  raw->domain_ = std::move(domain);
  raw->graph_ = this;
  for (Value* in : inputs) raw->add_input(in);
  for (Value* out : outputs) {
    if (out != nullptr) {
      EDGEQ_CHECK(out->producer_ == nullptr && out->graph_ == this,
                  "add_node: output '" + out->name() + "' already produced or foreign");
      out->producer_ = raw;
    }
    raw->outputs_.push_back(out);
  }
  size_t at = position.value_or(nodes_.size());
  EDGEQ_CHECK(at <= nodes_.size(), "add_node: position out of range");
  nodes_.insert(nodes_.begin() + static_cast<ptrdiff_t>(at), std::move(node));
  return raw;
}

Node* Graph::insert_before(const Node* anchor, std::string op_type, std::string domain,
                           std::vector<Value*> inputs, std::vector<Value*> outputs) {
  return add_node(std::move(op_type), std::move(domain), std::move(inputs), std::move(outputs),
                  index_of(anchor));
}

Node* Graph::insert_after(const Node* anchor, std::string op_type, std::string domain,
                          std::vector<Value*> inputs, std::vector<Value*> outputs) {
  return add_node(std::move(op_type), std::move(domain), std::move(inputs), std::move(outputs),
                  index_of(anchor) + 1);
}

size_t Graph::index_of(const Node* node) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].get() == node) return i;
  EDGEQ_CHECK(false, "index_of: node is not in this graph");
  return 0;
}

void Graph::remove_node(Node* node) {
  for (Value* out : node->outputs_) {
    if (out == nullptr) continue;
    EDGEQ_CHECK(out->uses_.empty(), "remove_node: output '" + out->name() + "' still in use");
    EDGEQ_CHECK(std::find(outputs_.begin(), outputs_.end(), out) == outputs_.end(),
                "remove_node: output '" + out->name() + "' is a graph output");
    out->producer_ = nullptr;
  }
  for (size_t i = 0; i < node->inputs_.size(); ++i) node->set_input(i, nullptr);
  nodes_.erase(nodes_.begin() + static_cast<ptrdiff_t>(index_of(node)));
}

void Graph::remove_unused_values() {
  auto listed = [&](const Value* v) {
    auto in = [v](const std::vector<Value*>& list) {
      return std::find(list.begin(), list.end(), v) != list.end();
    };
    return in(inputs_) || in(outputs_);
  };
  // A value_info entry alone does not keep a value alive: it describes a value nothing computes.
  auto unused = [&](const Value* v) {
    return v->producer_ == nullptr && v->uses_.empty() && !v->is_initializer() &&
           !v->is_sparse_initializer() && !listed(v);
  };
  std::erase_if(value_infos_, [&](const Value* v) { return unused(v); });
  std::erase_if(values_, [&](const std::unique_ptr<Value>& v) {
    bool gone = unused(v.get());
    if (gone) by_name_.erase(v->name_);
    return gone;
  });
}

void Graph::reorder_nodes(std::vector<size_t> order) {
  EDGEQ_CHECK(order.size() == nodes_.size(), "reorder_nodes: order has the wrong size");
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(nodes_.size());
  for (size_t i : order) sorted.push_back(std::move(nodes_[i]));
  for (const auto& n : sorted) EDGEQ_CHECK(n != nullptr, "reorder_nodes: not a permutation");
  nodes_ = std::move(sorted);
}

// ---- Model ----

std::optional<int64_t> Model::opset(const std::string& domain) const {
  auto canonical = [](const std::string& d) { return d == "ai.onnx" ? std::string() : d; };
  for (const auto& op : opset_imports)
    if (canonical(op.domain) == canonical(domain)) return op.version;
  return std::nullopt;
}

}  // namespace edgeq
