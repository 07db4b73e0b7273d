#include "sim_runtime.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

namespace ascend_sim {

const char* mem_name(Mem m) {
  static const char* names[] = {"GM", "UB", "L1", "L0A", "L0B", "L0C"};
  return names[static_cast<int>(m)];
}

uint64_t Capacities::of(Mem m) const {
  switch (m) {
    case Mem::kUB: return ub;
    case Mem::kL1: return l1;
    case Mem::kL0A: return l0a;
    case Mem::kL0B: return l0b;
    case Mem::kL0C: return l0c;
    default: return 0;
  }
}

namespace {
thread_local CoreContext* t_ctx = nullptr;
}

CoreContext& ctx() {
  if (!t_ctx) throw SimError("ascend_sim: an AscendC call outside a simulated core");
  return *t_ctx;
}
void set_ctx(CoreContext* c) { t_ctx = c; }

std::string CoreContext::name() const {
  if (kind == CoreKind::kAIC) return pasa_text::Cat("AIC ", block_idx);
  return pasa_text::Cat("AIV ", block_idx, " (group ", block_idx / 2, ", sub-block ", sub_block_idx, ")");
}

void fail(const std::string& what) {
  std::string where = t_ctx ? t_ctx->name() + ": " : std::string();
  throw SimError("ascend_sim: " + where + what);
}

void GroupFlags::set(CoreContext& c, uint16_t flag, Pipe pipe) {
  if (flag >= kFlags) failf("CrossCoreSetFlag: flag id ", flag, " out of range [0, ", kFlags, ")");
  const Clock published = publish(pipe);  // the set waits for the pipe's earlier instructions
  std::lock_guard<std::mutex> lock(mu);
  if (c.kind == CoreKind::kAIV) {
    auto& q = to_aic[c.sub_block_idx][flag];
    q.push_back(published);
    if (static_cast<int>(q.size()) > kMaxCount)
      failf("CrossCoreSetFlag: flag ", flag, " set ", q.size(), " times without a wait (max ", kMaxCount, ")");
  } else {
    for (int s = 0; s < 2; ++s) {
      to_aiv[s][flag].push_back(published);
      if (static_cast<int>(to_aiv[s][flag].size()) > kMaxCount) failf("CrossCoreSetFlag: flag ", flag, " overflows on AIV ", s);
    }
  }
  cv.notify_all();
}

void GroupFlags::wait(CoreContext& c, uint16_t flag) {
  if (flag >= kFlags) failf("CrossCoreWaitFlag: flag id ", flag, " out of range [0, ", kFlags, ")");
  std::unique_lock<std::mutex> lock(mu);
  auto ready = [&] {
    if (abort) return true;
    if (c.kind == CoreKind::kAIC) return !to_aic[0][flag].empty() && !to_aic[1][flag].empty();
    return !to_aiv[c.sub_block_idx][flag].empty();
  };
  if (!cv.wait_for(lock, std::chrono::duration<double>(timeout_s), ready))
    failf("CrossCoreWaitFlag(", flag, "): no matching CrossCoreSetFlag within ", timeout_s, " s (deadlock)");
  if (abort) throw SimError("ascend_sim: aborted (another core of the group failed)");
  Clock seen;
  for (auto* q : c.kind == CoreKind::kAIC ? std::vector<std::deque<Clock>*>{&to_aic[0][flag], &to_aic[1][flag]}
                                          : std::vector<std::deque<Clock>*>{&to_aiv[c.sub_block_idx][flag]}) {
    seen.join(q->front());
    q->pop_front();
  }
  lock.unlock();
  learn_all_pipes(seen);  // Atlas A2: CrossCoreWaitFlag blocks every pipe (dav_c220/kernel_operator_sync_impl.h)
}

void GroupFlags::abort_all() {
  std::lock_guard<std::mutex> lock(mu);
  abort = true;
  cv.notify_all();
}

void launch_mix_1_2(uint32_t block_dim, const Capacities& caps, const std::function<void()>& program,
                    int parallel_groups, LaunchStats* stats) {
  std::mutex err_mu;
  std::vector<std::string> errors;
  int peak[2][kHardEvents] = {};  // AIC, AIV
  const HardEventInfo* info[kHardEvents] = {};
  auto run_group = [&](uint32_t g) {
    GroupFlags flags;
    CoreContext cores[3];
    for (int i = 0; i < 3; ++i) {
      CoreContext& c = cores[i];
      c.kind = i == 0 ? CoreKind::kAIC : CoreKind::kAIV;
      c.sync.core = i;
      c.sub_block_idx = i == 0 ? 0 : i - 1;
      c.block_idx = i == 0 ? g : 2 * g + (i - 1);
      c.block_num = block_dim;
      c.caps = caps;
      c.flags = &flags;
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&, i] {
        set_ctx(&cores[i]);
        try {
          program();
          check_flags_at_end(cores[i], cores[i].deferred_errors);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(err_mu);
          errors.push_back(e.what());
          flags.abort_all();
        }
        set_ctx(nullptr);
      });
    }
    for (auto& t : threads) t.join();
    {
      std::lock_guard<std::mutex> lock(err_mu);
      for (auto& c : cores)
        for (int e = 0; e < kHardEvents; ++e) {
          int& p = peak[c.kind == CoreKind::kAIC ? 0 : 1][e];
          if (c.sync.peak[e] > p) p = c.sync.peak[e];
          if (c.sync.event_info[e]) info[e] = c.sync.event_info[e];
        }
    }
    for (auto& c : cores) {
      // flags still set at the end: a set without a wait on the other side
      for (const auto& e : c.deferred_errors) {
        std::lock_guard<std::mutex> lock(err_mu);
        errors.push_back(e);
      }
    }
    if (!flags.abort) {
      for (int s = 0; s < 2; ++s)
        for (int f = 0; f < GroupFlags::kFlags; ++f)
          if (!flags.to_aic[s][f].empty() || !flags.to_aiv[s][f].empty()) {
            std::lock_guard<std::mutex> lock(err_mu);
            errors.push_back(pasa_text::Cat("ascend_sim: group ", g, ": cross-core flag ", f,
                                            " left set at kernel end (a CrossCoreSetFlag nobody waited for)"));
          }
    }
  };
  for (uint32_t g0 = 0; g0 < block_dim; g0 += parallel_groups) {
    std::vector<std::thread> groups;
    for (uint32_t g = g0; g < block_dim && g < g0 + static_cast<uint32_t>(parallel_groups); ++g)
      groups.emplace_back(run_group, g);
    for (auto& t : groups) t.join();
    if (!errors.empty()) break;
  }
  if (stats) {
    stats->event_peaks.clear();
    stats->max_event_peak = 0;
    for (int k = 0; k < 2; ++k)
      for (int e = 0; e < kHardEvents; ++e)
        if (peak[k][e]) {
          stats->event_peaks += pasa_text::Cat(stats->event_peaks.empty() ? "" : " ", info[e]->name, "=", peak[k][e],
                                               k == 0 ? " (AIC)" : " (AIV)");
          stats->max_event_peak = std::max(stats->max_event_peak, peak[k][e]);
        }
  }
  if (!errors.empty()) {
    // the first error is the cause; "aborted" messages from the other cores of its group add nothing
    std::string msg = errors.front();
    for (const auto& e : errors)
      if (e.find("aborted (another core") == std::string::npos) { msg = e; break; }
    if (errors.size() > 1) msg += pasa_text::Cat(" (+", errors.size() - 1, " more)");
    throw SimError(msg);
  }
}

}  // namespace ascend_sim

#include "sim_tensor.h"

namespace AscendC {
namespace {
thread_local TPipe* t_pipe = nullptr;
}
TPipe::TPipe() {
  t_pipe = this;
  if (ascend_sim::ctx().kind == ascend_sim::CoreKind::kAIC)
    for (int i = 0; i < 3; ++i)
      sim_detail::set(HardEvent::M_MTE1, sim_detail::take_id(HardEvent::M_MTE1, true, "TPipe (kernel_tpipe_impl.h:62-75)"));
}
TPipe::~TPipe() {
  if (t_pipe == this) t_pipe = nullptr;
  try {
    if (ascend_sim::ctx().kind == ascend_sim::CoreKind::kAIC)
      for (int i = 0; i < 3; ++i) {
        sim_detail::wait(HardEvent::M_MTE1, i);
        sim_detail::release(HardEvent::M_MTE1, i);
      }
  } catch (const std::exception& e) {
    ascend_sim::ctx().deferred_errors.push_back(e.what());
  }
}
TPipe* GetTPipePtr() { return t_pipe; }

namespace sim_detail {
uint32_t reserve(TPosition pos, uint32_t bytes, const char* what) {
  auto& c = ascend_sim::ctx();
  const ascend_sim::Mem m = mem_of(pos);
  if (m == ascend_sim::Mem::kGM) ascend_sim::failf("InitBuffer of a ", what, " at GM");
  const bool cube_mem = m != ascend_sim::Mem::kUB;
  if (cube_mem != (c.kind == ascend_sim::CoreKind::kAIC))
    ascend_sim::failf("InitBuffer: ", ascend_sim::mem_name(m), " does not exist on this core type");
  auto& lm = c.memory(m);
  const uint64_t cap = c.caps.of(m);
  if (lm.bytes.empty()) {
    lm.bytes.assign(cap, ascend_sim::kPoisonByte);
    lm.written.assign(cap, 0);
  }
  if (lm.used + bytes > cap)
    ascend_sim::failf(ascend_sim::mem_name(m), " capacity overflow: InitBuffer of a ", what, " (", bytes,
                      " bytes) brings ", ascend_sim::mem_name(m), " to ", lm.used + bytes, " bytes, capacity ", cap);
  const uint32_t off = static_cast<uint32_t>(lm.used);
  lm.used += bytes;
  c.sync.local[static_cast<int>(m)].resize((lm.used + ascend_sim::kBlock - 1) / ascend_sim::kBlock);
  return off;
}
void poison(TPosition pos, uint32_t off, uint32_t bytes) {
  auto& lm = ascend_sim::ctx().memory(mem_of(pos));
  std::memset(lm.bytes.data() + off, ascend_sim::kPoisonByte, bytes);
  std::memset(lm.written.data() + off, 0, bytes);
}
}  // namespace sim_detail
}  // namespace AscendC
