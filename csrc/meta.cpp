// Shape-only kernels: shape inference, FakeTensor and torch.compile.
#include <torch/extension.h>

#include <tuple>

#include "attention_args.h"

namespace {

std::tuple<at::Tensor, at::Tensor> attention_meta(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                  const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                                  bool causal, c10::string_view causal_align,
                                                  c10::string_view variant, int64_t block_n,
                                                  std::optional<double> beta, c10::string_view backend,
                                                  bool return_lse, const std::optional<at::Tensor>& sinks) {
  const auto a = pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align),
                                            std::string(variant), block_n, beta, /*check_values=*/false, return_lse,
                                            sinks);
  at::Tensor lse = return_lse ? at::empty({a.batch, a.heads, a.s1}, q.options().dtype(at::kFloat)) : pasa::no_lse(q);
  return {at::empty_like(q, at::MemoryFormat::Contiguous), lse};
}

std::tuple<at::Tensor, at::Tensor> attention_varlen_meta(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_seqlens_q,
    const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k, std::optional<double> scale,
    bool causal, c10::string_view causal_align, c10::string_view variant, int64_t block_n, std::optional<double> beta,
    c10::string_view backend, bool return_lse, const std::optional<at::Tensor>& sinks) {
  const auto a = pasa::check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                                         causal, std::string(causal_align), std::string(variant), block_n, beta,
                                         return_lse, sinks, /*check_values=*/false);
  at::Tensor lse = return_lse ? at::empty({a.heads, q.size(0)}, q.options().dtype(at::kFloat)) : pasa::no_lse(q);
  return {at::empty_like(q, at::MemoryFormat::Contiguous), lse};
}

}  // namespace

TORCH_LIBRARY_IMPL(pasa, Meta, m) {
  m.impl("attention", &attention_meta);
  m.impl("attention_varlen", &attention_varlen_meta);
}
