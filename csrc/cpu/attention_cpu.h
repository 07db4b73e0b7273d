#pragma once

#include <torch/types.h>

#include "../attention_args.h"

namespace pasa::cpu {

// The native CPU kernel. bias: mask_as_bias(...) or undefined. Returns (B, N, S1, D) in q's dtype.
at::Tensor native_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                            const AttentionArgs& args);

}  // namespace pasa::cpu
