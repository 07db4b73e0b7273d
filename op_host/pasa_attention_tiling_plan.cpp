#include "pasa_attention_tiling_plan.h"

#include <algorithm>
#include <cmath>

#include "pasa_text.h"

namespace pasa_tiling {
namespace {

template <class... A>
[[noreturn]] void Reject(const A&... parts) {
  throw TilingError(pasa_text::Cat("pasa attention tiling: ", parts...));
}

float RoundFp16(float x) {  // fp16 rounding of a value in fp16's normal range (host side, for the paper coefficient)
  if (x == 0.f || !std::isfinite(x)) return x;
  int e = 0;
  std::frexp(x, &e);                          // x = m·2^e, m in [0.5, 1)
  const double ulp = std::ldexp(1.0, std::max(e - 11, -24));
  return static_cast<float>(std::nearbyint(x / ulp) * ulp);
}

constexpr uint32_t kMaxHeadDim = 256, kMaxBlockN = 1024, kMaxSeq = 1u << 24;
constexpr uint64_t kKeyCacheBudget = 8ull << 20;  // bytes of K' cache per core group

// TND: the sequences' rows and keys from cu_seqlens (batch + 1 entries, from 0, non-decreasing); the longest of each
// into s1 and s2.
void CheckSequences(Problem* p) {
  if (p->layout != PASA_LAYOUT_TND) return;
  if (p->cuQ.size() != p->batch + size_t(1) || p->cuK.size() != p->batch + size_t(1))
    Reject("packed sequences need batch + 1 = ", p->batch + 1, " sequence starts each, got ", p->cuQ.size(), " and ",
           p->cuK.size());
  if (p->cuQ[0] != 0 || p->cuK[0] != 0) Reject("cu_seqlens must start at 0");
  int64_t s1 = 0, s2 = 0;
  for (uint32_t b = 0; b < p->batch; ++b) {
    const int64_t lq = p->cuQ[b + 1] - p->cuQ[b], lk = p->cuK[b + 1] - p->cuK[b];
    if (lq < 0 || lk < 0) Reject("cu_seqlens must not decrease (sequence ", b, ")");
    s1 = std::max(s1, lq);
    s2 = std::max(s2, lk);
  }
  if (p->cuQ.back() >= (int64_t(1) << 31) || p->cuK.back() >= (int64_t(1) << 31))
    Reject("packed calls take fewer than 2^31 rows, got ", p->cuQ.back(), " and ", p->cuK.back());
  p->s1 = static_cast<uint32_t>(s1);
  p->s2 = static_cast<uint32_t>(s2);
}

void CheckProblem(const Problem& p, const Platform& hw) {
  if (hw.aicNum == 0 || hw.ub == 0 || hw.l1 == 0 || hw.l0a == 0 || hw.l0b == 0 || hw.l0c == 0)
    Reject("platform '", hw.soc, "' reports no AI cores or a zero memory size");
  if (p.batch == 0 || p.heads == 0 || p.kvHeads == 0 || p.s1 == 0 || p.s2 == 0)
    Reject("empty problem (batch ", p.batch, ", heads ", p.heads, ", kv heads ", p.kvHeads, ", S1 ", p.s1, ", S2 ",
           p.s2, "): the caller returns the empty or zero output without launching");
  if (p.heads % p.kvHeads != 0)
    Reject("heads N (", p.heads, ") must be a multiple of kv heads Nkv (", p.kvHeads, ")");
  if (p.headDim == 0 || p.headDim % 16 != 0 || p.headDim > kMaxHeadDim)
    Reject("head dim D must be a multiple of 16 in [16, ", kMaxHeadDim, "] for the Ascend kernel (Cube fractals ",
           "are 16 wide), got ", p.headDim);
  if (p.blockN < 16 || p.blockN > kMaxBlockN || p.blockN % 16 != 0)
    Reject("block_n must be a multiple of 16 in [16, ", kMaxBlockN, "], got ", p.blockN);
  if (p.s1 >= kMaxSeq || p.s2 >= kMaxSeq)
    Reject("S1 and S2 must be below 2^24 (key indices are exact in fp32), got S1 ", p.s1, ", S2 ", p.s2);
  if (!(p.scale > 0) || !std::isfinite(p.scale)) Reject("scale must be finite and > 0, got ", p.scale);
  if (p.variant == PASA_VARIANT_EXACT && p.beta != 1.0) Reject("variant exact takes beta = 1, got ", p.beta);
  if (p.variant != PASA_VARIANT_EXACT && !(p.beta > 0 && p.beta < 1))
    Reject("beta must lie in (0, 1) for variants pasa and paper, got ", p.beta);
  if (p.maskType > PASA_MASK_FP32) Reject("unknown mask type ", static_cast<uint32_t>(p.maskType));
  if (p.outType > PASA_OUT_BF16) Reject("unknown output type ", static_cast<uint32_t>(p.outType));
  if (p.variant != PASA_VARIANT_EXACT && (p.headScales || p.liveKeys))
    Reject("per-head scales and live keys are inputs of variant exact only");
  if (p.layout == PASA_LAYOUT_TND && (p.maskType != PASA_MASK_NONE || p.liveKeys))
    Reject("packed sequences take no mask");
  // the Cube's ND -> NZ copies step from one position of a head to the next by srcDValue, a 16-bit field
  // (interface/kernel_struct_data_copy.h Nd2NzParams)
  if (p.layout == PASA_LAYOUT_TND && uint64_t(p.heads) * p.headDim > 65535)
    Reject("packed sequences need heads x D below 65536 (the Cube's row stride), got ", p.heads, " x ", p.headDim);
  if (p.maskType != PASA_MASK_NONE &&
      ((p.maskBatch != 1 && p.maskBatch != p.batch) || (p.maskHeads != 1 && p.maskHeads != p.heads) ||
       (p.maskRows != 1 && p.maskRows != p.s1)))
    Reject("the mask must have shape (B or 1, N or 1, S1 or 1, S2) = (", p.batch, " or 1, ", p.heads, " or 1, ",
           p.s1, " or 1, ", p.s2, "), got (", p.maskBatch, ", ", p.maskHeads, ", ", p.maskRows, ", ", p.s2, ")");
}

bool Fits(const PasaAttentionTilingData& t, const Platform& hw, Plan* plan) {
  const PasaBufferPlan b = PasaBuffers(t);
  plan->buffers = b;
  plan->ubBytes = PasaUbBytes(b);
  plan->l1Bytes = PasaL1Bytes(b);
  plan->l0aBytes = PasaL0aBytes(b);
  plan->l0bBytes = PasaL0bBytes(b);
  plan->l0cBytes = PasaL0cBytes(b);
  return plan->ubBytes <= hw.ub && plan->l1Bytes <= hw.l1 && plan->l0aBytes <= hw.l0a && plan->l0bBytes <= hw.l0b &&
         plan->l0cBytes <= hw.l0c;
}

}  // namespace

Platform Platform910B(const std::string& soc) {
  Platform p;
  p.soc = soc;
  p.ub = 192 * 1024;
  p.l1 = 512 * 1024;
  p.l0a = p.l0b = 64 * 1024;
  p.l0c = 128 * 1024;
  if (soc == "Ascend910B1" || soc == "Ascend910B2") p.aicNum = 24;
  else if (soc == "Ascend910B3" || soc == "Ascend910B4") p.aicNum = 20;
  else throw TilingError("pasa attention tiling: unknown SoC '" + soc + "' (expected Ascend910B1..Ascend910B4)");
  p.aivNum = 2 * p.aicNum;
  return p;
}

Plan MakePlan(const Problem& problem, const Platform& hw, uint32_t maxQRows) {
  // stage 1: shapes and attributes
  Problem p = problem;
  CheckSequences(&p);
  CheckProblem(p, hw);
  if (maxQRows < 16) Reject("maxQRows must be at least 16, got ", maxQRows);

  // stage 2: attributes into the tiling data
  Plan plan;
  PasaAttentionTilingData& t = plan.data;
  t.batch = p.batch; t.heads = p.heads; t.kvHeads = p.kvHeads; t.s1 = p.s1; t.s2 = p.s2; t.headDim = p.headDim;
  t.layout = p.layout;
  if (p.layout == PASA_LAYOUT_TND) {
    t.totalQ = static_cast<uint32_t>(p.cuQ.back());
    t.totalK = static_cast<uint32_t>(p.cuK.back());
  }
  t.bottomRight = p.layout == PASA_LAYOUT_TND && p.causal && p.bottomRight ? 1 : 0;
  t.returnLse = p.returnLse ? 1 : 0;
  t.sinks = p.sinks ? 1 : 0;
  t.variant = p.variant;
  t.causal = p.causal ? 1 : 0;
  t.causalOffset = static_cast<int32_t>(p.causal ? p.causalOffset : 0);
  t.maskType = p.maskType;
  t.outType = p.outType;
  t.headScales = p.headScales ? 1 : 0;
  t.liveKeys = p.liveKeys ? 1 : 0;
  if (p.maskType != PASA_MASK_NONE) {  // strides of the mask as passed; 0 where it broadcasts
    t.maskRowStride = p.maskRows > 1 ? p.s2 : 0;
    t.maskHeadStride = p.maskHeads > 1 ? uint64_t(p.maskRows) * p.s2 : 0;
    t.maskBatchStride = p.maskBatch > 1 ? uint64_t(p.maskHeads) * p.maskRows * p.s2 : 0;
  }
  t.blockN = p.blockN;
  t.scale = static_cast<float>(p.scale);
  const double pow2 = std::ldexp(1.0, static_cast<int>(std::floor(std::log2(p.scale))));
  t.scalePow2 = static_cast<float>(pow2);
  t.scaleRest = static_cast<float>(p.scale / pow2);
  t.beta = static_cast<float>(p.beta);
  const float b = static_cast<float>(p.beta);
  t.coefPaper = p.variant == PASA_VARIANT_EXACT ? 0.f : RoundFp16(b / (1.f - b));

  // stage 3: block sizes: the query block is a divisor of 128 (so blocks of 64 query rows never straddle two
  // tasks): the smallest that holds min(S1, maxQRows) rows, or a smaller one when its buffers do not fit; the
  // largest vector step; the Cube's reduction chunk shrinks before the query block does.
  const uint32_t want = std::min<uint32_t>(p.s1, maxQRows);
  uint32_t qMax = 16;
  while (qMax < 128 && qMax < want && 2 * qMax <= maxQRows) qMax *= 2;
  bool found = false;
  for (uint32_t q = qMax; q >= 16 && !found; q /= 2) {
    for (uint32_t cubeK : {128u, 64u, 32u, 16u}) {
      for (uint32_t vr : {16u, 8u, 4u, 2u, 1u}) {
        t.qRows = q;
        t.vecRows = std::min(vr, q / 2);
        t.kRows = 16;
        t.cubeN = std::min<uint32_t>(128, p.blockN);
        t.cubeK = cubeK;
        if (Fits(t, hw, &plan)) { found = true; break; }
      }
      if (found) break;
    }
  }
  if (!found)
    Reject("no block sizes fit ", hw.soc, "'s memories (UB ", hw.ub, ", L1 ", hw.l1, ", L0A ", hw.l0a, ", L0B ",
           hw.l0b, ", L0C ", hw.l0c, " bytes) for D = ", p.headDim, ", block_n = ", p.blockN,
           "; the smallest plan needs UB ", plan.ubBytes, ", L1 ", plan.l1Bytes, ", L0C ", plan.l0cBytes, " bytes");

  // stage 4: work split: tasks (batch or sequence, head, query block) in contiguous ranges over the AI core groups
  t.qBlocks = (p.s1 + t.qRows - 1) / t.qRows;
  uint64_t tasks = uint64_t(p.batch) * p.heads * t.qBlocks;
  if (p.layout == PASA_LAYOUT_TND) {
    tasks = 0;
    for (uint32_t b = 0; b < p.batch; ++b) tasks += uint64_t(p.heads) * ((p.cuQ[b + 1] - p.cuQ[b] + t.qRows - 1) / t.qRows);
    if (tasks == 0) Reject("no sequence has a query row: the caller returns the empty output without launching");
  }
  if (tasks > 0xffffffffull) Reject("too many tasks (", tasks, ")");
  t.totalTasks = static_cast<uint32_t>(tasks);
  t.usedCores = std::min<uint32_t>(hw.aicNum, t.totalTasks);
  t.tasksPerCore = t.totalTasks / t.usedCores;
  t.tasksExtra = t.totalTasks % t.usedCores;
  plan.blockDim = t.usedCores;

  // stage 5: workspace per core group (512-byte aligned pieces); the K' cache when it fits the budget
  const uint32_t blocks = (p.s2 + p.blockN - 1) / p.blockN;
  const uint64_t kpBlock = uint64_t(p.blockN) * p.headDim * 2;
  const uint64_t centres = p.variant == PASA_VARIANT_EXACT ? 2ull * blocks * p.headDim * 4 : 0;  // c_j per AIV
  const bool cache = uint64_t(blocks) * kpBlock + centres <= kKeyCacheBudget;
  t.keyCacheBlocks = cache ? blocks : 0;
  const uint32_t kp = PasaAlign(static_cast<uint32_t>(kpBlock * (cache ? blocks : 1)), 512);
  const uint32_t s = PasaAlign(t.qRows * p.blockN * 2, 512), o = PasaAlign(t.qRows * p.headDim * 4, 512);
  const uint32_t c = cache ? PasaAlign(static_cast<uint32_t>(centres), 512) : 0;
  t.wsKpOff = 0;
  t.wsSOff = kp;
  t.wsPOff = kp + s;
  t.wsOOff = kp + 2 * s;
  const bool exact = p.variant == PASA_VARIANT_EXACT;
  const uint32_t m = exact ? 0 : PasaAlign(2 * p.blockN * p.blockN * 2, 512);
  // exact: Q' of the task's rows, the centres of its (at most 2) query groups, g of one KV block per group
  const uint32_t qp = exact ? PasaAlign(t.qRows * p.headDim * 2, 512) : 0;
  const uint32_t a = exact ? PasaAlign(2 * p.headDim * 2, 512) : 0, g = exact ? PasaAlign(2 * p.blockN * 4, 512) : 0;
  t.wsCOff = kp + 2 * s + o;
  t.wsMOff = t.wsCOff + c;
  t.wsQOff = t.wsMOff + m;
  t.wsAOff = t.wsQOff + qp;
  t.wsGOff = t.wsAOff + a;
  t.wsPerCore = t.wsGOff + g;
  plan.workspaceBytes = uint64_t(t.wsPerCore) * t.usedCores;
  return plan;
}

std::string Plan::Describe() const {
  const auto& t = data;
  return pasa_text::Cat("qRows=", t.qRows, " vecRows=", t.vecRows, " kRows=", t.kRows, " cubeN=", t.cubeN,
                        " cubeK=", t.cubeK, " blockN=", t.blockN, " qBlocks=", t.qBlocks, " tasks=", t.totalTasks,
                        " cores=", t.usedCores, " tasksPerCore=", t.tasksPerCore, "+", t.tasksExtra, " UB=", ubBytes,
                        " L1=", l1Bytes, " L0A=", l0aBytes, " L0B=", l0bBytes, " L0C=", l0cBytes,
                        " keyCache=", t.keyCacheBlocks, " workspace=", workspaceBytes);
}

}  // namespace pasa_tiling
