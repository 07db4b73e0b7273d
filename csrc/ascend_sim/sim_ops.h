// AscendC instructions on the simulator, with the real names and signatures, for exactly the subset the PASA
// kernel uses. Data movement: DataCopy (GM<->UB, 32-byte blocks; GM->L1 ND->NZ), DataCopyPad, LoadData
// (L1->L0A/L0B, 512-byte fractals), Fixpipe (L0C->GM, NZ->ND, fp32->fp16). Vector (level-2, count form): every
// result is rounded to the operand type, so half ops round each result to fp16. Cube: Mmad multiplies fp16
// fractals with fp32 accumulation in L0C. Every instruction declares its pipe and the bytes it reads and writes
// (ascend_sim::Instr, sim_sync.h), which checks them against the synchronisation the program asked for.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "sim_tensor.h"

namespace AscendC {

struct DataCopyExtParams {
  DataCopyExtParams() {}
  DataCopyExtParams(const uint16_t count, const uint32_t len, const uint32_t srcStrideIn, const uint32_t dstStrideIn,
                    const uint32_t rsvIn)
      : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn), rsv(rsvIn) {}
  uint16_t blockCount = 1;
  uint32_t blockLen = 0;
  uint32_t srcStride = 0;
  uint32_t dstStride = 0;
  uint32_t rsv = 0;
};

template <typename T>
struct DataCopyPadExtParams {
  DataCopyPadExtParams() {}
  DataCopyPadExtParams(const bool isPadValue, const uint8_t leftPadValue, const uint8_t rightPadValue, T padValue)
      : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
  bool isPad = false;
  uint8_t leftPadding = 0;
  uint8_t rightPadding = 0;
  T paddingValue = 0;
};

struct Nd2NzParams {
  Nd2NzParams() {}
  Nd2NzParams(const uint16_t ndNumIn, const uint16_t nValueIn, const uint16_t dValueIn,
              const uint16_t srcNdMatrixStrideIn, const uint16_t srcDValueIn, const uint16_t dstNzC0StrideIn,
              const uint16_t dstNzNStrideIn, const uint16_t dstNzMatrixStrideIn)
      : ndNum(ndNumIn), nValue(nValueIn), dValue(dValueIn), srcNdMatrixStride(srcNdMatrixStrideIn),
        srcDValue(srcDValueIn), dstNzC0Stride(dstNzC0StrideIn), dstNzNStride(dstNzNStrideIn),
        dstNzMatrixStride(dstNzMatrixStrideIn) {}
  uint16_t ndNum = 0, nValue = 0, dValue = 0, srcNdMatrixStride = 0, srcDValue = 0, dstNzC0Stride = 0,
           dstNzNStride = 0, dstNzMatrixStride = 0;
};

struct LoadData2DParams {
  LoadData2DParams() {}
  LoadData2DParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn,
                   const uint8_t sidIn, const uint16_t dstGapIn, const bool ifTransposeIn, const uint8_t addrModeIn)
      : startIndex(startIndexIn), dstGap(dstGapIn), srcStride(srcStrideIn), ifTranspose(ifTransposeIn),
        repeatTimes(repeatTimesIn), sid(sidIn), addrMode(addrModeIn) {}
  uint16_t startIndex = 0;
  uint16_t dstGap = 0;
  uint16_t srcStride = 0;
  bool ifTranspose = 0;
  uint8_t repeatTimes = 0;
  uint8_t sid = 0;
  uint8_t addrMode = 0;
};

struct MmadParams {
  MmadParams() {}
  MmadParams(const uint16_t mIn, const uint16_t nIn, const uint16_t kIn, const uint8_t unitFlagIn,
             const bool cmatrixSourceIn, const bool cmatrixInitValIn)
      : m(mIn), n(nIn), k(kIn), unitFlag(unitFlagIn), cmatrixSource(cmatrixSourceIn), cmatrixInitVal(cmatrixInitValIn) {}
  uint16_t m = 0, n = 0, k = 0;
  bool isBias = false;
  int32_t fmOffset = 0;
  bool enSsparse = false, enWinogradA = false, enWinogradB = false;
  uint8_t unitFlag = 0;
  bool kDirectionAlign = false;
  bool cmatrixSource = false;
  bool cmatrixInitVal = true;
};

template <typename U>
struct InitConstValueParams {
  InitConstValueParams() {}
  InitConstValueParams(const uint16_t repeatTimesIn, const uint16_t blockNumIn, const uint16_t dstGapIn,
                       const U initValueIn)
      : repeatTimes(repeatTimesIn), blockNum(blockNumIn), dstGap(dstGapIn), initValue(initValueIn) {}
  InitConstValueParams(const uint16_t repeatTimesIn, const U initValueIn)
      : repeatTimes(repeatTimesIn), initValue(initValueIn) {}
  uint16_t repeatTimes = 0;
  uint16_t blockNum = 0;
  uint16_t dstGap = 0;
  U initValue = 0;
};

struct FixpipeParamsV220 {
  FixpipeParamsV220() {}
  FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn,
                    const uint32_t dstStrideIn, const bool reluEnIn)
      : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), reluEn(reluEnIn) {}
  uint16_t nSize = 0;
  uint16_t mSize = 0;
  uint16_t srcStride = 0;
  uint32_t dstStride = 0;
  QuantMode_t quantPre = QuantMode_t::NoQuant;
  uint64_t deqScalar = 0;
  uint16_t ndNum = 1, srcNdStride = 0, dstNdStride = 0;
  bool reluEn = false;
  uint8_t unitFlag = 0;
  bool isChannelSplit = false;
};

enum class CO2Layout : uint8_t { NZ = 0, ROW_MAJOR, COLUMN_MAJOR };
struct FixpipeConfig {
  CO2Layout format;
};
constexpr FixpipeConfig CFG_ROW_MAJOR = {CO2Layout::ROW_MAJOR};

namespace sim_detail {

inline void need(ascend_sim::CoreKind k, const char* op) {
  if (ascend_sim::ctx().kind != k)
    ascend_sim::failf(op, " runs on the ", k == ascend_sim::CoreKind::kAIC ? "Cube (AIC)" : "Vector (AIV)",
                      " core only");
}

template <typename T>
void vec_operand(const LocalTensor<T>& t, uint64_t n, const char* op, bool read) {
  need(ascend_sim::CoreKind::kAIV, op);
  if (t.mem() != ascend_sim::Mem::kUB) ascend_sim::failf(op, ": operand is not in UB");
  if (t.byte_offset() % 32 != 0)
    ascend_sim::failf(op, ": UB operand at byte ", t.byte_offset(), " is not 32-byte aligned");
  if (read) t.check_read(0, n, op);
  else t.check_range(0, n, op);
}

template <typename T>
float to_f(const T& v) { return static_cast<float>(v); }

using ascend_sim::Instr;
using ascend_sim::Pipe;
template <typename T>
Instr& reads(Instr& i, const LocalTensor<T>& t, uint64_t n) { return i.read(t.mem(), t.byte_offset(), n * sizeof(T)); }
template <typename T>
Instr& writes(Instr& i, const LocalTensor<T>& t, uint64_t n, bool small_mmad = false) {
  return i.write(t.mem(), t.byte_offset(), n * sizeof(T), small_mmad);
}
// What the count-form reductions do after their vector pass on Atlas A2: V_S, the result stored to dst by the
// scalar unit, then S_V and S_MTE3 (dav_c220/kernel_operator_vec_reduce_impl.h:152-170 ReduceSumImpl, and the
// ReduceImplNoIndex path of ReduceMax), each with an ID from TPipe::FetchEventID.
inline void sync_pair(HardEvent e) {
  const int id = take_id(e, false, nullptr);
  set(e, id);
  wait(e, id);
}

template <typename T, typename F>
void unary(const LocalTensor<T>& dst, const LocalTensor<T>& src, int32_t n, const char* op, F f) {
  vec_operand(src, n, op, true);
  vec_operand(dst, n, op, false);
  Instr ins(Pipe::kV, op);
  writes(reads(ins, src, n), dst, n);
  const T* s = src.data();
  T* d = dst.data();
  for (int32_t i = 0; i < n; ++i) d[i] = static_cast<T>(f(to_f(s[i])));  // rounded to T: fp16 ops round here
  dst.mark_written(0, n);
  ins.commit();
}

template <typename T, typename F>
void binary(const LocalTensor<T>& dst, const LocalTensor<T>& a, const LocalTensor<T>& b, int32_t n, const char* op,
            F f) {
  vec_operand(a, n, op, true);
  vec_operand(b, n, op, true);
  vec_operand(dst, n, op, false);
  Instr ins(Pipe::kV, op);
  writes(reads(reads(ins, a, n), b, n), dst, n);
  const T *x = a.data(), *y = b.data();
  T* d = dst.data();
  for (int32_t i = 0; i < n; ++i) d[i] = static_cast<T>(f(to_f(x[i]), to_f(y[i])));
  dst.mark_written(0, n);
  ins.commit();
}

template <typename T>
float pairwise_sum(std::vector<float> v) {
  while (v.size() > 1) {
    std::vector<float> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2) next.push_back(static_cast<float>(static_cast<T>(v[i] + v[i + 1])));
    if (v.size() % 2) next.push_back(v.back());
    v.swap(next);
  }
  return v.empty() ? 0.f : v[0];
}

inline float nan_max(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : std::max(a, b); }
inline float nan_min(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : std::min(a, b); }

}  // namespace sim_detail

// ---- vector: element-wise ----
template <typename T>
void Add(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Add", [](float x, float y) { return x + y; });
}
template <typename T>
void Sub(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Sub", [](float x, float y) { return x - y; });
}
template <typename T>
void Mul(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Mul", [](float x, float y) { return x * y; });
}
template <typename T>
void Div(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Div", [](float x, float y) { return x / y; });
}
template <typename T>
void Max(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Max", sim_detail::nan_max);
}
template <typename T>
void Min(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  sim_detail::binary(d, a, b, n, "Min", sim_detail::nan_min);
}
template <typename T>
void Adds(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n) {
  const float c = static_cast<float>(v);
  sim_detail::unary(d, s, n, "Adds", [c](float x) { return x + c; });
}
template <typename T>
void Muls(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n) {
  const float c = static_cast<float>(v);
  sim_detail::unary(d, s, n, "Muls", [c](float x) { return x * c; });
}
template <typename T>
void Maxs(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n) {
  const float c = static_cast<float>(v);
  sim_detail::unary(d, s, n, "Maxs", [c](float x) { return sim_detail::nan_max(x, c); });
}
template <typename T>
void Exp(const LocalTensor<T>& d, const LocalTensor<T>& s, const int32_t& n) {
  sim_detail::unary(d, s, n, "Exp", [](float x) { return std::exp(x); });
}
// natural log, IEEE: ln(0) = −inf, ln(x < 0) = NaN (附录/Memory矢量计算接口边界值汇总.md tables 1 and 3)
template <typename T>
void Ln(const LocalTensor<T>& d, const LocalTensor<T>& s, const int32_t& n) {
  sim_detail::unary(d, s, n, "Ln", [](float x) { return std::log(x); });
}
template <typename T>
void Duplicate(const LocalTensor<T>& d, const T& v, const int32_t& n) {
  sim_detail::vec_operand(d, n, "Duplicate", false);
  sim_detail::Instr ins(sim_detail::Pipe::kV, "Duplicate");
  sim_detail::writes(ins, d, n);
  T* p = d.data();
  for (int32_t i = 0; i < n; ++i) p[i] = v;
  d.mark_written(0, n);
  ins.commit();
}
// bitwise And on 16-bit integers (used on the bit patterns of fp16 values)
template <typename T>
void And(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
  static_assert(std::is_same<T, uint16_t>::value || std::is_same<T, int16_t>::value, "And takes 16-bit integers");
  sim_detail::vec_operand(a, n, "And", true);
  sim_detail::vec_operand(b, n, "And", true);
  sim_detail::vec_operand(d, n, "And", false);
  sim_detail::Instr ins(sim_detail::Pipe::kV, "And");
  sim_detail::writes(sim_detail::reads(sim_detail::reads(ins, a, n), b, n), d, n);
  for (int32_t i = 0; i < n; ++i) d.data()[i] = static_cast<T>(a.data()[i] & b.data()[i]);
  d.mark_written(0, n);
  ins.commit();
}

// Cast with an explicit rounding mode; the simulator implements the conversions the kernel uses.
template <typename T1, typename T2>
void Cast(const LocalTensor<T1>& d, const LocalTensor<T2>& s, const RoundMode& mode, const uint32_t n) {
  sim_detail::vec_operand(s, n, "Cast", true);
  sim_detail::vec_operand(d, n, "Cast", false);
  sim_detail::Instr ins(sim_detail::Pipe::kV, "Cast");
  sim_detail::writes(sim_detail::reads(ins, s, n), d, n);
  const T2* x = s.data();
  T1* y = d.data();
  if constexpr (std::is_same<T1, int32_t>::value) {
    if (mode != RoundMode::CAST_RINT) ascend_sim::fail("Cast to int32: the simulator implements CAST_RINT only");
    for (uint32_t i = 0; i < n; ++i) y[i] = static_cast<int32_t>(std::nearbyint(static_cast<float>(x[i])));
  } else if constexpr (std::is_same<T2, int32_t>::value) {
    for (uint32_t i = 0; i < n; ++i) y[i] = static_cast<T1>(static_cast<float>(x[i]));
  } else {
    if (mode != RoundMode::CAST_RINT && mode != RoundMode::CAST_NONE)
      ascend_sim::fail("Cast between floating types: the simulator implements CAST_NONE and CAST_RINT only");
    for (uint32_t i = 0; i < n; ++i) y[i] = static_cast<T1>(static_cast<float>(x[i]));  // round to nearest even
  }
  d.mark_written(0, n);
  ins.commit();
}

// ---- vector: reductions (the result lands in dst[0]) ----
// Both run as on Atlas A2: a vector pass (ReduceMax writes its first-pass results to work: two values per 256-byte
// repeat, ReduceMax.md's sizing rule), then V_S, the scalar unit stores dst[0], then S_V and S_MTE3.
template <typename T>
void ReduceMax(const LocalTensor<T>& d, const LocalTensor<T>& s, const LocalTensor<T>& work, const int32_t count,
               bool calIndex = 0) {
  (void)calIndex;
  constexpr int32_t lanes = 256 / sizeof(T), per_block = 32 / sizeof(T);
  const int32_t w = ((count + lanes - 1) / lanes * 2 + per_block - 1) / per_block * per_block;
  sim_detail::vec_operand(s, count, "ReduceMax", true);
  sim_detail::vec_operand(d, 1, "ReduceMax", false);
  sim_detail::vec_operand(work, w, "ReduceMax", false);
  sim_detail::Instr pass(sim_detail::Pipe::kV, "ReduceMax");
  sim_detail::writes(sim_detail::reads(pass, s, count), work, w);
  float r = -std::numeric_limits<float>::infinity();
  for (int32_t i = 0; i < count; ++i) r = sim_detail::nan_max(r, static_cast<float>(s.data()[i]));
  pass.commit();
  sim_detail::sync_pair(HardEvent::V_S);
  sim_detail::Instr store(sim_detail::Pipe::kS, "ReduceMax (scalar store of the result)");
  sim_detail::writes(sim_detail::reads(store, work, 1), d, 1);
  d.data()[0] = static_cast<T>(r);
  d.mark_written(0, 1);
  store.commit();
  sim_detail::sync_pair(HardEvent::S_V);
  sim_detail::sync_pair(HardEvent::S_MTE3);
}
template <typename T, bool isSetMask = true>
void ReduceSum(const LocalTensor<T>& d, const LocalTensor<T>& s, const LocalTensor<T>& work, const int32_t count) {
  sim_detail::vec_operand(s, count, "ReduceSum", true);
  sim_detail::vec_operand(d, 1, "ReduceSum", false);
  sim_detail::vec_operand(work, 1, "ReduceSum", false);  // not used by the count form on Atlas A2 (ReduceSum.md)
  sim_detail::Instr pass(sim_detail::Pipe::kV, "ReduceSum");
  sim_detail::reads(pass, s, count);
  // Atlas A2, count form (ReduceSum.md, 方式一): a binary tree within each 256-byte repeat, then the repeats' sums
  // added one after another; each sum rounded to T. (The tree's pairing within a repeat is adjacent elements, as
  // ReduceDataBlock.md draws it for one 32-byte block; how the 8 blocks of a repeat pair up is not documented.)
  constexpr int32_t lanes = 256 / sizeof(T);
  float acc = 0.f;
  for (int32_t r0 = 0; r0 < count; r0 += lanes) {
    std::vector<float> v;
    for (int32_t i = r0; i < std::min(count, r0 + lanes); ++i) v.push_back(static_cast<float>(s.data()[i]));
    const float part = sim_detail::pairwise_sum<T>(v);
    acc = r0 == 0 ? part : static_cast<float>(static_cast<T>(acc + part));
  }
  pass.commit();
  sim_detail::sync_pair(HardEvent::V_S);
  sim_detail::Instr store(sim_detail::Pipe::kS, "ReduceSum (scalar store of the result)");
  sim_detail::writes(store, d, 1);
  d.data()[0] = static_cast<T>(acc);
  d.mark_written(0, 1);
  store.commit();
  sim_detail::sync_pair(HardEvent::S_V);
  sim_detail::sync_pair(HardEvent::S_MTE3);
}

// ---- data movement: GM <-> UB ----
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const uint32_t calCount) {
  const uint64_t bytes = uint64_t(calCount) * sizeof(T);
  if (bytes % 32 != 0)
    ascend_sim::failf("DataCopy GM->", ascend_sim::mem_name(dst.mem()), " of ", bytes,
                      " bytes: not a multiple of 32 bytes (use DataCopyPad)");
  if (dst.byte_offset() % 32 != 0)
    ascend_sim::failf("DataCopy GM->", ascend_sim::mem_name(dst.mem()), ": local address ", dst.byte_offset(),
                      " is not 32-byte aligned");
  dst.check_range(0, calCount, "DataCopy");
  src.check(0, calCount);
  sim_detail::Instr ins(sim_detail::Pipe::kMTE2, "DataCopy GM->UB");
  sim_detail::writes(ins.read_gm(src.raw(), bytes), dst, calCount);
  std::memcpy(dst.data(), src.raw(), bytes);
  dst.mark_written(0, calCount);
  ins.commit();
}
template <typename T>
void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t calCount) {
  const uint64_t bytes = uint64_t(calCount) * sizeof(T);
  if (bytes % 32 != 0)
    ascend_sim::failf("DataCopy UB->GM of ", bytes, " bytes: not a multiple of 32 bytes (use DataCopyPad)");
  if (src.byte_offset() % 32 != 0)
    ascend_sim::failf("DataCopy UB->GM: local address ", src.byte_offset(), " is not 32-byte aligned");
  src.check_read(0, calCount, "DataCopy UB->GM");
  dst.check(0, calCount);
  sim_detail::Instr ins(sim_detail::Pipe::kMTE3, "DataCopy UB->GM");
  sim_detail::reads(ins, src, calCount).write_gm(dst.raw(), bytes);
  std::memcpy(dst.raw(), src.data(), bytes);
  ins.commit();
}

// GM -> UB of blockCount blocks of blockLen bytes (GM gap srcStride bytes; UB gap dstStride 32-byte blocks);
// each block lands 32-byte aligned, padded on the right with paddingValue if isPad, else left unwritten.
template <typename T>
void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                 const DataCopyPadExtParams<T>& pad) {
  if (dst.byte_offset() % 32 != 0) ascend_sim::fail("DataCopyPad GM->UB: local address is not 32-byte aligned");
  if (p.blockLen % sizeof(T) != 0) ascend_sim::fail("DataCopyPad: blockLen is not a whole number of elements");
  const uint32_t elems = p.blockLen / sizeof(T), padded = (p.blockLen + 31) / 32 * 32 / sizeof(T);
  if (pad.isPad && pad.rightPadding > padded - elems)
    ascend_sim::failf("DataCopyPad: rightPadding ", int(pad.rightPadding), " beyond the 32-byte block");
  uint64_t s = 0, d = 0;
  sim_detail::Instr ins(sim_detail::Pipe::kMTE2, "DataCopyPad GM->UB");
  for (uint16_t b = 0; b < p.blockCount; ++b) {
    src.check(s, elems);
    dst.check_range(d, padded, "DataCopyPad");
    ins.read_gm(src.raw() + s, p.blockLen);
    sim_detail::writes(ins, dst[d], padded);
    std::memcpy(dst.data() + d, src.raw() + s, p.blockLen);
    dst.mark_written(d, elems);
    dst.mark_poison(d + elems, padded - elems);
    if (pad.isPad) {
      for (uint32_t i = 0; i < pad.rightPadding; ++i) dst.data()[d + elems + i] = pad.paddingValue;
      dst.mark_written(d + elems, pad.rightPadding);
    }
    s += elems + p.srcStride / sizeof(T);
    d += padded + p.dstStride * 32 / sizeof(T);
  }
  ins.commit();
}
// UB -> GM: blockCount blocks of blockLen bytes (UB gap srcStride 32-byte blocks; GM gap dstStride bytes).
template <typename T>
void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& p) {
  if (src.byte_offset() % 32 != 0) ascend_sim::fail("DataCopyPad UB->GM: local address is not 32-byte aligned");
  const uint32_t elems = p.blockLen / sizeof(T), padded = (p.blockLen + 31) / 32 * 32 / sizeof(T);
  uint64_t s = 0, d = 0;
  sim_detail::Instr ins(sim_detail::Pipe::kMTE3, "DataCopyPad UB->GM");
  for (uint16_t b = 0; b < p.blockCount; ++b) {
    src.check_read(s, elems, "DataCopyPad UB->GM");
    dst.check(d, elems);
    sim_detail::reads(ins, src[s], elems).write_gm(dst.raw() + d, p.blockLen);
    std::memcpy(dst.raw() + d, src.data() + s, p.blockLen);
    s += padded + p.srcStride * 32 / sizeof(T);
    d += elems + p.dstStride / sizeof(T);
  }
  ins.commit();
}

// ---- Cube path ----
// GM (ND) -> L1 (NZ): element (r, c) of ND matrix `nd` lands at ((c / C0)·dstNzC0Stride + r·dstNzNStride)·C0 +
// c % C0 + nd·dstNzMatrixStride, C0 = 32 bytes of elements.
template <typename T>
void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const Nd2NzParams& p) {
  sim_detail::need(ascend_sim::CoreKind::kAIC, "DataCopy ND->NZ");
  if (dst.mem() != ascend_sim::Mem::kL1) ascend_sim::fail("DataCopy with Nd2NzParams: destination must be L1");
  if (dst.byte_offset() % 32 != 0) ascend_sim::fail("DataCopy ND->NZ: L1 address is not 32-byte aligned");
  constexpr uint32_t C0 = 32 / sizeof(T);
  sim_detail::Instr ins(sim_detail::Pipe::kMTE2, "DataCopy ND->NZ");
  for (uint32_t nd = 0; nd < p.ndNum; ++nd)
    for (uint32_t cb = 0; cb < (p.dValue + C0 - 1) / C0; ++cb)  // the 32-byte pieces each row lands in
      for (uint32_t r = 0; r < p.nValue; ++r) {
        const uint64_t d = (uint64_t(cb) * p.dstNzC0Stride + uint64_t(r) * p.dstNzNStride) * C0 +
                           uint64_t(nd) * p.dstNzMatrixStride;
        dst.check_range(d, C0, "DataCopy ND->NZ");
        ins.write(dst.mem(), dst.byte_offset() + d * sizeof(T), 32);
      }
  for (uint32_t nd = 0; nd < p.ndNum; ++nd)
    for (uint32_t r = 0; r < p.nValue; ++r) {
      const uint64_t s = uint64_t(nd) * p.srcNdMatrixStride + uint64_t(r) * p.srcDValue;
      src.check(s, p.dValue);
      ins.read_gm(src.raw() + s, uint64_t(p.dValue) * sizeof(T));
      for (uint32_t c = 0; c < p.dValue; ++c) {
        const uint64_t d = (uint64_t(c / C0) * p.dstNzC0Stride + uint64_t(r) * p.dstNzNStride) * C0 + c % C0 +
                           uint64_t(nd) * p.dstNzMatrixStride;
        dst.check_range(d, 1, "DataCopy ND->NZ");
        dst.data()[d] = src.raw()[s + c];
        dst.mark_written(d, 1);
      }
    }
  ins.commit();
}

// L1/L0A/L0B fill: repeatTimes runs of blockNum blocks of initValue, dstGap blocks apart; a block is 32 bytes in
// L1 and 512 bytes in L0A/L0B (asc-devkit 矩阵计算（ISASI）/矩阵搬入辅助配置接口/Fill.md, table 3).
template <typename T, typename U = T>
void InitConstValue(const LocalTensor<T>& dst, const InitConstValueParams<U>& p) {
  sim_detail::need(ascend_sim::CoreKind::kAIC, "InitConstValue");
  if (dst.mem() != ascend_sim::Mem::kL1 && dst.mem() != ascend_sim::Mem::kL0A && dst.mem() != ascend_sim::Mem::kL0B)
    ascend_sim::fail("InitConstValue: destination must be L1, L0A or L0B");
  const bool l1 = dst.mem() == ascend_sim::Mem::kL1;
  const uint32_t per_block = (l1 ? 32 : 512) / sizeof(T);
  // PIPE_MTE2 into L1, PIPE_MTE1 into L0A/L0B (Fill.md, 约束说明)
  sim_detail::Instr ins(l1 ? sim_detail::Pipe::kMTE2 : sim_detail::Pipe::kMTE1, "InitConstValue");
  uint64_t off = 0;
  for (uint32_t r = 0; r < p.repeatTimes; ++r) {
    const uint64_t n = uint64_t(p.blockNum) * per_block;
    dst.check_range(off, n, "InitConstValue");
    sim_detail::writes(ins, dst[off], n);
    for (uint64_t i = 0; i < n; ++i) dst.data()[off + i] = static_cast<T>(p.initValue);
    dst.mark_written(off, n);
    off += n + uint64_t(p.dstGap) * per_block;
  }
  ins.commit();
}

// L1 -> L0A/L0B by 512-byte fractals: fractal i comes from startIndex + i·srcStride and lands at i·(dstGap + 1);
// ifTranspose transposes each 16x16 fractal. Unwritten bytes travel as unwritten (Mmad checks what it reads).
template <typename T>
void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2DParams& p) {
  sim_detail::need(ascend_sim::CoreKind::kAIC, "LoadData");
  if (src.mem() != ascend_sim::Mem::kL1 || (dst.mem() != ascend_sim::Mem::kL0A && dst.mem() != ascend_sim::Mem::kL0B))
    ascend_sim::fail("LoadData (2D): from L1 to L0A or L0B only");
  static_assert(sizeof(T) == 2, "the simulator's LoadData handles 16-bit fractals (16x16)");
  auto& sm = ascend_sim::ctx().memory(src.mem());
  auto& dm = ascend_sim::ctx().memory(dst.mem());
  sim_detail::Instr ins(sim_detail::Pipe::kMTE1, "LoadData");
  for (uint32_t i = 0; i < p.repeatTimes; ++i) {
    const uint64_t sf = (uint64_t(p.startIndex) + uint64_t(i) * p.srcStride) * 256;
    const uint64_t df = uint64_t(i) * (p.dstGap + 1) * 256;
    src.check_range(sf, 256, "LoadData");
    dst.check_range(df, 256, "LoadData");
    sim_detail::reads(ins, src[sf], 256);
    sim_detail::writes(ins, dst[df], 256);
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) {
        const uint64_t so = sf + (p.ifTranspose ? c * 16 + r : r * 16 + c), dof = df + r * 16 + c;
        dst.data()[dof] = src.data()[so];
        const uint64_t sb = src.byte_offset() + so * 2, db = dst.byte_offset() + dof * 2;
        dm.written[db] = sm.written[sb];
        dm.written[db + 1] = sm.written[sb + 1];
      }
  }
  ins.commit();
}

// C (L0C, fp32, NZ) [+]= A (L0A, ZZ fractals) · B (L0B, ZN fractals): A(i, k) at ((i/16)·kb + k/16)·256 +
// (i%16)·16 + k%16; B(k, j) at ((k/16)·nb + j/16)·256 + (j%16)·16 + k%16; C(i, j) at ((j/16)·mp + i)·16 + j%16,
// with kb = ceil(k/16), nb = ceil(n/16), mp = 16·ceil(m/16). Products of fp16 are exact in fp32; sums run in fp32.
// m = 1 is GEMV on Atlas A2: the cube reads A as K contiguous values, A(0, k) at offset k (asc-devkit
// 矩阵计算（ISASI）/Mmad计算关键特性说明/GEMV.md, constraint 1; CANN 8.1.RC1's Matmul pads m = 1 to 16 to avoid it:
// highlevel_api/impl/matmul/scheduler/base/scheduler_norm_base.h GetFixedMadM).
template <typename DstT, typename Src0T, typename Src1T>
void Mmad(const LocalTensor<DstT>& dst, const LocalTensor<Src0T>& a, const LocalTensor<Src1T>& b, const MmadParams& p) {
  sim_detail::need(ascend_sim::CoreKind::kAIC, "Mmad");
  static_assert(std::is_same<DstT, float>::value, "the simulator's Mmad accumulates in fp32");
  if (a.mem() != ascend_sim::Mem::kL0A || b.mem() != ascend_sim::Mem::kL0B || dst.mem() != ascend_sim::Mem::kL0C)
    ascend_sim::fail("Mmad: operands must be L0A x L0B -> L0C");
  const uint32_t kb = (p.k + 15) / 16, nb = (p.n + 15) / 16, mp = (p.m + 15) / 16 * 16;
  const bool gemv = p.m == 1;
  const char* aRead = gemv ? "Mmad A (L0A) with m = 1: GEMV mode reads A as K contiguous values (GEMV.md)"
                           : "Mmad A (L0A)";
  a.check_range(0, uint64_t(mp) * kb * 16, "Mmad A");
  b.check_range(0, uint64_t(kb) * nb * 256, "Mmad B");
  dst.check_range(0, uint64_t(nb) * 16 * mp, "Mmad C");
  // a K-accumulating Mmad reads L0C: after a Mmad with (m/16)·(n/16) < 10 that needs PipeBarrier<PIPE_M> (the PIPE_M
  // rule of sim_sync.cpp: Mmad.md 同步优化说明; CANN 8.1.RC1 mmad_compute.h LIMIT_MNSIZE = 10)
  sim_detail::Instr ins(sim_detail::Pipe::kM, "Mmad");
  sim_detail::reads(ins, a, gemv ? p.k : uint64_t(mp) * kb * 16);
  sim_detail::reads(ins, b, uint64_t(kb) * nb * 256);
  if (!p.cmatrixInitVal) sim_detail::reads(ins, dst, uint64_t(nb) * 16 * mp);
  sim_detail::writes(ins, dst, uint64_t(nb) * 16 * mp, (p.m / 16) * (p.n / 16) < 10);
  // A as [m][k] and B as [n][k] in float, each element checked once
  std::vector<float> af(size_t(p.m) * p.k), bt(size_t(p.n) * p.k);
  for (uint32_t i = 0; i < p.m; ++i)
    for (uint32_t k = 0; k < p.k; ++k) {
      const uint64_t ao = gemv ? k : (uint64_t(i / 16) * kb + k / 16) * 256 + (i % 16) * 16 + k % 16;
      a.check_read(ao, 1, aRead);
      af[size_t(i) * p.k + k] = static_cast<float>(a.data()[ao]);
    }
  for (uint32_t j = 0; j < p.n; ++j)
    for (uint32_t k = 0; k < p.k; ++k) {
      const uint64_t bo = (uint64_t(k / 16) * nb + j / 16) * 256 + (j % 16) * 16 + k % 16;
      b.check_read(bo, 1, "Mmad B (L0B)");
      bt[size_t(j) * p.k + k] = static_cast<float>(b.data()[bo]);
    }
  for (uint32_t i = 0; i < p.m; ++i)
    for (uint32_t j = 0; j < p.n; ++j) {
      const uint64_t co = (uint64_t(j / 16) * mp + i) * 16 + j % 16;
      float acc = 0.f;
      if (!p.cmatrixInitVal) {
        dst.check_read(co, 1, "Mmad (accumulate into L0C)");
        acc = dst.data()[co];
      }
      const float *ar = &af[size_t(i) * p.k], *br = &bt[size_t(j) * p.k];
      for (uint32_t k = 0; k < p.k; ++k) acc += ar[k] * br[k];  // in k order, each sum rounded to fp32
      dst.data()[co] = acc;
      dst.mark_written(co, 1);
    }
  ins.commit();
}

// L0C (NZ, fp32) -> GM (ND): element (i, j) from ((j/16)·srcStride + i)·16 + j%16 to i·dstStride + j, converted
// by quantPre (F322F16 rounds to fp16).
template <typename DstT, typename SrcT, const FixpipeConfig& config = CFG_ROW_MAJOR>
void Fixpipe(const GlobalTensor<DstT>& dst, const LocalTensor<SrcT>& src, const FixpipeParamsV220& p) {
  sim_detail::need(ascend_sim::CoreKind::kAIC, "Fixpipe");
  static_assert(config.format == CO2Layout::ROW_MAJOR, "the simulator implements Fixpipe NZ -> ND (CFG_ROW_MAJOR)");
  if (src.mem() != ascend_sim::Mem::kL0C) ascend_sim::fail("Fixpipe: source must be L0C");
  if (std::is_same<DstT, half>::value != (p.quantPre == QuantMode_t::F322F16))
    ascend_sim::fail("Fixpipe: quantPre must be F322F16 exactly when the destination is half");
  sim_detail::Instr ins(sim_detail::Pipe::kFIX, "Fixpipe");
  for (uint32_t jb = 0; jb < (p.nSize + 15u) / 16u; ++jb)
    sim_detail::reads(ins, src[uint64_t(jb) * p.srcStride * 16], uint64_t(p.mSize) * 16);
  for (uint32_t i = 0; i < p.mSize; ++i) {
    dst.check(uint64_t(i) * p.dstStride, p.nSize);
    ins.write_gm(dst.raw() + uint64_t(i) * p.dstStride, uint64_t(p.nSize) * sizeof(DstT));
    for (uint32_t j = 0; j < p.nSize; ++j) {
      const uint64_t so = (uint64_t(j / 16) * p.srcStride + i) * 16 + j % 16;
      src.check_read(so, 1, "Fixpipe (L0C)");
      dst.raw()[uint64_t(i) * p.dstStride + j] = static_cast<DstT>(static_cast<float>(src.data()[so]));
    }
  }
  ins.commit();
}

}  // namespace AscendC
