#include "edgeq/ir/dtype.h"

#include "edgeq/error.h"

namespace edgeq {

const DTypeInfo* find_dtype(int32_t onnx_code) {
  for (const auto& info : kDTypes)
    if (static_cast<int32_t>(info.dtype) == onnx_code) return &info;
  return nullptr;
}

const DTypeInfo& dtype_info(DType dtype) {
  const DTypeInfo* info = find_dtype(static_cast<int32_t>(dtype));
  EDGEQ_CHECK(info != nullptr, "unknown dtype code " + std::to_string(static_cast<int>(dtype)));
  return *info;
}

std::string_view dtype_name(DType dtype) {
  const DTypeInfo* info = find_dtype(static_cast<int32_t>(dtype));
  return info ? info->name : std::string_view("undefined");
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& info : kDTypes)
    if (info.name == name) return info.dtype;
  return std::nullopt;
}

std::optional<uint64_t> storage_bytes(DType dtype, uint64_t count) {
  const int bits = dtype_info(dtype).bits;
  uint64_t total_bits = 0;
  if (__builtin_mul_overflow(count, static_cast<uint64_t>(bits), &total_bits)) return std::nullopt;
  return (total_bits + 7) / 8;
}

}  // namespace edgeq
