// Runs op_kernel/pasa_attention.cpp, unchanged, on the AscendC simulator (no torch, no CANN here).
#pragma once

#include <cstdint>
#include <string>

#include "../../op_kernel/pasa_attention_tiling_data.h"
#include "sim_runtime.h"

namespace ascend_sim {

// Launches pasa_attention over `blockDim` core groups. Buffers are host memory standing in for GM (32-byte
// aligned: the simulator tracks GM accesses per 32-byte block): q, k, v fp16 bit patterns; the mask as the tiling
// describes it, or null; the exact variant's live keys [B, Nkv, S2] bytes and per-head scales [B, N, 3] fp32, or null
// (tiling.liveKeys, tiling.headScales); out fp16 or bf16 bit patterns (tiling.outType); workspace of plan size.
// Raises SimError on a violation; fills `stats` if given.
void RunPasaAttention(const uint16_t* q, const uint16_t* k, const uint16_t* v, const void* mask,
                      const uint8_t* liveKeys, const float* headScales, uint16_t* out, uint8_t* workspace,
                      const PasaAttentionTilingData& tiling, uint32_t blockDim, const Capacities& caps,
                      int parallelGroups, LaunchStats* stats = nullptr);

// Small kernels that each break one rule the simulator enforces; returns the simulator's message ("" if it
// raised none). Cases: ub_overflow, l1_overflow, l0a_overflow, l0b_overflow, l0c_overflow, misaligned_copy,
// short_copy, vector_op_on_cube, flag_overflow, unbalanced_queue, dequeue_empty, double_free, poison_read,
// poison_mmad, gemv_zz_a, pipe_m, mte2_overlap, mte3_overlap, v_to_s, s_to_v, v_to_v, v_to_mte3, mte2_to_v,
// fix_to_mte2, cross_core_wrong_pipe, event_budget, double_set_flag, wait_without_set, flag_never_waited,
// event_on_wrong_core, deadlock, ok; and reduce_sum_order, which reports a ReduceSum result instead.
std::string RunViolationKernel(const std::string& which);

}  // namespace ascend_sim
