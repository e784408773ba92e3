#include "passes/quantize/quant_common.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "edgeq/error.h"
#include "runtime/thread_pool.h"

namespace edgeq::quantize {

// ---- selectors ----

namespace {

// One line per op: the whole static-quantization policy. Dynamic quantization has its own
// rewrites (quantize_dynamic.cc) but uses the same weight and axis rules.
const OpPolicy kStaticPolicies[] = {
    {"Conv", OutputRule::kOwnRange, {0}, 1, 2},
    {"ConvTranspose", OutputRule::kOwnRange, {0}, 1, 2},
    {"MatMul", OutputRule::kOwnRange, {0, 1}, 1, -1},  // input 1: weight when constant
    {"Gemm", OutputRule::kOwnRange, {0}, 1, 2},
    {"Add", OutputRule::kOwnRange, {-1}, -1, -1},
    {"Mul", OutputRule::kOwnRange, {-1}, -1, -1},
    {"Concat", OutputRule::kOwnRange, {-1}, -1, -1},
    {"AveragePool", OutputRule::kOwnRange, {0}, -1, -1},
    {"GlobalAveragePool", OutputRule::kOwnRange, {0}, -1, -1},
    {"MaxPool", OutputRule::kSharedRange, {0}, -1, -1},
    {"Reshape", OutputRule::kSharedRange, {0}, -1, -1},
    {"Transpose", OutputRule::kSharedRange, {0}, -1, -1},
    {"Squeeze", OutputRule::kSharedRange, {0}, -1, -1},
    {"Unsqueeze", OutputRule::kSharedRange, {0}, -1, -1},
    {"Flatten", OutputRule::kSharedRange, {0}, -1, -1},
    {"Resize", OutputRule::kSharedRange, {0}, -1, -1},
    {"Slice", OutputRule::kSharedRange, {0}, -1, -1},
    {"Relu", OutputRule::kFoldable, {0}, -1, -1},
    {"Clip", OutputRule::kFoldable, {0}, -1, -1},
};

}  // namespace

std::vector<const char*> static_policy_ops() {
  std::vector<const char*> ops;
  for (const OpPolicy& p : kStaticPolicies) ops.push_back(p.op_type);
  return ops;
}

const OpPolicy* static_policy(const std::string& op_type) {
  for (const OpPolicy& p : kStaticPolicies)
    if (op_type == p.op_type) return &p;
  return nullptr;
}

int64_t weight_axis(const Node& node, const Tensor& weight) {
  const auto rank = static_cast<int64_t>(weight.dims().size());
  const std::string& op = node.op_type();
  if (op == "Conv") return rank >= 3 ? 0 : -1;
  // ConvTranspose weights are [C_in, C_out / group, k...]: per output channel only with one group.
  if (op == "ConvTranspose") return rank >= 3 && node.attr_int("group", 1) == 1 ? 1 : -1;
  if (op == "MatMul") return rank == 2 ? 1 : -1;  // per column of B [K, N]
  if (op == "Gemm") return rank == 2 ? (node.attr_int("transB", 0) ? 0 : 1) : -1;
  return -1;
}

bool selected(const Node& node, const QuantizeOptions& options, const std::set<std::string>& mode_ops) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") return false;
  const std::string& op = node.op_type();
  if (!mode_ops.count(op)) return false;
  if (!options.op_types.empty() && !options.op_types.count(op)) return false;
  if (options.exclude_op_types.count(op)) return false;
  if (!node.name().empty() && options.exclude_nodes.count(node.name())) return false;
  return true;
}

// ---- weights ----

const Tensor* float_constant(const Value* v) {
  if (v == nullptr || !v->is_initializer()) return nullptr;
  const Tensor* t = v->initializer();
  return t->dtype() == DType::kFloat ? t : nullptr;
}

quant::QRange weight_range(const WeightSpec& spec) {
  if (spec.is_signed) return spec.reduce_range ? quant::QRange{-63, 63} : quant::QRange{-127, 127};
  return spec.reduce_range ? quant::QRange{0, 127} : quant::QRange{0, 255};
}

struct WeightQuantizer::Spill {
  int fd = -1;
  std::shared_ptr<DataFile> file;
  uint64_t end = 0;
  ~Spill() {
    if (fd >= 0) ::close(fd);
  }
};

WeightQuantizer::WeightQuantizer(const QuantizeOptions& options, PassContext& ctx, QuantizeSummary& summary)
    : options_(options), ctx_(ctx), summary_(summary), pool_(std::make_unique<ThreadPool>(ctx.threads)) {
  if (options.spill_dir.empty()) return;
  // An unlinked scratch file beside the output: quantized weights are written there as they are
  // made and the writer streams them into the output's data file, so memory stays flat.
  std::string path = options.spill_dir + "/.edgeq-quantize-XXXXXX";
  int fd = ::mkstemp(path.data());
  if (fd < 0) throw io_error(options.spill_dir, std::string("cannot create a scratch file: ") + std::strerror(errno));
  spill_ = std::make_unique<Spill>();
  spill_->fd = fd;
  try {
    spill_->file = DataFile::open(path);
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
  ::unlink(path.c_str());
}

WeightQuantizer::~WeightQuantizer() = default;

Tensor WeightQuantizer::store(Tensor t) {
  constexpr uint64_t kSpillMin = 1 << 20;
  if (!spill_ || t.byte_size() < kSpillMin) return t;
  auto bytes = t.bytes();
  const uint64_t offset = (spill_->end + 4095) / 4096 * 4096;
  uint64_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(spill_->fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error(options_.spill_dir, std::string("cannot write the scratch file: ") + std::strerror(errno));
    }
    done += static_cast<uint64_t>(n);
  }
  spill_->end = offset + bytes.size();
  return Tensor(t.dtype(), t.dims(), make_file_storage(FileRegion{spill_->file, offset, bytes.size()}));
}

namespace {

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s + "]";
}

// Round half to even for |v| < 2^22 (the values here are clamped into an 8-bit range first):
// adding and subtracting 1.5 × 2^23 leaves the float rounded to an integer in the default
// rounding mode, the same result as std::nearbyint, and it vectorizes.
inline float round_small(float v) {
  constexpr float kMagic = 12582912.0f;
  return (v + kMagic) - kMagic;
}

// Rows of a ParamLayout: row r = (outer, axis index) holds `inner` consecutive elements that
// share the parameter at axis index r % axis_dim. When inner == 1 (the axis is the last one),
// consecutive elements of a row run have consecutive parameters instead. Both loops below walk
// memory in order and vectorize.
template <class F>
void for_each_row_run(const quant::ParamLayout& l, int64_t row_begin, int64_t row_end, F&& f) {
  if (l.inner == 1) {
    for (int64_t r = row_begin; r < row_end;) {
      const int64_t a = r % l.axis_dim;
      const int64_t n = std::min(row_end - r, l.axis_dim - a);
      f(r, a, n, true);  // elements r .. r+n-1 use parameters a .. a+n-1
      r += n;
    }
  } else {
    for (int64_t r = row_begin; r < row_end; ++r) f(r * l.inner, r % l.axis_dim, l.inner, false);
  }
}

void minmax_rows(const float* x, const quant::ParamLayout& l, int64_t row_begin, int64_t row_end, float* lo,
                 float* hi) {
  for_each_row_run(l, row_begin, row_end, [&](int64_t start, int64_t a, int64_t n, bool per_element) {
    const float* px = x + start;
    if (per_element) {
      float* plo = lo + a;
      float* phi = hi + a;
      for (int64_t k = 0; k < n; ++k) {
        const float v = px[k];  // NaN compares false: skipped
        plo[k] = v < plo[k] ? v : plo[k];
        phi[k] = v > phi[k] ? v : phi[k];
      }
    } else {
      float mn = lo[a], mx = hi[a];
      for (int64_t k = 0; k < n; ++k) {
        const float v = px[k];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
      }
      lo[a] = mn;
      hi[a] = mx;
    }
  });
}

// q = saturate(round(x / scale) + zp): the clamp happens before rounding, on integer bounds
// shifted by the zero point, which gives the same result; NaN becomes the zero point.
template <class Q>
inline Q quantize_one(float x, float scale, float lo_bound, float hi_bound, int32_t zp) {
  float v = x / scale;
  v = v == v ? v : 0.0f;
  v = v < lo_bound ? lo_bound : v;
  v = v > hi_bound ? hi_bound : v;
  return static_cast<Q>(static_cast<int32_t>(round_small(v)) + zp);
}

template <class Q>
void quantize_rows(const float* x, Q* y, const quant::ParamLayout& l, const std::vector<float>& scales,
                   const std::vector<int32_t>& zps, quant::QRange r, int64_t row_begin, int64_t row_end) {
  // Per parameter: the clamp bounds in the unshifted domain.
  std::vector<float> lbs(scales.size()), hbs(scales.size());
  for (size_t p = 0; p < scales.size(); ++p) {
    lbs[p] = static_cast<float>(r.min - zps[p]);
    hbs[p] = static_cast<float>(r.max - zps[p]);
  }
  for_each_row_run(l, row_begin, row_end, [&](int64_t start, int64_t a, int64_t n, bool per_element) {
    const float* __restrict px = x + start;
    Q* __restrict py = y + start;
    if (per_element) {
      const float* __restrict ps = scales.data() + a;
      const float* __restrict pl = lbs.data() + a;
      const float* __restrict ph = hbs.data() + a;
      const int32_t* __restrict pz = zps.data() + a;
      for (int64_t k = 0; k < n; ++k) py[k] = quantize_one<Q>(px[k], ps[k], pl[k], ph[k], pz[k]);
    } else {
      const int32_t zp = zps[a];
      const float s = scales[a], lb = lbs[a], hb = hbs[a];
      for (int64_t k = 0; k < n; ++k) py[k] = quantize_one<Q>(px[k], s, lb, hb, zp);
    }
  });
}

}  // namespace

void WeightQuantizer::record(const Value* w, const Tensor& source, const Tensor& q, uint64_t param_bytes,
                             bool per_channel) {
  QuantizedTensorInfo info;
  info.name = w->name();
  info.shape = source.dims();
  info.before = source.dtype();
  info.after = q.dtype();
  info.bytes_before = source.byte_size();
  info.bytes_after = q.byte_size() + param_bytes;
  info.per_channel = per_channel;
  ctx_.note("quantized " + info.name + " " + dims_text(info.shape) + " " + std::string(dtype_name(info.before)) + " -> " +
            std::string(dtype_name(info.after)) + (per_channel ? " per-channel" : "") + ": " + std::to_string(info.bytes_before) +
            " -> " + std::to_string(info.bytes_after) + " bytes");
  summary_.tensors.push_back(std::move(info));
}

const QuantizedWeight& WeightQuantizer::weight(Graph& graph, Value* w, const WeightSpec& spec) {
  const std::string key = std::to_string(spec.is_signed) + std::to_string(spec.symmetric) +
                          std::to_string(spec.reduce_range) + std::to_string(spec.transpose) + std::to_string(spec.omit_zero_zero_point) + ":" +
                          std::to_string(spec.axis);
  auto cached = cache_.find({w, key});
  if (cached != cache_.end()) return cached->second;

  const Tensor& t = *float_constant(w);
  const auto count = static_cast<int64_t>(t.element_count());
  // Per-tensor is laid out as rows of dims[0] sharing parameter 0, so large tensors still split
  // into chunks of rows.
  quant::ParamLayout layout =
      spec.axis >= 0 ? quant::ParamLayout::per_axis(t.dims(), spec.axis) : quant::ParamLayout::per_tensor(count);
  if (spec.axis < 0 && !t.dims().empty() && t.dims()[0] > 0) layout = {t.dims()[0], 1, count / t.dims()[0], 0};
  const int64_t nparams = layout.param_count();
  const quant::QRange r = weight_range(spec);
  const float* x = t.values<float>().data();

  // Ranges per parameter: chunks of rows reduce into their own min/max, then combine (min and
  // max are exact, so the thread count never shows).
  ThreadPool& pool = *pool_;
  const int64_t rows = layout.outer * layout.axis_dim;
  const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, layout.inner));
  const int64_t chunks = std::max<int64_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
  std::vector<std::vector<float>> lo(chunks), hi(chunks);
  pool.parallel_for(chunks, [&](int64_t c) {
    lo[c].assign(nparams, std::numeric_limits<float>::infinity());
    hi[c].assign(nparams, -std::numeric_limits<float>::infinity());
    minmax_rows(x, layout, c * rows_per_chunk, std::min(rows, (c + 1) * rows_per_chunk), lo[c].data(), hi[c].data());
  });
  std::vector<float> scales(nparams);
  std::vector<int32_t> zps(nparams);
  for (int64_t p = 0; p < nparams; ++p) {
    float mn = 0, mx = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      if (lo[c][p] <= hi[c][p]) {
        mn = std::min(mn, lo[c][p]);
        mx = std::max(mx, hi[c][p]);
      }
    }
    const quant::QParams qp = spec.symmetric ? quant::symmetric_params(mn, mx, r) : quant::asymmetric_params(mn, mx, r);
    scales[p] = qp.scale;
    // s8 symmetric has zero point 0 ([-127, 127] is centered); u8 symmetric 128.
    zps[p] = spec.symmetric && spec.is_signed ? 0 : qp.zero_point;
  }

  const DType qtype = spec.is_signed ? DType::kInt8 : DType::kUint8;
  Tensor q = Tensor::allocate(qtype, t.dims());
  pool.parallel_for(chunks, [&](int64_t c) {
    const int64_t b = c * rows_per_chunk, e = std::min(rows, (c + 1) * rows_per_chunk);
    if (spec.is_signed)
      quantize_rows(x, q.mutable_values<int8_t>(), layout, scales, zps, r, b, e);
    else
      quantize_rows(x, q.mutable_values<uint8_t>(), layout, scales, zps, r, b, e);
  });
  if (spec.transpose) {
    const int64_t rows = t.dims()[0], cols = t.dims()[1];
    Tensor tq = Tensor::allocate(qtype, {cols, rows});
    const auto* src = reinterpret_cast<const uint8_t*>(q.bytes().data());
    auto* dst = tq.mutable_values<uint8_t>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
    q = std::move(tq);
  }
  const bool per_channel = spec.axis >= 0;
  QuantizedWeight out;
  out.axis = spec.axis;
  out.scales = scales;
  const std::string base = w->name();
  Tensor stored = store(std::move(q));
  const bool omit_zp = spec.omit_zero_zero_point && spec.symmetric && spec.is_signed;
  record(w, t, stored, nparams * (omit_zp ? 4 : 5), per_channel);
  out.q = graph.add_initializer(graph.unique_name(base + "_quantized"), std::move(stored));
  renames_.emplace_back(base, out.q);
  out.scale = add_float_initializer(graph, base + "_scale", scales, !per_channel);
  if (!omit_zp) out.zero_point = add_zero_point(graph, base + "_zero_point", qtype, zps, !per_channel);
  return cache_.emplace(std::make_pair(w, key), std::move(out)).first->second;
}

QuantizedWeight WeightQuantizer::bias(Graph& graph, Value* b, float input_scale,
                                      const std::vector<float>& weight_scales) {
  const Tensor& t = *float_constant(b);
  const auto count = static_cast<int64_t>(t.element_count());
  const bool per_channel = weight_scales.size() > 1;
  std::vector<float> scales(weight_scales.size());
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = input_scale * weight_scales[i];
  Tensor q = Tensor::allocate(DType::kInt32, t.dims());
  const float* x = t.values<float>().data();
  int32_t* y = q.mutable_values<int32_t>();
  const quant::QRange r32{std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
  for (int64_t i = 0; i < count; ++i) {
    const float s = scales[per_channel ? static_cast<size_t>(i) : 0];
    y[i] = quant::quantize_value<double>(static_cast<double>(x[i]), static_cast<double>(s), 0, r32);
  }
  QuantizedWeight out;
  out.axis = per_channel ? 0 : -1;
  out.scales = scales;
  record(b, t, q, scales.size() * 8, per_channel);
  out.q = graph.add_initializer(graph.unique_name(b->name() + "_quantized"), store(std::move(q)));
  renames_.emplace_back(b->name(), out.q);
  out.scale = add_float_initializer(graph, b->name() + "_scale", scales, !per_channel);
  out.zero_point = add_zero_point(graph, b->name() + "_zero_point", DType::kInt32,
                                  std::vector<int32_t>(scales.size(), 0), !per_channel);
  return out;
}

QuantizedWeight WeightQuantizer::constant_activation(Graph& graph, Value* c, quant::QParams params, bool is_signed) {
  const Tensor& t = *float_constant(c);
  const auto count = static_cast<int64_t>(t.element_count());
  const DType qtype = is_signed ? DType::kInt8 : DType::kUint8;
  const quant::QRange r = is_signed ? quant::range_of<int8_t>() : quant::range_of<uint8_t>();
  Tensor q = Tensor::allocate(qtype, t.dims());
  const float* x = t.values<float>().data();
  const auto layout = quant::ParamLayout::per_tensor(count);
  const std::vector<float> scales{params.scale};
  const std::vector<int32_t> zps{params.zero_point};
  if (is_signed)
    quantize_rows(x, q.mutable_values<int8_t>(), layout, scales, zps, r, 0, 1);
  else
    quantize_rows(x, q.mutable_values<uint8_t>(), layout, scales, zps, r, 0, 1);
  QuantizedWeight out;
  out.scales = scales;
  record(c, t, q, 5, false);
  out.q = graph.add_initializer(graph.unique_name(c->name() + "_quantized"), store(std::move(q)));
  renames_.emplace_back(c->name(), out.q);
  out.scale = add_float_initializer(graph, c->name() + "_scale", scales, true);
  out.zero_point = add_zero_point(graph, c->name() + "_zero_point", qtype, zps, true);
  return out;
}

void WeightQuantizer::take_original_names() {
  for (auto& [name, q] : renames_) {
    // Several quantized forms of one tensor (shared by ops with different axes): the first wins.
    if (q->graph()->lookup(name) == nullptr) q->graph()->rename_value(q, name);
  }
  renames_.clear();
}

// ---- graph edits ----

Value* add_float_initializer(Graph& g, const std::string& base, const std::vector<float>& values, bool scalar) {
  std::vector<int64_t> dims;
  if (!scalar) dims.push_back(static_cast<int64_t>(values.size()));
  return g.add_initializer(g.unique_name(base),
                           Tensor::from_values<float>(DType::kFloat, dims, std::span<const float>(values)));
}

Value* add_zero_point(Graph& g, const std::string& base, DType type, const std::vector<int32_t>& values, bool scalar) {
  std::vector<int64_t> dims;
  if (!scalar) dims.push_back(static_cast<int64_t>(values.size()));
  Tensor t = Tensor::allocate(type, dims);
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == DType::kInt8)
      t.mutable_values<int8_t>()[i] = static_cast<int8_t>(values[i]);
    else if (type == DType::kUint8)
      t.mutable_values<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
    else
      t.mutable_values<int32_t>()[i] = values[i];
  }
  return g.add_initializer(g.unique_name(base), std::move(t));
}

Value* take_over(Graph& g, Value* out) {
  const std::string name = out->name();
  g.rename_value(out, g.unique_name(name + "_replaced"));
  Value* fresh = g.add_value(name);
  fresh->info = out->info;
  const auto& infos = g.value_infos();
  if (std::find(infos.begin(), infos.end(), out) != infos.end()) g.add_value_info(fresh);
  return fresh;
}

void finish_take_over(Graph& g, Node* old_node, Value* old_out, Value* fresh) {
  old_out->replace_all_uses_with(fresh);
  g.remove_node(old_node);
}

DType known_dtype(const Value* v) {
  if (v == nullptr) return DType::kUndefined;
  if (v->is_initializer()) return v->initializer()->dtype();
  if (v->info.tensor) return v->info.tensor->elem;
  return DType::kUndefined;
}

void ensure_opset(Model& model, const std::string& domain, int64_t version) {
  for (auto& imp : model.opset_imports)
    if (imp.domain == domain) {
      imp.version = std::max(imp.version, version);
      return;
    }
  model.opset_imports.push_back({domain, version});
}

}  // namespace edgeq::quantize

namespace edgeq {

const std::set<std::string>& static_op_types() {
  static const std::set<std::string> kOps = [] {
    std::set<std::string> ops;
    for (const char* op : quantize::static_policy_ops()) ops.insert(op);
    return ops;
  }();
  return kOps;
}

const std::set<std::string>& dynamic_op_types() {
  static const std::set<std::string> kOps = {"MatMul", "Gemm", "Conv", "ConvTranspose", "Gather",
                                                 "LSTM", "GRU", "RNN"};
  return kOps;
}

}  // namespace edgeq
