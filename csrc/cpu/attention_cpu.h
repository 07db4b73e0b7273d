#pragma once

#include <torch/types.h>

#include <tuple>
#include <vector>

#include "../attention_args.h"

namespace pasa::cpu {

// The native CPU kernel for BNSD inputs. bias: mask_as_bias(...) or undefined; sinks: (N,) or undefined.
// Returns (out (B, N, S1, D) in q's dtype, lse (B, N, S1) fp32 where args.return_lse, else no_lse).
std::tuple<at::Tensor, at::Tensor> native_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const at::Tensor& bias, const at::Tensor& sinks,
                                                    const AttentionArgs& args);

// The same kernel for packed TND inputs (args.cu_q, args.cu_k hold the sequence starts). Returns (out (Tq, N, D),
// lse (N, Tq) fp32 or no_lse).
std::tuple<at::Tensor, at::Tensor> native_attention_varlen(const at::Tensor& q, const at::Tensor& k,
                                                           const at::Tensor& v, const at::Tensor& sinks,
                                                           const AttentionArgs& args);

// KV-cache decoding: a sequence with at most kDecodeRows query rows splits its key axis every kSplitKeys keys
// (rounded down to whole KV blocks), the parts running in parallel and merging in fp32. Returns the cut positions
// for one sequence (empty: unsplit; always for the paper variant, defined unsplit), as model_attention's kv_splits.
constexpr int64_t kDecodeRows = 16;
constexpr int64_t kSplitKeys = 2048;
std::vector<int64_t> decode_kv_splits(int64_t s1, int64_t s2, int64_t block_n, Variant variant);

}  // namespace pasa::cpu
