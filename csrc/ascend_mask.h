// How the Ascend kernel (op_kernel/) takes pasa.attention's mask and output dtype; shared by the simulator backend
// (csrc/ascend_sim) and the NPU binding (csrc/npu). The kernel reads the mask as the user passed it, one element per
// (row, key) at the mask's own size: no (B, N, S1, S2) expansion and no conversion for bool, fp16, bf16 and fp32.
#pragma once

#include <optional>

#include <torch/types.h>

#include "../op_kernel/pasa_attention_tiling_data.h"
#include "attention_args.h"

namespace pasa {

struct KernelMask {
  at::Tensor tensor;  // [batch, heads, rows, S2], contiguous; undefined without a mask
  PasaMaskType type = PASA_MASK_NONE;
  int64_t batch = 1, heads = 1, rows = 1;  // each 1 (broadcast) or B, N, S1
};

// The mask (checked by check_attention_args: bool or floating, broadcastable to (B, N, S1, S2)) as a 4-D tensor
// [B or 1, N or 1, S1 or 1, S2]. A dimension the caller broadcast by a stride of 0 (torch's expand) is taken back
// to size 1. No copy is made when the result is already contiguous in a dtype the kernel reads; the copies are
// the mask's own size: a mask broadcast along S2 (last dimension 1) is expanded along S2, a strided view is made
// contiguous, a float64 mask is converted to fp32 (the contract converts every float mask to fp32).
inline KernelMask kernel_mask(const std::optional<at::Tensor>& mask, const AttentionArgs& a) {
  KernelMask k;
  if (!mask.has_value() || !mask->defined()) return k;
  at::Tensor m = *mask;
  while (m.dim() < 4) m = m.unsqueeze(0);
  for (int64_t d = 0; d < 3; ++d)
    if (m.size(d) > 1 && m.stride(d) == 0) m = m.narrow(d, 0, 1);
  if (m.size(3) != a.s2) m = m.expand({m.size(0), m.size(1), m.size(2), a.s2});
  switch (m.scalar_type()) {
    case at::kBool: k.type = PASA_MASK_BOOL; break;
    case at::kHalf: k.type = PASA_MASK_FP16; break;
    case at::kBFloat16: k.type = PASA_MASK_BF16; break;
    case at::kFloat: k.type = PASA_MASK_FP32; break;
    default:
      m = m.to(at::kFloat);
      k.type = PASA_MASK_FP32;
  }
  k.tensor = m.contiguous();
  k.batch = m.size(0);
  k.heads = m.size(1);
  k.rows = m.size(2);
  return k;
}

// The kernel writes q's dtype: fp16, or bf16 (then it computed on the fp16 conversion of q, k and v).
inline PasaOutType kernel_out_type(at::ScalarType q_dtype) {
  return q_dtype == at::kBFloat16 ? PASA_OUT_BF16 : PASA_OUT_FP16;
}

}  // namespace pasa
