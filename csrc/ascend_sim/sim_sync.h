// Intra-core synchronisation on the simulator. On the hardware an AI core's pipes (PIPE_S, V, M, MTE1, MTE2,
// MTE3, FIX) run asynchronously to each other, and within one pipe the next instruction may start before the previous
// one has finished (asc-devkit 同步控制/核内同步/核内同步能力概述.md, PipeBarrier(ISASI).md). The simulator runs a core's
// program in order, so it checks the ordering the program asks for instead of relying on it:
// - every instruction is issued on one pipe and numbered there;
// - each pipe has a vector clock: the instructions of every pipe of the core group (AIC, AIV 0, AIV 1) it is
//   guaranteed to see completed. Only SetFlag/WaitFlag (directly, or inside TQue's EnQue/DeQue and
//   AllocTensor/FreeTensor), PipeBarrier and CrossCoreSetFlag/WaitFlag raise it;
// - every 32-byte block of local memory and of GM remembers the instruction that last wrote it and the last one
//   of each pipe that read it (GM: every write with the bytes it wrote, as DataCopyPad writes exactly its bytes).
//   An access that depends on an earlier one (read after write, write after write, write after read) its pipe's
//   clock does not cover fails with both instructions, their pipes and the rule.
// The per-HardEvent event-ID budget (8 IDs, QUE_MAX_EVENT in basic_api/impl/kernel_macros.h:102) is kept here too.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ascend_sim {

enum class Mem : int;
struct CoreContext;

enum class Pipe : uint8_t { kS = 0, kV, kM, kMTE1, kMTE2, kMTE3, kFIX, kCount };
constexpr int kPipes = static_cast<int>(Pipe::kCount), kGroupCores = 3, kClockSize = kPipes * kGroupCores;
constexpr int kEventIds = 8;     // QUE_MAX_EVENT on Atlas A2 (basic_api/impl/kernel_macros.h:102)
constexpr int kHardEvents = 35;  // AscendC::HardEvent values before MAX (basic_api/impl/kernel_event.h:58)
constexpr uint32_t kBlock = 32;  // hazard granularity: one 32-byte block

const char* pipe_name(Pipe p);

// For each (core of the group, pipe): the highest instruction number known to have completed.
struct Clock {
  uint32_t t[kClockSize] = {};
  void join(const Clock& o) {
    for (int i = 0; i < kClockSize; ++i) t[i] = t[i] > o.t[i] ? t[i] : o.t[i];
  }
};
inline int clock_index(int core, Pipe p) { return core * kPipes + static_cast<int>(p); }

// The last accesses of one 32-byte block: the instruction that last wrote it and, per reading core and pipe, the
// last one that read it (Readers: 1 for a core's local memory, the group's three cores for GM).
template <int Readers>
struct BlockRecord {
  uint32_t write_seq = 0;  // 0: not written by an instruction of this launch
  uint8_t write_core = 0;
  Pipe write_pipe = Pipe::kS;
  bool small_mmad = false;  // written by a Mmad with (m/16)·(n/16) < 10 (the PIPE_M rule)
  const char* write_op = nullptr;
  uint32_t read_seq[Readers][kPipes] = {};
  const char* read_op[Readers][kPipes] = {};
};
using LocalBlock = BlockRecord<1>;

// A GM block keeps the writes that still own some of its bytes: DataCopyPad UB->GM writes exactly blockLen bytes
// (asc-devkit DataCopyPad（UBToGM非对齐数据搬运）.md: the padding to 32 bytes is dropped on the way to GM), so writes to
// disjoint bytes of one block do not depend on each other (two AIVs writing neighbouring rows of an fp32 output).
// Reads are kept per block (a write after a read of any byte of the block depends on it).
struct GmWriter {
  uint32_t seq;
  uint8_t core;
  Pipe pipe;
  const char* op;
  uint32_t mask;  // bit i: byte i of the block
};
struct GmBlock {
  std::vector<GmWriter> writers;
  uint32_t read_seq[kGroupCores][kPipes] = {};
  const char* read_op[kGroupCores][kPipes] = {};
};

// GM blocks touched by a core group's instructions (shared by its three cores).
struct GmRecords {
  std::mutex mu;
  std::unordered_map<uint64_t, GmBlock> blocks;  // key: address / 32
};

struct HardEventInfo {
  const char* name;  // "V_MTE2"
  Pipe src, dst;
};

// A core's side of the synchronisation model.
struct SyncState {
  int core = 0;  // in its group: 0 the AIC, 1 + sub-block for an AIV
  uint32_t seq[kPipes] = {};
  Clock known[kPipes];
  std::vector<LocalBlock> local[6];  // per local memory (indexed by Mem), one record per 32-byte block
  // SetFlag/WaitFlag: a set flag carries its source pipe's clock until the WaitFlag
  bool flag_set[kHardEvents][kEventIds] = {};
  Clock flag_clock[kHardEvents][kEventIds];
  const HardEventInfo* flag_info[kHardEvents] = {};
  // event-ID pool of TPipe (AllocEventID/ReleaseEventID/FetchEventID): held IDs and the most held at once
  uint8_t held[kHardEvents] = {};
  const char* holder[kHardEvents][kEventIds] = {};
  int peak[kHardEvents] = {};  // the most IDs held at once (a FetchEventID counts the one it returns)
  const HardEventInfo* event_info[kHardEvents] = {};
};

// One instruction: its accesses are checked against earlier instructions as they are declared, then recorded by
// commit() (so an instruction that reads and writes the same block conflicts only with earlier ones).
class Instr {
 public:
  Instr(Pipe pipe, const char* op);
  Instr& read(Mem m, uint64_t byte_off, uint64_t bytes);
  Instr& write(Mem m, uint64_t byte_off, uint64_t bytes, bool small_mmad = false);
  Instr& read_gm(const void* addr, uint64_t bytes);
  Instr& write_gm(const void* addr, uint64_t bytes);
  void commit();

 private:
  struct Range {
    Mem m;
    uint64_t lo, hi;
    bool write, small_mmad;
  };
  void check_local(const Range& r);
  void add(const Range& r);
  CoreContext& core_;
  Pipe pipe_;
  const char* op_;
  uint32_t seq_;
  std::vector<Range> ranges_;
};

// SetFlag/WaitFlag of HardEvent `event` (index into the AscendC enum) with its source and destination pipes.
void set_flag(int event, const HardEventInfo& info, int id);
void wait_flag(int event, const HardEventInfo& info, int id);
void pipe_barrier(Pipe p);  // PipeBarrier<p>
void pipe_barrier_all();    // PipeBarrier<PIPE_ALL>
// TPipe's event-ID pool: the lowest free ID (held = true: taken until release_event_id) or a budget failure.
int take_event_id(int event, const HardEventInfo& info, bool hold, const char* holder);
void release_event_id(int event, int id);
// The source pipe's clock with its own instructions so far (what a SetFlag or CrossCoreSetFlag publishes).
Clock publish(Pipe src);
// CrossCoreWaitFlag blocks every pipe of the waiting core on Atlas A2 (dav_c220/kernel_operator_sync_impl.h:170-175).
void learn_all_pipes(const Clock& c);
// End of kernel: flags set and never waited (appended to `errors`).
void check_flags_at_end(const CoreContext& core, std::vector<std::string>& errors);

}  // namespace ascend_sim
