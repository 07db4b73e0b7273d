// The one definition of pasa::attention's schema; each backend registers its kernel in a file of its own.
#include <torch/extension.h>

#include "attention_args.h"

TORCH_LIBRARY(pasa, m) { m.def(pasa::kSchema); }

// The op has no backward yet: a backward through it raises "derivative ... is not implemented" instead of
// returning no gradient.
TORCH_LIBRARY_IMPL(pasa, Autograd, m) {
  m.impl("attention", torch::autograd::autogradNotImplementedFallback());
}

// `import pasa._C` loads this library (and with it every kernel registration compiled into it).
// check_args lets kernels written in Python (the CUDA backend) share the one argument check.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def(
      "check_args",
      [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
         std::optional<double> scale, bool causal, const std::string& causal_align, const std::string& variant,
         int64_t block_n, std::optional<double> beta) {
        auto a = pasa::check_attention_args(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta);
        return pybind11::make_tuple(a.scale, a.beta);
      },
      "Checks pasa.attention's arguments; returns the resolved (scale, beta).");
}
