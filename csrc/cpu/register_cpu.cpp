// pasa's CPU kernels: backend "auto"/"native" runs the C++ operator, "ascend-sim" the AscendC kernel on the
// simulator (csrc/ascend_sim).
#include <torch/extension.h>

#include <tuple>

#include "../ascend_sim/ascend_sim_backend.h"
#include "attention_cpu.h"

namespace {

std::tuple<at::Tensor, at::Tensor> attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                                 bool causal, c10::string_view causal_align, c10::string_view variant,
                                                 int64_t block_n, std::optional<double> beta, c10::string_view backend,
                                                 bool return_lse, const std::optional<at::Tensor>& sinks) {
  const auto args = pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align),
                                               std::string(variant), block_n, beta, /*check_values=*/true, return_lse,
                                               sinks);
  if (backend == "auto" || backend == "native")
    return pasa::cpu::native_attention(q, k, v, pasa::mask_as_bias(mask, args), sinks.value_or(at::Tensor()), args);
  if (backend == "ascend-sim") {
    auto [out, lse] = pasa::ascend_sim_backend::run(q, k, v, pasa::kernel_mask(mask, args), args,
                                                    sinks.value_or(at::Tensor()), return_lse);
    return {out, return_lse ? lse : pasa::no_lse(q)};
  }
  TORCH_CHECK_VALUE(false, "pasa.attention: backend for CPU tensors must be 'auto', 'native' or 'ascend-sim', got '",
                    std::string(backend), "'");
}

std::tuple<at::Tensor, at::Tensor> attention_varlen_cpu(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_seqlens_q,
    const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k, std::optional<double> scale,
    bool causal, c10::string_view causal_align, c10::string_view variant, int64_t block_n, std::optional<double> beta,
    c10::string_view backend, bool return_lse, const std::optional<at::Tensor>& sinks) {
  const auto args = pasa::check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                                            causal, std::string(causal_align), std::string(variant), block_n, beta,
                                            return_lse, sinks);
  if (backend == "auto" || backend == "native")
    return pasa::cpu::native_attention_varlen(q, k, v, sinks.value_or(at::Tensor()), args);
  if (backend == "ascend-sim") {
    auto [out, lse] = pasa::ascend_sim_backend::run(q, k, v, pasa::KernelMask(), args,
                                                    sinks.value_or(at::Tensor()), return_lse);
    return {out, return_lse ? lse : pasa::no_lse(q)};
  }
  TORCH_CHECK_VALUE(false, "pasa.attention_varlen: backend for CPU tensors must be 'auto', 'native' or 'ascend-sim', "
                    "got '", std::string(backend), "'");
}

}  // namespace

TORCH_LIBRARY_IMPL(pasa, CPU, m) {
  m.impl("attention", &attention_cpu);
  m.impl("attention_varlen", &attention_varlen_cpu);
}
