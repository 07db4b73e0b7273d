// Shape-only kernel: shape inference, FakeTensor and torch.compile.
#include <torch/extension.h>

#include "attention_args.h"

namespace {

at::Tensor attention_meta(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const std::optional<at::Tensor>& mask, std::optional<double> scale, bool causal,
                          c10::string_view causal_align, c10::string_view variant, int64_t block_n,
                          std::optional<double> beta, c10::string_view backend) {
  pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align), std::string(variant), block_n,
                             beta, /*check_values=*/false);
  return at::empty_like(q, at::MemoryFormat::Contiguous);
}

}  // namespace

TORCH_LIBRARY_IMPL(pasa, Meta, m) { m.impl("attention", &attention_meta); }
