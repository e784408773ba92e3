// edgeq IR → ONNX file, written atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "edgeq/error.h"
#include "edgeq/ir/onnx_io.h"
#include "common/atomic_file.h"
#include "ir/proto_util.h"

namespace edgeq {

namespace fs = std::filesystem;

namespace {

// Models whose tensors pass this go to external data: a protobuf message cannot exceed 2 GiB,
// and the rest of the model needs some room too.
constexpr uint64_t kInlineLimit = (uint64_t{2} << 30) - (uint64_t{64} << 20);

struct PlannedTensor {
  const Tensor* tensor;
  onnx::TensorProto* proto;
};

class Writer {
 public:
  Writer(const Model& model, const SaveOptions& options, bool external, std::string data_name)
      : model_(model), options_(options), external_(external), data_name_(std::move(data_name)) {}

  onnx::ModelProto build() {
    onnx::ModelProto mp;
    proto::restore_residue(mp, model_.carried);
    mp.set_ir_version(model_.ir_version);
    for (const auto& op : model_.opset_imports) {
      auto* o = mp.add_opset_import();
      o->set_domain(op.domain);
      o->set_version(op.version);
    }
    if (!model_.producer_name.empty()) mp.set_producer_name(model_.producer_name);
    if (!model_.producer_version.empty()) mp.set_producer_version(model_.producer_version);
    if (!model_.domain.empty()) mp.set_domain(model_.domain);
    if (model_.model_version != 0) mp.set_model_version(model_.model_version);
    if (!model_.doc_string.empty()) mp.set_doc_string(model_.doc_string);
    for (const auto& [k, v] : model_.metadata_props) {
      auto* e = mp.add_metadata_props();
      e->set_key(k);
      e->set_value(v);
    }
    write_graph(*model_.graph, *mp.mutable_graph());
    // Residue fields were parsed first, so the modeled ones sit in canonical field order after
    // serialization anyway (protobuf writes known fields by number).
    return mp;
  }

  std::vector<PlannedTensor>& planned() { return planned_; }

 private:
  void write_graph(const Graph& g, onnx::GraphProto& gp) {
    proto::restore_residue(gp, g.carried);
    gp.set_name(g.name);
    for (const auto& n : g.nodes()) write_node(*n, *gp.add_node());
    for (Value* v : g.initializers()) {
      auto* t = gp.add_initializer();
      write_tensor(*v->initializer(), *t, /*may_be_external=*/true);
      t->set_name(v->name());
    }
    for (Value* v : g.sparse_initializers())
      EDGEQ_CHECK(gp.add_sparse_initializer()->ParseFromString(v->sparse_initializer()),
                  "sparse initializer does not parse");
    for (Value* v : g.inputs()) write_value_info(*v, *gp.add_input());
    for (Value* v : g.outputs()) write_value_info(*v, *gp.add_output());
    for (Value* v : g.value_infos()) write_value_info(*v, *gp.add_value_info());
  }

  void write_node(const Node& n, onnx::NodeProto& np) {
    proto::restore_residue(np, n.carried);
    for (Value* v : n.inputs()) np.add_input(v ? v->name() : std::string());
    for (Value* v : n.outputs()) np.add_output(v ? v->name() : std::string());
    if (!n.name().empty()) np.set_name(n.name());
    np.set_op_type(n.op_type());
    if (!n.domain().empty()) np.set_domain(n.domain());
    for (const auto& a : n.attributes()) write_attribute(a, *np.add_attribute());
  }

  void write_attribute(const Attribute& a, onnx::AttributeProto& ap) {
    proto::restore_residue(ap, a.carried);
    ap.set_name(a.name);
    if (a.type != AttrType::kUndefined) proto::write_enum(ap, 20, static_cast<int32_t>(a.type));
    if (!a.ref_attr_name.empty()) ap.set_ref_attr_name(a.ref_attr_name);
    switch (a.type) {
      case AttrType::kFloat: ap.set_f(a.f); break;
      case AttrType::kInt: ap.set_i(a.i); break;
      case AttrType::kString: ap.set_s(a.s); break;
      case AttrType::kTensor:
        if (!a.tensors.empty()) write_tensor(a.tensors[0], *ap.mutable_t(), false);
        break;
      case AttrType::kGraph:
        if (!a.graphs.empty()) write_graph(*a.graphs[0], *ap.mutable_g());
        break;
      default:
        // A ref_attr_name attribute or an untyped one (IR 1) may carry any combination.
        if (a.f != 0) ap.set_f(a.f);
        if (a.i != 0) ap.set_i(a.i);
        if (!a.s.empty()) ap.set_s(a.s);
        break;
    }
    for (float f : a.floats) ap.add_floats(f);
    for (int64_t i : a.ints) ap.add_ints(i);
    for (const auto& s : a.strings) ap.add_strings(s);
    if (a.type != AttrType::kTensor)
      for (const auto& t : a.tensors) write_tensor(t, *ap.add_tensors(), false);
    if (a.type != AttrType::kGraph)
      for (const auto& g : a.graphs) write_graph(*g, *ap.add_graphs());
  }

  void write_tensor(const Tensor& t, onnx::TensorProto& tp, bool may_be_external) {
    proto::restore_residue(tp, t.carried);
    for (int64_t d : t.dims()) tp.add_dims(d);
    proto::write_enum(tp, 2, static_cast<int32_t>(t.dtype()));
    if (t.dtype() == DType::kString) {
      for (const auto& s : t.strings()) tp.add_string_data(s);
      return;
    }
    if (may_be_external && external_ && t.byte_size() >= options_.external_min_bytes) {
      tp.set_data_location(onnx::TensorProto::EXTERNAL);
      planned_.push_back({&t, &tp});  // location/offset/length filled in when the data is laid out
      return;
    }
    auto bytes = t.bytes();
    tp.set_raw_data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  void write_value_info(const Value& v, onnx::ValueInfoProto& vp) {
    proto::restore_residue(vp, v.info.carried);
    vp.set_name(v.name());
    if (!v.info.has_type) return;
    onnx::TypeProto& tp = *vp.mutable_type();
    proto::restore_residue(tp, v.info.type_carried);
    if (v.info.tensor) {
      onnx::TypeProto_Tensor& tt = *tp.mutable_tensor_type();
      if (v.info.tensor->elem != DType::kUndefined)
        proto::write_enum(tt, 1, static_cast<int32_t>(v.info.tensor->elem));
      if (v.info.tensor->shape) {
        auto* shape = tt.mutable_shape();
        for (const Dim& d : *v.info.tensor->shape) {
          auto* dp = shape->add_dim();
          proto::restore_residue(*dp, d.carried);
          if (d.value) dp->set_dim_value(*d.value);
          else if (!d.param.empty()) dp->set_dim_param(d.param);
        }
      }
    }
  }

  const Model& model_;
  const SaveOptions& options_;
  bool external_;
  std::string data_name_;
  std::vector<PlannedTensor> planned_;
};

uint64_t total_tensor_bytes(const Graph& g) {
  uint64_t total = 0;
  g.for_each_graph([&](const Graph& sub) {
    for (Value* v : sub.initializers()) total += v->initializer()->byte_size();
    for (const auto& n : sub.nodes())
      for (const auto& a : n->attributes())
        for (const auto& t : a.tensors) total += t.byte_size();
  });
  return total;
}

void refuse_protected(const std::string& path, const SaveOptions& options) {
  for (const auto& p : options.protected_paths)
    if (same_file(path, p))
      throw usage_error("refusing to write '" + path + "': it is the input model or one of its data files");
}

}  // namespace

onnx::ModelProto proto::model_proto_without_large_tensors(const Model& model,
                                                          uint64_t max_inline_bytes) {
  SaveOptions options;
  options.external_min_bytes = max_inline_bytes + 1;
  // "External" without a data file: the writer marks the large tensors EXTERNAL and leaves
  // their layout to the caller, which never lays them out.
  Writer writer(model, options, /*external=*/true, std::string());
  return writer.build();
}

std::string external_data_path_for(const std::string& model_path) { return model_path + ".data"; }

SavedFiles save_model(const Model& model, const std::string& path, const SaveOptions& options) {
  EDGEQ_CHECK(model.graph != nullptr, "save_model: model has no graph");
  const bool external = options.external == ExternalDataMode::kAlways ||
                        options.source_had_external_data ||
                        total_tensor_bytes(*model.graph) > kInlineLimit;
  if (path.empty()) throw usage_error("the output path is empty");
  SavedFiles saved;
  saved.model_path = path;
  refuse_protected(path, options);
  std::string data_path;
  if (external) {
    data_path = external_data_path_for(path);
    refuse_protected(data_path, options);
  }

  Writer writer(model, options, external, fs::path(data_path).filename().string());
  onnx::ModelProto mp = writer.build();

  std::optional<AtomicFile> data_file;
  if (external && !writer.planned().empty()) {
    data_file.emplace(data_path);
    const std::string location = fs::path(data_path).filename().string();
    static const char kZeros[4096] = {};
    for (auto& [tensor, tp] : writer.planned()) {
      uint64_t offset = data_file->written();
      uint64_t aligned = (offset + options.external_alignment - 1) / options.external_alignment *
                         options.external_alignment;
      while (offset < aligned) {
        size_t pad = static_cast<size_t>(std::min<uint64_t>(aligned - offset, sizeof(kZeros)));
        data_file->write_all(kZeros, pad);
        offset += pad;
      }
      if (const FileRegion* region = tensor->file_region()) {
        data_file->copy_region(*region);
      } else {
        auto bytes = tensor->bytes();
        data_file->write_all(bytes.data(), bytes.size());
      }
      auto add = [tp = tp](const std::string& k, const std::string& v) {
        auto* e = tp->add_external_data();
        e->set_key(k);
        e->set_value(v);
      };
      add("location", location);
      add("offset", std::to_string(aligned));
      add("length", std::to_string(tensor->byte_size()));
    }
    saved.data_path = data_path;
    saved.data_bytes = data_file->written();
  }

  if (mp.ByteSizeLong() > static_cast<size_t>(INT_MAX))
    throw unsupported(path, "the model's non-tensor parts exceed protobuf's 2 GiB limit");
  AtomicFile model_file(path);
  {
    google::protobuf::io::FileOutputStream raw(model_file.fd());
    {
      google::protobuf::io::CodedOutputStream coded(&raw);
      coded.SetSerializationDeterministic(true);
      if (!mp.SerializeToCodedStream(&coded))
        throw io_error(path, "cannot serialize the model");
    }
    if (!raw.Flush()) throw io_error(path, std::string("write failed: ") + std::strerror(raw.GetErrno()));
    saved.model_bytes = static_cast<uint64_t>(raw.ByteCount());
  }
  model_file.close_file();
  // Data first: a model file never appears before the data it references.
  if (data_file) data_file->commit();
  model_file.commit();
  return saved;
}

}  // namespace edgeq
