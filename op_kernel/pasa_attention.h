// PASA attention for Atlas A2 (910B): a mixed Cube/Vector kernel (1 AIC + 2 AIV per core group).
//
// Per task (batch b, head h, a block of qRows query rows) and per KV block j of blockN keys:
//   AIV  exact, once per task: QueryCentres: the centre a of each 64-row query group, Q' = fp16(Q − a) and a to the
//        GM workspace (published by block 0's KP flag)
//   AIV  PrepareKeys(j), exact: centres c_j of K_j's live keys, K'_j = fp16(2^e·(K_j − c_j)), each AIV writing half
//        of K'_j's rows to the GM workspace; h = s_h·(q·(c_j − c_0)) per own row.     -> flag KP
//   AIC  ShiftKeys(j), pasa/paper: K'_j = fp16(M·K_j) on the Cube (M from the workspace, built by the AIVs once)
//   AIC  Scores(j): S' = Q·K'_jᵀ (exact: Q'·K'_jᵀ, and g = A·K'_jᵀ in fp32 for the task's query groups) on the
//        Cube (fp16 in L0A/L0B, fp32 in L0C, fp16 out)                               -> flag S
//   AIV  Softmax(j): x = S' (exact: s_rest,h·(S' + g); a row whose score overflowed takes fp32 scores), the user's
//        mask, causal limit and block tail applied by selection, row max, P = fp16(exp(x − r)), row sums, the
//        variant's running statistics; P to the workspace                                -> flag P
//   AIC  ValuesTimesP(j): PV = P·V_j on the Cube (fp32 out)                          -> flag PV
//   AIV  UpdateOutput(j): O = α·O + γ·PV in UB
// The AIV prepares K'_{j+1} while the AIC computes P·V_j. At the end O / l goes to the output in fp16 or bf16.
#pragma once

#include "kernel_operator.h"
#include "pasa_attention_tiling_data.h"

namespace pasa_kernel {

using namespace AscendC;

constexpr uint16_t FLAG_KP = 1;  // AIV -> AIC: K'_j is in the workspace
constexpr uint16_t FLAG_S = 2;   // AIC -> AIV: S'_j is in the workspace
constexpr uint16_t FLAG_P = 3;   // AIV -> AIC: P_j is in the workspace
constexpr uint16_t FLAG_PV = 4;  // AIC -> AIV: P_j·V_j is in the workspace

__aicore__ inline float NegInf() { return -__builtin_huge_valf(); }
constexpr float kFloatMax = 3.40282346638528859812e38f;
__aicore__ inline float RoundHalf(float x) { return static_cast<float>(static_cast<half>(x)); }
__aicore__ inline float NanMax(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
__aicore__ inline uint32_t Min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
__aicore__ inline uint32_t Align16(uint32_t x) { return (x + 15) / 16 * 16; }

// One task: query rows [r0, r0 + rows) of head h of sequence b (BNSD: batch b), which has s1 query rows and s2 keys
// (row i sees keys ≤ i + offset under the causal limit); q0, kv0, lse0: where position 0 of (b, h) and key 0 of
// (b, kvh) start in q / out, k / v (elements) and the lse (values).
struct Task {
  uint32_t b, h, kvh, r0, rows, nBlocks, s1, s2;
  int64_t offset;
  uint64_t q0, kv0, lse0;
};

// Per-row statistics of the rows one AIV owns, as slots of one fp32 buffer.
enum StatSlot : uint32_t { ST_M = 0, ST_L, ST_F, ST_CNT, ST_H, ST_MU, ST_RMAX, ST_RSUM, ST_SEEN, ST_ARG_A, ST_ARG_G,
                           ST_NEWF, ST_ANY, ST_TMP16, ST_FRAME, ST_LSE, ST_COUNT_SLOTS };
static_assert(ST_COUNT_SLOTS <= 16, "the tiling sizes 16 statistics slots");
// Columns of D fp32 values on the Vector core: column statistics and centres (COL_MIN doubles as a temporary row),
// ColumnCentres' work slots, and for the exact variant block 0's key centre c_0 and one query row (or c_j − c_0).
enum ColSlot : uint32_t { COL_SUM = 0, COL_MAX, COL_CENTRE, COL_MIN, COL_TOP16, COL_BITS, COL_ULP, COL_QUOT, COL_C0,
                          COL_ROW };
static_assert(COL_ROW + 1 == PASA_EXACT_COL_SLOTS, "the tiling sizes the exact variant's columns");

// The selection that hides keys from one vector step's rows: `sel` holds +inf where a key is visible and −inf where
// it is hidden, a row per score row or one row for all (a mask broadcast over the query rows); none when the step
// hides no key.
struct Selection {
  bool any;
  uint32_t rows;
  LocalTensor<float> sel;
};

class PasaAttention {
 public:
  __aicore__ inline PasaAttention() {}

  __aicore__ inline void Init(GM_ADDR q, GM_ADDR k, GM_ADDR v, GM_ADDR mask, GM_ADDR liveKeys, GM_ADDR headScales,
                              GM_ADDR sinks, GM_ADDR cuSeqlensQ, GM_ADDR cuSeqlensK, GM_ADDR out, GM_ADDR lse,
                              GM_ADDR workspace, const PasaAttentionTilingData& tiling, TPipe* pipe) {
    t_ = tiling;
    pipe_ = pipe;
    buf_ = PasaBuffers(t_);
    const bool packed = t_.layout == PASA_LAYOUT_TND;
    const uint64_t qRowsAll = packed ? t_.totalQ : uint64_t(t_.batch) * t_.s1;  // positions of one head, all calls
    const uint64_t qSize = qRowsAll * t_.heads * t_.headDim;
    const uint64_t kvSize = (packed ? t_.totalK : uint64_t(t_.batch) * t_.s2) * t_.kvHeads * t_.headDim;
    qStride_ = packed ? t_.heads * t_.headDim : t_.headDim;
    kvStride_ = packed ? t_.kvHeads * t_.headDim : t_.headDim;
    if (packed) {
      cuQGm_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(cuSeqlensQ), t_.batch + 1);
      cuKGm_.SetGlobalBuffer(reinterpret_cast<__gm__ int64_t*>(cuSeqlensK), t_.batch + 1);
      LoadSequence();
    }
    if (t_.returnLse) lseGm_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(lse), qRowsAll * t_.heads);
    if (t_.sinks) sinksGm_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(sinks), t_.heads);
    qGm_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(q), qSize);
    kGm_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(k), kvSize);
    vGm_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(v), kvSize);
    // the mask as passed: its last element is at (B−1)·batch stride + (N−1)·head stride + (S1−1)·row stride + S2−1
    const uint64_t maskSize = uint64_t(t_.batch - 1) * t_.maskBatchStride + uint64_t(t_.heads - 1) * t_.maskHeadStride +
                              uint64_t(t_.s1 - 1) * t_.maskRowStride + t_.s2;
    if (t_.maskType == PASA_MASK_BOOL) maskBool_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(mask), maskSize);
    if (t_.maskType == PASA_MASK_FP16) maskHalf_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(mask), maskSize);
    if (t_.maskType == PASA_MASK_BF16) maskBf16_.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(mask), maskSize);
    if (t_.maskType == PASA_MASK_FP32) maskFloat_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(mask), maskSize);
    outGm_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(out), qSize);  // fp16 or bf16 (outType): 2-byte values
    if (t_.liveKeys)
      liveGm_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(liveKeys), uint64_t(t_.batch) * t_.kvHeads * t_.s2);
    if (t_.headScales)
      scalesGm_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(headScales), uint64_t(t_.batch) * t_.heads * 3);
    if ASCEND_IS_AIC {
      group_ = static_cast<uint32_t>(GetBlockIdx());
    } else {
      group_ = static_cast<uint32_t>(GetBlockIdx() / GetTaskRation());
      sub_ = static_cast<uint32_t>(GetSubBlockIdx());
    }
    __gm__ uint8_t* ws = workspace + uint64_t(group_) * t_.wsPerCore;
    const uint32_t kpBlocks = t_.keyCacheBlocks > 0 ? t_.keyCacheBlocks : 1;
    wsKp_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsKpOff), kpBlocks * t_.blockN * t_.headDim);
    if (t_.keyCacheBlocks > 0 && t_.variant == PASA_VARIANT_EXACT)
      wsC_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws + t_.wsCOff), 2 * t_.keyCacheBlocks * t_.headDim);
    if (t_.variant != PASA_VARIANT_EXACT)
      wsM_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsMOff), 2 * t_.blockN * t_.blockN);
    wsS_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsSOff), t_.qRows * t_.blockN);
    wsP_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsPOff), t_.qRows * t_.blockN);
    wsO_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws + t_.wsOOff), t_.qRows * t_.headDim);
    if (t_.variant == PASA_VARIANT_EXACT) {
      wsQ_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsQOff), t_.qRows * t_.headDim);
      wsA_.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(ws + t_.wsAOff), 2 * t_.headDim);
      wsG_.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(ws + t_.wsGOff), 2 * t_.blockN);
    }
    if ASCEND_IS_AIC {
      InitCubeBuffers();
    } else {
      InitVectorBuffers();
    }
  }

  __aicore__ inline void Process() {
    if (group_ < t_.usedCores) {
      const uint32_t begin = group_ * t_.tasksPerCore + Min32(group_, t_.tasksExtra);
      const uint32_t end = begin + t_.tasksPerCore + (group_ < t_.tasksExtra ? 1 : 0);
      for (uint32_t id = begin; id < end; ++id) {
        const Task task = MakeTask(id);
        if ASCEND_IS_AIC {
          CubeTask(task);
        } else {
          VectorTask(task);
        }
      }
    }
    if ASCEND_IS_AIC {
      FinishCube();
    }
  }

 private:
  // ---------------------------------------------------------------------------------------------------------
  // Tasks are numbered (sequence or batch, head, query block), the query block fastest. A packed (TND) call walks
  // its sequences with a cursor that only moves forward: each core takes its ids in increasing order.
  __aicore__ inline Task MakeTask(uint32_t id) {
    Task task;
    uint32_t local = id;  // the task's number within its sequence or batch
    if (t_.layout == PASA_LAYOUT_TND) {
      while (id >= seqTask0_ + seqTasks_) {
        seqTask0_ += seqTasks_;
        ++seq_;
        LoadSequence();
      }
      task.b = seq_;
      task.s1 = seqS1_;
      task.s2 = seqS2_;
      task.offset = t_.causal && t_.bottomRight ? int64_t(seqS2_) - int64_t(seqS1_) : 0;
      local = id - seqTask0_;
    } else {
      const uint32_t perBatch = t_.heads * t_.qBlocks;
      task.b = id / perBatch;
      local = id % perBatch;
      task.s1 = t_.s1;
      task.s2 = t_.s2;
      task.offset = t_.causalOffset;
    }
    const uint32_t qBlocks = (task.s1 + t_.qRows - 1) / t_.qRows, qb = local % qBlocks;
    task.h = local / qBlocks;
    task.kvh = task.h / (t_.heads / t_.kvHeads);
    task.r0 = qb * t_.qRows;
    task.rows = Min32(t_.qRows, task.s1 - task.r0);
    int64_t last = int64_t(task.s2) - 1;  // the last key any row of the task sees
    if (t_.causal) {
      const int64_t lim = int64_t(task.r0) + task.rows - 1 + task.offset;
      last = lim < last ? lim : last;
    }
    task.nBlocks = last < 0 ? 0 : static_cast<uint32_t>(last / t_.blockN + 1);
    if (t_.layout == PASA_LAYOUT_TND) {
      task.q0 = (seqQ0_ * t_.heads + task.h) * t_.headDim;
      task.kv0 = (seqK0_ * t_.kvHeads + task.kvh) * t_.headDim;
      task.lse0 = uint64_t(task.h) * t_.totalQ + seqQ0_;
    } else {
      task.lse0 = (uint64_t(task.b) * t_.heads + task.h) * t_.s1;
      task.q0 = task.lse0 * t_.headDim;
      task.kv0 = (uint64_t(task.b) * t_.kvHeads + task.kvh) * t_.s2 * t_.headDim;
    }
    return task;
  }
  // TND: sequence seq_'s rows and keys (cu_seqlens), and how many tasks it makes
  __aicore__ inline void LoadSequence() {
    seqTasks_ = 0;
    if (seq_ >= t_.batch) return;
    seqQ0_ = static_cast<uint64_t>(cuQGm_.GetValue(seq_));
    seqK0_ = static_cast<uint64_t>(cuKGm_.GetValue(seq_));
    seqS1_ = static_cast<uint32_t>(static_cast<uint64_t>(cuQGm_.GetValue(seq_ + 1)) - seqQ0_);
    seqS2_ = static_cast<uint32_t>(static_cast<uint64_t>(cuKGm_.GetValue(seq_ + 1)) - seqK0_);
    seqTasks_ = t_.heads * ((seqS1_ + t_.qRows - 1) / t_.qRows);
  }
  __aicore__ inline uint64_t KvOffset(const Task& task, uint32_t key) const { return task.kv0 + uint64_t(key) * kvStride_; }
  __aicore__ inline uint32_t BlockKeys(const Task& task, uint32_t j) const {
    return Min32(t_.blockN, task.s2 - j * t_.blockN);
  }
  // where K'_j lives in the workspace: its own slot with the cache, else the one slot
  __aicore__ inline uint64_t KpOffset(uint32_t j) const {
    return t_.keyCacheBlocks > 0 ? uint64_t(j) * t_.blockN * t_.headDim : 0;
  }

  // ================================ Cube side (AIC) ========================================================
  __aicore__ inline void InitCubeBuffers() {
    pipe_->InitBuffer(qL1Que_, 1, buf_.qL1);
    pipe_->InitBuffer(aL1Que_, 2, buf_.aL1);
    pipe_->InitBuffer(bL1Que_, 2, buf_.bL1);
    pipe_->InitBuffer(a2Buf_, 2 * buf_.a2);
    pipe_->InitBuffer(b2Buf_, 2 * buf_.b2);
    pipe_->InitBuffer(c1Que_, 1, buf_.c1);
    for (uint32_t s = 0; s < 2; ++s) l0Event_[s] = pipe_->AllocEventID<HardEvent::M_MTE1>();
  }

  // L0A/L0B in two stages (ping-pong), each an L0A half and an L0B half that one Mmad reads. A stage's M_MTE1 event
  // (an ID held for the whole kernel, beside TPipe's IDs 0-2, kernel_tpipe_impl.h:62-75) tells the next LoadData into
  // it that the Mmad reading it has finished: 2 IDs where two double-buffered TQues would hold 4 (event budget).
  __aicore__ inline uint32_t AcquireL0() {
    const uint32_t st = l0Stage_;
    l0Stage_ ^= 1u;
    if (l0Busy_[st]) WaitFlag<HardEvent::M_MTE1>(l0Event_[st]);
    l0Busy_[st] = false;
    return st;
  }
  __aicore__ inline LocalTensor<half> StageA(uint32_t st) { return a2Buf_.Get<half>()[st * buf_.a2 / 2]; }
  __aicore__ inline LocalTensor<half> StageB(uint32_t st) { return b2Buf_.Get<half>()[st * buf_.b2 / 2]; }
  __aicore__ inline void ReleaseL0(uint32_t st) {
    SetFlag<HardEvent::M_MTE1>(l0Event_[st]);
    l0Busy_[st] = true;
  }
  __aicore__ inline void FinishCube() {
    for (uint32_t st = 0; st < 2; ++st) {
      if (l0Busy_[st]) WaitFlag<HardEvent::M_MTE1>(l0Event_[st]);
      l0Busy_[st] = false;
      pipe_->ReleaseEventID<HardEvent::M_MTE1>(l0Event_[st]);
    }
  }

  __aicore__ inline void CubeTask(const Task& task) {
    if (task.nBlocks == 0) return;
    const bool exact = t_.variant == PASA_VARIANT_EXACT;
    LocalTensor<half> qL1;
    if (!exact) qL1 = LoadQuery(task);
    if (t_.keyCacheBlocks > 0 && (task.b != cachedB_ || task.kvh != cachedKvh_)) {
      cachedB_ = task.b;
      cachedKvh_ = task.kvh;
      cachedBlocks_ = 0;
    }
    for (uint32_t j = 0; j < task.nBlocks; ++j) {
      CrossCoreWaitFlag(FLAG_KP);
      if (exact && j == 0) qL1 = LoadQuery(task);  // the AIVs wrote Q' and A before K'_0 (QueryCentres)
      if (!exact && !(j < cachedBlocks_)) {
        ShiftKeys(task, j);
        if (t_.keyCacheBlocks > 0) cachedBlocks_ = j + 1;
      }
      Scores(task, j, qL1);
      CrossCoreSetFlag<2, PIPE_FIX>(FLAG_S);
      CrossCoreWaitFlag(FLAG_P);
      ValuesTimesP(task, j);
      CrossCoreSetFlag<2, PIPE_FIX>(FLAG_PV);
    }
    qL1Que_.FreeTensor(qL1);
  }

  // The task's query block -> L1 (ND -> NZ, rows padded to 16 with zeros): pasa / paper, Q from the input; exact,
  // Q' = fp16(Q − a) and, after the qRows rows, the 16-row block A of the task's query centres (one row per 64-row
  // query group, zeros after), both from the workspace.
  __aicore__ inline LocalTensor<half> LoadQuery(const Task& task) {
    const uint32_t d = t_.headDim, rowsPad = Align16(task.rows);
    LocalTensor<half> qL1 = qL1Que_.AllocTensor<half>();
    ZeroPaddingRows(qL1, task.rows, rowsPad, d);
    if (t_.variant == PASA_VARIANT_EXACT) {
      DataCopy(qL1, wsQ_, Nd2NzParams(1, task.rows, d, 0, d, rowsPad, 1, 0));
      const LocalTensor<half> aL1 = qL1[t_.qRows * d];
      const uint32_t groups = QueryGroups(task);
      ZeroPaddingRows(aL1, groups, 16, d);
      DataCopy(aL1, wsA_, Nd2NzParams(1, groups, d, 0, d, 16, 1, 0));
    } else {
      DataCopy(qL1, qGm_[task.q0 + uint64_t(task.r0) * qStride_],
               Nd2NzParams(1, task.rows, d, 0, static_cast<uint16_t>(qStride_), rowsPad, 1, 0));
    }
    qL1Que_.EnQue(qL1);
    return qL1Que_.DeQue<half>();
  }

  // Query groups (rows [64t, 64t + 64) of a head, PASA_QUERY_GROUP) among the task's rows: 1, or 2 when qRows = 128.
  __aicore__ inline uint32_t QueryGroups(const Task& task) const {
    return (task.r0 + task.rows - 1) / PASA_QUERY_GROUP - task.r0 / PASA_QUERY_GROUP + 1;
  }

  // Zeros in rows [rows, rowsPad) of an NZ matrix of rowsPad rows and `cols` columns in L1. Row r of fractal column
  // c is the 32-byte block c·rowsPad + r, so the padding rows are cols/16 runs of rowsPad − rows blocks, rows
  // blocks apart: disjoint from what an ND2NZ copy of rows [0, rows) writes, so the two MTE2 transfers need no
  // PipeBarrier<PIPE_MTE2> between them (asc-devkit 同步控制/核内同步/PipeBarrier(ISASI).md asks for one only when
  // their destinations overlap).
  __aicore__ inline void ZeroPaddingRows(const LocalTensor<half>& l1, uint32_t rows, uint32_t rowsPad, uint32_t cols) {
    if (rows == rowsPad) return;
    InitConstValue(l1[rows * 16], InitConstValueParams<half>(static_cast<uint16_t>(cols / 16),
                                                             static_cast<uint16_t>(rowsPad - rows),
                                                             static_cast<uint16_t>(rows), static_cast<half>(0.0f)));
  }

  // One step of a K-accumulating Mmad chain into c1 (first: overwrite). Mmad.md (同步优化说明): when
  // (m/16)·(n/16) < 10 the hardware does not order the next accumulating Mmad after this one, so PipeBarrier<PIPE_M>
  // separates them (CANN 8.1.RC1 highlevel_api/impl/matmul/stage/compute/mmad_compute.h: LIMIT_MNSIZE = 10).
  __aicore__ inline void MmadStep(const LocalTensor<float>& c1, const LocalTensor<half>& a2, const LocalTensor<half>& b2,
                                  uint32_t m, uint32_t n, uint32_t k, bool first) {
    Mmad(c1, a2, b2, MmadParams(m, n, k, 0, false, first));
    if ((m / 16) * (n / 16) < 10) PipeBarrier<PIPE_M>();
  }

  // c1 (+)= A·B for one slice of cubeK keys, the inner step of both M·K and P·V: A [rowsPad, kcPad] already in L1
  // (NZ, an aL1Que_ buffer, freed here), B = the kc rows of D columns at bGm (kvStride_ apart), zero-padded to kcPad
  // in L1.
  __aicore__ inline void MmadSlice(const LocalTensor<float>& c1, LocalTensor<half>& aL1, uint32_t rowsPad,
                                   const GlobalTensor<half>& bGm, uint32_t kc, uint32_t kcPad, bool first) {
    const uint32_t d = t_.headDim;
    LocalTensor<half> bL1 = bL1Que_.AllocTensor<half>();
    ZeroPaddingRows(bL1, kc, kcPad, d);
    DataCopy(bL1, bGm, Nd2NzParams(1, kc, d, 0, static_cast<uint16_t>(kvStride_), kcPad, 1, 0));
    bL1Que_.EnQue(bL1);
    bL1 = bL1Que_.DeQue<half>();
    const uint32_t st = AcquireL0();
    LocalTensor<half> a2 = StageA(st), b2 = StageB(st);
    for (uint32_t rb = 0; rb < rowsPad / 16; ++rb)
      LoadData(a2[rb * kcPad * 16], aL1, LoadData2DParams(rb, kcPad / 16, rowsPad / 16, 0, 0, false, 0));
    for (uint32_t kb = 0; kb < kcPad / 16; ++kb)  // B (NZ in L1) -> ZN fractals: transpose each fractal
      LoadData(b2[kb * d * 16], bL1, LoadData2DParams(kb, d / 16, kcPad / 16, 0, 0, true, 0));
    Sync<HardEvent::MTE1_M>();
    MmadStep(c1, a2, b2, rowsPad, d, kcPad, first);
    ReleaseL0(st);
    aL1Que_.FreeTensor(aL1);
    bL1Que_.FreeTensor(bL1);
  }

  // pasa / paper: K'_j = fp16(M·K_j) with M [nj, nj] fp16 (rows and columns nj..njPad zero), fp32 accumulation;
  // qRows rows of K' per L0C tile, cubeK keys per load. K' rows nj..njPad come out zero.
  __aicore__ inline void ShiftKeys(const Task& task, uint32_t j) {
    const uint32_t d = t_.headDim, nj = BlockKeys(task, j), njPad = Align16(nj);
    const uint64_t mOff = nj == t_.blockN ? 0 : uint64_t(t_.blockN) * t_.blockN;
    for (uint32_t m0 = 0; m0 < njPad; m0 += t_.qRows) {
      const uint32_t mc = Min32(t_.qRows, njPad - m0);
      LocalTensor<float> c1 = c1Que_.AllocTensor<float>();
      for (uint32_t k0 = 0; k0 < nj; k0 += t_.cubeK) {
        const uint32_t kc = Min32(t_.cubeK, nj - k0), kcPad = Align16(kc);
        LocalTensor<half> mL1 = aL1Que_.AllocTensor<half>();
        DataCopy(mL1, wsM_[mOff + uint64_t(m0) * t_.blockN + k0], Nd2NzParams(1, mc, kcPad, 0, t_.blockN, mc, 1, 0));
        aL1Que_.EnQue(mL1);
        mL1 = aL1Que_.DeQue<half>();
        MmadSlice(c1, mL1, mc, kGm_[KvOffset(task, j * t_.blockN + k0)], kc, kcPad, k0 == 0);
      }
      c1Que_.EnQue(c1);
      c1 = c1Que_.DeQue<float>();
      FixpipeParamsV220 fp(d, mc, mc, d, false);
      fp.quantPre = QuantMode_t::F322F16;
      Fixpipe(wsKp_[KpOffset(j) + uint64_t(m0) * d], c1, fp);
      c1Que_.FreeTensor(c1);
    }
    Sync<HardEvent::FIX_MTE2>();  // Scores reads K' back from GM
  }

  // S' = Q·K'ᵀ (exact: Q'·K'ᵀ), cubeN keys per L0C tile, cubeK head dims per L0A/L0B load; fp16 out with row
  // stride njPad. Exact: with each K' tile still in L1, g = A·K'ᵀ for the task's query groups (CentreScores).
  __aicore__ inline void Scores(const Task& task, uint32_t j, const LocalTensor<half>& qL1) {
    const uint32_t d = t_.headDim, rowsPad = Align16(task.rows), njPad = Align16(BlockKeys(task, j));
    for (uint32_t n0 = 0; n0 < njPad; n0 += t_.cubeN) {
      const uint32_t nc = Min32(t_.cubeN, njPad - n0);
      LocalTensor<half> kL1 = bL1Que_.AllocTensor<half>();
      DataCopy(kL1, wsKp_[KpOffset(j) + n0 * d], Nd2NzParams(1, nc, d, 0, d, nc, 1, 0));
      bL1Que_.EnQue(kL1);
      kL1 = bL1Que_.DeQue<half>();
      LocalTensor<float> c1 = c1Que_.AllocTensor<float>();
      for (uint32_t k0 = 0; k0 < d; k0 += t_.cubeK) {
        const uint32_t kc = Min32(t_.cubeK, d - k0);
        const uint32_t st = AcquireL0();
        LocalTensor<half> a2 = StageA(st), b2 = StageB(st);
        for (uint32_t rb = 0; rb < rowsPad / 16; ++rb)  // Q (NZ in L1) -> ZZ fractals, one row of fractals each
          LoadData(a2[rb * kc * 16], qL1, LoadData2DParams(k0 / 16 * (rowsPad / 16) + rb, kc / 16, rowsPad / 16, 0, 0, false, 0));
        LoadKeyTile(b2, kL1, k0, kc, nc);
        Sync<HardEvent::MTE1_M>();
        MmadStep(c1, a2, b2, rowsPad, nc, kc, k0 == 0);
        ReleaseL0(st);
      }
      c1Que_.EnQue(c1);
      c1 = c1Que_.DeQue<float>();
      FixpipeParamsV220 fp(nc, task.rows, rowsPad, njPad, false);
      fp.quantPre = QuantMode_t::F322F16;
      Fixpipe(wsS_[n0], c1, fp);
      c1Que_.FreeTensor(c1);
      if (t_.variant == PASA_VARIANT_EXACT) CentreScores(task, qL1[t_.qRows * d], kL1, n0, nc, njPad);
      bL1Que_.FreeTensor(kL1);
    }
  }

  // Head dims [k0, k0 + kc) of an nc-key K' tile (NZ in L1, which is already K'ᵀ in ZN fractals) -> L0B.
  __aicore__ inline void LoadKeyTile(const LocalTensor<half>& b2, const LocalTensor<half>& kL1, uint32_t k0,
                                     uint32_t kc, uint32_t nc) {
    for (uint32_t db = 0; db < kc / 16; ++db)
      LoadData(b2[db * nc * 16], kL1, LoadData2DParams((k0 / 16 + db) * (nc / 16), nc / 16, 1, 0, 0, false, 0));
  }

  // exact: g = A·K'ᵀ over one K' tile, A the 16-row block of query centres in L1 (zero after the task's groups), so
  // m = 16 (GEMV.md: never 1); fp32 out, one row per query group, row stride njPad. The Cube's share of the query
  // centring: 16·nc·D MACs per tile (1/8 of S' at 128 query rows) and a second L1 -> L0B load of the K' tile.
  __aicore__ inline void CentreScores(const Task& task, const LocalTensor<half>& aL1, const LocalTensor<half>& kL1,
                                      uint32_t n0, uint32_t nc, uint32_t njPad) {
    const uint32_t d = t_.headDim;
    LocalTensor<float> c1 = c1Que_.AllocTensor<float>();
    for (uint32_t k0 = 0; k0 < d; k0 += t_.cubeK) {
      const uint32_t kc = Min32(t_.cubeK, d - k0);
      const uint32_t st = AcquireL0();
      LocalTensor<half> a2 = StageA(st), b2 = StageB(st);
      LoadData(a2, aL1, LoadData2DParams(k0 / 16, kc / 16, 1, 0, 0, false, 0));  // one row of ZZ fractals
      LoadKeyTile(b2, kL1, k0, kc, nc);
      Sync<HardEvent::MTE1_M>();
      MmadStep(c1, a2, b2, 16, nc, kc, k0 == 0);
      ReleaseL0(st);
    }
    c1Que_.EnQue(c1);
    c1 = c1Que_.DeQue<float>();
    Fixpipe(wsG_[n0], c1, FixpipeParamsV220(nc, QueryGroups(task), 16, njPad, false));
    c1Que_.FreeTensor(c1);
  }

  // PV = P·V_j, cubeK keys per load; fp32 out [rows, D].
  __aicore__ inline void ValuesTimesP(const Task& task, uint32_t j) {
    const uint32_t d = t_.headDim, rowsPad = Align16(task.rows), nj = BlockKeys(task, j), njPad = Align16(nj);
    LocalTensor<float> c1 = c1Que_.AllocTensor<float>();
    for (uint32_t k0 = 0; k0 < nj; k0 += t_.cubeK) {
      const uint32_t kc = Min32(t_.cubeK, nj - k0), kcPad = Align16(kc);
      LocalTensor<half> pL1 = aL1Que_.AllocTensor<half>();
      // P's columns nj..njPad are exact zeros in the workspace: load whole fractals of them
      ZeroPaddingRows(pL1, task.rows, rowsPad, kcPad);
      DataCopy(pL1, wsP_[k0], Nd2NzParams(1, task.rows, kcPad, 0, njPad, rowsPad, 1, 0));
      aL1Que_.EnQue(pL1);
      pL1 = aL1Que_.DeQue<half>();
      MmadSlice(c1, pL1, rowsPad, vGm_[KvOffset(task, j * t_.blockN + k0)], kc, kcPad, k0 == 0);
    }
    c1Que_.EnQue(c1);
    c1 = c1Que_.DeQue<float>();
    Fixpipe(wsO_, c1, FixpipeParamsV220(d, task.rows, rowsPad, d, false));
    c1Que_.FreeTensor(c1);
  }

  // ================================ Vector side (AIV) ======================================================
  // Synchronisation is explicit everywhere (asc-devkit 同步控制/核内同步/核内同步能力概述.md, table 3): the TQues
  // order MTE2 -> V -> MTE3 and back; Sync<V_S> before the scalar unit reads what V wrote, Sync<S_V> before V
  // touches what the scalar unit read or wrote, and VBarrier() between dependent vector instructions. Nothing relies
  // on bisheng's --cce-auto-sync (关键特性说明.md: on architecture 2201 it is what inserts PIPE_V barriers).
  __aicore__ inline void InitVectorBuffers() {
    pipe_->InitBuffer(inQue_, 2, buf_.in);
    pipe_->InitBuffer(outQue_, 2, buf_.out);
    if (buf_.maskIn) pipe_->InitBuffer(maskQue_, 2, buf_.maskIn);
    if (buf_.maskWork) pipe_->InitBuffer(maskWorkBuf_, buf_.maskWork);
    if (buf_.maskBias) pipe_->InitBuffer(maskBiasBuf_, buf_.maskBias);
    pipe_->InitBuffer(selBuf_, buf_.sel);
    pipe_->InitBuffer(kWorkBuf_, buf_.kWork);
    pipe_->InitBuffer(colBuf_, buf_.col);
    if (buf_.q16) pipe_->InitBuffer(q16Buf_, buf_.q16);
    pipe_->InitBuffer(o32Buf_, buf_.o32);
    if (buf_.o16) pipe_->InitBuffer(o16Buf_, buf_.o16);
    if (buf_.pv16) pipe_->InitBuffer(pv16Buf_, buf_.pv16);
    pipe_->InitBuffer(x32Buf_, buf_.x32);
    if (buf_.x16) pipe_->InitBuffer(x16Buf_, buf_.x16);
    pipe_->InitBuffer(rowBuf_, buf_.row);
    pipe_->InitBuffer(statBuf_, buf_.stat);
    pipe_->InitBuffer(redBuf_, buf_.red);
    // key index ramp 0, -1, -2, ... for the causal/tail selection
    colNeg_ = rowBuf_.Get<float>();
    for (uint32_t i = 0; i < t_.blockN; ++i) colNeg_.SetValue(i, -static_cast<float>(i));
    rowPitch_ = PasaAlign(t_.blockN * 4, 32) / 4;
    statPitch_ = PasaAlign(PasaRowsPerAiv(t_), 8);
    Sync<HardEvent::S_V>();
    // pasa / paper: AIV 0 writes M for a full block before its first KP flag; AIV 1 writes a tail block's M when a
    // task first needs one of that length (PrepareKeys: a packed call's sequences end in tails of many lengths)
    if (t_.variant != PASA_VARIANT_EXACT && group_ < t_.usedCores && sub_ == 0 && t_.s2 >= t_.blockN)
      WriteShiftMatrix(t_.blockN, 0);
  }

  // M = s·(I − (β/nj)·11ᵀ) with fp16 entries d (diagonal) and −e, as [blockN, blockN] rows (zero past nj).
  __aicore__ inline void WriteShiftMatrix(uint32_t nj, uint64_t off) {
    const float s = t_.scale, b = t_.beta, n = static_cast<float>(nj);
    const half dd = static_cast<half>(s * (1.0f - b / n)), e = static_cast<half>(s * (b / n));
    LocalTensor<half> row = x32Buf_.Get<half>();
    for (uint32_t r = 0; r < t_.blockN; ++r) {
      Duplicate(row, static_cast<half>(0.0f), static_cast<int32_t>(t_.blockN));
      if (r < nj) {
        VBarrier();
        Duplicate(row, static_cast<half>(-static_cast<float>(e)), static_cast<int32_t>(nj));
      }
      Sync<HardEvent::V_S>();  // the diagonal entry lands after the fills
      if (r < nj) row.SetValue(r, dd);
      Sync<HardEvent::S_MTE3>();  // MTE3 reads what V and (after V_S) the scalar unit wrote
      DataCopy(wsM_[off + uint64_t(r) * t_.blockN], row, t_.blockN);
      Sync<HardEvent::MTE3_V>();  // the next row's fills overwrite what MTE3 read
    }
  }

  __aicore__ inline void VBarrier() { PipeBarrier<PIPE_V>(); }
  __aicore__ inline LocalTensor<float> Stat(StatSlot s) { return statBuf_.Get<float>()[s * statPitch_]; }
  __aicore__ inline LocalTensor<float> Col(uint32_t slot) { return colBuf_.Get<float>()[slot * t_.headDim]; }
  // exact: this AIV's row of g = a·K'_jᵀ (the third row slot)
  __aicore__ inline LocalTensor<float> CentreScoreRow() { return rowBuf_.Get<float>()[2 * rowPitch_]; }

  __aicore__ inline void VectorTask(const Task& task) {
    if (t_.keyCacheBlocks > 0 && (task.b != cachedB_ || task.kvh != cachedKvh_)) {
      cachedB_ = task.b;
      cachedKvh_ = task.kvh;
      cachedBlocks_ = 0;  // blocks 0 .. cachedBlocks_-1 of this KV head are in the workspace
    }
    const uint32_t half_ = PasaRowsPerAiv(t_);
    myR0_ = sub_ * half_;
    myRows_ = task.rows > myR0_ ? Min32(half_, task.rows - myR0_) : 0;
    const uint32_t d = t_.headDim;
    const bool paper = t_.variant == PASA_VARIANT_PAPER;
    HeadScales(task);
    Duplicate(Stat(ST_M), paper ? -60000.0f : NegInf(), static_cast<int32_t>(statPitch_));
    Duplicate(Stat(ST_L), 0.0f, static_cast<int32_t>(4 * statPitch_));  // L, F, CNT, H
    Duplicate(Stat(ST_SEEN), 0.0f, static_cast<int32_t>(statPitch_));
    Duplicate(Stat(ST_ANY), 0.0f, static_cast<int32_t>(statPitch_));
    if (myRows_ > 0) {
      Duplicate(o32Buf_.Get<float>(), 0.0f, static_cast<int32_t>(myRows_ * d));
      if (paper) Duplicate(o16Buf_.Get<half>(), static_cast<half>(0.0f), static_cast<int32_t>(myRows_ * d));
      if (t_.variant == PASA_VARIANT_EXACT) {
        LocalTensor<half> q16 = q16Buf_.Get<half>();
        Sync<HardEvent::V_MTE2>();  // the previous task's vector reads of Q are done
        CopyRowsIn(q16, qGm_[task.q0 + uint64_t(task.r0 + myR0_) * qStride_], myRows_, qStride_);
        Sync<HardEvent::MTE2_V>();
      }
    }
    Sync<HardEvent::V_S>();  // the statistics above are read and written by the scalar unit below
    if (task.nBlocks == 0) {
      WriteOutput(task);
      return;
    }
    if (t_.variant == PASA_VARIANT_EXACT) QueryCentres(task);
    PrepareKeys(task, 0);
    CrossCoreSetFlag<2, PIPE_MTE3>(FLAG_KP);
    for (uint32_t j = 0; j < task.nBlocks; ++j) {
      CrossCoreWaitFlag(FLAG_S);
      Softmax(task, j);
      CrossCoreSetFlag<2, PIPE_MTE3>(FLAG_P);
      if (j + 1 < task.nBlocks) {
        PrepareKeys(task, j + 1);
        CrossCoreSetFlag<2, PIPE_MTE3>(FLAG_KP);
      }
      CrossCoreWaitFlag(FLAG_PV);
      UpdateOutput(task, j);
    }
    WriteOutput(task);
  }

  // The task's head scales: per head for bf16 inputs (the exact variant's slice powers of two, host-computed as the
  // model does), else the call's; a scalar read of 3 floats from GM.
  __aicore__ inline void HeadScales(const Task& task) {
    if (t_.headScales) {
      const uint64_t at = (uint64_t(task.b) * t_.heads + task.h) * 3;
      sH_ = scalesGm_.GetValue(at);
      sRestH_ = scalesGm_.GetValue(at + 1);
      outScale_ = scalesGm_.GetValue(at + 2);
    } else {
      sH_ = t_.scale;
      sRestH_ = t_.scaleRest;
      outScale_ = 1.0f;
    }
    // |S' + g| ≤ 65504 + D·65504² (fp16 Q', K', a); beyond that bound times s_rest_h a finite tile may overflow fp32
    const float bound = 65504.0f + static_cast<float>(t_.headDim) * 65504.0f * 65504.0f;
    checkAll_ = !(sRestH_ * bound < kFloatMax);
  }

  // exact, once per task, before K'_0: the centre a of this AIV's 64-row query group (grid centre of the group's rows,
  // read from GM: the group may extend past the task's rows), Q' = fp16(Q − a) for the own rows -> workspace, and a
  // -> the task's row of query centres (written by the AIV whose rows open the group). The KP flag of block 0
  // publishes both (PIPE_MTE3). Per task and AIV: one pass over ≤ 64 rows (as a key block's first pass) and one
  // over the own rows.
  __aicore__ inline void QueryCentres(const Task& task) {
    if (myRows_ == 0) return;
    const uint32_t d = t_.headDim, first = task.r0 + myR0_;
    const uint32_t g0 = first / PASA_QUERY_GROUP * PASA_QUERY_GROUP, groupRows = Min32(PASA_QUERY_GROUP, task.s1 - g0);
    LocalTensor<float> kw = kWorkBuf_.Get<float>(), a = Col(COL_CENTRE);
    LocalTensor<half> q16 = q16Buf_.Get<half>();
    ColumnStats(qGm_[task.q0 + uint64_t(g0) * qStride_], qStride_, groupRows, groupRows, false, 0);
    ColumnCentres(Col(COL_SUM), Col(COL_MAX), a, groupRows);
    for (uint32_t r0 = 0; r0 < myRows_; r0 += t_.kRows) {
      const uint32_t cnt = Min32(t_.kRows, myRows_ - r0);
      LocalTensor<half> qout = outQue_.AllocTensor<half>();
      VBarrier();  // the previous rows' reads of kw are done
      Cast(kw, q16[r0 * d], RoundMode::CAST_NONE, cnt * d);
      VBarrier();
      for (uint32_t r = 0; r < cnt; ++r) Sub(kw[r * d], kw[r * d], a, static_cast<int32_t>(d));
      VBarrier();
      Cast(qout, kw, RoundMode::CAST_RINT, cnt * d);
      outQue_.EnQue(qout);
      qout = outQue_.DeQue<half>();
      DataCopy(wsQ_[(myR0_ + r0) * d], qout, cnt * d);
      outQue_.FreeTensor(qout);
    }
    if (sub_ == 0 || first % PASA_QUERY_GROUP == 0) {
      LocalTensor<half> aout = outQue_.AllocTensor<half>();
      Cast(aout, a, RoundMode::CAST_RINT, d);  // exact: a holds fp16 values
      outQue_.EnQue(aout);
      aout = outQue_.DeQue<half>();
      DataCopy(wsA_[(g0 / PASA_QUERY_GROUP - task.r0 / PASA_QUERY_GROUP) * d], aout, d);
      outQue_.FreeTensor(aout);
    }
  }

  // The last key any row of the task's sequence sees by the causal limit (S2 − 1 without it): the keys after it
  // are not live.
  __aicore__ inline int64_t LastVisibleKey(const Task& task) const {
    int64_t last = int64_t(task.s2) - 1;
    if (t_.causal) {
      const int64_t lim = int64_t(task.s1) - 1 + task.offset;
      last = lim < last ? lim : last;
    }
    return last;
  }

  // Column sums, maxima and max |x| (in COL_SUM, COL_MAX) of the first `counted` of `rows` fp16 rows at gm (`stride`
  // elements apart), leaving out, when useLive, the rows whose byte in liveGm_ (from liveOff) is 0; returns how many
  // rows counted. One row at a time: three independent instructions, then a barrier, as each accumulates into the
  // previous rows' results.
  __aicore__ inline uint32_t ColumnStats(const GlobalTensor<half>& gm, uint32_t stride, uint32_t rows,
                                         uint32_t counted, bool useLive, uint64_t liveOff) {
    const int32_t d = static_cast<int32_t>(t_.headDim);
    LocalTensor<float> kw = kWorkBuf_.Get<float>();
    LocalTensor<float> colSum = Col(COL_SUM), colMax = Col(COL_MAX), colMin = Col(COL_MIN);
    Duplicate(colSum, 0.0f, d);
    Duplicate(colMax, NegInf(), d);
    Duplicate(colMin, -NegInf(), d);
    rows = Min32(rows, counted);
    uint32_t n = 0;
    for (uint32_t r0 = 0; r0 < rows; r0 += t_.kRows) {
      const uint32_t cnt = Min32(t_.kRows, rows - r0);
      LoadRows(gm[uint64_t(r0) * stride], stride, cnt, kw);
      for (uint32_t r = 0; r < cnt; ++r) {
        if (useLive && liveGm_.GetValue(liveOff + r0 + r) == 0) continue;  // a key no row sees
        ++n;
        VBarrier();
        Add(colSum, colSum, kw[r * d], d);
        Max(colMax, colMax, kw[r * d], d);
        Min(colMin, colMin, kw[r * d], d);
      }
    }
    VBarrier();
    Muls(colMin, colMin, -1.0f, d);
    VBarrier();
    Max(colMax, colMax, colMin, d);  // max |x| = max(max x, −min x)
    VBarrier();
    return n;
  }

  // exact: the centre c_j of K_j over its live keys (0 if none), then this AIV's half of K'_j = fp16(2^e·(K_j − c_j))
  // to the workspace, and h for the own rows. A key is live when some row of some head of the KV group sees it: the
  // host's live-key bytes with a mask, else the causal limit. pasa / paper: nothing (the Cube shifts the keys).
  __aicore__ inline void PrepareKeys(const Task& task, uint32_t j) {
    const uint32_t d = t_.headDim, c0 = j * t_.blockN, nj = BlockKeys(task, j), njPad = Align16(nj);
    if (t_.variant != PASA_VARIANT_EXACT) {  // pasa / paper: the Cube shifts the keys (ShiftKeys) with M
      if (nj < t_.blockN && nj != tailM_ && !(j < cachedBlocks_)) {
        if (sub_ == 1) WriteShiftMatrix(nj, uint64_t(t_.blockN) * t_.blockN);  // this tail's M (AIV 1 writes it)
        tailM_ = nj;
      }
      if (t_.keyCacheBlocks > 0 && !(j < cachedBlocks_)) cachedBlocks_ = j + 1;
      return;
    }
    LocalTensor<float> kw = kWorkBuf_.Get<float>(), centre = Col(COL_CENTRE);
    if (j < cachedBlocks_) {  // K'_j of this KV head is in the workspace already: reload c_j for h
      if (myRows_ > 0) {
        Sync<HardEvent::V_MTE2>();  // the vector reads of the previous centre are done
        DataCopy(centre, wsC_[(uint64_t(sub_) * t_.keyCacheBlocks + j) * d], d);
        Sync<HardEvent::MTE2_V>();
        RowShifts(centre, j);
      }
      return;
    }
    Sync<HardEvent::S_V>();  // RowShifts' scalar reads of the previous block are done
    const int64_t live = LastVisibleKey(task) - int64_t(c0) + 1;  // keys [c0, c0 + live) pass the causal limit
    const uint32_t counted =
        ColumnStats(kGm_[KvOffset(task, c0)], kvStride_, nj, live <= 0 ? 0 : Min32(nj, uint32_t(live)),
                    t_.liveKeys != 0, (uint64_t(task.b) * t_.kvHeads + task.kvh) * t_.s2 + c0);
    if (counted == 0) {
      Duplicate(centre, 0.0f, static_cast<int32_t>(d));
      VBarrier();
    } else {
      ColumnCentres(Col(COL_SUM), Col(COL_MAX), centre, counted);
    }
    // pass 2: rows [lo, hi) of K'_j (rows nj..njPad are zeros)
    const uint32_t halfRows = (njPad / 16 + 1) / 2 * 16;
    const uint32_t lo = sub_ == 0 ? 0 : halfRows, hi = sub_ == 0 ? Min32(halfRows, njPad) : njPad;
    for (uint32_t r0 = lo; r0 < hi; r0 += t_.kRows) {
      const uint32_t cnt = Min32(t_.kRows, hi - r0), valid = r0 < nj ? Min32(cnt, nj - r0) : 0;
      LocalTensor<half> kout = outQue_.AllocTensor<half>();
      if (valid > 0) {
        LoadRows(kGm_[KvOffset(task, c0 + r0)], kvStride_, valid, kw);
        VBarrier();
        for (uint32_t r = 0; r < valid; ++r) Sub(kw[r * d], kw[r * d], centre, static_cast<int32_t>(d));
        VBarrier();
        Muls(kw, kw, t_.scalePow2, static_cast<int32_t>(valid * d));  // K − c is exact, 2^e too
        VBarrier();
        Cast(kout, kw, RoundMode::CAST_RINT, valid * d);
      }
      if (valid < cnt) Duplicate(kout[valid * d], static_cast<half>(0.0f), static_cast<int32_t>((cnt - valid) * d));
      outQue_.EnQue(kout);
      kout = outQue_.DeQue<half>();
      DataCopy(wsKp_[KpOffset(j) + r0 * d], kout, cnt * d);
      outQue_.FreeTensor(kout);
    }
    if (t_.keyCacheBlocks > 0) {  // keep c_j for later tasks of this KV head (each AIV its own copy)
      Sync<HardEvent::V_MTE3>();
      DataCopy(wsC_[(uint64_t(sub_) * t_.keyCacheBlocks + j) * d], centre, d);
      Sync<HardEvent::MTE3_MTE2>();  // a later task reloads it
      Sync<HardEvent::MTE3_V>();     // the next block's centre overwrites what MTE3 read
      cachedBlocks_ = j + 1;         // blocks are prepared in order 0, 1, 2, ...
    }
    if (myRows_ > 0) RowShifts(centre, j);
  }

  // h = s_h·(q·(c_j − c_0)) per own row, fp32; c_0, block 0's centre, is kept for the task (the row's fixed frame).
  __aicore__ inline void RowShifts(const LocalTensor<float>& centre, uint32_t j) {
    const uint32_t d = t_.headDim;
    LocalTensor<half> q16 = q16Buf_.Get<half>();
    LocalTensor<float> red = redBuf_.Get<float>(), work = rowBuf_.Get<float>()[rowPitch_], tmp = Col(COL_MIN);
    LocalTensor<float> h = Stat(ST_H), c0 = Col(COL_C0), diff = Col(COL_ROW);
    if (j == 0) {
      Muls(c0, centre, 1.0f, static_cast<int32_t>(d));
      VBarrier();
    }
    Sub(diff, centre, c0, static_cast<int32_t>(d));
    VBarrier();
    for (uint32_t r = 0; r < myRows_; ++r) {  // ReduceSum ends with V_S and S_V: the next row's Cast may follow
      Cast(tmp, q16[r * d], RoundMode::CAST_NONE, d);
      VBarrier();
      Mul(tmp, tmp, diff, static_cast<int32_t>(d));
      VBarrier();
      ReduceSum(red, tmp, work, static_cast<int32_t>(d));
      Sync<HardEvent::V_S>();
      h.SetValue(r, red.GetValue(0) * sH_);
    }
    Sync<HardEvent::S_V>();
  }

  // cnt rows of D fp16 values, `stride` elements apart in GM (D: contiguous, BNSD; heads·D: TND), to and from
  // contiguous rows in UB: one DataCopy when contiguous, else a DataCopyPad with the row gap (its srcStride in bytes
  // in GM for GM -> UB, dstStride in bytes in GM for UB -> GM: DataCopyPad（GMToUB…）.md, DataCopyPad（UBToGM…）.md).
  __aicore__ inline void CopyRowsIn(const LocalTensor<half>& dst, const GlobalTensor<half>& src, uint32_t cnt,
                                    uint32_t stride) {
    const uint32_t d = t_.headDim;
    if (stride == d) {
      DataCopy(dst, src, cnt * d);
    } else {
      DataCopyPad(dst, src, DataCopyExtParams(static_cast<uint16_t>(cnt), d * 2, (stride - d) * 2, 0, 0),
                  DataCopyPadExtParams<half>(false, 0, 0, static_cast<half>(0.0f)));
    }
  }
  __aicore__ inline void CopyRowsOut(const GlobalTensor<half>& dst, const LocalTensor<half>& src, uint32_t cnt,
                                     uint32_t stride) {
    const uint32_t d = t_.headDim;
    if (stride == d) {
      DataCopy(dst, src, cnt * d);
    } else {
      DataCopyPad(dst, src, DataCopyExtParams(static_cast<uint16_t>(cnt), d * 2, 0, (stride - d) * 2, 0));
    }
  }

  // cnt rows of D fp16 values at gm (`stride` elements apart) -> fp32 in kw (through the `in` queue).
  __aicore__ inline void LoadRows(const GlobalTensor<half>& gm, uint32_t stride, uint32_t cnt,
                                  const LocalTensor<float>& kw) {
    const uint32_t d = t_.headDim;
    LocalTensor<half> kin = inQue_.AllocTensor<half>();
    CopyRowsIn(kin, gm, cnt, stride);
    inQue_.EnQue(kin);
    kin = inQue_.DeQue<half>();
    VBarrier();  // the previous rows' reads of kw are done
    Cast(kw, kin, RoundMode::CAST_NONE, cnt * d);
    inQue_.FreeTensor(kin);
  }

  // c = round(mean / ulp)·ulp with ulp the fp16 ulp of the column's largest |K| (2^-24 at least): on the
  // column's own fp16 grid, so K − c is exact in fp16. ulp comes from the exponent bits of fp16(max|K|).
  __aicore__ inline void ColumnCentres(const LocalTensor<float>& colSum, const LocalTensor<float>& colMax,
                                       const LocalTensor<float>& centre, uint32_t nj) {
    const int32_t d = static_cast<int32_t>(t_.headDim);
    LocalTensor<half> top16 = Col(COL_TOP16).ReinterpretCast<half>();
    LocalTensor<uint16_t> bits = Col(COL_TOP16).ReinterpretCast<uint16_t>();
    LocalTensor<uint16_t> mask = Col(COL_BITS).ReinterpretCast<uint16_t>();
    LocalTensor<float> ulp = Col(COL_ULP), quot = Col(COL_QUOT);
    Cast(top16, colMax, RoundMode::CAST_RINT, d);  // exact: colMax holds fp16 values
    Duplicate(mask, static_cast<uint16_t>(0x7c00), d);
    VBarrier();
    And(bits, bits, mask, d);                       // 2^floor(log2 top), or 0 below fp16's normal range
    VBarrier();
    Cast(ulp, top16, RoundMode::CAST_NONE, d);
    VBarrier();
    Muls(ulp, ulp, 1.0f / 1024.0f, d);
    VBarrier();
    Maxs(ulp, ulp, 1.0f / 16777216.0f, d);
    VBarrier();
    Muls(quot, ulp, static_cast<float>(nj), d);      // ulp·nj, exact
    VBarrier();
    Div(quot, colSum, quot, d);                      // mean / ulp
    VBarrier();
    LocalTensor<int32_t> qi = Col(COL_MIN).ReinterpretCast<int32_t>();
    Cast(qi, quot, RoundMode::CAST_RINT, d);
    VBarrier();
    Cast(quot, qi, RoundMode::CAST_NONE, d);
    VBarrier();
    Mul(centre, quot, ulp, d);
    VBarrier();
  }

  // Scores of this AIV's rows for block j: x = S' (exact: z = s_rest,h·(S' + g), with the fp32 fallback for a row
  // whose z is not finite at a key it sees), the mask, causal limit and tail by selection; P = fp16(exp(x − r)); the
  // running statistics.
  __aicore__ inline void Softmax(const Task& task, uint32_t j) {
    const uint32_t c0 = j * t_.blockN, nj = BlockKeys(task, j), njPad = Align16(nj);
    const bool exact = t_.variant == PASA_VARIANT_EXACT, paper = t_.variant == PASA_VARIANT_PAPER;
    LocalTensor<float> x = x32Buf_.Get<float>(), red = redBuf_.Get<float>(), work = rowBuf_.Get<float>()[rowPitch_];
    LocalTensor<float> mu = Stat(ST_MU), rmax = Stat(ST_RMAX), rsum = Stat(ST_RSUM);
    if (exact && myRows_ > 0) LoadCentreScores(task, njPad);
    for (uint32_t rc = 0; rc < myRows_; rc += t_.vecRows) {
      const uint32_t vr = Min32(t_.vecRows, myRows_ - rc), count = vr * njPad;
      LocalTensor<half> sIn = inQue_.AllocTensor<half>();
      DataCopy(sIn, wsS_[(myR0_ + rc) * njPad], count);
      inQue_.EnQue(sIn);
      sIn = inQue_.DeQue<half>();
      const bool suspect = exact && (checkAll_ || HasNonFinite(sIn, count));
      VBarrier();  // the previous step's vector reads of x are done
      Cast(x, sIn, RoundMode::CAST_NONE, count);
      inQue_.FreeTensor(sIn);
      VBarrier();
      if (!exact) {  // the row mean of S' over the block's keys, before any mask
        for (uint32_t r = 0; r < vr; ++r) {
          ReduceSum(red, x[r * njPad], work, static_cast<int32_t>(nj));
          Sync<HardEvent::V_S>();
          mu.SetValue(rc + r, red.GetValue(0) / static_cast<float>(nj));
        }
        Sync<HardEvent::S_V>();
      } else {  // z = s_rest,h·(S' + g), g the row of this AIV's query group
        LocalTensor<float> g = CentreScoreRow();
        for (uint32_t r = 0; r < vr; ++r) Add(x[r * njPad], x[r * njPad], g, static_cast<int32_t>(njPad));
        VBarrier();
        Muls(x, x, sRestH_, static_cast<int32_t>(count));
        VBarrier();
      }
      const Selection hide = BuildSelection(task, c0, nj, njPad, rc, vr);
      if (suspect) FallBackRows(task, j, nj, njPad, rc, vr, hide, x);
      ApplySelection(hide, vr, njPad, x);
      if (suspect && hide.any) HideExactly(hide, vr, njPad, x);
      LocalTensor<half> pOut = outQue_.AllocTensor<half>();
      if (paper) {  // every step in fp16
        LocalTensor<half> x16 = x16Buf_.Get<half>();
        Cast(x16, x, RoundMode::CAST_RINT, count);
        VBarrier();
        for (uint32_t r = 0; r < vr; ++r) {  // ReduceMax ends with V_S and S_V
          ReduceMax(red.ReinterpretCast<half>(), x16[r * njPad], work.ReinterpretCast<half>(), static_cast<int32_t>(njPad));
          Sync<HardEvent::V_S>();
          const float rm = static_cast<float>(red.ReinterpretCast<half>().GetValue(0));
          rmax.SetValue(rc + r, rm);
          Sync<HardEvent::S_V>();
          const float rz = rm == NegInf() ? 0.0f : rm;
          Adds(x16[r * njPad], x16[r * njPad], static_cast<half>(-rz), static_cast<int32_t>(njPad));
        }
        VBarrier();
        Exp(pOut, x16, static_cast<int32_t>(count));
      } else {
        for (uint32_t r = 0; r < vr; ++r) {
          ReduceMax(red, x[r * njPad], work, static_cast<int32_t>(njPad));
          Sync<HardEvent::V_S>();
          const float rm = red.GetValue(0);
          rmax.SetValue(rc + r, rm);
          Sync<HardEvent::S_V>();
          const float rz = rm == NegInf() ? 0.0f : rm;
          Adds(x[r * njPad], x[r * njPad], -rz, static_cast<int32_t>(njPad));
        }
        VBarrier();
        Exp(x, x, static_cast<int32_t>(count));
        VBarrier();
        Cast(pOut, x, RoundMode::CAST_RINT, count);
      }
      VBarrier();
      Cast(x, pOut, RoundMode::CAST_NONE, count);  // the fp16 P as fp32, for the row sums
      VBarrier();
      for (uint32_t r = 0; r < vr; ++r) {
        ReduceSum(red, x[r * njPad], work, static_cast<int32_t>(njPad));
        Sync<HardEvent::V_S>();
        rsum.SetValue(rc + r, red.GetValue(0));
      }
      Sync<HardEvent::S_V>();
      outQue_.EnQue(pOut);
      pOut = outQue_.DeQue<half>();
      DataCopy(wsP_[(myR0_ + rc) * njPad], pOut, count);
      outQue_.FreeTensor(pOut);
    }
    UpdateStatistics(nj);
  }

  // exact: this AIV's row of g = a·K'_jᵀ (its query group's row of the Cube's CentreScores) -> UB, once per block.
  __aicore__ inline void LoadCentreScores(const Task& task, uint32_t njPad) {
    const uint32_t row = (task.r0 + myR0_) / PASA_QUERY_GROUP - task.r0 / PASA_QUERY_GROUP;
    LocalTensor<float> g = CentreScoreRow();
    Sync<HardEvent::V_MTE2>();  // the previous block's reads of the row are done
    DataCopy(g, wsG_[row * njPad], njPad);
    Sync<HardEvent::MTE2_V>();
  }

  // exact: whether the fp16 S' tile holds inf or NaN (0·x summed: 0, or NaN), two fp16 passes over the tile. A z
  // that is not finite comes from such an S' entry: g and s_rest,h are finite (checkAll_ covers an s_rest,h large
  // enough to overflow a finite S' + g), and a non-finite g needs a non-finite entry of Q' or K', which makes that
  // S' entry non-finite too.
  __aicore__ inline bool HasNonFinite(const LocalTensor<half>& sIn, uint32_t count) {
    LocalTensor<half> zeros = selBuf_.Get<half>(), red = redBuf_.Get<half>();
    LocalTensor<half> work = rowBuf_.Get<float>()[rowPitch_].ReinterpretCast<half>();
    VBarrier();  // the previous step's reads of the selector tile are done
    Muls(zeros, sIn, static_cast<half>(0.0f), static_cast<int32_t>(count));
    VBarrier();
    ReduceSum(red, zeros, work, static_cast<int32_t>(count));
    Sync<HardEvent::V_S>();
    const float sum = static_cast<float>(red.GetValue(0));
    Sync<HardEvent::S_V>();
    return sum != 0.0f;
  }

  // exact, rare path (HasNonFinite): a row whose z is not finite at a key it sees takes the contract's fallback for
  // block j (FallBackRow); the others keep their z. Scalar scan of the step's rows.
  __aicore__ inline void FallBackRows(const Task& task, uint32_t j, uint32_t nj, uint32_t njPad, uint32_t rc,
                                      uint32_t vr, const Selection& hide, const LocalTensor<float>& x) {
    Sync<HardEvent::V_S>();  // the scalar unit reads z and the selector
    for (uint32_t r = 0; r < vr; ++r) {
      bool fallBack = false;
      for (uint32_t c = 0; c < nj && !fallBack; ++c) {
        const float z = x.GetValue(r * njPad + c);
        const bool visible = !hide.any || hide.sel.GetValue((hide.rows > 1 ? r * njPad : 0) + c) > 0.0f;
        fallBack = visible && !(z - z == 0.0f);
      }
      if (fallBack) FallBackRow(task, j, nj, rc + r, x[r * njPad]);
    }
    Sync<HardEvent::S_V>();
  }

  // exact, rare path: own row i's scores over block j in fp32 from its fp16 q row (UB) and the raw keys K_j (GM):
  // z = s_h·(q·k) − s_h·(q·c_0), and h = 0 (the contract's step 6). Per row and block: nj + 1 dot products of D
  // values on the Vector (Mul, ReduceSum) and the K_j rows read again.
  __aicore__ inline void FallBackRow(const Task& task, uint32_t j, uint32_t nj, uint32_t i, const LocalTensor<float>& z) {
    const uint32_t d = t_.headDim;
    LocalTensor<float> kw = kWorkBuf_.Get<float>(), qf = Col(COL_ROW), tmp = Col(COL_MIN);
    LocalTensor<float> red = redBuf_.Get<float>(), work = rowBuf_.Get<float>()[rowPitch_];
    Sync<HardEvent::S_V>();
    Cast(qf, q16Buf_.Get<half>()[i * d], RoundMode::CAST_NONE, d);
    VBarrier();
    Mul(tmp, qf, Col(COL_C0), static_cast<int32_t>(d));
    VBarrier();
    ReduceSum(red, tmp, work, static_cast<int32_t>(d));
    Sync<HardEvent::V_S>();
    const float ref = red.GetValue(0) * sH_;
    for (uint32_t r0 = 0; r0 < nj; r0 += t_.kRows) {
      const uint32_t cnt = Min32(t_.kRows, nj - r0);
      LoadRows(kGm_[KvOffset(task, j * t_.blockN + r0)], kvStride_, cnt, kw);
      for (uint32_t r = 0; r < cnt; ++r) {
        VBarrier();
        Mul(tmp, kw[r * d], qf, static_cast<int32_t>(d));
        VBarrier();
        ReduceSum(red, tmp, work, static_cast<int32_t>(d));
        Sync<HardEvent::V_S>();
        z.SetValue(r0 + r, red.GetValue(0) * sH_ - ref);
      }
    }
    Stat(ST_H).SetValue(i, 0.0f);
  }

  // The step's selection, built apart from the scores: the user's mask (its selector, and for a float mask its
  // finite part b', BuildMask) and the causal limit with the block's padding keys (a selector per row, only when
  // some row of the step hides a key that way), combined by Min into one selector.
  __aicore__ inline Selection BuildSelection(const Task& task, uint32_t c0, uint32_t nj, uint32_t njPad, uint32_t rc,
                                             uint32_t vr) {
    Selection hide;
    hide.any = false;
    hide.rows = vr;
    const uint32_t maskRows = t_.maskRowStride ? vr : 1;
    if (t_.maskType != PASA_MASK_NONE) BuildMask(task, c0, nj, njPad, rc, vr);
    bool limit = false;
    for (uint32_t r = 0; r < vr; ++r) limit = limit || RowLimit(task, c0, njPad, rc + r) < int64_t(njPad) - 1;
    if (limit) {  // selector (limit − key + 1/2)·inf from the ramp −key
      LocalTensor<float> sel = selBuf_.Get<float>();
      VBarrier();  // the previous reads of the selector tile are done
      for (uint32_t r = 0; r < vr; ++r)
        Adds(sel[r * njPad], colNeg_, static_cast<float>(RowLimit(task, c0, njPad, rc + r)) + 0.5f,
             static_cast<int32_t>(njPad));
      VBarrier();
      Muls(sel, sel, -NegInf(), static_cast<int32_t>(vr * njPad));
      VBarrier();
      if (t_.maskType != PASA_MASK_NONE) {
        LocalTensor<float> maskSel = maskWorkBuf_.Get<float>();
        if (maskRows > 1) {
          Min(sel, sel, maskSel, static_cast<int32_t>(vr * njPad));
        } else {
          for (uint32_t r = 0; r < vr; ++r) Min(sel[r * njPad], sel[r * njPad], maskSel, static_cast<int32_t>(njPad));
        }
        VBarrier();
      }
      hide.any = true;
      hide.sel = sel;
    } else if (t_.maskType != PASA_MASK_NONE) {
      hide.any = true;
      hide.rows = maskRows;
      hide.sel = maskWorkBuf_.Get<float>();
    }
    return hide;
  }

  // x + b' where the user's mask is a float mask, then x = min(x, selector) on the step's vr rows.
  __aicore__ inline void ApplySelection(const Selection& hide, uint32_t vr, uint32_t njPad,
                                        const LocalTensor<float>& x) {
    if (t_.maskType > PASA_MASK_BOOL) {
      LocalTensor<float> bias = maskBiasBuf_.Get<float>();
      for (uint32_t r = 0; r < vr; ++r)
        Add(x[r * njPad], x[r * njPad], bias[t_.maskRowStride ? r * njPad : 0], static_cast<int32_t>(njPad));
      VBarrier();
    }
    if (!hide.any) return;
    if (hide.rows > 1) {
      Min(x, x, hide.sel, static_cast<int32_t>(vr * njPad));
    } else {
      for (uint32_t r = 0; r < vr; ++r) Min(x[r * njPad], x[r * njPad], hide.sel, static_cast<int32_t>(njPad));
    }
    VBarrier();
  }

  // exact, rare path: −inf at every hidden key by the scalar unit, where min(x, −inf) kept a NaN score (Min passes
  // NaN on): a hidden key whatever it holds never reaches a visible one (the contract's selection).
  __aicore__ inline void HideExactly(const Selection& hide, uint32_t vr, uint32_t njPad, const LocalTensor<float>& x) {
    Sync<HardEvent::V_S>();
    for (uint32_t r = 0; r < vr; ++r)
      for (uint32_t c = 0; c < njPad; ++c)
        if (hide.sel.GetValue((hide.rows > 1 ? r * njPad : 0) + c) < 0.0f) x.SetValue(r * njPad + c, NegInf());
    Sync<HardEvent::S_V>();
  }

  // The user's mask on one vector step's rows, read as passed (one row when it broadcasts over the query rows), as
  // a selector in the mask work tile: ±inf in fp32, +inf where a key is visible. bool m: (m − 1/2)·inf. float b
  // (added to the score): b' = max(b, −FLT_MAX) into the mask bias tile equals b wherever b is finite; t = b − b' is
  // 0 there and −inf where b = −inf; selector (t + 1/2)·inf. With x + b' and Min by the selector, x becomes x + b for
  // every finite b and −inf where b = −inf (Min and Maxs pass NaN on: 附录/Memory矢量计算接口边界值汇总.md, tables 14
  // and 17; fp32 Vector instructions always run in INF/NAN mode, so ±inf never saturates).
  __aicore__ inline void BuildMask(const Task& task, uint32_t c0, uint32_t nj, uint32_t njPad, uint32_t rc, uint32_t vr) {
    const uint32_t type = t_.maskType, es = PasaMaskBytes(type), rows = t_.maskRowStride ? vr : 1;
    const uint64_t off = uint64_t(task.b) * t_.maskBatchStride + uint64_t(task.h) * t_.maskHeadStride +
                         uint64_t(task.r0 + myR0_ + rc) * t_.maskRowStride + c0;
    const uint32_t srcGap = rows > 1 ? (t_.maskRowStride - nj) * es : 0;
    const int32_t count = static_cast<int32_t>(rows * njPad);
    const float posInf = -NegInf();
    LocalTensor<float> maskSel = maskWorkBuf_.Get<float>();
    LocalTensor<uint8_t> in = maskQue_.AllocTensor<uint8_t>();
    if (type == PASA_MASK_BOOL) {  // rows land at a 32-byte pitch; the padding bytes are 0 (hidden)
      const uint32_t pitch = PasaAlign(nj, 32);
      DataCopyPad(in, maskBool_[off], DataCopyExtParams(static_cast<uint16_t>(rows), nj, srcGap, 0, 0),
                  DataCopyPadExtParams<uint8_t>(true, 0, static_cast<uint8_t>(pitch - nj), 0));
      maskQue_.EnQue(in);
      in = maskQue_.DeQue<uint8_t>();
      // 0/1 through fp16 (uint8 converts to fp16 only), after the fp32 selector in the work tile
      LocalTensor<half> m16 = maskWorkBuf_.Get<half>()[rows * t_.blockN * 2];
      VBarrier();  // the previous step's reads of the work tile are done
      for (uint32_t r = 0; r < rows; ++r) Cast(m16[r * njPad], in[r * pitch], RoundMode::CAST_NONE, njPad);
      VBarrier();
      Cast(maskSel, m16, RoundMode::CAST_NONE, rows * njPad);
      VBarrier();
      Adds(maskSel, maskSel, -0.5f, count);
      VBarrier();
      Muls(maskSel, maskSel, posInf, count);
      VBarrier();
      maskQue_.FreeTensor(in);
      return;
    }
    LocalTensor<float> mb, bias = maskBiasBuf_.Get<float>();
    if (type == PASA_MASK_FP32) {  // rows at the score tile's pitch; the columns past nj zero
      const uint32_t nj8 = PasaAlign(nj, 8);
      LocalTensor<float> inF = in.ReinterpretCast<float>();
      if (nj8 < njPad) {
        Duplicate(inF, 0.0f, count);
        Sync<HardEvent::V_MTE2>();
      }
      DataCopyPad(inF, maskFloat_[off], DataCopyExtParams(static_cast<uint16_t>(rows), nj * 4, srcGap, (njPad - nj8) / 8, 0),
                  DataCopyPadExtParams<float>(true, 0, static_cast<uint8_t>(nj8 - nj), 0.0f));
      maskQue_.EnQue(in);
      in = maskQue_.DeQue<uint8_t>();
      mb = in.ReinterpretCast<float>();
      VBarrier();  // the previous step's reads of the bias and selector tiles are done
    } else {  // fp16 / bf16: 2-byte rows land at the score tile's pitch; converted to fp32 (exactly)
      mb = maskSel;
      const DataCopyExtParams copy(static_cast<uint16_t>(rows), nj * 2, srcGap, 0, 0);
      if (type == PASA_MASK_FP16) {
        DataCopyPad(in.ReinterpretCast<half>(), maskHalf_[off], copy,
                    DataCopyPadExtParams<half>(true, 0, static_cast<uint8_t>(njPad - nj), static_cast<half>(0.0f)));
      } else {
        DataCopyPad(in.ReinterpretCast<bfloat16_t>(), maskBf16_[off], copy,
                    DataCopyPadExtParams<bfloat16_t>(true, 0, static_cast<uint8_t>(njPad - nj),
                                                     static_cast<bfloat16_t>(0.0f)));
      }
      maskQue_.EnQue(in);
      in = maskQue_.DeQue<uint8_t>();
      VBarrier();  // the previous step's reads of the work tile are done
      if (type == PASA_MASK_FP16) {
        Cast(mb, in.ReinterpretCast<half>(), RoundMode::CAST_NONE, rows * njPad);
      } else {
        Cast(mb, in.ReinterpretCast<bfloat16_t>(), RoundMode::CAST_NONE, rows * njPad);
      }
      VBarrier();
    }
    Maxs(bias, mb, -kFloatMax, count);  // b'
    VBarrier();
    Sub(maskSel, mb, bias, count);  // t
    VBarrier();
    Adds(maskSel, maskSel, 0.5f, count);
    VBarrier();
    Muls(maskSel, maskSel, posInf, count);  // the selector
    VBarrier();
    maskQue_.FreeTensor(in);
  }

  // The last key own row i may see, relative to block key c0, clamped to [−1, njPad] (so the fp32 sum with the ramp
  // is exact and never 0); the block's padding keys nj..njPad are past S2 − 1.
  __aicore__ inline int64_t RowLimit(const Task& task, uint32_t c0, uint32_t njPad, uint32_t i) const {
    int64_t limit = int64_t(task.s2) - 1;
    if (t_.causal) {
      const int64_t lim = int64_t(task.r0) + myR0_ + i + task.offset;
      limit = lim < limit ? lim : limit;
    }
    const int64_t rel = limit - int64_t(c0);
    return rel < -1 ? -1 : (rel > int64_t(njPad) ? int64_t(njPad) : rel);
  }

  // The variant's running statistics for block j (scalar per row), α and γ through one vector Exp.
  __aicore__ inline void UpdateStatistics(uint32_t nj) {
    const bool exact = t_.variant == PASA_VARIANT_EXACT, paper = t_.variant == PASA_VARIANT_PAPER;
    LocalTensor<float> m = Stat(ST_M), l = Stat(ST_L), f = Stat(ST_F), cnt = Stat(ST_CNT), h = Stat(ST_H);
    LocalTensor<float> mu = Stat(ST_MU), rmax = Stat(ST_RMAX), rsum = Stat(ST_RSUM), seen = Stat(ST_SEEN);
    LocalTensor<float> argA = Stat(ST_ARG_A), argG = Stat(ST_ARG_G), newF = Stat(ST_NEWF);
    float coef = 0.0f;
    if (t_.variant == PASA_VARIANT_PASA) {  // c = e·n / (d + e − e·n) from M's fp16 entries
      const float s = t_.scale, b = t_.beta, n = static_cast<float>(nj);
      const float dd = RoundHalf(s * (1.0f - b / n)), e = RoundHalf(s * (b / n)), num = e * n;
      coef = num / ((dd + e) - num);
    }
    Duplicate(argA, 0.0f, static_cast<int32_t>(2 * statPitch_));  // ARG_A and ARG_G
    Sync<HardEvent::V_S>();
    for (uint32_t i = 0; i < myRows_; ++i) {
      const float r = rmax.GetValue(i);
      if (r == NegInf()) {  // this block hides every key from row i: its state stays
        seen.SetValue(i, 0.0f);
        argG.SetValue(i, NegInf());
        continue;
      }
      seen.SetValue(i, 1.0f);
      Stat(ST_ANY).SetValue(i, 1.0f);
      float mOld, top;
      if (exact) {
        mOld = m.GetValue(i);
        top = r + h.GetValue(i);
      } else if (!paper) {
        const float fo = f.GetValue(i), shift = coef * mu.GetValue(i);
        const float fn = fo + (shift - fo) / (cnt.GetValue(i) + 1.0f);
        mOld = m.GetValue(i) + (fo - fn);
        top = r + (shift - fn);
        newF.SetValue(i, fn);
      } else {
        const float fo = f.GetValue(i), shift = RoundHalf(t_.coefPaper * RoundHalf(mu.GetValue(i)));
        const float fn = RoundHalf(fo + RoundHalf(RoundHalf(shift - fo) / (cnt.GetValue(i) + 1.0f)));
        mOld = RoundHalf(m.GetValue(i) + RoundHalf(fo - fn));
        top = RoundHalf(r + RoundHalf(shift - fn));
        newF.SetValue(i, fn);
      }
      const float mNew = NanMax(mOld, top);
      m.SetValue(i, mNew);
      argA.SetValue(i, paper ? RoundHalf(mOld - mNew) : mOld - mNew);
      argG.SetValue(i, paper ? RoundHalf(top - mNew) : top - mNew);
    }
    Sync<HardEvent::S_V>();
    ExpStatistics(paper);  // fp16 exp of fp16 arguments for paper
    Sync<HardEvent::V_S>();
    for (uint32_t i = 0; i < myRows_; ++i) {
      if (seen.GetValue(i) == 0.0f) continue;
      const float alpha = argA.GetValue(i), gamma = argG.GetValue(i);
      if (paper) {
        l.SetValue(i, RoundHalf(RoundHalf(alpha * l.GetValue(i)) + RoundHalf(gamma * RoundHalf(rsum.GetValue(i)))));
      } else {
        l.SetValue(i, alpha * l.GetValue(i) + gamma * rsum.GetValue(i));
      }
      if (!exact) {
        f.SetValue(i, newF.GetValue(i));
        cnt.SetValue(i, cnt.GetValue(i) + 1.0f);
      }
    }
    Sync<HardEvent::S_V>();
  }

  // O = α·O + γ·(P·V) for the rows that saw a key in block j. α and γ stay where UpdateStatistics left them.
  __aicore__ inline void UpdateOutput(const Task& task, uint32_t j) {
    (void)task;
    (void)j;
    const uint32_t d = t_.headDim;
    const bool paper = t_.variant == PASA_VARIANT_PAPER;
    LocalTensor<float> o = o32Buf_.Get<float>(), seen = Stat(ST_SEEN), alpha = Stat(ST_ARG_A), gamma = Stat(ST_ARG_G);
    for (uint32_t rc = 0; rc < myRows_; rc += t_.vecRows) {
      const uint32_t vr = Min32(t_.vecRows, myRows_ - rc);
      LocalTensor<float> pv = inQue_.AllocTensor<float>();
      DataCopy(pv, wsO_[(myR0_ + rc) * d], vr * d);
      inQue_.EnQue(pv);
      pv = inQue_.DeQue<float>();
      if (paper) {
        VBarrier();  // the previous step's reads of the fp16 P·V rows are done
        Cast(pv16Buf_.Get<half>(), pv, RoundMode::CAST_RINT, vr * d);  // fp16(P·V)
        VBarrier();
      }
      for (uint32_t r = 0; r < vr; ++r) {
        const uint32_t i = rc + r;
        const float a = alpha.GetValue(i), g = gamma.GetValue(i);  // scalar reads of values the scalar unit wrote
        if (seen.GetValue(i) == 0.0f) continue;
        if (paper) {
          LocalTensor<half> o16 = o16Buf_.Get<half>()[i * d], p16 = pv16Buf_.Get<half>()[r * d];
          Muls(o16, o16, static_cast<half>(a), static_cast<int32_t>(d));
          Muls(p16, p16, static_cast<half>(g), static_cast<int32_t>(d));
          VBarrier();
          Add(o16, o16, p16, static_cast<int32_t>(d));
        } else {
          Muls(o[i * d], o[i * d], a, static_cast<int32_t>(d));
          Muls(pv[r * d], pv[r * d], g, static_cast<int32_t>(d));
          VBarrier();
          Add(o[i * d], o[i * d], pv[r * d], static_cast<int32_t>(d));
        }
      }
      VBarrier();
      inQue_.FreeTensor(pv);
    }
  }

  // out = O / l (paper: fp16(O / l); exact with bf16 values: 2^εv·O / l) rounded to the output dtype; rows that saw
  // no key: 0. O / l is formed in place
  // in O, which the next task clears.
  __aicore__ inline void WriteOutput(const Task& task) {
    const uint32_t d = t_.headDim;
    const bool paper = t_.variant == PASA_VARIANT_PAPER, bf16 = t_.outType == PASA_OUT_BF16;
    LocalTensor<float> o = o32Buf_.Get<float>(), l = Stat(ST_L), seenAny = Stat(ST_ANY), tmp = Col(COL_MIN);
    if (myRows_ > 0 && (t_.sinks || t_.returnLse)) Epilogue(task);
    for (uint32_t rc = 0; rc < myRows_; rc += t_.vecRows) {
      const uint32_t vr = Min32(t_.vecRows, myRows_ - rc);
      LocalTensor<half> out = outQue_.AllocTensor<half>();  // fp16, or bf16 bits (outType)
      for (uint32_t r = 0; r < vr; ++r) {
        const uint32_t i = rc + r;
        const float li = l.GetValue(i);
        const bool any = seenAny.GetValue(i) != 0.0f;
        if (!any) {
          Duplicate(out.ReinterpretCast<uint16_t>()[r * d], static_cast<uint16_t>(0), static_cast<int32_t>(d));
          continue;
        }
        if (paper) {
          Cast(o[i * d], o16Buf_.Get<half>()[i * d], RoundMode::CAST_NONE, d);
          VBarrier();
        }
        Duplicate(tmp, li, static_cast<int32_t>(d));
        VBarrier();
        Div(o[i * d], o[i * d], tmp, static_cast<int32_t>(d));
        VBarrier();
        if (outScale_ != 1.0f) {  // exact, bf16 values: the slice's power of two 2^εv (exact)
          Muls(o[i * d], o[i * d], outScale_, static_cast<int32_t>(d));
          VBarrier();
        }
        if (paper || !bf16) Cast(out[r * d], o[i * d], RoundMode::CAST_RINT, d);  // fp16(O / l)
        if (paper && bf16) {  // the paper variant's fp16 output, then bf16
          VBarrier();
          Cast(o[i * d], out[r * d], RoundMode::CAST_NONE, d);
          VBarrier();
        }
        if (bf16) Cast(out.ReinterpretCast<bfloat16_t>()[r * d], o[i * d], RoundMode::CAST_RINT, d);
        VBarrier();  // the next row's Duplicate overwrites tmp
      }
      outQue_.EnQue(out);
      out = outQue_.DeQue<half>();
      CopyRowsOut(outGm_[task.q0 + uint64_t(task.r0 + myR0_ + rc) * qStride_], out, vr, qStride_);
      outQue_.FreeTensor(out);
    }
    if (myRows_ > 0 && t_.returnLse) {  // the own rows' lse, contiguous in [B, N, S1] or [N, Tq]
      LocalTensor<float> lse = Stat(ST_LSE);
      Sync<HardEvent::S_MTE3>();
      DataCopyPad(lseGm_[task.lse0 + task.r0 + myR0_], lse, DataCopyExtParams(1, myRows_ * 4, 0, 0, 0));
      Sync<HardEvent::MTE3_S>();  // the next task's scalar stores overwrite what MTE3 read
      Sync<HardEvent::MTE3_V>();  // and its vector fills
    }
    Sync<HardEvent::S_V>();  // the next task's vector fills overwrite the statistics read here
  }

  // After the last block, before O / l (docs/numerics.md, "Log-sum-exp" and "Attention sinks"): each own row's frame
  // F (exact: s_h·(q·c_0), one fp32 dot; pasa / paper: the pseudo-average f), the sink joining its normaliser in that
  // frame (t = sink − F, m' = max(m, t), l' = α·l + γ, O' = α·O; each step fp16 for paper), then lse = (m + F) +
  // log l into ST_LSE (−inf, or the sink, for a row that saw no key). Scalar per row, one vector Exp and one Ln.
  __aicore__ inline void Epilogue(const Task& task) {
    const uint32_t d = t_.headDim;
    const bool exact = t_.variant == PASA_VARIANT_EXACT, paper = t_.variant == PASA_VARIANT_PAPER;
    LocalTensor<float> m = Stat(ST_M), l = Stat(ST_L), f = Stat(ST_F), any = Stat(ST_ANY), frame = Stat(ST_FRAME);
    LocalTensor<float> argA = Stat(ST_ARG_A), argG = Stat(ST_ARG_G), lse = Stat(ST_LSE), red = redBuf_.Get<float>();
    const int32_t pitch = static_cast<int32_t>(statPitch_);
    if (exact && task.nBlocks > 0) {  // F = s_h·(q·c_0) per row
      LocalTensor<float> tmp = Col(COL_MIN), work = rowBuf_.Get<float>()[rowPitch_];
      LocalTensor<half> q16 = q16Buf_.Get<half>();
      for (uint32_t i = 0; i < myRows_; ++i) {  // ReduceSum ends with V_S and S_V: the next row's Cast may follow
        Cast(tmp, q16[i * d], RoundMode::CAST_NONE, d);
        VBarrier();
        Mul(tmp, tmp, Col(COL_C0), static_cast<int32_t>(d));
        VBarrier();
        ReduceSum(red, tmp, work, static_cast<int32_t>(d));
        Sync<HardEvent::V_S>();
        frame.SetValue(i, red.GetValue(0) * sH_);
      }
    } else {
      Sync<HardEvent::V_S>();
      for (uint32_t i = 0; i < myRows_; ++i) frame.SetValue(i, exact ? 0.0f : f.GetValue(i));
    }
    const float sink = t_.sinks ? sinksGm_.GetValue(task.h) : NegInf();
    if (t_.sinks) {
      Sync<HardEvent::S_V>();
      Duplicate(argA, 0.0f, 2 * pitch);  // ARG_A and ARG_G
      Sync<HardEvent::V_S>();
      for (uint32_t i = 0; i < myRows_; ++i) {
        if (any.GetValue(i) == 0.0f) continue;
        const float t = paper ? RoundHalf(RoundHalf(sink) - frame.GetValue(i)) : sink - frame.GetValue(i);
        const float mOld = m.GetValue(i), mNew = NanMax(mOld, t);
        m.SetValue(i, mNew);
        argA.SetValue(i, paper ? RoundHalf(mOld - mNew) : mOld - mNew);
        argG.SetValue(i, paper ? RoundHalf(t - mNew) : t - mNew);
      }
      Sync<HardEvent::S_V>();
      ExpStatistics(paper);
      Sync<HardEvent::V_S>();
      for (uint32_t i = 0; i < myRows_; ++i) {
        if (any.GetValue(i) == 0.0f) continue;
        const float alpha = argA.GetValue(i), gamma = argG.GetValue(i);
        l.SetValue(i, paper ? RoundHalf(RoundHalf(alpha * l.GetValue(i)) + gamma) : alpha * l.GetValue(i) + gamma);
        if (paper) {
          LocalTensor<half> o16 = o16Buf_.Get<half>()[i * d];
          Muls(o16, o16, static_cast<half>(alpha), static_cast<int32_t>(d));
        } else {
          LocalTensor<float> o = o32Buf_.Get<float>()[i * d];
          Muls(o, o, alpha, static_cast<int32_t>(d));
        }
      }
      VBarrier();
    }
    if (t_.returnLse) {
      LocalTensor<float> lnL = Stat(ST_TMP16);
      Sync<HardEvent::S_V>();
      Ln(lnL, l, pitch);
      Sync<HardEvent::V_S>();
      for (uint32_t i = 0; i < myRows_; ++i)
        lse.SetValue(i, any.GetValue(i) == 0.0f ? sink : (m.GetValue(i) + frame.GetValue(i)) + lnL.GetValue(i));
    }
    Sync<HardEvent::S_V>();
  }

  // α and γ of every own row from their arguments in ARG_A and ARG_G: one vector Exp (paper: fp16 arguments and
  // results).
  __aicore__ inline void ExpStatistics(bool paper) {
    LocalTensor<float> argA = Stat(ST_ARG_A);
    const int32_t count = static_cast<int32_t>(2 * statPitch_);
    if (paper) {
      LocalTensor<half> a16 = Stat(ST_TMP16).ReinterpretCast<half>();
      Cast(a16, argA, RoundMode::CAST_RINT, count);
      VBarrier();
      Exp(a16, a16, count);
      VBarrier();
      Cast(argA, a16, RoundMode::CAST_NONE, count);
    } else {
      Exp(argA, argA, count);
    }
  }

  template <HardEvent E>
  __aicore__ inline void Sync() {
    const TEventID ev = pipe_->FetchEventID<E>();
    SetFlag<E>(ev);
    WaitFlag<E>(ev);
  }

  // ---------------------------------------------------------------------------------------------------------
  PasaAttentionTilingData t_;
  PasaBufferPlan buf_;
  TPipe* pipe_ = nullptr;
  uint32_t group_ = 0, sub_ = 0, myR0_ = 0, myRows_ = 0, rowPitch_ = 0, statPitch_ = 0;
  uint32_t cachedB_ = 0xffffffffu, cachedKvh_ = 0xffffffffu, cachedBlocks_ = 0;  // the AIV's K' cache
  GlobalTensor<half> qGm_, kGm_, vGm_, outGm_, wsKp_, wsS_, wsP_, wsM_, wsQ_, wsA_;
  GlobalTensor<float> wsO_, wsC_, wsG_, scalesGm_, sinksGm_, lseGm_;
  GlobalTensor<uint8_t> liveGm_;
  GlobalTensor<int64_t> cuQGm_, cuKGm_;  // TND: the sequences' first rows and keys (cu_seqlens)
  uint32_t qStride_ = 0, kvStride_ = 0;  // elements from one position of a head to the next in q / out and k / v
  // TND: the task cursor (sequence seq_, its first task id, task count, first rows and lengths)
  uint32_t seq_ = 0, seqTask0_ = 0, seqTasks_ = 0, seqS1_ = 0, seqS2_ = 0;
  uint64_t seqQ0_ = 0, seqK0_ = 0;
  uint32_t tailM_ = 0;  // pasa / paper: the block length of the tail shift matrix in the workspace (0: none yet)
  GlobalTensor<uint8_t> maskBool_;  // the mask, in the one of these its type names
  GlobalTensor<half> maskHalf_;
  GlobalTensor<bfloat16_t> maskBf16_;
  GlobalTensor<float> maskFloat_;
  // AIC
  TQue<TPosition::A1, 1> qL1Que_, aL1Que_;  // Q; P or M slices (the A of P·V and M·K)
  TQue<TPosition::B1, 1> bL1Que_;           // K' tiles and K/V slices (the B of Q·K'ᵀ, P·V and M·K)
  TBuf<TPosition::A2> a2Buf_;
  TBuf<TPosition::B2> b2Buf_;
  TQue<TPosition::CO1, 1> c1Que_;
  TEventID l0Event_[2] = {0, 0};
  bool l0Busy_[2] = {false, false};
  uint32_t l0Stage_ = 0;
  // AIV
  TQue<TPosition::VECIN, 1> inQue_, maskQue_;  // inQue_: S', P·V and K tiles in turn; maskQue_: mask rows
  TQue<TPosition::VECOUT, 1> outQue_;          // K' tiles, P tiles and output rows in turn
  TBuf<TPosition::VECCALC> kWorkBuf_, colBuf_, q16Buf_, o32Buf_, o16Buf_, pv16Buf_, x32Buf_, x16Buf_, selBuf_,
      maskWorkBuf_, maskBiasBuf_, rowBuf_, statBuf_, redBuf_;
  LocalTensor<float> colNeg_;
  // exact: the task's head scales (s_h, s_rest_h, the output's power of two) and whether every score tile takes the
  // non-finite check's rare path (s_rest_h so large that a finite S' + g could overflow fp32)
  float sH_ = 0.0f, sRestH_ = 0.0f, outScale_ = 1.0f;
  bool checkAll_ = false;
};

}  // namespace pasa_kernel
