// Runs op_kernel/pasa_attention.cpp, unchanged, on the AscendC simulator (no torch, no CANN here).
#pragma once

#include <cstdint>
#include <string>

#include "../../op_kernel/pasa_attention_tiling_data.h"
#include "sim_runtime.h"

namespace ascend_sim {

// The kernel's GM buffers: host memory standing in for GM (32-byte aligned: the simulator tracks GM accesses per
// 32-byte block). q, k, v fp16 bit patterns (BNSD, or TND with cuSeqlensQ/K [batch + 1]); the mask as the tiling
// describes it; the exact variant's live keys [B, Nkv, S2] bytes and per-head scales [B, N, 3] fp32; sinks [N] fp32;
// out fp16 or bf16 bit patterns (tiling.outType); lse fp32 (tiling.returnLse); workspace of plan size. Null where the
// tiling says the input is absent.
struct KernelBuffers {
  const uint16_t *q = nullptr, *k = nullptr, *v = nullptr;
  const void* mask = nullptr;
  const uint8_t* liveKeys = nullptr;
  const float *headScales = nullptr, *sinks = nullptr;
  const int64_t *cuSeqlensQ = nullptr, *cuSeqlensK = nullptr;
  uint16_t* out = nullptr;
  float* lse = nullptr;
  uint8_t* workspace = nullptr;
};

// Launches pasa_attention over `blockDim` core groups. Raises SimError on a violation; fills `stats` if given.
void RunPasaAttention(const KernelBuffers& gm, const PasaAttentionTilingData& tiling, uint32_t blockDim,
                      const Capacities& caps, int parallelGroups, LaunchStats* stats = nullptr);

// Small kernels that each break one rule the simulator enforces; returns the simulator's message ("" if it
// raised none). Cases: ub_overflow, l1_overflow, l0a_overflow, l0b_overflow, l0c_overflow, misaligned_copy,
// short_copy, vector_op_on_cube, flag_overflow, unbalanced_queue, dequeue_empty, double_free, poison_read,
// poison_mmad, gemv_zz_a, pipe_m, mte2_overlap, mte3_overlap, v_to_s, s_to_v, v_to_v, v_to_mte3, mte2_to_v,
// fix_to_mte2, cross_core_wrong_pipe, event_budget, double_set_flag, wait_without_set, flag_never_waited,
// event_on_wrong_core, deadlock, ok; and reduce_sum_order, which reports a ReduceSum result instead.
std::string RunViolationKernel(const std::string& which);

}  // namespace ascend_sim
