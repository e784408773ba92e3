// An independent notion of "the same model" for round-trip tests, computed on the ONNX protobuf
// directly (not through edgeq's IR): tensor data moved from typed fields to raw_data, fields
// holding their default value treated as absent, serialization deterministic.
#pragma once

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <cstring>
#include <fstream>
#include <string>

namespace edgeq::test {

namespace gp = google::protobuf;

inline void tensor_to_raw(onnx::TensorProto& t) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.has_raw_data() ||
      t.data_type() == onnx::TensorProto::STRING)
    return;
  std::string raw;
  auto append = [&raw](const void* p, size_t n) { raw.append(static_cast<const char*>(p), n); };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::COMPLEX64:
      for (float v : t.float_data()) append(&v, 4);
      break;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::COMPLEX128:
      for (double v : t.double_data()) append(&v, 8);
      break;
    case onnx::TensorProto::INT64:
      for (int64_t v : t.int64_data()) append(&v, 8);
      break;
    case onnx::TensorProto::UINT64:
      for (uint64_t v : t.uint64_data()) append(&v, 8);
      break;
    case onnx::TensorProto::UINT32:
      for (uint64_t v : t.uint64_data()) { uint32_t n = static_cast<uint32_t>(v); append(&n, 4); }
      break;
    case onnx::TensorProto::INT32:
      for (int32_t v : t.int32_data()) append(&v, 4);
      break;
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      for (int32_t v : t.int32_data()) { uint16_t n = static_cast<uint16_t>(v); append(&n, 2); }
      break;
    default:  // 8-bit types
      for (int32_t v : t.int32_data()) { uint8_t n = static_cast<uint8_t>(v); append(&n, 1); }
      break;
  }
  t.clear_float_data();
  t.clear_double_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_uint64_data();
  t.set_raw_data(raw);
}

// Clears singular fields that hold their default value and recurses into sub-messages;
// TensorProtos get their data in raw_data.
inline void canonicalize(gp::Message& msg) {
  if (auto* t = dynamic_cast<onnx::TensorProto*>(&msg)) tensor_to_raw(*t);
  const gp::Reflection* refl = msg.GetReflection();
  std::vector<const gp::FieldDescriptor*> fields;
  refl->ListFields(msg, &fields);
  for (const auto* f : fields) {
    if (f->is_repeated()) {
      if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_MESSAGE)
        for (int i = 0; i < refl->FieldSize(msg, f); ++i) canonicalize(*refl->MutableRepeatedMessage(&msg, f, i));
      continue;
    }
    bool is_default = false;
    switch (f->cpp_type()) {
      case gp::FieldDescriptor::CPPTYPE_STRING: is_default = refl->GetString(msg, f).empty(); break;
      case gp::FieldDescriptor::CPPTYPE_INT32: is_default = refl->GetInt32(msg, f) == 0; break;
      case gp::FieldDescriptor::CPPTYPE_INT64: is_default = refl->GetInt64(msg, f) == 0; break;
      case gp::FieldDescriptor::CPPTYPE_UINT64: is_default = refl->GetUInt64(msg, f) == 0; break;
      case gp::FieldDescriptor::CPPTYPE_FLOAT: {
        float v = refl->GetFloat(msg, f);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        is_default = bits == 0;
        break;
      }
      case gp::FieldDescriptor::CPPTYPE_ENUM: is_default = refl->GetEnumValue(msg, f) == 0; break;
      case gp::FieldDescriptor::CPPTYPE_MESSAGE: canonicalize(*refl->MutableMessage(&msg, f)); break;
      default: break;
    }
    if (is_default) refl->ClearField(&msg, f);
  }
}

inline std::string deterministic_bytes(const gp::Message& msg) {
  std::string out;
  {
    gp::io::StringOutputStream stream(&out);
    gp::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

inline bool parse_model_file(const std::string& path, onnx::ModelProto& model) {
  std::ifstream in(path, std::ios::binary);
  return model.ParseFromIstream(&in);
}

inline std::string canonical_model(const std::string& path) {
  onnx::ModelProto m;
  if (!parse_model_file(path, m)) return "<unparseable>";
  canonicalize(m);
  return deterministic_bytes(m);
}

}  // namespace edgeq::test
