// What the Ascend kernel (op_kernel/) reads besides its attributes, prepared from pasa.attention's arguments; shared
// by the simulator backend (csrc/ascend_sim) and the NPU binding (csrc/npu). ATen operations only, so they run where
// the tensors live (the CPU for the simulator, the NPU for the binding). The contract's steps they carry out are
// python/pasa/model.py's fp16_slices, _exact_call (the per-head scales) and live_keys (docs/numerics.md, "Notation
// and inputs" and "exact").
#pragma once

#include <cmath>
#include <tuple>
#include <vector>

#include <torch/types.h>

#include "ascend_mask.h"
#include "attention_args.h"

namespace pasa {

constexpr int64_t kAscendBf16SliceTop = 8;  // a bf16 slice's largest |x| is scaled into [2^7, 2^8) (BF16_SLICE_TOP)

struct KernelInputs {
  at::Tensor q, k, v;      // fp16, contiguous, the head dim padded with zeros to a multiple of 16
  KernelMask mask;         // the mask as passed (kernel_mask)
  at::Tensor live_keys;    // exact with a mask: [B, Nkv, S2] bool, the keys some row of some head of the group sees
  at::Tensor head_scales;  // exact with bf16 inputs: [B, N, 3] fp32 (s_h, s_rest_h, 2^εv); else undefined
  int64_t head_dim = 0;    // the head dim the kernel sees (a multiple of 16)
};

// Packed sequences (attention_varlen): which sequence each row of a [T, H, D] tensor belongs to.
struct PackedRows {
  at::Tensor seq;     // [T] int64: the sequence of each row
  int64_t count = 0;  // sequences
};

inline PackedRows packed_rows(const std::vector<int64_t>& cu, const at::Device& device) {
  const int64_t batch = static_cast<int64_t>(cu.size()) - 1;
  const auto cut = at::tensor(cu, at::TensorOptions().dtype(at::kLong));
  PackedRows rows;
  rows.seq = at::repeat_interleave(at::arange(batch, cut.options()), cut.narrow(0, 1, batch) - cut.narrow(0, 0, batch))
                 .to(device);
  rows.count = batch;
  return rows;
}

// The output and lse shapes of a dense call ([B, N, S1, D], [B, N, S1]) or a packed one (args.cu_q set: [Tq, N, D],
// [N, Tq]), D the caller's head dim.
inline std::vector<int64_t> ascend_out_shape(const AttentionArgs& a) {
  if (a.cu_q.empty()) return {a.batch, a.heads, a.s1, a.head_dim};
  return {a.cu_q.back(), a.heads, a.head_dim};
}
inline std::vector<int64_t> ascend_lse_shape(const AttentionArgs& a) {
  if (a.cu_q.empty()) return {a.batch, a.heads, a.s1};
  return {a.heads, a.cu_q.back()};
}

// Whether the kernel has work: some query row of some head and some key (the tiling refuses an empty problem).
inline bool ascend_has_work(const AttentionArgs& a) {
  const int64_t rows = a.cu_q.empty() ? a.batch * a.s1 : a.cu_q.back();
  const int64_t keys = a.cu_k.empty() ? a.s2 : a.cu_k.back();
  return rows * a.heads * a.head_dim > 0 && keys > 0;
}

// The result of a call without work (ascend_has_work false): zeros in q's dtype, and with return_lse the lse of rows
// that see no key: the sink of the row's head, or −inf (docs/numerics.md, "Attention sinks"); else lse undefined.
inline std::tuple<at::Tensor, at::Tensor> ascend_empty_result(const at::Tensor& q, const AttentionArgs& a,
                                                              const at::Tensor& sinks, bool return_lse) {
  auto out = at::zeros(ascend_out_shape(a), q.options());
  if (!return_lse) return {out, at::Tensor()};
  const auto shape = ascend_lse_shape(a);
  const auto f32 = q.options().dtype(at::kFloat);
  if (!sinks.defined()) return {out, at::full(shape, -INFINITY, f32)};
  const auto s = sinks.to(at::kFloat);
  return {out, (a.cu_q.empty() ? s.view({1, a.heads, 1}) : s.view({a.heads, 1})).expand(shape).contiguous()};
}

// x in fp16 for the exact variant with the exponent ε [B, H] (fp32) of its power-of-two scale per (batch or
// sequence, head) slice (model.fp16_slices): fp16 input as it is, ε = 0; bf16 input x̃ = fp16(x·2^−ε), ε putting the
// slice's largest finite |x| in [2^7, 2^8) (0 for an all-zero slice). x: [B, H, S, D], or [T, H, D] packed (`rows`).
// Memory: an fp32 copy of x while it runs.
inline std::pair<at::Tensor, at::Tensor> ascend_fp16_slice(const at::Tensor& x, const PackedRows* rows = nullptr) {
  const int64_t batch = rows ? rows->count : x.size(0), heads = x.size(1);
  const auto zero = at::zeros({batch, heads}, x.options().dtype(at::kFloat));
  if (x.scalar_type() != at::kBFloat16 || x.numel() == 0) return {x.to(at::kHalf), zero};
  const auto xf = x.to(at::kFloat);
  const auto finite = at::where(xf.isfinite(), xf.abs(), 0.f);
  at::Tensor amax;
  if (rows) {  // the largest of each sequence's rows, per head
    const auto per_row = finite.amax(-1);  // [T, H]
    amax = zero.scatter_reduce(0, rows->seq.view({-1, 1}).expand_as(per_row), per_row, "amax");
  } else {
    amax = finite.amax({2, 3});
  }
  const auto eps = at::where(amax > 0, std::get<1>(at::frexp(amax)).to(at::kFloat) - kAscendBf16SliceTop, 0.f);
  const auto factor = rows ? at::exp2(-eps).index_select(0, rows->seq).view({-1, heads, 1})
                           : at::exp2(-eps).view({batch, heads, 1, 1});
  return {(xf * factor).to(at::kHalf), eps};
}

// The keys some row of some head of their KV head's group sees (model.live_keys over every block): [B, Nkv, S2]
// bool, from the mask at its own size (bool: True; float: not −inf) and the causal limit (a mask row that broadcasts
// over S1 stands for every row: the last row sees the most). Undefined without a mask: then the kernel takes the
// keys up to the causal limit of the last row. Memory: a bool tensor of the mask's own element count.
inline at::Tensor ascend_live_keys(const KernelMask& m, const AttentionArgs& a) {
  if (!m.tensor.defined()) return at::Tensor();
  at::Tensor visible = m.type == PASA_MASK_BOOL ? m.tensor : m.tensor.ne(-INFINITY);
  if (a.causal) {  // row i sees keys ≤ i + offset
    const int64_t offset = a.align == CausalAlign::kBottomRight ? a.s2 - a.s1 : 0;
    const auto opts = at::TensorOptions().dtype(at::kLong).device(m.tensor.device());
    const auto row = m.rows == 1 ? at::full({1, 1}, a.s1 - 1, opts) : at::arange(a.s1, opts).view({a.s1, 1});
    visible = visible & (at::arange(a.s2, opts).view({1, a.s2}) <= row + offset);
  }
  auto any_row = visible.any(2);  // [B|1, N|1, S2]
  if (any_row.size(1) > 1) any_row = any_row.view({any_row.size(0), a.kv_heads, a.group(), a.s2}).any(2);
  return any_row.expand({a.batch, a.kv_heads, a.s2}).contiguous();
}

// q, k, v (BNSD, or TND with q_rows and kv_rows: packed sequences), the mask (kernel_mask) and, for the exact variant, the live keys and per-head scales as the kernel takes them. The exact
// variant scales bf16 slices into fp16 (ascend_fp16_slice) and hands the kernel s_h = s·2^(εq + εk), s_rest,h =
// s_rest·2^(εq + εk) (s = 2^e·s_rest, e = ⌊log₂ s⌋) and 2^εv per (batch, head), computed in fp32 as the model does;
// pasa and paper round bf16 to fp16 (check_attention_args refused values beyond fp16's range). A head dim that is
// not a multiple of 16 (Cube fractals are 16 wide) is padded with zero columns, which change no score, centre or
// output column; the caller takes the output's first D columns. Copies: fp16 q, k, v where the inputs are not
// already contiguous fp16 with such a head dim.
inline KernelInputs ascend_kernel_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const KernelMask& mask, const AttentionArgs& a,
                                         const PackedRows* q_rows = nullptr, const PackedRows* kv_rows = nullptr) {
  KernelInputs in;
  in.mask = mask;
  if (a.variant == Variant::kExact) {
    at::Tensor eq, ek, ev;
    std::tie(in.q, eq) = ascend_fp16_slice(q, q_rows);
    std::tie(in.k, ek) = ascend_fp16_slice(k, kv_rows);
    std::tie(in.v, ev) = ascend_fp16_slice(v, kv_rows);
    if (q.scalar_type() == at::kBFloat16) {
      const double pow2 = std::ldexp(1.0, static_cast<int>(std::floor(std::log2(a.scale))));
      const auto factor = at::exp2(eq + ek.repeat_interleave(a.group(), 1));
      in.head_scales = at::stack({factor * static_cast<float>(a.scale), factor * static_cast<float>(a.scale / pow2),
                                  at::exp2(ev.repeat_interleave(a.group(), 1))}, -1).contiguous();
    }
    in.live_keys = ascend_live_keys(in.mask, a);
  } else {
    in.q = q.to(at::kHalf);
    in.k = k.to(at::kHalf);
    in.v = v.to(at::kHalf);
  }
  in.head_dim = (a.head_dim + 15) / 16 * 16;
  if (in.head_dim != a.head_dim) {
    const std::vector<int64_t> pad{0, in.head_dim - a.head_dim};
    in.q = at::constant_pad_nd(in.q, pad);
    in.k = at::constant_pad_nd(in.k, pad);
    in.v = at::constant_pad_nd(in.v, pad);
  }
  in.q = in.q.contiguous();
  in.k = in.k.contiguous();
  in.v = in.v.contiguous();
  return in;
}

}  // namespace pasa
