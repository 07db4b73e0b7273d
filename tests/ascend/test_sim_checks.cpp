// ctest twin of tests/test_ascend_simulator.py (no torch): every violation kernel must be caught, with its
// message; and the PASA kernel must run clean on a small exact-variant problem.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../../op_host/pasa_attention_tiling_plan.h"
#include "pasa_attention_sim.h"
#include "sim_half.h"

template <class T>
struct Aligned {
  size_t size;
  std::vector<T> storage;
  Aligned(size_t n, T fill) : size(n), storage(n + 64 / sizeof(T), fill) {}
  T* data() { return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) / 64 * 64); }
};

int main() {
  int failures = 0;
  const std::pair<const char*, const char*> cases[] = {
      {"ub_overflow", "UB capacity overflow"}, {"l1_overflow", "L1 capacity overflow"},
      {"l0a_overflow", "L0A capacity overflow"}, {"l0b_overflow", "L0B capacity overflow"},
      {"l0c_overflow", "L0C capacity overflow"}, {"vector_op_on_cube", "Vector (AIV) core only"},
      {"flag_overflow", "without a wait"},
      {"misaligned_copy", "32-byte aligned"}, {"short_copy", "multiple of 32 bytes"},
      {"unbalanced_queue", "unbalanced TQue"}, {"dequeue_empty", "empty queue"}, {"double_free", "double free"},
      {"poison_read", "never written"}, {"poison_mmad", "never written"},
      {"gemv_zz_a", "GEMV mode"}, {"pipe_m", "PIPE_M rule"},
      {"mte2_overlap", "overlapping PIPE_MTE2 destinations need PipeBarrier<PIPE_MTE2>"},
      {"mte3_overlap", "overlapping PIPE_MTE3 destinations need PipeBarrier<PIPE_MTE3>"},
      {"v_to_s", "no PIPE_V -> PIPE_S synchronisation"},
      {"s_to_v", "no PIPE_S -> PIPE_V synchronisation"},
      {"v_to_v", "dependent vector instructions need PipeBarrier<PIPE_V>"},
      {"v_to_mte3", "no PIPE_V -> PIPE_MTE3 synchronisation"},
      {"mte2_to_v", "no PIPE_MTE2 -> PIPE_V synchronisation"},
      {"fix_to_mte2", "no PIPE_FIX -> PIPE_MTE2 synchronisation"},
      {"cross_core_wrong_pipe", "on the AIV sub-block 0) wrote before, with no PIPE_MTE3 -> PIPE_MTE2 synchronisation"},
      {"event_budget", "event-ID budget: all 8 IDs of HardEvent V_MTE2 are held"},
      {"double_set_flag", "SetFlag<V_S>(0) twice with no WaitFlag in between"},
      {"wait_without_set", "WaitFlag<S_V>(1) with no SetFlag<S_V>(1) before it"},
      {"flag_never_waited", "SetFlag<MTE2_V>(2) still set at kernel end"},
      {"event_on_wrong_core", "takes no part in the AIV's intra-core synchronisation"},
      {"reduce_sum_order", "ReduceSum over 4 repeats = 0"}, {"deadlock", "deadlock"}};
  for (const auto& c : cases) {
    const std::string msg = ascend_sim::RunViolationKernel(c.first);
    const bool ok = msg.find(c.second) != std::string::npos;
    failures += !ok;
    std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", c.first, msg.c_str());
  }
  // the kernel on a small problem: q = k = v = 1 gives out = 1 everywhere
  pasa_tiling::Problem p;
  p.heads = p.kvHeads = 2; p.s1 = 40; p.s2 = 70; p.headDim = 64; p.scale = 0.125; p.causal = true;
  const auto hw = pasa_tiling::Platform910B("Ascend910B2");
  const auto plan = pasa_tiling::MakePlan(p, hw);
  // GM buffers 64-byte aligned, as CANN's and torch's allocators give them (the simulator tracks GM per 32 bytes)
  Aligned<uint16_t> q(2 * 40 * 64, half(1.0f).bits), kv(2 * 70 * 64, half(1.0f).bits);
  Aligned<uint16_t> out(2 * 40 * 64, half(-1.0f).bits);  // fp16 output
  Aligned<uint8_t> ws(plan.workspaceBytes, 0xff);
  ascend_sim::Capacities caps;
  try {
    ascend_sim::LaunchStats stats;
    ascend_sim::KernelBuffers gm;
    gm.q = q.data();
    gm.k = gm.v = kv.data();
    gm.out = out.data();
    gm.workspace = ws.data();
    ascend_sim::RunPasaAttention(gm, plan.data, plan.blockDim, caps, 1, &stats);
    double worst = 0;
    for (size_t i = 0; i < out.size; ++i) {
      half h;
      h.bits = out.data()[i];
      worst = std::fmax(worst, std::fabs(static_cast<float>(h) - 1.0));
    }
    const bool ok = worst < 1e-3;
    failures += !ok;
    std::printf("%s kernel on 2x40x70x64, causal: max |out - 1| = %g\n", ok ? "ok  " : "FAIL", worst);
    // the event-ID budget with headroom: at most 6 of the 8 IDs of any HardEvent held at once
    const bool room = stats.max_event_peak <= 6;
    failures += !room;
    std::printf("%s event IDs held at most (of 8): %s\n", room ? "ok  " : "FAIL", stats.event_peaks.c_str());
  } catch (const std::exception& e) {
    ++failures;
    std::printf("FAIL kernel raised: %s\n", e.what());
  }
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
