// pasa::attention's and pasa::attention_varlen's PrivateUse1 (NPU) kernels: the PasaAttention custom op of the CANN
// package (scripts/build_ascend.sh), run through its generated two-stage aclnn interface by torch_npu's
// EXEC_NPU_CMD_EXT, as Ascend's op-plugin cpp_extension examples run aclnn ops: the call is queued on torch_npu's task
// queue behind the work already queued on the current stream, the workspace comes from torch_npu, and the two
// functions are looked up at run time in the installed package's op_api/lib/libcust_opapi.so (through
// ASCEND_CUSTOM_OPP_PATH or $ASCEND_OPP_PATH/vendors/config.ini). Built by setup.py only where torch_npu is found;
// `import pasa._C_npu` registers them.
#include <torch/extension.h>
#include <torch/version.h>

#include <string>
#include <tuple>
#include <vector>

// torch_npu's op_plugin/utils/Version.h compares CURRENT_VERSION with V2R<minor>, and nothing in the torch_npu wheel
// defines it; undefined, its NamedTensorCompat.h includes ATen/NamedTensorUtils.h, which torch 2.13 removed.
#if TORCH_VERSION_MAJOR != 2
#error "the CURRENT_VERSION below assumes torch 2.x"
#endif
#ifndef CURRENT_VERSION
#define PASA_TORCH_V2R(minor) PASA_TORCH_V2R_(minor)
#define PASA_TORCH_V2R_(minor) V2R##minor
#define CURRENT_VERSION PASA_TORCH_V2R(TORCH_VERSION_MINOR)
#endif
#include "op_plugin/include/npu_cpp_extension.h"  // torch_npu's header for extensions: EXEC_NPU_CMD_EXT

#include "../ascend_inputs.h"
#include "../attention_args.h"

namespace {

// One PasaAttention launch, dense (BNSD) or packed (TND: a.cu_q set, cu_seqlens_q/k the caller's tensors). The kernel
// takes fp16 q, k, v with D padded to 16 (exact: bf16 slices scaled by powers of two), the mask as passed ([B or 1,
// N or 1, S1 or 1, S2], bool / fp16 / bf16 / fp32; dense only), the exact variant's live keys and per-head scales
// (csrc/ascend_inputs.h), the sinks in fp32 and the sequence starts in int64 (value-dependent inputs: the tiling
// reads them on the host, the kernel from GM), and writes q's dtype (fp16 or bf16) and the fp32 lse. The lse output
// is always allocated (a required output of the op: 4 bytes per row and head, beside the output's 2·D) and written
// only with return_lse.
std::tuple<at::Tensor, at::Tensor> launch(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                                          const std::optional<at::Tensor>& mask, const pasa::AttentionArgs& a,
                                          c10::string_view variant, const at::Tensor& cu_seqlens_q,
                                          const at::Tensor& cu_seqlens_k, const std::optional<at::Tensor>& sinks,
                                          bool return_lse) {
  const c10::OptionalDeviceGuard device_guard(at::device_of(q_in));
  const at::Tensor sinks_in = sinks.value_or(at::Tensor());
  if (!pasa::ascend_has_work(a)) {
    auto [out, lse] = pasa::ascend_empty_result(q_in, a, sinks_in, return_lse);
    return {out, return_lse ? lse : pasa::no_lse(q_in)};
  }
  const bool packed = !a.cu_q.empty();
  TORCH_CHECK_VALUE(a.head_dim <= 256, packed ? "pasa.attention_varlen" : "pasa.attention",
                    " on NPU: head dim D must be at most 256 for the Ascend kernel, got ", a.head_dim);
  pasa::PackedRows q_rows, kv_rows;
  if (packed) {
    q_rows = pasa::packed_rows(a.cu_q, q_in.device());
    kv_rows = pasa::packed_rows(a.cu_k, q_in.device());
  }
  const pasa::KernelInputs in =
      pasa::ascend_kernel_inputs(q_in, k_in, v_in, packed ? pasa::KernelMask() : pasa::kernel_mask(mask, a), a,
                                 packed ? &q_rows : nullptr, packed ? &kv_rows : nullptr);
  const at::Tensor q = in.q, k = in.k, v = in.v;
  auto optional = [](const at::Tensor& t) {
    return t.defined() ? c10::optional<at::Tensor>(t) : c10::optional<at::Tensor>();
  };
  const c10::optional<at::Tensor> mask_c = optional(in.mask.tensor), live_c = optional(in.live_keys),
                                  scales_c = optional(in.head_scales),
                                  sinks_c = optional(sinks_in.defined() ? sinks_in.to(at::kFloat).contiguous()
                                                                        : at::Tensor()),
                                  cu_q_c = optional(packed ? cu_seqlens_q.to(at::kLong).contiguous() : at::Tensor()),
                                  cu_k_c = optional(packed ? cu_seqlens_k.to(at::kLong).contiguous() : at::Tensor());
  std::vector<int64_t> padded = pasa::ascend_out_shape(a);
  padded.back() = in.head_dim;
  auto out = at::empty(padded, q_in.options());
  auto lse = at::empty(pasa::ascend_lse_shape(a), q_in.options().dtype(at::kFloat));
  // the aclnn arguments: inputs, attributes in OpDef order (float as double, int as int64_t, string as char*),
  // outputs (pasa_attention_def.cpp); EXEC_NPU_CMD_EXT takes them as named values
  double scale_attr = a.scale, beta_attr = a.beta;
  bool causal_attr = a.causal, bottom_right_attr = packed && a.causal && a.align == pasa::CausalAlign::kBottomRight;
  bool return_lse_attr = return_lse;
  int64_t causal_offset = !packed && a.causal && a.align == pasa::CausalAlign::kBottomRight ? a.s2 - a.s1 : 0;
  int64_t block_n_attr = a.block_n;
  std::string variant_name(variant);
  char* variant_attr = const_cast<char*>(variant_name.c_str());
  EXEC_NPU_CMD_EXT(aclnnPasaAttention, q, k, v, mask_c, live_c, scales_c, sinks_c, cu_q_c, cu_k_c, scale_attr,
                   causal_attr, causal_offset, variant_attr, block_n_attr, beta_attr, bottom_right_attr,
                   return_lse_attr, out, lse);
  if (in.head_dim != a.head_dim) out = out.narrow(-1, 0, a.head_dim).contiguous();
  return {out, return_lse ? lse : pasa::no_lse(q_in)};
}

std::tuple<at::Tensor, at::Tensor> attention_npu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                                 bool causal, c10::string_view causal_align, c10::string_view variant,
                                                 int64_t block_n, std::optional<double> beta,
                                                 c10::string_view backend, bool return_lse,
                                                 const std::optional<at::Tensor>& sinks) {
  const auto a = pasa::check_attention_args(q, k, v, mask, scale, causal, std::string(causal_align),
                                            std::string(variant), block_n, beta, /*check_values=*/true, return_lse,
                                            sinks);
  TORCH_CHECK_VALUE(backend == "auto" || backend == "npu",
                    "pasa.attention: backend for NPU tensors must be 'auto' or 'npu', got '", std::string(backend),
                    "'");
  return launch(q, k, v, mask, a, variant, at::Tensor(), at::Tensor(), sinks, return_lse);
}

std::tuple<at::Tensor, at::Tensor> attention_varlen_npu(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_seqlens_q,
    const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q, int64_t max_seqlen_k, std::optional<double> scale,
    bool causal, c10::string_view causal_align, c10::string_view variant, int64_t block_n, std::optional<double> beta,
    c10::string_view backend, bool return_lse, const std::optional<at::Tensor>& sinks) {
  const auto a = pasa::check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale,
                                         causal, std::string(causal_align), std::string(variant), block_n, beta,
                                         return_lse, sinks);
  TORCH_CHECK_VALUE(backend == "auto" || backend == "npu",
                    "pasa.attention_varlen: backend for NPU tensors must be 'auto' or 'npu', got '",
                    std::string(backend), "'");
  return launch(q, k, v, std::nullopt, a, variant, cu_seqlens_q, cu_seqlens_k, sinks, return_lse);
}

}  // namespace

TORCH_LIBRARY_IMPL(pasa, PrivateUse1, m) {
  m.impl("attention", &attention_npu);
  m.impl("attention_varlen", &attention_varlen_npu);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.doc() = "pasa's NPU kernel (PasaAttention through aclnn)"; }
