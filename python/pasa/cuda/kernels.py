"""Triton kernels of the contract's variants (docs/numerics.md, python/pasa/model.py `_step_exact`, `_step_pasa`,
`_step_paper`). pasa and paper use the first and third launch below (K' = M·K in the first, ``_block_step_shifted``
in the third); the exact variant, described here, uses all of them (docs/cuda.md):
1. ``shift_k_kernel`` (the key pass): one program per (KV block j, sequence·kv-head, 64 columns). It reads its part
   of block j of K once and writes the block's centre c_j over its live keys (fp16, exact), K'_j = fp16(2^e·(K_j −
   c_j)), padded with zero rows to the tile and zero columns to the padded head dim DP, so the attention loop loads
   K' with no checks, and a bound on the block's key norms (the overflow screen below).
2. ``shift_q_kernel`` (the query pass): one program per (64-row query group, sequence·head). It writes the group's
   centre a (fp16, exact), Q' = fp16(Q − a), zeroes the group's overflow flag and, where the call uses the table,
   writes the shifts h = log2e·s_h·(q·(c_j − c_0)) of its rows for every KV block they see (16 blocks per pair of
   fp32-accumulating dots: c_j − c_0 as an fp16 hi/lo pair).
3. ``attention_kernel``: one program per (BLOCK_M query rows, sequence·head[, part of the key axis]), the
   flash-attention loop over KV blocks of the contract's length n. Per block: S' = fp16(Q'·K'ᵀ) (fp32-accumulating
   tensor-core dot), z = S' + g with g = a·K'ᵀ (one 16-row dot for the program's query groups), a screen for fp16
   overflow, the mask by selection, r = rowmax, P = fp16(exp(x − r)), top = r + h, then the running max/sum/output
   update (``_block_step``); the epilogue adds the sink and writes the output and the log-sum-exp (``_finish``).
   Exponentials are exp2 with log2(e) folded into the scales, so m, r, h and top are kept in log2 units.
4. The same kernel again with FALLBACK: only the programs whose query groups failed the overflow screen, with the
   contract's fp32 fallback (``_fallback``).
Causal programs skip the KV blocks nobody in their rows can see, and run the masked step only on the blocks that
cross the diagonal, the sequence end or a user mask; the programs with the longest rows start first.
"""
from __future__ import annotations

import triton
import triton.language as tl

LOG2E = 1.4426950408889634
LN2 = tl.constexpr(0.6931471805599453)
ROUND_MAGIC = tl.constexpr(6755399441055744.0)  # 1.5·2^52: (x + M) − M rounds a float64 |x| < 2^51 to the nearest even integer
QUERY_GROUP = tl.constexpr(64)                  # contract.QUERY_GROUP: rows [64t, 64t + 64) share a query centre
# the overflow screen: a block whose bound on |S'| = |Q'·K'| (Cauchy-Schwarz, from the rows' and keys' norms) stays
# below this cannot overflow fp16 (65520 rounds to inf; the margin covers the fp32 rounding of the dot and the norms)
SP_SAFE_SQ = tl.constexpr(65000.0 * 65000.0)
Z_SAFE = tl.constexpr(1e36)                     # |z|·scale below this: the scaled scores and their differences stay finite

MASK_NONE, MASK_BOOL, MASK_FLOAT = 0, 1, 2


@triton.jit
def _fp16(x):
    """x rounded to fp16, kept in fp32 (the contract's fp16 tiles and values)."""
    return x.to(tl.float16).to(tl.float32)


@triton.jit
def _blocks_seen(last_key, nblk, KV_LEN: tl.constexpr):
    """How many KV blocks hold keys 0..last_key (causal: the blocks a row whose last visible key is last_key sees)."""
    return tl.minimum(nblk, tl.cdiv(tl.maximum(last_key + 1, 0), KV_LEN))


@triton.jit
def _max_nan(a, b):
    """max that propagates NaN (a combine function for tl.reduce)."""
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _grid_centre(x, live, count, LEN: tl.constexpr, LEN_POW2: tl.constexpr):
    """The centre of the rows of x that `live` picks, per column, on the column's own fp16 grid (model.grid_centre):
    the mean of the live rows (`count` of them) rounded to the nearest multiple of the fp16 ulp of their largest |x|
    (2^-24 below fp16's normal range); 0 where no row is live; ±inf or NaN where a live value is. x: fp32 tile
    holding fp16 values; live: bool, broadcastable to x. The sum is exact: each fp16 value is an integer multiple of
    2^-24 below 2^40, summed as int64, then one rounding of the mean in float64 (the model's exact mean); a full
    tile of a power-of-two length (LEN_POW2, count == LEN) divides by a product with 1/LEN (exact; float64 division
    is a slow subroutine)."""
    x = tl.where(live, x, 0.0)
    mean = tl.sum((x * 16777216.0).to(tl.int64), axis=0).to(tl.float64) * 5.960464477539063e-08
    fsum = tl.sum(x, axis=0)                                      # non-finite where a live value is
    top = tl.max(tl.abs(x), axis=0)
    if LEN_POW2 and count == LEN:
        mean = mean * (1.0 / LEN)
    else:
        mean = mean / tl.maximum(count, 1)
    # ulp of fp16 at the column's largest magnitude: 2^(E − 10) for top in [2^E, 2^(E+1)), 2^-24 below 2^-14;
    # its reciprocal likewise from the exponent bits, so mean / ulp is an exact product
    biased = (top.to(tl.int32, bitcast=True) >> 23) & 0xFF
    normal = top >= 6.103515625e-05
    ulp = tl.where(normal, ((biased - 10) << 23).to(tl.float32, bitcast=True), 5.960464477539063e-08)
    inv_ulp = tl.where(normal, ((264 - biased) << 23).to(tl.float32, bitcast=True), 16777216.0)
    steps = (mean * inv_ulp.to(tl.float64) + ROUND_MAGIC) - ROUND_MAGIC   # round half to even, as torch.round
    c = (steps * ulp.to(tl.float64)).to(tl.float32)
    return tl.where(tl.abs(fsum) < float("inf"), c, fsum)          # inf/NaN columns: c = ±inf/NaN, as the model


@triton.jit
def shift_k_kernel(k_ptr, kp_ptr, c_ptr, kn_ptr, live_ptr, me_ptr, cu_q_ptr, cu_k_ptr, blk0_ptr, cblk0_ptr,
                   stride_kb, stride_kh, stride_ks, stride_kd, kv_heads, S2, live_end, c_rows, pow2,
                   D: tl.constexpr, DP: tl.constexpr, DC: tl.constexpr, KV_LEN: tl.constexpr,
                   BLOCK_N: tl.constexpr, KV_POW2: tl.constexpr, MATRIX: tl.constexpr = False,
                   HAS_LIVE: tl.constexpr = False, VARLEN: tl.constexpr = False, CAUSAL: tl.constexpr = False,
                   BOTTOM_RIGHT: tl.constexpr = False):
    """Block j, columns [DC·i, DC·(i+1)) of one kv head of one sequence.

    exact (MATRIX False): c_j = the block's centre over its live keys (``_grid_centre``; live: key < live_end and,
    HAS_LIVE, live_ptr's byte for (batch·kv-head, key) set: keys some row of some head of the group sees),
    K'_j = fp16(2^e·(K_j − c_j)) in fp32 for every key, and kn[tile, i] = the largest Σ K'² over these columns
    of a live key (Σ_i kn ≥ every live key's |K'|², the overflow screen's bound).
    pasa, paper (MATRIX True): K'_j = fp16(M·K_j), M = d on the diagonal and −e off it (the fp16 entries for the
    block's length n_j: me_ptr[2·n_j], me_ptr[2·n_j + 1]), as the model's fp32 matrix product sums it: over the
    block's keys in order, one rounding per key (each product of two fp16 values is exact). The shifted variants'
    output depends on that order: on the stress suite's resonance inputs, K' rounded once from the exact M·K
    (d·K_i − e·(ΣK − K_i), or float64) moves pasa's output 0.10 RMSE from the model's (0.8 × the model's own error),
    a sum in key order 0 (docs/cuda.md).
    exact: programs j in [nblk, c_rows) write zero centre rows (the loop reads 16 at once); programs past the
    sequence's last block (and those rows) return at once.
    VARLEN: sequence b's keys start at cu_k[b] of a (T, Nkv, D) k; its K' tiles (and key-norm rows) start at tile
    blk0[b]·Nkv and its centres at row cblk0[b]·Nkv (op.Seqs). A packed call has no mask: its live keys end at the sequence's S1 where causal rows are top-left aligned
    (cu_q gives S1), else they are all live."""
    j = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // kv_heads
    h = bh % kv_heads
    if VARLEN:
        k_start = tl.load(cu_k_ptr + b)
        S2 = tl.load(cu_k_ptr + b + 1) - k_start
        nblk = tl.cdiv(S2, KV_LEN)
        c_rows = tl.cdiv(nblk, 16) * 16
        tile0 = tl.load(blk0_ptr + b) * kv_heads + h * nblk
        crow0 = tl.load(cblk0_ptr + b) * kv_heads + h * c_rows
        k_base = k_ptr + k_start.to(tl.int64) * stride_ks + h * stride_kh
        live_end = S2
        if CAUSAL and not BOTTOM_RIGHT:
            live_end = tl.minimum(S2, tl.load(cu_q_ptr + b + 1) - tl.load(cu_q_ptr + b))
    else:
        nblk = tl.cdiv(S2, KV_LEN)
        tile0 = bh.to(tl.int64) * nblk
        crow0 = bh.to(tl.int64) * c_rows
        k_base = k_ptr + b.to(tl.int64) * stride_kb + h * stride_kh
    cols = tl.program_id(2) * DC + tl.arange(0, DC)
    if j >= nblk:   # exact: the centre rows past the last block, up to c_rows, are zeros (no separate fill)
        if not MATRIX and j < c_rows:
            tl.store(c_ptr + (crow0 + j) * DP + cols, tl.zeros([DC], tl.float16))
        return
    rows = j * KV_LEN + tl.arange(0, BLOCK_N)
    in_block = (tl.arange(0, BLOCK_N) < KV_LEN) & (rows < S2)
    mask = in_block[:, None] & (cols[None, :] < D)
    k = tl.load(k_base + rows[:, None] * stride_ks + cols[None, :] * stride_kd, mask=mask, other=0.0)
    if k.dtype == tl.bfloat16:
        k = k.to(tl.float32).to(tl.float16)                            # pasa, paper: bf16 inputs rounded to fp16
    k = k.to(tl.float32)
    out_rows = (tile0 + j) * BLOCK_N + tl.arange(0, BLOCK_N)
    count = tl.minimum(S2 - j * KV_LEN, KV_LEN)
    if MATRIX:
        dm = tl.load(me_ptr + 2 * count)
        em = tl.load(me_ptr + 2 * count + 1)
        # K'ᵀ (columns × keys): each thread holds few keys, so M's column is selected per key, not per entry
        acc = tl.zeros([DC, BLOCK_N], tl.float32)
        k_col = k_base + cols * stride_kd
        for key in tl.range(0, count, num_stages=3):   # acc_i ← acc_i + M[i, key]·K[key], every row i: the model's order
            kk = tl.load(k_col + (j * KV_LEN + key) * stride_ks, mask=cols < D, other=0.0)
            kk = kk.to(tl.float32).to(tl.float16).to(tl.float32)
            m_col = tl.where(tl.arange(0, BLOCK_N) == key, dm, -em)                   # column `key` of M
            acc += kk[:, None] * m_col[None, :]
        kp = tl.where(mask, tl.trans(acc).to(tl.float16), 0.0)
    else:
        live = in_block & (rows < live_end)
        if HAS_LIVE:
            live = live & (tl.load(live_ptr + bh.to(tl.int64) * S2 + rows, mask=in_block, other=0) != 0)
        c = _grid_centre(k, live[:, None], tl.sum(live.to(tl.int32), axis=0), KV_LEN, KV_POW2)
        kp = tl.where(mask, ((k - c[None, :]) * pow2).to(tl.float16), 0.0)
        tl.store(c_ptr + (crow0 + j) * DP + cols, c.to(tl.float16))
        kpf = kp.to(tl.float32)
        norm = tl.where(live, tl.sum(kpf * kpf, axis=1), 0.0)
        tl.store(kn_ptr + (tile0 + j) * tl.num_programs(2) + tl.program_id(2), tl.reduce(norm, 0, _max_nan))
    tl.store(kp_ptr + out_rows[:, None] * DP + cols[None, :], kp)


@triton.jit
def _frame_halves(c, c0):
    """(hi, lo) fp16 with hi + lo = (c − c0)/2 to about fp32's precision: a block's centre relative to block 0's (the
    rows' fixed frame). c − c0 needs up to 40 bits, which no fp16 holds, so q·(c − c0) takes two fp32-accumulating
    dots with hi and lo (the model's fp32 dot); halved, hi cannot overflow. c, c0: fp16 values (broadcastable)."""
    half = (c.to(tl.float32) - c0.to(tl.float32)) * 0.5
    hi = half.to(tl.float16)
    return hi, (half - hi.to(tl.float32)).to(tl.float16)


@triton.jit
def _slice_scales(exp_ptr, bh, SLICES: tl.constexpr):
    """This head's 2^(εq + εk) (the scores' power of two) and 2^εv (the output's): bf16 slices (SLICES; exp_ptr:
    (B·N, 2) fp32 exponents), 1 and 1 for float16 inputs."""
    score = 1.0
    out = 1.0
    if SLICES:
        score = tl.math.exp2(tl.load(exp_ptr + bh * 2))
        out = tl.math.exp2(tl.load(exp_ptr + bh * 2 + 1))
    return score, out


@triton.jit
def shift_q_kernel(q_ptr, qp_ptr, a_ptr, c_ptr, h_ptr, exp_ptr, flag_ptr, cu_q_ptr, gq0_ptr,
                   stride_qb, stride_qh, stride_qs, stride_qd, stride_pb, stride_ph, stride_ps,
                   heads, groups, S1, nblk, c_rows, causal_offset, h_scale, D: tl.constexpr,
                   DP: tl.constexpr, DC: tl.constexpr, H_TABLE: tl.constexpr, SLICES: tl.constexpr,
                   CAUSAL: tl.constexpr, KV_LEN: tl.constexpr, VARLEN: tl.constexpr = False):
    """Query group t (rows [64t, 64t + 64) of its sequence) of one head: a = the group's centre (``_grid_centre`` over
    its rows), Q' = fp16(Q − a), stored like q (strides stride_p*, DP columns, zeros past D), a at group row
    (g0 + t)·heads + h of a (groups, DP) fp16 tensor, and the group's overflow flag (same row of flag_ptr, int32)
    zeroed for the attention loop to set. g0: the sequence's first group, b·⌈S1/64⌉ (dense) or gq0[b] (VARLEN, where
    the sequence's rows start at cu_q[b] and programs past its groups return at once).

    H_TABLE (dense calls): also h[i, j] = log2e·s_h·(q_i·(c_j − c_0)) of the group's rows for every KV block they
    can see (causal: up to the last row's diagonal; the attention loop reads no other), stored per block as a
    contiguous vector over the rows: H (B·N, nblk, S1) fp32; 16 blocks per pair of dots with the hi and lo halves of
    c_j − c_0 (``_frame_halves``; c_ptr: (B·Nkv, c_rows, DP), zero rows past nblk)."""
    t = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    if VARLEN:
        q_start = tl.load(cu_q_ptr + b)
        S1 = tl.load(cu_q_ptr + b + 1) - q_start
        if t * QUERY_GROUP >= S1:
            return
        g0 = tl.load(gq0_ptr + b)
        q_base = q_ptr + q_start.to(tl.int64) * stride_qs + h * stride_qh
        p_base = qp_ptr + q_start.to(tl.int64) * stride_ps + h * stride_ph
    else:
        g0 = b * tl.cdiv(S1, QUERY_GROUP)
        q_base = q_ptr + b.to(tl.int64) * stride_qb + h * stride_qh
        p_base = qp_ptr + b.to(tl.int64) * stride_pb + h * stride_ph
    rows = t * QUERY_GROUP + tl.arange(0, QUERY_GROUP)
    valid = rows < S1
    count = tl.minimum(S1 - t * QUERY_GROUP, QUERY_GROUP)
    group_row = (g0 + t).to(tl.int64) * heads + h
    for c0 in tl.static_range(0, DP, DC):      # column chunks: the int64 sums of a wide tile would spill
        cols = c0 + tl.arange(0, DC)
        q = tl.load(q_base + rows[:, None] * stride_qs + cols[None, :] * stride_qd,
                    mask=valid[:, None] & (cols[None, :] < D), other=0.0).to(tl.float32)
        a = _grid_centre(q, valid[:, None], count, QUERY_GROUP, True)
        qp = tl.where(valid[:, None], (q - a[None, :]).to(tl.float16), 0.0)
        tl.store(p_base + rows[:, None] * stride_ps + cols[None, :], qp, mask=valid[:, None])
        tl.store(a_ptr + group_row * DP + cols, a.to(tl.float16))
    tl.store(flag_ptr + group_row, 0)
    if H_TABLE:
        offs_d = tl.arange(0, DP)
        offs_16 = tl.arange(0, 16)
        q = tl.load(q_base + rows[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                    mask=valid[:, None] & (offs_d[None, :] < D), other=0.0)
        c_base = c_ptr + (b * (heads // groups) + h // groups).to(tl.int64) * c_rows * DP
        c_ref = tl.load(c_base + offs_d)                                                  # c_0
        h_base = h_ptr + bh.to(tl.int64) * nblk * S1
        h_scale = 2.0 * h_scale * _slice_scales(exp_ptr, bh, SLICES)[0]
        n_seen = nblk
        if CAUSAL:   # keys up to the last row's diagonal
            n_seen = _blocks_seen(t * QUERY_GROUP + count - 1 + causal_offset, nblk, KV_LEN)
        for j0 in range(0, n_seen, 16):
            hi, lo = _frame_halves(tl.load(c_base + (j0 + offs_16)[None, :] * DP + offs_d[:, None]), c_ref[:, None])
            qd = tl.dot(q, lo, tl.dot(q, hi))
            tl.store(h_base + (j0 + offs_16)[None, :] * S1 + rows[:, None], qd * h_scale,
                     mask=valid[:, None] & ((j0 + offs_16)[None, :] < nblk))


@triton.jit
def shift_g_kernel(a_ptr, kp_ptr, g_ptr, heads, groups, S1, nblk, causal_offset, DP: tl.constexpr,
                   BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr, GROUPS: tl.constexpr = 64):
    """The g table of the Hopper kernel (op._launch_hopper; dense calls): g = a·K'_jᵀ, one fp32 per query group and
    key, for GROUPS query groups of one head (the centres a of the query pass, rows (b·⌈S1/64⌉ + t)·heads + h) and
    every KV block one of them can see (causal: up to the last group's diagonal; the loop reads no other), one
    fp32-accumulating dot per block: G (B·N, ⌈S1/64⌉, nblk·BLOCK_N) fp32 (the Triton kernel forms the same products
    inside its loop, ``_block_step``)."""
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    n_groups = tl.cdiv(S1, QUERY_GROUP)
    grp = tl.program_id(0) * GROUPS + tl.arange(0, GROUPS)
    offs_d = tl.arange(0, DP)
    offs_t = tl.arange(0, BLOCK_N)
    a = tl.load(a_ptr + ((b * n_groups + grp) * heads + h).to(tl.int64)[:, None] * DP + offs_d[None, :],
                mask=(grp < n_groups)[:, None], other=0.0)
    kp_base = kp_ptr + (b * (heads // groups) + h // groups).to(tl.int64) * nblk * BLOCK_N * DP
    g_base = g_ptr + (bh.to(tl.int64) * n_groups + grp)[:, None] * (nblk * BLOCK_N) + offs_t[None, :]
    n_seen = nblk
    if CAUSAL:   # keys up to the last group's last row's diagonal
        n_seen = _blocks_seen(tl.minimum((tl.program_id(0) + 1) * GROUPS * QUERY_GROUP, S1) - 1 + causal_offset, nblk,
                              BLOCK_N)
    for j in range(0, n_seen):
        kt = tl.load(kp_base + (j * BLOCK_N + offs_t)[None, :] * DP + offs_d[:, None])
        tl.store(g_base + j * BLOCK_N, tl.dot(a, kt), mask=(grp < n_groups)[:, None])


@triton.jit
def _visibility(offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2, causal_offset,
                D: tl.constexpr, KV_LEN: tl.constexpr, MASKED: tl.constexpr, CAUSAL: tl.constexpr,
                MASK_KIND: tl.constexpr):
    """(visible, bias, v_mask) of a block: which keys each row sees (tile padding, sequence end, causal, a bool mask,
    an additive mask's −inf), the additive mask (fp32; 0 without one) and the load mask of the block's V tile (rows
    past the keys, columns past D). Unmasked blocks (MASKED False): every key is seen."""
    bias = 0.0
    if MASKED:
        visible = (offs_t[None, :] < KV_LEN) & (offs_n[None, :] < S2)
        if CAUSAL:
            visible = visible & (offs_n[None, :] <= offs_m[:, None] + causal_offset)
        if MASK_KIND != 0:
            mvals = tl.load(mask_base + offs_m[:, None] * stride_mm + offs_n[None, :] * stride_mn,
                            mask=(offs_m[:, None] < S1) & visible, other=0)
            if MASK_KIND == 1:
                visible = visible & (mvals != 0)
            else:
                bias = mvals.to(tl.float32)
                visible = visible & (bias != float("-inf"))
        v_mask = ((offs_t < KV_LEN) & (offs_n < S2))[:, None] & (offs_d[None, :] < D)
    else:
        visible = True
        v_mask = offs_d[None, :] < D
    return visible, bias, v_mask


@triton.jit
def _select(x, visible, bias, bias_scale, MASKED: tl.constexpr, MASK_KIND: tl.constexpr):
    """The scores the rows see: x + bias·bias_scale where a row sees the key, −inf where it does not — by selection,
    whatever x holds (never x + (−inf), which is NaN for x = +inf; docs/numerics.md, "Visibility")."""
    if MASK_KIND == 2:
        x = x + bias * bias_scale
    if MASKED:
        x = tl.where(visible, x, float("-inf"))
    return x


@triton.jit
def _fallback(z, h, visible, q_base, stride_qs, stride_qd, k_base, stride_ks, stride_kd, c_ref, offs_m, offs_t,
              offs_n, offs_d, S1, S2, h_scale, D: tl.constexpr, KV_LEN: tl.constexpr):
    """The exact variant's fp32 fallback (model._step_exact): a row whose z (log2 units) is non-finite at a key it
    sees (an fp16 S' entry overflowed) takes, for this block, z = log2e·s_h·(q·k) − log2e·s_h·(q·c_0) from the raw
    fp16 q and K_j (one fp32-accumulating dot) and h = 0."""
    bad = tl.where(visible, (tl.abs(z) < float("inf")) == 0, 0)                      # NaN counts too
    fb = tl.max(bad.to(tl.int32), axis=1) > 0
    qr = tl.load(q_base + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                 mask=(offs_m[:, None] < S1) & (offs_d[None, :] < D), other=0.0)
    kr = tl.load(k_base + offs_n[None, :] * stride_ks + offs_d[:, None] * stride_kd,
                 mask=((offs_t < KV_LEN) & (offs_n < S2))[None, :] & (offs_d[:, None] < D), other=0.0)
    qc0 = tl.sum(qr.to(tl.float32) * c_ref.to(tl.float32)[None, :], axis=1)
    zf = tl.dot(qr, kr) * h_scale - (qc0 * h_scale)[:, None]
    return tl.where(fb[:, None], zf, z), tl.where(fb, 0.0, h)


@triton.jit
def _block_step(acc, l_i, m_i, f_i, h_cur, q, a16, qr, c_ref, kp_base, c_base, h_base, k_base, stride_ks, stride_kd,
                v_base, stride_vs, stride_vd, mask_base, stride_mm, stride_mn, q_row0, stride_qs, stride_qd, kn_base,
                flag_ptrs, flag_ok, j, nblk, offs_m, S1, S2, causal_offset, sp_scale, h_scale, sp_safe, z_safe,
                kp_desc, v_desc, kp_row0, b, hkv, KV_TMA: tl.constexpr,
                D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr,
                H_MODE: tl.constexpr, SCALE_FOLD: tl.constexpr, NCHUNK: tl.constexpr, FALLBACK: tl.constexpr,
                ROWSUM_DOT: tl.constexpr):
    """One KV block of the exact variant's loop (model._step_exact, log2 units). MASKED: some key of the block is
    hidden from some row.

    z = S' + g: S' = fp16(Q'·K'ᵀ) (q: the program's Q' rows); g = a·K'ᵀ, one 16-row product for the program's
    NG = ⌈BLOCK_M / 64⌉ query groups (a16: row r holds group r mod NG's centre), split into bf16 parts and added to S'
    by a one-hot tensor-core product with S' as its accumulator (no per-score instruction).
    Overflow screen: with |Q'|²max (sp_safe) and |a|²max·(2s/Z_SAFE)² (z_safe) of the program and Σ kn ≥ |K'|²max of
    the block's live keys, sp_safe·Σkn < SP_SAFE_SQ means no S' entry can overflow and z_safe·Σkn < 1 that z stays far
    inside fp32; both false for NaN. A block that fails it sets the flags of the program's query groups (flag_ptrs
    where flag_ok; a branch that costs nothing where it is not taken), and the fallback launch (FALLBACK) recomputes
    those groups' rows: there a failing block runs the exact check and the fp32 fallback (``_fallback``).
    h = log2e·s_h·(q·(c_j − c_0)), qr the raw fp16 rows: H_MODE 3, from the query pass's table (h_cur: this block's,
    loaded one block ahead); H_MODE 4, for 16 blocks at once (h_cur: BLOCK_M×16, one pair of dots of qr with the hi
    and lo halves of c − c_0, ``_frame_halves``); H_MODE 2, a 16-column dot per block (hi_j and lo_j in its first
    two columns); H_MODE 0, no h (a timing bound only: wrong).
    SCALE_FOLD (not with an additive mask): the row max of z itself and s_rest folded into the exponent, x·s − r,
    one FFMA per score; the same r, since rounding x·s is monotone in x.
    KV_TMA: K' and V tiles by tensor-memory-accelerator copies (descriptors; V zero-filled past S2 and D), only
    where a tile is one whole contract block. ROWSUM_DOT: Σ P by a product with a ones tile.

    O and l are kept in the frame f of the last block that counts (the model keeps them in the frame of the running
    max m, O' = α·O + γ·(P·V), which needs a second accumulator), so the update is O' = c·O + P·V, one accumulator
    fed to the dot: c = 2^(f − top). A block whose top is 64 (log2) below the running max counts as nothing there
    (its weight γ < 2^-64; the model adds γ·P·V, far below fp32 resolution of O)."""
    BLOCK_M: tl.constexpr = q.shape[0]
    NG: tl.constexpr = (BLOCK_M + QUERY_GROUP - 1) // QUERY_GROUP
    offs_t = tl.arange(0, BLOCK_N)
    offs_n = j * KV_LEN + offs_t
    offs_d = tl.arange(0, DP)
    offs_16 = tl.arange(0, 16)
    if H_MODE == 3:   # h of the next block, loaded one step ahead so its latency hides behind this block's dots
        h_next = tl.load(h_base + (j + 1) * S1 + offs_m, mask=(offs_m < S1) & (j + 1 < nblk), other=0.0)
    elif H_MODE == 4:
        if j % 16 == 0:   # q·(c − c_0) for blocks j..j+15 (c: zero rows past the last block)
            hi, lo = _frame_halves(tl.load(c_base + (j + offs_16)[None, :] * DP + offs_d[:, None]), c_ref[:, None])
            h_cur = tl.dot(qr, lo, tl.dot(qr, hi)) * (2.0 * h_scale)
        h_next = h_cur
    else:
        h_next = h_cur
    if KV_TMA:
        kt = kp_desc.load([kp_row0 + j * BLOCK_N, 0]).T
    else:
        kt = tl.load(kp_base + (j * BLOCK_N + offs_t)[None, :] * DP + offs_d[:, None])  # K'ᵀ tile, padded, no checks
    # g = a·K'ᵀ in fp32 for the program's query groups (row r of gq: group r mod NG), split into three bf16 parts
    # (hi + mid + lo = g to fp32's precision, in bf16's range; rows 0..3NG-1 of `parts`, zeros below); a product with
    # a one-hot tile adds each row's group's parts to S' on the tensor cores, with S' as the accumulator: z = S' + g
    gq = tl.dot(a16, kt)
    hi = gq.to(tl.bfloat16)
    rest = gq - hi.to(tl.float32)
    mid = rest.to(tl.bfloat16)
    lo = (rest - mid.to(tl.float32)).to(tl.bfloat16)
    part = offs_16[:, None] // NG
    parts = tl.where(part == 0, hi, tl.where(part == 1, mid, tl.where(part == 2, lo, tl.zeros_like(hi))))
    onehot = tl.where((offs_16[None, :] % NG == (offs_m // QUERY_GROUP % NG)[:, None]) & (offs_16[None, :] < 3 * NG),
                      1.0, 0.0).to(tl.bfloat16)
    sp = _fp16(tl.dot(q, kt))                                                          # S' = fp16(Q'·K'ᵀ)
    z = tl.dot(onehot, parts, sp)                                                     # S' + g, fp32
    # h = log2e·s_h·(q·(c_j − c_0)), the shift the centring and the frame removed from this block's scores
    if H_MODE == 3:
        h = h_cur                                                                     # precomputed, coalesced
    elif H_MODE == 4:
        h = tl.sum(tl.where(offs_16[None, :] == j % 16, h_cur, 0.0), axis=1)
    elif H_MODE == 2:   # hi_j and lo_j in the first two columns of a 16-column dot, zeros in the others
        hi, lo = _frame_halves(tl.load(c_base + j * DP + offs_d), c_ref)
        ct = tl.where(offs_16[None, :] == 0, hi[:, None], tl.where(offs_16[None, :] == 1, lo[:, None], 0.0))
        h = tl.sum(tl.dot(qr, ct.to(tl.float16)), axis=1) * (2.0 * h_scale)
    else:
        h = tl.zeros([BLOCK_M], tl.float32)                                           # timing bound only: wrong
    if SCALE_FOLD:
        x_scale = sp_scale                                                            # x·sp_scale in the exponent
    else:
        z = z * sp_scale                                                              # log2e·s_rest·(S' + g)
        x_scale = 1.0
    visible, bias, v_mask = _visibility(offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2,
                                        causal_offset, D, KV_LEN, MASKED, CAUSAL, MASK_KIND)
    # the overflow screen: false where an fp16 S' entry may have overflowed (or z may leave fp32's range), and for NaN
    kn = tl.sum(tl.load(kn_base + j * NCHUNK + tl.arange(0, NCHUNK)), axis=0)
    safe = (sp_safe * kn < SP_SAFE_SQ) & (z_safe * kn < 1.0)
    if FALLBACK:
        if safe == 0:
            z, h = _fallback(z, h, visible, q_row0, stride_qs, stride_qd, k_base, stride_ks, stride_kd, c_ref,
                             offs_m, offs_t, offs_n, offs_d, S1, S2, h_scale, D, KV_LEN)
    else:
        if safe == 0:                                        # rare: the fallback launch recomputes these rows
            tl.store(flag_ptrs, tl.full(flag_ptrs.shape, 1, tl.int32), mask=flag_ok)
    x = _select(z, visible, bias, 1.4426950408889634, MASKED, MASK_KIND)
    r = tl.max(x, axis=1) * x_scale
    top = r + h
    if MASKED:
        m_new = tl.where(r != float("-inf"), tl.maximum(m_i, top, propagate_nan=tl.PropagateNan.ALL), m_i)
    else:
        m_new = tl.maximum(m_i, top, propagate_nan=tl.PropagateNan.ALL)                # a NaN row stays NaN
    skip = top < m_new - 64.0
    if MASKED:
        skip = skip | (r == float("-inf"))
    f_new = tl.where(skip, f_i, top)
    alpha = tl.where(skip, 1.0, tl.math.exp2(f_i - f_new))                            # f = −inf at first: 0
    p = tl.math.exp2(x * x_scale - tl.where(skip, float("inf"), r)[:, None]).to(tl.float16)  # P = fp16(exp(x − r))
    if ROWSUM_DOT:   # Σ P on the tensor cores (fp32 accumulation; 16 equal columns, one taken by a row max)
        rowsum = tl.max(tl.dot(p, tl.full([BLOCK_N, 16], 1.0, tl.float16)), axis=1)
    else:
        rowsum = tl.sum(p.to(tl.float32), axis=1)                                     # skipped rows: P = 0
    if KV_TMA:
        v = v_desc.load([b, hkv, j * KV_LEN, 0]).reshape(BLOCK_N, DP)
    else:
        v = tl.load(v_base + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd, mask=v_mask, other=0.0)
    l_new = alpha * l_i + rowsum
    acc_new = tl.dot(p, v, acc * alpha[:, None])
    return acc_new, l_new, m_new, f_new, h_next


@triton.jit
def _block_step_shifted(acc, l_i, m_i, f_i, count_i, q, kp_base, v_base, stride_vs, stride_vd, mask_base, stride_mm,
                        stride_mn, j, offs_m, S1, S2, causal_offset, coef_ptr,
                        D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                        MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, V_BF16: tl.constexpr,
                        PAPER: tl.constexpr):
    """One KV block of the pasa (fp32 statistics) or paper (fp16 everywhere) variant: model.py `_step_pasa` and
    `_step_paper`, line for line. S' = fp16(Q·K'ᵀ) with K' = M·K (the scale is inside M), its row mean recovers
    the removed shift, and the running pseudo-average f of the shifts is the frame of m, l and O. Rows that see no
    key of the block keep their state; count_i counts the blocks a row has seen. Both keep the model's natural
    units (the shifts and the frame f are of the size of the scores' common bias, 10^5 on the stress suite's
    resonance inputs) and take exp(a) as exp2(a·log2(e)) of the model's argument a. coef_ptr: the recovery
    coefficient for each block length n_j (index n_j)."""
    offs_t = tl.arange(0, BLOCK_N)
    offs_n = j * KV_LEN + offs_t
    offs_d = tl.arange(0, DP)
    kt = tl.load(kp_base + (j * BLOCK_N + offs_t)[None, :] * DP + offs_d[:, None])
    sp = _fp16(tl.dot(q, kt))                                                          # S' = fp16(Q·K'ᵀ)
    n_keys = tl.minimum(S2 - j * KV_LEN, KV_LEN)
    mu = tl.sum(sp, axis=1) / n_keys                         # row mean over the block's keys, before the mask
    coef = tl.load(coef_ptr + n_keys)
    if PAPER:
        shift = _fp16(coef * _fp16(mu))
    else:
        shift = coef * mu
    visible, bias, v_mask = _visibility(offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2,
                                        causal_offset, D, KV_LEN, MASKED, CAUSAL, MASK_KIND)
    x = _select(sp, visible, bias, 1.0, MASKED, MASK_KIND)
    if PAPER:
        x = _fp16(x)
    r = tl.max(x, axis=1)
    seen = r != float("-inf")
    r = tl.where(seen, r, 0.0)
    v = tl.load(v_base + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd, mask=v_mask, other=0.0)
    if V_BF16:
        v = v.to(tl.float32).to(tl.float16)
    if PAPER:
        f_new = _fp16(f_i + _fp16(_fp16(shift - f_i) / (count_i + 1.0)))
        d_new = _fp16(shift - f_new)
        m_old = _fp16(m_i + _fp16(f_i - f_new))
        top = _fp16(r + d_new)
        m_new = tl.maximum(m_old, top, propagate_nan=tl.PropagateNan.ALL)
        alpha = _fp16(tl.math.exp2(_fp16(m_old - m_new) * 1.4426950408889634))
        gamma = _fp16(tl.math.exp2(_fp16(top - m_new) * 1.4426950408889634))
        p = tl.math.exp2(_fp16(x - r[:, None]) * 1.4426950408889634).to(tl.float16)
        rowsum = _fp16(tl.sum(p.to(tl.float32), axis=1))
        pv = _fp16(tl.dot(p, v))
        l_new = _fp16(_fp16(alpha * l_i) + _fp16(gamma * rowsum))
        acc_new = _fp16(_fp16(acc * alpha[:, None]) + _fp16(pv * gamma[:, None]))
    else:
        f_new = f_i + (shift - f_i) / (count_i + 1.0)
        m_old = m_i + (f_i - f_new)
        top = r + (shift - f_new)
        m_new = tl.maximum(m_old, top, propagate_nan=tl.PropagateNan.ALL)
        alpha = tl.math.exp2((m_old - m_new) * 1.4426950408889634)
        gamma = tl.math.exp2((top - m_new) * 1.4426950408889634)
        p = tl.math.exp2((x - r[:, None]) * 1.4426950408889634).to(tl.float16)
        rowsum = tl.sum(p.to(tl.float32), axis=1)
        l_new = alpha * l_i + gamma * rowsum
        acc_new = acc * alpha[:, None] + tl.dot(p, v) * gamma[:, None]
    if MASKED:
        acc_new = tl.where(seen[:, None], acc_new, acc)
        l_new = tl.where(seen, l_new, l_i)
        m_new = tl.where(seen, m_new, m_i)
        f_new = tl.where(seen, f_new, f_i)
    return acc_new, l_new, m_new, f_new, count_i + seen.to(tl.float32)


@triton.jit
def _step(acc, l_i, m_i, f_i, aux, q, a16, qr, c_ref, kp_base, c_base, h_base, k_base, stride_ks, stride_kd, v_base,
          stride_vs, stride_vd, mask_base, stride_mm, stride_mn, q_row0, stride_qs, stride_qd, kn_base, flag_ptrs,
          flag_ok, j, nblk, offs_m, S1, S2, causal_offset, sp_scale, h_scale, sp_safe, z_safe, coef_ptr, kp_desc,
          v_desc, kp_row0, b, hkv, MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr,
          V_BF16: tl.constexpr, D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
          VARIANT: tl.constexpr, H_MODE: tl.constexpr, SCALE_FOLD: tl.constexpr, KV_TMA: tl.constexpr,
          NCHUNK: tl.constexpr, FALLBACK: tl.constexpr, ROWSUM_DOT: tl.constexpr):
    """One KV block of the variant's loop (MASKED: the step for blocks some row sees only in part)."""
    if VARIANT == 0:
        return _block_step(acc, l_i, m_i, f_i, aux, q, a16, qr, c_ref, kp_base, c_base, h_base, k_base, stride_ks,
                           stride_kd, v_base, stride_vs, stride_vd, mask_base, stride_mm, stride_mn, q_row0,
                           stride_qs, stride_qd, kn_base, flag_ptrs, flag_ok, j, nblk, offs_m, S1, S2, causal_offset,
                           sp_scale, h_scale, sp_safe, z_safe, kp_desc, v_desc, kp_row0, b, hkv, KV_TMA, D, DP,
                           KV_LEN, BLOCK_N, MASKED, CAUSAL, MASK_KIND, H_MODE, SCALE_FOLD, NCHUNK, FALLBACK,
                           ROWSUM_DOT)
    else:
        return _block_step_shifted(acc, l_i, m_i, f_i, aux, q, kp_base, v_base, stride_vs, stride_vd, mask_base,
                                   stride_mm, stride_mn, j, offs_m, S1, S2, causal_offset, coef_ptr, D, DP, KV_LEN,
                                   BLOCK_N, MASKED, CAUSAL, MASK_KIND, V_BF16, VARIANT == 2)


SMEM_BYTES = 227 * 1024   # shared memory one block may take on the H100 and H200 (232448 bytes)


def smem_estimate(block_m: int, dp: int, tile_n: int, stages: int, h_mode: int = 3, variant: int = 0,
                  kv_tma: bool = True, rowsum_dot: bool = False, mask_bytes: int = 0) -> int:
    """Shared memory of one program, as sm_90 compiles take it (scripts/cuda_compile_report.py), plus 2 KiB for
    Triton's own (its barriers take about 1 KiB): the Q tile, per pipeline stage a K' tile and a V tile, and where a
    mask is read (mask_bytes per entry) a BLOCK_M × BLOCK_N mask tile per stage but one. The exact variant (variant 0)
    adds its 16-row a tile and g-parts tile, the ones tile of rowsum_dot, the raw q tile and two 16-row c_j − c_0
    tiles where h comes from inside the loop (h_mode 2, 4), and its K' ring has one buffer fewer than the stages where
    tensor descriptors load it (its first reader, the g product, reads it synchronously)."""
    k_bufs = stages
    extra = 0
    if variant == 0:
        k_bufs = max(1, stages - 1) if kv_tma else stages
        extra = 16 * dp + 16 * tile_n * (2 if rowsum_dot else 1) + (block_m * dp + 32 * dp if h_mode in (2, 4) else 0)
    mask_tiles = max(1, stages - 1) * block_m * tile_n * mask_bytes
    return 2 * (block_m * dp + (k_bufs + stages) * tile_n * dp + extra) + mask_tiles + 2048


def default_config(dp: int, tile_n: int, h_mode: int = 3, variant: int = 0, kv_tma: bool = True,
                   rowsum_dot: bool = False, mask_bytes: int = 0, s1: int | None = None) -> dict:
    """The launch used without autotuning (the best measured on an H100, docs/cuda.md): 128 query rows and
    8 warps where the widest tile is 128, else 64 rows and 4 warps; as many pipeline stages (≤ 3) as shared memory
    holds (``smem_estimate``). pasa and paper (variant 1, 2) keep P·V beside O, a second fp32 tile: 64 rows on 8 warps
    and ≤ 2 stages, the launch that spills least in sm_90 compiles (scripts/cuda_compile_report.py: none at D = 80 and
    128 with and without masks, 40 bytes for paper with an additive mask at D = 64; 64 rows on 4 warps spill up to 312
    bytes, 128 on 8 up to 384; not yet timed). Decoding (s1 ≤ 16 query rows): 16 rows on 4 warps, the smallest tile
    tl.dot takes, so a one-row step does not load and multiply 64 or 128 rows (not yet timed)."""
    if s1 is not None and s1 <= 16:
        block_m, warps = 16, 4
    elif variant != 0:
        block_m, warps = 64, 8
    else:
        block_m, warps = (128, 8) if max(dp, tile_n) == 128 else (64, 4)
    max_stages = 3 if variant == 0 else 2
    stages = next((s for s in (3, 2, 1) if s <= max_stages and smem_estimate(
        block_m, dp, tile_n, s, h_mode, variant, kv_tma, rowsum_dot, mask_bytes) <= SMEM_BYTES), 1)
    return {"BLOCK_M": block_m, "num_warps": warps, "num_stages": stages}


def fallback_config(dp: int, tile_n: int) -> dict:
    """The exact variant's fallback launch (op._attention): 64 query rows on 4 warps and one pipeline stage, which
    leaves shared memory for the fallback's raw q and K tiles; most of its programs exit at once."""
    return {"BLOCK_M": 64, "num_warps": 4, "num_stages": 1}


def _configs():
    return [triton.Config({"BLOCK_M": bm}, num_warps=w, num_stages=s)
            for bm, w, s in [(128, 8, 3), (128, 8, 2), (64, 4, 3), (64, 4, 2), (64, 4, 1)]]


def _prune(configs, named_args, **kwargs):
    """Drop tiles whose fp32 accumulator would not fit in the warps' registers beside the score tile, and
    pipelines deeper than shared memory holds."""
    args = {**named_args, **kwargs}
    dp, tile_n = args["DP"], args["BLOCK_N"]
    per_thread = lambda c: c.kwargs["BLOCK_M"] * max(dp, tile_n) // (32 * c.num_warps)  # noqa: E731
    keep = [c for c in configs if per_thread(c) <= 128 and (c.num_warps == 8 or c.kwargs["BLOCK_M"] == 64 or
                                                             max(dp, tile_n) <= 64)
            and smem_estimate(c.kwargs["BLOCK_M"], dp, tile_n, c.num_stages, args["H_MODE"], args["VARIANT"],
                              args["KV_TMA"], args["ROWSUM_DOT"], args["mask_ptr"].element_size()
                              if args["MASK_KIND"] else 0) <= SMEM_BYTES]
    return keep or [triton.Config({"BLOCK_M": 64}, num_warps=4, num_stages=1)]


@triton.jit
def _finish(acc, l_i, m_i, f_i, aux, sink, frame, VARIANT: tl.constexpr, HAS_SINKS: tl.constexpr):
    """The epilogue (model._finish): the sink joins each row's normaliser as one more key of value zero, in the row's
    frame, then out = O / l and lse = m + F + log l in natural units; rows that saw no key give zeros and lse = the
    sink (−inf without). exact works in log2 units with O and l in the frame f of the last block that counts (the
    sink counts unless it is 64 below the running max, as a block); its F is `frame`, s_h·(q·c_0) per row (the part
    of every score it never forms), so the sink enters as t = sink − F. pasa and paper work in the model's natural
    units in the pseudo-average frame f, paper rounding each step to fp16."""
    if VARIANT == 0:
        seen = m_i != float("-inf")
        if HAS_SINKS:
            t = (sink - frame) * 1.4426950408889634
            m_new = tl.maximum(m_i, t, propagate_nan=tl.PropagateNan.ALL)
            skip = t < m_new - 64.0
            f_new = tl.where(skip, f_i, t)
            alpha = tl.where(skip, 1.0, tl.math.exp2(f_i - f_new))
            l_i = alpha * l_i + tl.where(skip, 0.0, 1.0)
            acc = acc * alpha[:, None]
            f_i = f_new
        lse = (f_i * LN2 + frame) + tl.log(l_i)
    elif VARIANT == 1:
        seen = aux > 0
        if HAS_SINKS:
            t = sink - f_i
            m_new = tl.maximum(m_i, t, propagate_nan=tl.PropagateNan.ALL)
            alpha = tl.math.exp2((m_i - m_new) * 1.4426950408889634)
            l_i = alpha * l_i + tl.math.exp2((t - m_new) * 1.4426950408889634)
            acc = acc * alpha[:, None]
            m_i = m_new
        lse = (m_i + f_i) + tl.log(l_i)
    else:
        seen = aux > 0
        if HAS_SINKS:
            t = _fp16(_fp16(sink) - f_i)
            m_new = tl.maximum(m_i, t, propagate_nan=tl.PropagateNan.ALL)
            alpha = _fp16(tl.math.exp2(_fp16(m_i - m_new) * 1.4426950408889634))
            gamma = _fp16(tl.math.exp2(_fp16(t - m_new) * 1.4426950408889634))
            l_i = _fp16(_fp16(alpha * l_i) + gamma)
            acc = _fp16(acc * alpha[:, None])
            m_i = m_new
        lse = (m_i + f_i) + tl.log(l_i)
    out = acc / tl.where(seen, l_i, 1.0)[:, None]
    if VARIANT == 2:
        out = _fp16(out)
    out = tl.where(seen[:, None], out, 0.0)
    lse = tl.where(seen, lse, sink)
    return out, lse


@triton.jit
def attention_kernel(q_ptr, qp_ptr, a_ptr, k_ptr, kp_ptr, c_ptr, kn_ptr, h_ptr, exp_ptr, flag_ptr, v_ptr, mask_ptr,
                     out_ptr, lse_ptr, sinks_ptr, coef_ptr, cu_q_ptr, cu_k_ptr, blk0_ptr, cblk0_ptr, gq0_ptr,
                     kp_desc, v_desc,
                     stride_qb, stride_qh, stride_qs, stride_qd,
                     stride_pb, stride_ph, stride_ps,
                     stride_kb, stride_kh, stride_ks, stride_kd,
                     stride_vb, stride_vh, stride_vs, stride_vd,
                     stride_mb, stride_mh, stride_mm, stride_mn,
                     stride_ob, stride_oh, stride_os, stride_od,
                     stride_lb, stride_lh, stride_ls, split_stride_o, split_stride_l, split_blocks,
                     heads, groups, S1, S2, causal_offset, sp_scale, h_scale, frame_scale, S1_KEY, S2_KEY,
                     D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_M: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, Q_BF16: tl.constexpr,
                     VARIANT: tl.constexpr = 0, H_MODE: tl.constexpr = 3, SCALE_FOLD: tl.constexpr = False,
                     KV_TMA: tl.constexpr = False, NCHUNK: tl.constexpr = 1, SLICES: tl.constexpr = False,
                     FALLBACK: tl.constexpr = False, ROWSUM_DOT: tl.constexpr = False,
                     RETURN_LSE: tl.constexpr = False, HAS_SINKS: tl.constexpr = False, VARLEN: tl.constexpr = False,
                     BOTTOM_RIGHT: tl.constexpr = False, SPLIT: tl.constexpr = False):
    """VARIANT 0: exact (``_block_step``), reading the host's preparation (op.prepare_exact): Q' (qp, strides
    stride_p*) and the query centres a (one row per query group and head: (g0 + group)·heads + h) from the query pass,
    K', the block centres c and the key-norm bounds kn (NCHUNK per block) from the key pass, the h table (H_MODE 3),
    the overflow flags (one per query group and head, as a), sp_scale, h_scale and frame_scale (log2e·s_rest,
    log2e·s, s) and, for bf16 slices (SLICES), each head's exponents (exp_ptr); q and k: the fp16 inputs (bf16 slices
    scaled), read by the fallback, by h inside the loop (H_MODE 2, 4) and by the frame F = s_h·(q·c_0) of the lse and
    the sink. FALLBACK: the second launch, which recomputes the programs whose groups' flags are set (the others exit
    at once), with the fp32 fallback. 1: pasa, 2: paper (q_ptr the raw input; coef_ptr, the recovery coefficient
    per block length; ``_block_step_shifted``; the exact-only pointers unused). kp_desc, v_desc: descriptors of K'
    (rows, DP) and V (B, Nkv, S2, D) where KV_TMA, else unused. RETURN_LSE: also store each row's natural-log lse
    (B, N, S1 by stride_l*); HAS_SINKS: the sink of each head (sinks_ptr, fp32) joins the normaliser in the epilogue.
    VARLEN: sequence b of a packed batch is q rows cu_q[b]:cu_q[b + 1] (TND: stride_qb, stride_pb unused) and keys
    cu_k[b]:cu_k[b + 1]; its K' tiles and centre rows start at blk0[b]·Nkv and cblk0[b]·Nkv (op.Seqs), its query
    groups at gq0[b], the causal offset is its own S2 − S1 where BOTTOM_RIGHT; programs past a sequence's rows
    return at once. SPLIT (flash-decoding): program_id(2) takes KV blocks [split·split_blocks, (split + 1)·split_blocks)
    and stores its normalised output (fp32) and lse split_stride_o and split_stride_l further on per split, no sink;
    every part keeps the sequence's frame (c_0, F), so the host merges the splits by lse (pasa.merge_attention) and
    applies the sink there."""
    tl.static_assert(BLOCK_N >= KV_LEN)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    hkv = h // groups
    if VARLEN:
        q_start = tl.load(cu_q_ptr + b)
        S1 = tl.load(cu_q_ptr + b + 1) - q_start
        k_start = tl.load(cu_k_ptr + b)
        S2 = tl.load(cu_k_ptr + b + 1) - k_start
        if BOTTOM_RIGHT:
            causal_offset = S2 - S1
        n_mblk = tl.cdiv(S1, BLOCK_M)
        if tl.program_id(0) >= n_mblk:
            return
        nblk = tl.cdiv(S2, KV_LEN)
        tile0 = tl.load(blk0_ptr + b) * (heads // groups) + hkv * nblk
        crow0 = tl.load(cblk0_ptr + b) * (heads // groups) + hkv * (tl.cdiv(nblk, 16) * 16)
        g0 = tl.load(gq0_ptr + b)
        q_row0 = q_ptr + q_start.to(tl.int64) * stride_qs + h * stride_qh
        qp_row0 = qp_ptr + q_start.to(tl.int64) * stride_ps + h * stride_ph
        k_base = k_ptr + k_start.to(tl.int64) * stride_ks + hkv * stride_kh
        v_base = v_ptr + k_start.to(tl.int64) * stride_vs + hkv * stride_vh
        o_row0 = out_ptr + q_start.to(tl.int64) * stride_os + h * stride_oh
        l_row0 = lse_ptr + q_start.to(tl.int64) * stride_ls + h * stride_lh
    else:
        n_mblk = tl.cdiv(S1, BLOCK_M)
        nblk = tl.cdiv(S2, KV_LEN)
        kvh = b * (heads // groups) + hkv
        tile0 = kvh.to(tl.int64) * nblk
        crow0 = kvh.to(tl.int64) * (tl.cdiv(nblk, 16) * 16)
        g0 = b * tl.cdiv(S1, QUERY_GROUP)
        q_row0 = q_ptr + b.to(tl.int64) * stride_qb + h * stride_qh
        qp_row0 = qp_ptr + b.to(tl.int64) * stride_pb + h * stride_ph
        k_base = k_ptr + b.to(tl.int64) * stride_kb + hkv * stride_kh
        v_base = v_ptr + b.to(tl.int64) * stride_vb + hkv * stride_vh
        o_row0 = out_ptr + b.to(tl.int64) * stride_ob + h * stride_oh
        l_row0 = lse_ptr + b.to(tl.int64) * stride_lb + h * stride_lh
    start_m = n_mblk - 1 - tl.program_id(0)            # the longest causal rows first
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, DP)
    kp_base = kp_ptr + tile0 * BLOCK_N * DP
    kp_row0 = (tile0 * BLOCK_N).to(tl.int32)                # tensor descriptors take 32-bit offsets
    c_base = c_ptr + crow0 * DP
    kn_base = kn_ptr + tile0 * NCHUNK
    h_base = h_ptr + bh.to(tl.int64) * nblk * S1
    mask_base = mask_ptr + b.to(tl.int64) * stride_mb + h * stride_mh

    # KV blocks [lo, n_plain) need no mask; [n_plain, hi) are masked; blocks past hi are hidden from every row
    hi = nblk
    if KV_LEN == BLOCK_N:
        n_plain = S2 // KV_LEN
    else:
        n_plain = 0
    if CAUSAL:
        last_visible = start_m * BLOCK_M + BLOCK_M - 1 + causal_offset     # by the program's last row
        hi = _blocks_seen(last_visible, hi, KV_LEN)
        first_full = start_m * BLOCK_M + causal_offset + 1                  # keys every row of the program sees
        n_plain = tl.minimum(n_plain, tl.maximum(first_full, 0) // KV_LEN)
    if MASK_KIND != 0:
        n_plain = 0
    lo = 0
    if SPLIT:   # this program's part of the key axis (split_blocks is a multiple of 16: H_MODE 4's groups)
        lo = tl.program_id(2) * split_blocks
        hi = tl.minimum(hi, lo + split_blocks)
        o_row0 += tl.program_id(2).to(tl.int64) * split_stride_o
        l_row0 += tl.program_id(2).to(tl.int64) * split_stride_l
    # exact: the flags of the program's query groups (NG of them; a program of fewer than 64 rows is in one group),
    # set where a block of the program fails the overflow screen
    NG: tl.constexpr = (BLOCK_M + QUERY_GROUP - 1) // QUERY_GROUP
    n_groups = tl.cdiv(S1, QUERY_GROUP)
    group0 = start_m * BLOCK_M // QUERY_GROUP
    flag_ptrs = flag_ptr + (g0 + group0 + tl.arange(0, NG)) * heads + h
    flag_ok = group0 + tl.arange(0, NG) < n_groups
    run = True
    if FALLBACK:   # the fallback launch recomputes only the programs with a flag set
        run = tl.max(tl.load(flag_ptrs, mask=flag_ok, other=0), axis=0) != 0
        hi = tl.where(run, hi, lo)
    n_plain = tl.maximum(tl.minimum(n_plain, hi), lo)

    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, DP], tl.float32)
    row_ok = offs_m < S1
    if VARIANT == 0:
        q = tl.load(qp_row0 + offs_m[:, None] * stride_ps + offs_d[None, :], mask=row_ok[:, None] & run,
                    other=0.0)                                                          # Q'
        group16 = group0 + tl.arange(0, 16) % NG                                        # row r: group r mod NG
        a16 = tl.load(a_ptr + ((g0 + group16) * heads + h).to(tl.int64)[:, None] * DP + offs_d[None, :],
                      mask=(group16 < n_groups)[:, None] & run, other=0.0)              # the groups' centres
        score_factor, out_scale = _slice_scales(exp_ptr, bh, SLICES)
        sp_scale = sp_scale * score_factor
        h_scale = h_scale * score_factor
        frame_scale = frame_scale * score_factor
        c_ref = tl.load(c_base + offs_d, mask=nblk > 0, other=0.0)                      # c_0, the rows' frame
        # the overflow screen's per-program factors (_block_step): the largest |Q'|² and |a|², and whether
        # 65504·s_rest itself stays far from fp32's range (bf16 slices with huge scales); false for NaN
        qf, af = q.to(tl.float32), a16.to(tl.float32)
        sp_safe = tl.reduce(tl.sum(qf * qf, axis=1), 0, _max_nan)
        sp_safe = tl.where(65504.0 * sp_scale < 0.5 * Z_SAFE, sp_safe, float("inf"))
        z_safe = tl.reduce(tl.sum(af * af, axis=1), 0, _max_nan)
        z_safe = z_safe * (2.0 * sp_scale / Z_SAFE) * (2.0 * sp_scale / Z_SAFE)
        m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        f_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        if H_MODE == 2 or H_MODE == 4:   # h from the raw q inside the loop
            qr = tl.load(q_row0 + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                         mask=row_ok[:, None] & (offs_d[None, :] < D) & run, other=0.0)
        else:
            qr = q
        if H_MODE == 3:   # aux: h of the current block
            aux = tl.load(h_base + lo * S1 + offs_m, mask=row_ok & (lo < nblk), other=0.0)
        elif H_MODE == 4:   # aux: h of the current group of 16 blocks
            aux = tl.zeros([BLOCK_M, 16], tl.float32)
        else:
            aux = tl.zeros([BLOCK_M], tl.float32)
    else:
        q = tl.load(q_row0 + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                    mask=row_ok[:, None] & (offs_d[None, :] < D), other=0.0)
        if Q_BF16:
            q = q.to(tl.float32).to(tl.float16)
        a16, qr = q, q
        sp_safe, z_safe = 0.0, 0.0
        c_ref = tl.zeros([DP], tl.float16)
        out_scale = 1.0
        m_i = tl.full([BLOCK_M], -60000.0 if VARIANT == 2 else float("-inf"), tl.float32)  # model.PAPER_MAX_INIT
        f_i = tl.zeros([BLOCK_M], tl.float32)
        aux = tl.zeros([BLOCK_M], tl.float32)                                           # aux: blocks seen
    for j in range(lo, n_plain):
        acc, l_i, m_i, f_i, aux = _step(acc, l_i, m_i, f_i, aux, q, a16, qr, c_ref, kp_base, c_base, h_base, k_base,
                                        stride_ks, stride_kd, v_base, stride_vs, stride_vd, mask_base, stride_mm,
                                        stride_mn, q_row0, stride_qs, stride_qd, kn_base, flag_ptrs, flag_ok, j, nblk,
                                        offs_m, S1, S2, causal_offset, sp_scale, h_scale, sp_safe, z_safe, coef_ptr,
                                        kp_desc, v_desc, kp_row0, b, hkv, False, CAUSAL, MASK_KIND, Q_BF16, D, DP,
                                        KV_LEN, BLOCK_N, VARIANT, H_MODE, SCALE_FOLD, KV_TMA, NCHUNK, FALLBACK,
                                        ROWSUM_DOT)
    for j in range(n_plain, hi):
        acc, l_i, m_i, f_i, aux = _step(acc, l_i, m_i, f_i, aux, q, a16, qr, c_ref, kp_base, c_base, h_base, k_base,
                                        stride_ks, stride_kd, v_base, stride_vs, stride_vd, mask_base, stride_mm,
                                        stride_mn, q_row0, stride_qs, stride_qd, kn_base, flag_ptrs, flag_ok, j, nblk,
                                        offs_m, S1, S2, causal_offset, sp_scale, h_scale, sp_safe, z_safe, coef_ptr,
                                        kp_desc, v_desc, kp_row0, b, hkv, True, CAUSAL, MASK_KIND, Q_BF16, D, DP,
                                        KV_LEN, BLOCK_N, VARIANT, H_MODE, SCALE_FOLD, KV_TMA, NCHUNK, FALLBACK,
                                        ROWSUM_DOT)
    if HAS_SINKS:
        sink = tl.load(sinks_ptr + h)
    else:
        sink = float("-inf")
    frame = tl.zeros([BLOCK_M], tl.float32)
    if VARIANT == 0 and (RETURN_LSE or HAS_SINKS):   # F = s_h·(q·c_0), one fp32 dot per row (model._exact_frame)
        qf = tl.load(q_row0 + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                     mask=row_ok[:, None] & (offs_d[None, :] < D) & run, other=0.0)
        frame = tl.sum(qf.to(tl.float32) * c_ref.to(tl.float32)[None, :], axis=1) * frame_scale
    out, lse = _finish(acc, l_i, m_i, f_i, aux, sink, frame, VARIANT, HAS_SINKS)
    if VARIANT == 0 and SLICES:
        out = out * out_scale                                                         # 2^εv (bf16 slices)
    tl.store(o_row0 + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od, out.to(out_ptr.dtype.element_ty),
             mask=row_ok[:, None] & (offs_d[None, :] < D) & run)
    if RETURN_LSE:
        tl.store(l_row0 + offs_m * stride_ls, lse, mask=row_ok & run)


@triton.jit
def merge_splits_kernel(po_ptr, pl_ptr, sinks_ptr, out_ptr, lse_ptr, rows, splits, split_stride_o, split_stride_l,
                        S1, heads, tokens, D: tl.constexpr, DP: tl.constexpr, BLOCK_R: tl.constexpr,
                        TND: tl.constexpr, HAS_SINKS: tl.constexpr, RETURN_LSE: tl.constexpr):
    """Flash-decoding's second step (op._merge_splits): BLOCK_R output rows merged over the key axis's parts by their
    lse (pasa.merge_attention's steps in fp32: top = max lse_i, lse = top + log Σ exp(lse_i − top), out = Σ
    exp(lse_i − lse)·out_i), then with the sink as a part of value zero. po: the parts' normalised fp32 outputs,
    each laid out as out (contiguous rows of D, split_stride_o apart); pl: their lse, as lse (split_stride_l apart).
    Row r of out is (b, head, s) with head = (r // S1) % heads (BNSD) or (t, head) with head = r % heads and its lse at
    head·tokens + t (TND). A row no part saw gives zeros and lse = the sink (−inf without). The sink merges in a second
    step, as merge_attention([out, 0], [lse, sink]) would (the same roundings)."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ok = r < rows
    offs_d = tl.arange(0, DP)
    if TND:
        head = r % heads
        l_off = head * tokens + r // heads
    else:
        head = (r // S1) % heads
        l_off = r
    top = tl.full([BLOCK_R], float("-inf"), tl.float32)
    for i in range(0, splits):
        top = tl.maximum(top, tl.load(pl_ptr + i * split_stride_l + l_off, mask=ok, other=float("-inf")),
                         propagate_nan=tl.PropagateNan.ALL)
    top = tl.where(top == float("-inf"), 0.0, top)                  # rows no part saw: weights 0 below
    total = tl.zeros([BLOCK_R], tl.float32)
    for i in range(0, splits):
        total += tl.exp(tl.load(pl_ptr + i * split_stride_l + l_off, mask=ok, other=float("-inf")) - top)
    lse = top + tl.log(total)
    acc = tl.zeros([BLOCK_R, DP], tl.float32)
    o_mask = ok[:, None] & (offs_d[None, :] < D)
    for i in range(0, splits):
        w = tl.exp(tl.load(pl_ptr + i * split_stride_l + l_off, mask=ok, other=float("-inf")) - lse)
        w = tl.where(lse == float("-inf"), 0.0, w)
        o = tl.load(po_ptr + i * split_stride_o + r.to(tl.int64)[:, None] * D + offs_d[None, :], mask=o_mask,
                    other=0.0)
        acc += w[:, None] * o
    if HAS_SINKS:   # a second merge with the sink, a part of value zero (as op's former merge_attention calls did)
        sink = tl.load(sinks_ptr + head, mask=ok, other=float("-inf"))
        top = tl.maximum(lse, sink, propagate_nan=tl.PropagateNan.ALL)
        top = tl.where(top == float("-inf"), 0.0, top)
        merged = top + tl.log(tl.exp(lse - top) + tl.exp(sink - top))
        acc = tl.where(merged == float("-inf"), 0.0, tl.exp(lse - merged))[:, None] * acc
        lse = merged
    tl.store(out_ptr + r.to(tl.int64)[:, None] * D + offs_d[None, :], acc.to(out_ptr.dtype.element_ty), mask=o_mask)
    if RETURN_LSE:
        tl.store(lse_ptr + l_off, lse, mask=ok)


# the same kernel, tuned once per key (the host calls it only with PASA_CUDA_AUTOTUNE=1: on the H100 the tuner's
# picks, timed on one input, came out 3-14% slower than default_config; docs/cuda.md)
attention_kernel_tuned = triton.autotune(
    configs=_configs(), key=["S1_KEY", "S2_KEY", "DP", "BLOCK_N", "KV_LEN", "CAUSAL", "MASK_KIND", "Q_BF16", "VARIANT",
                             "H_MODE", "VARLEN", "SPLIT"],
    prune_configs_by={"early_config_prune": _prune})(attention_kernel)
