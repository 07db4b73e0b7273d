// Unit tests of the host tiling (op_host/pasa_attention_tiling_plan.cpp) with faked 910B platform figures.
// Built and run by tests/test_ascend_tiling.py (g++ only: no CANN, no torch). Prints one line per check.
#include <cstdio>
#include <functional>
#include <string>

#include "../../op_host/pasa_attention_tiling_plan.h"

using namespace pasa_tiling;

static int failures = 0, checks = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++checks;                                                                  \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
    }                                                                          \
  } while (0)

static Problem Base(uint32_t s1, uint32_t s2, uint32_t d) {
  Problem p;
  p.batch = 1; p.heads = 28; p.kvHeads = 4; p.s1 = s1; p.s2 = s2; p.headDim = d;
  p.scale = 1.0 / __builtin_sqrt(double(d));
  return p;
}

static void ExpectReject(const std::string& name, const std::function<void()>& f, const std::string& needle) {
  ++checks;
  try {
    f();
    ++failures;
    std::printf("FAIL %s: accepted, expected a rejection mentioning '%s'\n", name.c_str(), needle.c_str());
  } catch (const TilingError& e) {
    const std::string msg = e.what();
    if (msg.find(needle) == std::string::npos) {
      ++failures;
      std::printf("FAIL %s: message '%s' lacks '%s'\n", name.c_str(), msg.c_str(), needle.c_str());
    } else {
      std::printf("ok   %s: %s\n", name.c_str(), msg.c_str());
    }
  }
}

static void CheckFits(const Plan& plan, const Platform& hw) {
  CHECK(plan.ubBytes <= hw.ub);
  CHECK(plan.l1Bytes <= hw.l1);
  CHECK(plan.l0aBytes <= hw.l0a);
  CHECK(plan.l0bBytes <= hw.l0b);
  CHECK(plan.l0cBytes <= hw.l0c);
  const auto& t = plan.data;
  CHECK(t.qRows >= 16 && 128 % t.qRows == 0);  // a divisor of 128: 64-row query groups never straddle tasks
  CHECK(t.cubeK % 16 == 0 && t.cubeN % 16 == 0);
  CHECK(t.usedCores >= 1 && t.usedCores <= hw.aicNum);
  CHECK(uint64_t(t.tasksPerCore) * t.usedCores + t.tasksExtra == t.totalTasks);
  CHECK(t.tasksExtra < t.usedCores);
  CHECK(plan.blockDim == t.usedCores);
  CHECK(plan.workspaceBytes == uint64_t(t.wsPerCore) * t.usedCores);
  CHECK(t.wsSOff % 512 == 0 && t.wsPOff % 512 == 0 && t.wsOOff % 512 == 0 && t.wsCOff % 512 == 0);
  CHECK(t.keyCacheBlocks == 0 || t.keyCacheBlocks == (t.s2 + t.blockN - 1) / t.blockN);
}

int main() {
  // platforms
  for (const char* soc : {"Ascend910B1", "Ascend910B2", "Ascend910B3", "Ascend910B4"}) {
    const Platform hw = Platform910B(soc);
    CHECK(hw.ub == 192 * 1024 && hw.l1 == 512 * 1024 && hw.l0a == 64 * 1024 && hw.l0c == 128 * 1024);
    CHECK(hw.aivNum == 2 * hw.aicNum);
  }
  CHECK(Platform910B("Ascend910B1").aicNum == 24 && Platform910B("Ascend910B4").aicNum == 20);
  ExpectReject("unknown soc", [] { Platform910B("Ascend310P3"); }, "unknown SoC 'Ascend310P3'");

  // every head dim and block length the kernel supports fits every memory, for every variant and mask type (a
  // mask row per query row, the most UB a mask takes)
  const Platform hw = Platform910B("Ascend910B2");
  for (uint32_t d : {16u, 64u, 80u, 128u, 192u, 256u})
    for (uint32_t n : {16u, 64u, 128u, 256u, 512u, 1024u})
      for (PasaVariant var : {PASA_VARIANT_EXACT, PASA_VARIANT_PASA, PASA_VARIANT_PAPER})
        for (PasaMaskType mask : {PASA_MASK_NONE, PASA_MASK_BOOL, PASA_MASK_FP16, PASA_MASK_BF16, PASA_MASK_FP32}) {
          Problem p = Base(1407, 1407, d);
          p.blockN = n;
          p.variant = var;
          p.beta = var == PASA_VARIANT_EXACT ? 1.0 : 0.984497;
          p.maskType = mask;
          p.maskRows = 1407;
          const Plan plan = MakePlan(p, hw);
          CheckFits(plan, hw);
        }

  // the mask's strides as passed: a (B, 1, 1, S2) padding mask broadcasts over heads and rows (strides 0)
  {
    Problem p = Base(100, 300, 64);
    p.batch = 2;
    p.maskType = PASA_MASK_BOOL;
    p.maskBatch = 2;
    const Plan plan = MakePlan(p, hw);
    CHECK(plan.data.maskRowStride == 0 && plan.data.maskHeadStride == 0 && plan.data.maskBatchStride == 300);
    CHECK(plan.buffers.maskIn == 128);  // one row of a block of 128 keys, one byte each
    p.maskBatch = 1; p.maskHeads = 28; p.maskRows = 100; p.maskType = PASA_MASK_FP16;  // (1, N, S1, S2)
    const Plan perHead = MakePlan(p, hw);
    CHECK(perHead.data.maskRowStride == 300 && perHead.data.maskHeadStride == 30000 &&
          perHead.data.maskBatchStride == 0);
    CHECK(perHead.data.maskType == PASA_MASK_FP16 && perHead.data.outType == PASA_OUT_FP16);
    ExpectReject("mask rows", [&] { Problem q = p; q.maskRows = 7; MakePlan(q, hw); },
                 "the mask must have shape (B or 1, N or 1, S1 or 1, S2) = (2 or 1, 28 or 1, 100 or 1, 300), got "
                 "(1, 28, 7, 300)");
  }

  // the paper's prototype shape: 28 heads x 11 query blocks of 128 rows over 24 cores
  {
    const Plan plan = MakePlan(Base(1407, 1407, 128), hw);
    std::printf("ok   prototype shape: %s\n", plan.Describe().c_str());
    CHECK(plan.data.qRows == 128);
    CHECK(plan.data.qBlocks == 11 && plan.data.totalTasks == 308 && plan.data.usedCores == 24);
    CHECK(plan.data.tasksPerCore == 12 && plan.data.tasksExtra == 20);
    CHECK(plan.data.scalePow2 == 0.0625f);  // 128^-1/2 = 2^-4 · 1.414...
    CHECK(plan.data.keyCacheBlocks == 11);   // K' of all 11 blocks stays in the workspace (352 KiB)
  }
  // a KV sequence whose K' would exceed the cache budget falls back to one recomputed block
  {
    const Plan plan = MakePlan(Base(128, 65536, 256), hw);
    CheckFits(plan, hw);
    CHECK(plan.data.keyCacheBlocks == 0);
  }
  // fewer tasks than cores: one core per task
  {
    Problem p = Base(77, 133, 64);
    p.heads = 4; p.kvHeads = 4;
    const Plan plan = MakePlan(p, hw);
    CHECK(plan.data.qRows == 128 && plan.data.totalTasks == 4 && plan.data.usedCores == 4);
  }
  // maxQRows caps the query block
  {
    const Plan plan = MakePlan(Base(300, 300, 64), hw, 32);
    CHECK(plan.data.qRows == 32 && plan.data.qBlocks == 10);
  }
  // a smaller UB makes the tiling shrink the query block, an even smaller one rejects
  {
    Platform small = hw;
    small.ub = 96 * 1024;
    Problem p = Base(1024, 1024, 256);
    p.blockN = 512;
    const Plan plan = MakePlan(p, small);
    CheckFits(plan, small);
    CHECK(plan.data.qRows < 128);
    small.ub = 8 * 1024;
    ExpectReject("UB too small", [&] { MakePlan(p, small); }, "no block sizes fit");
  }

  // shapes and attributes the kernel must reject, with a message naming the problem
  ExpectReject("D not a multiple of 16", [&] { MakePlan(Base(64, 64, 72), hw); }, "head dim D must be a multiple of 16");
  ExpectReject("D too large", [&] { MakePlan(Base(64, 64, 512), hw); }, "got 512");
  ExpectReject("empty S1", [&] { MakePlan(Base(0, 64, 64), hw); }, "empty problem");
  ExpectReject("empty S2", [&] { MakePlan(Base(64, 0, 64), hw); }, "empty problem");
  ExpectReject("GQA mismatch", [&] { Problem p = Base(64, 64, 64); p.kvHeads = 5; MakePlan(p, hw); },
               "must be a multiple of kv heads");
  ExpectReject("block_n 100", [&] { Problem p = Base(64, 64, 64); p.blockN = 100; MakePlan(p, hw); },
               "block_n must be a multiple of 16");
  ExpectReject("block_n 2048", [&] { Problem p = Base(64, 64, 64); p.blockN = 2048; MakePlan(p, hw); }, "got 2048");
  ExpectReject("scale 0", [&] { Problem p = Base(64, 64, 64); p.scale = 0; MakePlan(p, hw); }, "scale must be");
  ExpectReject("beta for pasa", [&] { Problem p = Base(64, 64, 64); p.variant = PASA_VARIANT_PASA; p.beta = 1.0;
                                      MakePlan(p, hw); }, "beta must lie in (0, 1)");
  ExpectReject("beta for exact", [&] { Problem p = Base(64, 64, 64); p.beta = 0.9; MakePlan(p, hw); },
               "variant exact takes beta = 1");
  ExpectReject("S2 >= 2^24", [&] { MakePlan(Base(64, 1u << 24, 64), hw); }, "below 2^24");
  ExpectReject("no cores", [&] { Platform none = hw; none.aicNum = 0; MakePlan(Base(64, 64, 64), none); },
               "no AI cores");

  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
