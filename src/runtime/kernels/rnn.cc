// rnn.cc: the recurrent layers RNN, GRU and LSTM (opsets 1, 3 (GRU), 7 and 14).
//
// All three share one driver: inputs are read and converted to the compute type (float for
// float/float16, double for double), the input projection X·Wᵀ (+ biases) is computed for every
// timestep of a direction in one Eigen product, and then each step multiplies the previous hidden
// state by Rᵀ and applies the cell's gate equations. Directions run as separate chunks of the
// thread pool; each writes a disjoint slice of the outputs, so results never depend on the
// thread count.
//
// Spec points handled here (ONNX Operators.md, RNN/GRU/LSTM):
//  - W/R/B pack the gates per direction: RNN [i], GRU [z r h], LSTM [i o f c]; B is [Wb, Rb].
//  - layout 0: X [seq, batch, input], Y [seq, dirs, batch, hidden], Y_h/Y_c [dirs, batch,
//    hidden]; layout 1 (opset 14): X [batch, seq, input], Y [batch, seq, dirs, hidden],
//    Y_h/Y_c [batch, dirs, hidden].
//  - sequence_lens: batch entry b only runs its first len[b] timesteps (reverse directions start
//    at len[b]-1); Y is zero past len[b]; Y_h/Y_c hold the state after the last valid step.
//  - clip bounds the inputs of the gate activations (f and g) to [-clip, clip]; the cell state
//    fed to LSTM's h is not clipped (as in ONNX Runtime, which we checked against).
//  - opset 1's output_sequence attribute is not needed: Y is computed whenever it is wanted.
//  - activations / activation_alpha / activation_beta: per direction (f[, g[, h]]); alphas and
//    betas are consumed in order by the activations that take them, the ONNX op defaults
//    otherwise.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/kernel.h"
#include "runtime/kernels/shape_common.h"

namespace edgeq {

namespace {

enum class ActKind {
  kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu,
  kSoftsign, kSoftplus
};

struct Activation {
  ActKind kind = ActKind::kTanh;
  float alpha = 0;
  float beta = 0;

  // Applies the function in place to n values.
  template <class C>
  void apply(C* p, int64_t n) const {
    const C a = static_cast<C>(alpha), b = static_cast<C>(beta);
    switch (kind) {
      case ActKind::kRelu: for (int64_t i = 0; i < n; ++i) p[i] = std::max(p[i], C(0)); break;
      case ActKind::kTanh: for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]); break;
      case ActKind::kSigmoid:
        for (int64_t i = 0; i < n; ++i) p[i] = sigmoid(p[i]);
        break;
      case ActKind::kAffine: for (int64_t i = 0; i < n; ++i) p[i] = a * p[i] + b; break;
      case ActKind::kLeakyRelu: for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] : a * p[i]; break;
      case ActKind::kThresholdedRelu: for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= a ? p[i] : C(0); break;
      case ActKind::kScaledTanh: for (int64_t i = 0; i < n; ++i) p[i] = a * std::tanh(b * p[i]); break;
      case ActKind::kHardSigmoid:
        for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(a * p[i] + b, C(0)), C(1));
        break;
      case ActKind::kElu: for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] : a * (std::exp(p[i]) - C(1)); break;
      case ActKind::kSoftsign: for (int64_t i = 0; i < n; ++i) p[i] = p[i] / (C(1) + std::abs(p[i])); break;
      case ActKind::kSoftplus:
        // log(1 + e^x), written so that large x does not overflow.
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0 ? p[i] + std::log1p(std::exp(-p[i])) : std::log1p(std::exp(p[i]));
        break;
    }
  }

  template <class C>
  static C sigmoid(C x) {
    // Split by sign so exp never overflows.
    if (x >= 0) return C(1) / (C(1) + std::exp(-x));
    const C e = std::exp(x);
    return e / (C(1) + e);
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads activations/activation_alpha/activation_beta into `per_dir * dirs` functions.
std::vector<Activation> read_activations(const KernelContext& ctx, const std::vector<std::string>& defaults,
                                         int64_t dirs) {
  std::vector<std::string> names;
  if (const Attribute* a = ctx.node().attr("activations"); a != nullptr && !a->strings.empty()) {
    names = a->strings;
    // A bidirectional layer lists the forward functions then the reverse ones; a list of just
    // one direction's worth is taken to mean the same functions both ways.
    if (dirs == 2 && names.size() == defaults.size()) names.insert(names.end(), a->strings.begin(), a->strings.end());
    if (names.size() != defaults.size() * static_cast<size_t>(dirs))
      ctx.fail("activations lists " + std::to_string(a->strings.size()) + " functions, expected " +
               std::to_string(defaults.size() * dirs));
  } else {
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  }
  const std::vector<float> alphas = ctx.attr_floats("activation_alpha");
  const std::vector<float> betas = ctx.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  auto take = [](const std::vector<float>& list, size_t& next, float fallback) {
    return next < list.size() ? list[next++] : fallback;
  };
  std::vector<Activation> acts;
  for (const std::string& name : names) {
    const std::string n = lower(name);
    Activation act;
    if (n == "relu") act.kind = ActKind::kRelu;
    else if (n == "tanh") act.kind = ActKind::kTanh;
    else if (n == "sigmoid") act.kind = ActKind::kSigmoid;
    else if (n == "affine") {
      act.kind = ActKind::kAffine;
      act.alpha = take(alphas, next_alpha, 1.0f);
      act.beta = take(betas, next_beta, 0.0f);
    } else if (n == "leakyrelu") {
      act.kind = ActKind::kLeakyRelu;
      act.alpha = take(alphas, next_alpha, 0.01f);
    } else if (n == "thresholdedrelu") {
      act.kind = ActKind::kThresholdedRelu;
      act.alpha = take(alphas, next_alpha, 1.0f);
    } else if (n == "scaledtanh") {
      act.kind = ActKind::kScaledTanh;
      act.alpha = take(alphas, next_alpha, 1.0f);
      act.beta = take(betas, next_beta, 1.0f);
    } else if (n == "hardsigmoid") {
      act.kind = ActKind::kHardSigmoid;
      act.alpha = take(alphas, next_alpha, 0.2f);
      act.beta = take(betas, next_beta, 0.5f);
    } else if (n == "elu") {
      act.kind = ActKind::kElu;
      act.alpha = take(alphas, next_alpha, 1.0f);
    } else if (n == "softsign") act.kind = ActKind::kSoftsign;
    else if (n == "softplus") act.kind = ActKind::kSoftplus;
    else ctx.unsupported("activation function '" + name + "'");
    acts.push_back(act);
  }
  return acts;
}

enum class Cell { kRnn, kGru, kLstm };

int64_t gate_count(Cell cell) { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }

// Everything a direction's recurrence needs, in the compute type C.
template <class C>
struct Problem {
  Cell cell;
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1, layout = 0;
  bool reverse_only = false;        // direction == "reverse"
  C clip = std::numeric_limits<C>::max();
  bool input_forget = false;        // LSTM
  bool linear_before_reset = false; // GRU
  std::vector<Activation> acts;     // per_dir * dirs
  std::vector<C> x;                 // [seq, batch, input] (layout 0 order)
  std::vector<C> w, r, b;           // [dirs, G*hidden, input], [dirs, G*hidden, hidden], [dirs, 2*G*hidden]
  std::vector<C> p;                 // [dirs, 3*hidden] (LSTM peepholes) or empty
  std::vector<C> h0, c0;            // [dirs, batch, hidden] or empty
  std::vector<int64_t> lens;        // [batch]
  // Outputs in layout-0 order; null when not wanted.
  C* y = nullptr;                   // [seq, dirs, batch, hidden]
  C* yh = nullptr;                  // [dirs, batch, hidden]
  C* yc = nullptr;                  // [dirs, batch, hidden]
};

template <class C>
using RowMat = Eigen::Matrix<C, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class C>
void clip_values(C* v, int64_t n, C clip) {
  for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], -clip), clip);
}

// Runs one direction d of the layer.
template <class C>
void run_direction(const Problem<C>& pb, int64_t d) {
  const int64_t H = pb.hidden, B = pb.batch, G = gate_count(pb.cell), GH = G * H;
  const bool reverse = pb.reverse_only || d == 1;
  const int64_t per_dir = static_cast<int64_t>(pb.acts.size()) / pb.dirs;
  const Activation* act = pb.acts.data() + d * per_dir;

  using Map = Eigen::Map<const RowMat<C>>;
  const Map W(pb.w.data() + d * GH * pb.input, GH, pb.input);
  const Map R(pb.r.data() + d * GH * H, GH, H);
  const C* wb = pb.b.empty() ? nullptr : pb.b.data() + d * 2 * GH;
  const C* rb = wb ? wb + GH : nullptr;

  // Input projection for every (timestep, batch) row at once, with the biases that are plain
  // additive terms folded in. GRU with linear_before_reset keeps Rbh apart: it is added to
  // H·Rhᵀ before the reset gate multiplies it.
  RowMat<C> xw = Eigen::Map<const RowMat<C>>(pb.x.data(), pb.seq * B, pb.input) * W.transpose();
  if (wb) {
    std::vector<C> bias(GH);
    for (int64_t j = 0; j < GH; ++j) {
      const bool rb_inside = pb.cell == Cell::kGru && pb.linear_before_reset && j >= 2 * H;
      bias[j] = wb[j] + (rb_inside ? C(0) : rb[j]);
    }
    for (int64_t row = 0; row < xw.rows(); ++row)
      for (int64_t j = 0; j < GH; ++j) xw(row, j) += bias[j];
  }

  // State: H and (LSTM) C, [batch, hidden].
  RowMat<C> h = RowMat<C>::Zero(B, H), c = RowMat<C>::Zero(B, H);
  if (!pb.h0.empty()) h = Eigen::Map<const RowMat<C>>(pb.h0.data() + d * B * H, B, H);
  if (!pb.c0.empty()) c = Eigen::Map<const RowMat<C>>(pb.c0.data() + d * B * H, B, H);

  const int64_t max_len = pb.lens.empty() ? 0 : *std::max_element(pb.lens.begin(), pb.lens.end());
  RowMat<C> hr(B, GH);           // H·Rᵀ for this step
  RowMat<C> rh = RowMat<C>::Zero(B, H), rh_r(B, H);  // GRU (linear_before_reset = 0): r ⊙ H and its product with Rhᵀ
  std::vector<C> gates(GH);
  const C* peep_i = pb.p.empty() ? nullptr : pb.p.data() + d * 3 * H;
  const C* peep_o = peep_i ? peep_i + H : nullptr;
  const C* peep_f = peep_i ? peep_i + 2 * H : nullptr;
  const bool clipping = pb.clip < std::numeric_limits<C>::max();

  for (int64_t s = 0; s < max_len; ++s) {
    hr.noalias() = h * R.transpose();
    if (pb.cell == Cell::kGru && !pb.linear_before_reset) {
      // (r ⊙ H)·Rhᵀ needs r first: compute r for the active rows, then one product.
      for (int64_t bi = 0; bi < B; ++bi) {
        if (s >= pb.lens[bi]) continue;
        const int64_t t = reverse ? pb.lens[bi] - 1 - s : s;
        const C* x_row = &xw(t * B + bi, 0);
        for (int64_t j = 0; j < H; ++j) rh(bi, j) = x_row[H + j] + hr(bi, H + j);
        if (clipping) clip_values(&rh(bi, 0), H, pb.clip);
        act[0].apply(&rh(bi, 0), H);
        for (int64_t j = 0; j < H; ++j) rh(bi, j) *= h(bi, j);
      }
      rh_r.noalias() = rh * R.bottomRows(H).transpose();
    }
    for (int64_t bi = 0; bi < B; ++bi) {
      if (s >= pb.lens[bi]) continue;  // finished: state stays, Y stays zero
      const int64_t t = reverse ? pb.lens[bi] - 1 - s : s;
      const C* x_row = &xw(t * B + bi, 0);
      const C* hr_row = &hr(bi, 0);
      C* g = gates.data();
      C* h_row = &h(bi, 0);
      switch (pb.cell) {
        case Cell::kRnn: {
          // Ht = f(Xt·Wiᵀ + Ht-1·Riᵀ + Wbi + Rbi)
          for (int64_t j = 0; j < H; ++j) g[j] = x_row[j] + hr_row[j];
          if (clipping) clip_values(g, H, pb.clip);
          act[0].apply(g, H);
          std::copy(g, g + H, h_row);
          break;
        }
        case Cell::kGru: {
          // z and r: f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb)
          for (int64_t j = 0; j < 2 * H; ++j) g[j] = x_row[j] + hr_row[j];
          C* z = g;
          C* r = g + H;
          C* hh = g + 2 * H;
          if (pb.linear_before_reset) {
            if (clipping) clip_values(g, 2 * H, pb.clip);
            act[0].apply(g, 2 * H);
            // ht = g(Xt·Whᵀ + Wbh + r ⊙ (Ht-1·Rhᵀ + Rbh))
            for (int64_t j = 0; j < H; ++j) hh[j] = x_row[2 * H + j] + r[j] * (hr_row[2 * H + j] + rb[2 * H + j]);
          } else {
            if (clipping) clip_values(z, H, pb.clip);
            act[0].apply(z, H);
            // ht = g(Xt·Whᵀ + (r ⊙ Ht-1)·Rhᵀ + Rbh + Wbh)
            for (int64_t j = 0; j < H; ++j) hh[j] = x_row[2 * H + j] + rh_r(bi, j);
          }
          if (clipping) clip_values(hh, H, pb.clip);
          act[1].apply(hh, H);
          // Ht = (1 - z) ⊙ ht + z ⊙ Ht-1
          for (int64_t j = 0; j < H; ++j) h_row[j] = (C(1) - z[j]) * hh[j] + z[j] * h_row[j];
          break;
        }
        case Cell::kLstm: {
          for (int64_t j = 0; j < GH; ++j) g[j] = x_row[j] + hr_row[j];
          C* gi = g;
          C* go = g + H;
          C* gf = g + 2 * H;
          C* gc = g + 3 * H;
          C* c_row = &c(bi, 0);
          if (peep_i)
            for (int64_t j = 0; j < H; ++j) {
              gi[j] += peep_i[j] * c_row[j];
              gf[j] += peep_f[j] * c_row[j];
            }
          if (clipping) {
            clip_values(gi, H, pb.clip);
            clip_values(gf, H, pb.clip);
          }
          act[0].apply(gi, H);
          if (pb.input_forget) {
            // Coupled gates: the forget gate is 1 - i.
            for (int64_t j = 0; j < H; ++j) gf[j] = C(1) - gi[j];
          } else {
            act[0].apply(gf, H);
          }
          if (clipping) clip_values(gc, H, pb.clip);
          act[1].apply(gc, H);
          // Ct = f ⊙ Ct-1 + i ⊙ c
          for (int64_t j = 0; j < H; ++j) c_row[j] = gf[j] * c_row[j] + gi[j] * gc[j];
          // o uses the new cell state through its peephole.
          if (peep_o)
            for (int64_t j = 0; j < H; ++j) go[j] += peep_o[j] * c_row[j];
          if (clipping) clip_values(go, H, pb.clip);
          act[0].apply(go, H);
          // Ht = o ⊙ h(Ct)
          C* hc = gi;  // i is no longer needed: reuse it for h(Ct)
          std::copy(c_row, c_row + H, hc);
          act[2].apply(hc, H);
          for (int64_t j = 0; j < H; ++j) h_row[j] = go[j] * hc[j];
          break;
        }
      }
      if (pb.y) std::copy(h_row, h_row + H, pb.y + ((t * pb.dirs + d) * B + bi) * H);
    }
  }
  if (pb.yh) std::copy(h.data(), h.data() + B * H, pb.yh + d * B * H);
  if (pb.yc) std::copy(c.data(), c.data() + B * H, pb.yc + d * B * H);
}

// Copies a tensor's values into the compute type.
template <class T, class C>
std::vector<C> to_compute(const Tensor& t) {
  auto v = t.values<T>();
  std::vector<C> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_same_v<T, Eigen::half>) out[i] = static_cast<C>(static_cast<float>(v[i]));
    else out[i] = static_cast<C>(v[i]);
  }
  return out;
}

// Swaps the first two axes of a rank-3 row-major array [a, b, n] -> [b, a, n].
template <class C>
std::vector<C> swap01(const std::vector<C>& v, int64_t a, int64_t b, int64_t n) {
  std::vector<C> out(v.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) std::copy_n(v.begin() + (i * b + j) * n, n, out.begin() + (j * a + i) * n);
  return out;
}

template <class T, class C>
void run_layer(KernelContext& ctx, Cell cell) {
  const Tensor& X = ctx.required_input(0);
  const Tensor& W = ctx.required_input(1);
  const Tensor& R = ctx.required_input(2);
  const Tensor* Bt = ctx.input(3);
  const Tensor* lens_t = ctx.input(4);
  const Tensor* h0_t = ctx.input(5);
  const Tensor* c0_t = cell == Cell::kLstm ? ctx.input(6) : nullptr;
  const Tensor* P_t = cell == Cell::kLstm ? ctx.input(7) : nullptr;

  Problem<C> pb;
  pb.cell = cell;
  pb.layout = ctx.opset() >= 14 ? ctx.attr_int("layout", 0) : 0;
  if (pb.layout != 0 && pb.layout != 1) ctx.fail("layout must be 0 or 1");
  const std::string direction = ctx.attr_string("direction", "forward");
  // GRU-1's schema spells the default "foward"; treat it as forward.
  if (direction == "forward" || direction == "foward") pb.dirs = 1;
  else if (direction == "reverse") pb.dirs = 1, pb.reverse_only = true;
  else if (direction == "bidirectional") pb.dirs = 2;
  else ctx.fail("direction must be forward, reverse or bidirectional, got '" + direction + "'");
  const int64_t G = gate_count(cell);

  for (const Tensor* t : {&X, &W, &R})
    if (t->dtype() != X.dtype()) ctx.fail("X, W and R must share a dtype");
  if (X.dims().size() != 3) ctx.fail("X must have rank 3, got shape " + dims_text(X.dims()));
  pb.seq = X.dims()[pb.layout == 0 ? 0 : 1];
  pb.batch = X.dims()[pb.layout == 0 ? 1 : 0];
  pb.input = X.dims()[2];
  if (W.dims().size() != 3 || W.dims()[0] != pb.dirs || W.dims()[1] % G != 0 || W.dims()[2] != pb.input)
    ctx.fail("W has shape " + dims_text(W.dims()) + ", expected [" + std::to_string(pb.dirs) + ", " +
             std::to_string(G) + "*hidden_size, " + std::to_string(pb.input) + "]");
  pb.hidden = ctx.has_attr("hidden_size") ? ctx.attr_int("hidden_size", 0) : W.dims()[1] / G;
  if (pb.hidden <= 0 || W.dims()[1] != G * pb.hidden)
    ctx.fail("W has shape " + dims_text(W.dims()) + ", which does not match hidden_size " + std::to_string(pb.hidden));
  const int64_t H = pb.hidden, Bn = pb.batch, D = pb.dirs;
  if (R.dims() != std::vector<int64_t>{D, G * H, H})
    ctx.fail("R has shape " + dims_text(R.dims()) + ", expected " + dims_text({D, G * H, H}));
  const std::vector<int64_t> state_dims = pb.layout == 0 ? std::vector<int64_t>{D, Bn, H} : std::vector<int64_t>{Bn, D, H};

  if (ctx.has_attr("clip")) {
    const float clip = ctx.attr_float("clip", 0);
    if (!(clip > 0)) ctx.fail("clip must be positive");
    pb.clip = static_cast<C>(clip);
  }
  if (cell == Cell::kLstm) pb.input_forget = ctx.attr_int("input_forget", 0) != 0;
  if (cell == Cell::kGru) pb.linear_before_reset = ctx.opset() >= 3 && ctx.attr_int("linear_before_reset", 0) != 0;
  static const std::vector<std::string> kRnnActs{"Tanh"}, kGruActs{"Sigmoid", "Tanh"},
      kLstmActs{"Sigmoid", "Tanh", "Tanh"};
  pb.acts = read_activations(ctx, cell == Cell::kRnn ? kRnnActs : cell == Cell::kGru ? kGruActs : kLstmActs, D);

  pb.x = to_compute<T, C>(X);
  if (pb.layout == 1) pb.x = swap01(pb.x, Bn, pb.seq, pb.input);
  pb.w = to_compute<T, C>(W);
  pb.r = to_compute<T, C>(R);
  if (Bt) {
    if (Bt->dtype() != X.dtype() || Bt->dims() != std::vector<int64_t>{D, 2 * G * H})
      ctx.fail("B has shape " + dims_text(Bt->dims()) + ", expected " + dims_text({D, 2 * G * H}));
    pb.b = to_compute<T, C>(*Bt);
  }
  auto read_state = [&](const Tensor* t, const char* name) {
    if (t == nullptr) return std::vector<C>{};
    if (t->dtype() != X.dtype() || t->dims() != state_dims)
      ctx.fail(std::string(name) + " has shape " + dims_text(t->dims()) + ", expected " + dims_text(state_dims));
    std::vector<C> v = to_compute<T, C>(*t);
    return pb.layout == 1 ? swap01(v, Bn, D, H) : v;
  };
  pb.h0 = read_state(h0_t, "initial_h");
  pb.c0 = read_state(c0_t, "initial_c");
  if (P_t) {
    if (P_t->dtype() != X.dtype() || P_t->dims() != std::vector<int64_t>{D, 3 * H})
      ctx.fail("P has shape " + dims_text(P_t->dims()) + ", expected " + dims_text({D, 3 * H}));
    pb.p = to_compute<T, C>(*P_t);
  }
  if (lens_t) {
    pb.lens = read_int_list(ctx, *lens_t);
    if (static_cast<int64_t>(pb.lens.size()) != Bn)
      ctx.fail("sequence_lens has " + std::to_string(pb.lens.size()) + " entries, batch size is " + std::to_string(Bn));
    for (int64_t l : pb.lens)
      if (l < 0 || l > pb.seq)
        ctx.fail("sequence_lens value " + std::to_string(l) + " is outside [0, " + std::to_string(pb.seq) + "]");
  } else {
    pb.lens.assign(Bn, pb.seq);
  }

  // Outputs are computed in layout-0 order in the compute type, then converted.
  const bool want_y = ctx.output_wanted(0), want_yh = ctx.output_count() > 1 && ctx.output_wanted(1),
             want_yc = cell == Cell::kLstm && ctx.output_count() > 2 && ctx.output_wanted(2);
  std::vector<C> y(want_y ? pb.seq * D * Bn * H : 0), yh(want_yh ? D * Bn * H : 0), yc(want_yc ? D * Bn * H : 0);
  pb.y = want_y ? y.data() : nullptr;
  pb.yh = want_yh ? yh.data() : nullptr;
  pb.yc = want_yc ? yc.data() : nullptr;
  ctx.pool().parallel_for(D, [&](int64_t d) { run_direction(pb, d); });

  auto emit = [&](size_t index, std::vector<C> v, std::vector<int64_t> dims) {
    Tensor out = Tensor::allocate(X.dtype(), std::move(dims));
    T* o = out.template mutable_values<T>();
    for (size_t i = 0; i < v.size(); ++i) o[i] = static_cast<T>(v[i]);
    ctx.set_output(index, std::move(out));
  };
  if (want_y) {
    if (pb.layout == 0) emit(0, std::move(y), {pb.seq, D, Bn, H});
    else {
      // [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]
      std::vector<C> t(y.size());
      for (int64_t s = 0; s < pb.seq; ++s)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t b = 0; b < Bn; ++b)
            std::copy_n(y.begin() + ((s * D + d) * Bn + b) * H, H, t.begin() + ((b * pb.seq + s) * D + d) * H);
      emit(0, std::move(t), {Bn, pb.seq, D, H});
    }
  }
  if (want_yh) emit(1, pb.layout == 0 ? std::move(yh) : swap01(yh, D, Bn, H), state_dims);
  if (want_yc) emit(2, pb.layout == 0 ? std::move(yc) : swap01(yc, D, Bn, H), state_dims);
}

template <Cell kCell>
void recurrent(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  switch (x.dtype()) {
    case DType::kFloat: return run_layer<float, float>(ctx, kCell);
    case DType::kDouble: return run_layer<double, double>(ctx, kCell);
    case DType::kFloat16: return run_layer<Eigen::half, float>(ctx, kCell);
    default:
      ctx.unsupported(std::string("dtype ") + std::string(dtype_name(x.dtype())) +
                      " (RNN/GRU/LSTM take float, double or float16)");
  }
}

}  // namespace

void register_rnn_kernels(KernelRegistry& r) {
  r.add("", "RNN", recurrent<Cell::kRnn>);
  r.add("", "GRU", recurrent<Cell::kGru>);
  r.add("", "LSTM", recurrent<Cell::kLstm>);
}

}  // namespace edgeq
