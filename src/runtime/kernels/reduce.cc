// reduce.cc: reductions and order statistics. ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/
// LogSumExp/SumSquare, ArgMax/ArgMin, TopK, CumSum.
//
// Every output element is reduced by one thread in a fixed order (input order along the reduced
// axes), so chunking the outputs across threads never changes a result.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

// Aim for about this many input elements per parallel chunk.
constexpr int64_t kChunkElements = 1 << 15;

template <class T>
constexpr bool is_low_float_v = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;

template <class T>
constexpr bool is_float_like_v = std::is_floating_point_v<T> || is_low_float_v<T>;

// Accumulator for sums and products: double for floating types, 64-bit for integers (which wrap
// like the element type once cast back).
template <class T>
using Wide = std::conditional_t<is_float_like_v<T>, double,
                                std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

template <class T>
Wide<T> widen(T x) {
  if constexpr (is_low_float_v<T>) return static_cast<double>(static_cast<float>(x));
  else return static_cast<Wide<T>>(x);
}

// Compare type for max/min/arg*: float for float16/bfloat16, the element type otherwise.
template <class T>
using Cmp = std::conditional_t<is_low_float_v<T>, float, T>;

template <class T>
bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
  else return false;
}

// ---- the reduction engine ----

// The input with size-1 axes dropped and neighbouring axes of the same kind (reduced or kept)
// merged, so the loops below see as few, as long, runs as possible.
struct ReducePlan {
  std::vector<int64_t> out_dims;
  std::vector<int64_t> dims, strides;
  std::vector<bool> reduced;
  int64_t out_count = 0;
  int64_t reduce_count = 0;  // elements folded into each output
};

ReducePlan make_plan(const std::vector<int64_t>& in_dims, const std::vector<bool>& reduce, bool keepdims) {
  ReducePlan p;
  p.out_count = 1;
  p.reduce_count = 1;
  for (size_t i = 0; i < in_dims.size(); ++i) {
    if (reduce[i]) {
      p.reduce_count *= in_dims[i];
      if (keepdims) p.out_dims.push_back(1);
    } else {
      p.out_count *= in_dims[i];
      p.out_dims.push_back(in_dims[i]);
    }
  }
  for (size_t i = 0; i < in_dims.size(); ++i) {
    if (in_dims[i] == 1) continue;
    if (!p.dims.empty() && p.reduced.back() == reduce[i]) {
      p.dims.back() *= in_dims[i];
    } else {
      p.dims.push_back(in_dims[i]);
      p.reduced.push_back(reduce[i]);
    }
  }
  if (p.dims.empty()) {  // a single element
    p.dims.push_back(1);
    p.reduced.push_back(false);
  }
  p.strides.assign(p.dims.size(), 1);
  for (size_t i = p.dims.size() - 1; i-- > 0;) p.strides[i] = p.strides[i + 1] * p.dims[i + 1];
  return p;
}

// Steps through the offsets of a set of (dim, stride) axes in row-major order.
struct Odometer {
  std::vector<int64_t> dims, strides, idx;
  int64_t offset = 0;
  void reset() {
    std::fill(idx.begin(), idx.end(), 0);
    offset = 0;
  }
  void next() {
    for (size_t d = dims.size(); d-- > 0;) {
      offset += strides[d];
      if (++idx[d] < dims[d]) return;
      offset -= idx[d] * strides[d];
      idx[d] = 0;
    }
  }
};

// Op: Acc type, init(), step(acc, x), finish(acc, count) -> T.
template <class T, class Op>
void run_reduce(ThreadPool& pool, const ReducePlan& p, const T* x, T* y) {
  using Acc = typename Op::Acc;
  if (p.out_count == 0) return;
  if (p.reduce_count == 0) {  // an empty set: every output is the op's identity
    for (int64_t i = 0; i < p.out_count; ++i) y[i] = Op::finish(Op::init(), 0);
    return;
  }
  const size_t n = p.dims.size();
  const int64_t L = p.dims[n - 1];
  Odometer kept, red;  // outer kept axes / outer reduced axes (the innermost run is separate)
  for (size_t i = 0; i + 1 < n; ++i) {
    Odometer& o = p.reduced[i] ? red : kept;
    o.dims.push_back(p.dims[i]);
    o.strides.push_back(p.strides[i]);
  }
  const int64_t red_outer = p.reduced[n - 1] ? p.reduce_count / L : p.reduce_count;
  if (p.reduced[n - 1]) {
    // The innermost run is reduced: each output folds red_outer contiguous runs of L.
    const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / p.reduce_count);
    const int64_t chunks = (p.out_count + per_chunk - 1) / per_chunk;
    pool.parallel_for(chunks, [&](int64_t c) {
      Odometer ko = kept, ro = red;
      ko.idx.assign(ko.dims.size(), 0);
      ro.idx.assign(ro.dims.size(), 0);
      const int64_t begin = c * per_chunk, end = std::min(p.out_count, begin + per_chunk);
      // Position the kept odometer at output `begin`.
      int64_t rest = begin;
      for (size_t d = ko.dims.size(); d-- > 0;) {
        ko.idx[d] = rest % ko.dims[d];
        rest /= ko.dims[d];
        ko.offset += ko.idx[d] * ko.strides[d];
      }
      for (int64_t j = begin; j < end; ++j, ko.next()) {
        Acc acc = Op::init();
        ro.reset();
        for (int64_t r = 0; r < red_outer; ++r, ro.next()) {
          const T* row = x + ko.offset + ro.offset;
          for (int64_t i = 0; i < L; ++i) Op::step(acc, row[i]);
        }
        y[j] = Op::finish(acc, p.reduce_count);
      }
    });
  } else {
    // The innermost run is kept: fold whole rows of L elements into a row of accumulators.
    const int64_t rows = p.out_count / L;
    const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / (p.reduce_count * L));
    const int64_t chunks = (rows + per_chunk - 1) / per_chunk;
    pool.parallel_for(chunks, [&](int64_t c) {
      Odometer ko = kept, ro = red;
      ko.idx.assign(ko.dims.size(), 0);
      ro.idx.assign(ro.dims.size(), 0);
      std::unique_ptr<Acc[]> acc(new Acc[L]);  // not std::vector: Acc may be bool
      const int64_t begin = c * per_chunk, end = std::min(rows, begin + per_chunk);
      int64_t rest = begin;
      for (size_t d = ko.dims.size(); d-- > 0;) {
        ko.idx[d] = rest % ko.dims[d];
        rest /= ko.dims[d];
        ko.offset += ko.idx[d] * ko.strides[d];
      }
      for (int64_t j = begin; j < end; ++j, ko.next()) {
        std::fill(acc.get(), acc.get() + L, Op::init());
        ro.reset();
        for (int64_t r = 0; r < red_outer; ++r, ro.next()) {
          const T* row = x + ko.offset + ro.offset;
          for (int64_t i = 0; i < L; ++i) Op::step(acc[i], row[i]);
        }
        T* out = y + j * L;
        for (int64_t i = 0; i < L; ++i) out[i] = Op::finish(acc[i], p.reduce_count);
      }
    });
  }
}

// ---- the reduction ops (the empty-set values follow the opset-18 spec text) ----

template <class T>
struct SumOp {
  using Acc = Wide<T>;
  static Acc init() { return Acc(0); }
  static void step(Acc& a, T x) { a += widen(x); }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <class T>
struct SumSquareOp {
  using Acc = Wide<T>;
  static Acc init() { return Acc(0); }
  static void step(Acc& a, T x) { a += widen(x) * widen(x); }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <class T>
struct L1Op {
  using Acc = Wide<T>;
  static Acc init() { return Acc(0); }
  static void step(Acc& a, T x) {
    Acc v = widen(x);
    if constexpr (std::is_signed_v<Acc>) a += v < 0 ? -v : v;
    else a += v;
  }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <class T>
struct L2Op {
  using Acc = double;
  static Acc init() { return 0; }
  static void step(Acc& a, T x) {
    double v = static_cast<double>(widen(x));
    a += v * v;
  }
  static T finish(Acc a, int64_t) { return static_cast<T>(std::sqrt(a)); }
};

template <class T>
struct MeanOp {
  using Acc = Wide<T>;
  static Acc init() { return Acc(0); }
  static void step(Acc& a, T x) { a += widen(x); }
  static T finish(Acc a, int64_t n) {
    if constexpr (is_float_like_v<T>) return static_cast<T>(a / static_cast<double>(n));  // 0/0: NaN
    else return n == 0 ? T(0) : static_cast<T>(a / static_cast<Acc>(n));
  }
};

template <class T>
struct ProdOp {
  using Acc = Wide<T>;
  static Acc init() { return Acc(1); }
  static void step(Acc& a, T x) { a *= widen(x); }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <class T>
struct LogSumOp {
  using Acc = double;
  static Acc init() { return 0; }
  static void step(Acc& a, T x) { a += static_cast<double>(widen(x)); }
  static T finish(Acc a, int64_t) { return static_cast<T>(std::log(a)); }
};

// log(sum(exp(x))) kept stable in one pass: track the running max m and sum(exp(x - m)).
template <class T>
struct LogSumExpOp {
  struct Acc {
    double m = -std::numeric_limits<double>::infinity();
    double s = 0;
  };
  static Acc init() { return {}; }
  static void step(Acc& a, T x) {
    const double v = static_cast<double>(widen(x));
    if (v > a.m) {
      a.s = a.s * std::exp(a.m - v) + 1.0;
      a.m = v;
    } else {
      a.s += v == a.m ? 1.0 : std::exp(v - a.m);  // v == m also covers repeated +inf
    }
  }
  static T finish(const Acc& a, int64_t) {
    if (a.s == 0) return static_cast<T>(-std::numeric_limits<double>::infinity());
    return static_cast<T>(a.m + std::log(a.s));
  }
};

template <class T>
Cmp<T> lowest_value() {
  if constexpr (std::is_same_v<T, bool>) return false;
  else if constexpr (std::numeric_limits<Cmp<T>>::has_infinity) return -std::numeric_limits<Cmp<T>>::infinity();
  else return std::numeric_limits<T>::lowest();
}

template <class T>
Cmp<T> highest_value() {
  if constexpr (std::is_same_v<T, bool>) return true;
  else if constexpr (std::numeric_limits<Cmp<T>>::has_infinity) return std::numeric_limits<Cmp<T>>::infinity();
  else return std::numeric_limits<T>::max();
}

// Max/Min propagate NaN like numpy.
template <class T>
struct MaxOp {
  using Acc = Cmp<T>;
  static Acc init() { return lowest_value<T>(); }
  static void step(Acc& a, T x) {
    Acc v = static_cast<Acc>(x);
    if (v > a || is_nan(v)) a = is_nan(a) ? a : v;
  }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

template <class T>
struct MinOp {
  using Acc = Cmp<T>;
  static Acc init() { return highest_value<T>(); }
  static void step(Acc& a, T x) {
    Acc v = static_cast<Acc>(x);
    if (v < a || is_nan(v)) a = is_nan(a) ? a : v;
  }
  static T finish(Acc a, int64_t) { return static_cast<T>(a); }
};

// The axes to reduce: attribute before `input_since`, optional input 1 from then on. Returns
// nullopt for "no reduction at all" (empty axes with noop_with_empty_axes=1).
std::optional<std::vector<bool>> reduce_axes(const KernelContext& ctx, int64_t rank, int64_t input_since) {
  std::vector<int64_t> axes;
  if (ctx.opset() >= input_since) {
    if (const Tensor* t = ctx.input(1)) axes = read_int_list(ctx, *t);
  } else {
    axes = ctx.attr_ints("axes");
  }
  std::vector<bool> reduce(rank, axes.empty());
  if (axes.empty()) {
    if (ctx.attr_int("noop_with_empty_axes", 0) != 0) return std::nullopt;
    return reduce;
  }
  for (int64_t a : axes) {
    const int64_t ax = normalize_axis(ctx, a, rank);
    if (rank == 0) continue;  // a scalar: axis 0/-1 names the only (implicit) element
    if (reduce[ax]) ctx.fail("axis " + std::to_string(a) + " is repeated in axes");
    reduce[ax] = true;
  }
  return reduce;
}

template <template <class> class Op, bool kAllowBool, int kInputSince>
void reduce_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  auto reduce = reduce_axes(ctx, rank, kInputSince);
  if (!reduce) {  // noop_with_empty_axes: the input unchanged
    ctx.set_output(0, x);
    return;
  }
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  ReducePlan plan = make_plan(x.dims(), *reduce, keepdims);
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool> && !kAllowBool) {
      ctx.unsupported("this reduction does not take bool tensors");
    } else {
      Tensor y = Tensor::allocate(x.dtype(), plan.out_dims);
      run_reduce<T, Op<T>>(ctx.pool(), plan, x.values<T>().data(), y.template mutable_values<T>());
      ctx.set_output(0, std::move(y));
    }
  });
}

// ---- ArgMax / ArgMin ----

// Splits dims around `axis`: [outer, n, inner].
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit split_at(const std::vector<int64_t>& dims, int64_t axis) {
  AxisSplit s;
  for (int64_t i = 0; i < static_cast<int64_t>(dims.size()); ++i) {
    if (i < axis) s.outer *= dims[i];
    else if (i == axis) s.n = dims[i];
    else s.inner *= dims[i];
  }
  return s;
}

template <bool kMax>
void arg_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  const bool last = ctx.opset() >= 12 && ctx.attr_int("select_last_index", 0) != 0;
  const AxisSplit s = split_at(x.dims(), axis);
  if (rank > 0 && s.n == 0) ctx.fail("ArgMax/ArgMin over an empty axis");
  std::vector<int64_t> out_dims;
  for (int64_t i = 0; i < rank; ++i) {
    if (i != axis) out_dims.push_back(x.dims()[i]);
    else if (keepdims) out_dims.push_back(1);
  }
  Tensor y = Tensor::allocate(DType::kInt64, out_dims);
  int64_t* out = y.mutable_values<int64_t>();
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = Cmp<T>;
    const T* in = x.values<T>().data();
    // Does v replace the current best b? Ties go to the first index unless select_last_index;
    // NaN wins like numpy's argmax/argmin.
    auto better = [&](C v, C b) {
      if (is_nan(b)) return last && is_nan(v);
      if (is_nan(v)) return true;
      if constexpr (kMax) return last ? v >= b : v > b;
      else return last ? v <= b : v < b;
    };
    const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, s.n * s.inner));
    const int64_t chunks = (s.outer + per_chunk - 1) / per_chunk;
    ctx.pool().parallel_for(chunks, [&](int64_t c) {
      std::vector<C> best(s.inner);
      for (int64_t o = c * per_chunk; o < std::min(s.outer, (c + 1) * per_chunk); ++o) {
        const T* block = in + o * s.n * s.inner;
        int64_t* idx = out + o * s.inner;
        for (int64_t i = 0; i < s.inner; ++i) {
          best[i] = static_cast<C>(block[i]);
          idx[i] = 0;
        }
        for (int64_t k = 1; k < s.n; ++k) {
          const T* row = block + k * s.inner;
          for (int64_t i = 0; i < s.inner; ++i) {
            const C v = static_cast<C>(row[i]);
            if (better(v, best[i])) {
              best[i] = v;
              idx[i] = k;
            }
          }
        }
      }
    });
  });
  ctx.set_output(0, std::move(y));
}

// ---- TopK ----

void topk(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  if (rank == 0) ctx.fail("TopK input must have rank >= 1");
  int64_t k;
  if (ctx.opset() >= 10) {
    auto kv = read_int_list(ctx, ctx.required_input(1));
    if (kv.size() != 1) ctx.fail("TopK input K must hold exactly one value");
    k = kv[0];
  } else {
    if (!ctx.has_attr("k")) ctx.fail("TopK has no k attribute");
    k = ctx.attr_int("k", 0);
  }
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), rank);
  const bool largest = ctx.opset() < 11 || ctx.attr_int("largest", 1) != 0;
  // sorted=0 leaves the order unspecified; returning it sorted is one valid choice.
  const AxisSplit s = split_at(x.dims(), axis);
  if (k < 0 || k > s.n)
    ctx.fail("TopK k=" + std::to_string(k) + " is outside [0, " + std::to_string(s.n) + "]");
  std::vector<int64_t> out_dims = x.dims();
  out_dims[axis] = k;
  Tensor values = Tensor::allocate(x.dtype(), out_dims);
  Tensor indices = Tensor::allocate(DType::kInt64, out_dims);
  int64_t* oi = indices.mutable_values<int64_t>();
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      ctx.unsupported("TopK on bool tensors");
    } else {
      using C = Cmp<T>;
      const T* in = x.values<T>().data();
      T* ov = values.template mutable_values<T>();
      const int64_t slices = s.outer * s.inner;
      const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, s.n));
      const int64_t chunks = (slices + per_chunk - 1) / per_chunk;
      ctx.pool().parallel_for(chunks, [&](int64_t c) {
        std::vector<C> vals(s.n);
        std::vector<int64_t> order(s.n);
        // A strict total order: by value (NaN counts as the largest, as in numpy's sort), ties
        // by lower index first.
        auto precedes = [&](int64_t a, int64_t b) {
          const C va = vals[a], vb = vals[b];
          const bool na = is_nan(va), nb = is_nan(vb);
          if (na != nb) return largest ? na : nb;
          if (!na && va != vb) return largest ? va > vb : va < vb;
          return a < b;
        };
        for (int64_t sl = c * per_chunk; sl < std::min(slices, (c + 1) * per_chunk); ++sl) {
          const int64_t o = sl / s.inner, i = sl % s.inner;
          const T* base = in + o * s.n * s.inner + i;
          for (int64_t j = 0; j < s.n; ++j) vals[j] = static_cast<C>(base[j * s.inner]);
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + k, order.end(), precedes);
          const int64_t obase = o * k * s.inner + i;
          for (int64_t j = 0; j < k; ++j) {
            ov[obase + j * s.inner] = base[order[j] * s.inner];
            oi[obase + j * s.inner] = order[j];
          }
        }
      });
    }
  });
  ctx.set_output(0, std::move(values));
  if (ctx.output_count() > 1) ctx.set_output(1, std::move(indices));
}

// ---- CumSum ----

void cumsum(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& axis_t = ctx.required_input(1);
  auto axis_v = read_int_list(ctx, axis_t);
  if (axis_v.size() != 1) ctx.fail("CumSum axis must hold exactly one value");
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  if (rank == 0) ctx.fail("CumSum input must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, axis_v[0], rank);
  const bool exclusive = ctx.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.attr_int("reverse", 0) != 0;
  const AxisSplit s = split_at(x.dims(), axis);
  Tensor y = Tensor::allocate(x.dtype(), x.dims());
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      ctx.unsupported("CumSum on bool tensors");
    } else {
      // Running sums in the element type (float for float16/bfloat16), as numpy.cumsum does.
      using A = std::conditional_t<is_low_float_v<T>, float, std::conditional_t<std::is_integral_v<T>, Wide<T>, T>>;
      const T* in = x.values<T>().data();
      T* out = y.template mutable_values<T>();
      const int64_t per_chunk = std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, s.n * s.inner));
      const int64_t chunks = (s.outer + per_chunk - 1) / per_chunk;
      ctx.pool().parallel_for(chunks, [&](int64_t c) {
        std::vector<A> acc(s.inner);
        for (int64_t o = c * per_chunk; o < std::min(s.outer, (c + 1) * per_chunk); ++o) {
          std::fill(acc.begin(), acc.end(), A(0));
          for (int64_t step = 0; step < s.n; ++step) {
            const int64_t kk = reverse ? s.n - 1 - step : step;
            const int64_t off = (o * s.n + kk) * s.inner;
            for (int64_t i = 0; i < s.inner; ++i) {
              const A v = static_cast<A>(in[off + i]);
              if (exclusive) {
                out[off + i] = static_cast<T>(acc[i]);
                acc[i] += v;
              } else {
                acc[i] += v;
                out[off + i] = static_cast<T>(acc[i]);
              }
            }
          }
        }
      });
    }
  });
  ctx.set_output(0, std::move(y));
}

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  // Axes moved from an attribute to an optional input: ReduceSum in opset 13, the rest in 18.
  r.add("", "ReduceSum", reduce_kernel<SumOp, false, 13>);
  r.add("", "ReduceMean", reduce_kernel<MeanOp, false, 18>);
  r.add("", "ReduceMax", reduce_kernel<MaxOp, true, 18>);
  r.add("", "ReduceMin", reduce_kernel<MinOp, true, 18>);
  r.add("", "ReduceProd", reduce_kernel<ProdOp, false, 18>);
  r.add("", "ReduceL1", reduce_kernel<L1Op, false, 18>);
  r.add("", "ReduceL2", reduce_kernel<L2Op, false, 18>);
  r.add("", "ReduceLogSum", reduce_kernel<LogSumOp, false, 18>);
  r.add("", "ReduceLogSumExp", reduce_kernel<LogSumExpOp, false, 18>);
  r.add("", "ReduceSumSquare", reduce_kernel<SumSquareOp, false, 18>);
  r.add("", "ArgMax", arg_kernel<true>);
  r.add("", "ArgMin", arg_kernel<false>);
  r.add("", "TopK", topk);
  r.add("", "CumSum", cumsum, 11);
}

}  // namespace edgeq
