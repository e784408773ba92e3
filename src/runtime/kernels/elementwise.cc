// elementwise.cc: kernels that compute each output element from the elements at the same
// (broadcast) position of their inputs.
//
//   unary math     Abs Neg Sqrt Exp Log Reciprocal Floor Ceil Round Sign Sin Cos Tan Asin Acos
//                  Atan Sinh Cosh Asinh Acosh Atanh Erf IsNaN IsInf Not BitwiseNot
//   activations    Relu LeakyRelu PRelu Sigmoid HardSigmoid HardSwish Tanh Softplus Softsign Elu
//                  Selu Celu ThresholdedRelu Gelu Mish Shrink Clip
//   binary         Add Sub Mul Div Pow Mod BitShift BitwiseAnd/Or/Xor, Equal Less LessOrEqual
//                  Greater GreaterOrEqual, And Or Xor
//   n-ary          Where, Sum Mean Max Min
//   conversion     Cast CastLike
//
// How the pieces fit: an op is a small functor (its attributes read in the constructor, its math
// in a templated operator()) plus a mask of the dtype classes the spec allows. Generic drivers
// (unary_kernel, binary_kernel) dispatch the dtype, convert float16/bfloat16 to float for the
// math (Compute<T>), and run the functor over the data. Broadcasting goes through a Broadcast
// plan: the output shape with size-1 axes dropped and adjacent axes merged wherever every input
// is contiguous across them, so equal shapes become one flat loop and "tensor op scalar" one
// loop with a zero stride. Large outputs are split into fixed 64K-element chunks (the split
// depends on the shape only, so results never depend on the thread count).
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/kernel.h"

namespace edgeq {

namespace {

// ---------------------------------------------------------------------------------------------
// Types

template <class T>
constexpr bool kIsReduced = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;
template <class T>
constexpr bool kIsFloat = std::is_floating_point_v<T> || kIsReduced<T>;
template <class T>
constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// The type the math is done in: float for the 16-bit floats (as ONNX Runtime does), else T.
template <class T>
using Compute = std::conditional_t<kIsReduced<T>, float, T>;

// Dtype classes an op accepts.
enum : unsigned { kF = 1, kSI = 2, kUI = 4, kB = 8 };
constexpr unsigned kInts = kSI | kUI;
constexpr unsigned kNumeric = kF | kSI | kUI;
constexpr unsigned kSigned = kF | kSI;

template <class T>
constexpr unsigned class_of() {
  if constexpr (std::is_same_v<T, bool>)
    return kB;
  else if constexpr (kIsFloat<T>)
    return kF;
  else if constexpr (std::is_signed_v<T>)
    return kSI;
  else
    return kUI;
}

template <class T>
constexpr bool allowed(unsigned mask) {
  return (class_of<T>() & mask) != 0;
}

[[noreturn]] void reject_dtype(const KernelContext& ctx, DType d) {
  ctx.unsupported(ctx.node().op_type() + " does not accept dtype " + std::string(dtype_name(d)));
}

// Integer arithmetic wraps around like two's complement hardware (and numpy) instead of hitting
// C++'s undefined signed overflow: do it in uint64 and convert back (modular since C++20).
template <class T>
T wrap(uint64_t v) {
  return static_cast<T>(v);
}
template <class T>
T add_(T a, T b) {
  if constexpr (kIsInt<T>)
    return wrap<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else
    return a + b;
}
template <class T>
T sub_(T a, T b) {
  if constexpr (kIsInt<T>)
    return wrap<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  else
    return a - b;
}
template <class T>
T mul_(T a, T b) {
  if constexpr (kIsInt<T>)
    return wrap<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else
    return a * b;
}

// ---------------------------------------------------------------------------------------------
// Conversions between element types (Cast and the drivers' T <-> Compute<T> steps).

// double -> float rounding to odd: converting that float on to a type with at most 22 significand
// bits (float16: 11, bfloat16: 8) then rounds exactly like a direct double -> half conversion,
// which a plain double -> float -> half chain does not (double rounding).
float to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits |= 1u;
  std::memcpy(&f, &bits, sizeof bits);
  return f;
}

// Float -> integer truncates toward zero (C, numpy and ONNX Runtime agree in range). Out of range
// the spec leaves the result undefined; we saturate and send NaN to 0 so it is at least defined.
template <class I, class F>
I float_to_int(F f) {
  if (std::isnan(f)) return 0;
  f = std::trunc(f);
  if (f <= static_cast<F>(std::numeric_limits<I>::lowest()))
    return std::numeric_limits<I>::lowest();
  if (f >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(f);
}

template <class To, class From>
To convert(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else if constexpr (kIsReduced<From>) {
    return convert<To>(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);  // NaN is "not zero": true, as in C and numpy
  } else if constexpr (std::is_same_v<From, bool>) {
    return static_cast<To>(x ? 1.0f : 0.0f);
  } else if constexpr (kIsReduced<To>) {
    if constexpr (std::is_same_v<From, float> || (kIsInt<From> && sizeof(From) <= 2))
      return To(static_cast<float>(x));  // exact, or a single rounding
    else
      return To(to_float_round_odd(static_cast<double>(x)));
  } else if constexpr (kIsInt<To> && std::is_floating_point_v<From>) {
    return float_to_int<To>(x);
  } else {
    return static_cast<To>(x);  // int -> int wraps (modular), int/float -> float rounds
  }
}

// ---------------------------------------------------------------------------------------------
// Work splitting

constexpr int64_t kChunk = int64_t{1} << 16;

// Calls f(begin, end) over [0, n) in kChunk pieces, on the pool when there is more than one.
template <class F>
void parallel_chunks(KernelContext& ctx, int64_t n, const F& f) {
  if (n <= 0) return;
  if (n <= kChunk) return f(int64_t{0}, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  ctx.pool().parallel_for(chunks, [&](int64_t c) {
    const int64_t begin = c * kChunk;
    f(begin, std::min(n, begin + kChunk));
  });
}

// Output shape of numpy-broadcasting `shapes`, or a failure naming them.
std::vector<int64_t> broadcast_or_fail(const KernelContext& ctx,
                                       const std::vector<std::vector<int64_t>>& shapes) {
  if (auto out = broadcast_shapes(shapes)) return *out;
  std::string msg = "input shapes cannot be broadcast together:";
  for (const auto& s : shapes) {
    msg += " [";
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) msg += ',';
      msg += std::to_string(s[i]);
    }
    msg += "]";
  }
  ctx.fail(msg);
}

// How to walk N inputs broadcast to an output, with axes coalesced (see the file comment).
template <size_t N>
struct Broadcast {
  int64_t size = 0;                             // output elements
  std::vector<int64_t> dims;                    // coalesced output dims, never empty
  std::array<std::vector<int64_t>, N> strides;  // per input, per coalesced dim (0: broadcast)
};

template <size_t N>
Broadcast<N> plan_broadcast(const std::vector<int64_t>& out,
                            const std::array<const std::vector<int64_t>*, N>& ins) {
  Broadcast<N> p;
  p.size = shape_size(out);
  std::array<std::vector<int64_t>, N> full;
  for (size_t i = 0; i < N; ++i) full[i] = broadcast_strides(*ins[i], out);
  // Built innermost axis first. Axis k merges into the group inside it when, for every input,
  // stepping once along k equals stepping over the whole group (true for contiguous inputs and
  // for inputs broadcast along both).
  for (size_t k = out.size(); k-- > 0;) {
    if (out[k] == 1) continue;
    bool merge = !p.dims.empty();
    for (size_t i = 0; i < N && merge; ++i)
      merge = full[i][k] == p.strides[i].back() * p.dims.back();
    if (merge) {
      p.dims.back() *= out[k];
    } else {
      p.dims.push_back(out[k]);
      for (size_t i = 0; i < N; ++i) p.strides[i].push_back(full[i][k]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t i = 0; i < N; ++i) p.strides[i].push_back(0);
  }
  std::reverse(p.dims.begin(), p.dims.end());
  for (size_t i = 0; i < N; ++i) std::reverse(p.strides[i].begin(), p.strides[i].end());
  return p;
}

// Calls run(out_pos, in_offsets, len, inner_strides) for each stretch of the innermost
// (coalesced) axis in output positions [begin, end).
template <size_t N, class Run>
void walk_range(const Broadcast<N>& p, int64_t begin, int64_t end, const Run& run) {
  const size_t r = p.dims.size();
  std::vector<int64_t> coord(r, 0);
  std::array<int64_t, N> off{};
  int64_t rem = begin;
  for (size_t k = r; k-- > 0;) {
    coord[k] = rem % p.dims[k];
    rem /= p.dims[k];
    for (size_t i = 0; i < N; ++i) off[i] += coord[k] * p.strides[i][k];
  }
  std::array<int64_t, N> inner;
  for (size_t i = 0; i < N; ++i) inner[i] = p.strides[i][r - 1];
  int64_t pos = begin;
  while (true) {
    const int64_t len = std::min(p.dims[r - 1] - coord[r - 1], end - pos);
    run(pos, off, len, inner);
    pos += len;
    if (pos >= end) break;
    coord[r - 1] += len;
    for (size_t i = 0; i < N; ++i) off[i] += len * inner[i];
    for (size_t k = r - 1; k > 0 && coord[k] == p.dims[k]; --k) {
      coord[k] = 0;
      ++coord[k - 1];
      for (size_t i = 0; i < N; ++i) off[i] += p.strides[i][k - 1] - p.dims[k] * p.strides[i][k];
    }
  }
}

template <size_t N, class Run>
void for_each_run(KernelContext& ctx, const Broadcast<N>& p, const Run& run) {
  parallel_chunks(ctx, p.size, [&](int64_t b, int64_t e) { walk_range(p, b, e, run); });
}

// o[k] = f(a[k*sa], b[k*sb]) with the common stride patterns spelled out so they vectorize.
template <class A, class B, class O, class F>
void apply2(const A* a, int64_t sa, const B* b, int64_t sb, O* o, int64_t n, const F& f) {
  if (sa == 1 && sb == 1) {
    for (int64_t k = 0; k < n; ++k) o[k] = f(a[k], b[k]);
  } else if (sa == 1 && sb == 0) {
    const B bv = b[0];
    for (int64_t k = 0; k < n; ++k) o[k] = f(a[k], bv);
  } else if (sa == 0 && sb == 1) {
    const A av = a[0];
    for (int64_t k = 0; k < n; ++k) o[k] = f(av, b[k]);
  } else {
    for (int64_t k = 0; k < n; ++k) o[k] = f(a[k * sa], b[k * sb]);
  }
}

// out (shape od) = f(a broadcast, b broadcast). `o` may alias `a` when ad == od.
template <class A, class B, class O, class F>
void broadcast_binary(KernelContext& ctx, const A* a, const std::vector<int64_t>& ad, const B* b,
                      const std::vector<int64_t>& bd, O* o, const std::vector<int64_t>& od,
                      const F& f) {
  const auto p = plan_broadcast<2>(od, {&ad, &bd});
  for_each_run(ctx, p,
               [&](int64_t pos, const std::array<int64_t, 2>& off, int64_t len,
                   const std::array<int64_t, 2>& in) {
                 apply2(a + off[0], in[0], b + off[1], in[1], o + pos, len, f);
               });
}

// Opsets 1-6 of the arithmetic, logic and comparison ops broadcast only when the `broadcast`
// attribute is 1, and then B's shape must be a contiguous run of A's shape: ending at A's last
// axis, or starting at `axis` when given. Returns B's dims padded with 1s to A's rank, so the
// numpy machinery does the rest. Without broadcast=1 the shapes must match exactly.
std::vector<int64_t> legacy_rhs_dims(const KernelContext& ctx, const std::vector<int64_t>& a,
                                     const std::vector<int64_t>& b) {
  if (ctx.attr_int("broadcast", 0) == 0) {
    if (a != b) ctx.fail("shapes differ and the broadcast attribute is not set (opset < 7)");
    return b;
  }
  const int64_t ra = static_cast<int64_t>(a.size()), rb = static_cast<int64_t>(b.size());
  if (rb > ra) ctx.fail("B has a higher rank than A in a legacy broadcast");
  int64_t axis = ra - rb;
  if (ctx.has_attr("axis")) {
    axis = ctx.attr_int("axis", 0);
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) ctx.fail("legacy broadcast axis is out of range");
  }
  std::vector<int64_t> out(static_cast<size_t>(ra), 1);
  for (int64_t i = 0; i < rb; ++i) {
    const int64_t d = b[static_cast<size_t>(i)];
    if (d != 1 && d != a[static_cast<size_t>(axis + i)])
      ctx.fail("legacy broadcast: B's shape is not a contiguous part of A's shape");
    out[static_cast<size_t>(axis + i)] = d;
  }
  return out;
}

template <class Op>
Op make_op(const KernelContext& ctx) {
  if constexpr (std::is_constructible_v<Op, const KernelContext&>)
    return Op(ctx);
  else
    return Op{};
}

// ---------------------------------------------------------------------------------------------
// Unary driver

template <class Op>
void unary_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Op op = make_op<Op>(ctx);
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!allowed<T>(Op::kTypes)) {
      reject_dtype(ctx, x.dtype());
    } else {
      using C = Compute<T>;
      using R = decltype(op(C{}));
      using O = std::conditional_t<std::is_same_v<R, bool>, bool, T>;
      Tensor y = Tensor::allocate(dtype_of<O>(), x.dims());
      const T* in = x.values<T>().data();
      O* out = y.template mutable_values<O>();
      parallel_chunks(ctx, static_cast<int64_t>(x.element_count()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = convert<O>(op(static_cast<C>(in[i])));
      });
      ctx.set_output(0, std::move(y));
    }
  });
}

// ---- unary math ----

struct Abs {
  static constexpr unsigned kTypes = kNumeric;
  template <class C>
  C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (kIsInt<C>)
      return x < 0 ? sub_<C>(0, x) : x;  // abs(INT_MIN) wraps
    else
      return std::abs(x);
  }
};
struct Neg {
  static constexpr unsigned kTypes = kSigned;
  template <class C>
  C operator()(C x) const {
    if constexpr (kIsInt<C>)
      return sub_<C>(0, x);  // -INT_MIN wraps
    else
      return -x;  // keeps the sign of zero
  }
};
struct Sign {
  static constexpr unsigned kTypes = kNumeric;
  template <class C>
  C operator()(C x) const {
    if constexpr (kIsFloat<C>) {
      if (std::isnan(x)) return x;
    }
    return x > C(0) ? C(1) : x < C(0) ? C(-1) : C(0);
  }
};
#define EDGEQ_FLOAT_UNARY(Name, expr)      \
  struct Name {                            \
    static constexpr unsigned kTypes = kF; \
    template <class C>                     \
    C operator()(C x) const {              \
      return expr;                         \
    }                                      \
  };
EDGEQ_FLOAT_UNARY(Sqrt, std::sqrt(x))
EDGEQ_FLOAT_UNARY(Exp, std::exp(x))
EDGEQ_FLOAT_UNARY(Log, std::log(x))
EDGEQ_FLOAT_UNARY(Reciprocal, C(1) / x)
EDGEQ_FLOAT_UNARY(Floor, std::floor(x))
EDGEQ_FLOAT_UNARY(Ceil, std::ceil(x))
EDGEQ_FLOAT_UNARY(Round, std::nearbyint(x))  // default rounding mode: halves go to even (spec)
EDGEQ_FLOAT_UNARY(Sin, std::sin(x))
EDGEQ_FLOAT_UNARY(Cos, std::cos(x))
EDGEQ_FLOAT_UNARY(Tan, std::tan(x))
EDGEQ_FLOAT_UNARY(Asin, std::asin(x))
EDGEQ_FLOAT_UNARY(Acos, std::acos(x))
EDGEQ_FLOAT_UNARY(Atan, std::atan(x))
EDGEQ_FLOAT_UNARY(Sinh, std::sinh(x))
EDGEQ_FLOAT_UNARY(Cosh, std::cosh(x))
EDGEQ_FLOAT_UNARY(Asinh, std::asinh(x))
EDGEQ_FLOAT_UNARY(Acosh, std::acosh(x))
EDGEQ_FLOAT_UNARY(Atanh, std::atanh(x))
EDGEQ_FLOAT_UNARY(Erf, std::erf(x))
EDGEQ_FLOAT_UNARY(Tanh, std::tanh(x))
EDGEQ_FLOAT_UNARY(Softsign, x / (C(1) + std::abs(x)))
#undef EDGEQ_FLOAT_UNARY

struct IsNaN {
  static constexpr unsigned kTypes = kF;
  template <class C>
  bool operator()(C x) const {
    return std::isnan(x);
  }
};
struct IsInf {
  static constexpr unsigned kTypes = kF;
  bool neg, pos;
  explicit IsInf(const KernelContext& ctx)
      : neg(ctx.attr_int("detect_negative", 1) != 0),
        pos(ctx.attr_int("detect_positive", 1) != 0) {}
  template <class C>
  bool operator()(C x) const {
    return std::isinf(x) && (x > 0 ? pos : neg);
  }
};
struct Not {
  static constexpr unsigned kTypes = kB;
  bool operator()(bool x) const { return !x; }
};
struct BitwiseNot {
  static constexpr unsigned kTypes = kInts;
  template <class C>
  C operator()(C x) const {
    return static_cast<C>(~x);
  }
};

// ---- activations ----

// log(1 + e^x) without overflowing for large x.
template <class C>
C softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

struct Relu {
  static constexpr unsigned kTypes = kSigned;  // opset 14 added the signed integers
  template <class C>
  C operator()(C x) const {
    return x < C(0) ? C(0) : x;
  }  // keeps NaN, like max(x, 0) in numpy
};
struct LeakyRelu {
  static constexpr unsigned kTypes = kF;
  float alpha;
  explicit LeakyRelu(const KernelContext& ctx) : alpha(ctx.attr_float("alpha", 0.01f)) {}
  template <class C>
  C operator()(C x) const {
    return x < C(0) ? C(alpha) * x : x;
  }
};
struct Sigmoid {
  static constexpr unsigned kTypes = kF;
  template <class C>
  C operator()(C x) const {
    if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
    const C e = std::exp(x);  // the same value, without e^-x overflowing for very negative x
    return e / (C(1) + e);
  }
};
struct HardSigmoid {
  static constexpr unsigned kTypes = kF;
  float alpha, beta;
  explicit HardSigmoid(const KernelContext& ctx)
      : alpha(ctx.attr_float("alpha", 0.2f)), beta(ctx.attr_float("beta", 0.5f)) {}
  template <class C>
  C operator()(C x) const {
    return std::max(C(0), std::min(C(1), C(alpha) * x + C(beta)));
  }
};
struct HardSwish {  // x * HardSigmoid(x) with alpha = 1/6, beta = 0.5
  static constexpr unsigned kTypes = kF;
  template <class C>
  C operator()(C x) const {
    return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
  }
};
struct Softplus {
  static constexpr unsigned kTypes = kF;
  template <class C>
  C operator()(C x) const {
    return softplus(x);
  }
};
struct Mish {
  static constexpr unsigned kTypes = kF;
  template <class C>
  C operator()(C x) const {
    return x * std::tanh(softplus(x));
  }
};
struct Elu {
  static constexpr unsigned kTypes = kF;
  float alpha;
  explicit Elu(const KernelContext& ctx) : alpha(ctx.attr_float("alpha", 1.0f)) {}
  template <class C>
  C operator()(C x) const {
    return x < C(0) ? C(alpha) * (std::exp(x) - C(1)) : x;
  }
};
struct Selu {
  static constexpr unsigned kTypes = kF;
  float alpha, gamma;
  // Selu-1 documented the defaults rounded to 1.6732 / 1.0507; Selu-6 gave full precision.
  explicit Selu(const KernelContext& ctx)
      : alpha(ctx.attr_float("alpha", ctx.opset() < 6 ? 1.6732f : 1.67326319217681884765625f)),
        gamma(ctx.attr_float("gamma", ctx.opset() < 6 ? 1.0507f : 1.05070102214813232421875f)) {}
  template <class C>
  C operator()(C x) const {
    return x <= C(0) ? C(gamma) * (C(alpha) * std::exp(x) - C(alpha)) : C(gamma) * x;
  }
};
struct Celu {
  static constexpr unsigned kTypes = kF;
  float alpha;
  explicit Celu(const KernelContext& ctx) : alpha(ctx.attr_float("alpha", 1.0f)) {}
  template <class C>
  C operator()(C x) const {
    return std::max(C(0), x) + std::min(C(0), C(alpha) * (std::exp(x / C(alpha)) - C(1)));
  }
};
struct ThresholdedRelu {
  static constexpr unsigned kTypes = kF;
  float alpha;
  explicit ThresholdedRelu(const KernelContext& ctx) : alpha(ctx.attr_float("alpha", 1.0f)) {}
  template <class C>
  C operator()(C x) const {
    return x > C(alpha) ? x : C(0);
  }
};
struct Gelu {  // opset 20: approximate = "none" (erf) or "tanh"
  static constexpr unsigned kTypes = kF;
  bool tanh_approx;
  explicit Gelu(const KernelContext& ctx) {
    const std::string a = ctx.attr_string("approximate", "none");
    if (a != "none" && a != "tanh")
      ctx.fail("Gelu approximate must be 'none' or 'tanh', got '" + a + "'");
    tanh_approx = a == "tanh";
  }
  template <class C>
  C operator()(C x) const {
    if (tanh_approx) {
      const C k = C(0.7978845608028654);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * C(0.7071067811865476)));  // x / sqrt(2)
  }
};
// Shrink (opset 9, all numeric types): x < -lambd -> x + bias, x > lambd -> x - bias, else 0.
// Computed in double so integer inputs compare against the float attributes exactly.
struct Shrink {
  static constexpr unsigned kTypes = kNumeric;
  double lambd, bias;
  explicit Shrink(const KernelContext& ctx)
      : lambd(ctx.attr_float("lambd", 0.5f)), bias(ctx.attr_float("bias", 0.0f)) {}
  template <class C>
  C operator()(C x) const {
    const double v = static_cast<double>(x);
    if (v < -lambd) return convert<C>(v + bias);
    if (v > lambd) return convert<C>(v - bias);
    return C(0);
  }
};

// Clip: min/max attributes before opset 11 (defaulting to the float range), optional scalar
// inputs 1 and 2 from opset 11. min > max gives max everywhere (spec, opset 13 text).
void clip(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!allowed<T>(kNumeric)) {
      reject_dtype(ctx, x.dtype());
    } else {
      using C = Compute<T>;
      C lo, hi;
      if constexpr (kIsFloat<C>) {
        lo = -std::numeric_limits<C>::infinity();
        hi = std::numeric_limits<C>::infinity();
      } else {
        lo = std::numeric_limits<C>::lowest();
        hi = std::numeric_limits<C>::max();
      }
      if (ctx.opset() < 11) {
        if constexpr (kIsFloat<C>) {
          if (ctx.has_attr("min")) lo = static_cast<C>(ctx.attr_float("min", 0));
          if (ctx.has_attr("max")) hi = static_cast<C>(ctx.attr_float("max", 0));
        } else if (ctx.has_attr("min") || ctx.has_attr("max")) {
          reject_dtype(ctx, x.dtype());
        }
      } else {
        auto bound = [&](size_t i, C& v) {
          const Tensor* t = ctx.input(i);
          if (t == nullptr) return;
          if (t->dtype() != x.dtype()) ctx.fail("Clip bounds must have the input's dtype");
          if (t->element_count() != 1) ctx.fail("Clip bounds must be scalars");
          v = static_cast<C>(t->values<T>()[0]);
        };
        bound(1, lo);
        bound(2, hi);
      }
      Tensor y = Tensor::allocate(x.dtype(), x.dims());
      const T* in = x.values<T>().data();
      T* out = y.template mutable_values<T>();
      parallel_chunks(ctx, static_cast<int64_t>(x.element_count()), [&](int64_t b, int64_t e) {
        // std::max(x, lo) returns x when x is NaN, so NaN passes through.
        for (int64_t i = b; i < e; ++i)
          out[i] = static_cast<T>(std::min(std::max(static_cast<C>(in[i]), lo), hi));
      });
      ctx.set_output(0, std::move(y));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Binary driver (both inputs of one dtype)

template <class Op>
void binary_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  if (a.dtype() != b.dtype())
    ctx.fail("inputs have different dtypes (" + std::string(dtype_name(a.dtype())) + ", " +
             std::string(dtype_name(b.dtype())) + ")");
  const Op op = make_op<Op>(ctx);
  const std::vector<int64_t> bdims =
      ctx.opset() < 7 ? legacy_rhs_dims(ctx, a.dims(), b.dims()) : b.dims();
  const std::vector<int64_t> out_dims = broadcast_or_fail(ctx, {a.dims(), bdims});
  dispatch_dtype(ctx, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!allowed<T>(Op::kTypes)) {
      reject_dtype(ctx, a.dtype());
    } else {
      using C = Compute<T>;
      using R = decltype(op(C{}, C{}));
      using O = std::conditional_t<std::is_same_v<R, bool>, bool, T>;
      if constexpr (requires { Op::kIntegerDivision; }) {
        if constexpr (kIsInt<T>) {
          auto bv = b.values<T>();
          if (std::find(bv.begin(), bv.end(), T(0)) != bv.end())
            ctx.fail("integer division by zero");
        }
      }
      Tensor y = Tensor::allocate(dtype_of<O>(), out_dims);
      broadcast_binary(ctx, a.values<T>().data(), a.dims(), b.values<T>().data(), bdims,
                       y.template mutable_values<O>(), out_dims, [&op](T x, T z) {
                         return convert<O>(op(static_cast<C>(x), static_cast<C>(z)));
                       });
      ctx.set_output(0, std::move(y));
    }
  });
}

struct Add {
  static constexpr unsigned kTypes = kNumeric;
  template <class C>
  C operator()(C a, C b) const {
    return add_(a, b);
  }
};
struct Sub {
  static constexpr unsigned kTypes = kNumeric;
  template <class C>
  C operator()(C a, C b) const {
    return sub_(a, b);
  }
};
struct Mul {
  static constexpr unsigned kTypes = kNumeric;
  template <class C>
  C operator()(C a, C b) const {
    return mul_(a, b);
  }
};
// Integer Div truncates toward zero (C semantics, as ONNX Runtime does); the driver rejects zero
// divisors first. INT_MIN / -1 wraps to INT_MIN instead of trapping.
struct Div {
  static constexpr unsigned kTypes = kNumeric;
  static constexpr bool kIntegerDivision = true;
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (std::is_signed_v<C> && kIsInt<C>) {
      if (b == C(-1)) return sub_<C>(0, a);
    }
    return a / b;
  }
};
// Mod: fmod=0 (integers only) takes the sign of the divisor like Python's %, fmod=1 the sign of
// the dividend like C's fmod. Floats require fmod=1 (spec).
struct Mod {
  static constexpr unsigned kTypes = kNumeric;
  static constexpr bool kIntegerDivision = true;
  bool fmod;
  explicit Mod(const KernelContext& ctx) : fmod(ctx.attr_int("fmod", 0) != 0) {
    const Tensor* a = ctx.input(0);
    if (!fmod && a && dtype_info(a->dtype()).is_float)
      ctx.fail("Mod on floating-point inputs requires fmod=1");
  }
  template <class C>
  C operator()(C a, C b) const {
    if constexpr (kIsFloat<C>) {
      return std::fmod(a, b);
    } else if constexpr (std::is_unsigned_v<C>) {
      return a % b;
    } else {
      if (b == C(-1)) return C(0);  // INT_MIN % -1 is undefined in C++; the answer is 0
      C r = static_cast<C>(a % b);
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = add_<C>(r, b);
      return r;
    }
  }
};
struct BitShift {
  static constexpr unsigned kTypes = kUI;
  bool left;
  explicit BitShift(const KernelContext& ctx) {
    const std::string d = ctx.attr_string("direction", "");
    if (d != "LEFT" && d != "RIGHT")
      ctx.fail("BitShift direction must be LEFT or RIGHT, got '" + d + "'");
    left = d == "LEFT";
  }
  template <class C>
  C operator()(C a, C b) const {
    if (b >= sizeof(C) * 8) return 0;  // shifting every bit out (C++ leaves this undefined)
    return static_cast<C>(left ? a << b : a >> b);
  }
};
#define EDGEQ_BINARY(Name, types, expr)       \
  struct Name {                               \
    static constexpr unsigned kTypes = types; \
    template <class C>                        \
    auto operator()(C a, C b) const {         \
      return expr;                            \
    }                                         \
  };
EDGEQ_BINARY(BitwiseAnd, kInts, static_cast<C>(a& b))
EDGEQ_BINARY(BitwiseOr, kInts, static_cast<C>(a | b))
EDGEQ_BINARY(BitwiseXor, kInts, static_cast<C>(a ^ b))
EDGEQ_BINARY(And, kB, static_cast<bool>(a&& b))
EDGEQ_BINARY(Or, kB, static_cast<bool>(a || b))
EDGEQ_BINARY(Xor, kB, static_cast<bool>(a != b))
EDGEQ_BINARY(Equal, kNumeric | kB, static_cast<bool>(a == b))
EDGEQ_BINARY(Less, kNumeric | kB, static_cast<bool>(a < b))
EDGEQ_BINARY(LessOrEqual, kNumeric | kB, static_cast<bool>(a <= b))
EDGEQ_BINARY(Greater, kNumeric | kB, static_cast<bool>(a > b))
EDGEQ_BINARY(GreaterOrEqual, kNumeric | kB, static_cast<bool>(a >= b))
#undef EDGEQ_BINARY

// Equal also compares strings from opset 19.
void equal(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  if (!a || !b || a->dtype() != DType::kString || b->dtype() != DType::kString)
    return binary_kernel<Equal>(ctx);
  const std::vector<int64_t> out_dims = broadcast_or_fail(ctx, {a->dims(), b->dims()});
  Tensor y = Tensor::allocate(DType::kBool, out_dims);
  broadcast_binary(ctx, a->strings().data(), a->dims(), b->strings().data(), b->dims(),
                   y.mutable_values<bool>(), out_dims,
                   [](const std::string& x, const std::string& z) { return x == z; });
  ctx.set_output(0, std::move(y));
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast to x (unidirectionally). Before opset 7 a 1-D
// slope of size C applied per channel (axis 1), as PyTorch exported it.
void prelu(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& s = ctx.required_input(1);
  if (x.dtype() != s.dtype()) ctx.fail("X and slope have different dtypes");
  std::vector<int64_t> sdims = s.dims();
  if (ctx.opset() < 7 && sdims.size() == 1 && x.dims().size() >= 2 && sdims[0] != 1 &&
      sdims[0] == x.dims()[1]) {
    sdims.assign(x.dims().size() - 1, 1);
    sdims[0] = s.dims()[0];
  }
  const auto out_dims = broadcast_or_fail(ctx, {x.dims(), sdims});
  if (out_dims != x.dims()) ctx.fail("slope does not broadcast to the shape of X");
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!allowed<T>(kNumeric)) {
      reject_dtype(ctx, x.dtype());
    } else {
      using C = Compute<T>;
      Tensor y = Tensor::allocate(x.dtype(), out_dims);
      broadcast_binary(ctx, x.values<T>().data(), x.dims(), s.values<T>().data(), sdims,
                       y.template mutable_values<T>(), out_dims, [](T v, T slope) {
                         const C c = static_cast<C>(v);
                         return convert<T>(c < C(0) ? mul_<C>(static_cast<C>(slope), c) : c);
                       });
      ctx.set_output(0, std::move(y));
    }
  });
}

// ---- Pow: the exponent may have another dtype than the base (opset 12+); output has the base's.

// Integer power by squaring, wrapping on overflow like repeated multiplication would.
template <class T>
T int_pow(T base, uint64_t e) {
  uint64_t result = 1, b = static_cast<uint64_t>(base);
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return wrap<T>(result);
}

template <class T, class U>
T pow_element(T a, U b) {
  if constexpr (kIsInt<T> && kIsInt<U>) {
    if (b >= U(0)) return int_pow(a, static_cast<uint64_t>(b));
    // Negative exponents: |result| < 1 unless |base| is 1; the integer result truncates.
    if (a == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (a == T(-1)) return (static_cast<uint64_t>(-(b + 1)) & 1) ? T(1) : T(-1);
    }
    return convert<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));  // 0 -> saturates
  } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float> || kIsReduced<T> ||
                       kIsInt<T>) {
    // Computed in double: exact for integer exponents up to 2^53, and one rounding to T.
    return convert<T>(std::pow(convert<double>(a), convert<double>(b)));
  }
}

void pow_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.required_input(0);
  const Tensor& b = ctx.required_input(1);
  if (ctx.opset() < 12 && a.dtype() != b.dtype())
    ctx.fail("Pow before opset 12 needs equal dtypes");
  const std::vector<int64_t> bdims =
      ctx.opset() < 7 ? legacy_rhs_dims(ctx, a.dims(), b.dims()) : b.dims();
  const std::vector<int64_t> out_dims = broadcast_or_fail(ctx, {a.dims(), bdims});
  dispatch_dtype(ctx, a.dtype(), [&](auto ta) {
    using T = decltype(ta);
    if constexpr (!allowed<T>(kNumeric)) {
      reject_dtype(ctx, a.dtype());
    } else {
      dispatch_dtype(ctx, b.dtype(), [&](auto tb) {
        using U = decltype(tb);
        if constexpr (!allowed<U>(kNumeric)) {
          reject_dtype(ctx, b.dtype());
        } else {
          Tensor y = Tensor::allocate(a.dtype(), out_dims);
          T* out = y.template mutable_values<T>();
          const T* av = a.values<T>().data();
          const U* bv = b.values<U>().data();
          // x^2 (LayerNorm and variance decompositions) as one multiplication. A one-element
          // exponent leaves the output with a's elements in a's order, whatever the ranks.
          if constexpr (kIsFloat<T> && kIsFloat<U>) {
            if (b.element_count() == 1 && static_cast<float>(bv[0]) == 2.0f) {
              parallel_chunks(ctx, static_cast<int64_t>(a.element_count()),
                              [&](int64_t s, int64_t e) {
                                for (int64_t i = s; i < e; ++i) {
                                  const Compute<T> v = static_cast<Compute<T>>(av[i]);
                                  out[i] = static_cast<T>(v * v);
                                }
                              });
              return ctx.set_output(0, std::move(y));
            }
          }
          broadcast_binary(ctx, av, a.dims(), bv, bdims, out, out_dims,
                           [](T x, U e) { return pow_element(x, e); });
          ctx.set_output(0, std::move(y));
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Where: output = cond ? X : Y, all three broadcast. It only moves elements, so it dispatches on
// the element width rather than the dtype.

template <class E>
void where_typed(KernelContext& ctx, const Tensor& c, const E* x, const std::vector<int64_t>& xd,
                 const E* y, const std::vector<int64_t>& yd, E* out,
                 const std::vector<int64_t>& od) {
  const auto p = plan_broadcast<3>(od, {&c.dims(), &xd, &yd});
  const bool* cv = c.values<bool>().data();
  for_each_run(ctx, p,
               [&](int64_t pos, const std::array<int64_t, 3>& off, int64_t len,
                   const std::array<int64_t, 3>& in) {
                 const bool* cp = cv + off[0];
                 const E* xp = x + off[1];
                 const E* yp = y + off[2];
                 E* o = out + pos;
                 for (int64_t k = 0; k < len; ++k)
                   o[k] = cp[k * in[0]] ? xp[k * in[1]] : yp[k * in[2]];
               });
}

void where(KernelContext& ctx) {
  const Tensor& c = ctx.required_input(0);
  const Tensor& x = ctx.required_input(1);
  const Tensor& y = ctx.required_input(2);
  if (c.dtype() != DType::kBool) ctx.fail("Where condition must be bool");
  if (x.dtype() != y.dtype()) ctx.fail("Where X and Y have different dtypes");
  const auto od = broadcast_or_fail(ctx, {c.dims(), x.dims(), y.dims()});
  if (x.dtype() == DType::kString) {
    std::vector<std::string> out(static_cast<size_t>(shape_size(od)));
    where_typed(ctx, c, x.strings().data(), x.dims(), y.strings().data(), y.dims(), out.data(), od);
    return ctx.set_output(0, Tensor(od, std::move(out)));
  }
  const int bits = dtype_info(x.dtype()).bits;
  Tensor out = Tensor::allocate(x.dtype(), od);
  auto run = [&](auto tag) {
    using E = decltype(tag);
    where_typed(ctx, c, x.values<E>().data(), x.dims(), y.values<E>().data(), y.dims(),
                out.template mutable_values<E>(), od);
  };
  switch (bits) {
    case 8:
      run(uint8_t{});
      break;
    case 16:
      run(uint16_t{});
      break;
    case 32:
      run(uint32_t{});
      break;
    case 64:
      run(uint64_t{});
      break;
    default:
      reject_dtype(ctx, x.dtype());
  }
  ctx.set_output(0, std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Sum / Mean / Max / Min over any number of inputs, all broadcast together. The result is
// accumulated input by input (left to right) in Compute<T>, then rounded to T once.

template <class C>
C max_nan(C a, C b) {
  if constexpr (kIsFloat<C>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
  }
  return a < b ? b : a;
}
template <class C>
C min_nan(C a, C b) {
  if constexpr (kIsFloat<C>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
  }
  return b < a ? b : a;
}

enum class Fold { kSum, kMean, kMax, kMin };

template <Fold kFold>
void variadic(KernelContext& ctx) {
  const size_t n = ctx.input_count();
  if (n == 0) ctx.fail("needs at least one input");
  std::vector<const Tensor*> xs;
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < n; ++i) {
    xs.push_back(&ctx.required_input(i));
    if (xs.back()->dtype() != xs[0]->dtype()) ctx.fail("inputs have different dtypes");
    shapes.push_back(xs.back()->dims());
  }
  const auto od = broadcast_or_fail(ctx, shapes);
  constexpr unsigned types = kFold == Fold::kMean ? kF : kNumeric;
  dispatch_dtype(ctx, xs[0]->dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!allowed<T>(types)) {
      reject_dtype(ctx, xs[0]->dtype());
    } else {
      using C = Compute<T>;
      if (n == 1) return ctx.set_output(0, *xs[0]);  // the sum/mean/max/min of one tensor is itself
      Tensor y = Tensor::allocate(xs[0]->dtype(), od);
      T* out = y.template mutable_values<T>();
      std::vector<C> buffer;  // 16-bit floats accumulate in float
      C* acc;
      if constexpr (std::is_same_v<C, T>) {
        acc = out;
      } else {
        buffer.resize(static_cast<size_t>(shape_size(od)));
        acc = buffer.data();
      }
      const T* x0 = xs[0]->values<T>().data();
      // acc = x0 broadcast (acc's own contents are ignored: stride of its walk is the output's).
      broadcast_binary(ctx, acc, od, x0, xs[0]->dims(), acc, od,
                       [](C, T v) { return static_cast<C>(v); });
      for (size_t i = 1; i < n; ++i) {
        broadcast_binary(ctx, acc, od, xs[i]->values<T>().data(), xs[i]->dims(), acc, od,
                         [](C a, T v) {
                           const C b = static_cast<C>(v);
                           if constexpr (kFold == Fold::kMax)
                             return max_nan(a, b);
                           else if constexpr (kFold == Fold::kMin)
                             return min_nan(a, b);
                           else
                             return add_(a, b);
                         });
      }
      const int64_t size = shape_size(od);
      if constexpr (kFold == Fold::kMean) {
        const C count = static_cast<C>(n);
        parallel_chunks(ctx, size, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(acc[i] / count);
        });
      } else if constexpr (!std::is_same_v<C, T>) {
        parallel_chunks(ctx, size, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(acc[i]);
        });
      }
      ctx.set_output(0, std::move(y));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Cast / CastLike between every numeric dtype and bool; to and from string for numbers.

// Shortest text that reads back as the same value (what numpy's str() of a float32 gives), with
// ONNX's spellings of the special values.
template <class T>
std::string number_to_string(T v) {
  char buf[64];
  if constexpr (kIsFloat<T>) {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const C c = static_cast<C>(v);
    if (std::isnan(c)) return "NaN";
    if (std::isinf(c)) return c > 0 ? "INF" : "-INF";
    auto r = std::to_chars(buf, buf + sizeof buf, c);
    return std::string(buf, r.ptr);
  } else {
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }
}

// Parses plain or scientific notation, "INF"/"+INF"/"-INF"/"NaN" in any case.
template <class T>
T string_to_number(const KernelContext& ctx, const std::string& s) {
  std::string_view v = s;
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  if (!v.empty() && v.front() == '+') v.remove_prefix(1);
  if constexpr (kIsInt<T>) {  // integers first, so 64-bit values keep every digit
    T out{};
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    if (r.ec == std::errc() && r.ptr == v.data() + v.size()) return out;
  }
  double d = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), d);
  if (r.ec == std::errc::result_out_of_range) {
    d = (!v.empty() && v.front() == '-') ? -HUGE_VAL : HUGE_VAL;
  } else if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
    ctx.fail("cannot cast string '" + s + "' to a number");
  }
  if constexpr (std::is_same_v<T, float>) {
    float f = 0;  // parse again as float: one correct rounding, not double then float
    auto rf = std::from_chars(v.data(), v.data() + v.size(), f);
    if (rf.ec == std::errc()) return f;
  }
  return convert<T>(d);
}

void cast_to(KernelContext& ctx, const Tensor& x, DType to) {
  if (x.dtype() == to) return ctx.set_output(0, x);
  if (to == DType::kString) {
    if (x.dtype() == DType::kBool) ctx.unsupported("Cast from bool to string");
    std::vector<std::string> out(x.element_count());
    dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
      using S = decltype(tag);
      if constexpr (!std::is_same_v<S, bool>) {
        auto in = x.values<S>();
        for (size_t i = 0; i < out.size(); ++i) out[i] = number_to_string(in[i]);
      }
    });
    return ctx.set_output(0, Tensor(x.dims(), std::move(out)));
  }
  if (x.dtype() == DType::kString) {
    if (to == DType::kBool) ctx.unsupported("Cast from string to bool");
    Tensor y = Tensor::allocate(to, x.dims());
    dispatch_dtype(ctx, to, [&](auto tag) {
      using D = decltype(tag);
      if constexpr (!std::is_same_v<D, bool>) {
        D* out = y.template mutable_values<D>();
        const auto& in = x.strings();
        for (size_t i = 0; i < in.size(); ++i) out[i] = string_to_number<D>(ctx, in[i]);
      }
    });
    return ctx.set_output(0, std::move(y));
  }
  Tensor y = Tensor::allocate(to, x.dims());
  dispatch_dtype(ctx, x.dtype(), [&](auto stag) {
    using S = decltype(stag);
    dispatch_dtype(ctx, to, [&](auto dtag) {
      using D = decltype(dtag);
      const S* in = x.values<S>().data();
      D* out = y.template mutable_values<D>();
      parallel_chunks(ctx, static_cast<int64_t>(x.element_count()), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = convert<D>(in[i]);
      });
    });
  });
  ctx.set_output(0, std::move(y));
}

void cast(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Attribute* to = ctx.node().attr("to");
  if (to == nullptr) ctx.fail("Cast needs the 'to' attribute");
  DType target;
  if (ctx.opset() < 6 && to->type == AttrType::kString) {
    // Cast-1 names the type as a string ("FLOAT", "INT64", ...).
    std::string name = to->s;
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto d = dtype_from_name(name);
    if (!d) ctx.fail("unknown Cast target type '" + to->s + "'");
    target = *d;
  } else {
    const DTypeInfo* info = find_dtype(static_cast<int32_t>(to->i));
    if (info == nullptr) ctx.fail("unknown Cast target type code " + std::to_string(to->i));
    target = info->dtype;
  }
  cast_to(ctx, x, target);
}

void cast_like(KernelContext& ctx) {
  cast_to(ctx, ctx.required_input(0), ctx.required_input(1).dtype());
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  // Unary math. Since-versions are the ops' first ONNX versions; later versions only widened
  // the dtype lists, which the kTypes masks cover.
  r.add("", "Abs", unary_kernel<Abs>);
  r.add("", "Neg", unary_kernel<Neg>);
  r.add("", "Sqrt", unary_kernel<Sqrt>);
  r.add("", "Exp", unary_kernel<Exp>);
  r.add("", "Log", unary_kernel<Log>);
  r.add("", "Reciprocal", unary_kernel<Reciprocal>);
  r.add("", "Floor", unary_kernel<Floor>);
  r.add("", "Ceil", unary_kernel<Ceil>);
  r.add("", "Round", unary_kernel<Round>, 11);
  r.add("", "Sign", unary_kernel<Sign>, 9);
  r.add("", "Sin", unary_kernel<Sin>, 7);
  r.add("", "Cos", unary_kernel<Cos>, 7);
  r.add("", "Tan", unary_kernel<Tan>, 7);
  r.add("", "Asin", unary_kernel<Asin>, 7);
  r.add("", "Acos", unary_kernel<Acos>, 7);
  r.add("", "Atan", unary_kernel<Atan>, 7);
  r.add("", "Sinh", unary_kernel<Sinh>, 9);
  r.add("", "Cosh", unary_kernel<Cosh>, 9);
  r.add("", "Asinh", unary_kernel<Asinh>, 9);
  r.add("", "Acosh", unary_kernel<Acosh>, 9);
  r.add("", "Atanh", unary_kernel<Atanh>, 9);
  r.add("", "Erf", unary_kernel<Erf>, 9);
  r.add("", "IsNaN", unary_kernel<IsNaN>, 9);
  r.add("", "IsInf", unary_kernel<IsInf>, 10);
  r.add("", "Not", unary_kernel<Not>);
  r.add("", "BitwiseNot", unary_kernel<BitwiseNot>, 18);

  // Activations.
  r.add("", "Relu", unary_kernel<Relu>);
  r.add("", "LeakyRelu", unary_kernel<LeakyRelu>);
  r.add("", "PRelu", prelu);
  r.add("", "Sigmoid", unary_kernel<Sigmoid>);
  r.add("", "HardSigmoid", unary_kernel<HardSigmoid>);
  r.add("", "HardSwish", unary_kernel<HardSwish>, 14);
  r.add("", "Tanh", unary_kernel<Tanh>);
  r.add("", "Softplus", unary_kernel<Softplus>);
  r.add("", "Softsign", unary_kernel<Softsign>);
  r.add("", "Elu", unary_kernel<Elu>);
  r.add("", "Selu", unary_kernel<Selu>);
  r.add("", "Celu", unary_kernel<Celu>, 12);
  r.add("", "ThresholdedRelu", unary_kernel<ThresholdedRelu>);  // experimental before 10, same math
  r.add("", "Gelu", unary_kernel<Gelu>, 20);
  r.add("", "Mish", unary_kernel<Mish>, 18);
  r.add("", "Shrink", unary_kernel<Shrink>, 9);
  r.add("", "Clip", clip);

  // Binary (opsets 1-6 of the first three groups use legacy_rhs_dims).
  r.add("", "Add", binary_kernel<Add>);
  r.add("", "Sub", binary_kernel<Sub>);
  r.add("", "Mul", binary_kernel<Mul>);
  r.add("", "Div", binary_kernel<Div>);
  r.add("", "Pow", pow_kernel);
  r.add("", "Mod", binary_kernel<Mod>, 10);
  r.add("", "BitShift", binary_kernel<BitShift>, 11);
  r.add("", "BitwiseAnd", binary_kernel<BitwiseAnd>, 18);
  r.add("", "BitwiseOr", binary_kernel<BitwiseOr>, 18);
  r.add("", "BitwiseXor", binary_kernel<BitwiseXor>, 18);
  r.add("", "Equal", equal);
  r.add("", "Less", binary_kernel<Less>);
  r.add("", "LessOrEqual", binary_kernel<LessOrEqual>, 12);
  r.add("", "Greater", binary_kernel<Greater>);
  r.add("", "GreaterOrEqual", binary_kernel<GreaterOrEqual>, 12);
  r.add("", "And", binary_kernel<And>);
  r.add("", "Or", binary_kernel<Or>);
  r.add("", "Xor", binary_kernel<Xor>);

  // N-ary.
  r.add("", "Where", where, 9);
  r.add("", "Sum", variadic<Fold::kSum>);
  r.add("", "Mean", variadic<Fold::kMean>);
  r.add("", "Max", variadic<Fold::kMax>);
  r.add("", "Min", variadic<Fold::kMin>);

  // Conversion.
  r.add("", "Cast", cast);
  r.add("", "CastLike", cast_like, 15);
}

}  // namespace edgeq
