// ONNX file → edgeq IR.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <queue>
#include <set>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "ir/proto_util.h"
#include "spdlog/spdlog.h"

namespace edgeq {

namespace fs = std::filesystem;

namespace {

// Newest versions libonnx 1.12 can check.
constexpr int64_t kCheckerMaxIrVersion = 8;
constexpr int64_t kCheckerMaxOnnxOpset = 17;
constexpr int64_t kCheckerMaxMlOpset = 3;

// A protobuf message cannot exceed 2 GiB; larger models must keep weights in external data.
constexpr uint64_t kProtobufLimit = static_cast<uint64_t>(INT_MAX);

class Loader {
 public:
  Loader(std::string path, ModelSource* source) : path_(std::move(path)), source_(source) {
    model_dir_ = fs::path(path_).parent_path();
    if (model_dir_.empty()) model_dir_ = ".";
  }

  Model load(const LoadOptions& options) {
    onnx::ModelProto proto = parse_file();
    if (!proto.has_graph())
      throw invalid_model(path_, "the file has no graph (is it an ONNX model?)");
    if (proto.ir_version() <= 0)
      throw invalid_model(path_, "ir_version is missing (is it an ONNX model?)");
    sort_graph(*proto.mutable_graph(), "main graph");
    // Unsafe or missing external data is reported with edgeq's own codes before the checker
    // sees (and words) the same problem.
    validate_external_data(proto.graph());
    if (options.run_onnx_checker) run_checker(proto);

    Model model;
    model.ir_version = proto.ir_version();
    for (const auto& op : proto.opset_import()) model.opset_imports.push_back({op.domain(), op.version()});
    model.producer_name = proto.producer_name();
    model.producer_version = proto.producer_version();
    model.domain = proto.domain();
    model.model_version = proto.model_version();
    model.doc_string = proto.doc_string();
    for (const auto& kv : proto.metadata_props()) model.metadata_props.emplace_back(kv.key(), kv.value());
    for (const auto& fn : proto.functions()) model.function_ids.push_back(fn.domain() + ":" + fn.name());
    model.training_info_count = proto.training_info_size();
    model.graph = std::make_unique<Graph>();
    convert_graph(*proto.mutable_graph(), *model.graph);
    // ModelProto: ir_version 1, producer_name 2, producer_version 3, domain 4, model_version 5,
    // doc_string 6, graph 7, opset_import 8, metadata_props 14.
    model.carried = proto::take_residue(proto, {1, 2, 3, 4, 5, 6, 7, 8, 14});

    if (source_) {
      source_->path = path_;
      for (const auto& [_, file] : data_files_) {
        source_->data_files.push_back(file->path());
        source_->data_bytes += file->size();
      }
    }
    return model;
  }

  // A tensor stored on its own (test data): validated like an initializer.
  Tensor convert_standalone_tensor(onnx::TensorProto& tp) {
    return convert_tensor(tp, "tensor '" + tp.name() + "'");
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const { throw invalid_model(path_, reason); }

  onnx::ModelProto parse_file() {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error(path_, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw io_error(path_, "not a regular file");
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (source_) source_->file_bytes = size;
    if (size == 0) {
      ::close(fd);
      fail("the file is empty");
    }
    if (size > kProtobufLimit) {
      ::close(fd);
      fail("the file is " + std::to_string(size) +
           " bytes; an ONNX protobuf cannot exceed 2 GiB (large models keep weights in "
           "external data)");
    }
    onnx::ModelProto proto;
    bool ok;
    {
      google::protobuf::io::FileInputStream raw(fd);
      google::protobuf::io::CodedInputStream coded(&raw);
      coded.SetTotalBytesLimit(INT_MAX);
      coded.SetRecursionLimit(512);
      ok = proto.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
      if (ok && raw.GetErrno() != 0) {
        int err = raw.GetErrno();
        ::close(fd);
        throw io_error(path_, std::string("read failed: ") + std::strerror(err));
      }
    }
    ::close(fd);
    if (!ok) fail("not a valid ONNX protobuf (truncated or not an ONNX file)");
    return proto;
  }

  // ---- topological sort (on the proto, so the checker sees a sorted graph too) ----

  // Names read by nodes inside a node's subgraphs: an If/Loop body may read a value of this
  // graph, which makes the node depend on that value's producer.
  static void collect_subgraph_reads(const onnx::GraphProto& g, std::set<std::string>& out) {
    for (const auto& n : g.node()) {
      for (const auto& in : n.input()) out.insert(in);
      for (const auto& a : n.attribute()) {
        if (a.has_g()) collect_subgraph_reads(a.g(), out);
        for (const auto& sg : a.graphs()) collect_subgraph_reads(sg, out);
      }
    }
  }

  void sort_graph(onnx::GraphProto& g, const std::string& where) {
    for (auto& n : *g.mutable_node())
      for (auto& a : *n.mutable_attribute()) {
        if (a.has_g()) sort_graph(*a.mutable_g(), "subgraph '" + a.name() + "'");
        for (auto& sg : *a.mutable_graphs()) sort_graph(sg, "subgraph '" + a.name() + "'");
      }

    const int count = g.node_size();
    std::map<std::string, int> producer;
    for (int i = 0; i < count; ++i)
      for (const auto& out : g.node(i).output())
        if (!out.empty()) producer.emplace(out, i);  // duplicates are reported in convert

    std::vector<std::vector<int>> dependents(count);
    std::vector<int> pending(count, 0);
    for (int i = 0; i < count; ++i) {
      std::set<std::string> reads(g.node(i).input().begin(), g.node(i).input().end());
      for (const auto& a : g.node(i).attribute()) {
        if (a.has_g()) collect_subgraph_reads(a.g(), reads);
        for (const auto& sg : a.graphs()) collect_subgraph_reads(sg, reads);
      }
      std::set<int> deps;
      for (const auto& name : reads) {
        auto it = producer.find(name);
        if (it != producer.end()) deps.insert(it->second);
      }
      for (int d : deps) {
        if (d == i) fail("node " + node_label(g.node(i), i) + " in the " + where + " reads its own output (a cycle)");
        dependents[d].push_back(i);
        ++pending[i];
      }
    }
    // Kahn's algorithm, always taking the lowest original index: an already sorted graph keeps
    // its order exactly, and the result is deterministic.
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (int i = 0; i < count; ++i)
      if (pending[i] == 0) ready.push(i);
    std::vector<int> order;
    order.reserve(count);
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      order.push_back(i);
      for (int d : dependents[i])
        if (--pending[d] == 0) ready.push(d);
    }
    if (static_cast<int>(order.size()) != count) {
      std::string names;
      int listed = 0;
      for (int i = 0; i < count && listed < 5; ++i)
        if (pending[i] > 0) {
          names += (listed++ ? ", " : "") + node_label(g.node(i), i);
        }
      fail("the " + where + " has a cycle through " + names);
    }
    bool sorted = true;
    for (int i = 0; i < count; ++i) sorted = sorted && order[i] == i;
    if (sorted) return;
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    nodes.Swap(g.mutable_node());
    for (int i : order) g.add_node()->Swap(&nodes[i]);
    if (source_) source_->warnings.push_back("nodes of the " + where + " were not in topological order; sorted");
  }

  static std::string node_label(const onnx::NodeProto& n, int index) {
    return (n.name().empty() ? "#" + std::to_string(index) : "'" + n.name() + "'") + " (" +
           n.op_type() + ")";
  }

  void validate_external_data(const onnx::GraphProto& g) {
    auto check = [&](const onnx::TensorProto& t, const std::string& what) {
      if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
      const DTypeInfo* info = find_dtype(t.data_type());
      auto count = checked_element_count(std::vector<int64_t>(t.dims().begin(), t.dims().end()));
      if (info == nullptr || !count) return;  // reported with its name during conversion
      auto expected = storage_bytes(info->dtype, *count);
      if (expected) external_region(t, what, *expected);
    };
    for (const auto& t : g.initializer()) check(t, "initializer '" + t.name() + "'");
    for (const auto& n : g.node())
      for (const auto& a : n.attribute()) {
        if (a.has_t()) check(a.t(), "attribute '" + a.name() + "' of node '" + n.name() + "'");
        if (a.has_g()) validate_external_data(a.g());
        for (const auto& sg : a.graphs()) validate_external_data(sg);
      }
  }

  // ---- libonnx checker ----

  void run_checker(onnx::ModelProto& proto) {
    std::unordered_map<std::string, int> opsets;
    std::string too_new;
    for (const auto& op : proto.opset_import()) {
      const std::string d = op.domain() == "ai.onnx" ? "" : op.domain();
      opsets[op.domain()] = static_cast<int>(op.version());
      if ((d.empty() && op.version() > kCheckerMaxOnnxOpset) ||
          (d == "ai.onnx.ml" && op.version() > kCheckerMaxMlOpset))
        too_new = "opset " + (d.empty() ? std::string("ai.onnx") : d) + " " + std::to_string(op.version());
    }
    if (proto.ir_version() > kCheckerMaxIrVersion) too_new = "IR version " + std::to_string(proto.ir_version());
    if (!too_new.empty()) {
      warn(too_new + " is newer than libonnx 1.12 can check; loaded without the ONNX checker");
      return;
    }
    try {
      onnx::checker::CheckerContext ctx;
      ctx.set_ir_version(static_cast<int>(proto.ir_version()));
      ctx.set_opset_imports(opsets);
      ctx.set_model_dir(model_dir_.string());
      onnx::checker::LexicalScopeContext lex;
      onnx::checker::check_graph(proto.graph(), ctx, lex);
      onnx::checker::check_model_local_functions(proto, ctx, lex);
    } catch (const std::exception& e) {
      fail(std::string("ONNX checker: ") + first_line(e.what()));
    }
    run_shape_inference(proto);
    if (source_) source_->checked = true;
  }

  // Strict shape inference on a copy of the model whose large initializer bytes were lent out
  // (types and dims are all it needs from them), so checking never doubles memory.
  void run_shape_inference(onnx::ModelProto& proto) {
    constexpr size_t kKeepBytes = 4096;
    auto* inits = proto.mutable_graph()->mutable_initializer();
    std::vector<std::pair<int, std::string>> lent;
    for (int i = 0; i < inits->size(); ++i) {
      auto* t = inits->Mutable(i);
      if (t->raw_data().size() > kKeepBytes) {
        lent.emplace_back(i, std::string());
        lent.back().second.swap(*t->mutable_raw_data());
      }
    }
    onnx::ModelProto copy;
    try {
      copy.CopyFrom(proto);
    } catch (...) {
      for (auto& [i, bytes] : lent) inits->Mutable(i)->mutable_raw_data()->swap(bytes);
      throw;
    }
    for (auto& [i, bytes] : lent) inits->Mutable(i)->mutable_raw_data()->swap(bytes);
    // Tensors without their data are still typed: mark them external so inference does not read them.
    for (auto& [i, _] : lent) {
      auto* t = copy.mutable_graph()->mutable_initializer(i);
      t->clear_raw_data();
      t->set_data_location(onnx::TensorProto::EXTERNAL);
    }
    // Inference types sparse initializers as sparse_tensor, which no op input accepts: give it
    // their dense type instead (dims and dtype, no data).
    {
      auto* g = copy.mutable_graph();
      for (const auto& sp : g->sparse_initializer()) {
        auto* t = g->add_initializer();
        t->set_name(sp.values().name());
        t->set_data_type(sp.values().data_type());
        for (int64_t d : sp.dims()) t->add_dims(d);
        t->set_data_location(onnx::TensorProto::EXTERNAL);
      }
      g->clear_sparse_initializer();
    }
    try {
      onnx::ShapeInferenceOptions opts;
      opts.check_type = true;
      opts.error_mode = 1;
      opts.enable_data_propagation = false;
      onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), opts);
    } catch (const std::exception& e) {
      // Not fatal: libonnx's inference rejects some files that ONNX Runtime runs (old-opset
      // Constant nodes of int64, for one). edgeq's own checks catch data that cannot fit.
      warn(std::string("ONNX shape inference disagrees with the model: ") + first_line(e.what()));
    }
  }

  static std::string first_line(const std::string& s) {
    auto pos = s.find('\n');
    return pos == std::string::npos ? s : s.substr(0, pos);
  }

  void warn(const std::string& message) {
    spdlog::warn("{}: {}", path_, message);
    if (source_) source_->warnings.push_back(message);
  }

  // ---- conversion ----

  void convert_graph(onnx::GraphProto& gp, Graph& g) {
    g.name = gp.name();
    const std::string where = g.owner() ? "subgraph '" + gp.name() + "' of " + g.owner()->describe()
                                        : std::string("graph");
    for (auto& vi : *gp.mutable_input()) {
      Value* v = g.find_value(vi.name());
      if (v != nullptr) fail("graph input '" + vi.name() + "' is listed twice");
      v = g.add_value(vi.name());
      convert_value_info(vi, *v);
      g.add_input(v);
    }
    for (auto& tp : *gp.mutable_initializer()) {
      const std::string name = tp.name();
      if (name.empty()) fail("an initializer of the " + where + " has no name");
      Value* v = g.find_value(name);
      if (v != nullptr && (v->is_initializer() || v->is_sparse_initializer()))
        fail("initializer '" + name + "' is defined twice");
      g.add_initializer(name, convert_tensor(tp, "initializer '" + name + "'"));
    }
    for (auto& sp : *gp.mutable_sparse_initializer()) {
      const std::string name = sp.values().name();
      if (name.empty()) fail("a sparse initializer of the " + where + " has no name");
      Value* v = g.find_value(name);
      if (v != nullptr && (v->is_initializer() || v->is_sparse_initializer()))
        fail("initializer '" + name + "' is defined twice");
      g.add_sparse_initializer(name, proto::serialize_deterministic(sp));
    }
    for (int index = 0; index < gp.node_size(); ++index) {
      onnx::NodeProto& np = *gp.mutable_node(index);
      std::vector<Value*> inputs;
      for (const auto& name : np.input()) {
        if (name.empty()) {
          inputs.push_back(nullptr);
          continue;
        }
        Value* v = g.lookup(name);
        if (v == nullptr)
          fail("node " + node_label(np, index) + " in the " + where + ": input '" + name +
               "' is not produced by any node, graph input or initializer");
        inputs.push_back(v);
      }
      std::vector<Value*> outputs;
      for (const auto& name : np.output()) {
        if (name.empty()) {
          outputs.push_back(nullptr);
          continue;
        }
        Value* v = g.find_value(name);
        if (v != nullptr && (v->producer() != nullptr || v->is_initializer() ||
                             std::find(g.inputs().begin(), g.inputs().end(), v) != g.inputs().end()))
          fail("node " + node_label(np, index) + " in the " + where + ": output '" + name +
               "' is already defined (" +
               (v->producer() ? "produced by " + v->producer()->describe()
                              : std::string("a graph input or initializer")) +
               ")");
        if (v == nullptr) v = g.add_value(name);
        outputs.push_back(v);
      }
      Node* node = g.add_node(np.op_type(), np.domain(), inputs, outputs);
      node->set_name(np.name());
      for (auto& ap : *np.mutable_attribute()) node->attributes().push_back(convert_attribute(ap, *node));
      // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7.
      node->carried = proto::take_residue(np, {1, 2, 3, 4, 5, 7});
    }
    for (auto& vi : *gp.mutable_output()) {
      Value* v = g.lookup(vi.name());
      if (v == nullptr) fail("graph output '" + vi.name() + "' of the " + where + " is never produced");
      // An outer-scope value passed straight through keeps the ValueInfo of its own graph.
      if (v->graph() == &g) convert_value_info(vi, *v);
      g.add_output(v);
    }
    for (auto& vi : *gp.mutable_value_info()) {
      Value* v = g.find_value(vi.name());
      if (v == nullptr) v = g.add_value(vi.name());
      convert_value_info(vi, *v);
      g.add_value_info(v);
    }
    // GraphProto: node 1, name 2, initializer 5, input 11, output 12, value_info 13,
    // sparse_initializer 15.
    g.carried = proto::take_residue(gp, {1, 2, 5, 11, 12, 13, 15});
  }

  void convert_value_info(onnx::ValueInfoProto& vi, Value& v) {
    v.info.present = true;
    if (vi.has_type()) {
      v.info.has_type = true;
      onnx::TypeProto& tp = *vi.mutable_type();
      v.info.type_kind = tp.has_tensor_type() ? "tensor" : tp.has_sequence_type() ? "sequence"
                         : tp.has_optional_type() ? "optional" : tp.has_map_type() ? "map"
                         : tp.has_sparse_tensor_type() ? "sparse_tensor" : "";
      if (tp.has_tensor_type()) {
        onnx::TypeProto_Tensor& tt = *tp.mutable_tensor_type();
        TensorType t;
        int32_t code = proto::read_enum(tt, 1, tt.elem_type(), tt.has_elem_type());
        if (code != 0 && find_dtype(code) == nullptr)
          fail("value '" + vi.name() + "' has unknown element type " + std::to_string(code));
        t.elem = static_cast<DType>(code);
        if (tt.has_shape()) {
          std::vector<Dim> dims;
          for (auto& d : *tt.mutable_shape()->mutable_dim()) {
            Dim dim;
            if (d.has_dim_value()) dim.value = d.dim_value();
            if (d.has_dim_param()) dim.param = d.dim_param();
            dim.carried = proto::take_residue(d, {1, 2});
            dims.push_back(std::move(dim));
          }
          t.shape = std::move(dims);
        }
        v.info.tensor = std::move(t);
        tt.clear_elem_type();
        tt.clear_shape();
      }
      v.info.type_carried = proto::serialize_deterministic(tp);
    }
    // ValueInfoProto: name 1, type 2.
    v.info.carried = proto::take_residue(vi, {1, 2});
  }

  Attribute convert_attribute(onnx::AttributeProto& ap, Node& node) {
    Attribute a;
    a.name = ap.name();
    a.type = static_cast<AttrType>(proto::read_enum(ap, 20, ap.type(), ap.has_type()));
    a.f = ap.f();
    a.i = ap.i();
    a.s = ap.s();
    a.floats.assign(ap.floats().begin(), ap.floats().end());
    a.ints.assign(ap.ints().begin(), ap.ints().end());
    a.strings.assign(ap.strings().begin(), ap.strings().end());
    a.ref_attr_name = ap.ref_attr_name();
    const std::string what = "attribute '" + ap.name() + "' of " + node.describe();
    if (ap.has_t()) a.tensors.push_back(convert_tensor(*ap.mutable_t(), what));
    for (auto& t : *ap.mutable_tensors()) a.tensors.push_back(convert_tensor(t, what));
    auto convert_sub = [&](onnx::GraphProto& gp) {
      auto sub = std::make_unique<Graph>(&node);
      convert_graph(gp, *sub);
      a.graphs.push_back(std::move(sub));
    };
    if (ap.has_g()) convert_sub(*ap.mutable_g());
    for (auto& gp : *ap.mutable_graphs()) convert_sub(gp);
    // AttributeProto: name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9, tensors 10,
    // graphs 11, type 20, ref_attr_name 21.
    a.carried = proto::take_residue(ap, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21});
    return a;
  }

  Tensor convert_tensor(onnx::TensorProto& tp, const std::string& what) {
    const int32_t code = proto::read_enum(tp, 2, tp.data_type(), tp.has_data_type());
    const DTypeInfo* info = find_dtype(code);
    if (info == nullptr) fail(what + ": unknown data type " + std::to_string(code));
    const DType dtype = info->dtype;
    std::vector<int64_t> dims(tp.dims().begin(), tp.dims().end());
    auto count = checked_element_count(dims);
    if (!count) fail(what + ": dims " + dims_string(dims) + " are negative or overflow");
    auto expected = storage_bytes(dtype, *count);
    if (!expected || (dtype != DType::kString && *expected > (uint64_t{1} << 50)))
      fail(what + ": dims " + dims_string(dims) + " describe an absurdly large tensor");

    std::optional<Tensor> tensor;
    if (dtype == DType::kString) {
      if (static_cast<uint64_t>(tp.string_data_size()) != *count)
        fail(what + ": holds " + std::to_string(tp.string_data_size()) + " strings, shape " +
             dims_string(dims) + " needs " + std::to_string(*count));
      std::vector<std::string> strings(tp.string_data().begin(), tp.string_data().end());
      tensor.emplace(dims, std::move(strings));
    } else if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
      tensor.emplace(dtype, dims, make_file_storage(external_region(tp, what, *expected)));
    } else if (tp.has_raw_data()) {
      if (tp.raw_data().size() != *expected)
        fail(what + ": raw_data holds " + std::to_string(tp.raw_data().size()) + " bytes, but " +
             std::string(info->name) + " " + dims_string(dims) + " needs " + std::to_string(*expected));
      std::string bytes;
      bytes.swap(*tp.mutable_raw_data());
      tensor.emplace(dtype, dims, make_owned_storage(std::move(bytes)));
    } else {
      tensor.emplace(dtype, dims, make_owned_storage(typed_to_raw(tp, *info, *count, *expected, what)));
    }
    // TensorProto: dims 1, data_type 2, float_data 4, int32_data 5, string_data 6,
    // int64_data 7, raw_data 9, double_data 10, uint64_data 11, external_data 13,
    // data_location 14. Left in `carried`: segment 3, name 8, doc_string 12, newer fields.
    tensor->carried = proto::take_residue(tp, {1, 2, 4, 5, 6, 7, 9, 10, 11, 13, 14});
    return std::move(*tensor);
  }

  static std::string dims_string(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
  }

  // Values stored in the typed repeated fields, repacked as raw little-endian bytes.
  std::string typed_to_raw(const onnx::TensorProto& tp, const DTypeInfo& info, uint64_t count,
                           uint64_t expected, const std::string& what) {
    // Each typed value takes at least one byte of the file (two int4 values share one), so a
    // count beyond what the fields hold is rejected before anything is allocated.
    const uint64_t present = static_cast<uint64_t>(tp.float_data_size()) + tp.int32_data_size() +
                             tp.int64_data_size() + tp.double_data_size() + tp.uint64_data_size();
    if (count > 2 * present)
      fail(what + ": holds " + std::to_string(present) + " values, " + std::string(info.name) + " " +
           dims_string({tp.dims().begin(), tp.dims().end()}) + " needs " + std::to_string(count));
    std::string out(expected, '\0');
    auto mismatch = [&](const char* field, int have, uint64_t need) {
      fail(what + ": " + field + " holds " + std::to_string(have) + " values, " +
           std::string(info.name) + " " + dims_string({tp.dims().begin(), tp.dims().end()}) +
           " needs " + std::to_string(need));
    };
    auto copy_field = [&](const auto& field, const char* field_name, uint64_t need, auto convert) {
      if (static_cast<uint64_t>(field.size()) != need) mismatch(field_name, field.size(), need);
      using Out = decltype(convert(*field.begin()));
      Out* dst = reinterpret_cast<Out*>(out.data());
      for (int i = 0; i < field.size(); ++i) dst[i] = convert(field.Get(i));
    };
    switch (info.dtype) {
      case DType::kFloat:
        copy_field(tp.float_data(), "float_data", count, [](float v) { return v; });
        break;
      case DType::kComplex64:
        copy_field(tp.float_data(), "float_data", 2 * count, [](float v) { return v; });
        break;
      case DType::kDouble:
        copy_field(tp.double_data(), "double_data", count, [](double v) { return v; });
        break;
      case DType::kComplex128:
        copy_field(tp.double_data(), "double_data", 2 * count, [](double v) { return v; });
        break;
      case DType::kInt64:
        copy_field(tp.int64_data(), "int64_data", count, [](int64_t v) { return v; });
        break;
      case DType::kUint64:
        copy_field(tp.uint64_data(), "uint64_data", count, [](uint64_t v) { return v; });
        break;
      case DType::kUint32:
        copy_field(tp.uint64_data(), "uint64_data", count,
                   [](uint64_t v) { return static_cast<uint32_t>(v); });
        break;
      case DType::kInt32:
        copy_field(tp.int32_data(), "int32_data", count, [](int32_t v) { return v; });
        break;
      case DType::kInt16:
      case DType::kUint16:
      case DType::kFloat16:
      case DType::kBfloat16:
        // 16-bit types keep their bit pattern in the low half of each int32.
        copy_field(tp.int32_data(), "int32_data", count,
                   [](int32_t v) { return static_cast<uint16_t>(v); });
        break;
      case DType::kInt8:
      case DType::kUint8:
      case DType::kBool:
      case DType::kFloat8E4M3FN:
      case DType::kFloat8E4M3FNUZ:
      case DType::kFloat8E5M2:
      case DType::kFloat8E5M2FNUZ:
        copy_field(tp.int32_data(), "int32_data", count,
                   [](int32_t v) { return static_cast<uint8_t>(v); });
        break;
      case DType::kInt4:
      case DType::kUint4:
      case DType::kFloat4E2M1: {
        // Either one packed byte (two elements) per int32, or one element per int32.
        const auto& field = tp.int32_data();
        if (static_cast<uint64_t>(field.size()) == expected) {
          for (int i = 0; i < field.size(); ++i) out[i] = static_cast<char>(field.Get(i));
        } else if (static_cast<uint64_t>(field.size()) == count) {
          for (int i = 0; i < field.size(); ++i) {
            uint8_t nibble = static_cast<uint8_t>(field.Get(i)) & 0x0F;
            out[i / 2] = static_cast<char>(static_cast<uint8_t>(out[i / 2]) | (i % 2 ? nibble << 4 : nibble));
          }
        } else {
          mismatch("int32_data", field.size(), expected);
        }
        break;
      }
      default:
        fail(what + ": " + std::string(info.name) + " data cannot be stored in typed fields");
    }
    return out;
  }

  FileRegion external_region(const onnx::TensorProto& tp, const std::string& what, uint64_t expected) {
    std::string location;
    std::optional<uint64_t> offset, length;
    for (const auto& kv : tp.external_data()) {
      auto parse_number = [&](const std::string& key) -> uint64_t {
        try {
          size_t used = 0;
          unsigned long long v = std::stoull(kv.value(), &used);
          if (used != kv.value().size() || kv.value().find('-') != std::string::npos) throw 0;
          return v;
        } catch (...) {
          fail(what + ": external data " + key + " '" + kv.value() + "' is not a number");
        }
      };
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = parse_number("offset");
      else if (kv.key() == "length") length = parse_number("length");
    }
    if (location.empty()) fail(what + ": external data has no location");
    std::shared_ptr<DataFile> file = open_data_file(location, what);
    const uint64_t off = offset.value_or(0);
    const uint64_t len = length.value_or(expected);
    if (len != expected)
      fail(what + ": external data length " + std::to_string(len) + " does not match its dtype and shape (" +
           std::to_string(expected) + " bytes)");
    uint64_t end = 0;
    if (__builtin_add_overflow(off, len, &end) || end > file->size())
      fail(what + ": external data [" + std::to_string(off) + ", +" + std::to_string(len) +
           ") lies beyond the end of '" + location + "' (" + std::to_string(file->size()) + " bytes)");
    return FileRegion{std::move(file), off, len};
  }

  // External data must stay inside the model's folder: no absolute paths, no `..` escapes,
  // no symlinks that lead out.
  std::shared_ptr<DataFile> open_data_file(const std::string& location, const std::string& what) {
    fs::path rel(location);
    fs::path normal = rel.lexically_normal();
    if (rel.is_absolute() || location.find('\0') != std::string::npos || normal.empty() ||
        *normal.begin() == "..")
      fail(what + ": external data location '" + location + "' points outside the model's folder");
    fs::path full = model_dir_ / normal;
    std::error_code ec;
    fs::path real = fs::canonical(full, ec);
    if (ec)
      throw io_error(path_, what + ": external data file '" + full.string() +
                                "' cannot be read: " + ec.message());
    fs::path real_dir = fs::canonical(model_dir_, ec);
    if (ec) throw io_error(model_dir_.string(), "cannot resolve the model's folder: " + ec.message());
    auto [dir_end, _] = std::mismatch(real_dir.begin(), real_dir.end(), real.begin(), real.end());
    if (dir_end != real_dir.end())
      fail(what + ": external data location '" + location + "' resolves to '" + real.string() +
           "', outside the model's folder");
    auto it = data_files_.find(real.string());
    if (it != data_files_.end()) return it->second;
    auto file = DataFile::open(real.string());
    data_files_.emplace(real.string(), file);
    return file;
  }

  std::string path_;
  ModelSource* source_;
  fs::path model_dir_;
  std::map<std::string, std::shared_ptr<DataFile>> data_files_;
};

}  // namespace

StoredValue load_value_pb(const std::string& path) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw io_error(path, "cannot open");
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The file does not say which message it holds. A TensorProto is tried first; a
  // SequenceProto and an OptionalProto of tensors share one wire layout (elem_type 2, tensors 3),
  // so both come back as kTensorList and the caller decides from the model's declared type.
  Loader loader(path, nullptr);
  StoredValue out;
  onnx::TensorProto tensor;
  if (tensor.ParseFromString(bytes) && tensor.data_type() != 0 && !tensor.has_segment()) {
    try {
      out.name = tensor.name();
      out.tensors.push_back(loader.convert_standalone_tensor(tensor));
      return out;
    } catch (const Error&) {
      out = StoredValue{};
    }
  }
  onnx::SequenceProto seq;
  if (seq.ParseFromString(bytes)) {
    out.kind = StoredValue::Kind::kTensorList;
    out.name = seq.name();
    out.elem_type = seq.elem_type();
    for (auto& t : *seq.mutable_tensor_values()) out.tensors.push_back(loader.convert_standalone_tensor(t));
    // An OptionalProto holding a sequence keeps it in field 5 (SequenceProto.sequence_values).
    if (seq.sequence_values_size() == 1)
      for (auto& t : *seq.mutable_sequence_values(0)->mutable_tensor_values())
        out.tensors.push_back(loader.convert_standalone_tensor(t));
    return out;
  }
  throw Error(ErrorKind::kInvalidData, path + ": not a TensorProto, SequenceProto or OptionalProto");
}

Model load_model(const std::string& path, ModelSource* source, const LoadOptions& options) {
  ModelSource local;
  if (source == nullptr) source = &local;
  *source = ModelSource{};
  Loader loader(path, source);
  return loader.load(options);
}

}  // namespace edgeq
