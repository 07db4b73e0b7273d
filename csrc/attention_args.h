// The arguments of pasa::attention, checked once for every backend (CPU, Ascend simulator, NPU, CUDA, Meta).
// Every failure raises a Python ValueError or TypeError that names the argument, the expectation and the value.
#pragma once

#include <optional>
#include <string>

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
  int64_t batch, heads, kv_heads, s1, s2, head_dim;
  int64_t group() const { return heads / kv_heads; }
};

extern const char* const kSchema;

// Checks shapes, dtypes, devices and attribute values (and, where `check_values` and the tensors hold data,
// that bf16 inputs fit fp16's range). Returns the resolved arguments.
AttentionArgs check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::optional<at::Tensor>& mask, std::optional<double> scale,
                                   bool causal, const std::string& causal_align, const std::string& variant,
                                   int64_t block_n, std::optional<double> beta, bool check_values = true);

// The mask as an fp32 additive bias (0 = attend, -inf = hidden) expanded to (B, N, S1, S2), or undefined.
at::Tensor mask_as_bias(const std::optional<at::Tensor>& mask, const AttentionArgs& args);

}  // namespace pasa
