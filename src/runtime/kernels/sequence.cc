// sequence.cc: being written.
#include "runtime/kernel.h"

namespace edgeq {

void register_sequence_kernels(KernelRegistry& r) {}

}  // namespace edgeq
