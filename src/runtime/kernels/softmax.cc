// softmax.cc: Softmax, LogSoftmax and Hardmax.
//
// Before opset 13 these ops coerce the input to 2-D at `axis` (default 1): rows are the dims
// before axis, and one softmax runs over all the dims from axis on. From opset 13 they work
// along the single axis `axis` (default -1). Both views reduce to [outer, n, inner] with the
// softmax over n (inner == 1 for the old 2-D form).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

constexpr int64_t kChunkElements = 1 << 15;

// Softmax/LogSoftmax over contiguous rows of n (inner == 1, the common last-axis case), with
// Eigen's vectorized exp. The exps are written to an Eigen-allocated (hence aligned) scratch, so
// which elements take the packet path and which the scalar tail depends on n alone: results do
// not depend on where the data happens to sit in memory, nor on the thread count.
template <class T, Kind kKind>
void softmax_rows(KernelContext& ctx, const T* in, T* out, int64_t outer, int64_t n, Tensor y) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  using Arr = Eigen::Array<C, Eigen::Dynamic, 1>;
  const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / n);
  const int64_t chunks = (outer + per_chunk - 1) / per_chunk;
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    Arr e(n);
    for (int64_t o = c * per_chunk; o < std::min(outer, (c + 1) * per_chunk); ++o) {
      const T* xb = in + o * n;
      T* yb = out + o * n;
      C mx = static_cast<C>(xb[0]);
      for (int64_t k = 0; k < n; ++k) {
        e[k] = static_cast<C>(xb[k]);
        mx = e[k] > mx ? e[k] : mx;
      }
      // Subtract the max before exp so large inputs do not overflow.
      e = (e - mx).exp();
      // Eight fixed partial sums: vectorizable, and the order is fixed by the code.
      C part[8] = {};
      int64_t k = 0;
      for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; ++j) part[j] += e[k + j];
      for (; k < n; ++k) part[0] += e[k];
      const C sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      if constexpr (kKind == Kind::kSoftmax) {
        const C inv = C(1) / sum;
        for (int64_t i = 0; i < n; ++i) yb[i] = static_cast<T>(e[i] * inv);
      } else {
        // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds away the small
        // log term when |max| is large.
        const C ls = std::log(sum);
        for (int64_t i = 0; i < n; ++i) yb[i] = static_cast<T>((static_cast<C>(xb[i]) - mx) - ls);
      }
    }
  });
  ctx.set_output(0, std::move(y));
}

template <class T, Kind kKind>
void softmax_typed(KernelContext& ctx, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  // Math in float for float16/bfloat16/float, double for double.
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  Tensor y = Tensor::allocate(x.dtype(), x.dims());
  if (outer * n * inner == 0) return ctx.set_output(0, std::move(y));  // nothing to normalize
  const T* in = x.values<T>().data();
  T* out = y.template mutable_values<T>();
  const int64_t block = n * inner;
  const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, block));
  const int64_t chunks = (outer + per_chunk - 1) / per_chunk;
  if constexpr (kKind != Kind::kHardmax) {
    if (inner == 1) return softmax_rows<T, kKind>(ctx, in, out, outer, n, std::move(y));
  }
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    // Per-chunk scratch: the running max (and first max index) and the sum per inner position,
    // and exp(x - max) for the block being normalized.
    std::vector<C> mx(inner), sum(inner);
    // Eigen-allocated, so the vectorized exp's packet/scalar split depends on the size only.
    Eigen::Array<C, Eigen::Dynamic, 1> e(kKind == Kind::kHardmax ? 0 : block);
    std::vector<int64_t> arg(kKind == Kind::kHardmax ? inner : 0);
    for (int64_t o = c * per_chunk; o < std::min(outer, (c + 1) * per_chunk); ++o) {
      const T* xb = in + o * block;
      T* yb = out + o * block;
      // Subtract the max before exp so large inputs do not overflow.
      for (int64_t i = 0; i < inner; ++i) mx[i] = static_cast<C>(xb[i]);
      if constexpr (kKind == Kind::kHardmax) std::fill(arg.begin(), arg.end(), 0);
      for (int64_t k = 1; k < n; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          const C v = static_cast<C>(xb[k * inner + i]);
          if (v > mx[i]) {  // strict: the first of equal maxima wins (Hardmax spec)
            mx[i] = v;
            if constexpr (kKind == Kind::kHardmax) arg[i] = k;
          }
        }
      if constexpr (kKind == Kind::kHardmax) {
        std::fill(yb, yb + block, T(0));
        for (int64_t i = 0; i < inner; ++i) yb[arg[i] * inner + i] = T(1);
        continue;
      }
      for (int64_t k = 0; k < n; ++k)
        for (int64_t i = 0; i < inner; ++i) e[k * inner + i] = static_cast<C>(xb[k * inner + i]) - mx[i];
      e = e.exp();
      std::fill(sum.begin(), sum.end(), C(0));
      for (int64_t k = 0; k < n; ++k)
        for (int64_t i = 0; i < inner; ++i) sum[i] += e[k * inner + i];
      if constexpr (kKind == Kind::kSoftmax) {
        for (int64_t i = 0; i < inner; ++i) sum[i] = C(1) / sum[i];
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < inner; ++i) yb[k * inner + i] = static_cast<T>(e[k * inner + i] * sum[i]);
      } else {
        // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds away the small
        // log term when |max| is large.
        for (int64_t i = 0; i < inner; ++i) sum[i] = std::log(sum[i]);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < inner; ++i)
            yb[k * inner + i] = static_cast<T>((static_cast<C>(xb[k * inner + i]) - mx[i]) - sum[i]);
      }
    }
  });
  ctx.set_output(0, std::move(y));
}

template <Kind kKind>
void softmax_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto& dims = x.dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (rank == 0) ctx.fail("input must have rank >= 1");
  const bool coerce_2d = ctx.opset() < 13;
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", coerce_2d ? 1 : -1), rank);
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) {
    if (i < axis) outer *= dims[i];
    else if (i == axis || coerce_2d) n *= dims[i];
    else inner *= dims[i];
  }
  switch (x.dtype()) {
    case DType::kFloat: return softmax_typed<float, kKind>(ctx, x, outer, n, inner);
    case DType::kDouble: return softmax_typed<double, kKind>(ctx, x, outer, n, inner);
    case DType::kFloat16: return softmax_typed<Eigen::half, kKind>(ctx, x, outer, n, inner);
    case DType::kBfloat16: return softmax_typed<Eigen::bfloat16, kKind>(ctx, x, outer, n, inner);
    default:
      ctx.unsupported("dtype " + std::string(dtype_name(x.dtype())) + " is not supported by this kernel");
  }
}

}  // namespace

void register_softmax_kernels(KernelRegistry& r) {
  r.add("", "Softmax", softmax_kernel<Kind::kSoftmax>);
  r.add("", "LogSoftmax", softmax_kernel<Kind::kLogSoftmax>);
  r.add("", "Hardmax", softmax_kernel<Kind::kHardmax>);
}

}  // namespace edgeq
