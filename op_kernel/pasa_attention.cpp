// Kernel entry of PASA attention (Atlas A2, mixed 1 Cube : 2 Vector). Inputs: q [B, N, S1, D], k and v
// [B, Nkv, S2, D] fp16 (BNSD), or packed sequences q [Tq, N, D], k and v [Tk, Nkv, D] (TND) with cu_seqlens_q/k
// [B + 1] (int64); an optional mask [B or 1, N or 1, S1 or 1, S2] (bool, fp16, bf16 or fp32; BNSD only); for the exact
// variant the optional live keys [B, Nkv, S2] (bool) and per-head scales [B, N, 3] (fp32); optional sinks [N]
// (fp32). Outputs: out [B, N, S1, D] or [Tq, N, D] fp16 or bf16; lse [B, N, S1] or [N, Tq] fp32 (when requested).
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
                                                     GM_ADDR live_keys, GM_ADDR head_scales, GM_ADDR sinks,
                                                     GM_ADDR cu_seqlens_q, GM_ADDR cu_seqlens_k, GM_ADDR out,
                                                     GM_ADDR lse, GM_ADDR workspace, GM_ADDR tiling) {
  KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
  REGISTER_TILING_DEFAULT(PasaAttentionTilingData);
  GET_TILING_DATA(tilingData, tiling);
  AscendC::TPipe pipe;
  pasa_kernel::PasaAttention op;
  op.Init(q, k, v, mask, live_keys, head_scales, sinks, cu_seqlens_q, cu_seqlens_k, out, lse, workspace, tilingData,
          &pipe);
  op.Process();
}
