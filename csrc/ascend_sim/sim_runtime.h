// The simulated AI core: its local memories (UB, L1, L0A, L0B, L0C) with capacities, a written-map per byte for
// poison detection, the identity of the running core (AIC or AIV, block and sub-block index) and the cross-core
// flags of a core group. Every violation raises ascend_sim::SimError naming the core and the broken rule.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../op_host/pasa_text.h"
#include "sim_sync.h"

namespace ascend_sim {

struct SimError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Physical local memories of an AI core group (the Cube core owns L1/L0A/L0B/L0C, each Vector core its UB).
enum class Mem : int { kGM = 0, kUB, kL1, kL0A, kL0B, kL0C, kCount };
const char* mem_name(Mem m);

// Capacities in bytes (the figures of the SoC being simulated).
struct Capacities {
  uint64_t ub = 192 * 1024, l1 = 512 * 1024, l0a = 64 * 1024, l0b = 64 * 1024, l0c = 128 * 1024;
  uint64_t of(Mem m) const;
};

constexpr uint8_t kPoisonByte = 0xff;  // an fp16/fp32 NaN pattern: unwritten data that escapes shows as NaN

struct LocalMemory {
  std::vector<uint8_t> bytes, written;
  uint64_t used = 0;  // bytes handed out by TPipe::InitBuffer
};

struct GroupFlags;

enum class CoreKind { kAIC, kAIV };

struct CoreContext {
  CoreKind kind = CoreKind::kAIV;
  int64_t block_idx = 0, sub_block_idx = 0, block_num = 1;
  Capacities caps;
  LocalMemory mem[static_cast<int>(Mem::kCount)];
  GroupFlags* flags = nullptr;
  std::vector<std::string> deferred_errors;  // found in destructors (unbalanced queues), raised after the kernel
  SyncState sync;                            // pipes, clocks, access records, event flags and IDs (sim_sync.h)
  std::string name() const;
  LocalMemory& memory(Mem m) { return mem[static_cast<int>(m)]; }
};

CoreContext& ctx();              // the core running on this thread
void set_ctx(CoreContext* c);
[[noreturn]] void fail(const std::string& what);

template <class... A>
[[noreturn]] void failf(const A&... parts) {
  fail(pasa_text::Cat(parts...));
}

// Cross-core flags of one group (1 AIC + 2 AIV), mode 2 semantics: an AIV's CrossCoreSetFlag is seen by the AIC,
// whose CrossCoreWaitFlag waits until both AIVs have set the flag; the AIC's set is seen by each AIV separately.
// Each set carries the setting pipe's clock (sim_sync.h); the wait hands it to every pipe of the waiting core.
// The group's GM access records live here too (its cores share its workspace).
struct GroupFlags {
  static constexpr int kFlags = 11, kMaxCount = 15;  // Atlas A2: flag ids 0-10
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Clock> to_aic[2][kFlags], to_aiv[2][kFlags];
  bool abort = false;
  double timeout_s = 120.0;  // a wait this long without a matching set is a deadlock
  GmRecords gm;
  void set(CoreContext& c, uint16_t flag, Pipe pipe);
  void wait(CoreContext& c, uint16_t flag);
  void abort_all();
};

// What a launch used: per HardEvent, the most event IDs one core held at once (of the 8, QUE_MAX_EVENT), over
// all cores, as "NAME=n (AIC|AIV)" items; and the largest of them.
struct LaunchStats {
  std::string event_peaks;
  int max_event_peak = 0;
};

// Runs `program` on `block_dim` core groups, each as one AIC and two AIV threads (KERNEL_TYPE_MIX_AIC_1_2).
// Groups run `parallel_groups` at a time. Raises SimError with every violation found; fills `stats` if given.
void launch_mix_1_2(uint32_t block_dim, const Capacities& caps, const std::function<void()>& program,
                    int parallel_groups = 1, LaunchStats* stats = nullptr);

}  // namespace ascend_sim
