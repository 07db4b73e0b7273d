// backend="ascend-sim" of pasa::attention on CPU tensors: the AscendC kernel on the simulator.
#pragma once

#include <torch/types.h>

#include <string>
#include <tuple>

#include "../ascend_mask.h"
#include "../attention_args.h"

namespace pasa::ascend_sim_backend {

// How the simulated launch runs: soc "Ascend910B1".."Ascend910B4"; core_num > 0 overrides its AI core count;
// max_q_rows caps the query block; sim_ub_bytes > 0 gives the simulated cores a UB of that size whatever the tiling
// planned for (tests: the kernel's own buffers must then overflow).
struct SimOptions {
  std::string soc = "Ascend910B2";
  int64_t core_num = 0, max_q_rows = 128, sim_ub_bytes = 0;
};

// The kernel on the simulator. Dense: q (B, N, S1, D), k and v (B, Nkv, S2, D), mask: kernel_mask(...) (the mask as
// passed; type NONE without one). Packed (args.cu_q and cu_k, from check_varlen_args): q (Tq, N, D), k and v
// (Tk, Nkv, D), no mask. sinks: (N,) floating or undefined. Returns (out in q's dtype, written by the kernel:
// (B, N, S1, D) or (Tq, N, D); lse fp32 (B, N, S1) or (N, Tq) when return_lse, else undefined).
std::tuple<at::Tensor, at::Tensor> run(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const KernelMask& mask, const AttentionArgs& args, const at::Tensor& sinks,
                                       bool return_lse, const SimOptions& options = {});

// A dense call's output alone.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const KernelMask& mask,
                     const AttentionArgs& args, const SimOptions& options = {});

}  // namespace pasa::ascend_sim_backend
