// backend="ascend-sim" of pasa::attention on CPU tensors: the AscendC kernel on the simulator.
#pragma once

#include <torch/types.h>

#include "../ascend_mask.h"
#include "../attention_args.h"

namespace pasa::ascend_sim_backend {

// mask: kernel_mask(...) (the mask as passed; type NONE without one). soc: "Ascend910B1".."Ascend910B4"; coreNum
// > 0 overrides its AI core count; maxQRows caps the query block; simUbBytes > 0 gives the simulated cores a UB of
// that size whatever the tiling planned for (tests: the kernel's own buffers must then overflow). Returns
// (B, N, S1, D) in q's dtype, written by the kernel.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const KernelMask& mask,
                     const AttentionArgs& args, const std::string& soc = "Ascend910B2", int64_t coreNum = 0,
                     int64_t maxQRows = 128, int64_t simUbBytes = 0);

}  // namespace pasa::ascend_sim_backend
