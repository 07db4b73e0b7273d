// The arguments of pasa::attention and pasa::attention_varlen, checked once for every backend (CPU, Ascend
// simulator, NPU, CUDA, Meta). Every failure raises a Python ValueError or TypeError that names the argument, the
// expectation and the value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

namespace pasa {

enum class Variant { kExact, kPasa, kPaper };
enum class CausalAlign { kTopLeft, kBottomRight };

// Values the kernels need, resolved from the op's arguments.
struct AttentionArgs {
  Variant variant;
  bool causal;
  CausalAlign align;
  double scale;       // softmax scale s (default D^-1/2)
  double beta;        // β of the shifting matrix; 1 for the exact variant
  int64_t block_n;    // KV block length n
  int64_t batch, heads, kv_heads, s1, s2, head_dim;  // attention_varlen: s1, s2 are max_seqlen_q, max_seqlen_k
  bool return_lse = false;
  bool has_sinks = false;
  // attention_varlen only: the cumulative sequence starts (batch + 1 entries each), read to the host when the
  // tensors hold data; empty for dense calls and for meta tensors.
  std::vector<int64_t> cu_q, cu_k;
  int64_t group() const { return heads / kv_heads; }
};

extern const char* const kSchema;
extern const char* const kVarlenSchema;

// pasa::attention (BNSD q, k, v): checks shapes, dtypes, devices and attribute values (and, where `check_values`
// and the tensors hold data, that bf16 inputs fit fp16's range). sinks: (N,) floating, on q's device. Returns the
// resolved arguments.
AttentionArgs check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                   bool causal, const std::string& causal_align, const std::string& variant,
                                   int64_t block_n, std::optional<double> beta, bool check_values = true,
                                   bool return_lse = false, const std::optional<at::Tensor>& sinks = std::nullopt);

// pasa::attention_varlen (TND q (Tq, N, D), k and v (Tk, Nkv, D), flash-attn's cu_seqlens): the same checks, plus
// cu_seqlens_q/k 1-D integer tensors of B + 1 entries on q's device starting at 0, non-decreasing, ending at the
// token count, and max_seqlen_q/k at least the longest sequence (values checked where the tensors hold data).
AttentionArgs check_varlen_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& cu_seqlens_q, const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q,
                                int64_t max_seqlen_k, std::optional<double> scale, bool causal,
                                const std::string& causal_align, const std::string& variant, int64_t block_n,
                                std::optional<double> beta, bool return_lse, const std::optional<at::Tensor>& sinks,
                                bool check_values = true);

// The shifting matrix M = s·(I − (β/n)·11ᵀ) of the pasa and paper variants, as python/pasa/beta.py builds it:
// its entries d (diagonal) and −e built in fp32 and stored in fp16; the pasa variant's fp32 recovery coefficient
// c = e·n / (d + e − e·n) from those entries; the paper variant's fp16(β/(1 − β)).
void shift_entries(double scale, double beta, int64_t n, float* d, float* e);
float exact_coefficient(double scale, double beta, int64_t n);
float paper_coefficient(double beta);

// The mask as an fp32 additive bias (0 = attend, -inf = hidden) expanded to (B, N, S1, S2), or undefined.
at::Tensor mask_as_bias(const std::optional<at::Tensor>& mask, const AttentionArgs& args);

// The lse output when it is not requested: an empty fp32 tensor, so kernels skip it.
at::Tensor no_lse(const at::Tensor& q);

}  // namespace pasa
