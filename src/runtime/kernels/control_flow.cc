// control_flow.cc: being written.
#include "runtime/kernel.h"

namespace edgeq {

void register_control_flow_kernels(KernelRegistry& r) {}

}  // namespace edgeq
