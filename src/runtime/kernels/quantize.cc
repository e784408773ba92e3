// quantize.cc: being written.
#include "runtime/kernel.h"

namespace edgeq {

void register_quantize_kernels(KernelRegistry& r) {}

}  // namespace edgeq
