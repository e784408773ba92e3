// The one list of kernel families. Each family file (one per op family, named after it) defines
// `register_<family>_kernels`, which adds its ops with their opset ranges. To add a family, copy
// TEMPLATE.cc.txt, then add one line here.
#include "runtime/kernel.h"

namespace edgeq {

void register_core_kernels(KernelRegistry& r);
void register_elementwise_kernels(KernelRegistry& r);
void register_conv_kernels(KernelRegistry& r);
void register_pool_kernels(KernelRegistry& r);
void register_normalization_kernels(KernelRegistry& r);
void register_gemm_kernels(KernelRegistry& r);
void register_reduce_kernels(KernelRegistry& r);
void register_softmax_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_gather_scatter_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);
void register_rnn_kernels(KernelRegistry& r);
void register_control_flow_kernels(KernelRegistry& r);
void register_sequence_kernels(KernelRegistry& r);
void register_quantize_kernels(KernelRegistry& r);
void register_loss_kernels(KernelRegistry& r);

const KernelRegistry& kernel_registry() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_core_kernels(r);
    register_elementwise_kernels(r);
    register_conv_kernels(r);
    register_pool_kernels(r);
    register_normalization_kernels(r);
    register_gemm_kernels(r);
    register_reduce_kernels(r);
    register_softmax_kernels(r);
    register_shape_kernels(r);
    register_gather_scatter_kernels(r);
    register_resize_kernels(r);
    register_rnn_kernels(r);
    register_control_flow_kernels(r);
    register_sequence_kernels(r);
    register_quantize_kernels(r);
    register_loss_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace edgeq
