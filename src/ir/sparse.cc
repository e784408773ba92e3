// SparseTensorProto ↔ dense Tensor (include/edgeq/ir/sparse.h).
#include "edgeq/ir/sparse.h"

#include <onnx/onnx_pb.h>

#include <cstring>

#include "edgeq/error.h"
#include "ir/proto_util.h"

namespace edgeq {

namespace {

size_t element_bytes(DType dtype) {
  const DTypeInfo& info = dtype_info(dtype);
  return info.bits >= 8 && info.bits % 8 == 0 ? static_cast<size_t>(info.bits / 8) : 0;
}

bool all_zero(const std::byte* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != std::byte{0}) return false;
  return true;
}

}  // namespace

std::string serialize_sparse_tensor(const std::string& name, const Tensor& dense) {
  const size_t width = element_bytes(dense.dtype());
  if (width == 0 || dense.dtype() == DType::kString)
    throw unsupported(name, "a sparse tensor of " + std::string(dtype_name(dense.dtype())) +
                                " elements cannot be written (whole-byte numeric types only)");
  const auto bytes = dense.bytes();
  const uint64_t count = dense.element_count();
  EDGEQ_CHECK(bytes.size() == count * width, "serialize_sparse_tensor: tensor bytes do not match its shape");

  std::string values;
  std::string indices;
  for (uint64_t i = 0; i < count; ++i) {
    const std::byte* p = bytes.data() + i * width;
    if (all_zero(p, width)) continue;
    values.append(reinterpret_cast<const char*>(p), width);
    const int64_t index = static_cast<int64_t>(i);  // little-endian, as raw_data wants
    indices.append(reinterpret_cast<const char*>(&index), sizeof index);
  }
  const int64_t nnz = static_cast<int64_t>(values.size() / width);

  onnx::SparseTensorProto sp;
  for (int64_t d : dense.dims()) sp.add_dims(d);
  onnx::TensorProto* v = sp.mutable_values();
  v->set_name(name);
  v->set_data_type(static_cast<int32_t>(dense.dtype()));
  v->add_dims(nnz);
  v->set_raw_data(std::move(values));
  onnx::TensorProto* ix = sp.mutable_indices();
  ix->set_data_type(onnx::TensorProto::INT64);
  ix->add_dims(nnz);
  ix->set_raw_data(std::move(indices));
  return proto::serialize_deterministic(sp);
}

Tensor sparse_tensor_to_dense(const std::string& serialized, const std::string& what) {
  onnx::SparseTensorProto sp;
  if (!sp.ParseFromString(serialized)) throw invalid_model(what, "the sparse tensor does not parse");
  const onnx::TensorProto& v = sp.values();
  const onnx::TensorProto& ix = sp.indices();
  const DTypeInfo* info = find_dtype(v.data_type());
  if (info == nullptr) throw invalid_model(what, "sparse values have an unknown data type");
  const size_t width = element_bytes(info->dtype);
  if (width == 0 || info->dtype == DType::kString)
    throw unsupported(what, "sparse values of type " + std::string(info->name) + " are not supported");
  if (v.data_location() == onnx::TensorProto::EXTERNAL || ix.data_location() == onnx::TensorProto::EXTERNAL)
    throw unsupported(what, "sparse tensors with external data are not supported");
  if (!v.has_raw_data())
    throw unsupported(what, "sparse values not stored in raw_data are not supported");

  std::vector<int64_t> dims(sp.dims().begin(), sp.dims().end());
  const auto count = checked_element_count(dims);
  if (!count) throw invalid_model(what, "the sparse tensor's dims are negative or too large");
  if (v.dims_size() != 1) throw invalid_model(what, "sparse values must be 1-D");
  const int64_t nnz = v.dims(0);
  if (nnz < 0 || v.raw_data().size() != static_cast<uint64_t>(nnz) * width)
    throw invalid_model(what, "sparse values hold " + std::to_string(v.raw_data().size()) +
                                  " bytes for " + std::to_string(nnz) + " elements");
  if (ix.data_type() != onnx::TensorProto::INT64) throw invalid_model(what, "sparse indices must be INT64");

  std::vector<int64_t> index;  // as stored: nnz or nnz × rank numbers
  if (ix.has_raw_data()) {
    if (ix.raw_data().size() % sizeof(int64_t)) throw invalid_model(what, "sparse indices: bad raw_data size");
    index.resize(ix.raw_data().size() / sizeof(int64_t));
    std::memcpy(index.data(), ix.raw_data().data(), ix.raw_data().size());
  } else {
    index.assign(ix.int64_data().begin(), ix.int64_data().end());
  }
  const int64_t rank = static_cast<int64_t>(dims.size());
  const bool linear = ix.dims_size() == 1;
  if (!(linear && ix.dims(0) == nnz) && !(ix.dims_size() == 2 && ix.dims(0) == nnz && ix.dims(1) == rank))
    throw invalid_model(what, "sparse indices must be [NNZ] or [NNZ, rank]");
  if (index.size() != static_cast<size_t>(nnz) * (linear ? 1 : static_cast<size_t>(rank)))
    throw invalid_model(what, "sparse indices: element count does not match their dims");

  Tensor dense = Tensor::allocate(info->dtype, dims);
  auto* out = reinterpret_cast<std::byte*>(dense.mutable_values<char>());
  const auto* in = reinterpret_cast<const std::byte*>(v.raw_data().data());
  int64_t previous = -1;
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t flat = 0;
    if (linear) {
      flat = index[static_cast<size_t>(k)];
    } else {
      for (int64_t a = 0; a < rank; ++a) {
        const int64_t i = index[static_cast<size_t>(k * rank + a)];
        if (i < 0 || i >= dims[static_cast<size_t>(a)])
          throw invalid_model(what, "sparse index " + std::to_string(i) + " out of range on axis " + std::to_string(a));
        flat = flat * dims[static_cast<size_t>(a)] + i;
      }
    }
    // onnx.proto: indices appear in ascending order without duplication.
    if (flat < 0 || static_cast<uint64_t>(flat) >= *count || flat <= previous)
      throw invalid_model(what, "sparse index " + std::to_string(flat) + " is out of range or not ascending");
    previous = flat;
    std::memcpy(out + static_cast<size_t>(flat) * width, in + static_cast<size_t>(k) * width, width);
  }
  return dense;
}

}  // namespace edgeq
