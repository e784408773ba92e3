#include "edgeq/data/feeds.h"

#include <filesystem>

#include "edgeq/data/npy.h"
#include "edgeq/error.h"

namespace edgeq {

namespace fs = std::filesystem;

std::vector<Value*> data_inputs(const Model& model) {
  std::vector<Value*> out;
  for (Value* v : model.graph->inputs())
    if (!v->is_initializer() && !v->is_sparse_initializer()) out.push_back(v);
  return out;
}

std::string data_input_names(const Model& model) {
  std::string names;
  for (Value* v : data_inputs(model)) names += (names.empty() ? "" : ", ") + v->name();
  return names;
}

namespace {

Value* input_named(const Model& model, const std::string& name, const std::string& source) {
  for (Value* v : model.graph->inputs())
    if (v->name() == name) return v;
  throw Error(ErrorKind::kInvalidData, source + ": the model has no input named '" + name +
                                           "' (inputs: " + data_input_names(model) + ")");
}

Value* only_input(const Model& model, const std::string& source) {
  auto inputs = data_inputs(model);
  if (inputs.size() != 1)
    throw Error(ErrorKind::kInvalidData, source + ": the model has " + std::to_string(inputs.size()) +
                                             " inputs (" + data_input_names(model) + "); name them with NAME=FILE");
  return inputs[0];
}

RtValue read_one(const std::string& path, const Value& input) {
  if (path.ends_with(".npy")) return RtValue(read_npy(path));
  if (path.ends_with(".pb")) return stored_to_runtime(load_value_pb(path), input.info.type_kind);
  throw Error(ErrorKind::kInvalidData, path + ": expected a .npy or .pb file for input '" + input.name() + "'");
}

}  // namespace

RtValue stored_to_runtime(const StoredValue& value, const std::string& declared_kind) {
  if (value.kind == StoredValue::Kind::kTensor) return RtValue(value.tensors.at(0));
  if (declared_kind == "optional") {
    // SequenceProto.elem_type 1 and OptionalProto.elem_type 1 both mean "tensor".
    if (value.tensors.empty() && value.elem_type == 0) return RtValue::none();
    if (value.tensors.size() == 1 && value.elem_type == 1) return RtValue(value.tensors[0]);
  }
  return RtValue::make_sequence(value.tensors);
}

std::map<std::string, RtValue> read_feeds(const Model& model, const std::vector<std::string>& specs) {
  std::map<std::string, RtValue> feeds;
  auto put = [&](const std::string& name, RtValue value, const std::string& source) {
    if (!feeds.emplace(name, std::move(value)).second)
      throw Error(ErrorKind::kInvalidData, source + ": input '" + name + "' is given twice");
  };
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq != std::string::npos && !fs::exists(spec)) {
      const std::string name = spec.substr(0, eq), path = spec.substr(eq + 1);
      if (!fs::exists(path)) throw io_error(path, "no such file");
      put(name, read_one(path, *input_named(model, name, path)), path);
      continue;
    }
    if (!fs::exists(spec)) throw io_error(spec, "no such file or folder");
    if (fs::is_directory(spec)) {
      auto inputs = data_inputs(model);
      int found = 0;
      for (int i = 0;; ++i) {
        const std::string path = (fs::path(spec) / ("input_" + std::to_string(i) + ".pb")).string();
        if (!fs::exists(path)) break;
        ++found;
        StoredValue stored = load_value_pb(path);
        const Value* input = nullptr;
        for (Value* v : model.graph->inputs())
          if (v->name() == stored.name) input = v;
        if (input == nullptr && static_cast<size_t>(i) < inputs.size()) input = inputs[i];
        if (input == nullptr)
          throw Error(ErrorKind::kInvalidData, path + ": the model has only " + std::to_string(inputs.size()) + " inputs");
        put(input->name(), stored_to_runtime(stored, input->info.type_kind), path);
      }
      if (found == 0)
        throw Error(ErrorKind::kInvalidData, spec + ": no input_0.pb in this folder (expected ONNX test data)");
      continue;
    }
    if (spec.ends_with(".npz")) {
      for (auto& [name, tensor] : read_npz(spec)) {
        input_named(model, name, spec);
        put(name, RtValue(std::move(tensor)), spec);
      }
      continue;
    }
    Value* input = only_input(model, spec);
    put(input->name(), read_one(spec, *input), spec);
  }
  return feeds;
}

std::string sanitize_file_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) c = '_';
  return out;
}

}  // namespace edgeq
