// The PASA kernel compiled against the simulator: the kernel source is included as is.
#define ASCEND_SIM 1
#include "kernel_operator.h"
#include "../../op_kernel/pasa_attention.cpp"

#include "pasa_attention_sim.h"

namespace ascend_sim {

void RunPasaAttention(const KernelBuffers& b, const PasaAttentionTilingData& tiling, uint32_t blockDim,
                      const Capacities& caps, int parallelGroups, LaunchStats* stats) {
  PasaAttentionTilingData copy = tiling;  // the kernel reads its tiling from "GM"
  auto gm = [](const void* p) { return reinterpret_cast<GM_ADDR>(const_cast<void*>(p)); };
  launch_mix_1_2(
      blockDim, caps,
      [&] {
        pasa_attention(gm(b.q), gm(b.k), gm(b.v), gm(b.mask), gm(b.liveKeys), gm(b.headScales), gm(b.sinks),
                       gm(b.cuSeqlensQ), gm(b.cuSeqlensK), gm(b.out), gm(b.lse), b.workspace, gm(&copy));
      },
      parallelGroups, stats);
}

}  // namespace ascend_sim
