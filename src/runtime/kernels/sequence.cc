// sequence.cc: tensor sequences (opset 11+): SequenceConstruct, SequenceEmpty, SequenceAt,
// SequenceInsert, SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence, and
// SequenceMap (opset 17), which runs its body once per element.
//
// A sequence is an RtValue of kind kSequence holding its tensors; tensors share their storage,
// so building a new sequence from an old one copies no element data.
#include <algorithm>

#include "runtime/kernel.h"
#include "runtime/kernels/shape_common.h"

namespace edgeq {

namespace {

const std::vector<Tensor>& required_sequence(const KernelContext& ctx, size_t i) {
  const RtValue* v = ctx.input_value(i);
  if (v == nullptr) ctx.fail("input " + std::to_string(i) + " is required");
  if (v->kind != RtValue::Kind::kSequence) ctx.fail("input " + std::to_string(i) + " must be a sequence");
  return v->sequence;
}

// A scalar (or one-element) int32/int64 position.
int64_t read_position(const KernelContext& ctx, const Tensor& t) {
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) ctx.fail("position must be int32 or int64");
  auto v = read_int_list(ctx, t);
  if (v.size() != 1) ctx.fail("position must be a scalar, got shape " + dims_text(t.dims()));
  return v[0];
}

// Names sequence ops in the message about unsupported sub-byte dtypes.
constexpr const char* kWhere = "a sequence op";

void sequence_construct(KernelContext& ctx) {
  std::vector<Tensor> items;
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor* t = ctx.input(i);
    if (t == nullptr) ctx.fail("input " + std::to_string(i) + " is missing or not a tensor");
    if (!items.empty() && t->dtype() != items[0].dtype()) ctx.fail("all inputs must share a dtype");
    items.push_back(*t);
  }
  ctx.set_output_value(0, RtValue::make_sequence(std::move(items)));
}

// The element dtype of an empty sequence is not tracked at run time; the attribute is only
// validated.
void sequence_empty(KernelContext& ctx) {
  const int64_t code = ctx.attr_int("dtype", static_cast<int64_t>(DType::kFloat));
  if (find_dtype(static_cast<int32_t>(code)) == nullptr) ctx.fail("unknown dtype code " + std::to_string(code));
  ctx.set_output_value(0, RtValue::make_sequence({}));
}

void sequence_at(KernelContext& ctx) {
  const std::vector<Tensor>& seq = required_sequence(ctx, 0);
  const int64_t n = static_cast<int64_t>(seq.size());
  int64_t pos = read_position(ctx, ctx.required_input(1));
  if (pos < -n || pos >= n)
    ctx.fail("position " + std::to_string(pos) + " is outside [-" + std::to_string(n) + ", " + std::to_string(n - 1) + "]");
  if (pos < 0) pos += n;
  ctx.set_output(0, seq[pos]);
}

void sequence_insert(KernelContext& ctx) {
  std::vector<Tensor> seq = required_sequence(ctx, 0);
  const Tensor& t = ctx.required_input(1);
  if (!seq.empty() && seq[0].dtype() != t.dtype())
    ctx.fail("tensor dtype " + std::string(dtype_name(t.dtype())) + " differs from the sequence's " +
             std::string(dtype_name(seq[0].dtype())));
  const int64_t n = static_cast<int64_t>(seq.size());
  int64_t pos = n;
  if (const Tensor* p = ctx.input(2)) {
    pos = read_position(ctx, *p);
    if (pos < -n || pos > n)
      ctx.fail("position " + std::to_string(pos) + " is outside [-" + std::to_string(n) + ", " + std::to_string(n) + "]");
    if (pos < 0) pos += n;
  }
  seq.insert(seq.begin() + pos, t);
  ctx.set_output_value(0, RtValue::make_sequence(std::move(seq)));
}

void sequence_erase(KernelContext& ctx) {
  std::vector<Tensor> seq = required_sequence(ctx, 0);
  const int64_t n = static_cast<int64_t>(seq.size());
  if (n == 0) ctx.fail("cannot erase from an empty sequence");
  int64_t pos = n - 1;
  if (const Tensor* p = ctx.input(1)) {
    pos = read_position(ctx, *p);
    if (pos < -n || pos >= n)
      ctx.fail("position " + std::to_string(pos) + " is outside [-" + std::to_string(n) + ", " + std::to_string(n - 1) + "]");
    if (pos < 0) pos += n;
  }
  seq.erase(seq.begin() + pos);
  ctx.set_output_value(0, RtValue::make_sequence(std::move(seq)));
}

void sequence_length(KernelContext& ctx) {
  const std::vector<Tensor>& seq = required_sequence(ctx, 0);
  Tensor out = Tensor::allocate(DType::kInt64, {});
  out.mutable_values<int64_t>()[0] = static_cast<int64_t>(seq.size());
  ctx.set_output(0, std::move(out));
}

// SplitToSequence: no split -> pieces of length 1, with the axis dropped when keepdims = 0
// (keepdims is ignored when split is given); scalar split -> equal chunks with a shorter last one; 1-D split ->
// the listed lengths, which must sum to the axis length.
void split_to_sequence(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  const int64_t rank = static_cast<int64_t>(x.dims().size());
  if (rank == 0) ctx.fail("input must have rank >= 1");
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  const int64_t len = x.dims()[axis];
  std::vector<int64_t> sizes;
  bool squeeze = false;
  if (const Tensor* s = ctx.input(1)) {
    std::vector<int64_t> v = read_int_list(ctx, *s);
    if (s->dims().empty()) {
      if (v[0] <= 0) ctx.fail("split must be positive, got " + std::to_string(v[0]));
      for (int64_t at = 0; at < len; at += v[0]) sizes.push_back(std::min(v[0], len - at));
    } else {
      if (s->dims().size() != 1) ctx.fail("split must be a scalar or 1-D, got shape " + dims_text(s->dims()));
      int64_t sum = 0;
      for (int64_t e : v) {
        if (e < 0) ctx.fail("split entries must be >= 0, got " + std::to_string(e));
        sum += e;
      }
      if (sum != len)
        ctx.fail("split sums to " + std::to_string(sum) + " but the axis has length " + std::to_string(len));
      sizes = v;
    }
  } else {
    sizes.assign(len, 1);
    squeeze = ctx.attr_int("keepdims", 1) == 0;
  }
  std::vector<Tensor> items;
  int64_t at = 0;
  for (int64_t size : sizes) {
    items.push_back(slice_axis(ctx, x, axis, at, size, squeeze, kWhere));
    at += size;
  }
  ctx.set_output_value(0, RtValue::make_sequence(std::move(items)));
}

// ConcatFromSequence: concatenates along `axis`, or stacks along a new axis when new_axis = 1.
void concat_from_sequence(KernelContext& ctx) {
  const std::vector<Tensor>& seq = required_sequence(ctx, 0);
  if (seq.empty()) ctx.fail("cannot concatenate an empty sequence");
  if (!ctx.has_attr("axis")) ctx.fail("attribute 'axis' is required");
  const bool new_axis = ctx.attr_int("new_axis", 0) != 0;
  const std::vector<int64_t>& first = seq[0].dims();
  const int64_t rank = static_cast<int64_t>(first.size());
  const int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), new_axis ? rank + 1 : rank);
  const DType dtype = seq[0].dtype();
  const size_t esize = element_bytes(ctx, dtype, kWhere);

  // View every item as [outer, piece, inner]: piece is its length on the axis (1 when stacking).
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= first[i];
  for (int64_t i = new_axis ? axis : axis + 1; i < rank; ++i) inner *= first[i];
  int64_t total = 0;
  std::vector<int64_t> pieces;
  for (const Tensor& t : seq) {
    if (t.dtype() != dtype) ctx.fail("sequence items have different dtypes");
    bool ok = static_cast<int64_t>(t.dims().size()) == rank;
    for (int64_t i = 0; ok && i < rank; ++i)
      if ((new_axis || i != axis) && t.dims()[i] != first[i]) ok = false;
    if (!ok)
      ctx.fail("cannot concatenate shapes " + dims_text(first) + " and " + dims_text(t.dims()) + " on axis " +
               std::to_string(axis));
    pieces.push_back(new_axis ? 1 : t.dims()[axis]);
    total += pieces.back();
  }
  std::vector<int64_t> dims = first;
  if (new_axis) dims.insert(dims.begin() + axis, total);
  else dims[axis] = total;
  Tensor out = Tensor::allocate(dtype, dims);
  concat_blocks(seq, pieces, outer, inner, out, esize);
  ctx.set_output(0, std::move(out));
}

// SequenceMap: output j is the sequence of the body's j-th outputs, one per element of the
// first input; sequence inputs contribute their i-th element, tensor inputs themselves.
void sequence_map(KernelContext& ctx) {
  const Graph* body = ctx.attr_graph("body");
  if (body == nullptr) ctx.fail("missing graph attribute 'body'");
  const size_t n = required_sequence(ctx, 0).size();
  if (body->inputs().size() != ctx.input_count())
    ctx.fail("body takes " + std::to_string(body->inputs().size()) + " inputs, the node has " +
             std::to_string(ctx.input_count()));
  for (size_t j = 0; j < ctx.input_count(); ++j) {
    const RtValue* v = ctx.input_value(j);
    if (v == nullptr) ctx.fail("input " + std::to_string(j) + " is missing");
    if (v->kind == RtValue::Kind::kSequence && v->sequence.size() != n)
      ctx.fail("sequence input " + std::to_string(j) + " has " + std::to_string(v->sequence.size()) +
               " elements, the first has " + std::to_string(n));
  }
  if (body->outputs().size() != ctx.output_count())
    ctx.fail("body yields " + std::to_string(body->outputs().size()) + " outputs, the node has " +
             std::to_string(ctx.output_count()));
  std::vector<std::vector<Tensor>> outs(ctx.output_count());
  std::vector<RtValue> body_in(ctx.input_count());
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < ctx.input_count(); ++j) {
      const RtValue* v = ctx.input_value(j);
      body_in[j] = v->kind == RtValue::Kind::kSequence ? RtValue(v->sequence[i]) : *v;
    }
    std::vector<RtValue> out = ctx.run_subgraph(*body, body_in);
    for (size_t k = 0; k < out.size(); ++k) {
      if (out[k].kind != RtValue::Kind::kTensor) ctx.fail("body output " + std::to_string(k) + " is not a tensor");
      outs[k].push_back(std::move(out[k].tensor));
    }
  }
  for (size_t k = 0; k < outs.size(); ++k) ctx.set_output_value(k, RtValue::make_sequence(std::move(outs[k])));
}

}  // namespace

void register_sequence_kernels(KernelRegistry& r) {
  r.add("", "SequenceConstruct", sequence_construct, 11);
  r.add("", "SequenceEmpty", sequence_empty, 11);
  r.add("", "SequenceAt", sequence_at, 11);
  r.add("", "SequenceInsert", sequence_insert, 11);
  r.add("", "SequenceErase", sequence_erase, 11);
  r.add("", "SequenceLength", sequence_length, 11);
  r.add("", "SplitToSequence", split_to_sequence, 11);
  r.add("", "ConcatFromSequence", concat_from_sequence, 11);
  r.add("", "SequenceMap", sequence_map, 17);
}

}  // namespace edgeq
