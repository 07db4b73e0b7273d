// AscendC's memory objects on the simulator: GlobalTensor, LocalTensor, TPipe, TQue, TBuf, with the real names
// and signatures. Capacity per physical memory, 32-byte buffer alignment, queue balance (AllocTensor / EnQue /
// DeQue / FreeTensor) and reads of never-written bytes are checked here and in sim_ops.h; the synchronisation
// these objects carry (TQue's events, SetFlag/WaitFlag, PipeBarrier, TPipe's event IDs) feeds sim_sync.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <type_traits>
#include <vector>

#include "sim_half.h"
#include "sim_runtime.h"

#define __aicore__
#define __global__
#define __gm__
#define GM_ADDR uint8_t*
#define KERNEL_TASK_TYPE_DEFAULT(value)
#define REGISTER_TILING_DEFAULT(tiling_struct)
#define ASCEND_IS_AIC (::ascend_sim::ctx().kind == ::ascend_sim::CoreKind::kAIC)
#define ASCEND_IS_AIV (::ascend_sim::ctx().kind == ::ascend_sim::CoreKind::kAIV)

enum KernelMetaType { KERNEL_TYPE_AIV_ONLY, KERNEL_TYPE_AIC_ONLY, KERNEL_TYPE_MIX_AIV_1_0, KERNEL_TYPE_MIX_AIC_1_0,
                      KERNEL_TYPE_MIX_AIC_1_1, KERNEL_TYPE_MIX_AIC_1_2 };

enum pipe_t { PIPE_S = 0, PIPE_V, PIPE_M, PIPE_MTE1, PIPE_MTE2, PIPE_MTE3, PIPE_ALL, PIPE_FIX = 10 };
enum event_t { EVENT_ID0 = 0, EVENT_ID1, EVENT_ID2, EVENT_ID3, EVENT_ID4, EVENT_ID5, EVENT_ID6, EVENT_ID7 };

namespace AscendC {

enum class TPosition : uint8_t { GM, A1, A2, B1, B2, C1, C2, CO1, CO2, VECIN, VECOUT, VECCALC, LCM = VECCALC };
// In CANN 8.1.RC1's order (basic_api/impl/kernel_event.h:58); <source pipe>_<destination pipe>.
enum class HardEvent : uint8_t { MTE2_MTE1, MTE1_MTE2, MTE1_M, M_MTE1, MTE2_V, V_MTE2, MTE3_V, V_MTE3, M_V, V_M, V_V,
                                 MTE3_MTE1, MTE1_MTE3, MTE1_V, MTE2_M, M_MTE2, V_MTE1, M_FIX, FIX_M, MTE3_MTE2,
                                 MTE2_MTE3, S_V, V_S, S_MTE2, MTE2_S, S_MTE3, MTE3_S, MTE2_FIX, FIX_MTE2, FIX_S, M_S,
                                 FIX_MTE3, MTE1_FIX, FIX_MTE1, FIX_FIX, MAX };
static_assert(static_cast<int>(HardEvent::MAX) == ascend_sim::kHardEvents, "HardEvent count");

inline const ascend_sim::HardEventInfo& event_info(HardEvent e) {
  using P = ascend_sim::Pipe;
  static const ascend_sim::HardEventInfo table[] = {
      {"MTE2_MTE1", P::kMTE2, P::kMTE1}, {"MTE1_MTE2", P::kMTE1, P::kMTE2}, {"MTE1_M", P::kMTE1, P::kM},
      {"M_MTE1", P::kM, P::kMTE1}, {"MTE2_V", P::kMTE2, P::kV}, {"V_MTE2", P::kV, P::kMTE2},
      {"MTE3_V", P::kMTE3, P::kV}, {"V_MTE3", P::kV, P::kMTE3}, {"M_V", P::kM, P::kV},
      {"V_M", P::kV, P::kM}, {"V_V", P::kV, P::kV}, {"MTE3_MTE1", P::kMTE3, P::kMTE1},
      {"MTE1_MTE3", P::kMTE1, P::kMTE3}, {"MTE1_V", P::kMTE1, P::kV}, {"MTE2_M", P::kMTE2, P::kM},
      {"M_MTE2", P::kM, P::kMTE2}, {"V_MTE1", P::kV, P::kMTE1}, {"M_FIX", P::kM, P::kFIX},
      {"FIX_M", P::kFIX, P::kM}, {"MTE3_MTE2", P::kMTE3, P::kMTE2}, {"MTE2_MTE3", P::kMTE2, P::kMTE3},
      {"S_V", P::kS, P::kV}, {"V_S", P::kV, P::kS}, {"S_MTE2", P::kS, P::kMTE2},
      {"MTE2_S", P::kMTE2, P::kS}, {"S_MTE3", P::kS, P::kMTE3}, {"MTE3_S", P::kMTE3, P::kS},
      {"MTE2_FIX", P::kMTE2, P::kFIX}, {"FIX_MTE2", P::kFIX, P::kMTE2}, {"FIX_S", P::kFIX, P::kS},
      {"M_S", P::kM, P::kS}, {"FIX_MTE3", P::kFIX, P::kMTE3}, {"MTE1_FIX", P::kMTE1, P::kFIX},
      {"FIX_MTE1", P::kFIX, P::kMTE1}, {"FIX_FIX", P::kFIX, P::kFIX}};
  return table[static_cast<int>(e)];
}

inline ascend_sim::Pipe pipe_of(pipe_t p) {
  switch (p) {
    case PIPE_S: return ascend_sim::Pipe::kS;
    case PIPE_V: return ascend_sim::Pipe::kV;
    case PIPE_M: return ascend_sim::Pipe::kM;
    case PIPE_MTE1: return ascend_sim::Pipe::kMTE1;
    case PIPE_MTE2: return ascend_sim::Pipe::kMTE2;
    case PIPE_MTE3: return ascend_sim::Pipe::kMTE3;
    case PIPE_FIX: return ascend_sim::Pipe::kFIX;
    default: ascend_sim::fail("no single pipe for this pipe_t");
  }
}
enum class RoundMode { CAST_NONE = 0, CAST_RINT, CAST_FLOOR, CAST_CEIL, CAST_ROUND, CAST_TRUNC, CAST_ODD };
enum class QuantMode_t { NoQuant, F322F16, F322BF16 };
enum CoreTypeEnum { AIC = 1, AIV = 2 };
using TEventID = int8_t;

inline ascend_sim::Mem mem_of(TPosition p) {
  using ascend_sim::Mem;
  switch (p) {
    case TPosition::GM: return Mem::kGM;
    case TPosition::A1: case TPosition::B1: case TPosition::C1: return Mem::kL1;
    case TPosition::A2: return Mem::kL0A;
    case TPosition::B2: return Mem::kL0B;
    case TPosition::CO1: return Mem::kL0C;
    default: return Mem::kUB;
  }
}

inline int64_t GetBlockIdx() { return ascend_sim::ctx().block_idx; }
inline int64_t GetBlockNum() { return ascend_sim::ctx().block_num; }
inline int64_t GetSubBlockIdx() { return ascend_sim::ctx().sub_block_idx; }
inline int64_t GetTaskRation() { return ascend_sim::ctx().kind == ascend_sim::CoreKind::kAIV ? 2 : 1; }

template <typename T>
class GlobalTensor {
 public:
  void SetGlobalBuffer(__gm__ T* buffer, uint64_t bufferSize) { ptr_ = buffer; size_ = bufferSize; }
  void SetGlobalBuffer(__gm__ T* buffer) { ptr_ = buffer; size_ = UINT64_MAX; }
  GlobalTensor operator[](uint64_t offset) const {
    if (size_ != UINT64_MAX && offset > size_) ascend_sim::failf("GlobalTensor offset ", offset, " past its size ", size_);
    GlobalTensor t;
    t.ptr_ = ptr_ + offset;
    t.size_ = size_ == UINT64_MAX ? UINT64_MAX : size_ - offset;
    return t;
  }
  T GetValue(uint64_t i) const {  // PIPE_S
    check(i, 1);
    ascend_sim::Instr(ascend_sim::Pipe::kS, "GlobalTensor::GetValue").read_gm(ptr_ + i, sizeof(T));
    return ptr_[i];
  }
  void SetValue(uint64_t i, const T& v) {
    check(i, 1);
    ascend_sim::Instr(ascend_sim::Pipe::kS, "GlobalTensor::SetValue").write_gm(ptr_ + i, sizeof(T));
    ptr_[i] = v;
  }
  uint64_t GetSize() const { return size_; }
  __gm__ T* GetPhyAddr() const { return ptr_; }
  // simulator access: [i, i + n) must lie inside the buffer
  void check(uint64_t i, uint64_t n) const {
    if (!ptr_) ascend_sim::fail("GlobalTensor used before SetGlobalBuffer");
    if (size_ != UINT64_MAX && i + n > size_)
      ascend_sim::failf("GM access [", i, ", ", i + n, ") outside a GlobalTensor of ", size_, " elements");
  }
  T* raw() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  uint64_t size_ = 0;
};

template <typename T>
class LocalTensor {
 public:
  LocalTensor() = default;
  LocalTensor(TPosition pos, uint32_t byte_offset, uint32_t elems) : pos_(pos), off_(byte_offset), size_(elems) {}
  LocalTensor operator[](uint32_t offset) const {
    if (offset > size_) ascend_sim::failf("LocalTensor offset ", offset, " past its size ", size_);
    return LocalTensor(pos_, off_ + offset * static_cast<uint32_t>(sizeof(T)), size_ - offset);
  }
  template <typename U>
  LocalTensor<U> ReinterpretCast() const {
    return LocalTensor<U>(pos_, off_, static_cast<uint32_t>(uint64_t(size_) * sizeof(T) / sizeof(U)));
  }
  T GetValue(uint32_t i) const {  // PIPE_S
    check_read(i, 1, "GetValue");
    ascend_sim::Instr(ascend_sim::Pipe::kS, "LocalTensor::GetValue")
        .read(mem(), off_ + uint64_t(i) * sizeof(T), sizeof(T))
        .commit();
    return data()[i];
  }
  void SetValue(uint32_t i, const T& v) const {
    check_range(i, 1, "SetValue");
    ascend_sim::Instr(ascend_sim::Pipe::kS, "LocalTensor::SetValue")
        .write(mem(), off_ + uint64_t(i) * sizeof(T), sizeof(T))
        .commit();
    data()[i] = v;
    mark_written(i, 1);
  }
  uint32_t GetSize() const { return size_; }
  uint64_t GetPhyAddr() const { return off_; }
  TPosition GetPosition() const { return pos_; }

  // ---- simulator access ----
  ascend_sim::Mem mem() const { return mem_of(pos_); }
  uint32_t byte_offset() const { return off_; }
  T* data() const {
    auto& m = ascend_sim::ctx().memory(mem());
    return reinterpret_cast<T*>(m.bytes.data() + off_);
  }
  void check_range(uint64_t i, uint64_t n, const char* op) const {
    if (i + n > size_) ascend_sim::failf(op, ": elements [", i, ", ", i + n, ") outside a ", ascend_sim::mem_name(mem()),
                                         " tensor of ", size_, " elements");
  }
  void check_read(uint64_t i, uint64_t n, const char* op) const {
    check_range(i, n, op);
    auto& m = ascend_sim::ctx().memory(mem());
    const uint8_t* w = m.written.data() + off_;
    for (uint64_t k = i * sizeof(T); k < (i + n) * sizeof(T); k += sizeof(T))
      if (!w[k]) ascend_sim::failf(op, ": reads ", ascend_sim::mem_name(mem()), " bytes never written (byte offset ",
                                   off_ + k, ", element ", k / sizeof(T), " of the tensor): poison");
  }
  void mark_written(uint64_t i, uint64_t n) const {
    auto& m = ascend_sim::ctx().memory(mem());
    std::memset(m.written.data() + off_ + i * sizeof(T), 1, n * sizeof(T));
  }
  void mark_poison(uint64_t i, uint64_t n) const {
    auto& m = ascend_sim::ctx().memory(mem());
    std::memset(m.bytes.data() + off_ + i * sizeof(T), ascend_sim::kPoisonByte, n * sizeof(T));
    std::memset(m.written.data() + off_ + i * sizeof(T), 0, n * sizeof(T));
  }

 private:
  TPosition pos_ = TPosition::VECCALC;
  uint32_t off_ = 0, size_ = 0;
};

class TPipe;
TPipe* GetTPipePtr();

namespace sim_detail {
// A region of local memory handed out by TPipe::InitBuffer.
uint32_t reserve(TPosition pos, uint32_t bytes, const char* what);
void poison(TPosition pos, uint32_t off, uint32_t bytes);
}  // namespace sim_detail

// The events a TQue at `pos` sets and waits (GetQueEvt, basic_api/impl/kernel_event.h, for __CCE_AICORE__ 220):
// EnQue sets `enque` (producer -> consumer), DeQue waits it; FreeTensor sets `free` (consumer -> producer), the
// buffer's next AllocTensor waits it. Each holds an event ID of TPipe's pool until its wait.
template <TPosition pos>
struct QueEvents {
  static_assert(pos == TPosition::VECIN || pos == TPosition::VECOUT || pos == TPosition::A1 || pos == TPosition::B1 ||
                    pos == TPosition::A2 || pos == TPosition::B2 || pos == TPosition::CO1,
                "the simulator's TQue takes VECIN, VECOUT, A1, B1, A2, B2 or CO1");
  static constexpr bool l1 = pos == TPosition::A1 || pos == TPosition::B1;
  static constexpr bool l0 = pos == TPosition::A2 || pos == TPosition::B2;
  static constexpr HardEvent enque = pos == TPosition::VECIN ? HardEvent::MTE2_V
                                     : pos == TPosition::VECOUT ? HardEvent::V_MTE3
                                     : l1 ? HardEvent::MTE2_MTE1
                                     : l0 ? HardEvent::MTE1_M : HardEvent::M_FIX;
  static constexpr HardEvent free = pos == TPosition::VECIN ? HardEvent::V_MTE2
                                    : pos == TPosition::VECOUT ? HardEvent::MTE3_V
                                    : l1 ? HardEvent::MTE1_MTE2
                                    : l0 ? HardEvent::M_MTE1 : HardEvent::FIX_M;
};

namespace sim_detail {
inline int take_id(HardEvent e, bool hold, const char* holder) {
  return ascend_sim::take_event_id(static_cast<int>(e), event_info(e), hold, holder);
}
inline void set(HardEvent e, int id) { ascend_sim::set_flag(static_cast<int>(e), event_info(e), id); }
inline void wait(HardEvent e, int id) { ascend_sim::wait_flag(static_cast<int>(e), event_info(e), id); }
inline void release(HardEvent e, int id) { ascend_sim::release_event_id(static_cast<int>(e), id); }
}  // namespace sim_detail

template <TPosition pos, int32_t depth = 1>
class TQue {
  using Ev = QueEvents<pos>;

 public:
  ~TQue() {
    if (!inited_) return;
    int held = 0;
    for (bool b : in_use_) held += b;
    if (held || !queued_.empty()) {
      ascend_sim::ctx().deferred_errors.push_back(
          pasa_text::Cat("ascend_sim: ", ascend_sim::ctx().name(), ": unbalanced TQue at kernel end: ", held,
                         " buffer(s) allocated and not freed, ", queued_.size(), " enqueued and not dequeued"));
    }
    try {  // TPipe::Destroy waits the free events still held
      for (int& id : free_id_)
        if (id >= 0) {
          sim_detail::wait(Ev::free, id);
          sim_detail::release(Ev::free, id);
          id = -1;
        }
    } catch (const std::exception& e) {
      ascend_sim::ctx().deferred_errors.push_back(e.what());
    }
  }
  void init(uint8_t num, uint32_t len) {
    if (inited_) ascend_sim::fail("InitBuffer called twice on one TQue");
    if (num < 1) ascend_sim::fail("InitBuffer: a TQue needs at least one buffer");
    len_ = (len + 31u) / 32u * 32u;
    base_ = sim_detail::reserve(pos, uint32_t(num) * len_, "TQue");
    in_use_.assign(num, false);
    enq_id_.assign(num, -1);
    free_id_.assign(num, -1);
    inited_ = true;
  }
  // Round robin from a cursor, as TQueBind::AllocBuffer (basic_api/impl/kernel_tquebind_impl.h) does.
  template <typename T>
  LocalTensor<T> AllocTensor() {
    need_init("AllocTensor");
    for (size_t k = 0; k < in_use_.size(); ++k) {
      const size_t i = cursor_;
      cursor_ = (cursor_ + 1) % in_use_.size();
      if (!in_use_[i]) {
        in_use_[i] = true;
        if (free_id_[i] >= 0) {
          sim_detail::wait(Ev::free, free_id_[i]);
          sim_detail::release(Ev::free, free_id_[i]);
          free_id_[i] = -1;
        }
        sim_detail::poison(pos, base_ + uint32_t(i) * len_, len_);  // stale data counts as never written
        return LocalTensor<T>(pos, base_ + uint32_t(i) * len_, len_ / sizeof(T));
      }
    }
    ascend_sim::failf("AllocTensor: all ", in_use_.size(), " buffers of the queue are in use (a FreeTensor is missing)");
  }
  template <typename T>
  bool EnQue(const LocalTensor<T>& t) {
    const int slot = slot_of(t.byte_offset(), "EnQue");
    if (!in_use_[slot]) ascend_sim::fail("EnQue of a buffer that was not allocated by AllocTensor");
    if (static_cast<int32_t>(queued_.size()) >= depth)
      ascend_sim::failf("EnQue: the queue already holds ", queued_.size(), " tensor(s), its depth is ", depth,
                        " (a DeQue is missing)");
    queued_.push_back(slot);
    enq_id_[slot] = sim_detail::take_id(Ev::enque, true, "a TQue's EnQue");
    sim_detail::set(Ev::enque, enq_id_[slot]);
    return true;
  }
  template <typename T>
  LocalTensor<T> DeQue() {
    need_init("DeQue");
    if (queued_.empty()) ascend_sim::fail("DeQue on an empty queue (an EnQue is missing)");
    const int slot = queued_.front();
    queued_.pop_front();
    sim_detail::wait(Ev::enque, enq_id_[slot]);
    sim_detail::release(Ev::enque, enq_id_[slot]);
    enq_id_[slot] = -1;
    return LocalTensor<T>(pos, base_ + uint32_t(slot) * len_, len_ / sizeof(T));
  }
  template <typename T>
  void FreeTensor(LocalTensor<T>& t) {
    const int slot = slot_of(t.byte_offset(), "FreeTensor");
    if (!in_use_[slot]) ascend_sim::fail("FreeTensor of a buffer that is not allocated (double free)");
    for (int q : queued_)
      if (q == slot) ascend_sim::fail("FreeTensor of a buffer still enqueued (a DeQue is missing)");
    in_use_[slot] = false;
    free_id_[slot] = sim_detail::take_id(Ev::free, true, "a freed TQue buffer");
    sim_detail::set(Ev::free, free_id_[slot]);
  }

 private:
  void need_init(const char* op) const {
    if (!inited_) ascend_sim::failf(op, " on a TQue that TPipe::InitBuffer never set up");
  }
  int slot_of(uint32_t off, const char* op) const {
    need_init(op);
    if (off < base_ || (off - base_) % len_ != 0 || (off - base_) / len_ >= in_use_.size())
      ascend_sim::failf(op, ": the tensor is not a buffer of this queue");
    return static_cast<int>((off - base_) / len_);
  }
  bool inited_ = false;
  uint32_t base_ = 0, len_ = 0;
  size_t cursor_ = 0;
  std::vector<bool> in_use_;
  std::vector<int> enq_id_, free_id_;  // event IDs held by the buffer's EnQue and FreeTensor
  std::deque<int> queued_;
};

template <TPosition pos = TPosition::VECCALC>
class TBuf {
 public:
  void init(uint32_t len) {
    if (inited_) ascend_sim::fail("InitBuffer called twice on one TBuf");
    len_ = (len + 31u) / 32u * 32u;
    base_ = sim_detail::reserve(pos, len_, "TBuf");
    inited_ = true;
  }
  template <typename T>
  LocalTensor<T> Get() {
    if (!inited_) ascend_sim::fail("TBuf::Get before TPipe::InitBuffer");
    return LocalTensor<T>(pos, base_, len_ / sizeof(T));
  }
  template <typename T>
  LocalTensor<T> Get(uint32_t len) {
    if (!inited_) ascend_sim::fail("TBuf::Get before TPipe::InitBuffer");
    if (len * sizeof(T) > len_) ascend_sim::failf("TBuf::Get(", len, ") larger than the buffer's ", len_, " bytes");
    return LocalTensor<T>(pos, base_, len);
  }

 private:
  bool inited_ = false;
  uint32_t base_ = 0, len_ = 0;
};

class TPipe {
 public:
  TPipe();   // on the AIC: takes and sets M_MTE1 IDs 0-2 for the Matmul macro (kernel_tpipe_impl.h:62-75)
  ~TPipe();  // waits them again (TPipe::Destroy)
  template <class Q>
  bool InitBuffer(Q& que, uint8_t num, uint32_t len) {
    que.init(num, len);
    return true;
  }
  template <TPosition bufPos>
  bool InitBuffer(TBuf<bufPos>& buf, uint32_t len) {
    buf.init(len);
    return true;
  }
  // The lowest ID of evt's pool not held; not taken (kernel_tpipe_impl.h FetchEventID).
  template <HardEvent evt>
  TEventID FetchEventID() {
    return static_cast<TEventID>(sim_detail::take_id(evt, false, nullptr));
  }
  TEventID FetchEventID(HardEvent evt) { return static_cast<TEventID>(sim_detail::take_id(evt, false, nullptr)); }
  template <HardEvent evt>
  TEventID AllocEventID() {
    return static_cast<TEventID>(sim_detail::take_id(evt, true, "TPipe::AllocEventID"));
  }
  template <HardEvent evt>
  void ReleaseEventID(TEventID id) {
    sim_detail::release(evt, id);
  }
  void Destroy() {}
};

// ---- synchronisation within a core: recorded by sim_sync.h and checked at every access ----
template <HardEvent evt>
inline void SetFlag(int32_t eventID) {
  sim_detail::set(evt, eventID);
}
template <HardEvent evt>
inline void WaitFlag(int32_t eventID) {
  sim_detail::wait(evt, eventID);
}
template <pipe_t pipe>
inline void PipeBarrier() {
  static_assert(pipe != PIPE_S, "PipeBarrier does not take PIPE_S (PipeBarrier(ISASI).md)");
  if (pipe == PIPE_ALL) ascend_sim::pipe_barrier_all();
  else ascend_sim::pipe_barrier(pipe_of(pipe));
}

template <uint8_t modeId, pipe_t pipe>
inline void CrossCoreSetFlag(uint16_t flagId) {
  static_assert(modeId == 2, "the simulator implements CrossCoreSetFlag mode 2 (AIC <-> AIV within a group)");
  ascend_sim::ctx().flags->set(ascend_sim::ctx(), flagId, pipe_of(pipe));
}
template <uint8_t modeId = 0, pipe_t pipe = PIPE_S>
inline void CrossCoreWaitFlag(uint16_t flagId) {
  ascend_sim::ctx().flags->wait(ascend_sim::ctx(), flagId);
}

}  // namespace AscendC
