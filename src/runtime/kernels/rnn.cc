// rnn.cc: being written.
#include "runtime/kernel.h"

namespace edgeq {

void register_rnn_kernels(KernelRegistry& r) {}

}  // namespace edgeq
