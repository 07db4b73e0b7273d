// The PASA kernel compiled against the simulator: the kernel source is included as is.
#define ASCEND_SIM 1
#include "kernel_operator.h"
#include "../../op_kernel/pasa_attention.cpp"

#include "pasa_attention_sim.h"

namespace ascend_sim {

void RunPasaAttention(const uint16_t* q, const uint16_t* k, const uint16_t* v, const void* mask,
                      const uint8_t* liveKeys, const float* headScales, uint16_t* out, uint8_t* workspace,
                      const PasaAttentionTilingData& tiling, uint32_t blockDim, const Capacities& caps,
                      int parallelGroups, LaunchStats* stats) {
  PasaAttentionTilingData copy = tiling;  // the kernel reads its tiling from "GM"
  auto gm = [](const void* p) { return reinterpret_cast<GM_ADDR>(const_cast<void*>(p)); };
  launch_mix_1_2(
      blockDim, caps,
      [&] {
        pasa_attention(gm(q), gm(k), gm(v), gm(mask), gm(liveKeys), gm(headScales), gm(out), workspace, gm(&copy));
      },
      parallelGroups, stats);
}

}  // namespace ascend_sim
