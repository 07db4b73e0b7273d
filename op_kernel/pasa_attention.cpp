// Kernel entry of PASA attention (Atlas A2, mixed 1 Cube : 2 Vector). Inputs: q [B, N, S1, D], k and v
// [B, Nkv, S2, D] fp16 (BNSD), an optional mask [B or 1, N or 1, S1 or 1, S2] (bool, fp16, bf16 or fp32); output
// [B, N, S1, D] fp16 or bf16.
#include "kernel_operator.h"
#include "pasa_attention.h"

// The tiling data is a plain struct in GM: copy it word by word into the kernel's stack.
__aicore__ inline void CopyTiling(PasaAttentionTilingData* dst, GM_ADDR tiling) {
  uint32_t* d = reinterpret_cast<uint32_t*>(dst);
  __gm__ uint32_t* s = reinterpret_cast<__gm__ uint32_t*>(tiling);
  for (uint32_t i = 0; i < sizeof(PasaAttentionTilingData) / sizeof(uint32_t); ++i) d[i] = s[i];
}

extern "C" __global__ __aicore__ void pasa_attention(GM_ADDR q, GM_ADDR k, GM_ADDR v, GM_ADDR mask, GM_ADDR out,
                                                     GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  PasaAttentionTilingData tilingData;
  CopyTiling(&tilingData, tiling);
  AscendC::TPipe pipe;
  pasa_kernel::PasaAttention op;
  op.Init(q, k, v, mask, out, workspace, tilingData, &pipe);
  op.Process();
}
