// Element types. The numeric values are ONNX's TensorProto.DataType codes, so a DType converts
// to and from the file format by value; kDTypes is the one table every reader (loader, writer,
// inspect, reports) consults for names and sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace edgeq {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBfloat16 = 16,
  kFloat8E4M3FN = 17,    // IR 9
  kFloat8E4M3FNUZ = 18,  // IR 9
  kFloat8E5M2 = 19,      // IR 9
  kFloat8E5M2FNUZ = 20,  // IR 9
  kUint4 = 21,           // IR 10, two elements per byte
  kInt4 = 22,            // IR 10, two elements per byte
  kFloat4E2M1 = 23,      // IR 11, two elements per byte
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // ONNX's spelling in lower case: "float", "int8", "float8e4m3fn"
  int bits;               // storage bits per element; 0 for string
  bool is_float;
};

inline constexpr DTypeInfo kDTypes[] = {
    {DType::kFloat, "float", 32, true},
    {DType::kUint8, "uint8", 8, false},
    {DType::kInt8, "int8", 8, false},
    {DType::kUint16, "uint16", 16, false},
    {DType::kInt16, "int16", 16, false},
    {DType::kInt32, "int32", 32, false},
    {DType::kInt64, "int64", 64, false},
    {DType::kString, "string", 0, false},
    {DType::kBool, "bool", 8, false},
    {DType::kFloat16, "float16", 16, true},
    {DType::kDouble, "double", 64, true},
    {DType::kUint32, "uint32", 32, false},
    {DType::kUint64, "uint64", 64, false},
    {DType::kComplex64, "complex64", 64, true},
    {DType::kComplex128, "complex128", 128, true},
    {DType::kBfloat16, "bfloat16", 16, true},
    {DType::kFloat8E4M3FN, "float8e4m3fn", 8, true},
    {DType::kFloat8E4M3FNUZ, "float8e4m3fnuz", 8, true},
    {DType::kFloat8E5M2, "float8e5m2", 8, true},
    {DType::kFloat8E5M2FNUZ, "float8e5m2fnuz", 8, true},
    {DType::kUint4, "uint4", 4, false},
    {DType::kInt4, "int4", 4, false},
    {DType::kFloat4E2M1, "float4e2m1", 4, true},
};

// nullptr for codes edgeq does not know (the loader reports those as invalid).
const DTypeInfo* find_dtype(int32_t onnx_code);
const DTypeInfo& dtype_info(DType dtype);
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes needed to store `count` elements: sub-byte types are packed, rounding up to whole bytes.
// Returns nullopt on overflow.
std::optional<uint64_t> storage_bytes(DType dtype, uint64_t count);

}  // namespace edgeq
