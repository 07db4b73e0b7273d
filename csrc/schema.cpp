// The one definition of pasa's op schemas; each backend registers its kernels in a file of its own.
#include <pybind11/stl.h>
#include <torch/extension.h>

#include "attention_args.h"
#include "cpu/attention_cpu.h"

TORCH_LIBRARY(pasa, m) {
  m.def(pasa::kSchema);
  m.def(pasa::kVarlenSchema);
}

// The ops have no backward yet: a backward through them raises "derivative ... is not implemented" instead of
// returning no gradient.
TORCH_LIBRARY_IMPL(pasa, Autograd, m) {
  m.impl("attention", torch::autograd::autogradNotImplementedFallback());
  m.impl("attention_varlen", torch::autograd::autogradNotImplementedFallback());
}

// `import pasa._C` loads this library (and with it every kernel registration compiled into it).
// check_args and check_varlen_args let kernels written in Python (the CUDA backend) share the one argument check.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def(
      "check_args",
      [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask,
         std::optional<double> scale, bool causal, const std::string& causal_align, const std::string& variant,
         int64_t block_n, std::optional<double> beta, bool return_lse, const std::optional<at::Tensor>& sinks) {
        auto a = pasa::check_attention_args(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta,
                                            /*check_values=*/true, return_lse, sinks);
        return pybind11::make_tuple(a.scale, a.beta);
      },
      "Checks pasa.attention's arguments; returns the resolved (scale, beta).", pybind11::arg("q"),
      pybind11::arg("k"), pybind11::arg("v"), pybind11::arg("mask"), pybind11::arg("scale"), pybind11::arg("causal"),
      pybind11::arg("causal_align"), pybind11::arg("variant"), pybind11::arg("block_n"), pybind11::arg("beta"),
      pybind11::arg("return_lse") = false, pybind11::arg("sinks") = std::optional<at::Tensor>());
  m.def(
      "check_varlen_args",
      [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_seqlens_q,
         const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k, std::optional<double> scale,
         bool causal, const std::string& causal_align, const std::string& variant, int64_t block_n,
         std::optional<double> beta, bool return_lse, const std::optional<at::Tensor>& sinks) {
        auto a = pasa::check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                                         causal, causal_align, variant, block_n, beta, return_lse, sinks);
        return pybind11::make_tuple(a.scale, a.beta, a.cu_q, a.cu_k);
      },
      "Checks pasa.attention_varlen's arguments; returns the resolved (scale, beta, cu_seqlens_q, cu_seqlens_k) "
      "with the sequence starts as Python lists.");
  m.def(
      "cpu_kv_splits",
      [](int64_t s1, int64_t s2, int64_t block_n, const std::string& variant) {
        return pasa::cpu::decode_kv_splits(s1, s2, block_n,
                                           variant == "paper" ? pasa::Variant::kPaper : pasa::Variant::kExact);
      },
      "Where the CPU operator cuts the key axis of one sequence (model_attention's kv_splits; [] = unsplit).");
}
