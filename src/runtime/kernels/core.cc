// Kernels that move values without computing: Identity, Constant, Dropout (inference).
#include "runtime/kernel.h"

namespace edgeq {

namespace {

void identity(KernelContext& ctx) {
  const RtValue* v = ctx.input_value(0);
  if (v == nullptr) ctx.fail("input 0 is required");
  ctx.set_output_value(0, *v);
}

// Constant: value (tensor) or, from opset 12, value_float(s) / value_int(s) / value_string(s).
void constant(KernelContext& ctx) {
  if (const Tensor* t = ctx.attr_tensor("value")) return ctx.set_output(0, *t);
  const Attribute* a = nullptr;
  for (const auto& attr : ctx.node().attributes()) a = &attr;
  if (a == nullptr) ctx.fail("Constant has no value attribute");
  if (a->name == "value_float") return ctx.set_output(0, Tensor::from_values<float>(DType::kFloat, {}, std::span(&a->f, 1)));
  if (a->name == "value_int") return ctx.set_output(0, Tensor::from_values<int64_t>(DType::kInt64, {}, std::span(&a->i, 1)));
  if (a->name == "value_floats")
    return ctx.set_output(0, Tensor::from_values<float>(DType::kFloat, {static_cast<int64_t>(a->floats.size())}, a->floats));
  if (a->name == "value_ints")
    return ctx.set_output(0, Tensor::from_values<int64_t>(DType::kInt64, {static_cast<int64_t>(a->ints.size())}, a->ints));
  if (a->name == "value_string") return ctx.set_output(0, Tensor({}, std::vector<std::string>{a->s}));
  if (a->name == "value_strings")
    return ctx.set_output(0, Tensor({static_cast<int64_t>(a->strings.size())}, a->strings));
  ctx.unsupported("Constant attribute '" + a->name + "'");
}

// Inference-mode Dropout is the identity; the optional mask output is all true.
void dropout(KernelContext& ctx) {
  const Tensor& x = ctx.required_input(0);
  bool training = false;
  if (ctx.opset() >= 12) {
    if (const Tensor* t = ctx.input(2)) training = !t->bytes().empty() && t->bytes()[0] != std::byte{0};
  } else {
    training = ctx.attr_int("is_test", 1) == 0 && ctx.opset() < 7;
  }
  float ratio = 0.5f;
  if (ctx.opset() >= 12) {
    if (const Tensor* r = ctx.input(1)) {
      if (r->dtype() == DType::kFloat) ratio = r->values<float>()[0];
      else if (r->dtype() == DType::kDouble) ratio = static_cast<float>(r->values<double>()[0]);
    }
  } else {
    ratio = ctx.attr_float("ratio", 0.5f);
  }
  if (training && ratio > 0)
    ctx.unsupported("training-mode Dropout draws a random mask; edgeq runs inference only");
  ctx.set_output(0, x);
  if (ctx.output_count() > 1 && ctx.output_wanted(1)) {
    Tensor mask = Tensor::allocate(DType::kBool, x.dims());
    bool* m = mask.mutable_values<bool>();
    std::fill(m, m + x.element_count(), true);
    ctx.set_output(1, std::move(mask));
  }
}

}  // namespace

void register_core_kernels(KernelRegistry& r) {
  r.add("", "Identity", identity);
  r.add("", "Constant", constant);
  r.add("", "Dropout", dropout);
}

}  // namespace edgeq
