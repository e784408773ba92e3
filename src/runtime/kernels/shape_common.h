// Helpers shared by the data-movement kernel families (shape.cc, gather_scatter.cc, resize.cc,
// and the block copies of control_flow.cc and sequence.cc).
//
// Moving data does not need to know what an element means, only how wide it is: dispatch_move
// calls its functor with an opaque type of the dtype's width (uint8_t for int8/uint8/bool/
// float8, uint16_t for float16/bfloat16/int16, ..., a 16-byte struct for complex128) or with
// std::string for string tensors, so one instantiation serves every dtype of that width.
#pragma once

#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

struct Bytes16 {
  uint64_t lo, hi;
};

template <class F>
void dispatch_move(const KernelContext& ctx, DType dtype, F&& f) {
  if (dtype == DType::kString) return f(std::string{});
  switch (dtype_info(dtype).bits) {
    case 8: return f(uint8_t{});
    case 16: return f(uint16_t{});
    case 32: return f(uint32_t{});
    case 64: return f(uint64_t{});
    case 128: return f(Bytes16{});
    default:
      ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " (sub-byte) is not supported by this kernel");
  }
}

// Element pointers of a tensor for a dispatch_move type.
template <class T>
const T* data_of(const Tensor& t) {
  if constexpr (std::is_same_v<T, std::string>) return t.strings().data();
  else return reinterpret_cast<const T*>(t.bytes().data());
}
template <class T>
T* mutable_data_of(Tensor& t) {
  if constexpr (std::is_same_v<T, std::string>) return t.mutable_strings().data();
  else return t.mutable_values<T>();
}

// Numeric conversions that also work for Eigen::half / bfloat16 (which convert via float).
template <class T>
double to_double(T v) {
  if constexpr (std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>)
    return static_cast<double>(static_cast<float>(v));
  else return static_cast<double>(v);
}
template <class T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>)
    return static_cast<T>(static_cast<float>(v));
  else return static_cast<T>(v);
}

// "[2,3]": dims as written in messages.
inline std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// Bytes per element for the block copies below; string tensors copy their strings instead.
// Packed sub-byte dtypes are unsupported; `where` ("a sequence op") ends that message.
inline size_t element_bytes(const KernelContext& ctx, DType dtype, const char* where) {
  const int bits = dtype_info(dtype).bits;
  if (dtype != DType::kString && bits % 8 != 0)
    ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " (packed sub-byte elements) in " + where);
  return static_cast<size_t>(bits / 8);
}

// Copies `count` elements of `src` starting at element `from` into `dst` at element `to`.
inline void copy_elements(const Tensor& src, int64_t from, Tensor& dst, int64_t to, int64_t count, size_t esize) {
  if (count <= 0) return;
  if (src.dtype() == DType::kString) {
    std::copy_n(src.strings().begin() + from, count, dst.mutable_strings().begin() + to);
    return;
  }
  std::copy_n(src.bytes().data() + from * esize, count * esize, dst.mutable_values<std::byte>() + to * esize);
}

// The slice [begin, begin + size) of t along axis; drops the axis when `squeeze` (size 1).
// `where` is as for element_bytes.
inline Tensor slice_axis(const KernelContext& ctx, const Tensor& t, int64_t axis, int64_t begin, int64_t size,
                         bool squeeze, const char* where) {
  const size_t esize = element_bytes(ctx, t.dtype(), where);
  std::vector<int64_t> dims = t.dims();
  const int64_t len = dims[axis];
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  if (squeeze) dims.erase(dims.begin() + axis);
  else dims[axis] = size;
  Tensor out = Tensor::allocate(t.dtype(), dims);
  for (int64_t o = 0; o < outer; ++o)
    copy_elements(t, (o * len + begin) * inner, out, o * size * inner, size * inner, esize);
  return out;
}

// Concatenates items viewed as [outer, pieces[k], inner] into out ([outer, sum(pieces), inner]),
// in item order.
inline void concat_blocks(const std::vector<Tensor>& items, const std::vector<int64_t>& pieces, int64_t outer,
                          int64_t inner, Tensor& out, size_t esize) {
  int64_t total = 0;
  for (int64_t p : pieces) total += p;
  int64_t offset = 0;  // position along the axis
  for (size_t k = 0; k < items.size(); ++k) {
    const int64_t block = pieces[k] * inner;
    for (int64_t o = 0; o < outer; ++o)
      copy_elements(items[k], o * block, out, (o * total + offset) * inner, block, esize);
    offset += pieces[k];
  }
}

std::vector<int64_t> row_major_strides(const std::vector<int64_t>& dims);

// The same elements under new dims (shares the bytes; the caller checked the count).
Tensor with_dims(const Tensor& t, std::vector<int64_t> dims);

// A one-element tensor of any numeric dtype as double; fails naming `what` otherwise.
double scalar_as_double(const KernelContext& ctx, const Tensor& t, const char* what);
// Every element of a numeric tensor as double.
std::vector<double> read_doubles(const KernelContext& ctx, const Tensor& t);
// Normalizes axes against `rank` and fails on duplicates.
std::vector<int64_t> read_axes(const KernelContext& ctx, std::vector<int64_t> axes, int64_t rank);

// Marks, in a gather offset table, a position that lies outside the source; the sum of a row's
// offsets is then negative whatever the other dims add (offsets stay far below 2^52).
inline constexpr int64_t kOutside = -(int64_t{1} << 52);

// Separable gather: out[c_0, ..., c_n-1] = src[offsets[0][c_0] + ... + offsets[n-1][c_n-1]],
// or *fill where that sum is negative (some dim said kOutside). Transpose, Slice, Expand, Tile,
// Pad, DepthToSpace, nearest Resize... are all this with different tables. Work is split into
// chunks of rows fixed by the shape; every output element is written exactly once.
template <class T>
void gather_separable(ThreadPool& pool, const T* src, T* dst, std::vector<int64_t> dims,
                      std::vector<std::vector<int64_t>> offsets, const T* fill) {
  if (dims.empty()) {
    dims = {1};
    offsets = {{0}};
  }
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  const size_t rank = dims.size();
  const int64_t inner = dims.back();
  const int64_t rows = total / inner;
  const std::vector<int64_t>& last = offsets.back();
  bool contiguous = last[0] >= 0;
  for (int64_t i = 1; i < inner && contiguous; ++i) contiguous = last[i] == last[0] + i;

  constexpr int64_t kChunkElements = 1 << 15;
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / inner);
  const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  auto run = [&](int64_t chunk) {
    const int64_t r0 = chunk * rows_per_chunk, r1 = std::min(rows, r0 + rows_per_chunk);
    std::vector<int64_t> coord(rank - 1);
    int64_t rem = r0;
    for (size_t d = rank - 1; d-- > 0;) {
      coord[d] = rem % dims[d];
      rem /= dims[d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      int64_t base = 0;
      for (size_t d = 0; d + 1 < rank; ++d) base += offsets[d][coord[d]];
      T* out = dst + r * inner;
      if (contiguous && base >= 0) {
        const T* from = src + base + last[0];
        std::copy(from, from + inner, out);
      } else {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t o = base + last[i];
          out[i] = o < 0 ? *fill : src[o];
        }
      }
      for (size_t d = rank - 1; d-- > 0;) {
        if (++coord[d] < dims[d]) break;
        coord[d] = 0;
      }
    }
  };
  if (chunks == 1) run(0);
  else pool.parallel_for(chunks, run);
}

// gather_separable on tensors: a new tensor of `out_dims` and src's dtype. `fill` (one element
// of src's dtype) is required when a table holds kOutside.
Tensor gather_copy(KernelContext& ctx, const Tensor& src, std::vector<int64_t> out_dims,
                   std::vector<std::vector<int64_t>> offsets, const Tensor* fill = nullptr);

}  // namespace edgeq
