// The one definition of PASA attention's tiling data, shared by the host tiling (op_host) and the kernel
// (op_kernel), plus the buffer sizes both sides derive from it: the host checks them against the SoC's
// capacities, the kernel hands exactly these sizes to TPipe::InitBuffer.
#pragma once

#include <cstdint>

#if defined(__CCE_KT_TEST__) || defined(__CCE_AICORE__) || defined(ASCEND_SIM)
#define PASA_TILING_FN __aicore__ inline
#else
#define PASA_TILING_FN inline
#endif

enum PasaVariant : uint32_t { PASA_VARIANT_EXACT = 0, PASA_VARIANT_PASA = 1, PASA_VARIANT_PAPER = 2 };
// The mask as the kernel reads it from GM, one element per (row, key): bool (1 byte, 0 hides the key) or a float
// added to the score (−inf hides it).
enum PasaMaskType : uint32_t { PASA_MASK_NONE = 0, PASA_MASK_BOOL, PASA_MASK_FP16, PASA_MASK_BF16, PASA_MASK_FP32 };
enum PasaOutType : uint32_t { PASA_OUT_FP16 = 0, PASA_OUT_BF16 = 1 };
// q, k, v and out in GM: BNSD (dense calls) or TND (packed sequences of attention_varlen: q [totalQ, heads, D], k and
// v [totalK, kvHeads, D], sequence b's rows from cu_seqlens[b])
enum PasaLayout : uint32_t { PASA_LAYOUT_BNSD = 0, PASA_LAYOUT_TND = 1 };

PASA_TILING_FN uint32_t PasaMaskBytes(uint32_t maskType) {
  return maskType == PASA_MASK_BOOL ? 1 : maskType == PASA_MASK_FP32 ? 4 : maskType == PASA_MASK_NONE ? 0 : 2;
}

struct PasaAttentionTilingData {
  // shape (BNSD): q [batch, heads, s1, headDim], k/v [batch, kvHeads, s2, headDim]; TND: batch sequences of at most
  // s1 query rows and s2 keys, totalQ and totalK rows in all (the lse of TND is [heads, totalQ])
  uint32_t batch, heads, kvHeads, s1, s2, headDim;
  uint32_t layout, totalQ, totalK;  // PasaLayout
  // attributes
  uint32_t variant;      // PasaVariant
  uint32_t causal;       // 1: row i sees keys 0..i + causalOffset
  int32_t causalOffset;  // BNSD: 0 (top-left) or s2 - s1 (bottom-right)
  uint32_t bottomRight;  // TND: the causal offset of each sequence is its s2 − s1 (else 0)
  uint32_t returnLse;    // 1: write the log-sum-exp of every row (fp32, [batch, heads, s1] or [heads, totalQ])
  uint32_t sinks;        // 1: the per-head sink logits [heads] fp32 join every row's normaliser
  uint32_t maskType;     // PasaMaskType
  uint32_t blockN;       // KV block length n (a numerics parameter: multiple of 16)
  float scale;           // softmax scale s
  float scalePow2;       // exact variant: s = scalePow2 * scaleRest, scalePow2 a power of two
  float scaleRest;
  float beta;            // pasa / paper: β of the shift matrix
  float coefPaper;       // paper: fp16(β / (1 − β))
  // blocks and buffers
  uint32_t qRows;    // query rows per task (the Cube's m), multiple of 16; each AIV takes half
  uint32_t vecRows;  // rows one AIV processes per vector step
  uint32_t kRows;    // K rows per vector step when shifting keys
  uint32_t cubeN;    // keys per L0C tile of S' = Q·K'ᵀ
  uint32_t cubeK;    // reduction elements per L0A/L0B load
  // work split over AI core groups (1 AIC + 2 AIV): contiguous task ranges
  uint32_t qBlocks, totalTasks, usedCores, tasksPerCore, tasksExtra;
  // exact variant inputs beside q, k, v and the mask (docs/ascend.md, "The exact variant's inputs"): headScales 1:
  // per-head scales [batch, heads, 3] fp32 (s_h, s_rest_h, the output's 2^εv: bf16 slices), 0: scale, scaleRest, 1
  // for every head; liveKeys 1: the keys some row of some head of their KV group sees, [batch, kvHeads, s2] bytes
  // (a mask was passed), 0: every key up to the last one the causal limit lets a row see
  uint32_t headScales, liveKeys;
  // K' cache: with keyCacheBlocks = ceil(s2 / blockN) > 0 each core group keeps K'_j (and, exact, c_j) of every
  // block of the (batch, KV head) it last worked on, so consecutive tasks of one KV head skip the key shift;
  // 0: one K' block, recomputed per task (when the cache would not fit the workspace budget)
  uint32_t keyCacheBlocks;
  // GM workspace per core group, bytes: K' [max(1, keyCacheBlocks), blockN, D] fp16, S' [qRows, blockN] fp16,
  // P [qRows, blockN] fp16, PV [qRows, D] fp32, exact: centres [2 AIV, keyCacheBlocks, D] fp32
  // pasa / paper: the shift matrices M (full block, tail block) [2, blockN, blockN] fp16 at wsMOff
  // exact: Q' [qRows, D] fp16 at wsQOff, the task's query centres A [2, D] fp16 at wsAOff (one row per 64-row query
  // group of the task), g = A·K'ᵀ [2, blockN] fp32 at wsGOff
  uint32_t wsPerCore, wsKpOff, wsSOff, wsPOff, wsOOff, wsCOff, wsMOff, wsQOff, wsAOff, wsGOff;
  // output dtype (PasaOutType); the mask's layout in GM: [maskBatch or 1, heads or 1, s1 or 1, s2] as passed, the
  // element of (b, h, row, key) at b·maskBatchStride + h·maskHeadStride + row·maskRowStride + key, a stride 0
  // where the mask broadcasts (a (B, 1, 1, S2) padding mask: row and head strides 0)
  uint32_t outType;
  uint32_t maskRowStride;
  uint32_t pad0;  // keeps the 64-bit strides below on an 8-byte boundary with no implicit padding
  uint64_t maskHeadStride, maskBatchStride;
};

static_assert(sizeof(PasaAttentionTilingData) % 8 == 0, "the tiling data is copied in whole 64-bit words");

PASA_TILING_FN uint32_t PasaAlign(uint32_t x, uint32_t a) { return (x + a - 1) / a * a; }
PASA_TILING_FN uint32_t PasaMax(uint32_t a, uint32_t b) { return a > b ? a : b; }

// Bytes of each buffer of the Vector core (UB) and the Cube core (L1, L0A, L0B, L0C). A buffer the variant does
// not use is 0 bytes and is not set up.
struct PasaBufferPlan {
  // UB (per AIV). Queues hold 2 buffers each (double buffering): `in` (GM -> UB) takes the S' tile, the P·V rows
  // and the K rows in turn, `out` (UB -> GM) the K' rows, the P tile and the output rows, so the AIV holds few
  // event IDs (each freed queue buffer holds one, basic_api/impl/kernel_tquebind_impl.h)
  uint32_t in, out, maskIn;  // one buffer of each queue; maskIn: the mask's rows of one vector step as passed
  uint32_t kWork, col, q16, o32, o16, pv16, x32, x16, sel, maskWork, maskBias, row, stat, red;
  // L1 (AIC): Q (exact: Q' and the 16-row block of query centres A); 2 x A slices (P or M); 2 x B tiles (K' tiles,
  // K or V slices). L0A / L0B: 2 stages each. L0C: 1.
  uint32_t qL1, aL1, bL1, a2, b2, c1;
};

// exact: the Vector core's columns of D fp32 values (sums, extremes, centres, the block-0 centre, a query row)
constexpr uint32_t PASA_EXACT_COL_SLOTS = 10;
// exact: query rows [64t, 64t + 64) of a head share one query centre (python/pasa/contract.py QUERY_GROUP)
constexpr uint32_t PASA_QUERY_GROUP = 64;

PASA_TILING_FN uint32_t PasaRowsPerAiv(const PasaAttentionTilingData& t) { return t.qRows / 2; }

PASA_TILING_FN PasaBufferPlan PasaBuffers(const PasaAttentionTilingData& t) {
  PasaBufferPlan p{};
  const uint32_t d = t.headDim, n = t.blockN, vr = t.vecRows, rv = PasaRowsPerAiv(t);
  const bool paper = t.variant == PASA_VARIANT_PAPER, exact = t.variant == PASA_VARIANT_EXACT;
  const uint32_t kRowsIn = PasaAlign(t.kRows * d * 2, 32), sTile = PasaAlign(vr * n * 2, 32);
  const uint32_t pvRows = PasaAlign(vr * d * 4, 32);
  p.in = PasaMax(PasaMax(kRowsIn, sTile), pvRows);
  p.out = PasaMax(PasaMax(kRowsIn, sTile), pvRows);
  // one mask row for all query rows when the mask broadcasts over S1, else a row per query row; rows 32-byte
  // aligned in UB (DataCopyPad), fp32 rows at the score tile's pitch
  const uint32_t maskRows = t.maskRowStride ? vr : 1;
  p.maskIn = t.maskType ? maskRows * PasaAlign(n * PasaMaskBytes(t.maskType), 32) : 0;
  // the mask's selector (±inf, fp32), and for a bool mask its 0/1 values as fp16 on the way there
  p.maskWork = t.maskType ? maskRows * n * 4 + (t.maskType == PASA_MASK_BOOL ? maskRows * n * 2 : 0) : 0;
  // a float mask's finite part b' = max(b, −FLT_MAX), added to the scores
  p.maskBias = t.maskType > PASA_MASK_BOOL ? maskRows * n * 4 : 0;
  p.sel = vr * n * 4;  // ±inf per score: the selection that hides keys (causal, tail, mask)
  p.kWork = PasaAlign(t.kRows * d * 4, 32);
  p.col = (exact ? PASA_EXACT_COL_SLOTS : 8) * d * 4;
  p.q16 = exact ? PasaAlign(rv * d * 2, 32) : 0;
  p.o32 = PasaAlign(rv * d * 4, 32);
  p.o16 = paper ? PasaAlign(rv * d * 2, 32) : 0;
  p.pv16 = paper ? PasaAlign(vr * d * 2, 32) : 0;
  p.x32 = PasaAlign(vr * n * 4, 32);
  p.x16 = paper ? PasaAlign(vr * n * 2, 32) : 0;
  // the key ramp 0, -1, -2, ..., the reductions' work area; exact: the row of g = a·K'ᵀ of this AIV's query group
  p.row = (exact ? 3 : 2) * PasaAlign(n * 4, 32);
  p.stat = 16 * PasaAlign(rv, 8) * 4;
  p.red = 64;
  p.qL1 = (t.qRows + (exact ? 16 : 0)) * d * 2;
  p.aL1 = t.qRows * t.cubeK * 2;
  p.bL1 = PasaMax(t.cubeN, t.cubeK) * d * 2;
  p.a2 = t.qRows * t.cubeK * 2;
  p.b2 = t.cubeK * PasaMax(t.cubeN, d) * 2;
  p.c1 = t.qRows * PasaMax(t.cubeN, d) * 4;
  return p;
}

PASA_TILING_FN uint32_t PasaUbBytes(const PasaBufferPlan& p) {
  return 2 * (p.in + p.out + p.maskIn) + p.kWork + p.col + p.q16 + p.o32 + p.o16 + p.pv16 + p.x32 + p.x16 + p.sel +
         p.maskWork + p.maskBias + p.row + p.stat + p.red;
}
PASA_TILING_FN uint32_t PasaL1Bytes(const PasaBufferPlan& p) { return p.qL1 + 2 * (p.aL1 + p.bL1); }
PASA_TILING_FN uint32_t PasaL0aBytes(const PasaBufferPlan& p) { return 2 * p.a2; }
PASA_TILING_FN uint32_t PasaL0bBytes(const PasaBufferPlan& p) { return 2 * p.b2; }
PASA_TILING_FN uint32_t PasaL0cBytes(const PasaBufferPlan& p) { return p.c1; }
