// Spatial geometry shared by the windowed kernels (conv.cc, pool.cc, quantize.cc): spatial dims
// padded in front to three (D, H, W), the ints attributes that describe a window, and the ONNX
// auto_pad / pads / output-size rule along one axis.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace edgeq {

inline constexpr int kMaxSpatial = 3;

using Dims3 = std::array<int64_t, kMaxSpatial>;

// Everything about one convolution's shape, spatial dims padded in front to (D, H, W).
struct ConvGeom {
  int64_t n = 0;       // batch
  int64_t c = 0;       // input channels
  int64_t m = 0;       // output channels
  int64_t groups = 1;
  int nd = 0;          // spatial rank as written in the model
  Dims3 in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0};

  int64_t cg() const { return c / groups; }
  int64_t mg() const { return m / groups; }
  int64_t in_pixels() const { return in[0] * in[1] * in[2]; }
  int64_t out_pixels() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return k[0] * k[1] * k[2]; }
  int64_t dk(int i) const { return (k[i] - 1) * d[i] + 1; }  // dilated kernel extent
  // N x M x spatial output dims.
  std::vector<int64_t> out_dims() const {
    std::vector<int64_t> o{n, m};
    for (int i = kMaxSpatial - nd; i < kMaxSpatial; ++i) o.push_back(out[i]);
    return o;
  }
};

// Reads an ints attribute of exactly `count` entries (or `fallback` repeated when absent).
inline std::vector<int64_t> spatial_attr(const KernelContext& ctx, const std::string& name, size_t count,
                                         int64_t fallback) {
  std::vector<int64_t> v = ctx.attr_ints(name, std::vector<int64_t>(count, fallback));
  if (v.size() != count)
    ctx.fail("attribute '" + name + "' has " + std::to_string(v.size()) + " values, expected " +
             std::to_string(count));
  return v;
}

// Output size and pads along one spatial axis of a window of dilated extent `dk`, per auto_pad:
// SAME_* gives ceil(in / stride) with the needed padding split evenly (the odd unit at the end
// for SAME_UPPER, at the beginning for SAME_LOWER); VALID uses no padding; NOTSET (or "") keeps
// the explicit pads in `pb` / `pe`. Otherwise out = floor((in + pads - dk) / stride) + 1, or
// ceil with `ceil_mode`, where a window that would start inside the end padding is dropped.
inline void resolve_axis(const KernelContext& ctx, const std::string& auto_pad, int64_t in, int64_t dk,
                         int64_t stride, bool ceil_mode, int64_t& pb, int64_t& pe, int64_t& out) {
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (out - 1) * stride + dk - in);
    pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pe = total - pb;
    return;
  }
  if (auto_pad == "VALID") pb = pe = 0;
  else if (auto_pad != "NOTSET" && !auto_pad.empty()) ctx.fail("unknown auto_pad '" + auto_pad + "'");
  const int64_t span = in + pb + pe - dk;
  if (span < 0) ctx.fail("kernel is larger than the padded input");
  out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // Same rule as the reference: a ceil-mode window must start inside the input or left pad.
  if (ceil_mode && (out - 1) * stride >= in + pb) --out;
}

}  // namespace edgeq
