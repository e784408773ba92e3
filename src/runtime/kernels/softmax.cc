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
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    // Per-chunk scratch: the running max (and first max index) and the sum per inner position,
    // and exp(x - max) for the block being normalized.
    std::vector<C> mx(inner), sum(inner), e(kKind == Kind::kSoftmax ? block : 0);
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
      std::fill(sum.begin(), sum.end(), C(0));
      for (int64_t k = 0; k < n; ++k)
        for (int64_t i = 0; i < inner; ++i) {
          const C ev = std::exp(static_cast<C>(xb[k * inner + i]) - mx[i]);
          if constexpr (kKind == Kind::kSoftmax) e[k * inner + i] = ev;
          sum[i] += ev;
        }
      if constexpr (kKind == Kind::kSoftmax) {
        for (int64_t i = 0; i < inner; ++i) sum[i] = C(1) / sum[i];
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < inner; ++i) yb[k * inner + i] = static_cast<T>(e[k * inner + i] * sum[i]);
      } else {
        for (int64_t i = 0; i < inner; ++i) sum[i] = mx[i] + std::log(sum[i]);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < inner; ++i)
            yb[k * inner + i] = static_cast<T>(static_cast<C>(xb[k * inner + i]) - sum[i]);
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
