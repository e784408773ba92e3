// Protobuf helpers shared by the loader and the writer (private to src/ir).
#pragma once

#include <onnx/onnx_pb.h>

#include <google/protobuf/message.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace edgeq {
class Model;
}

namespace edgeq::proto {

// Clears the listed fields of `msg` (which the IR models) and returns what is left, serialized:
// the fields edgeq carries without understanding them, unknown fields included.
std::string take_residue(google::protobuf::Message& msg, std::initializer_list<int> modeled);

// Parses a residue back into a fresh message before the writer sets the modeled fields.
void restore_residue(google::protobuf::Message& msg, const std::string& residue);

// Enum fields (AttributeProto.type) whose value libonnx 1.12 does not know are parsed by
// protobuf as unknown varint fields (data types are plain int32 fields and need no help); this returns the field's value either way and removes the
// unknown copy so it is not written twice.
int32_t read_enum(google::protobuf::Message& msg, int field_number, int32_t parsed_value,
                  bool has_parsed);

// Writes an enum value into `msg`: through the setter when libonnx knows it, as an unknown
// varint field (same bytes on the wire) when it does not.
void write_enum(google::protobuf::Message& msg, int field_number, int32_t value);

std::string serialize_deterministic(const google::protobuf::Message& msg);

// The model as a ModelProto, built by the writer (onnx_save.cc), with the bytes of initializers
// larger than `max_inline_bytes` left out and the tensors marked EXTERNAL: they keep dtype and
// dims, which is all shape inference reads from weights, and memory is not doubled.
onnx::ModelProto model_proto_without_large_tensors(const Model& model, uint64_t max_inline_bytes);

}  // namespace edgeq::proto
