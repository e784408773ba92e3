#include <algorithm>

#include "runtime/kernel.h"

namespace edgeq {

const Tensor& KernelContext::required_input(size_t i) const {
  const Tensor* t = input(i);
  if (t == nullptr) fail("input " + std::to_string(i) + " is required");
  return *t;
}

void KernelContext::fail(const std::string& reason, ErrorKind kind) const {
  throw Error(kind, node_.describe() + ": " + reason);
}

int64_t KernelContext::attr_int(const std::string& name, int64_t fallback) const {
  const Attribute* a = node_.attr(name);
  return a ? a->i : fallback;
}

float KernelContext::attr_float(const std::string& name, float fallback) const {
  const Attribute* a = node_.attr(name);
  return a ? a->f : fallback;
}

std::string KernelContext::attr_string(const std::string& name, const std::string& fallback) const {
  const Attribute* a = node_.attr(name);
  return a ? a->s : fallback;
}

std::vector<int64_t> KernelContext::attr_ints(const std::string& name, std::vector<int64_t> fallback) const {
  const Attribute* a = node_.attr(name);
  return a ? a->ints : fallback;
}

std::vector<float> KernelContext::attr_floats(const std::string& name, std::vector<float> fallback) const {
  const Attribute* a = node_.attr(name);
  return a ? a->floats : fallback;
}

const Tensor* KernelContext::attr_tensor(const std::string& name) const {
  const Attribute* a = node_.attr(name);
  return a && !a->tensors.empty() ? &a->tensors[0] : nullptr;
}

const Graph* KernelContext::attr_graph(const std::string& name) const {
  const Attribute* a = node_.attr(name);
  return a && !a->graphs.empty() ? a->graphs[0].get() : nullptr;
}

const KernelDef* KernelRegistry::find(std::string_view domain, std::string_view op_type,
                                      int64_t version) const {
  for (const auto& d : defs_)
    if (d.domain == domain && d.op_type == op_type && version >= d.since_version &&
        version <= d.last_version)
      return &d;
  return nullptr;
}

std::optional<std::vector<int64_t>> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : shapes) {
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o == 1) o = d;
      else return std::nullopt;
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    size_t i = in.size() - 1 - k;
    size_t o = out.size() - 1 - k;
    strides[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return strides;
}

int64_t shape_size(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> read_int_list(const KernelContext& ctx, const Tensor& t) {
  if (t.dtype() == DType::kInt64) {
    auto v = t.values<int64_t>();
    return {v.begin(), v.end()};
  }
  if (t.dtype() == DType::kInt32) {
    auto v = t.values<int32_t>();
    return {v.begin(), v.end()};
  }
  ctx.fail("expected an int64 or int32 tensor, got " + std::string(dtype_name(t.dtype())));
}

}  // namespace edgeq
