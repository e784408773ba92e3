// ONNX sparse tensors (SparseTensorProto) as the IR carries them: serialized bytes, stored with
// Graph::add_sparse_initializer. Only src/ir touches protobuf, so these two functions are the way
// the rest of edgeq makes and reads them.
//
// Layout written (onnx.proto, SparseTensorProto): `dims` = the dense shape; `values` = a 1-D
// tensor [NNZ] of the dense dtype, named like the tensor (the loader takes a sparse initializer's
// name from values.name); `indices` = a 1-D INT64 tensor [NNZ] of linearized (row-major) indices
// in ascending order — the [NNZ] form, never [NNZ, rank], because it is rank times smaller. The
// checker requires INT64 indices, so a stored non-zero costs its value plus 8 bytes.
#pragma once

#include <string>

#include "edgeq/ir/tensor.h"

namespace edgeq {

// The serialized SparseTensorProto holding the elements of `dense` whose bytes are not all zero
// (so -0.0 is kept: loading it back gives the same bytes). `dense` must have a numeric dtype of
// at least 8 bits; throws kUnsupported otherwise.
std::string serialize_sparse_tensor(const std::string& name, const Tensor& dense);

// The dense tensor of a serialized SparseTensorProto (either index form). Throws kInvalidModel,
// naming `what`, when it does not parse, an index is out of range or repeated, or the sizes
// disagree.
Tensor sparse_tensor_to_dense(const std::string& serialized, const std::string& what);

}  // namespace edgeq
