// The CPU operator: every PASA variant of docs/numerics.md, step for step as python/pasa/model.py, fp16 tiles
// held as fp32 values rounded with F16C, Cube-like products through fp32 GEMMs. Parallel over
// (batch, head, query block); each task walks the KV blocks with the online softmax of its variant.
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attention_cpu.h"
#include "vec_math.h"

namespace pasa::cpu {
namespace {

constexpr int64_t kQueryBlock = 128;
constexpr int64_t kQueryGroup = 64;  // exact: rows [64g, 64g + 64) share a query centre (contract.QUERY_GROUP)
constexpr int64_t kBf16SliceTop = 8;  // exact, bf16: a slice's largest |x| is scaled into [2^7, 2^8) (BF16_SLICE_TOP)
constexpr int64_t kScoreChunk = 512;  // S' columns per GEMM: large enough for GEMM speed, small for the cache
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPaperMaxInit = -60000.f;  // the prototype's fp16 running-max start

float fp32(double x) { return static_cast<float>(x); }

// Entries of M = s·(I − (β/n)·11ᵀ) built in fp32 and stored in fp16 (python/pasa/beta.py: shift_entries).
void shift_entries(double scale, double beta, int64_t n, float* d, float* e) {
  const float s = fp32(scale), b = fp32(beta);
  *d = round_fp16(s * (1.f - b / static_cast<float>(n)));
  *e = round_fp16(s * (b / static_cast<float>(n)));
}

// c = e·n / (d + e − e·n) in fp32 (beta.py: exact_coefficient); the paper's fp16(β/(1 − β)) (paper_coefficient).
float exact_coefficient(double scale, double beta, int64_t n) {
  float d, e;
  shift_entries(scale, beta, n, &d, &e);
  const float num = e * static_cast<float>(n);
  return num / ((d + e) - num);
}
float paper_coefficient(double beta) {
  const float b = fp32(beta);
  return round_fp16(b / (1.f - b));
}

// s = 2^e · rest: the exact variant folds 2^e into K' (exactly) and applies rest to S' in fp32.
struct ScaleSplit {
  double pow2, rest;
  explicit ScaleSplit(double scale) : pow2(std::ldexp(1.0, static_cast<int>(std::floor(std::log2(scale))))),
                                      rest(static_cast<float>(scale / pow2)) {}
};

// The column mean moved onto the fp16 grid of the column's largest magnitude `top`, so K − c is exact in fp16.
double centre_on_grid(double mean, double top) {
  int exp = 0;
  std::frexp(top, &exp);  // top = m·2^exp, m in [0.5, 1)
  const double ulp = top >= std::ldexp(1.0, -14) ? std::ldexp(1.0, exp - 11) : std::ldexp(1.0, -24);
  return std::nearbyint(mean / ulp) * ulp;
}

// Fills K' (and, for the exact variant, the block centres over the live keys: `live` [B, Nkv, S2] bytes, or null
// when every key is live) for every (batch, kv head, KV block).
void shift_keys(const AttentionArgs& a, const float* k, const uint8_t* live, float* kp, float* centres) {
  const int64_t D = a.head_dim, n = a.block_n, nblk = (a.s2 + n - 1) / n;
  at::parallel_for(0, a.batch * a.kv_heads * nblk, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> m;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / nblk, j = t % nblk, c0 = j * n, nj = std::min(n, a.s2 - c0);
      const float* kj = k + (bh * a.s2 + c0) * D;
      float* out = kp + (bh * a.s2 + c0) * D;
      if (a.variant == Variant::kExact) {
        float* c = centres + t * D;
        const float pow2 = static_cast<float>(ScaleSplit(a.scale).pow2);
        const uint8_t* lj = live ? live + bh * a.s2 + c0 : nullptr;
        int64_t count = 0;
        for (int64_t r = 0; r < nj; ++r) count += !lj || lj[r];
        for (int64_t x = 0; x < D; ++x) {
          double sum = 0, top = 0;  // the sum of ≤ 1024 fp16 values is exact in float64: the centre is order-free
          for (int64_t r = 0; r < nj; ++r) {
            if (lj && !lj[r]) continue;  // a key no row sees stays out of the centre, whatever it holds
            sum += kj[r * D + x];
            top = std::max(top, std::fabs(static_cast<double>(kj[r * D + x])));
          }
          c[x] = count ? static_cast<float>(centre_on_grid(sum / static_cast<double>(count), top)) : 0.f;
        }
        for (int64_t r = 0; r < nj; ++r)
          for (int64_t x = 0; x < D; ++x) out[r * D + x] = round_fp16((kj[r * D + x] - c[x]) * pow2);
      } else {
        float d, e;
        shift_entries(a.scale, a.beta, nj, &d, &e);
        m.assign(nj * nj, -e);
        for (int64_t r = 0; r < nj; ++r) m[r * nj + r] = d;
        auto kt = at::from_blob(const_cast<float*>(kj), {nj, D});
        auto ot = at::from_blob(out, {nj, D});
        at::mm_out(ot, at::from_blob(m.data(), {nj, nj}), kt);
        round_fp16_inplace(out, nj * D);
      }
    }
  });
}

// Per-row running state of one query block.
struct RowState {
  std::vector<float> m, l, f, count, o;
  std::vector<uint8_t> seen;
  RowState(int64_t rows, int64_t D, float m0)
      : m(rows, m0), l(rows, 0.f), f(rows, 0.f), count(rows, 0.f), o(rows * D, 0.f), seen(rows, 0) {}
};

// Per-thread working buffers, sized for the largest task and reused across tasks (no allocation per task).
struct Scratch {
  std::vector<float> sp, p, pv, row_shift, rmax, rowsum, g, c_diff;
  std::vector<uint8_t> suspect;
  Scratch(int64_t rows, int64_t s2, int64_t n, int64_t D)
      : sp(rows * std::max(n, kScoreChunk)), p(rows * n), pv(rows * D), row_shift(rows), rmax(rows), rowsum(rows),
        g(((rows + kQueryGroup - 1) / kQueryGroup) * std::max(n, kScoreChunk)), c_diff(D), suspect(rows) {}
};

// The exact variant's per-call data (model._exact_call): Q' = Q − a, the query centres a (one row per 64-row group),
// the raw fp16 keys for the fallback, and the per-head score scales of bf16 slices (s for fp16 inputs).
struct ExactCall {
  const float *q_prime, *a, *k;
  const float *s_h, *s_rest_h;  // [B, N]
};

struct Task {
  const AttentionArgs& a;
  const float *q, *kp, *v, *centres;
  const ExactCall* ex;  // null unless variant == exact
  const float* bias;  // (B, N, S1, S2) strides in bias_stride, or null
  const int64_t* bias_stride;
  int64_t b, h, r0, rows;

  // Keys of row i that no mask hides, as the causal limit: columns ≤ limit(i) are visible.
  int64_t causal_limit(int64_t i) const {
    if (!a.causal) return a.s2;  // every key
    return i + (a.align == CausalAlign::kBottomRight ? a.s2 - a.s1 : 0);
  }

  void run(float* out_row_major, Scratch& scratch) const;
};

// x[col] + bias[col] for the visible columns (fp16-rounded for the paper variant), −inf for the hidden ones (past
// the causal limit, or a −inf bias: selection, never inf + (−inf)); returns the row max over the visible ones, NaN if
// one of them is NaN.
float mask_row(float* x, int64_t nj, int64_t visible, const float* bias, int64_t bias_step, bool paper) {
  if (bias)
    for (int64_t c = 0; c < visible; ++c) {
      const float bc = bias[c * bias_step];
      x[c] = bc == kNegInf ? kNegInf : x[c] + bc;
    }
  if (paper) round_fp16_inplace(x, visible);
  for (int64_t c = visible; c < nj; ++c) x[c] = kNegInf;
  return max_of(x, visible);
}

// Whether a key the row sees has a non-finite score: the exact variant's fp32 fallback for this row and block.
bool nonfinite_visible(const float* x, int64_t visible, const float* bias, int64_t bias_step) {
  for (int64_t c = 0; c < visible; ++c)
    if (!std::isfinite(x[c]) && !(bias && bias[c * bias_step] == kNegInf)) return true;
  return false;
}

void Task::run(float* out, Scratch& scratch) const {
  const int64_t D = a.head_dim, n = a.block_n, kvh = h / a.group();
  const int64_t nblk = (a.s2 + n - 1) / n;
  const bool paper = a.variant == Variant::kPaper, exact = a.variant == Variant::kExact;
  // Keys any row of this query block can see: the blocks after them are skipped.
  const int64_t last = std::min(a.s2 - 1, causal_limit(r0 + rows - 1));
  if (last < 0) return;  // no row sees a key: the output stays zero
  const int64_t vis_blocks = last / n + 1;
  const int64_t chunk_blocks = std::max<int64_t>(1, kScoreChunk / n), ld = chunk_blocks * n;
  RowState st(rows, D, paper ? kPaperMaxInit : kNegInf);
  std::vector<float>&sp = scratch.sp, &p = scratch.p, &pv = scratch.pv, &row_shift = scratch.row_shift,
                     &rmax = scratch.rmax, &rowsum = scratch.rowsum, &g = scratch.g, &c_diff = scratch.c_diff;
  std::vector<uint8_t>& suspect = scratch.suspect;
  const int64_t q_off = ((b * a.heads + h) * a.s1 + r0) * D;
  const float* qb = q + q_off;
  const int64_t kv_base = (b * a.kv_heads + kvh) * a.s2 * D;
  const float coef_paper = paper ? paper_coefficient(a.beta) : 0.f;
  const float s_h = exact ? ex->s_h[b * a.heads + h] : fp32(a.scale);
  const float s_rest = exact ? ex->s_rest_h[b * a.heads + h] : 1.f;
  const int64_t groups = (rows + kQueryGroup - 1) / kQueryGroup;  // query groups of this task (r0 is a multiple)
  const float* c_ref = exact ? centres + (b * a.kv_heads + kvh) * nblk * D : nullptr;  // block 0's centre

  for (int64_t j = 0; j < vis_blocks; ++j) {
    const int64_t c0 = j * n, nj = std::min(n, a.s2 - c0);
    if (j % chunk_blocks == 0) {  // S' = Q·K'ᵀ (exact: Q'·K'ᵀ) for the next few blocks in one GEMM, rounded to fp16
      const int64_t width = std::min(ld, a.s2 - c0);
      const auto kpt = at::from_blob(const_cast<float*>(kp + kv_base + c0 * D), {width, D}).t();
      auto spt = at::from_blob(sp.data(), {rows, width}, {ld, 1});
      at::mm_out(spt, at::from_blob(const_cast<float*>(exact ? ex->q_prime + q_off : qb), {rows, D}), kpt);
      for (int64_t i = 0; i < rows; ++i) round_fp16_inplace(sp.data() + i * ld, width);
      if (exact) {  // g = a·K'ᵀ in fp32, one row per query group
        auto gt = at::from_blob(g.data(), {groups, width}, {ld, 1});
        at::mm_out(gt, at::from_blob(const_cast<float*>(ex->a + q_off), {groups, D}, {kQueryGroup * D, 1}), kpt);
      }
    }
    float* x0 = sp.data() + (j % chunk_blocks) * n;  // row i of this block's tile: x0 + i * ld

    if (exact) {  // z = s_rest·(S' + g); h = s·q·(c_j − c_ref), fp32
      const float* c = centres + ((b * a.kv_heads + kvh) * nblk + j) * D;
      for (int64_t x = 0; x < D; ++x) c_diff[x] = c[x] - c_ref[x];
      const float* g0 = g.data() + (j % chunk_blocks) * n;
      for (int64_t i = 0; i < rows; ++i) {
        const float top = add_scale_maxabs(x0 + i * ld, g0 + (i / kQueryGroup) * ld, s_rest, nj);
        suspect[i] = !(top < std::numeric_limits<float>::infinity());  // a non-finite score: check the fallback
        row_shift[i] = dot_of(qb + i * D, c_diff.data(), D) * s_h;
      }
    } else {  // recovered shift from the row mean of S' over the whole block, before the mask
      const float coef = paper ? coef_paper : exact_coefficient(a.scale, a.beta, nj);
      for (int64_t i = 0; i < rows; ++i) {
        const float mu = sum_of(x0 + i * ld, nj) / static_cast<float>(nj);
        row_shift[i] = paper ? round_fp16(coef * round_fp16(mu)) : coef * mu;
      }
    }

    // x = z + mask; each row's max over the keys it sees; its fp16 P row.
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t visible = std::clamp<int64_t>(causal_limit(r0 + i) - c0 + 1, 0, nj);
      const float* bi = bias ? bias + b * bias_stride[0] + h * bias_stride[1] + (r0 + i) * bias_stride[2] +
                                   c0 * bias_stride[3]
                             : nullptr;
      float* xi = x0 + i * ld;
      if (exact && suspect[i] && nonfinite_visible(xi, visible, bi, bias_stride[3])) {
        // an fp16 S' entry overflowed: this row's block takes fp32 scores s·q·(k − c_ref) instead
        const float* qi = qb + i * D;
        const float ref = dot_of(qi, c_ref, D) * s_h;
        for (int64_t col = 0; col < nj; ++col) xi[col] = dot_of(qi, ex->k + kv_base + (c0 + col) * D, D) * s_h - ref;
        row_shift[i] = 0.f;
      }
      rmax[i] = mask_row(xi, nj, visible, bi, bias_stride[3], paper);
      const float r = rmax[i] != kNegInf ? rmax[i] : 0.f;
      rowsum[i] = exp_shifted_fp16(x0 + i * ld, r, p.data() + i * nj, nj, paper);
    }
    const int64_t kv_off = kv_base + c0 * D;
    auto pvt = at::from_blob(pv.data(), {rows, D});
    at::mm_out(pvt, at::from_blob(p.data(), {rows, nj}),
               at::from_blob(const_cast<float*>(v + kv_off), {nj, D}));  // P·V, fp32 accumulation
    if (paper) round_fp16_inplace(pv.data(), rows * D);

    for (int64_t i = 0; i < rows; ++i) {
      if (rmax[i] == kNegInf) continue;  // this block hides every key from row i: its state stays
      const float r = rmax[i];
      float alpha, gamma;
      if (exact) {
        const float top = r + row_shift[i];
        const float m_new = std::max(st.m[i], top);
        alpha = std::exp(st.m[i] - m_new);
        gamma = std::exp(top - m_new);
        st.m[i] = m_new;
        st.l[i] = alpha * st.l[i] + gamma * rowsum[i];
      } else if (!paper) {  // pasa: fp32 pseudo-average frame
        const float f_new = st.f[i] + (row_shift[i] - st.f[i]) / (st.count[i] + 1.f);
        const float d_new = row_shift[i] - f_new, d_old = st.f[i] - f_new;
        const float m_old = st.m[i] + d_old, top = r + d_new;
        const float m_new = std::max(m_old, top);
        alpha = std::exp(m_old - m_new);
        gamma = std::exp(top - m_new);
        st.m[i] = m_new;
        st.l[i] = alpha * st.l[i] + gamma * rowsum[i];
        st.f[i] = f_new;
        st.count[i] += 1.f;
      } else {  // paper: every statistic fp16, each operation rounded
        const float f = st.f[i];
        const float f_new = round_fp16(f + round_fp16(round_fp16(row_shift[i] - f) / (st.count[i] + 1.f)));
        const float d_new = round_fp16(row_shift[i] - f_new), d_old = round_fp16(f - f_new);
        const float m_old = round_fp16(st.m[i] + d_old), top = round_fp16(r + d_new);
        const float m_new = std::max(m_old, top);
        alpha = round_fp16(std::exp(round_fp16(m_old - m_new)));
        gamma = round_fp16(std::exp(round_fp16(top - m_new)));
        st.m[i] = m_new;
        st.l[i] = round_fp16(round_fp16(alpha * st.l[i]) + round_fp16(gamma * round_fp16(rowsum[i])));
        st.f[i] = f_new;
        st.count[i] += 1.f;
      }
      float* oi = st.o.data() + i * D;
      const float* pvi = pv.data() + i * D;
      if (paper) {  // fp16(fp16(α·O) + fp16(γ·PV)), each product and the sum rounded, in SIMD passes
        float* g = pv.data() + i * D;
        for (int64_t x2 = 0; x2 < D; ++x2) oi[x2] *= alpha;
        for (int64_t x2 = 0; x2 < D; ++x2) g[x2] *= gamma;
        round_fp16_inplace(oi, D);
        round_fp16_inplace(g, D);
        for (int64_t x2 = 0; x2 < D; ++x2) oi[x2] += g[x2];
        round_fp16_inplace(oi, D);
      } else {
        for (int64_t x2 = 0; x2 < D; ++x2) oi[x2] = alpha * oi[x2] + gamma * pvi[x2];
      }
      st.seen[i] = 1;
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    float* dst = out + i * D;
    for (int64_t x2 = 0; x2 < D; ++x2) {
      float val = st.seen[i] ? st.o[i * D + x2] / st.l[i] : 0.f;
      dst[x2] = paper ? round_fp16(val) : val;
    }
  }
}

at::Tensor fp16_values(const at::Tensor& t) { return t.to(at::kHalf).to(at::kFloat).contiguous(); }

// The exact variant's inputs in fp16 (model.fp16_slices): bf16 slices scaled by 2^−ε per (batch, head) so the slice's
// largest finite |x| lies in [2^7, 2^8); float16 inputs as they are (ε = 0). Returns (fp32 values, ε [B, H]).
std::pair<at::Tensor, at::Tensor> fp16_slices(const at::Tensor& t) {
  if (t.scalar_type() != at::kBFloat16 || t.numel() == 0)
    return {fp16_values(t), at::zeros({t.size(0), t.size(1)}, t.options().dtype(at::kFloat))};
  const auto x = t.to(at::kFloat);
  const auto amax = at::where(x.isfinite(), x.abs(), 0.f).amax({2, 3});
  const auto eps = at::where(amax > 0, std::get<1>(at::frexp(amax)).to(at::kFloat) - kBf16SliceTop, 0.f);
  return {fp16_values(x * at::exp2(-eps).view({t.size(0), t.size(1), 1, 1})), eps};
}

// Query centres per 64-row group (model.query_centres), one copy on each row of the group; centre_on_grid per column.
at::Tensor query_centres(const at::Tensor& q) {
  auto a = at::empty_like(q);
  const int64_t S1 = q.size(2), D = q.size(3), ng = (S1 + kQueryGroup - 1) / kQueryGroup;
  const float* qd = q.data_ptr<float>();
  float* ad = a.data_ptr<float>();
  at::parallel_for(0, q.size(0) * q.size(1) * ng, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / ng, r0 = (t % ng) * kQueryGroup, rows = std::min(kQueryGroup, S1 - r0);
      const float* qg = qd + (bh * S1 + r0) * D;
      float* ag = ad + (bh * S1 + r0) * D;
      for (int64_t x = 0; x < D; ++x) {
        double sum = 0, top = 0;
        for (int64_t r = 0; r < rows; ++r) {
          sum += qg[r * D + x];
          top = std::max(top, std::fabs(static_cast<double>(qg[r * D + x])));
        }
        const float c = static_cast<float>(centre_on_grid(sum / static_cast<double>(rows), top));
        for (int64_t r = 0; r < rows; ++r) ag[r * D + x] = c;
      }
    }
  });
  return a;
}

// Keys that some row of some head of their KV head's group sees ([B, Nkv, S2] bytes), or undefined when all are.
// Reads the mask once at its own (un-broadcast) size; a row broadcast over S1 counts as every row.
at::Tensor live_keys(const at::Tensor& bias, const AttentionArgs& a) {
  const int64_t offset = a.align == CausalAlign::kBottomRight ? a.s2 - a.s1 : 0;
  if (!bias.defined() && !(a.causal && a.s1 - 1 + offset < a.s2 - 1)) return at::Tensor();
  at::Tensor visible;
  if (bias.defined()) {
    at::Tensor own = bias;  // drop the broadcast dimensions: compare the mask at its own size
    for (int64_t d = 0; d < 3; ++d)
      if (own.stride(d) == 0) own = own.narrow(d, 0, 1);
    visible = own.ne(-INFINITY);
  } else {
    visible = at::ones({1, 1, 1, a.s2}, at::TensorOptions().dtype(at::kBool));
  }
  if (a.causal) {  // row i sees keys ≤ i + offset; a row dimension of 1 stands for every row
    const int64_t rows = visible.size(2);
    auto row = rows == 1 ? at::full({1, 1}, a.s1 - 1, at::kLong) : at::arange(a.s1, at::kLong).view({rows, 1});
    visible = visible & (at::arange(a.s2, at::kLong).view({1, a.s2}) <= row + offset);
  }
  auto any_row = visible.any(2);  // [B|1, N|1, S2]
  if (any_row.size(1) > 1) any_row = any_row.view({any_row.size(0), a.kv_heads, a.group(), a.s2}).any(2);
  return any_row.expand({a.batch, a.kv_heads, a.s2}).contiguous().to(at::kByte);
}

}  // namespace

at::Tensor native_attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                            const at::Tensor& bias, const AttentionArgs& a) {
  auto out32 = at::zeros({a.batch, a.heads, a.s1, a.head_dim}, q_in.options().dtype(at::kFloat));
  if (out32.numel() == 0 || a.s2 == 0) return out32.to(q_in.scalar_type());
  const bool exact = a.variant == Variant::kExact;
  at::Tensor q, k, v, eq, ek, ev;
  if (exact) {
    std::tie(q, eq) = fp16_slices(q_in);
    std::tie(k, ek) = fp16_slices(k_in);
    std::tie(v, ev) = fp16_slices(v_in);
  } else {
    q = fp16_values(q_in), k = fp16_values(k_in), v = fp16_values(v_in);
  }
  const int64_t nblk = (a.s2 + a.block_n - 1) / a.block_n;
  auto kp = at::empty_like(k);
  auto centres = at::empty({a.batch, a.kv_heads, nblk, a.head_dim}, k.options());
  const at::Tensor live = exact ? live_keys(bias, a) : at::Tensor();
  shift_keys(a, k.data_ptr<float>(), live.defined() ? live.data_ptr<uint8_t>() : nullptr, kp.data_ptr<float>(),
             centres.data_ptr<float>());
  at::Tensor q_prime, q_centres, s_h, s_rest_h;
  ExactCall ex{};
  if (exact) {  // model._exact_call
    q_centres = query_centres(q);
    q_prime = fp16_values(q - q_centres);
    const auto factor = at::exp2(eq + ek.repeat_interleave(a.group(), 1)).contiguous();
    s_h = factor * fp32(a.scale);
    s_rest_h = factor * static_cast<float>(ScaleSplit(a.scale).rest);
    ex = {q_prime.data_ptr<float>(), q_centres.data_ptr<float>(), k.data_ptr<float>(), s_h.data_ptr<float>(),
          s_rest_h.data_ptr<float>()};
  }

  std::vector<int64_t> bias_stride(4, 0);
  if (bias.defined()) for (int d = 0; d < 4; ++d) bias_stride[d] = bias.stride(d);
  const int64_t nq = (a.s1 + kQueryBlock - 1) / kQueryBlock;
  float* out = out32.data_ptr<float>();
  at::parallel_for(0, a.batch * a.heads * nq, 1, [&](int64_t begin, int64_t end) {
    Scratch scratch(std::min(kQueryBlock, a.s1), a.s2, a.block_n, a.head_dim);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / nq, r0 = (t % nq) * kQueryBlock;
      Task task{a, q.data_ptr<float>(), kp.data_ptr<float>(), v.data_ptr<float>(), centres.data_ptr<float>(),
                exact ? &ex : nullptr, bias.defined() ? bias.data_ptr<float>() : nullptr, bias_stride.data(),
                bh / a.heads, bh % a.heads, r0, std::min(kQueryBlock, a.s1 - r0)};
      task.run(out + (bh * a.s1 + r0) * a.head_dim, scratch);
    }
  });
  if (exact && ev.defined() && ev.ne(0).any().item<bool>())  // bf16: the value slices' powers of two
    out32.mul_(at::exp2(ev.repeat_interleave(a.group(), 1)).view({a.batch, a.heads, 1, 1}));
  return out32.to(q_in.scalar_type());
}

}  // namespace pasa::cpu
