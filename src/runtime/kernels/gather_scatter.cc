// gather_scatter.cc: index-driven selection and update: Gather, GatherElements, GatherND,
// ScatterElements (and its deprecated name Scatter), ScatterND.
//
// Indices are int32 or int64. Negative indices count from the end of their axis (spec, from
// the opsets that introduced these ops' current form); anything outside [-dim, dim-1] fails.
// Scatters apply updates in index order, so with reduction "none" a duplicated index keeps the
// last update (the spec leaves that case undefined) and the result never depends on threads.
#include <algorithm>

#include "runtime/kernels/shape_common.h"

namespace edgeq {

namespace {

int64_t product(const std::vector<int64_t>& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

// Wraps a negative index and fails when it is outside [-dim, dim - 1].
int64_t checked_index(const KernelContext& ctx, int64_t i, int64_t dim) {
  const int64_t j = i < 0 ? i + dim : i;
  if (j < 0 || j >= dim)
    ctx.fail("index " + std::to_string(i) + " is out of range for an axis of size " + std::to_string(dim));
  return j;
}

// Gather: out = data[:axis] x indices x data[axis+1:]; each index selects one slice.
void gather(KernelContext& ctx) {
  const Tensor& data = ctx.required_input(0);
  const Tensor& indices = ctx.required_input(1);
  const int64_t rank = static_cast<int64_t>(data.dims().size());
  if (rank == 0) ctx.fail("data must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  std::vector<int64_t> idx = read_int_list(ctx, indices);
  const int64_t dim = data.dims()[axis];
  for (int64_t& i : idx) i = checked_index(ctx, i, dim);
  std::vector<int64_t> out_dims(data.dims().begin(), data.dims().begin() + axis);
  out_dims.insert(out_dims.end(), indices.dims().begin(), indices.dims().end());
  out_dims.insert(out_dims.end(), data.dims().begin() + axis + 1, data.dims().end());
  const int64_t outer = product(data.dims(), 0, axis);
  const int64_t inner = product(data.dims(), axis + 1, rank);
  const int64_t n = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::allocate(data.dtype(), out_dims);
  dispatch_move(ctx, data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(data);
    T* dst = mutable_data_of<T>(out);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < n; ++k) {
        const T* from = src + (o * dim + idx[k]) * inner;
        std::copy(from, from + inner, dst + (o * n + k) * inner);
      }
  });
  ctx.set_output(0, std::move(out));
}

// Walks every coordinate of `dims` in row-major order, calling f(flat index, coordinate).
template <class F>
void for_each_coord(const std::vector<int64_t>& dims, F&& f) {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  std::vector<int64_t> coord(dims.size(), 0);
  for (int64_t flat = 0; flat < total; ++flat) {
    f(flat, coord);
    for (size_t d = dims.size(); d-- > 0;) {
      if (++coord[d] < dims[d]) break;
      coord[d] = 0;
    }
  }
}

// Shared checks of GatherElements / ScatterElements: same rank, indices no larger than data
// off the axis. Returns the flat data offset of every index element.
std::vector<int64_t> element_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& indices,
                                     int64_t axis) {
  const size_t rank = data.dims().size();
  if (indices.dims().size() != rank) ctx.fail("indices must have the rank of data");
  for (size_t d = 0; d < rank; ++d)
    if (static_cast<int64_t>(d) != axis && indices.dims()[d] > data.dims()[d])
      ctx.fail("indices dim " + std::to_string(d) + " exceeds data's");
  const std::vector<int64_t> idx = read_int_list(ctx, indices);
  const auto strides = row_major_strides(data.dims());
  const int64_t dim = data.dims()[axis];
  std::vector<int64_t> offsets(idx.size());
  for_each_coord(indices.dims(), [&](int64_t flat, const std::vector<int64_t>& c) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d)
      off += (static_cast<int64_t>(d) == axis ? checked_index(ctx, idx[flat], dim) : c[d]) * strides[d];
    offsets[flat] = off;
  });
  return offsets;
}

// GatherElements (opset 11): out[c] = data[c with c[axis] replaced by indices[c]].
void gather_elements(KernelContext& ctx) {
  const Tensor& data = ctx.required_input(0);
  const Tensor& indices = ctx.required_input(1);
  const int64_t rank = static_cast<int64_t>(data.dims().size());
  if (rank == 0) ctx.fail("data must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  const auto offsets = element_offsets(ctx, data, indices, axis);
  Tensor out = Tensor::allocate(data.dtype(), indices.dims());
  dispatch_move(ctx, data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(data);
    T* dst = mutable_data_of<T>(out);
    for (size_t i = 0; i < offsets.size(); ++i) dst[i] = src[offsets[i]];
  });
  ctx.set_output(0, std::move(out));
}

// The index tuples of GatherND / ScatterND: indices [..., k] address the first k dims of data
// after `batch_dims` leading dims shared with indices. Returns each tuple's flat offset into
// data (batch offset included) and sets `slice` to the element count each tuple selects.
std::vector<int64_t> nd_offsets(const KernelContext& ctx, const Tensor& data, const Tensor& indices,
                                int64_t batch_dims, int64_t* slice) {
  const auto& dd = data.dims();
  const auto& id = indices.dims();
  const int64_t r = static_cast<int64_t>(dd.size()), q = static_cast<int64_t>(id.size());
  if (r < 1 || q < 1) ctx.fail("data and indices must have rank >= 1");
  if (batch_dims < 0 || batch_dims >= std::min(r, q)) ctx.fail("batch_dims is out of range");
  for (int64_t d = 0; d < batch_dims; ++d)
    if (dd[d] != id[d]) ctx.fail("batch dims of data and indices differ");
  const int64_t k = id.back();
  if (k < 1 || k > r - batch_dims) ctx.fail("last indices dim " + std::to_string(k) + " is out of range");
  const auto strides = row_major_strides(dd);
  *slice = product(dd, static_cast<size_t>(batch_dims + k), dd.size());
  const int64_t batches = product(id, 0, static_cast<size_t>(batch_dims));
  const int64_t per_batch = product(id, static_cast<size_t>(batch_dims), id.size() - 1);
  const int64_t batch_stride = product(dd, static_cast<size_t>(batch_dims), dd.size());
  const std::vector<int64_t> idx = read_int_list(ctx, indices);
  std::vector<int64_t> offsets(static_cast<size_t>(batches * per_batch));
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t t = 0; t < per_batch; ++t) {
      const int64_t tuple = b * per_batch + t;
      int64_t off = b * batch_stride;
      for (int64_t j = 0; j < k; ++j)
        off += checked_index(ctx, idx[tuple * k + j], dd[batch_dims + j]) * strides[batch_dims + j];
      offsets[tuple] = off;
    }
  return offsets;
}

// GatherND (opset 11; batch_dims from 12): out shape indices[:-1] + data[batch_dims + k:].
void gather_nd(KernelContext& ctx) {
  const Tensor& data = ctx.required_input(0);
  const Tensor& indices = ctx.required_input(1);
  const int64_t batch_dims = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  int64_t slice = 0;
  const auto offsets = nd_offsets(ctx, data, indices, batch_dims, &slice);
  std::vector<int64_t> out_dims(indices.dims().begin(), indices.dims().end() - 1);
  out_dims.insert(out_dims.end(), data.dims().begin() + batch_dims + indices.dims().back(), data.dims().end());
  Tensor out = Tensor::allocate(data.dtype(), out_dims);
  dispatch_move(ctx, data.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(data);
    T* dst = mutable_data_of<T>(out);
    for (size_t t = 0; t < offsets.size(); ++t)
      std::copy(src + offsets[t], src + offsets[t] + slice, dst + static_cast<int64_t>(t) * slice);
  });
  ctx.set_output(0, std::move(out));
}

// The `reduction` attribute of ScatterElements / ScatterND: add/mul from opset 16, max/min 18.
enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction read_reduction(const KernelContext& ctx) {
  if (ctx.opset() < 16) return Reduction::kNone;
  const std::string r = ctx.attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (ctx.opset() >= 18 && r == "max") return Reduction::kMax;
  if (ctx.opset() >= 18 && r == "min") return Reduction::kMin;
  ctx.unsupported("reduction '" + r + "'");
}

// out = copy of data; then for update u at flat offsets[i] * ... apply the reduction.
// `slice` consecutive elements of updates go to each offset.
void apply_updates(KernelContext& ctx, const Tensor& data, const Tensor& updates,
                   const std::vector<int64_t>& offsets, int64_t slice, Reduction reduction) {
  if (updates.dtype() != data.dtype()) ctx.fail("updates must have data's dtype");
  Tensor out = Tensor::allocate(data.dtype(), data.dims());
  if (reduction == Reduction::kNone) {
    dispatch_move(ctx, data.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = data_of<T>(data);
      const T* upd = data_of<T>(updates);
      T* dst = mutable_data_of<T>(out);
      std::copy(src, src + data.element_count(), dst);
      for (size_t i = 0; i < offsets.size(); ++i)
        std::copy(upd + i * slice, upd + (i + 1) * slice, dst + offsets[i]);
    });
  } else {
    if (data.dtype() == DType::kBool) ctx.unsupported("scatter reductions on bool");
    dispatch_dtype(ctx, data.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto src = data.values<T>();
      const T* upd = updates.values<T>().data();
      T* dst = out.template mutable_values<T>();
      std::copy(src.begin(), src.end(), dst);
      for (size_t i = 0; i < offsets.size(); ++i)
        for (int64_t j = 0; j < slice; ++j) {
          T& o = dst[offsets[i] + j];
          const T u = upd[i * slice + j];
          switch (reduction) {
            case Reduction::kAdd: o = static_cast<T>(o + u); break;
            case Reduction::kMul: o = static_cast<T>(o * u); break;
            case Reduction::kMax: o = (u > o) ? u : o; break;
            case Reduction::kMin: o = (u < o) ? u : o; break;
            case Reduction::kNone: break;
          }
        }
    });
  }
  ctx.set_output(0, std::move(out));
}

// ScatterElements (opset 11; Scatter 9-10): out[c with c[axis] = indices[c]] = updates[c].
void scatter_elements(KernelContext& ctx) {
  const Tensor& data = ctx.required_input(0);
  const Tensor& indices = ctx.required_input(1);
  const Tensor& updates = ctx.required_input(2);
  const int64_t rank = static_cast<int64_t>(data.dims().size());
  if (rank == 0) ctx.fail("data must have rank >= 1");
  if (updates.dims() != indices.dims()) ctx.fail("updates must have the shape of indices");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  const Reduction reduction = ctx.node().op_type() == "Scatter" ? Reduction::kNone : read_reduction(ctx);
  apply_updates(ctx, data, updates, element_offsets(ctx, data, indices, axis), 1, reduction);
}

// ScatterND (opset 11; reduction from 16): updates has shape indices[:-1] + data[k:].
void scatter_nd(KernelContext& ctx) {
  const Tensor& data = ctx.required_input(0);
  const Tensor& indices = ctx.required_input(1);
  const Tensor& updates = ctx.required_input(2);
  int64_t slice = 0;
  const auto offsets = nd_offsets(ctx, data, indices, 0, &slice);
  std::vector<int64_t> want(indices.dims().begin(), indices.dims().end() - 1);
  want.insert(want.end(), data.dims().begin() + indices.dims().back(), data.dims().end());
  if (updates.dims() != want) ctx.fail("updates shape does not match indices[:-1] + data[k:]");
  apply_updates(ctx, data, updates, offsets, slice, read_reduction(ctx));
}

}  // namespace

void register_gather_scatter_kernels(KernelRegistry& r) {
  r.add("", "Gather", gather);
  r.add("", "GatherElements", gather_elements, 11);
  r.add("", "GatherND", gather_nd, 11);
  r.add("", "Scatter", scatter_elements, 9);  // deprecated at 11; same semantics
  r.add("", "ScatterElements", scatter_elements, 11);
  r.add("", "ScatterND", scatter_nd, 11);
}

}  // namespace edgeq
