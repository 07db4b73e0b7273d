// Kernel entry of PASA attention (Atlas A2, mixed 1 Cube : 2 Vector). Inputs: q [B, N, S1, D], k and v
// [B, Nkv, S2, D] fp16 (BNSD), an optional mask [B or 1, N or 1, S1 or 1, S2] (bool, fp16, bf16 or fp32); for the
// exact variant the optional live keys [B, Nkv, S2] (bool) and per-head scales [B, N, 3] (fp32); output
// [B, N, S1, D] fp16 or bf16.
#include "kernel_operator.h"
#include "pasa_attention.h"

// The tiling data is a plain C++ struct, registered with REGISTER_TILING_DEFAULT so that CANN's kernel compile records
// its size (tikcpp/compile_op.py: opParaSize = sizeof + 8; unregistered, 8) and generates GET_TILING_DATA for it in
// a header it force-includes (tikcpp/get_op_tiling.py gen_dynamic_shape_v2). Compiled without that header (the
// simulator, a type-check against the bare CANN headers) the kernel copies the struct from GM word by word itself.
#ifndef GET_TILING_DATA
__aicore__ inline void CopyTiling(PasaAttentionTilingData* dst, GM_ADDR tiling) {
  uint32_t* d = reinterpret_cast<uint32_t*>(dst);
  __gm__ uint32_t* s = reinterpret_cast<__gm__ uint32_t*>(tiling);
  for (uint32_t i = 0; i < sizeof(PasaAttentionTilingData) / sizeof(uint32_t); ++i) d[i] = s[i];
}
#define GET_TILING_DATA(tiling_data, tiling_arg) \
  PasaAttentionTilingData tiling_data;            \
  CopyTiling(&tiling_data, tiling_arg)
#endif

extern "C" __global__ __aicore__ void pasa_attention(GM_ADDR q, GM_ADDR k, GM_ADDR v, GM_ADDR mask,
                                                     GM_ADDR live_keys, GM_ADDR head_scales, GM_ADDR out,
                                                     GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  REGISTER_TILING_DEFAULT(PasaAttentionTilingData);
  GET_TILING_DATA(tilingData, tiling);
  AscendC::TPipe pipe;
  pasa_kernel::PasaAttention op;
  op.Init(q, k, v, mask, live_keys, head_scales, out, workspace, tilingData, &pipe);
  op.Process();
}
