// The CPU operator: every PASA variant of docs/numerics.md, step for step as python/pasa/model.py, fp16 tiles
// held as fp32 values rounded with F16C, Cube-like products through fp32 GEMMs. One kernel serves dense (BNSD) and
// packed variable-length (TND) calls. A work item is a row tile of one sequence and one KV head: the G query heads
// that read that KV head × up to kQueryBlock / G query positions, so a decoding step's few rows still share each
// K'/V block. Sequences of at most kDecodeRows query rows (KV-cache decoding) also split their key axis into parts
// of whole KV blocks that run in parallel and merge in fp32 (docs/numerics.md, "Splitting the key axis").
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "attention_cpu.h"
#include "vec_math.h"

namespace pasa::cpu {

std::vector<int64_t> decode_kv_splits(int64_t s1, int64_t s2, int64_t block_n, Variant variant) {
  std::vector<int64_t> cuts;
  if (s1 > kDecodeRows || variant == Variant::kPaper) return cuts;  // the paper variant is defined unsplit
  const int64_t part = std::max<int64_t>(1, kSplitKeys / block_n) * block_n;
  for (int64_t c = part; c < s2; c += part) cuts.push_back(c);
  return cuts;
}

namespace {

constexpr int64_t kQueryBlock = 128;  // query rows per tile (whole GQA groups)
constexpr int64_t kQueryGroup = 64;   // exact: positions [64t, 64t + 64) of a sequence share a query centre
constexpr int64_t kBf16SliceTop = 8;  // exact, bf16: a slice's largest |x| is scaled into [2^7, 2^8) (BF16_SLICE_TOP)
constexpr int64_t kScoreChunk = 512;  // S' columns per GEMM: large enough for GEMM speed, small for the cache
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kPaperMaxInit = -60000.f;  // the prototype's fp16 running-max start

float fp32(double x) { return static_cast<float>(x); }

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

// Row (b, h, i) of a (rows × D) buffer: sequence b, head h, position i at row b·sb + h·sh + (off[b] + i)·si.
// Dense BNSD: sb = N·S, sh = S, si = 1; packed TND: sb = 0, sh = 1, si = N, off = cu_seqlens.
struct RowLayout {
  int64_t sb = 0, sh = 0, si = 1;
  const int64_t* off = nullptr;
  int64_t operator()(int64_t b, int64_t h, int64_t i) const {
    return b * sb + h * sh + ((off ? off[b] : 0) + i) * si;
  }
};

// One call: its sequences, layouts and buffers. Inputs and K' stay fp16 in memory; blocks are widened to fp32 for
// the GEMMs as they are used, so a long KV cache is read once, at half the bytes, and never copied whole.
struct Problem {
  const AttentionArgs& a;
  std::vector<int64_t> s1, s2, blk0;  // per sequence: query rows, keys, global index of its first KV block
  RowLayout qrows, kvrows, lserows;   // q and out; k, K' and v; lse (one value per row)
  const uint16_t *q = nullptr, *k = nullptr, *v = nullptr;  // the inputs as fp16 bit patterns
  uint16_t* kp = nullptr;                   // K' (fp16 values by construction), in k's layout
  float* centres = nullptr;                 // exact: D values per (KV block, kv head), at (blk0[b] + j)·Nkv + g
  const float* bias = nullptr;              // dense calls: (B, N, S1, S2) by bias_stride, or null
  int64_t bias_stride[4] = {0, 0, 0, 0};
  const float* sinks = nullptr;             // (N,) or null
  float *out = nullptr, *lse = nullptr;     // lse null when not requested
  // exact (model._exact_call): the query centres a (D floats per (sequence, head, 64-position group), at
  // (qgrp0[b] + i / 64)·N + h), the live keys (k's rows, null: all live), the score scale s_h = s·2^(εq + εk) and
  // s_rest,h per (sequence, head), the output's 2^εv per (sequence, kv head)
  const float* q_centres = nullptr;
  std::vector<int64_t> qgrp0;
  const uint8_t* live = nullptr;
  const float *s_h = nullptr, *s_rest_h = nullptr, *out_scale = nullptr;

  int64_t blocks(int64_t b) const { return (s2[b] + a.block_n - 1) / a.block_n; }
  const float* centre(int64_t b, int64_t j, int64_t g) const { return centres + ((blk0[b] + j) * a.kv_heads + g) * a.head_dim; }
  // The last key row i of sequence b may see, masks aside (< 0: none).
  int64_t last_key(int64_t b, int64_t i) const {
    if (!a.causal) return s2[b] - 1;
    return std::min(s2[b] - 1, i + (a.align == CausalAlign::kBottomRight ? s2[b] - s1[b] : 0));
  }
};

// Fills K' (and, for the exact variant, the block centres over the block's live keys) for every (KV block, kv head).
void shift_keys(const Problem& p) {
  const AttentionArgs& a = p.a;
  const int64_t D = a.head_dim, n = a.block_n, total = p.blk0.back();
  const float pow2 = static_cast<float>(ScaleSplit(a.scale).pow2);
  at::parallel_for(0, total * a.kv_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> m, kj(n * D), out(n * D), top(D);
    std::vector<double> sum(D);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t blk = t / a.kv_heads, g = t % a.kv_heads;
      const int64_t b = std::upper_bound(p.blk0.begin(), p.blk0.end(), blk) - p.blk0.begin() - 1;
      const int64_t c0 = (blk - p.blk0[b]) * n, nj = std::min(n, p.s2[b] - c0);
      for (int64_t r = 0; r < nj; ++r) fp16_to_fp32(p.k + p.kvrows(b, g, c0 + r) * D, kj.data() + r * D, D);
      if (a.variant == Variant::kExact) {
        float* c = p.centres + t * D;
        // column sums row by row (SIMD over the columns): the sum of ≤ 1024 fp16 values is exact in float64, so
        // the centre does not depend on the order
        std::fill(sum.begin(), sum.end(), 0.0);
        std::fill(top.begin(), top.end(), 0.f);
        int64_t count = 0;
        for (int64_t r = 0; r < nj; ++r) {
          if (p.live && !p.live[p.kvrows(b, g, c0 + r)]) continue;  // no row sees it: it stays out of the centre
          ++count;
          const float* kr = kj.data() + r * D;
          for (int64_t x = 0; x < D; ++x) {
            sum[x] += kr[x];
            top[x] = std::max(top[x], std::fabs(kr[x]));
          }
        }
        for (int64_t x = 0; x < D; ++x)
          c[x] = count ? static_cast<float>(centre_on_grid(sum[x] / static_cast<double>(count), top[x])) : 0.f;
        for (int64_t r = 0; r < nj; ++r)
          for (int64_t x = 0; x < D; ++x) out[r * D + x] = (kj[r * D + x] - c[x]) * pow2;
      } else {  // K' = M·K through the GEMM the model's torch matmul uses (the paper variant then matches it bit
                // for bit: its fp16 row mean, ×63 in the shift, turns a one-ulp K' entry into a whole-row change)
        float d, e;
        shift_entries(a.scale, a.beta, nj, &d, &e);
        m.assign(nj * nj, -e);
        for (int64_t r = 0; r < nj; ++r) m[r * nj + r] = d;
        auto ot = at::from_blob(out.data(), {nj, D});
        at::mm_out(ot, at::from_blob(m.data(), {nj, nj}), at::from_blob(kj.data(), {nj, D}));
      }
      for (int64_t r = 0; r < nj; ++r) fp32_to_fp16(out.data() + r * D, p.kp + p.kvrows(b, g, c0 + r) * D, D);
    }
  });
}

// Per-row running state of one row tile: m, l, O and (pasa, paper) the frame F and its block count.
struct RowState {
  std::vector<float> m, l, f, count, o;
  std::vector<uint8_t> seen;
  void reset(int64_t rows, int64_t D, float m0) {
    m.assign(rows, m0);
    l.assign(rows, 0.f);
    f.assign(rows, 0.f);
    count.assign(rows, 0.f);
    o.assign(rows * D, 0.f);
    seen.assign(rows, 0);
  }
};

// Per-thread working buffers, sized for the largest tile and reused across tiles (no allocation per tile).
struct Scratch {
  // qt, kt, vt: Q (exact: Q', then the tile's query centres a, one row per query group), K' and V widened to fp32;
  // sp: S' (exact: then g = a·K'ᵀ, one row per query group); exact: qr the raw Q
  std::vector<float> qt, kt, vt, sp, p, pv, row_shift, rmax, rowsum, qr, c_diff, krow;
  std::vector<int64_t> group_of, group_keys;  // exact: each row's query group among the tile's, and the groups
  std::vector<uint8_t> suspect;
  Scratch(int64_t rows, int64_t n, int64_t D)
      : qt(2 * rows * D), kt(std::max(n, kScoreChunk) * D), vt(n * D), sp(2 * rows * std::max(n, kScoreChunk)),
        p(rows * n), pv(rows * D), row_shift(rows), rmax(rows), rowsum(rows), qr(rows * D), c_diff(D), krow(D),
        group_of(rows), group_keys(rows), suspect(rows) {}
};

// Positions [i0, i0 + npos) of sequence b for the G query heads of kv head g, over KV blocks [j0, j1). Row r of the
// tile is position i0 + r / G of head g·G + r % G. slot: its partial state when the key axis is split, else −1.
struct Tile {
  int64_t b, g, i0, npos, j0, j1, slot;
  int64_t head(const AttentionArgs& a, int64_t r) const { return g * a.group() + r % a.group(); }
  int64_t pos(const AttentionArgs& a, int64_t r) const { return i0 + r / a.group(); }
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

// The online softmax of docs/numerics.md over the tile's KV blocks, from the initial state.
void run_tile(const Problem& pb, const Tile& t, Scratch& scratch, RowState& st) {
  const AttentionArgs& a = pb.a;
  const int64_t D = a.head_dim, n = a.block_n, rows = t.npos * a.group(), b = t.b;
  const bool paper = a.variant == Variant::kPaper, exact = a.variant == Variant::kExact;
  st.reset(rows, D, paper ? kPaperMaxInit : kNegInf);
  std::vector<float>&qr = scratch.qr, &c_diff = scratch.c_diff;
  float* ga = scratch.qt.data() + rows * D;  // the tile's query centres, below Q' in the GEMM's left operand
  std::vector<int64_t>& group_of = scratch.group_of;
  std::vector<uint8_t>& suspect = scratch.suspect;
  auto s_h = [&](int64_t r) { return pb.s_h[b * a.heads + t.head(a, r)]; };
  auto s_rest = [&](int64_t r) { return pb.s_rest_h[b * a.heads + t.head(a, r)]; };
  const float* c_ref = exact && pb.s2[b] > 0 ? pb.centre(b, 0, t.g) : nullptr;  // the frame: block 0's centre
  int64_t groups = 0;
  if (exact) {  // raw Q, the rows' frame s_h·(q·c_0), and the tile's query groups with their centres a
    for (int64_t r = 0; r < rows; ++r) {
      fp16_to_fp32(pb.q + pb.qrows(b, t.head(a, r), t.pos(a, r)) * D, qr.data() + r * D, D);
      st.f[r] = c_ref ? dot_of(qr.data() + r * D, c_ref, D) * s_h(r) : 0.f;
      const int64_t key = (pb.qgrp0[b] + t.pos(a, r) / kQueryGroup) * a.heads + t.head(a, r);
      int64_t u = 0;
      while (u < groups && scratch.group_keys[u] != key) ++u;
      if (u == groups) {  // a new group: its centre a is row u of ga
        scratch.group_keys[groups++] = key;
        std::copy(pb.q_centres + key * D, pb.q_centres + (key + 1) * D, ga + u * D);
      }
      group_of[r] = u;
    }
  }
  // Keys any row of the tile can see (the last position sees most): the blocks after them are skipped.
  const int64_t last = pb.last_key(b, t.i0 + t.npos - 1);
  const int64_t j_end = std::min(t.j1, last < 0 ? t.j0 : last / n + 1);
  if (j_end <= t.j0) return;  // no row sees a key here: the state stays initial
  const int64_t chunk_blocks = std::max<int64_t>(1, kScoreChunk / n), ld = chunk_blocks * n;
  const int64_t seq_end = std::min(j_end * n, pb.s2[b]);
  std::vector<float>&qt = scratch.qt, &kt = scratch.kt, &vt = scratch.vt, &sp = scratch.sp, &p = scratch.p,
                     &pv = scratch.pv, &row_shift = scratch.row_shift, &rmax = scratch.rmax, &rowsum = scratch.rowsum;
  for (int64_t r = 0; r < rows; ++r) {  // the GEMM's Q: exact Q' = fp16(Q − a), exact by the centre's grid
    float* qtr = qt.data() + r * D;
    if (!exact) {
      fp16_to_fp32(pb.q + pb.qrows(b, t.head(a, r), t.pos(a, r)) * D, qtr, D);
      continue;
    }
    const float *qrr = qr.data() + r * D, *ar = ga + group_of[r] * D;
    for (int64_t x = 0; x < D; ++x) qtr[x] = qrr[x] - ar[x];
    round_fp16_inplace(qtr, D);
  }
  const float coef_paper = paper ? paper_coefficient(a.beta) : 0.f;

  for (int64_t j = t.j0; j < j_end; ++j) {
    const int64_t c0 = j * n, nj = std::min(n, pb.s2[b] - c0);
    if ((j - t.j0) % chunk_blocks == 0) {  // S' = Q·K'ᵀ for the next few blocks in one GEMM, rounded to fp16
      const int64_t width = std::min(ld, seq_end - c0);
      for (int64_t r = 0; r < width; ++r) fp16_to_fp32(pb.kp + pb.kvrows(b, t.g, c0 + r) * D, kt.data() + r * D, D);
      // exact: the same GEMM also gives g = a·K'ᵀ in fp32 from the query centres below Q' (rows rows.., not rounded)
      const int64_t grows = rows + (exact ? groups : 0);
      auto spt = at::from_blob(sp.data(), {grows, width}, {ld, 1});
      at::mm_out(spt, at::from_blob(qt.data(), {grows, D}), at::from_blob(kt.data(), {width, D}).t());
      for (int64_t i = 0; i < rows; ++i) round_fp16_inplace(sp.data() + i * ld, width);
    }
    float* x0 = sp.data() + ((j - t.j0) % chunk_blocks) * n;  // row i of this block's tile: x0 + i * ld

    if (exact) {  // z = s_rest,h·(S' + g) with the row's max |z|; h = s_h·q·(c_j − c_0), fp32
      const float* c = pb.centre(b, j, t.g);
      for (int64_t x = 0; x < D; ++x) c_diff[x] = c[x] - c_ref[x];
      const float* g0 = sp.data() + rows * ld + ((j - t.j0) % chunk_blocks) * n;
      for (int64_t i = 0; i < rows; ++i) {
        float top;
        rmax[i] = add_scale_max(x0 + i * ld, g0 + group_of[i] * ld, s_rest(i), nj, &top);
        suspect[i] = !(top < std::numeric_limits<float>::infinity());  // a non-finite score: check the fallback
        row_shift[i] = dot_of(qr.data() + i * D, c_diff.data(), D) * s_h(i);
      }
    } else {  // recovered shift from the row mean of S' over the whole block, before the mask
      const float coef = paper ? coef_paper : exact_coefficient(a.scale, a.beta, nj);
      for (int64_t i = 0; i < rows; ++i) {
        const float mu = sum_of(x0 + i * ld, nj) / static_cast<float>(nj);
        row_shift[i] = paper ? round_fp16(coef * round_fp16(mu)) : coef * mu;
      }
    }

    // x = z (exact) or S' (pasa, paper) with the mask; each row's max over the keys it sees; its fp16 P row.
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t pos = t.pos(a, i);
      const int64_t visible = std::clamp<int64_t>(pb.last_key(b, pos) - c0 + 1, 0, nj);
      const float* bi = pb.bias ? pb.bias + b * pb.bias_stride[0] + t.head(a, i) * pb.bias_stride[1] +
                                      pos * pb.bias_stride[2] + c0 * pb.bias_stride[3]
                                : nullptr;
      float* xi = x0 + i * ld;
      bool fallback = false;
      if (exact && suspect[i] && nonfinite_visible(xi, visible, bi, pb.bias_stride[3])) {
        fallback = true;
        // an fp16 S' entry overflowed: this row's block takes fp32 scores s_h·q·k − s_h·q·c_0 instead
        const float* qi = qr.data() + i * D;
        for (int64_t col = 0; col < nj; ++col) {
          fp16_to_fp32(pb.k + pb.kvrows(b, t.g, c0 + col) * D, scratch.krow.data(), D);
          xi[col] = dot_of(qi, scratch.krow.data(), D) * s_h(i) - st.f[i];
        }
        row_shift[i] = 0.f;
      }
      if (!(exact && !fallback && !bi && visible == nj))  // else z's own max is the row's max
        rmax[i] = mask_row(xi, nj, visible, bi, pb.bias_stride[3], paper);
      const float r = rmax[i] != kNegInf ? rmax[i] : 0.f;
      rowsum[i] = exp_shifted_fp16(x0 + i * ld, r, p.data() + i * nj, nj, paper);
    }
    for (int64_t r = 0; r < nj; ++r) fp16_to_fp32(pb.v + pb.kvrows(b, t.g, c0 + r) * D, vt.data() + r * D, D);
    auto pvt = at::from_blob(pv.data(), {rows, D});
    at::mm_out(pvt, at::from_blob(p.data(), {rows, nj}), at::from_blob(vt.data(), {nj, D}));  // P·V, fp32 sums
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
}

// The split form's merge of the parts' states (model.merge_states): the merged frame is the mean of the parts'
// block shifts (pasa), or the frame the parts share (exact: s_h·q·c_0; the baselines: 0), each part's max moves
// into it, l and O add up rescaled, all fp32, parts in key order.
void merge_parts(const RowState* parts, int64_t count, int64_t rows, int64_t D, RowState& st) {
  st.reset(rows, D, kNegInf);
  std::vector<float> moved(count);
  for (int64_t i = 0; i < rows; ++i) {
    float blocks = 0.f, weighted = 0.f;
    for (int64_t q = 0; q < count; ++q) {
      blocks += parts[q].count[i];
      weighted += parts[q].count[i] * parts[q].f[i];
    }
    const float f = blocks > 0.f ? weighted / blocks : parts[0].f[i];  // exact: the parts' shared frame
    float m = kNegInf;
    for (int64_t q = 0; q < count; ++q) {
      if (!parts[q].seen[i]) continue;
      moved[q] = parts[q].m[i] + (parts[q].f[i] - f);
      m = std::isnan(moved[q]) || std::isnan(m) ? std::numeric_limits<float>::quiet_NaN() : std::max(m, moved[q]);
      st.seen[i] = 1;
    }
    float* o = st.o.data() + i * D;
    for (int64_t q = 0; q < count; ++q) {
      if (!parts[q].seen[i]) continue;
      const float alpha = std::exp(moved[q] - m);
      st.l[i] += alpha * parts[q].l[i];
      const float* oq = parts[q].o.data() + i * D;
      for (int64_t x = 0; x < D; ++x) o[x] += alpha * oq[x];
    }
    st.m[i] = m;
    st.f[i] = f;
    st.count[i] = blocks;
  }
}

// Writes the tile's output rows O / l and log-sum-exp m + F + log l, the sink first joining each row's normaliser
// as one more key of value zero (model._finish). A row that saw no key gives zeros and the sink (or −inf).
void finish_tile(const Problem& pb, const Tile& t, RowState& st) {
  const AttentionArgs& a = pb.a;
  const int64_t D = a.head_dim, rows = t.npos * a.group();
  const bool paper = a.variant == Variant::kPaper;
  auto rnd = [paper](float x) { return paper ? round_fp16(x) : x; };
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t h = t.head(a, i), pos = t.pos(a, i);
    float* dst = pb.out + pb.qrows(t.b, h, pos) * D;
    float* o = st.o.data() + i * D;
    const float sink = pb.sinks ? pb.sinks[h] : kNegInf;
    float lse = sink;
    if (!st.seen[i]) {
      std::fill(dst, dst + D, 0.f);
    } else {
      float m = st.m[i], l = st.l[i];
      const float f = st.f[i];
      if (pb.sinks) {
        const float ts = rnd(rnd(sink) - f);
        const float m_new = std::max(m, ts);
        const float alpha = rnd(std::exp(rnd(m - m_new))), gamma = rnd(std::exp(rnd(ts - m_new)));
        l = rnd(rnd(alpha * l) + gamma);
        for (int64_t x = 0; x < D; ++x) o[x] = alpha * o[x];
        if (paper) round_fp16_inplace(o, D);
        m = m_new;
      }
      for (int64_t x = 0; x < D; ++x) dst[x] = o[x] / l;
      if (paper) round_fp16_inplace(dst, D);
      if (pb.out_scale)  // exact, bf16: the value slice's power of two
        for (int64_t x = 0; x < D; ++x) dst[x] *= pb.out_scale[t.b * a.kv_heads + t.g];
      lse = (m + f) + std::log(l);
    }
    if (pb.lse) pb.lse[pb.lserows(t.b, h, pos)] = lse;
  }
}

uint16_t* fp16_bits(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::Half>()); }

// Runs every row tile (splitting decoding sequences' key axes), merges split tiles and writes out and lse.
void run(Problem& pb, const at::Tensor& k) {
  const AttentionArgs& a = pb.a;
  const int64_t B = static_cast<int64_t>(pb.s1.size()), G = a.group(), D = a.head_dim, n = a.block_n;
  pb.blk0.assign(B + 1, 0);
  for (int64_t b = 0; b < B; ++b) pb.blk0[b + 1] = pb.blk0[b] + pb.blocks(b);
  auto kp = at::empty_like(k);
  auto centres = at::empty({pb.blk0.back() * a.kv_heads * (a.variant == Variant::kExact ? D : 0)},
                           k.options().dtype(at::kFloat));
  pb.kp = fp16_bits(kp);
  pb.centres = centres.data_ptr<float>();
  shift_keys(pb);

  const int64_t npos_max = std::max<int64_t>(1, kQueryBlock / G);
  std::vector<Tile> tiles;
  std::vector<std::pair<int64_t, int64_t>> split;  // (first tile, parts) of each split row tile; parts in key order
  int64_t slots = 0;
  for (int64_t b = 0; b < B; ++b) {
    const bool cut = !decode_kv_splits(pb.s1[b], pb.s2[b], n, a.variant).empty();
    const int64_t part_blocks = cut ? std::max<int64_t>(1, kSplitKeys / n) : std::max<int64_t>(1, pb.blocks(b));
    for (int64_t g = 0; g < a.kv_heads; ++g)
      for (int64_t i0 = 0; i0 < pb.s1[b]; i0 += npos_max) {
        const int64_t npos = std::min(npos_max, pb.s1[b] - i0), last = pb.last_key(b, i0 + npos - 1);
        const int64_t seen_blocks = last < 0 ? 0 : last / n + 1;
        const int64_t parts = std::max<int64_t>(1, (seen_blocks + part_blocks - 1) / part_blocks);
        if (parts > 1) split.emplace_back(static_cast<int64_t>(tiles.size()), parts);
        for (int64_t q = 0; q < parts; ++q)
          tiles.push_back({b, g, i0, npos, q * part_blocks, std::min(seen_blocks, (q + 1) * part_blocks),
                           parts > 1 ? slots++ : -1});
      }
  }
  const int64_t rows_max = npos_max * G;
  std::vector<RowState> partials(slots);
  at::parallel_for(0, static_cast<int64_t>(tiles.size()), 1, [&](int64_t begin, int64_t end) {
    Scratch scratch(rows_max, n, D);
    RowState st;
    for (int64_t i = begin; i < end; ++i) {
      const Tile& t = tiles[i];
      run_tile(pb, t, scratch, t.slot >= 0 ? partials[t.slot] : st);
      if (t.slot < 0) finish_tile(pb, t, st);
    }
  });
  at::parallel_for(0, static_cast<int64_t>(split.size()), 1, [&](int64_t begin, int64_t end) {
    RowState st;
    for (int64_t i = begin; i < end; ++i) {
      const Tile& t = tiles[split[i].first];
      merge_parts(partials.data() + t.slot, split[i].second, t.npos * G, D, st);
      finish_tile(pb, t, st);
    }
  });
}

// The contract rounds inputs to fp16 (bf16 → fp16 is exact in fp16's range, which the argument check enforces for
// the pasa and paper variants; the exact variant scales bf16 slices first, exact_inputs below).
at::Tensor as_fp16(const at::Tensor& t) { return t.to(at::kHalf).contiguous(); }

const float* sink_values(const at::Tensor& sinks, at::Tensor& holder) {
  if (!sinks.defined()) return nullptr;
  holder = sinks.to(at::kFloat).contiguous();
  return holder.data_ptr<float>();
}

// One (sequence, head) slice of a dense (B, H, S, D) or packed (T, H, D) input, as a (rows, H, D)-like view whose
// dimensions 0 and 2 hold the slice's rows and features for every head at once.
at::Tensor sequence_rows(const at::Tensor& t, const int64_t* cu, int64_t b) {
  return cu ? t.narrow(0, cu[b], cu[b + 1] - cu[b]) : t[b].transpose(0, 1);
}

// The exact variant's fp16 input (model.fp16_slices): a bf16 (sequence, head) slice scaled by 2^−ε so its largest
// finite |x| lies in [2^7, 2^8); float16 as it is (ε = 0). Returns the fp16 tensor and ε [sequences, heads].
std::pair<at::Tensor, at::Tensor> fp16_slices(const at::Tensor& t, const int64_t* cu, int64_t sequences) {
  const int64_t heads = t.size(1);
  auto eps = at::zeros({sequences, heads}, t.options().dtype(at::kFloat));
  if (t.scalar_type() != at::kBFloat16 || t.numel() == 0) return {as_fp16(t), eps};
  auto x = t.to(at::kFloat);
  for (int64_t b = 0; b < sequences; ++b) {
    auto rows = sequence_rows(x, cu, b);  // (rows, heads, D)
    if (rows.size(0) == 0) continue;
    const auto amax = at::where(rows.isfinite(), rows.abs(), 0.f).amax({0, 2});
    eps[b] = at::where(amax > 0, std::get<1>(at::frexp(amax)).to(at::kFloat) - kBf16SliceTop, 0.f);
    rows.mul_(at::exp2(-eps[b]).view({1, heads, 1}));
  }
  return {as_fp16(x), eps};
}

// Keys that some row of some head of their KV head's group sees, one byte per row of k (model.live_keys); an
// undefined tensor when every key is. Dense calls read the mask once at its own (un-broadcast) size.
at::Tensor live_keys(const Problem& pb, const at::Tensor& bias, const at::Tensor& k) {
  const AttentionArgs& a = pb.a;
  const int64_t B = static_cast<int64_t>(pb.s1.size());
  bool all_live = !bias.defined();
  for (int64_t b = 0; all_live && b < B; ++b) all_live = pb.last_key(b, pb.s1[b] - 1) >= pb.s2[b] - 1;
  if (all_live) return at::Tensor();
  if (!bias.defined()) {  // causal alone: a key is live up to the last row's limit
    auto live = at::zeros({k.numel() / a.head_dim}, k.options().dtype(at::kByte));
    uint8_t* l = live.data_ptr<uint8_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t g = 0; g < a.kv_heads; ++g)
        for (int64_t i = 0; i <= std::min(pb.s2[b] - 1, pb.last_key(b, pb.s1[b] - 1)); ++i) l[pb.kvrows(b, g, i)] = 1;
    return live;
  }
  at::Tensor own = bias;  // drop the broadcast dimensions: compare the mask at its own size
  for (int64_t d = 0; d < 3; ++d)
    if (own.stride(d) == 0) own = own.narrow(d, 0, 1);
  at::Tensor visible = own.ne(-INFINITY);
  if (a.causal) {  // row i sees keys ≤ its limit; a row dimension of 1 stands for every row
    const int64_t offset = a.align == CausalAlign::kBottomRight ? a.s2 - a.s1 : 0, rows = visible.size(2);
    auto row = rows == 1 ? at::full({1, 1}, a.s1 - 1, at::kLong) : at::arange(a.s1, at::kLong).view({rows, 1});
    visible = visible & (at::arange(a.s2, at::kLong).view({1, a.s2}) <= row + offset);
  }
  auto any_row = visible.any(2);  // [B|1, N|1, S2]
  if (any_row.size(1) > 1) any_row = any_row.view({any_row.size(0), a.kv_heads, a.group(), a.s2}).any(2);
  return any_row.expand({a.batch, a.kv_heads, a.s2}).contiguous().to(at::kByte);
}

// Buffers of the exact variant's per-call data (model._exact_call), kept alive for the call.
struct ExactHolders {
  at::Tensor q, k, v, q_centres, live, s_h, s_rest_h, out_scale;
};

// The exact variant's inputs: bf16 slices scaled into fp16, the query centres a of every 64-position group of each
// (sequence, head) (a tile forms its own Q' = Q − a), the live keys, the per-(sequence, head) score scales and the
// output's powers of two.
void exact_inputs(Problem& pb, const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                  const at::Tensor& bias, const int64_t* cu_q, const int64_t* cu_k, ExactHolders& x) {
  const AttentionArgs& a = pb.a;
  const int64_t B = static_cast<int64_t>(pb.s1.size()), D = a.head_dim, N = a.heads;
  at::Tensor eq, ek, ev;
  std::tie(x.q, eq) = fp16_slices(q_in, cu_q, B);
  std::tie(x.k, ek) = fp16_slices(k_in, cu_k, B);
  std::tie(x.v, ev) = fp16_slices(v_in, cu_k, B);
  pb.q = fp16_bits(x.q);
  pb.k = fp16_bits(x.k);
  pb.v = fp16_bits(x.v);
  const auto factor = at::exp2(eq + ek.repeat_interleave(a.group(), 1)).contiguous();
  x.s_h = factor * fp32(a.scale);
  x.s_rest_h = factor * static_cast<float>(ScaleSplit(a.scale).rest);
  pb.s_h = x.s_h.data_ptr<float>();
  pb.s_rest_h = x.s_rest_h.data_ptr<float>();
  if (ev.ne(0).any().item<bool>()) {
    x.out_scale = at::exp2(ev).contiguous();
    pb.out_scale = x.out_scale.data_ptr<float>();
  }
  pb.qgrp0.assign(B + 1, 0);
  for (int64_t b = 0; b < B; ++b) pb.qgrp0[b + 1] = pb.qgrp0[b] + (pb.s1[b] + kQueryGroup - 1) / kQueryGroup;
  x.q_centres = at::empty({pb.qgrp0.back() * N * D}, x.q.options().dtype(at::kFloat));
  float* ac = x.q_centres.data_ptr<float>();
  at::parallel_for(0, pb.qgrp0.back() * N, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(D), top(D);
    std::vector<double> sum(D);
    for (int64_t t = begin; t < end; ++t) {  // one (sequence, head, group): centre_on_grid of each column
      const int64_t grp = t / N, h = t % N;
      const int64_t b = std::upper_bound(pb.qgrp0.begin(), pb.qgrp0.end(), grp) - pb.qgrp0.begin() - 1;
      const int64_t i0 = (grp - pb.qgrp0[b]) * kQueryGroup, cnt = std::min(kQueryGroup, pb.s1[b] - i0);
      std::fill(sum.begin(), sum.end(), 0.0);
      std::fill(top.begin(), top.end(), 0.f);
      for (int64_t r = 0; r < cnt; ++r) {  // row by row, SIMD over the columns; the float64 sum is exact
        float* qr = row.data();
        fp16_to_fp32(pb.q + pb.qrows(b, h, i0 + r) * D, qr, D);
        for (int64_t col = 0; col < D; ++col) {
          sum[col] += qr[col];
          top[col] = std::max(top[col], std::fabs(qr[col]));
        }
      }
      float* c = ac + t * D;
      for (int64_t col = 0; col < D; ++col)
        c[col] = static_cast<float>(centre_on_grid(sum[col] / static_cast<double>(cnt), top[col]));
    }
  });
  pb.q_centres = ac;
  x.live = live_keys(pb, bias, x.k);
  pb.live = x.live.defined() ? x.live.data_ptr<uint8_t>() : nullptr;
}

// The part of a call every layout shares: the fp16 inputs (the exact variant's per-call data, exact_inputs), the
// sinks, the fp32 output and lse, the run; returns the output in q's dtype and the lse.
std::tuple<at::Tensor, at::Tensor> run_call(Problem& pb, const at::Tensor& q_in, const at::Tensor& k_in,
                                            const at::Tensor& v_in, const at::Tensor& bias, const int64_t* cu_q,
                                            const int64_t* cu_k, const at::Tensor& sinks, const AttentionArgs& a,
                                            at::Tensor& out32, at::Tensor& lse) {
  at::Tensor sink_holder;
  ExactHolders exact;
  if (a.variant == Variant::kExact) {
    exact_inputs(pb, q_in, k_in, v_in, bias, cu_q, cu_k, exact);
  } else {
    exact.q = as_fp16(q_in), exact.k = as_fp16(k_in), exact.v = as_fp16(v_in);
    pb.q = fp16_bits(exact.q), pb.k = fp16_bits(exact.k), pb.v = fp16_bits(exact.v);
  }
  pb.sinks = sink_values(sinks, sink_holder);
  pb.out = out32.data_ptr<float>();
  pb.lse = a.return_lse ? lse.data_ptr<float>() : nullptr;
  run(pb, exact.k);
  return {out32.to(q_in.scalar_type()), lse};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> native_attention(const at::Tensor& q_in, const at::Tensor& k_in,
                                                    const at::Tensor& v_in, const at::Tensor& bias,
                                                    const at::Tensor& sinks, const AttentionArgs& a) {
  auto out32 = at::empty({a.batch, a.heads, a.s1, a.head_dim}, q_in.options().dtype(at::kFloat));
  at::Tensor lse = a.return_lse ? at::empty({a.batch, a.heads, a.s1}, out32.options()) : no_lse(q_in);
  if (out32.numel() == 0) return {out32.to(q_in.scalar_type()), lse};
  Problem pb{a};
  pb.s1.assign(a.batch, a.s1);
  pb.s2.assign(a.batch, a.s2);
  pb.qrows = {a.heads * a.s1, a.s1, 1};
  pb.kvrows = {a.kv_heads * a.s2, a.s2, 1};
  pb.lserows = pb.qrows;
  if (bias.defined()) {
    pb.bias = bias.data_ptr<float>();
    for (int d = 0; d < 4; ++d) pb.bias_stride[d] = bias.stride(d);
  }
  return run_call(pb, q_in, k_in, v_in, bias, nullptr, nullptr, sinks, a, out32, lse);
}

std::tuple<at::Tensor, at::Tensor> native_attention_varlen(const at::Tensor& q_in, const at::Tensor& k_in,
                                                           const at::Tensor& v_in, const at::Tensor& sinks,
                                                           const AttentionArgs& a) {
  const int64_t tq = q_in.size(0);
  auto out32 = at::empty({tq, a.heads, a.head_dim}, q_in.options().dtype(at::kFloat));
  at::Tensor lse = a.return_lse ? at::empty({a.heads, tq}, out32.options()) : no_lse(q_in);
  if (out32.numel() == 0) return {out32.to(q_in.scalar_type()), lse};
  Problem pb{a};
  for (int64_t b = 0; b < a.batch; ++b) {
    pb.s1.push_back(a.cu_q[b + 1] - a.cu_q[b]);
    pb.s2.push_back(a.cu_k[b + 1] - a.cu_k[b]);
  }
  pb.qrows = {0, 1, a.heads, a.cu_q.data()};
  pb.kvrows = {0, 1, a.kv_heads, a.cu_k.data()};
  pb.lserows = {0, tq, 1, a.cu_q.data()};
  return run_call(pb, q_in, k_in, v_in, at::Tensor(), a.cu_q.data(), a.cu_k.data(), sinks, a, out32, lse);
}

}  // namespace pasa::cpu
