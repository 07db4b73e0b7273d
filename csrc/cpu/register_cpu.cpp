// pasa::attention's CPU kernel: backend "auto"/"native" runs the C++ operator, "ascend-sim" the AscendC kernel on
// the simulator (csrc/ascend_sim).
#include <torch/extension.h>

#include "../ascend_sim/ascend_sim_backend.h"
#include "attention_cpu.h"

namespace {

at::Tensor attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         const std::optional<at::Tensor>& mask, std::optional<double> scale, bool causal,
                         c10::string_view causal_align, c10::string_view variant, int64_t block_n,
                         std::optional<double> beta, c10::string_view backend) {
  const auto args = pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align),
                                               std::string(variant), block_n, beta);
  if (backend == "auto" || backend == "native")
    return pasa::cpu::native_attention(q, k, v, pasa::mask_as_bias(mask, args), args);
  if (backend == "ascend-sim") return pasa::ascend_sim_backend::attention(q, k, v, pasa::kernel_mask(mask, args), args);
  TORCH_CHECK_VALUE(false, "pasa.attention: backend for CPU tensors must be 'auto', 'native' or 'ascend-sim', got '",
                    std::string(backend), "'");
}

}  // namespace

TORCH_LIBRARY_IMPL(pasa, CPU, m) { m.impl("attention", &attention_cpu); }
