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

// Fills K' (and, for the exact variant, the block centres) for every (batch, kv head, KV block).
void shift_keys(const AttentionArgs& a, const float* k, float* kp, float* centres) {
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
        for (int64_t x = 0; x < D; ++x) {
          double sum = 0, top = 0;  // the sum of ≤ 1024 fp16 values is exact in float64: the centre is order-free
          for (int64_t r = 0; r < nj; ++r) {
            sum += kj[r * D + x];
            top = std::max(top, std::fabs(static_cast<double>(kj[r * D + x])));
          }
          c[x] = static_cast<float>(centre_on_grid(sum / static_cast<double>(nj), top));
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
  std::vector<float> sp, p, pv, row_shift, rmax, rowsum;
  Scratch(int64_t rows, int64_t s2, int64_t n, int64_t D)
      : sp(rows * std::max(n, kScoreChunk)), p(rows * n), pv(rows * D), row_shift(rows), rmax(rows), rowsum(rows) {}
};

struct Task {
  const AttentionArgs& a;
  const float *q, *kp, *v, *centres;
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

// x[col] = mult·x[col] + bias[col] for the visible columns (fp16-rounded for the paper variant), −inf for the
// hidden ones; returns the row max over the visible ones, NaN if one of them is NaN.
float prepare_row(float* x, int64_t nj, int64_t visible, const float* bias, int64_t bias_step, float mult,
                  bool paper) {
  if (mult != 1.f)
    for (int64_t c = 0; c < visible; ++c) x[c] *= mult;
  if (bias)
    for (int64_t c = 0; c < visible; ++c) x[c] += bias[c * bias_step];
  if (paper) round_fp16_inplace(x, visible);
  for (int64_t c = visible; c < nj; ++c) x[c] = kNegInf;
  return max_of(x, visible);
}

void Task::run(float* out, Scratch& scratch) const {
  const int64_t D = a.head_dim, n = a.block_n, kvh = h / a.group();
  const int64_t nblk = (a.s2 + n - 1) / n;
  const bool paper = a.variant == Variant::kPaper, exact = a.variant == Variant::kExact;
  const float s = fp32(a.scale), s_rest = static_cast<float>(ScaleSplit(a.scale).rest);
  // Keys any row of this query block can see: the blocks after them are skipped.
  const int64_t last = std::min(a.s2 - 1, causal_limit(r0 + rows - 1));
  if (last < 0) return;  // no row sees a key: the output stays zero
  const int64_t vis_blocks = last / n + 1;
  const int64_t chunk_blocks = std::max<int64_t>(1, kScoreChunk / n), ld = chunk_blocks * n;
  RowState st(rows, D, paper ? kPaperMaxInit : kNegInf);
  std::vector<float>&sp = scratch.sp, &p = scratch.p, &pv = scratch.pv, &row_shift = scratch.row_shift,
                     &rmax = scratch.rmax, &rowsum = scratch.rowsum;
  const float* qb = q + ((b * a.heads + h) * a.s1 + r0) * D;
  const int64_t kv_base = (b * a.kv_heads + kvh) * a.s2 * D;
  const float coef_paper = paper ? paper_coefficient(a.beta) : 0.f;

  for (int64_t j = 0; j < vis_blocks; ++j) {
    const int64_t c0 = j * n, nj = std::min(n, a.s2 - c0);
    if (j % chunk_blocks == 0) {  // S' = Q·K'ᵀ for the next few blocks in one GEMM, rounded to fp16
      const int64_t width = std::min(ld, a.s2 - c0);
      auto spt = at::from_blob(sp.data(), {rows, width}, {ld, 1});
      at::mm_out(spt, at::from_blob(const_cast<float*>(qb), {rows, D}),
                 at::from_blob(const_cast<float*>(kp + kv_base + c0 * D), {width, D}).t());
      for (int64_t i = 0; i < rows; ++i) round_fp16_inplace(sp.data() + i * ld, width);
    }
    float* x0 = sp.data() + (j % chunk_blocks) * n;  // row i of this block's tile: x0 + i * ld

    if (exact) {  // h = s·(Q·cᵀ), fp32
      const float* c = centres + ((b * a.kv_heads + kvh) * nblk + j) * D;
      for (int64_t i = 0; i < rows; ++i) {
        row_shift[i] = dot_of(qb + i * D, c, D) * s;
      }
    } else {  // recovered shift from the row mean of S' over the whole block, before the mask
      const float coef = paper ? coef_paper : exact_coefficient(a.scale, a.beta, nj);
      for (int64_t i = 0; i < rows; ++i) {
        const float mu = sum_of(x0 + i * ld, nj) / static_cast<float>(nj);
        row_shift[i] = paper ? round_fp16(coef * round_fp16(mu)) : coef * mu;
      }
    }

    // x = S' (times s_rest for exact) + mask; each row's max over the keys it sees; its fp16 P row.
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t visible = std::clamp<int64_t>(causal_limit(r0 + i) - c0 + 1, 0, nj);
      const float* bi = bias ? bias + b * bias_stride[0] + h * bias_stride[1] + (r0 + i) * bias_stride[2] +
                                   c0 * bias_stride[3]
                             : nullptr;
      rmax[i] = prepare_row(x0 + i * ld, nj, visible, bi, bias_stride[3], exact ? s_rest : 1.f, paper);
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

}  // namespace

at::Tensor native_attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                            const at::Tensor& bias, const AttentionArgs& a) {
  auto out32 = at::zeros({a.batch, a.heads, a.s1, a.head_dim}, q_in.options().dtype(at::kFloat));
  if (out32.numel() == 0 || a.s2 == 0) return out32.to(q_in.scalar_type());
  const at::Tensor q = fp16_values(q_in), k = fp16_values(k_in), v = fp16_values(v_in);
  const int64_t nblk = (a.s2 + a.block_n - 1) / a.block_n;
  auto kp = at::empty_like(k);
  auto centres = at::empty({a.batch, a.kv_heads, nblk, a.head_dim}, k.options());
  shift_keys(a, k.data_ptr<float>(), kp.data_ptr<float>(), centres.data_ptr<float>());

  std::vector<int64_t> bias_stride(4, 0);
  if (bias.defined()) for (int d = 0; d < 4; ++d) bias_stride[d] = bias.stride(d);
  const int64_t nq = (a.s1 + kQueryBlock - 1) / kQueryBlock;
  float* out = out32.data_ptr<float>();
  at::parallel_for(0, a.batch * a.heads * nq, 1, [&](int64_t begin, int64_t end) {
    Scratch scratch(std::min(kQueryBlock, a.s1), a.s2, a.block_n, a.head_dim);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t bh = t / nq, r0 = (t % nq) * kQueryBlock;
      Task task{a, q.data_ptr<float>(), kp.data_ptr<float>(), v.data_ptr<float>(), centres.data_ptr<float>(),
                bias.defined() ? bias.data_ptr<float>() : nullptr, bias_stride.data(),
                bh / a.heads, bh % a.heads, r0, std::min(kQueryBlock, a.s1 - r0)};
      task.run(out + (bh * a.s1 + r0) * a.head_dim, scratch);
    }
  });
  return out32.to(q_in.scalar_type());
}

}  // namespace pasa::cpu
