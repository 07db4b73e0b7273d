// PASA attention's tiling as plain C++ (no CANN, no torch): shapes, attributes and the SoC's capacities in,
// the tiling data (block sizes, core split, buffer plan, workspace) out, or a TilingError that says what is
// wrong. The CANN tiling function (pasa_attention_tiling.cpp), the simulator backend and the unit tests call it.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../op_kernel/pasa_attention_tiling_data.h"

namespace pasa_tiling {

struct TilingError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// What the tiling needs to know about the SoC (PlatformAscendC on the device, faked figures on the host).
struct Platform {
  std::string soc;
  uint32_t aicNum = 0, aivNum = 0;
  uint64_t ub = 0, l1 = 0, l0a = 0, l0b = 0, l0c = 0;
};

// Atlas A2 figures from CANN 8.1.RC1's platform files: "Ascend910B1" .. "Ascend910B4".
Platform Platform910B(const std::string& soc);

struct Problem {
  // BNSD: batch, s1, s2 as the shapes say. TND (packed sequences): batch sequences whose rows and keys start at
  // cuQ[b] and cuK[b] (batch + 1 entries each, from 0 to the totals); s1 and s2 are then taken from them.
  uint32_t batch = 1, heads = 1, kvHeads = 1, s1 = 0, s2 = 0, headDim = 0;
  PasaLayout layout = PASA_LAYOUT_BNSD;
  std::vector<int64_t> cuQ, cuK;
  PasaVariant variant = PASA_VARIANT_EXACT;
  bool causal = false;
  int64_t causalOffset = 0;  // BNSD: row i sees keys ≤ i + causalOffset
  bool bottomRight = false;  // TND: each sequence's offset is its S2 − S1 (else 0)
  uint32_t blockN = 128;
  double scale = 0, beta = 1;
  // the mask as passed to the kernel: its dtype and shape [maskBatch, maskHeads, maskRows, s2], each of the first
  // three either 1 (broadcast) or batch, heads, s1; PASA_MASK_NONE: no mask
  PasaMaskType maskType = PASA_MASK_NONE;
  uint32_t maskBatch = 1, maskHeads = 1, maskRows = 1;
  PasaOutType outType = PASA_OUT_FP16;
  // exact: per-head scales [batch, heads, 3] fp32 are passed (bf16 inputs); the live keys [batch, kvHeads, s2] are
  // passed (a mask was given)
  bool headScales = false, liveKeys = false;
  // write the log-sum-exp; the per-head sinks are passed
  bool returnLse = false, sinks = false;
};

struct Plan {
  PasaAttentionTilingData data{};
  uint32_t blockDim = 0;        // core groups launched (= data.usedCores)
  uint64_t workspaceBytes = 0;  // user workspace (all groups)
  PasaBufferPlan buffers{};
  uint64_t ubBytes = 0, l1Bytes = 0, l0aBytes = 0, l0bBytes = 0, l0cBytes = 0;
  std::string Describe() const;
};

// Stages: checks on shapes and attributes -> block sizes that fit the memories -> work split -> workspace.
// maxQRows caps the query rows per task (tests use it to get more tasks than cores).
Plan MakePlan(const Problem& problem, const Platform& platform, uint32_t maxQRows = 128);

}  // namespace pasa_tiling
