#include "ir/proto_util.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>

#include "edgeq/error.h"

namespace edgeq::proto {

namespace gp = google::protobuf;

std::string take_residue(gp::Message& msg, std::initializer_list<int> modeled) {
  const gp::Descriptor* desc = msg.GetDescriptor();
  const gp::Reflection* refl = msg.GetReflection();
  for (int number : modeled) {
    const gp::FieldDescriptor* field = desc->FindFieldByNumber(number);
    EDGEQ_CHECK(field != nullptr, "no field " + std::to_string(number) + " in " + desc->name());
    refl->ClearField(&msg, field);
  }
  return serialize_deterministic(msg);
}

void restore_residue(gp::Message& msg, const std::string& residue) {
  if (residue.empty()) return;
  EDGEQ_CHECK(msg.ParseFromString(residue), "carried fields do not parse");
}

int32_t read_enum(gp::Message& msg, int field_number, int32_t parsed_value, bool has_parsed) {
  gp::UnknownFieldSet* unknown = msg.GetReflection()->MutableUnknownFields(&msg);
  int32_t value = parsed_value;
  bool found = false;
  for (int i = 0; i < unknown->field_count(); ++i) {
    const gp::UnknownField& f = unknown->field(i);
    if (f.number() == field_number && f.type() == gp::UnknownField::TYPE_VARINT) {
      value = static_cast<int32_t>(f.varint());
      found = true;
    }
  }
  if (found) {
    // A known value parsed into the field takes precedence; otherwise the last unknown
    // occurrence is the value (protobuf's last-one-wins for scalars).
    if (has_parsed) value = parsed_value;
    unknown->DeleteByNumber(field_number);
  }
  return value;
}

void write_enum(gp::Message& msg, int field_number, int32_t value) {
  const gp::FieldDescriptor* field = msg.GetDescriptor()->FindFieldByNumber(field_number);
  EDGEQ_CHECK(field != nullptr, "write_enum: no such field");
  const gp::Reflection* refl = msg.GetReflection();
  if (field->type() == gp::FieldDescriptor::TYPE_INT32) {  // data_type and elem_type are int32
    refl->SetInt32(&msg, field, value);
    return;
  }
  EDGEQ_CHECK(field->type() == gp::FieldDescriptor::TYPE_ENUM, "write_enum: not an enum field");
  if (field->enum_type()->FindValueByNumber(value) != nullptr) {
    refl->SetEnumValue(&msg, field, value);
  } else {
    refl->ClearField(&msg, field);
    refl->MutableUnknownFields(&msg)->AddVarint(field_number, static_cast<uint64_t>(value));
  }
}

std::string serialize_deterministic(const gp::Message& msg) {
  std::string out;
  {
    gp::io::StringOutputStream stream(&out);
    gp::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    EDGEQ_CHECK(msg.SerializeToCodedStream(&coded), "protobuf serialization failed");
  }
  return out;
}

}  // namespace edgeq::proto
