// control_flow.cc: If, Loop, Scan (opset 8 and 9+), and the optional-value ops Optional,
// OptionalHasElement, OptionalGetElement.
//
// Subgraphs run through ctx.run_subgraph, which binds the body's formal inputs in order and
// resolves outer-scope names through the executor's frames, so a body sees every value of its
// enclosing graphs. Iterations run one after another (each may depend on the previous one);
// parallelism lives inside the body's own kernels.
#include <algorithm>

#include "runtime/kernel.h"
#include "runtime/kernels/shape_common.h"

namespace edgeq {

namespace {

// Names scan/loop outputs in the message about unsupported sub-byte dtypes.
constexpr const char* kWhere = "a scan/loop output";

// The sub-tensor t<axis>[index]: rank one less than t.
Tensor take_along(const KernelContext& ctx, const Tensor& t, int64_t axis, int64_t index) {
  return slice_axis(ctx, t, axis, index, 1, true, kWhere);
}

// Stacks equally shaped tensors along a new axis `axis`; items[k] lands at position k.
// `fallback` gives dtype and element shape when there are no items.
Tensor stack_along(const KernelContext& ctx, const std::vector<Tensor>& items, int64_t axis, DType fallback_dtype,
                   const std::vector<int64_t>& fallback_dims) {
  const DType dtype = items.empty() ? fallback_dtype : items[0].dtype();
  const std::vector<int64_t> elem = items.empty() ? fallback_dims : items[0].dims();
  for (const Tensor& t : items)
    if (t.dtype() != dtype || t.dims() != elem)
      ctx.fail("scan/loop output changed from " + std::string(dtype_name(dtype)) + dims_text(elem) + " to " +
               std::string(dtype_name(t.dtype())) + dims_text(t.dims()) + " between iterations");
  const int64_t n = static_cast<int64_t>(items.size());
  std::vector<int64_t> dims = elem;
  dims.insert(dims.begin() + axis, n);
  Tensor out = Tensor::allocate(dtype, dims);
  if (n == 0) return out;
  const size_t esize = element_bytes(ctx, dtype, kWhere);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= elem[i];
  for (size_t i = axis; i < elem.size(); ++i) inner *= elem[i];
  concat_blocks(items, std::vector<int64_t>(items.size(), 1), outer, inner, out, esize);
  return out;
}

// What a subgraph output declares about itself, for scan outputs of zero iterations: its dtype
// and its shape with unknown dims taken as 0.
std::pair<DType, std::vector<int64_t>> declared_type(const Value& v) {
  std::vector<int64_t> dims;
  DType dtype = DType::kFloat;
  if (v.info.tensor) {
    if (v.info.tensor->elem != DType::kUndefined) dtype = v.info.tensor->elem;
    if (v.info.tensor->shape)
      for (const Dim& d : *v.info.tensor->shape) dims.push_back(d.value.value_or(0));
  }
  return {dtype, dims};
}

bool read_bool(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.element_count() != 1) ctx.fail(std::string(what) + " must hold one element, got shape " + dims_text(t.dims()));
  switch (t.dtype()) {
    case DType::kBool:
    case DType::kUint8:
    case DType::kInt8: return t.bytes()[0] != std::byte{0};
    default: {
      auto v = read_int_list(ctx, t);
      return v[0] != 0;
    }
  }
}

Tensor bool_scalar(bool b) {
  Tensor t = Tensor::allocate(DType::kBool, {});
  t.mutable_values<bool>()[0] = b;
  return t;
}

Tensor int64_scalar(int64_t v) {
  Tensor t = Tensor::allocate(DType::kInt64, {});
  t.mutable_values<int64_t>()[0] = v;
  return t;
}

const Graph& required_graph(const KernelContext& ctx, const char* name) {
  const Graph* g = ctx.attr_graph(name);
  if (g == nullptr) ctx.fail(std::string("missing graph attribute '") + name + "'");
  return *g;
}

// ---- If ----

void if_op(KernelContext& ctx) {
  const Tensor* cond = ctx.input(0);
  if (cond == nullptr) ctx.fail("cond is required");
  const bool taken = read_bool(ctx, *cond, "cond");
  const Graph& branch = required_graph(ctx, taken ? "then_branch" : "else_branch");
  std::vector<RtValue> results = ctx.run_subgraph(branch, {});
  if (results.size() < ctx.output_count())
    ctx.fail(std::string(taken ? "then_branch" : "else_branch") + " yields " + std::to_string(results.size()) +
             " outputs, the node has " + std::to_string(ctx.output_count()));
  for (size_t i = 0; i < ctx.output_count(); ++i) ctx.set_output_value(i, std::move(results[i]));
}

// ---- Loop ----

void loop_op(KernelContext& ctx) {
  const Graph& body = required_graph(ctx, "body");
  const Tensor* m = ctx.input(0);
  const Tensor* cond_in = ctx.input(1);
  const size_t n_carried = ctx.input_count() > 2 ? ctx.input_count() - 2 : 0;
  if (body.inputs().size() != 2 + n_carried)
    ctx.fail("body takes " + std::to_string(body.inputs().size()) + " inputs, expected 2 + " +
             std::to_string(n_carried) + " loop-carried values");
  if (body.outputs().size() < 1 + n_carried)
    ctx.fail("body yields " + std::to_string(body.outputs().size()) + " outputs, expected at least 1 + " +
             std::to_string(n_carried));
  const size_t n_scan = body.outputs().size() - 1 - n_carried;
  if (ctx.output_count() > n_carried + n_scan)
    ctx.fail("the node has more outputs than the body's loop-carried values and scan outputs");

  int64_t trip_count = -1;  // -1: unbounded
  if (m != nullptr) {
    auto v = read_int_list(ctx, *m);
    if (v.size() != 1) ctx.fail("M must hold one element, got shape " + dims_text(m->dims()));
    trip_count = std::max<int64_t>(v[0], 0);
  }
  bool cond = cond_in == nullptr || read_bool(ctx, *cond_in, "cond");

  std::vector<RtValue> carried;
  for (size_t i = 0; i < n_carried; ++i) {
    const RtValue* v = ctx.input_value(2 + i);
    if (v == nullptr) ctx.fail("loop-carried input " + std::to_string(i) + " is missing");
    carried.push_back(*v);
  }
  std::vector<std::vector<Tensor>> scans(n_scan);

  std::vector<RtValue> body_in(2 + n_carried);
  for (int64_t i = 0; (trip_count < 0 || i < trip_count) && cond; ++i) {
    body_in[0] = RtValue(int64_scalar(i));
    body_in[1] = RtValue(bool_scalar(cond));
    for (size_t k = 0; k < n_carried; ++k) body_in[2 + k] = std::move(carried[k]);
    std::vector<RtValue> out = ctx.run_subgraph(body, body_in);
    // The body's condition output only matters when the node has a cond input (see the
    // operating-mode table in the spec: with trip count alone the condition is ignored).
    if (cond_in != nullptr) {
      if (out[0].kind != RtValue::Kind::kTensor) ctx.fail("body condition output is not a tensor");
      cond = read_bool(ctx, out[0].tensor, "body condition output");
    }
    for (size_t k = 0; k < n_carried; ++k) carried[k] = std::move(out[1 + k]);
    for (size_t k = 0; k < n_scan; ++k) {
      RtValue& s = out[1 + n_carried + k];
      if (s.kind != RtValue::Kind::kTensor) ctx.unsupported("a Loop scan output that is not a tensor");
      scans[k].push_back(std::move(s.tensor));
    }
  }

  for (size_t k = 0; k < n_carried && k < ctx.output_count(); ++k) ctx.set_output_value(k, std::move(carried[k]));
  for (size_t k = 0; k < n_scan && n_carried + k < ctx.output_count(); ++k) {
    if (!ctx.output_wanted(n_carried + k)) continue;
    auto [dtype, dims] = declared_type(*body.outputs()[1 + n_carried + k]);
    ctx.set_output(n_carried + k, stack_along(ctx, scans[k], 0, dtype, dims));
  }
}

// ---- Scan ----

// Reads an optional per-input list attribute (axes or directions) of `count` entries.
std::vector<int64_t> read_flags(const KernelContext& ctx, const std::string& name, size_t count) {
  std::vector<int64_t> v = ctx.attr_ints(name, std::vector<int64_t>(count, 0));
  if (v.size() != count)
    ctx.fail(name + " has " + std::to_string(v.size()) + " entries, expected " + std::to_string(count));
  return v;
}

// Scan 9+: scan inputs sliced along scan_input_axes, outputs stacked along scan_output_axes.
void scan9(KernelContext& ctx) {
  const Graph& body = required_graph(ctx, "body");
  const int64_t m = ctx.attr_int("num_scan_inputs", -1);
  const int64_t total = static_cast<int64_t>(ctx.input_count());
  if (m < 1 || m > total) ctx.fail("num_scan_inputs must be in [1, " + std::to_string(total) + "]");
  const int64_t n = total - m;
  if (static_cast<int64_t>(body.inputs().size()) != n + m)
    ctx.fail("body takes " + std::to_string(body.inputs().size()) + " inputs, expected " + std::to_string(n + m));
  if (static_cast<int64_t>(body.outputs().size()) < n)
    ctx.fail("body yields fewer outputs than there are state variables");
  const int64_t k_out = static_cast<int64_t>(body.outputs().size()) - n;

  const std::vector<int64_t> in_axes = read_flags(ctx, "scan_input_axes", m);
  const std::vector<int64_t> in_dirs = read_flags(ctx, "scan_input_directions", m);
  const std::vector<int64_t> out_axes = read_flags(ctx, "scan_output_axes", k_out);
  const std::vector<int64_t> out_dirs = read_flags(ctx, "scan_output_directions", k_out);

  std::vector<RtValue> state;
  for (int64_t i = 0; i < n; ++i) {
    const RtValue* v = ctx.input_value(i);
    if (v == nullptr) ctx.fail("initial state " + std::to_string(i) + " is missing");
    state.push_back(*v);
  }
  std::vector<const Tensor*> scan_in;
  std::vector<int64_t> axes;
  int64_t length = -1;
  for (int64_t j = 0; j < m; ++j) {
    const Tensor* t = ctx.input(n + j);
    if (t == nullptr) ctx.fail("scan input " + std::to_string(j) + " is missing");
    const int64_t rank = static_cast<int64_t>(t->dims().size());
    if (rank == 0) ctx.fail("scan input " + std::to_string(j) + " is a scalar; it needs a sequence axis");
    const int64_t axis = normalize_axis(ctx, in_axes[j], rank);
    if (length >= 0 && t->dims()[axis] != length)
      ctx.fail("scan inputs disagree on the sequence length: " + std::to_string(length) + " vs " +
               std::to_string(t->dims()[axis]));
    length = t->dims()[axis];
    scan_in.push_back(t);
    axes.push_back(axis);
  }

  std::vector<std::vector<Tensor>> outs(k_out);
  std::vector<RtValue> body_in(n + m);
  for (int64_t t = 0; t < length; ++t) {
    for (int64_t i = 0; i < n; ++i) body_in[i] = std::move(state[i]);
    for (int64_t j = 0; j < m; ++j)
      body_in[n + j] = RtValue(take_along(ctx, *scan_in[j], axes[j], in_dirs[j] != 0 ? length - 1 - t : t));
    std::vector<RtValue> out = ctx.run_subgraph(body, body_in);
    for (int64_t i = 0; i < n; ++i) state[i] = std::move(out[i]);
    for (int64_t k = 0; k < k_out; ++k) {
      if (out[n + k].kind != RtValue::Kind::kTensor) ctx.fail("a Scan output element is not a tensor");
      outs[k].push_back(std::move(out[n + k].tensor));
    }
  }

  for (int64_t i = 0; i < n && i < static_cast<int64_t>(ctx.output_count()); ++i) ctx.set_output_value(i, std::move(state[i]));
  for (int64_t k = 0; k < k_out && n + k < static_cast<int64_t>(ctx.output_count()); ++k) {
    if (!ctx.output_wanted(n + k)) continue;
    auto [dtype, dims] = declared_type(*body.outputs()[n + k]);
    const int64_t elem_rank = outs[k].empty() ? static_cast<int64_t>(dims.size())
                                              : static_cast<int64_t>(outs[k][0].dims().size());
    const int64_t axis = normalize_axis(ctx, out_axes[k], elem_rank + 1);
    // Prepending builds the output back to front.
    if (out_dirs[k] != 0) std::reverse(outs[k].begin(), outs[k].end());
    ctx.set_output(n + k, stack_along(ctx, outs[k], axis, dtype, dims));
  }
}

// Scan 8: axis 0 of every state and scan input is a batch axis, axis 1 of scan inputs the
// sequence axis; input 0 is the optional sequence_lens. Each batch entry runs its own
// recurrence; scan outputs are padded to the longest sequence (with zeros: the spec leaves the
// padding undefined).
void scan8(KernelContext& ctx) {
  const Graph& body = required_graph(ctx, "body");
  const int64_t m = ctx.attr_int("num_scan_inputs", -1);
  const int64_t total = static_cast<int64_t>(ctx.input_count()) - 1;
  if (m < 1 || m > total) ctx.fail("num_scan_inputs must be in [1, " + std::to_string(total) + "]");
  const int64_t n = total - m;
  if (static_cast<int64_t>(body.inputs().size()) != n + m)
    ctx.fail("body takes " + std::to_string(body.inputs().size()) + " inputs, expected " + std::to_string(n + m));
  if (static_cast<int64_t>(body.outputs().size()) < n)
    ctx.fail("body yields fewer outputs than there are state variables");
  const int64_t k_out = static_cast<int64_t>(body.outputs().size()) - n;
  const std::vector<int64_t> dirs = read_flags(ctx, "directions", m);

  std::vector<const Tensor*> states, scans;
  for (int64_t i = 0; i < n + m; ++i) {
    const Tensor* t = ctx.input(1 + i);
    if (t == nullptr) ctx.fail("input " + std::to_string(1 + i) + " is missing");
    (i < n ? states : scans).push_back(t);
  }
  const int64_t batch = scans[0]->dims().empty() ? -1 : scans[0]->dims()[0];
  const int64_t max_len = scans[0]->dims().size() < 2 ? -1 : scans[0]->dims()[1];
  for (const Tensor* t : scans)
    if (t->dims().size() < 2 || t->dims()[0] != batch || t->dims()[1] != max_len)
      ctx.fail("scan inputs must share [batch, sequence] leading dims; got " + dims_text(t->dims()));
  for (const Tensor* t : states)
    if (t->dims().empty() || t->dims()[0] != batch)
      ctx.fail("state variables must have the batch size " + std::to_string(batch) + " as dim 0; got " +
               dims_text(t->dims()));
  std::vector<int64_t> lens(batch, max_len);
  if (const Tensor* l = ctx.input(0)) {
    lens = read_int_list(ctx, *l);
    if (static_cast<int64_t>(lens.size()) != batch) ctx.fail("sequence_lens must have one entry per batch item");
    for (int64_t v : lens)
      if (v < 0 || v > max_len) ctx.fail("sequence_lens value " + std::to_string(v) + " is out of range");
  }

  std::vector<std::vector<Tensor>> final_states(n);       // per state: one per batch item
  std::vector<std::vector<Tensor>> scan_outs(k_out);      // per output: one per batch item
  std::vector<RtValue> body_in(n + m);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<RtValue> state;
    for (int64_t i = 0; i < n; ++i) state.push_back(RtValue(take_along(ctx, *states[i], 0, b)));
    std::vector<Tensor> batch_scans;
    for (int64_t j = 0; j < m; ++j) batch_scans.push_back(take_along(ctx, *scans[j], 0, b));
    std::vector<std::vector<Tensor>> steps(k_out);
    for (int64_t t = 0; t < lens[b]; ++t) {
      for (int64_t i = 0; i < n; ++i) body_in[i] = std::move(state[i]);
      for (int64_t j = 0; j < m; ++j)
        body_in[n + j] = RtValue(take_along(ctx, batch_scans[j], 0, dirs[j] != 0 ? lens[b] - 1 - t : t));
      std::vector<RtValue> out = ctx.run_subgraph(body, body_in);
      for (int64_t i = 0; i < n; ++i) state[i] = std::move(out[i]);
      for (int64_t k = 0; k < k_out; ++k) {
        if (out[n + k].kind != RtValue::Kind::kTensor) ctx.fail("a Scan output element is not a tensor");
        steps[k].push_back(std::move(out[n + k].tensor));
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      if (state[i].kind != RtValue::Kind::kTensor) ctx.fail("a Scan state is not a tensor");
      final_states[i].push_back(std::move(state[i].tensor));
    }
    for (int64_t k = 0; k < k_out; ++k) {
      auto [dtype, dims] = declared_type(*body.outputs()[n + k]);
      if (!steps[k].empty()) dtype = steps[k][0].dtype(), dims = steps[k][0].dims();
      // Pad short sequences with zero elements up to max_len.
      while (static_cast<int64_t>(steps[k].size()) < max_len) steps[k].push_back(Tensor::allocate(dtype, dims));
      scan_outs[k].push_back(stack_along(ctx, steps[k], 0, dtype, dims));
    }
  }
  for (int64_t i = 0; i < n && i < static_cast<int64_t>(ctx.output_count()); ++i)
    ctx.set_output(i, stack_along(ctx, final_states[i], 0, states[i]->dtype(),
                                  std::vector<int64_t>(states[i]->dims().begin() + 1, states[i]->dims().end())));
  for (int64_t k = 0; k < k_out && n + k < static_cast<int64_t>(ctx.output_count()); ++k) {
    auto [dtype, dims] = declared_type(*body.outputs()[n + k]);
    dims.insert(dims.begin(), max_len);
    ctx.set_output(n + k, stack_along(ctx, scan_outs[k], 0, dtype, dims));
  }
}

// ---- optionals ----

// Optional: wraps its input, or makes an empty optional when the input is omitted. An optional
// holding a value is represented by the value itself.
void optional_op(KernelContext& ctx) {
  const RtValue* v = ctx.input_value(0);
  ctx.set_output_value(0, v ? *v : RtValue::none());
}

void optional_has_element(KernelContext& ctx) {
  const RtValue* v = ctx.input_value(0);  // from opset 18 the input itself may be omitted
  ctx.set_output(0, bool_scalar(v != nullptr && v->kind != RtValue::Kind::kNone));
}

void optional_get_element(KernelContext& ctx) {
  const RtValue* v = ctx.input_value(0);
  if (v == nullptr || v->kind == RtValue::Kind::kNone) ctx.fail("the optional input is empty");
  ctx.set_output_value(0, *v);
}

}  // namespace

void register_control_flow_kernels(KernelRegistry& r) {
  r.add("", "If", if_op);
  r.add("", "Loop", loop_op);
  r.add("", "Scan", scan8, 8, 8);
  r.add("", "Scan", scan9, 9);
  r.add("", "Optional", optional_op, 15);
  r.add("", "OptionalHasElement", optional_has_element, 15);
  r.add("", "OptionalGetElement", optional_get_element, 15);
}

}  // namespace edgeq
