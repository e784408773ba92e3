// The edgeq IR: Model ▸ Graph ▸ Node / Value / Tensor.
//
// A Graph owns its Nodes and Values. A Value knows the Node that produces it (or none for graph
// inputs and initializers) and every (Node, input index) that consumes it, so passes rewrite
// the graph through the mutation API below instead of matching name strings. Node order in a
// Graph is always a topological order: the loader sorts, and insertions keep it.
//
// Subgraphs (If/Loop/Scan bodies) are Graphs owned by a Node's attributes. A subgraph may read
// values of enclosing graphs (outer scope): such a Value stays owned by its own graph and lists
// the inner Node among its consumers.
//
// Whatever edgeq does not model is kept as `carried`: the serialized protobuf fields left after
// the modeled ones were taken out (doc strings, metadata, functions, fields newer than the ONNX
// version edgeq builds against). The writer merges them back, so load → save loses nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edgeq/ir/tensor.h"

namespace edgeq {

class Graph;
class Node;

// One dimension of a tensor type: a number, a symbol ("batch") or unknown.
struct Dim {
  std::optional<int64_t> value;
  std::string param;
  std::string carried;  // serialized Dimension fields beyond value/param (denotation)
};

struct TensorType {
  DType elem = DType::kUndefined;
  std::optional<std::vector<Dim>> shape;  // nullopt: rank unknown
};

// What a ValueInfoProto says about a value.
struct ValueInfo {
  bool present = false;               // the file had a ValueInfoProto for this value
  bool has_type = false;              // ...with a type
  std::optional<TensorType> tensor;   // set when the type is a (dense) tensor type
  // "tensor", "sequence", "optional", "map", "sparse_tensor" or "" when there is no type.
  std::string type_kind;
  std::string type_carried;           // serialized TypeProto minus the modeled tensor fields
  std::string carried;                // serialized ValueInfoProto minus name and type
};

struct Use {
  Node* node;
  int input_index;
  bool operator==(const Use&) const = default;
};

class Value {
 public:
  const std::string& name() const { return name_; }
  Graph* graph() const { return graph_; }
  Node* producer() const { return producer_; }
  const std::vector<Use>& uses() const { return uses_; }

  bool is_initializer() const { return initializer_.has_value(); }
  const Tensor* initializer() const { return initializer_ ? &*initializer_ : nullptr; }
  void set_initializer(Tensor t) { initializer_ = std::move(t); }
  // A sparse initializer is carried as its serialized SparseTensorProto.
  bool is_sparse_initializer() const { return !sparse_initializer_.empty(); }
  const std::string& sparse_initializer() const { return sparse_initializer_; }

  // Every use of this value (in this graph and in nested subgraphs) now reads `other`;
  // graph outputs that were this value become `other` too.
  void replace_all_uses_with(Value* other);

  ValueInfo info;

 private:
  friend class Graph;
  friend class Node;
  std::string name_;
  Graph* graph_ = nullptr;
  Node* producer_ = nullptr;
  std::vector<Use> uses_;
  std::optional<Tensor> initializer_;
  std::string sparse_initializer_;
};

enum class AttrType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kInt = 2,
  kString = 3,
  kTensor = 4,
  kGraph = 5,
  kFloats = 6,
  kInts = 7,
  kStrings = 8,
  kTensors = 9,
  kGraphs = 10,
  kSparseTensor = 11,
  kSparseTensors = 12,
  kTypeProto = 13,
  kTypeProtos = 14,
};

struct Attribute {
  std::string name;
  AttrType type = AttrType::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;                // one for kTensor, any number for kTensors
  std::vector<std::unique_ptr<Graph>> graphs;  // one for kGraph, any number for kGraphs
  std::string ref_attr_name;                  // inside functions: refers to a caller attribute
  std::string carried;  // doc_string, sparse tensors, type protos, newer fields

  // Plain attributes, for passes and tests that build nodes.
  static Attribute of_int(std::string name, int64_t v);
  static Attribute of_float(std::string name, float v);
  static Attribute of_ints(std::string name, std::vector<int64_t> v);
  static Attribute of_string(std::string name, std::string v);
  static Attribute of_tensor(std::string name, Tensor t);
};

class Node {
 public:
  const std::string& op_type() const { return op_type_; }
  const std::string& domain() const { return domain_; }
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  Graph* graph() const { return graph_; }

  // Inputs and outputs; nullptr stands for an omitted optional one ("" in the file).
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }
  void set_input(size_t i, Value* value);
  void add_input(Value* value);

  std::vector<Attribute>& attributes() { return attributes_; }
  const std::vector<Attribute>& attributes() const { return attributes_; }
  const Attribute* attr(const std::string& name) const;
  Attribute* attr(const std::string& name);
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  // Replaces the attribute of the same name, or adds it.
  void set_attr(Attribute a);
  float attr_float(const std::string& name, float fallback) const;

  // Subgraphs owned by this node's attributes.
  std::vector<Graph*> subgraphs() const;

  // "'name' (OpType)" or "#index (OpType)" for unnamed nodes: how messages refer to a node.
  std::string describe() const;

  std::string carried;  // doc_string, overload, metadata_props, newer fields

 private:
  friend class Graph;
  std::string op_type_;
  std::string domain_;
  std::string name_;
  Graph* graph_ = nullptr;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Attribute> attributes_;
};

class Graph {
 public:
  explicit Graph(Node* owner = nullptr) : owner_(owner) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::string carried;  // doc_string, quantization_annotation, metadata_props, newer fields

  Node* owner() const { return owner_; }  // the node whose attribute holds this subgraph
  Graph* parent() const;

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::vector<Value*>& initializers() const { return initializers_; }
  const std::vector<Value*>& sparse_initializers() const { return sparse_initializers_; }
  // Values listed in the file's value_info, in file order.
  const std::vector<Value*>& value_infos() const { return value_infos_; }
  size_t value_count() const { return values_.size(); }

  // This graph's own value of that name, or nullptr.
  Value* find_value(const std::string& name) const;
  // Resolves a name the way a node in this graph sees it: this graph first, then outer scopes.
  Value* lookup(const std::string& name) const;

  // Creates a value; `name` must be unused in this graph (see unique_name).
  Value* add_value(const std::string& name);
  // A name not used by any value of this graph or its enclosing graphs.
  std::string unique_name(const std::string& base) const;
  // Gives one of this graph's values a new name (which must be unused, see unique_name). Nodes
  // and graph inputs/outputs refer to the Value itself, so every reference follows.
  void rename_value(Value* value, const std::string& name);

  Value* add_initializer(const std::string& name, Tensor tensor);
  Value* add_sparse_initializer(const std::string& name, std::string serialized);
  // Forgets a sparse initializer's stored form: the Value stays, with its name, uses and graph
  // input listing, and can be given a dense initializer (the densify_sparse pass).
  void remove_sparse_initializer(Value* value);
  void add_input(Value* value);
  void add_output(Value* value);
  void set_output(size_t i, Value* value);
  void add_value_info(Value* value);
  // Turns an initializer back into a plain value (used when a pass drops it).
  void remove_initializer(Value* value);
  // Drops an unused initializer for good: also from the graph inputs, where older files list
  // their initializers (IR < 4), so the model does not gain a required input.
  void drop_initializer(Value* value);

  // Adds a node at `position` in the node list (end when omitted). Outputs must not already
  // have a producer. The caller is responsible for keeping the order topological; use
  // insert_before/insert_after to place a node next to its neighbour.
  Node* add_node(std::string op_type, std::string domain, std::vector<Value*> inputs,
                 std::vector<Value*> outputs, std::optional<size_t> position = std::nullopt);
  Node* insert_before(const Node* anchor, std::string op_type, std::string domain,
                      std::vector<Value*> inputs, std::vector<Value*> outputs);
  Node* insert_after(const Node* anchor, std::string op_type, std::string domain,
                     std::vector<Value*> inputs, std::vector<Value*> outputs);
  // Removes a node whose outputs have no uses left (and are not graph outputs).
  void remove_node(Node* node);
  // Removes values that nothing produces, uses, lists or initializes.
  void remove_unused_values();
  size_t index_of(const Node* node) const;

  // Replaces the node list wholesale (the loader's topological sort).
  void reorder_nodes(std::vector<size_t> order);

  // Visits this graph and every nested subgraph, outer before inner.
  template <class F>
  void for_each_graph(F&& f) {
    f(*this);
    for (auto& n : nodes_)
      for (Graph* g : n->subgraphs()) g->for_each_graph(f);
  }
  template <class F>
  void for_each_graph(F&& f) const {
    f(*this);
    for (const auto& n : nodes_)
      for (const Graph* g : n->subgraphs()) g->for_each_graph(f);
  }

 private:
  friend class Value;
  bool name_taken(const std::string& name) const;

  Node* owner_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> by_name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Value*> initializers_;
  std::vector<Value*> sparse_initializers_;
  std::vector<Value*> value_infos_;
};

struct OpsetImport {
  std::string domain;  // "" is the default ONNX domain ("ai.onnx")
  int64_t version = 0;
};

class Model {
 public:
  int64_t ir_version = 0;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::unique_ptr<Graph> graph;
  // Model-local functions ("domain:name") and training-info count, for inspect; the
  // function and training protos themselves travel in `carried`.
  std::vector<std::string> function_ids;
  int training_info_count = 0;
  std::string carried;

  // The opset version imported for a domain ("" and "ai.onnx" are the same), or nullopt.
  std::optional<int64_t> opset(const std::string& domain) const;
};

}  // namespace edgeq
