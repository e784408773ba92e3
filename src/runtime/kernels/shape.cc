// shape.cc: kernels that rearrange, select or generate values without arithmetic on them:
// Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Transpose, Concat, Split, Slice, Expand,
// Tile, Pad, DepthToSpace, SpaceToDepth, Trilu, ReverseSequence, Compress, NonZero,
// ConstantOfShape, Range, OneHot, EyeLike. Gather/Scatter live in gather_scatter.cc and
// Resize/Upsample in resize.cc; both reuse the helpers declared in shape_common.h.
//
// Data movement works on opaque elements of the dtype's width (see dispatch_move), so every
// fixed-size dtype - float8 to complex128, bool as one byte - and strings take the same path.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/kernels/shape_common.h"

namespace edgeq {

// ---------------------------------------------------------------------------------------------
// Shared helpers (declared in shape_common.h)

std::vector<int64_t> row_major_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) strides[k - 1] = strides[k] * dims[k];
  return strides;
}

Tensor with_dims(const Tensor& t, std::vector<int64_t> dims) {
  if (t.dtype() == DType::kString) return Tensor(std::move(dims), t.strings());
  if (!t.storage()) return Tensor::allocate(t.dtype(), std::move(dims));
  return Tensor(t.dtype(), std::move(dims), t.storage());
}

double scalar_as_double(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.element_count() != 1) ctx.fail(std::string(what) + " must hold exactly one element");
  double v = 0;
  dispatch_dtype(ctx, t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    v = to_double(t.values<T>()[0]);
  });
  return v;
}

std::vector<double> read_doubles(const KernelContext& ctx, const Tensor& t) {
  std::vector<double> out(t.element_count());
  dispatch_dtype(ctx, t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto v = t.values<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = to_double(v[i]);
  });
  return out;
}

Tensor gather_copy(KernelContext& ctx, const Tensor& src, std::vector<int64_t> out_dims,
                   std::vector<std::vector<int64_t>> offsets, const Tensor* fill) {
  if (fill != nullptr && (fill->dtype() != src.dtype() || fill->element_count() != 1))
    ctx.fail("fill value must be one element of the input's dtype");
  Tensor out = Tensor::allocate(src.dtype(), out_dims);
  dispatch_move(ctx, src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gather_separable<T>(ctx.pool(), data_of<T>(src), mutable_data_of<T>(out), out_dims, offsets,
                        fill ? data_of<T>(*fill) : nullptr);
  });
  return out;
}

std::vector<int64_t> read_axes(const KernelContext& ctx, std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) a = normalize_axis(ctx, a, rank);
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) ctx.fail("axes contain a duplicate");
  return axes;
}

namespace {

int64_t product(const std::vector<int64_t>& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

Tensor int64_tensor(std::vector<int64_t> dims, const std::vector<int64_t>& values) {
  return Tensor::from_values<int64_t>(DType::kInt64, std::move(dims), std::span(values));
}

// An optional 1-element input (k of Trilu, ...) read as int64; `fallback` when omitted.
int64_t optional_int_scalar(const KernelContext& ctx, size_t i, int64_t fallback) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr) return fallback;
  auto v = read_int_list(ctx, *t);
  if (v.size() != 1) ctx.fail("input " + std::to_string(i) + " must hold exactly one element");
  return v[0];
}

// ---------------------------------------------------------------------------------------------
// Views: same bytes, new shape

// Reshape: `shape` input from opset 5 (attribute before). A 0 copies the input's dim at that
// index unless allowzero (opset 14) asks for a literal 0; one -1 is inferred.
void reshape(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  std::vector<int64_t> shape =
      ctx.opset() < 5 ? ctx.attr_ints("shape") : read_int_list(ctx, ctx.required_input(1));
  const bool allowzero = ctx.opset() >= 14 && ctx.attr_int("allowzero", 0) != 0;
  const auto& in = x.dims();
  int64_t inferred = -1;
  bool has_zero = false;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t& d = shape[i];
    if (d == -1) {
      if (inferred >= 0) ctx.fail("shape has more than one -1");
      inferred = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) ctx.fail("shape has a negative dimension " + std::to_string(d));
    if (d == 0) {
      if (allowzero) {
        has_zero = true;
      } else {
        if (i >= in.size()) ctx.fail("shape has a 0 at index " + std::to_string(i) + " beyond the input's rank");
        d = in[i];
      }
    }
    known *= d;
  }
  const int64_t total = static_cast<int64_t>(x.element_count());
  if (inferred >= 0) {
    // Spec (Reshape-14): with allowzero, a shape holding both 0 and -1 is invalid.
    if (has_zero) ctx.fail("with allowzero=1 the shape may not hold both 0 and -1");
    if (known == 0 || total % known != 0)
      ctx.fail("cannot infer the -1 dimension of " + dims_text(shape) + " for input " + dims_text(in));
    shape[inferred] = total / known;
  } else if (known != total) {
    ctx.fail("cannot reshape " + dims_text(in) + " to " + dims_text(shape));
  }
  ctx.set_output(0, with_dims(x, std::move(shape)));
}

// Flatten: [d0..d(axis-1)] and [d(axis)..] each collapse to one dim; axis may equal the rank.
void flatten(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) ctx.fail("axis is out of range for rank " + std::to_string(rank));
  const int64_t outer = product(x.dims(), 0, static_cast<size_t>(axis));
  const int64_t inner = product(x.dims(), static_cast<size_t>(axis), x.dims().size());
  ctx.set_output(0, with_dims(x, {outer, inner}));
}

// Squeeze: axes attribute before opset 13, optional input from 13; no axes drops every 1.
void squeeze(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  std::vector<int64_t> axes;
  bool given = false;
  if (ctx.opset() < 13) {
    given = ctx.has_attr("axes");
    axes = ctx.attr_ints("axes");
  } else if (const Tensor* a = ctx.input(1)) {
    given = true;
    axes = read_int_list(ctx, *a);
  }
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (given) {
    for (int64_t a : read_axes(ctx, axes, rank)) {
      if (x.dims()[a] != 1)
        ctx.fail("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x.dims()[a]));
      drop[a] = true;
    }
  } else {
    for (int64_t i = 0; i < rank; ++i) drop[i] = x.dims()[i] == 1;
  }
  std::vector<int64_t> out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i]) out.push_back(x.dims()[i]);
  ctx.set_output(0, with_dims(x, std::move(out)));
}

// Unsqueeze: axes (attribute before 13, input from 13) index the output's dims.
void unsqueeze(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  std::vector<int64_t> axes =
      ctx.opset() < 13 ? ctx.attr_ints("axes") : read_int_list(ctx, ctx.required_input(1));
  if (ctx.opset() < 13 && !ctx.has_attr("axes")) ctx.fail("axes attribute is required");
  const int64_t out_rank = static_cast<int64_t>(x.dims().size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : read_axes(ctx, axes, out_rank)) inserted[a] = true;
  std::vector<int64_t> out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? 1 : x.dims()[next++]);
  ctx.set_output(0, with_dims(x, std::move(out)));
}

// Shape: optional start/end (opset 15) select a slice of the dims, clamped like Python slices.
void shape_op(KernelContext& ctx) {
  const RtValue* v = ctx.input_value(0);
  if (v == nullptr || v->kind != RtValue::Kind::kTensor) ctx.fail("input 0 must be a tensor");
  const auto& dims = v->tensor.dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t start = 0, end = rank;
  if (ctx.opset() >= 15) {
    start = ctx.attr_int("start", 0);
    end = ctx.attr_int("end", rank);
  }
  auto clamp_index = [&](int64_t i) { return std::clamp(i < 0 ? i + rank : i, int64_t{0}, rank); };
  start = clamp_index(start);
  end = clamp_index(end);
  std::vector<int64_t> out;
  for (int64_t i = start; i < end; ++i) out.push_back(dims[i]);
  ctx.set_output(0, int64_tensor({static_cast<int64_t>(out.size())}, out));
}

void size_op(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  ctx.set_output(0, int64_tensor({}, {static_cast<int64_t>(x.element_count())}));
}

// ---------------------------------------------------------------------------------------------
// Copies expressed as separable gathers

void transpose(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const size_t rank = x.dims().size();
  std::vector<int64_t> perm = ctx.attr_ints("perm");
  if (!ctx.has_attr("perm")) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  if (perm.size() != rank) ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    p = normalize_axis(ctx, p, static_cast<int64_t>(rank));
    if (seen[p]) ctx.fail("perm is not a permutation");
    seen[p] = true;
  }
  const auto strides = row_major_strides(x.dims());
  std::vector<int64_t> out_dims(rank);
  std::vector<std::vector<int64_t>> offsets(rank);
  for (size_t d = 0; d < rank; ++d) {
    out_dims[d] = x.dims()[perm[d]];
    offsets[d].resize(out_dims[d]);
    for (int64_t c = 0; c < out_dims[d]; ++c) offsets[d][c] = c * strides[perm[d]];
  }
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(offsets)));
}

// Slice: starts/ends/axes attributes before opset 10; from 10 inputs with optional axes and
// steps. Per the spec, negative starts/ends count from the end, then are clamped to [0, dim]
// for positive steps and to [0, dim-1] / [-1, dim-1] (start / end) for negative steps.
void slice(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = read_int_list(ctx, ctx.required_input(1));
    ends = read_int_list(ctx, ctx.required_input(2));
    if (const Tensor* a = ctx.input(3)) axes = read_int_list(ctx, *a);
    if (const Tensor* s = ctx.input(4)) steps = read_int_list(ctx, *s);
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps must have the same length");
  axes = read_axes(ctx, axes, rank);

  std::vector<int64_t> out_dims = x.dims(), first(rank, 0), step(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = axes[i], dim = x.dims()[a];
    if (steps[i] == 0) ctx.fail("slice step cannot be 0");
    // A step beyond the axis length selects at most one element either way; clamping it keeps
    // the arithmetic below from overflowing for steps like INT64_MIN.
    const int64_t s = std::clamp(steps[i], -(dim + 1), dim + 1);
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    int64_t len;
    if (s > 0) {
      b = std::clamp(b, int64_t{0}, dim);
      e = std::clamp(e, int64_t{0}, dim);
      len = e > b ? (e - b + s - 1) / s : 0;
    } else {
      b = std::clamp(b, int64_t{0}, dim - 1);
      e = std::clamp(e, int64_t{-1}, dim - 1);
      len = b > e ? (b - e + (-s) - 1) / (-s) : 0;
    }
    out_dims[a] = len;
    first[a] = b;
    step[a] = s;
  }
  const auto strides = row_major_strides(x.dims());
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int64_t d = 0; d < rank; ++d) {
    offsets[d].resize(out_dims[d]);
    for (int64_t c = 0; c < out_dims[d]; ++c) offsets[d][c] = (first[d] + c * step[d]) * strides[d];
  }
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(offsets)));
}

// Expand: numpy broadcasting of the input against `shape` (either side may hold the 1s).
void expand(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto shape = read_int_list(ctx, ctx.required_input(1));
  auto out = broadcast_shapes({x.dims(), shape});
  if (!out) ctx.fail("cannot expand " + dims_text(x.dims()) + " to " + dims_text(shape));
  const auto strides = broadcast_strides(x.dims(), *out);
  std::vector<std::vector<int64_t>> offsets(out->size());
  for (size_t d = 0; d < out->size(); ++d) {
    offsets[d].resize((*out)[d]);
    for (int64_t c = 0; c < (*out)[d]; ++c) offsets[d][c] = c * strides[d];
  }
  ctx.set_output(0, gather_copy(ctx, x, *out, std::move(offsets)));
}

// Tile: `repeats` input from opset 6; Tile-1 took a scalar `tiles` and a scalar `axis`.
void tile(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  std::vector<int64_t> repeats;
  if (ctx.opset() >= 6) {
    repeats = read_int_list(ctx, ctx.required_input(1));
  } else {
    repeats.assign(rank, 1);
    const int64_t tiles = optional_int_scalar(ctx, 1, 1);
    const int64_t axis = normalize_axis(ctx, optional_int_scalar(ctx, 2, 0), rank);
    repeats[axis] = tiles;
  }
  if (static_cast<int64_t>(repeats.size()) != rank)
    ctx.fail("repeats has " + std::to_string(repeats.size()) + " entries for rank " + std::to_string(rank));
  const auto strides = row_major_strides(x.dims());
  std::vector<int64_t> out_dims(rank);
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int64_t d = 0; d < rank; ++d) {
    if (repeats[d] < 0) ctx.fail("repeats must be non-negative");
    out_dims[d] = x.dims()[d] * repeats[d];
    offsets[d].resize(out_dims[d]);
    for (int64_t c = 0; c < out_dims[d]; ++c) offsets[d][c] = (c % x.dims()[d]) * strides[d];
  }
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(offsets)));
}

// Pad: `paddings` (opset 1) / `pads` (2-10) attributes with a float `value`; from 11 pads and
// constant_value are inputs, from 18 an optional axes input names the padded axes, and 19 adds
// mode "wrap". Pads are [x1_begin, x2_begin, ..., x1_end, x2_end]; negative pads crop.
void pad(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  const std::string mode = ctx.attr_string("mode", "constant");
  std::vector<int64_t> pads, axes;
  Tensor fill;
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    const float value = ctx.attr_float("value", 0.0f);
    if (mode == "constant") {
      if (x.dtype() == DType::kString) ctx.unsupported("Pad of strings before opset 11");
      fill = Tensor::allocate(x.dtype(), {});
      dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        fill.template mutable_values<T>()[0] = from_double<T>(value);
      });
    }
  } else {
    pads = read_int_list(ctx, ctx.required_input(1));
    const Tensor* cv = ctx.input(2);
    if (cv != nullptr && cv->element_count() > 0) {
      if (cv->dtype() != x.dtype()) ctx.fail("constant_value must have the input's dtype");
      if (cv->element_count() != 1) ctx.fail("constant_value must hold one element");
      fill = with_dims(*cv, {});
    } else {
      fill = Tensor::allocate(x.dtype(), {});  // zero / empty string
    }
    if (ctx.opset() >= 18)
      if (const Tensor* a = ctx.input(3)) axes = read_axes(ctx, read_int_list(ctx, *a), rank);
  }
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  const size_t n = axes.size();
  if (pads.size() != 2 * n) ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * n));
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < n; ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[n + i];
  }
  enum class Mode { kConstant, kReflect, kEdge, kWrap } m;
  if (mode == "constant") m = Mode::kConstant;
  else if (mode == "reflect") m = Mode::kReflect;
  else if (mode == "edge") m = Mode::kEdge;
  else if (mode == "wrap" && ctx.opset() >= 19) m = Mode::kWrap;
  else ctx.unsupported("Pad mode '" + mode + "'");

  const auto strides = row_major_strides(x.dims());
  std::vector<int64_t> out_dims(rank);
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t len = x.dims()[d];
    out_dims[d] = len + begin[d] + end[d];
    if (out_dims[d] < 0) ctx.fail("pads crop axis " + std::to_string(d) + " below zero size");
    if (m != Mode::kConstant && len == 0 && out_dims[d] > 0)
      ctx.fail("cannot pad an empty axis in mode '" + mode + "'");
    offsets[d].resize(out_dims[d]);
    for (int64_t c = 0; c < out_dims[d]; ++c) {
      int64_t i = c - begin[d];  // coordinate in the input, possibly outside it
      if (i < 0 || i >= len) {
        switch (m) {
          case Mode::kConstant: i = -1; break;
          case Mode::kEdge: i = std::clamp(i, int64_t{0}, len - 1); break;
          case Mode::kWrap: i = ((i % len) + len) % len; break;
          case Mode::kReflect: {
            // Mirror without repeating the edge element: period 2*(len-1), as numpy's 'reflect'.
            if (len == 1) { i = 0; break; }
            const int64_t period = 2 * (len - 1);
            i = ((i % period) + period) % period;
            if (i >= len) i = period - i;
            break;
          }
        }
      }
      offsets[d][c] = i < 0 ? kOutside : i * strides[d];
    }
  }
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(offsets), m == Mode::kConstant ? &fill : nullptr));
}

// DepthToSpace (mode DCR, or CRD from opset 11) and SpaceToDepth on NCHW tensors. Both are a
// reshape-transpose-reshape; the source offset of every output coordinate is a sum of
// per-dimension terms, so they are separable gathers.
void depth_to_space(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  if (x.dims().size() != 4) ctx.fail("input must be 4-D (NCHW)");
  const int64_t b = ctx.attr_int("blocksize", 0);
  if (b <= 0) ctx.fail("blocksize must be positive");
  const std::string mode = ctx.opset() >= 11 ? ctx.attr_string("mode", "DCR") : "DCR";
  if (mode != "DCR" && mode != "CRD") ctx.fail("unknown mode '" + mode + "'");
  const int64_t N = x.dims()[0], C = x.dims()[1], H = x.dims()[2], W = x.dims()[3];
  if (C % (b * b) != 0) ctx.fail("channels are not a multiple of blocksize^2");
  const int64_t oc = C / (b * b);
  const auto s = row_major_strides(x.dims());
  std::vector<int64_t> out_dims{N, oc, H * b, W * b};
  std::vector<std::vector<int64_t>> off(4);
  for (int64_t n = 0; n < N; ++n) off[0].push_back(n * s[0]);
  // DCR: input channel = (bh * b + bw) * oc + c;  CRD: input channel = c * b * b + bh * b + bw.
  const bool dcr = mode == "DCR";
  for (int64_t c = 0; c < oc; ++c) off[1].push_back((dcr ? c : c * b * b) * s[1]);
  for (int64_t h = 0; h < H * b; ++h)
    off[2].push_back((h / b) * s[2] + (h % b) * (dcr ? b * oc : b) * s[1]);
  for (int64_t w = 0; w < W * b; ++w)
    off[3].push_back((w / b) * s[3] + (w % b) * (dcr ? oc : 1) * s[1]);
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(off)));
}

void space_to_depth(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  if (x.dims().size() != 4) ctx.fail("input must be 4-D (NCHW)");
  const int64_t b = ctx.attr_int("blocksize", 0);
  if (b <= 0) ctx.fail("blocksize must be positive");
  const int64_t N = x.dims()[0], C = x.dims()[1], H = x.dims()[2], W = x.dims()[3];
  if (H % b != 0 || W % b != 0) ctx.fail("height and width must be multiples of blocksize");
  const auto s = row_major_strides(x.dims());
  std::vector<int64_t> out_dims{N, C * b * b, H / b, W / b};
  std::vector<std::vector<int64_t>> off(4);
  for (int64_t n = 0; n < N; ++n) off[0].push_back(n * s[0]);
  // Output channel = (bh * b + bw) * C + c reads input (c, h * b + bh, w * b + bw).
  for (int64_t oc = 0; oc < C * b * b; ++oc) {
    const int64_t c = oc % C, bw = (oc / C) % b, bh = oc / C / b;
    off[1].push_back(c * s[1] + bh * s[2] + bw * s[3]);
  }
  for (int64_t h = 0; h < H / b; ++h) off[2].push_back(h * b * s[2]);
  for (int64_t w = 0; w < W / b; ++w) off[3].push_back(w * b * s[3]);
  ctx.set_output(0, gather_copy(ctx, x, out_dims, std::move(off)));
}

// Compress: keeps the slices (along axis) or, without axis, the flattened elements whose
// condition is true. A shorter condition drops the rest; a longer one must be false beyond.
void compress(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& cond = ctx.required_input(1);
  if (cond.dtype() != DType::kBool || cond.dims().size() != 1) ctx.fail("condition must be a 1-D bool tensor");
  auto flags = cond.values<uint8_t>();
  const bool has_axis = ctx.has_attr("axis");
  const Tensor src = has_axis ? x : with_dims(x, {static_cast<int64_t>(x.element_count())});
  const int64_t rank = static_cast<int64_t>(src.dims().size());
  const int64_t axis = has_axis ? normalize_axis(ctx, ctx.attr_int("axis", 0), rank) : 0;
  const int64_t len = src.dims()[axis];
  std::vector<int64_t> keep;
  for (size_t i = 0; i < flags.size(); ++i) {
    if (!flags[i]) continue;
    if (static_cast<int64_t>(i) >= len) ctx.fail("condition selects index " + std::to_string(i) + " beyond the axis");
    keep.push_back(static_cast<int64_t>(i));
  }
  const auto strides = row_major_strides(src.dims());
  std::vector<int64_t> out_dims = src.dims();
  out_dims[axis] = static_cast<int64_t>(keep.size());
  std::vector<std::vector<int64_t>> offsets(rank);
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis) {
      for (int64_t k : keep) offsets[d].push_back(k * strides[d]);
    } else {
      for (int64_t c = 0; c < out_dims[d]; ++c) offsets[d].push_back(c * strides[d]);
    }
  }
  ctx.set_output(0, gather_copy(ctx, src, out_dims, std::move(offsets)));
}

// ---------------------------------------------------------------------------------------------
// Block copies

// Concat: axis required from opset 4 (defaulted to 1 before); negative axis from 11.
void concat(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.input_count(); ++i)
    if (const Tensor* t = ctx.input(i)) ins.push_back(t);
  if (ins.empty()) ctx.fail("Concat needs at least one input");
  if (ctx.opset() >= 4 && !ctx.has_attr("axis")) ctx.fail("axis attribute is required");
  const Tensor& first = *ins[0];
  const int64_t rank = static_cast<int64_t>(first.dims().size());
  if (rank == 0) ctx.fail("cannot concatenate scalars");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), rank);
  std::vector<int64_t> out_dims = first.dims();
  out_dims[axis] = 0;
  for (const Tensor* t : ins) {
    if (t->dtype() != first.dtype()) ctx.fail("inputs have different dtypes");
    if (static_cast<int64_t>(t->dims().size()) != rank) ctx.fail("inputs have different ranks");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t->dims()[d] != first.dims()[d])
        ctx.fail("input shapes " + dims_text(first.dims()) + " and " + dims_text(t->dims()) + " differ off the axis");
    out_dims[axis] += t->dims()[axis];
  }
  const int64_t outer = product(out_dims, 0, axis);
  const int64_t inner = product(out_dims, axis + 1, rank);
  Tensor out = Tensor::allocate(first.dtype(), out_dims);
  dispatch_move(ctx, first.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* dst = mutable_data_of<T>(out);
    const int64_t out_block = out_dims[axis] * inner;
    int64_t at = 0;  // offset of this input's block within an output block
    for (const Tensor* t : ins) {
      const T* src = data_of<T>(*t);
      const int64_t block = t->dims()[axis] * inner;
      for (int64_t o = 0; o < outer; ++o) std::copy(src + o * block, src + (o + 1) * block, dst + o * out_block + at);
      at += block;
    }
  });
  ctx.set_output(0, std::move(out));
}

// Split: sizes from the `split` attribute (opsets 1-12; opset 1 also accepted it as input 1)
// or input (13+); from 18 `num_outputs` makes ceil(dim / n) chunks with a smaller last one.
// With neither, the axis splits evenly over the outputs.
void split(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  const int64_t dim = x.dims()[axis];
  const int64_t n = static_cast<int64_t>(ctx.output_count());
  std::vector<int64_t> sizes;
  if (ctx.opset() >= 13 || ctx.opset() == 1) {
    if (const Tensor* s = ctx.input(1)) sizes = read_int_list(ctx, *s);
  }
  if (ctx.opset() < 13 && ctx.has_attr("split")) sizes = ctx.attr_ints("split");
  if (!sizes.empty()) {
    if (static_cast<int64_t>(sizes.size()) != n) ctx.fail("split has " + std::to_string(sizes.size()) + " entries for " + std::to_string(n) + " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) ctx.fail("split sizes must be non-negative");
      sum += s;
    }
    if (sum != dim) ctx.fail("split sizes sum to " + std::to_string(sum) + ", axis has " + std::to_string(dim));
  } else {
    if (ctx.opset() >= 18 && ctx.has_attr("num_outputs") && ctx.attr_int("num_outputs", 0) != n)
      ctx.fail("num_outputs does not match the number of outputs");
    if (n <= 0) ctx.fail("Split has no outputs");
    if (ctx.opset() < 18 && dim % n != 0)
      ctx.fail("axis of size " + std::to_string(dim) + " does not split evenly into " + std::to_string(n));
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
    if (chunk * (n - 1) > dim && dim > 0) ctx.fail("axis of size " + std::to_string(dim) + " cannot make " + std::to_string(n) + " chunks");
  }
  const int64_t outer = product(x.dims(), 0, axis);
  const int64_t inner = product(x.dims(), axis + 1, rank);
  dispatch_move(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(x);
    int64_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t block = sizes[i] * inner;
      if (ctx.output_wanted(i)) {
        std::vector<int64_t> dims = x.dims();
        dims[axis] = sizes[i];
        Tensor out = Tensor::allocate(x.dtype(), dims);
        T* dst = mutable_data_of<T>(out);
        for (int64_t o = 0; o < outer; ++o)
          std::copy(src + o * dim * inner + at, src + o * dim * inner + at + block, dst + o * block);
        ctx.set_output(i, std::move(out));
      }
      at += block;
    }
  });
}

// Trilu (opset 14): keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last
// two dims and zeroes the rest.
void trilu(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const size_t rank = x.dims().size();
  if (rank < 2) ctx.fail("input must have rank >= 2");
  const bool upper = ctx.attr_int("upper", 1) != 0;
  const int64_t rows = x.dims()[rank - 2], cols = x.dims()[rank - 1];
  // Diagonals past either corner behave alike; clamping k keeps i + k from overflowing.
  const int64_t k = std::clamp(optional_int_scalar(ctx, 1, 0), -(rows + 1), cols + 1);
  const int64_t mats = product(x.dims(), 0, rank - 2);
  Tensor out = Tensor::allocate(x.dtype(), x.dims());
  dispatch_move(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(x);
    T* dst = mutable_data_of<T>(out);  // allocated as zeros / empty strings
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        // Kept columns: [i + k, cols) for upper, [0, i + k] for lower.
        const int64_t lo = upper ? std::clamp(i + k, int64_t{0}, cols) : 0;
        const int64_t hi = upper ? cols : std::clamp(i + k + 1, int64_t{0}, cols);
        const int64_t row = (m * rows + i) * cols;
        std::copy(src + row + lo, src + row + hi, dst + row + lo);
      }
  });
  ctx.set_output(0, std::move(out));
}

// ReverseSequence (opset 10): per batch entry b, reverses the first sequence_lens[b] steps
// along time_axis; the two axes are 0 and 1 in either order.
void reverse_sequence(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const auto lens = read_int_list(ctx, ctx.required_input(1));
  const size_t rank = x.dims().size();
  if (rank < 2) ctx.fail("input must have rank >= 2");
  const int64_t batch_axis = ctx.attr_int("batch_axis", 1), time_axis = ctx.attr_int("time_axis", 0);
  if (!((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0)))
    ctx.fail("batch_axis and time_axis must be 0 and 1 in some order");
  const int64_t B = x.dims()[batch_axis], Tn = x.dims()[time_axis];
  if (static_cast<int64_t>(lens.size()) != B) ctx.fail("sequence_lens must have one entry per batch element");
  for (int64_t l : lens)
    if (l < 0 || l > Tn) ctx.fail("sequence length " + std::to_string(l) + " is out of range");
  const auto strides = row_major_strides(x.dims());
  const int64_t inner = product(x.dims(), 2, rank);
  Tensor out = Tensor::allocate(x.dtype(), x.dims());
  dispatch_move(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = data_of<T>(x);
    T* dst = mutable_data_of<T>(out);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < Tn; ++t) {
        const int64_t from_t = t < lens[b] ? lens[b] - 1 - t : t;
        const T* s = src + b * strides[batch_axis] + from_t * strides[time_axis];
        std::copy(s, s + inner, dst + b * strides[batch_axis] + t * strides[time_axis]);
      }
  });
  ctx.set_output(0, std::move(out));
}

// NonZero: int64 [rank, count] coordinates of the non-zero elements in row-major order. A
// scalar counts as a 1-element vector (numpy's behaviour).
void nonzero(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  std::vector<int64_t> dims = x.dims();
  if (dims.empty()) dims = {1};
  const size_t rank = dims.size();
  std::vector<int64_t> hits;
  dispatch_dtype(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto v = x.values<T>();
    for (size_t i = 0; i < v.size(); ++i)
      if (!(v[i] == T{})) hits.push_back(static_cast<int64_t>(i));
  });
  const int64_t count = static_cast<int64_t>(hits.size());
  Tensor out = Tensor::allocate(DType::kInt64, {static_cast<int64_t>(rank), count});
  int64_t* o = out.mutable_values<int64_t>();
  for (int64_t j = 0; j < count; ++j) {
    int64_t rem = hits[j];
    for (size_t d = rank; d-- > 0;) {
      o[d * count + j] = rem % dims[d];
      rem /= dims[d];
    }
  }
  ctx.set_output(0, std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Generators

// ConstantOfShape (opset 9): `value` (one element, default float 0) repeated over `shape`.
void constant_of_shape(KernelContext& ctx) {
  const auto shape = read_int_list(ctx, ctx.required_input(0));
  for (int64_t d : shape)
    if (d < 0) ctx.fail("shape has a negative dimension");
  const Tensor* value = ctx.attr_tensor("value");
  if (value != nullptr && value->element_count() != 1) ctx.fail("value must hold exactly one element");
  const DType dtype = value ? value->dtype() : DType::kFloat;
  Tensor out = Tensor::allocate(dtype, shape);
  if (value != nullptr) {
    dispatch_move(ctx, dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = mutable_data_of<T>(out);
      std::fill(dst, dst + out.element_count(), data_of<T>(*value)[0]);
    });
  }
  ctx.set_output(0, std::move(out));
}

// Range (opset 11): max(ceil((limit - start) / delta), 0) values start + i * delta.
void range(KernelContext& ctx) {
  const Tensor& start_t = ctx.required_input(0);
  const Tensor& limit_t = ctx.required_input(1);
  const Tensor& delta_t = ctx.required_input(2);
  const DType dtype = start_t.dtype();
  if (limit_t.dtype() != dtype || delta_t.dtype() != dtype) ctx.fail("start, limit and delta must share a dtype");
  for (const Tensor* t : {&start_t, &limit_t, &delta_t})
    if (t->element_count() != 1) ctx.fail("start, limit and delta must be scalars");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T start = start_t.values<T>()[0], limit = limit_t.values<T>()[0], delta = delta_t.values<T>()[0];
    if (delta == T{0}) ctx.fail("delta cannot be 0");
    int64_t n;
    if constexpr (std::is_integral_v<T>) {
      const int64_t span = static_cast<int64_t>(limit) - static_cast<int64_t>(start);
      const int64_t d = static_cast<int64_t>(delta);
      // Ceiling division that is exact for either sign.
      n = span / d + ((span % d != 0 && ((span < 0) == (d < 0))) ? 1 : 0);
    } else {
      n = static_cast<int64_t>(std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta)));
    }
    n = std::max<int64_t>(n, 0);
    Tensor out = Tensor::allocate(dtype, {n});
    T* o = out.template mutable_values<T>();
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    ctx.set_output(0, std::move(out));
  };
  switch (dtype) {
    case DType::kFloat: run(float{}); break;
    case DType::kDouble: run(double{}); break;
    case DType::kInt16: run(int16_t{}); break;
    case DType::kInt32: run(int32_t{}); break;
    case DType::kInt64: run(int64_t{}); break;
    default: ctx.unsupported("Range of " + std::string(dtype_name(dtype)));
  }
}

// OneHot (opset 9): output[..., j, ...] (j on `axis`) is values[1] where j == indices[...]
// and values[0] elsewhere. Indices in [-depth, -1] wrap; others outside [0, depth) give an
// all-off row (spec). Non-integer indices and depth are truncated to int64.
void one_hot(KernelContext& ctx) {
  const Tensor& indices = ctx.required_input(0);
  const double depth_value = scalar_as_double(ctx, ctx.required_input(1), "depth");
  const Tensor& values = ctx.required_input(2);
  if (values.element_count() != 2) ctx.fail("values must hold [off_value, on_value]");
  const int64_t depth = static_cast<int64_t>(depth_value);
  if (depth < 0) ctx.fail("depth must be non-negative");
  const int64_t rank = static_cast<int64_t>(indices.dims().size());
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < 0) axis += rank + 1;
  if (axis < 0 || axis > rank) ctx.fail("axis is out of range");
  const std::vector<double> idx = read_doubles(ctx, indices);
  std::vector<int64_t> out_dims = indices.dims();
  out_dims.insert(out_dims.begin() + axis, depth);
  const int64_t outer = product(indices.dims(), 0, axis);
  const int64_t inner = product(indices.dims(), axis, rank);
  Tensor out = Tensor::allocate(values.dtype(), out_dims);
  dispatch_move(ctx, values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T off = data_of<T>(values)[0], on = data_of<T>(values)[1];
    T* dst = mutable_data_of<T>(out);
    std::fill(dst, dst + out.element_count(), off);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t j = static_cast<int64_t>(idx[o * inner + i]);
        if (j < 0) j += depth;
        if (j >= 0 && j < depth) dst[(o * depth + j) * inner + i] = on;
      }
  });
  ctx.set_output(0, std::move(out));
}

// EyeLike (opset 9): a 2-D tensor of the input's shape with ones on diagonal k; `dtype`
// overrides the input's dtype.
void eye_like(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  if (x.dims().size() != 2) ctx.fail("input must be 2-D");
  DType dtype = x.dtype();
  if (ctx.has_attr("dtype")) {
    const DTypeInfo* info = find_dtype(static_cast<int32_t>(ctx.attr_int("dtype", 1)));
    if (info == nullptr) ctx.fail("unknown dtype code");
    dtype = info->dtype;
  }
  const int64_t rows = x.dims()[0], cols = x.dims()[1];
  const int64_t k = std::clamp(ctx.attr_int("k", 0), -(rows + 1), cols + 1);  // no overflow in i + k
  Tensor out = Tensor::allocate(dtype, x.dims());
  dispatch_dtype(ctx, dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out.template mutable_values<T>();
    for (int64_t i = 0; i < rows; ++i)
      if (i + k >= 0 && i + k < cols) o[i * cols + i + k] = from_double<T>(1.0);
  });
  ctx.set_output(0, std::move(out));
}

}  // namespace


void register_shape_kernels(KernelRegistry& r) {
  r.add("", "Reshape", reshape);
  r.add("", "Flatten", flatten);
  r.add("", "Squeeze", squeeze);
  r.add("", "Unsqueeze", unsqueeze);
  r.add("", "Shape", shape_op);
  r.add("", "Size", size_op);
  r.add("", "Transpose", transpose);
  r.add("", "Slice", slice);
  r.add("", "Expand", expand, 8);
  r.add("", "Tile", tile);
  r.add("", "Pad", pad);
  r.add("", "DepthToSpace", depth_to_space);
  r.add("", "SpaceToDepth", space_to_depth);
  r.add("", "Compress", compress, 9);
  r.add("", "Concat", concat);
  r.add("", "Split", split);
  r.add("", "Trilu", trilu, 14);
  r.add("", "ReverseSequence", reverse_sequence, 10);
  r.add("", "NonZero", nonzero, 9);
  r.add("", "ConstantOfShape", constant_of_shape, 9);
  r.add("", "Range", range, 11);
  r.add("", "OneHot", one_hot, 9);
  r.add("", "EyeLike", eye_like, 9);
  // Until registry.cc lists these families itself (see the report to the lead).
}

}  // namespace edgeq
