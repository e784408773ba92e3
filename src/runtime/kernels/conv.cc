// conv.cc: Conv and ConvTranspose (1D, 2D and 3D; groups, dilations, strides, pads, auto_pad).
//
// Conv is im2col + GEMM: for every (batch, group) the output block Y_g (M/G x out_pixels) is
// W_g (M/G x C/G*K) times the column matrix (C/G*K x out_pixels) gathered from the input. Work is
// split into chunks of (batch, group, block of output pixels, block of output channels) whose
// sizes come from the shape alone. Each chunk builds its own slice of the column matrix in a
// scratch buffer and calls Eigen's single-threaded GEMM on it; when output channels are split
// too (small, deep feature maps) the slices are gathered once in a first pass and shared.
// Depthwise convolutions (one input channel per group) skip the GEMM and run a direct stencil
// loop instead. 1x1 convolutions with stride 1 and no padding use the input itself as the
// column matrix.
//
// ConvTranspose is the adjoint: cols (M/G*K x in_pixels) = W_g^T * X_g, then col2im scatters
// (adds) every column entry into the output pixel it lands on. Chunks split output channels so
// that no two chunks write the same output element.
//
// Spatial shapes are padded in front to three dims (D, H, W) so that one code path serves 1D, 2D
// and 3D. float16/bfloat16 are computed in float and rounded once at the end.
#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "runtime/kernels/conv_geometry.h"
#include "runtime/kernel.h"

namespace edgeq {

namespace {

template <class S>
using RowMat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using ConstMap = Eigen::Map<const RowMat<S>, 0, Eigen::OuterStride<>>;
template <class S>
using MutMap = Eigen::Map<RowMat<S>, 0, Eigen::OuterStride<>>;


// [lo, hi): the output positions o in [0, out) whose input coordinate o*stride + offset falls
// inside [0, size). Used by the direct loops to split each row into a padded and a valid part.
inline void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  lo = std::min(lo, out);
  hi = std::min(hi, out);
  if (hi < lo) hi = lo;
}

// Validates X and W against the attributes and fills the shared parts of the geometry (batch,
// channels, kernel, strides, dilations, explicit pads). `w_out_axis` is the axis of W that holds
// output channels per group: 0 for Conv (M x C/G x k), 1 for ConvTranspose (C x M/G x k).
ConvGeom base_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w, bool transpose) {
  const auto& xd = x.dims();
  const auto& wd = w.dims();
  if (xd.size() < 3) ctx.fail("input X must have rank >= 3 (N x C x spatial...)");
  if (wd.size() != xd.size()) ctx.fail("W must have the same rank as X");
  ConvGeom g;
  g.nd = static_cast<int>(xd.size()) - 2;
  if (g.nd > kMaxSpatial) ctx.unsupported("convolutions with more than 3 spatial dims");
  g.n = xd[0];
  g.c = xd[1];
  g.groups = ctx.attr_int("group", 1);
  if (g.groups <= 0) ctx.fail("group must be positive");
  if (g.c % g.groups != 0) ctx.fail("input channels are not divisible by group");
  if (!transpose) {
    g.m = wd[0];
    if (wd[1] != g.cg())
      ctx.fail("W has " + std::to_string(wd[1]) + " input channels per group, expected " +
               std::to_string(g.cg()));
    if (g.m % g.groups != 0) ctx.fail("output channels are not divisible by group");
  } else {
    if (wd[0] != g.c) ctx.fail("W's first dim must equal X's channel count");
    g.m = wd[1] * g.groups;
  }
  const size_t nd = static_cast<size_t>(g.nd);
  const int off = kMaxSpatial - g.nd;
  std::vector<int64_t> kshape(wd.begin() + 2, wd.end());
  if (ctx.has_attr("kernel_shape")) {
    std::vector<int64_t> ks = ctx.attr_ints("kernel_shape");
    if (ks != kshape) ctx.fail("kernel_shape does not match W's spatial dims");
  }
  auto strides = spatial_attr(ctx, "strides", nd, 1);
  auto dilations = spatial_attr(ctx, "dilations", nd, 1);
  auto pads = spatial_attr(ctx, "pads", 2 * nd, 0);
  for (size_t i = 0; i < nd; ++i) {
    g.in[off + i] = xd[2 + i];
    g.k[off + i] = kshape[i];
    g.s[off + i] = strides[i];
    g.d[off + i] = dilations[i];
    g.pb[off + i] = pads[i];
    g.pe[off + i] = pads[nd + i];
    if (strides[i] <= 0 || dilations[i] <= 0) ctx.fail("strides and dilations must be positive");
    if (kshape[i] <= 0) ctx.fail("kernel dims must be positive");
  }
  return g;
}

ConvGeom conv_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  ConvGeom g = base_geometry(ctx, x, w, false);
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  for (int i = kMaxSpatial - g.nd; i < kMaxSpatial; ++i)
    resolve_axis(ctx, auto_pad, g.in[i], g.dk(i), g.s[i], false, g.pb[i], g.pe[i], g.out[i]);
  return g;
}

// ---- Conv ----

// Depthwise: one input channel per group, so each output channel is a small 2D stencil over
// one input plane (D == 1 here). Chunks are (batch, output channel, block of output rows).
// Every tap becomes a contiguous multiply-add over a row segment: with a column stride > 1 the
// needed input rows are first split into `stride` phases (phase r holds x[j*stride + r]), so
// that x[ow*stride + off] is phase[(off mod stride)][ow + floor(off / stride)].
template <class S>
void conv_depthwise(ThreadPool& pool, const ConvGeom& g, const S* x, const S* w, const S* b, S* y) {
  const int64_t ih_n = g.in[1], iw_n = g.in[2], oh_n = g.out[1], ow_n = g.out[2];
  const int64_t kh_n = g.k[1], kw_n = g.k[2];
  const int64_t sh = g.s[1], sw = g.s[2], dh = g.d[1], dw = g.d[2];
  const int64_t mg = g.mg();
  // About 4K outputs per chunk keeps the rows being accumulated in L1.
  const int64_t rows_per_chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, ow_n));
  const int64_t row_blocks = (oh_n + rows_per_chunk - 1) / rows_per_chunk;
  const int64_t chunks = g.n * g.m * row_blocks;
  const int64_t phase_len = (iw_n + sw - 1) / sw;  // elements per phase of a split row
  // Per tap column kw: the output columns [lo, hi) it reaches, its phase and shift.
  std::vector<int64_t> lo(kw_n), hi(kw_n), phase(kw_n), shift(kw_n);
  for (int64_t kw = 0; kw < kw_n; ++kw) {
    const int64_t off = kw * dw - g.pb[2];
    valid_range(off, sw, iw_n, ow_n, lo[kw], hi[kw]);
    phase[kw] = ((off % sw) + sw) % sw;
    shift[kw] = (off - phase[kw]) / sw;
  }

  pool.parallel_for(chunks, [&](int64_t chunk) {
    const int64_t rb = chunk % row_blocks;
    const int64_t nm = chunk / row_blocks;
    const int64_t mo = nm % g.m, n = nm / g.m;
    const int64_t ci = mo / mg;  // the one input channel of this output channel's group
    const S* xc = x + (n * g.c + ci) * ih_n * iw_n;
    S* yc = y + (n * g.m + mo) * oh_n * ow_n;
    const S* wm = w + mo * kh_n * kw_n;
    const int64_t oh0 = rb * rows_per_chunk, oh1 = std::min(oh_n, oh0 + rows_per_chunk);
    // Input rows this block reads, split into phases when the column stride is > 1.
    const int64_t ih_lo = std::max<int64_t>(0, oh0 * sh - g.pb[1]);
    const int64_t ih_hi = std::min(ih_n, (oh1 - 1) * sh + (kh_n - 1) * dh - g.pb[1] + 1);
    std::unique_ptr<S[]> split;
    if (sw > 1 && ih_hi > ih_lo) {
      split.reset(new S[static_cast<size_t>((ih_hi - ih_lo) * sw * phase_len)]);
      for (int64_t ih = ih_lo; ih < ih_hi; ++ih) {
        const S* src = xc + ih * iw_n;
        S* dst = split.get() + (ih - ih_lo) * sw * phase_len;
        if (sw == 2) {  // the common case, with a constant stride the compiler vectorizes
          S* even = dst;
          S* odd = dst + phase_len;
          const int64_t pairs = iw_n / 2;
          for (int64_t q = 0; q < pairs; ++q) {
            even[q] = src[2 * q];
            odd[q] = src[2 * q + 1];
          }
          if (iw_n % 2) even[pairs] = src[iw_n - 1];
        } else {
          for (int64_t p = 0; p < sw; ++p)
            for (int64_t q = 0; q * sw + p < iw_n; ++q) dst[p * phase_len + q] = src[q * sw + p];
        }
      }
    }
    // Start of phase p of input row ih (for stride 1: the row itself).
    auto row_phase = [&](int64_t ih, int64_t p) -> const S* {
      if (sw == 1) return xc + ih * iw_n;
      return split.get() + ((ih - ih_lo) * sw + p) * phase_len;
    };
    const S bias = b ? b[mo] : S(0);
    std::fill(yc + oh0 * ow_n, yc + oh1 * ow_n, bias);
    // Tap by tap over the whole row block: each pass is a plain multiply-add over contiguous
    // row segments, which the compiler vectorizes (the block stays in L1 across the taps).
    for (int64_t kh = 0; kh < kh_n; ++kh) {
      for (int64_t kw = 0; kw < kw_n; ++kw) {
        const S wv = wm[kh * kw_n + kw];
        const int64_t l = lo[kw], h = hi[kw], sft = shift[kw], ph = phase[kw];
        if (l >= h) continue;
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const int64_t ih = oh * sh + kh * dh - g.pb[1];
          if (ih < 0 || ih >= ih_n) continue;
          const S* src = row_phase(ih, ph) + (l + sft);  // inside the row: l is a valid column
          S* yr = yc + oh * ow_n + l;
          for (int64_t i = 0; i < h - l; ++i) yr[i] += wv * src[i];
        }
      }
    }
  });
}

// Fills rows (c, kd, kh, kw) x columns [p0, p1) of the column matrix for one (batch, group).
// `col` is row-major with row stride p1 - p0; padded taps become zeros.
template <class S>
void im2col(const ConvGeom& g, const S* xg, int64_t p0, int64_t p1, S* col) {
  const int64_t width = p1 - p0;
  const int64_t in_plane = g.in_pixels();
  int64_t row = 0;
  for (int64_t c = 0; c < g.cg(); ++c) {
    const S* xc = xg + c * in_plane;
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, ++row) {
          S* dst = col + row * width;
          const int64_t woff = kw * g.d[2] - g.pb[2];
          int64_t lo, hi;
          valid_range(woff, g.s[2], g.in[2], g.out[2], lo, hi);
          // Walk the block one output row (fixed od, oh) at a time.
          int64_t p = p0;
          int64_t ow = p % g.out[2];
          int64_t oh = (p / g.out[2]) % g.out[1];
          int64_t od = p / (g.out[2] * g.out[1]);
          while (p < p1) {
            const int64_t seg_end = std::min(g.out[2], ow + (p1 - p));  // exclusive, in ow units
            const int64_t id = od * g.s[0] + kd * g.d[0] - g.pb[0];
            const int64_t ih = oh * g.s[1] + kh * g.d[1] - g.pb[1];
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
              std::fill(dst, dst + (seg_end - ow), S(0));
            } else {
              // Output columns [ow, seg_end) go to dst[0, seg_end - ow): zeros where the tap
              // is in the padding, input values in [a, z).
              const S* xr = xc + (id * g.in[1] + ih) * g.in[2];
              const int64_t a = std::clamp(lo, ow, seg_end), z = std::clamp(hi, a, seg_end);
              std::fill(dst, dst + (a - ow), S(0));
              if (g.s[2] == 1) {
                std::copy(xr + (a + woff), xr + (z + woff), dst + (a - ow));
              } else if (g.s[2] == 2) {  // constant stride: vectorizable
                for (int64_t q = a; q < z; ++q) dst[q - ow] = xr[2 * q + woff];
              } else {
                const int64_t sw = g.s[2];
                for (int64_t q = a; q < z; ++q) dst[q - ow] = xr[q * sw + woff];
              }
              std::fill(dst + (z - ow), dst + (seg_end - ow), S(0));
            }
            dst += seg_end - ow;
            p += seg_end - ow;
            ow = 0;
            if (++oh == g.out[1]) {
              oh = 0;
              ++od;
            }
          }
        }
  }
}

template <class S>
void conv_gemm(ThreadPool& pool, const ConvGeom& g, const S* x, const S* w, const S* b, S* y) {
  const int64_t cgk = g.cg() * g.kernel_size();
  const int64_t mg = g.mg();
  const int64_t out_px = g.out_pixels();
  const int64_t in_px = g.in_pixels();
  const bool pointwise = g.kernel_size() == 1 && g.s == Dims3{1, 1, 1} &&
                         g.pb == Dims3{0, 0, 0} && g.pe == Dims3{0, 0, 0};
  // Pixel blocks hold about 128K scalars of the column matrix (stays in L2). The block width
  // is a multiple of 48 because Eigen's GEMM tiles the pixel dimension in steps of 48 (3 AVX-512
  // float registers; also a multiple of the AVX2 and double tile sizes), so no block ends on a
  // slow partial tile. Sizes depend only on the shape.
  constexpr int64_t kColTarget = int64_t{1} << 17;
  constexpr int64_t kTile = 48;
  int64_t block = std::max<int64_t>(kTile, kColTarget / std::max<int64_t>(1, cgk) / kTile * kTile);
  block = std::min(block, out_px);
  const int64_t col_blocks = (out_px + block - 1) / block;
  // Few pixel blocks (small, deep feature maps): also split output channels, in blocks of at
  // least 32, so that every core gets work.
  const int64_t base_chunks = g.n * g.groups * col_blocks;
  int64_t row_blocks = 1;
  if (base_chunks < 8)
    row_blocks = std::clamp<int64_t>((8 + base_chunks - 1) / base_chunks, 1, std::max<int64_t>(1, mg / 32));
  const int64_t rows_per_block = (mg + row_blocks - 1) / row_blocks;
  row_blocks = (mg + rows_per_block - 1) / rows_per_block;

  // Decodes a base chunk index into (batch, group, pixel range).
  struct Base {
    int64_t n, grp, p0, p1;
  };
  auto decode = [&](int64_t base) {
    const int64_t cb = base % col_blocks;
    const int64_t grp = (base / col_blocks) % g.groups;
    const int64_t n = base / (col_blocks * g.groups);
    return Base{n, grp, cb * block, std::min(out_px, cb * block + block)};
  };
  auto gemm = [&](const Base& bc, int64_t m0, int64_t m1, const S* col, int64_t col_stride) {
    ConstMap<S> wmat(w + (bc.grp * mg + m0) * cgk, m1 - m0, cgk, Eigen::OuterStride<>(cgk));
    ConstMap<S> cmat(col, cgk, bc.p1 - bc.p0, Eigen::OuterStride<>(col_stride));
    S* yblk = y + (bc.n * g.m + bc.grp * mg + m0) * out_px + bc.p0;
    MutMap<S> ymat(yblk, m1 - m0, bc.p1 - bc.p0, Eigen::OuterStride<>(out_px));
    ymat.noalias() = wmat * cmat;
    if (b) {
      for (int64_t r = 0; r < m1 - m0; ++r) ymat.row(r).array() += b[bc.grp * mg + m0 + r];
    }
  };
  auto x_group = [&](const Base& bc) { return x + (bc.n * g.c + bc.grp * g.cg()) * in_px; };

  if (pointwise) {
    // The input itself is the column matrix (C/G x pixels, row stride = pixels).
    pool.parallel_for(base_chunks * row_blocks, [&](int64_t chunk) {
      const Base bc = decode(chunk / row_blocks);
      const int64_t m0 = (chunk % row_blocks) * rows_per_block, m1 = std::min(mg, m0 + rows_per_block);
      gemm(bc, m0, m1, x_group(bc) + bc.p0, in_px);
    });
  } else if (row_blocks == 1) {
    // One pass: each chunk gathers its column slice into its own scratch, then multiplies.
    pool.parallel_for(base_chunks, [&](int64_t chunk) {
      const Base bc = decode(chunk);
      std::unique_ptr<S[]> col(new S[static_cast<size_t>(cgk * (bc.p1 - bc.p0))]);
      im2col(g, x_group(bc), bc.p0, bc.p1, col.get());
      gemm(bc, 0, mg, col.get(), bc.p1 - bc.p0);
    });
  } else {
    // Two passes (there are fewer than 8 column slices here): gather every slice once, then
    // let the output-channel blocks share them.
    const int64_t slot = cgk * block;
    std::unique_ptr<S[]> cols(new S[static_cast<size_t>(base_chunks * slot)]);
    pool.parallel_for(base_chunks, [&](int64_t chunk) {
      const Base bc = decode(chunk);
      im2col(g, x_group(bc), bc.p0, bc.p1, cols.get() + chunk * slot);
    });
    pool.parallel_for(base_chunks * row_blocks, [&](int64_t chunk) {
      const int64_t base = chunk / row_blocks;
      const Base bc = decode(base);
      const int64_t m0 = (chunk % row_blocks) * rows_per_block, m1 = std::min(mg, m0 + rows_per_block);
      gemm(bc, m0, m1, cols.get() + base * slot, bc.p1 - bc.p0);
    });
  }
}

template <class S>
void conv_compute(ThreadPool& pool, const ConvGeom& g, const S* x, const S* w, const S* b, S* y) {
  if (g.n == 0 || g.m == 0 || g.out_pixels() == 0) return;
  if (g.cg() == 1 && g.k[0] == 1 && g.in[0] == 1 && g.out[0] == 1)
    conv_depthwise(pool, g, x, w, b, y);
  else
    conv_gemm(pool, g, x, w, b, y);
}

// Copies a tensor's values into float (for float16 / bfloat16 computation).
template <class T>
std::vector<float> to_float(const Tensor& t) {
  auto v = t.values<T>();
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

// Runs `compute(x, w, b, y)` in the compute precision of the dtype: float and double natively,
// float16/bfloat16 through float copies.
template <class Compute>
void run_float_kernel(KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* b,
                      std::vector<int64_t> out_dims, Compute&& compute) {
  if (w.dtype() != x.dtype() || (b && b->dtype() != x.dtype())) ctx.fail("X, W and B must have the same dtype");
  Tensor y = Tensor::allocate(x.dtype(), out_dims);
  auto native = [&](auto tag) {
    using S = decltype(tag);
    compute(x.values<S>().data(), w.values<S>().data(), b ? b->values<S>().data() : nullptr,
            y.mutable_values<S>());
  };
  auto widened = [&](auto tag) {
    using T = decltype(tag);
    std::vector<float> xf = to_float<T>(x), wf = to_float<T>(w), bf;
    if (b) bf = to_float<T>(*b);
    std::vector<float> yf(static_cast<size_t>(y.element_count()));
    compute(xf.data(), wf.data(), b ? bf.data() : nullptr, yf.data());
    T* out = y.mutable_values<T>();
    for (size_t i = 0; i < yf.size(); ++i) out[i] = static_cast<T>(yf[i]);
  };
  switch (x.dtype()) {
    case DType::kFloat: native(float{}); break;
    case DType::kDouble: native(double{}); break;
    case DType::kFloat16: widened(Eigen::half{}); break;
    case DType::kBfloat16: widened(Eigen::bfloat16{}); break;
    default: ctx.unsupported("dtype " + std::string(dtype_name(x.dtype())) + " (Conv takes float types)");
  }
  ctx.set_output(0, std::move(y));
}

void conv(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& w = ctx.required_input(1);
  const Tensor* b = ctx.input(2);
  ConvGeom g = conv_geometry(ctx, x, w);
  if (b && (b->dims().size() != 1 || b->dims()[0] != g.m)) ctx.fail("B must be a 1D tensor of M values");
  run_float_kernel(ctx, x, w, b, g.out_dims(), [&](const auto* xp, const auto* wp, const auto* bp, auto* yp) {
    conv_compute(ctx.pool(), g, xp, wp, bp, yp);
  });
}

// ---- ConvTranspose ----

ConvGeom conv_transpose_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  ConvGeom g = base_geometry(ctx, x, w, true);
  const size_t nd = static_cast<size_t>(g.nd);
  const int off = kMaxSpatial - g.nd;
  auto out_pad = spatial_attr(ctx, "output_padding", nd, 0);
  std::vector<int64_t> out_shape = ctx.attr_ints("output_shape");
  // output_shape lists the spatial dims; accept the full N x C x ... form too.
  if (out_shape.size() == nd + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != nd) ctx.fail("output_shape has the wrong length");
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  if (!same && auto_pad != "VALID" && auto_pad != "NOTSET" && !auto_pad.empty())
    ctx.fail("unknown auto_pad '" + auto_pad + "'");
  for (size_t j = 0; j < nd; ++j) {
    const int i = off + static_cast<int>(j);
    // Full (unpadded) extent of the transposed convolution along this axis.
    const int64_t full = g.s[i] * (g.in[i] - 1) + out_pad[j] + g.dk(i);
    if (!out_shape.empty() || same) {
      // Spec: total_padding = full - output_shape, split with the odd unit at the end for
      // SAME_UPPER and at the beginning otherwise. Without output_shape, SAME_* targets
      // output = input * stride.
      // An output larger than the full extent gets no negative padding: the extra
      // elements are zeros at the end (as in the backend test data and ONNX Runtime).
      const int64_t target = !out_shape.empty() ? out_shape[j] : g.in[i] * g.s[i];
      const int64_t total = std::max<int64_t>(0, full - target);
      if (auto_pad == "SAME_UPPER") {
        g.pb[i] = total / 2;
        g.pe[i] = total - total / 2;
      } else {
        g.pb[i] = total - total / 2;
        g.pe[i] = total / 2;
      }
      g.out[i] = target;
    } else {
      if (auto_pad == "VALID") g.pb[i] = g.pe[i] = 0;
      g.out[i] = full - g.pb[i] - g.pe[i];
    }
    if (g.out[i] < 0) ctx.fail("ConvTranspose output dim would be negative");
  }
  return g;
}

template <class S>
void conv_transpose_compute(ThreadPool& pool, const ConvGeom& g, const S* x, const S* w, const S* b,
                            S* y) {
  if (g.n == 0 || g.m == 0 || g.out_pixels() == 0) return;
  const int64_t ks = g.kernel_size();
  const int64_t mg = g.mg(), cg = g.cg();
  const int64_t in_px = g.in_pixels(), out_px = g.out_pixels();
  // Output channels per chunk: the cols slice (rows * K x in_px) stays around 256K scalars.
  constexpr int64_t kColTarget = int64_t{1} << 18;
  const int64_t per_channel = std::max<int64_t>(1, ks * in_px);
  const int64_t rows_per_block = std::clamp<int64_t>(kColTarget / per_channel, 1, mg);
  const int64_t row_blocks = (mg + rows_per_block - 1) / rows_per_block;
  const int64_t chunks = g.n * g.groups * row_blocks;
  pool.parallel_for(chunks, [&](int64_t chunk) {
    const int64_t rb = chunk % row_blocks;
    const int64_t grp = (chunk / row_blocks) % g.groups;
    const int64_t n = chunk / (row_blocks * g.groups);
    const int64_t m0 = rb * rows_per_block, m1 = std::min(mg, m0 + rows_per_block);
    const int64_t rows = (m1 - m0) * ks;
    std::unique_ptr<S[]> cols(new S[static_cast<size_t>(rows * in_px)]);
    // W_g is (C/G) x (M/G * K) row-major; the slice for channels [m0, m1) is its columns
    // [m0*K, m1*K), and cols = slice^T * X_g.
    ConstMap<S> wmat(w + grp * cg * mg * ks + m0 * ks, cg, rows, Eigen::OuterStride<>(mg * ks));
    ConstMap<S> xmat(x + (n * g.c + grp * cg) * in_px, cg, in_px, Eigen::OuterStride<>(in_px));
    MutMap<S> cmat(cols.get(), rows, in_px, Eigen::OuterStride<>(in_px));
    cmat.noalias() = wmat.transpose() * xmat;
    // col2im: input pixel (id, ih, iw) with tap (kd, kh, kw) lands on output
    // (id*s + kd*d - pad_begin, ...) when that is inside the output.
    for (int64_t mo = m0; mo < m1; ++mo) {
      const int64_t mabs = grp * mg + mo;
      S* yc = y + (n * g.m + mabs) * out_px;
      std::fill(yc, yc + out_px, b ? b[mabs] : S(0));
      const S* crow = cols.get() + (mo - m0) * ks * in_px;
      for (int64_t kd = 0; kd < g.k[0]; ++kd)
        for (int64_t kh = 0; kh < g.k[1]; ++kh)
          for (int64_t kw = 0; kw < g.k[2]; ++kw, crow += in_px) {
            // Input columns iw whose output column iw*s + kw*d - pb is inside [0, out).
            const int64_t woff = kw * g.d[2] - g.pb[2];
            int64_t lo, hi;
            valid_range(woff, g.s[2], g.out[2], g.in[2], lo, hi);
            if (lo >= hi) continue;
            for (int64_t id = 0; id < g.in[0]; ++id) {
              const int64_t od = id * g.s[0] + kd * g.d[0] - g.pb[0];
              if (od < 0 || od >= g.out[0]) continue;
              for (int64_t ih = 0; ih < g.in[1]; ++ih) {
                const int64_t oh = ih * g.s[1] + kh * g.d[1] - g.pb[1];
                if (oh < 0 || oh >= g.out[1]) continue;
                const S* src = crow + (id * g.in[1] + ih) * g.in[2];
                S* dst = yc + (od * g.out[1] + oh) * g.out[2];
                for (int64_t iw = lo; iw < hi; ++iw) dst[iw * g.s[2] + woff] += src[iw];
              }
            }
          }
    }
  });
}

void conv_transpose(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const Tensor& w = ctx.required_input(1);
  const Tensor* b = ctx.input(2);
  ConvGeom g = conv_transpose_geometry(ctx, x, w);
  if (b && (b->dims().size() != 1 || b->dims()[0] != g.m)) ctx.fail("B must be a 1D tensor of M values");
  run_float_kernel(ctx, x, w, b, g.out_dims(), [&](const auto* xp, const auto* wp, const auto* bp, auto* yp) {
    conv_transpose_compute(ctx.pool(), g, xp, wp, bp, yp);
  });
}

}  // namespace

void register_conv_kernels(KernelRegistry& r) {
  // Conv and ConvTranspose changed only in their type lists (opset 11: auto_pad/pads wording,
  // 22: bfloat16), so one kernel covers every version.
  r.add("", "Conv", conv);
  r.add("", "ConvTranspose", conv_transpose);
}

}  // namespace edgeq
