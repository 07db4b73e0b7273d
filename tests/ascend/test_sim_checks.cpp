// ctest twin of tests/test_ascend_simulator.py (no torch): every violation kernel must be caught, with its
// message; and the PASA kernel must run clean on a small exact-variant problem.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../../op_host/pasa_attention_tiling_plan.h"
#include "pasa_attention_sim.h"
#include "sim_half.h"

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
      {"gemv_zz_a", "GEMV mode"}, {"pipe_m", "PIPE_M rule"}, {"deadlock", "deadlock"}};
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
  std::vector<uint16_t> q(2 * 40 * 64, half(1.0f).bits), kv(2 * 70 * 64, half(1.0f).bits);
  std::vector<float> out(2 * 40 * 64, -1.f);
  std::vector<uint8_t> ws(plan.workspaceBytes, 0xff);
  ascend_sim::Capacities caps;
  try {
    ascend_sim::RunPasaAttention(q.data(), kv.data(), kv.data(), nullptr, out.data(), ws.data(), plan.data,
                                 plan.blockDim, caps, 1);
    double worst = 0;
    for (float x : out) worst = std::fmax(worst, std::fabs(x - 1.0));
    const bool ok = worst < 1e-3;
    failures += !ok;
    std::printf("%s kernel on 2x40x70x64, causal: max |out - 1| = %g\n", ok ? "ok  " : "FAIL", worst);
  } catch (const std::exception& e) {
    ++failures;
    std::printf("FAIL kernel raised: %s\n", e.what());
  }
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
