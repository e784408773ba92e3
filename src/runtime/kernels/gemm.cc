// gemm.cc: matrix products. MatMul (numpy.matmul semantics), Gemm, MatMulInteger and Einsum.
//
// Every product goes through batched_gemm(), which runs Eigen's single-threaded GEMM on tiles of
// the output. Tiles are fixed row blocks (and, when there are few of them, column blocks) chosen
// from the shape alone, and each output element is computed inside exactly one tile, so the
// result is identical for every thread count.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

using Eigen::Dynamic;
using Eigen::RowMajor;

constexpr int64_t kRowBlock = 64;

// ---- the shared batched GEMM ----

// One matrix product of a batch: where its A, B and C matrices start (in elements).
struct GemmItem {
  int64_t a = 0, b = 0, c = 0;
};

template <class T, class Out, class Lhs, class Rhs>
void gemm_apply(Out&& out, const Lhs& lhs, const Rhs& rhs, T alpha, bool accumulate) {
  if (accumulate) out.noalias() += alpha * (lhs * rhs);
  else out.noalias() = alpha * (lhs * rhs);
}

// C[r0:r0+rows, c0:c0+cols] (+)= alpha * op(A) op(B) for one batch item.
template <class T, bool TA, bool TB>
void gemm_tile(const T* A, const T* B, T* C, int64_t M, int64_t N, int64_t K, int64_t r0,
               int64_t rows, int64_t c0, int64_t cols, T alpha, bool accumulate) {
  using RM = Eigen::Matrix<T, Dynamic, Dynamic, RowMajor>;
  Eigen::Map<RM> c(C, M, N);
  auto out = c.block(r0, c0, rows, cols);
  if (K == 0) {  // an empty sum: alpha * 0
    if (!accumulate) out.setZero();
    return;
  }
  Eigen::Map<const RM> a(A, TA ? K : M, TA ? M : K);
  Eigen::Map<const RM> b(B, TB ? N : K, TB ? K : N);
  if constexpr (TA && TB)
    gemm_apply(out, a.transpose().middleRows(r0, rows), b.transpose().middleCols(c0, cols), alpha, accumulate);
  else if constexpr (TA)
    gemm_apply(out, a.transpose().middleRows(r0, rows), b.middleCols(c0, cols), alpha, accumulate);
  else if constexpr (TB)
    gemm_apply(out, a.middleRows(r0, rows), b.transpose().middleCols(c0, cols), alpha, accumulate);
  else
    gemm_apply(out, a.middleRows(r0, rows), b.middleCols(c0, cols), alpha, accumulate);
}

// For every item: C_i (+)= alpha * op(A_i) op(B_i), with op(A) M x K and op(B) K x N, all
// row-major. `A`/`B` store the untransposed matrices (K x M when transA).
template <class T>
void batched_gemm(ThreadPool& pool, const T* A, bool transA, const T* B, bool transB, T* C,
                  int64_t M, int64_t N, int64_t K, const std::vector<GemmItem>& items, T alpha,
                  bool accumulate) {
  if (M == 0 || N == 0 || items.empty()) return;
  const int64_t batch = static_cast<int64_t>(items.size());
  const int64_t row_blocks = (M + kRowBlock - 1) / kRowBlock;
  // Few row tiles (a matrix-vector product, a short sequence): split the columns too, so wide
  // products still use every core. Depends on the shape only.
  int64_t col_block = N;
  if (batch * row_blocks < 4 && N > 512) {
    col_block = (N + 7) / 8;
    col_block = std::max<int64_t>(256, (col_block + 63) / 64 * 64);
  }
  const int64_t col_blocks = (N + col_block - 1) / col_block;
  const int64_t tiles = batch * row_blocks * col_blocks;
  // Group small tiles so a chunk carries enough work to be worth a thread hand-off; grouping
  // never changes what a tile computes.
  const int64_t tile_work = std::min(M, kRowBlock) * std::min(N, col_block) * std::max<int64_t>(K, 1);
  pool.for_each_item(tiles, tile_work, int64_t{1} << 18, [&](int64_t t) {
    const int64_t item = t / (row_blocks * col_blocks);
    const int64_t rb = (t / col_blocks) % row_blocks;
    const int64_t cb = t % col_blocks;
    const int64_t r0 = rb * kRowBlock, rows = std::min(kRowBlock, M - r0);
    const int64_t c0 = cb * col_block, cols = std::min(col_block, N - c0);
    const GemmItem& it = items[item];
    const T* a = A + it.a;
    const T* b = B + it.b;
    T* c = C + it.c;
    if (transA && transB) gemm_tile<T, true, true>(a, b, c, M, N, K, r0, rows, c0, cols, alpha, accumulate);
    else if (transA) gemm_tile<T, true, false>(a, b, c, M, N, K, r0, rows, c0, cols, alpha, accumulate);
    else if (transB) gemm_tile<T, false, true>(a, b, c, M, N, K, r0, rows, c0, cols, alpha, accumulate);
    else gemm_tile<T, false, false>(a, b, c, M, N, K, r0, rows, c0, cols, alpha, accumulate);
  });
}

template <class T>
constexpr bool is_low_float_v = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;

// float16/bfloat16 are computed in float: converted in, converted back out.
template <class T>
std::vector<float> to_float_vector(std::span<const T> v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

// ---- MatMul ----

// The shapes of a numpy.matmul: 1-D operands promoted, batch dims broadcast.
struct MatMulShape {
  int64_t M = 0, N = 0, K = 0;
  std::vector<int64_t> out_dims;
  std::vector<GemmItem> items;  // offsets in elements
  // Matrix index (in units of M*K resp. K*N) for every batch item; used by MatMulInteger to
  // locate per-batch zero points.
  std::vector<int64_t> a_index, b_index;
};

MatMulShape matmul_shape(const KernelContext& ctx, const std::vector<int64_t>& a_dims,
                         const std::vector<int64_t>& b_dims) {
  if (a_dims.empty() || b_dims.empty()) ctx.fail("MatMul inputs must have rank >= 1");
  std::vector<int64_t> a = a_dims, b = b_dims;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);  // [K] -> [1, K]
  if (b_vec) b.push_back(1);          // [K] -> [K, 1]
  MatMulShape s;
  s.M = a[a.size() - 2];
  s.K = a[a.size() - 1];
  s.N = b[b.size() - 1];
  if (b[b.size() - 2] != s.K)
    ctx.fail("MatMul inner dimensions differ: A has K=" + std::to_string(s.K) + ", B has K=" +
             std::to_string(b[b.size() - 2]));
  std::vector<int64_t> a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  auto batch = broadcast_shapes({a_batch, b_batch});
  if (!batch) ctx.fail("MatMul batch dimensions do not broadcast");
  s.out_dims = *batch;
  if (!a_vec) s.out_dims.push_back(s.M);
  if (!b_vec) s.out_dims.push_back(s.N);

  const int64_t count = shape_size(*batch);
  auto as = broadcast_strides(a_batch, *batch), bs = broadcast_strides(b_batch, *batch);
  std::vector<int64_t> idx(batch->size(), 0);
  s.items.resize(count);
  s.a_index.resize(count);
  s.b_index.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    int64_t ai = 0, bi = 0;
    for (size_t d = 0; d < idx.size(); ++d) {
      ai += idx[d] * as[d];
      bi += idx[d] * bs[d];
    }
    s.a_index[i] = ai;
    s.b_index[i] = bi;
    s.items[i] = {ai * s.M * s.K, bi * s.K * s.N, i * s.M * s.N};
    for (size_t d = idx.size(); d-- > 0;) {  // odometer over the batch dims
      if (++idx[d] < (*batch)[d]) break;
      idx[d] = 0;
    }
  }
  // A stack of matrices times one shared matrix: one tall product instead of many small ones.
  if (count > 1 && shape_size(b_batch) == 1 && shape_size(a_batch) == count) {
    s.M *= count;
    s.items = {GemmItem{0, 0, 0}};
  }
  return s;
}

template <class T>
void matmul_typed(KernelContext& ctx, const Tensor& a, const Tensor& b) {
  MatMulShape s = matmul_shape(ctx, a.dims(), b.dims());
  Tensor y = Tensor::allocate(a.dtype(), s.out_dims);
  if constexpr (is_low_float_v<T>) {
    auto af = to_float_vector(a.values<T>()), bf = to_float_vector(b.values<T>());
    std::vector<float> yf(y.element_count());
    batched_gemm<float>(ctx.pool(), af.data(), false, bf.data(), false, yf.data(), s.M, s.N, s.K,
                        s.items, 1.0f, false);
    T* out = y.template mutable_values<T>();
    for (size_t i = 0; i < yf.size(); ++i) out[i] = static_cast<T>(yf[i]);
  } else {
    batched_gemm<T>(ctx.pool(), a.values<T>().data(), false, b.values<T>().data(), false,
                    y.template mutable_values<T>(), s.M, s.N, s.K, s.items, T(1), false);
  }
  ctx.set_output(0, std::move(y));
}

// Calls f(T{}) for the element types the float/int products support.
template <class F>
void dispatch_gemm_dtype(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat: f(float{}); break;
    case DType::kDouble: f(double{}); break;
    case DType::kFloat16: f(Eigen::half{}); break;
    case DType::kBfloat16: f(Eigen::bfloat16{}); break;
    case DType::kInt32: f(int32_t{}); break;
    case DType::kInt64: f(int64_t{}); break;
    case DType::kUint32: f(uint32_t{}); break;
    case DType::kUint64: f(uint64_t{}); break;
    default:
      ctx.unsupported("dtype " + std::string(dtype_name(dtype)) + " is not supported by this kernel");
  }
}

void matmul(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  if (a.dtype() != b.dtype()) ctx.fail("MatMul inputs have different dtypes");
  dispatch_gemm_dtype(ctx, a.dtype(), [&](auto tag) { matmul_typed<decltype(tag)>(ctx, a, b); });
}

// ---- Gemm ----

// Y = alpha * op(A) op(B) + beta * C, with C unidirectionally broadcast to [M, N].
template <class T>
void gemm_typed(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c) {
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  const float alpha = ctx.attr_float("alpha", 1.0f), beta = ctx.attr_float("beta", 1.0f);
  if (a.dims().size() != 2 || b.dims().size() != 2) ctx.fail("Gemm inputs A and B must be 2-D");
  const int64_t M = ta ? a.dims()[1] : a.dims()[0], K = ta ? a.dims()[0] : a.dims()[1];
  const int64_t K2 = tb ? b.dims()[1] : b.dims()[0], N = tb ? b.dims()[0] : b.dims()[1];
  if (K != K2) ctx.fail("Gemm inner dimensions differ: " + std::to_string(K) + " vs " + std::to_string(K2));
  const std::vector<int64_t> out_dims{M, N};
  std::vector<int64_t> c_strides;
  if (c) {
    const auto& cd = c->dims();
    bool ok = cd.size() <= 2;
    for (size_t i = 0; ok && i < cd.size(); ++i)
      ok = cd[i] == 1 || cd[i] == out_dims[2 - cd.size() + i];
    if (!ok) ctx.fail("Gemm input C cannot be broadcast to [" + std::to_string(M) + ", " + std::to_string(N) + "]");
    c_strides = broadcast_strides(cd, out_dims);
  }
  Tensor y = Tensor::allocate(a.dtype(), out_dims);
  // Compute type: float for float16/bfloat16, the element type otherwise.
  using CT = std::conditional_t<is_low_float_v<T>, float, T>;
  std::vector<CT> buffer;
  CT* out;
  if constexpr (is_low_float_v<T>) {
    buffer.resize(M * N);
    out = buffer.data();
  } else {
    out = y.template mutable_values<T>();
  }
  if (c) {
    auto cv = c->values<T>();
    const CT cbeta = static_cast<CT>(beta);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        out[i * N + j] = cbeta * static_cast<CT>(cv[i * c_strides[0] + j * c_strides[1]]);
  }
  const std::vector<GemmItem> items{GemmItem{}};
  if constexpr (is_low_float_v<T>) {
    auto af = to_float_vector(a.values<T>()), bf = to_float_vector(b.values<T>());
    batched_gemm<float>(ctx.pool(), af.data(), ta, bf.data(), tb, out, M, N, K, items, alpha, c != nullptr);
    T* yv = y.template mutable_values<T>();
    for (int64_t i = 0; i < M * N; ++i) yv[i] = static_cast<T>(out[i]);
  } else {
    batched_gemm<T>(ctx.pool(), a.values<T>().data(), ta, b.values<T>().data(), tb, out, M, N, K,
                    items, static_cast<T>(alpha), c != nullptr);
  }
  ctx.set_output(0, std::move(y));
}

void gemm(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  const Tensor* c = ctx.input(2);
  if (a.dtype() != b.dtype() || (c && c->dtype() != a.dtype())) ctx.fail("Gemm inputs have different dtypes");
  dispatch_gemm_dtype(ctx, a.dtype(), [&](auto tag) { gemm_typed<decltype(tag)>(ctx, a, b, c); });
}

// ---- MatMulInteger ----

// Reads an int8/uint8 tensor as int32 values.
std::vector<int32_t> widen_int8(const KernelContext& ctx, const Tensor& t, const char* what) {
  std::vector<int32_t> out(t.element_count());
  if (t.dtype() == DType::kUint8) {
    auto v = t.values<uint8_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  } else if (t.dtype() == DType::kInt8) {
    auto v = t.values<int8_t>();
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  } else {
    ctx.unsupported(std::string("MatMulInteger ") + what + " must be int8 or uint8, got " +
                    std::string(dtype_name(t.dtype())));
  }
  return out;
}

// Subtracts a zero point from `x` (shape `dims`, the operand after 1-D promotion). The zero point
// is a scalar, a 1-D vector along `vector_axis` (rows of A: -2, columns of B: -1), or an N-D
// tensor broadcastable to the operand ([..., M, 1] for A, [..., 1, N] for B).
void subtract_zero_point(const KernelContext& ctx, std::vector<int32_t>& x, const std::vector<int64_t>& dims,
                         const Tensor& zp_t, int vector_axis, const char* what) {
  std::vector<int32_t> zp = widen_int8(ctx, zp_t, what);
  if (zp.empty()) ctx.fail(std::string("MatMulInteger ") + what + " is empty");
  std::vector<int64_t> zdims = zp_t.dims();
  if (zp.size() == 1) {
    for (auto& v : x) v -= zp[0];
    return;
  }
  if (zdims.size() == 1) {
    // An M-vector for A acts like [M, 1]; an N-vector for B like [N].
    if (vector_axis == -2) zdims.push_back(1);
  }
  bool ok = zdims.size() <= dims.size();
  for (size_t i = 0; ok && i < zdims.size(); ++i) {
    int64_t d = dims[dims.size() - zdims.size() + i];
    ok = zdims[i] == 1 || zdims[i] == d;
  }
  if (!ok) ctx.fail(std::string("MatMulInteger ") + what + " shape does not match its operand");
  auto strides = broadcast_strides(zdims, dims);
  std::vector<int64_t> idx(dims.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < dims.size(); ++d) off += idx[d] * strides[d];
    x[i] -= zp[off];
    for (size_t d = dims.size(); d-- > 0;) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
}

void matmul_integer(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  std::vector<int32_t> av = widen_int8(ctx, a, "input A"), bv = widen_int8(ctx, b, "input B");
  MatMulShape s = matmul_shape(ctx, a.dims(), b.dims());
  std::vector<int64_t> ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  if (const Tensor* za = ctx.input(2)) subtract_zero_point(ctx, av, ad, *za, -2, "a_zero_point");
  if (const Tensor* zb = ctx.input(3)) subtract_zero_point(ctx, bv, bd, *zb, -1, "b_zero_point");
  Tensor y = Tensor::allocate(DType::kInt32, s.out_dims);
  // Products of 8-bit values fit in int32; the sum wraps in 32 bits as the spec allows.
  batched_gemm<int32_t>(ctx.pool(), av.data(), false, bv.data(), false, y.mutable_values<int32_t>(),
                        s.M, s.N, s.K, s.items, 1, false);
  ctx.set_output(0, std::move(y));
}

// ---- Einsum ----
//
// Plan: parse the equation into labels (letters by their character code, ellipsis dims as
// 128 + position). Each operand is first reduced to a contiguous tensor with unique labels:
// repeated labels become a diagonal (their strides add up), and labels used nowhere else are
// summed away. Operands are then contracted left to right; each contraction permutes both sides
// to [batch, free, contracted] / [batch, contracted, free] and runs a batched GEMM. Finally the
// result is permuted to the output's label order.

constexpr int kEllipsisLabel = 128;

// A contiguous row-major tensor whose axes are named by labels.
template <class C>
struct Labeled {
  std::vector<int> labels;
  std::vector<int64_t> dims;
  std::vector<C> data;
};

// dst[keep index] = sum over the drop axes of src[offset]; `src` is addressed through arbitrary
// strides (0 for broadcast, summed for diagonals). dst is row-major over the keep axes.
template <class C, class S>
void strided_sum(const S* src, const std::vector<int64_t>& kd, const std::vector<int64_t>& ks,
                 const std::vector<int64_t>& dd, const std::vector<int64_t>& ds, C* dst) {
  const int64_t outer = shape_size(kd), inner = shape_size(dd);
  std::vector<int64_t> ki(kd.size(), 0), di(dd.size(), 0);
  int64_t base = 0;
  for (int64_t o = 0; o < outer; ++o) {
    C acc = C(0);
    int64_t off = 0;
    std::fill(di.begin(), di.end(), 0);
    for (int64_t r = 0; r < inner; ++r) {
      acc += static_cast<C>(src[base + off]);
      for (size_t d = dd.size(); d-- > 0;) {
        off += ds[d];
        if (++di[d] < dd[d]) break;
        off -= di[d] * ds[d];
        di[d] = 0;
      }
    }
    dst[o] = acc;
    for (size_t d = kd.size(); d-- > 0;) {
      base += ks[d];
      if (++ki[d] < kd[d]) break;
      base -= ki[d] * ks[d];
      ki[d] = 0;
    }
  }
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Returns `t` with axes reordered to `order` (a subset of its labels); other labels are summed.
template <class C>
Labeled<C> reorder_sum(const Labeled<C>& t, const std::vector<int>& order) {
  std::vector<int64_t> strides(t.dims.size());
  int64_t s = 1;
  for (size_t i = t.dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= t.dims[i];
  }
  Labeled<C> out;
  std::vector<int64_t> ks, dd, ds;
  for (int l : order) {
    size_t i = std::find(t.labels.begin(), t.labels.end(), l) - t.labels.begin();
    out.labels.push_back(l);
    out.dims.push_back(t.dims[i]);
    ks.push_back(strides[i]);
  }
  for (size_t i = 0; i < t.labels.size(); ++i) {
    if (contains(order, t.labels[i])) continue;
    dd.push_back(t.dims[i]);
    ds.push_back(strides[i]);
  }
  // Already in order with nothing to sum: a plain copy.
  if (dd.empty() && out.labels == t.labels) {
    out.data = t.data;
    return out;
  }
  out.data.resize(shape_size(out.dims));
  strided_sum(t.data.data(), out.dims, ks, dd, ds, out.data.data());
  return out;
}

template <class C>
Labeled<C> contract(ThreadPool& pool, const Labeled<C>& a, const Labeled<C>& b, const std::vector<int>& keep) {
  std::vector<int> batch, contracted, a_free, b_free;
  for (int l : a.labels) {
    if (contains(b.labels, l)) (contains(keep, l) ? batch : contracted).push_back(l);
    else if (contains(keep, l)) a_free.push_back(l);
  }
  for (int l : b.labels)
    if (!contains(a.labels, l) && contains(keep, l)) b_free.push_back(l);
  auto concat = [](std::vector<int> x, const std::vector<int>& y, const std::vector<int>& z) {
    x.insert(x.end(), y.begin(), y.end());
    x.insert(x.end(), z.begin(), z.end());
    return x;
  };
  Labeled<C> ap = reorder_sum(a, concat(batch, a_free, contracted));
  Labeled<C> bp = reorder_sum(b, concat(batch, contracted, b_free));
  auto size_of = [](const Labeled<C>& t, size_t from, size_t count) {
    int64_t n = 1;
    for (size_t i = from; i < from + count; ++i) n *= t.dims[i];
    return n;
  };
  const int64_t nb = size_of(ap, 0, batch.size());
  const int64_t M = size_of(ap, batch.size(), a_free.size());
  const int64_t K = size_of(ap, batch.size() + a_free.size(), contracted.size());
  const int64_t N = size_of(bp, batch.size() + contracted.size(), b_free.size());
  Labeled<C> out;
  out.labels = concat(batch, a_free, b_free);
  for (int l : out.labels) {
    auto it = std::find(ap.labels.begin(), ap.labels.end(), l);
    out.dims.push_back(it != ap.labels.end() ? ap.dims[it - ap.labels.begin()]
                                             : bp.dims[std::find(bp.labels.begin(), bp.labels.end(), l) - bp.labels.begin()]);
  }
  out.data.assign(shape_size(out.dims), C(0));
  std::vector<GemmItem> items(nb);
  for (int64_t i = 0; i < nb; ++i) items[i] = {i * M * K, i * K * N, i * M * N};
  batched_gemm<C>(pool, ap.data.data(), false, bp.data.data(), false, out.data.data(), M, N, K, items, C(1), false);
  return out;
}

struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;  // one label per operand axis
  std::vector<int> output;                       // output labels in order
  std::array<int64_t, kEllipsisLabel + 64> size{};  // size of every label
};

EinsumPlan parse_einsum(const KernelContext& ctx, const std::string& equation,
                        const std::vector<const Tensor*>& inputs) {
  std::string eq;
  for (char ch : equation)
    if (ch != ' ') eq += ch;
  std::string lhs = eq, rhs;
  const size_t arrow = eq.find("->");
  const bool explicit_out = arrow != std::string::npos;
  if (explicit_out) {
    lhs = eq.substr(0, arrow);
    rhs = eq.substr(arrow + 2);
  }
  // Splits a term into letters (char codes) with -1 marking the ellipsis.
  auto parse_term = [&](const std::string& term) {
    std::vector<int> out;
    bool seen_ellipsis = false;
    for (size_t i = 0; i < term.size(); ++i) {
      char ch = term[i];
      if (ch == '.') {
        if (term.compare(i, 3, "...") != 0 || seen_ellipsis) ctx.fail("malformed Einsum equation '" + equation + "'");
        seen_ellipsis = true;
        out.push_back(-1);
        i += 2;
      } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
        out.push_back(static_cast<int>(ch));
      } else {
        ctx.fail("Einsum equation '" + equation + "' has an invalid character");
      }
    }
    return out;
  };
  std::vector<std::vector<int>> terms;
  size_t start = 0;
  for (;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != inputs.size())
    ctx.fail("Einsum equation has " + std::to_string(terms.size()) + " operands but the node has " +
             std::to_string(inputs.size()) + " inputs");

  EinsumPlan plan;
  // The ellipsis covers the axes not named by letters; operands' ellipses broadcast right-aligned.
  int64_t ell_rank = 0;
  std::vector<int64_t> ell_of(terms.size(), 0);
  for (size_t i = 0; i < terms.size(); ++i) {
    const int64_t rank = static_cast<int64_t>(inputs[i]->dims().size());
    const int64_t letters = std::count_if(terms[i].begin(), terms[i].end(), [](int l) { return l >= 0; });
    const bool has_ell = letters != static_cast<int64_t>(terms[i].size());
    if (rank < letters || (!has_ell && rank != letters))
      ctx.fail("Einsum term " + std::to_string(i) + " does not match the rank of input " + std::to_string(i));
    ell_of[i] = rank - letters;
    ell_rank = std::max(ell_rank, ell_of[i]);
  }
  if (ell_rank > 64) ctx.unsupported("Einsum ellipsis of more than 64 dims");
  std::array<int, kEllipsisLabel + 64> count{};
  plan.size.fill(-1);
  for (size_t i = 0; i < terms.size(); ++i) {
    std::vector<int> labels;
    for (int l : terms[i]) {
      if (l >= 0) {
        labels.push_back(l);
        continue;
      }
      for (int64_t t = 0; t < ell_of[i]; ++t) labels.push_back(kEllipsisLabel + static_cast<int>(ell_rank - ell_of[i] + t));
    }
    const auto& dims = inputs[i]->dims();
    for (size_t ax = 0; ax < labels.size(); ++ax) {
      const int l = labels[ax];
      ++count[l];
      int64_t& sz = plan.size[l];
      if (l >= kEllipsisLabel) {  // ellipsis dims broadcast numpy-style
        if (sz == -1 || sz == 1) sz = dims[ax];
        else if (dims[ax] != 1 && dims[ax] != sz) ctx.fail("Einsum ellipsis dimensions do not broadcast");
      } else {
        if (sz == -1) sz = dims[ax];
        else if (sz != dims[ax])
          ctx.fail(std::string("Einsum label '") + static_cast<char>(l) + "' has inconsistent sizes");
      }
    }
    plan.operand_labels.push_back(std::move(labels));
  }
  if (explicit_out) {
    for (int l : parse_term(rhs)) {
      if (l < 0) {
        for (int64_t t = 0; t < ell_rank; ++t) plan.output.push_back(kEllipsisLabel + static_cast<int>(t));
        continue;
      }
      if (count[l] == 0) ctx.fail(std::string("Einsum output label '") + static_cast<char>(l) + "' is not in any input");
      if (contains(plan.output, l)) ctx.fail("Einsum output repeats a label");
      plan.output.push_back(l);
    }
  } else {
    // Implicit output: the ellipsis dims, then letters used exactly once, in alphabetical order.
    for (int64_t t = 0; t < ell_rank; ++t) plan.output.push_back(kEllipsisLabel + static_cast<int>(t));
    for (int l = 0; l < kEllipsisLabel; ++l)
      if (count[l] == 1) plan.output.push_back(l);
  }
  return plan;
}

template <class T>
void einsum_typed(KernelContext& ctx, const std::vector<const Tensor*>& inputs, const EinsumPlan& plan) {
  // Compute type: float for float16/bfloat16/float, 64-bit for integers.
  using C = std::conditional_t<std::is_floating_point_v<T>, T,
                               std::conditional_t<is_low_float_v<T>, float,
                                                  std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>>;
  const size_t n = inputs.size();
  std::vector<Labeled<C>> ops(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& labels = plan.operand_labels[i];
    const auto& dims = inputs[i]->dims();
    std::vector<int64_t> strides(dims.size());
    int64_t s = 1;
    for (size_t ax = dims.size(); ax-- > 0;) {
      strides[ax] = s;
      s *= dims[ax];
    }
    // Unique labels in first-appearance order; repeated labels sum their strides (a diagonal);
    // a broadcast ellipsis axis of size 1 gets stride 0.
    std::vector<int> uniq;
    std::vector<int64_t> ustride;
    for (size_t ax = 0; ax < labels.size(); ++ax) {
      const int64_t st = dims[ax] == 1 && plan.size[labels[ax]] != 1 ? 0 : strides[ax];
      auto it = std::find(uniq.begin(), uniq.end(), labels[ax]);
      if (it == uniq.end()) {
        uniq.push_back(labels[ax]);
        ustride.push_back(st);
      } else {
        ustride[it - uniq.begin()] += st;
      }
    }
    // A label is needed when the output or another operand uses it; the rest are summed here.
    std::vector<int64_t> kd, ks, dd, ds;
    for (size_t u = 0; u < uniq.size(); ++u) {
      bool needed = contains(plan.output, uniq[u]);
      for (size_t j = 0; j < n && !needed; ++j) needed = j != i && contains(plan.operand_labels[j], uniq[u]);
      const int64_t sz = plan.size[uniq[u]];
      if (needed) {
        ops[i].labels.push_back(uniq[u]);
        ops[i].dims.push_back(sz);
        kd.push_back(sz);
        ks.push_back(ustride[u]);
      } else {
        dd.push_back(sz);
        ds.push_back(ustride[u]);
      }
    }
    ops[i].data.resize(shape_size(kd));
    auto src = inputs[i]->values<T>();
    if constexpr (is_low_float_v<T>) {
      std::vector<float> f = to_float_vector(src);
      strided_sum(f.data(), kd, ks, dd, ds, ops[i].data.data());
    } else {
      strided_sum(src.data(), kd, ks, dd, ds, ops[i].data.data());
    }
  }
  Labeled<C> cur = std::move(ops[0]);
  for (size_t i = 1; i < n; ++i) {
    std::vector<int> keep = plan.output;
    for (size_t j = i + 1; j < n; ++j)
      for (int l : plan.operand_labels[j])
        if (!contains(keep, l)) keep.push_back(l);
    cur = contract(ctx.pool(), cur, ops[i], keep);
  }
  Labeled<C> res = reorder_sum(cur, plan.output);
  Tensor y = Tensor::allocate(inputs[0]->dtype(), res.dims);
  T* out = y.template mutable_values<T>();
  for (size_t i = 0; i < res.data.size(); ++i) out[i] = static_cast<T>(res.data[i]);
  ctx.set_output(0, std::move(y));
}

void einsum(KernelContext& ctx) {
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    inputs.push_back(&ctx.required_input(i));
    if (inputs.back()->dtype() != inputs[0]->dtype()) ctx.fail("Einsum inputs have different dtypes");
  }
  if (inputs.empty()) ctx.fail("Einsum needs at least one input");
  if (!ctx.has_attr("equation")) ctx.fail("Einsum has no equation attribute");
  EinsumPlan plan = parse_einsum(ctx, ctx.attr_string("equation", ""), inputs);
  const DType dt = inputs[0]->dtype();
  if (dt == DType::kBool) ctx.unsupported("Einsum on bool tensors");
  dispatch_dtype(ctx, dt, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) einsum_typed<T>(ctx, inputs, plan);
  });
}

}  // namespace

void register_gemm_kernels(KernelRegistry& r) {
  r.add("", "MatMul", matmul);
  r.add("", "Gemm", gemm);
  r.add("", "MatMulInteger", matmul_integer, 10);
  r.add("", "Einsum", einsum, 12);
}

}  // namespace edgeq
