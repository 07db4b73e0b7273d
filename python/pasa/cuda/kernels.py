"""Triton kernels of the contract's variants (docs/numerics.md, python/pasa/model.py `_step_exact`, `_step_pasa`,
`_step_paper`). pasa and paper use the first and third launch below (K' = M·K in the first, ``_block_step_shifted``
in the third); the exact variant, described here, uses all three:
1. ``shift_k_kernel``: one program per (KV block j, batch·kv-head, 64 columns). It reads its part of block j of
   K once and writes the block's centre c_j (fp16, exact) and K'_j = fp16(2^e·(K_j − c_j)), padded with zero
   rows to the tile and zero columns to the padded head dim DP, so the attention loop loads K' with no checks.
2. ``shift_h_kernel``: the removed shifts h = log2e·s·(Q·c_j) for every query row and KV block (16 blocks per
   fp32-accumulating dot), one contiguous fp32 vector per block; skipped where that table would pass
   op.H_TABLE_LIMIT × Q's bytes (long S2), and the loop computes Q·c_j itself (H_MODE 2).
3. ``attention_kernel``: one program per (BLOCK_M query rows, batch·head), the flash-attention loop over KV
   blocks of the contract's length n. Per block: S' = fp16(Q·K'ᵀ) (fp32-accumulating tensor-core dot),
   x = s_rest·S' + bias, r = rowmax x, P = fp16(exp(x − r)), top = r + h, then the running max/sum/output
   update (``_block_step``). Exponentials are exp2 with log2(e) folded into the scales, so m, r, h and top are
   kept in log2 units.
Causal programs skip the KV blocks nobody in their rows can see, and run the masked step only on the blocks that
cross the diagonal, the sequence end or a user mask; the programs with the longest rows start first.
"""
from __future__ import annotations

import triton
import triton.language as tl

LOG2E = 1.4426950408889634
ROUND_MAGIC = tl.constexpr(6755399441055744.0)  # 1.5·2^52: (x + M) − M rounds a float64 |x| < 2^51 to the nearest even integer

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
def shift_k_kernel(k_ptr, kp_ptr, c_ptr, me_ptr, cu_k_ptr, blk0_ptr, cblk0_ptr, stride_kb, stride_kh, stride_ks,
                   stride_kd, kv_heads, S2, c_rows, pow2,
                   D: tl.constexpr, DP: tl.constexpr, DC: tl.constexpr, KV_LEN: tl.constexpr,
                   BLOCK_N: tl.constexpr, KV_POW2: tl.constexpr, MATRIX: tl.constexpr = False,
                   SUM64: tl.constexpr = False, VARLEN: tl.constexpr = False):
    """Block j, columns [DC·i, DC·(i+1)) of one kv head of one sequence.

    exact (MATRIX False): c_j = the block's column mean on each column's fp16 grid, K'_j = fp16(2^e·(K_j − c_j))
    in fp32. The column sum is exact: each fp16 value is an integer multiple of 2^-24 below 2^40, summed as
    int64, then one rounding of sum / n in float64 (the model's exact mean).
    pasa, paper (MATRIX True): K'_j = fp16(M·K_j), M = d on the diagonal and −e off it (the fp16 entries for the
    block's length n_j: me_ptr[2·n_j], me_ptr[2·n_j + 1]), as the model's fp32 matrix product sums it: over the
    block's keys in order, one rounding per key (each product of two fp16 values is exact). The shifted variants'
    output depends on that order: on the stress suite's resonance inputs, K' rounded once from the exact M·K
    (d·K_i − e·(ΣK − K_i), or float64) moves pasa's output 0.10 RMSE from the model's (0.8 × the model's own error),
    a sum in key order 0 (docs/cuda.md).
    VARLEN: sequence b's keys start at cu_k[b] of a (T, Nkv, D) k; its K' tiles start at tile blk0[b]·Nkv and its
    centres at row cblk0[b]·Nkv (op.Seqs); programs past the sequence's last block return at once."""
    j = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // kv_heads
    h = bh % kv_heads
    if VARLEN:
        k_start = tl.load(cu_k_ptr + b)
        S2 = tl.load(cu_k_ptr + b + 1) - k_start
        nblk = tl.cdiv(S2, KV_LEN)
        if j >= nblk:
            return
        c_rows = tl.cdiv(nblk, 16) * 16
        tile0 = tl.load(blk0_ptr + b) * kv_heads + h * nblk
        crow0 = tl.load(cblk0_ptr + b) * kv_heads + h * c_rows
        k_base = k_ptr + k_start.to(tl.int64) * stride_ks + h * stride_kh
    else:
        nblk = tl.cdiv(S2, KV_LEN)
        tile0 = bh.to(tl.int64) * nblk
        crow0 = bh.to(tl.int64) * c_rows
        k_base = k_ptr + b.to(tl.int64) * stride_kb + h * stride_kh
    cols = tl.program_id(2) * DC + tl.arange(0, DC)
    rows = j * KV_LEN + tl.arange(0, BLOCK_N)
    mask = ((tl.arange(0, BLOCK_N) < KV_LEN) & (rows < S2))[:, None] & (cols[None, :] < D)
    k = tl.load(k_base + rows[:, None] * stride_ks + cols[None, :] * stride_kd, mask=mask, other=0.0)
    if k.dtype == tl.bfloat16:
        k = k.to(tl.float32).to(tl.float16)                            # the contract rounds inputs to fp16
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
        if SUM64:
            mean = tl.sum(k.to(tl.float64), axis=0)                   # also exact: ≤ 1024 values of 40 bits
        else:
            mean = tl.sum((k * 16777216.0).to(tl.int64), axis=0).to(tl.float64) * 5.960464477539063e-08
        fsum = tl.sum(k, axis=0)                                      # non-finite where a value is
        top = tl.max(tl.abs(k), axis=0)
        if KV_POW2 and count == KV_LEN:   # float64 division is a slow subroutine; by a power of two it is exact
            mean = mean * (1.0 / KV_LEN)
        else:
            mean = mean / count
        # ulp of fp16 at the column's largest magnitude: 2^(E − 10) for top in [2^E, 2^(E+1)), 2^-24 below 2^-14;
        # its reciprocal likewise from the exponent bits, so mean / ulp is an exact product
        biased = (top.to(tl.int32, bitcast=True) >> 23) & 0xFF
        normal = top >= 6.103515625e-05
        ulp = tl.where(normal, ((biased - 10) << 23).to(tl.float32, bitcast=True), 5.960464477539063e-08)
        inv_ulp = tl.where(normal, ((264 - biased) << 23).to(tl.float32, bitcast=True), 16777216.0)
        steps = (mean * inv_ulp.to(tl.float64) + ROUND_MAGIC) - ROUND_MAGIC   # round half to even, as torch.round
        c = (steps * ulp.to(tl.float64)).to(tl.float32)
        c = tl.where(tl.abs(fsum) < float("inf"), c, fsum)          # inf/NaN columns: c = ±inf/NaN, as the model
        kp = tl.where(mask, ((k - c[None, :]) * pow2).to(tl.float16), 0.0)
        tl.store(c_ptr + (crow0 + j) * DP + cols, c.to(tl.float16))
    tl.store(kp_ptr + out_rows[:, None] * DP + cols[None, :], kp)


@triton.jit
def shift_h_kernel(q_ptr, c_ptr, h_ptr, stride_qb, stride_qh, stride_qs, stride_qd, heads, groups, S1, nblk, c_rows,
                   h_scale, causal_offset, D: tl.constexpr, DP: tl.constexpr, BLOCK_M: tl.constexpr,
                   Q_BF16: tl.constexpr, CAUSAL: tl.constexpr, KV_LEN: tl.constexpr):
    """The removed shifts h[i, j] = log2e·s·(Q_i·c_j) of BLOCK_M query rows for every KV block (causal: every block
    one of the rows can see; the attention loop reads no other), 16 blocks per fp32-accumulating dot, stored per
    block as a contiguous vector over the rows: H (B·N, nblk, S1) fp32."""
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    kvh = b * (heads // groups) + h // groups
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, DP)
    offs_16 = tl.arange(0, 16)
    q = tl.load(q_ptr + b.to(tl.int64) * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs
                + offs_d[None, :] * stride_qd, mask=(offs_m[:, None] < S1) & (offs_d[None, :] < D), other=0.0)
    if Q_BF16:
        q = q.to(tl.float32).to(tl.float16)
    c_base = c_ptr + kvh.to(tl.int64) * c_rows * DP
    h_base = h_ptr + bh.to(tl.int64) * nblk * S1
    n_seen = nblk
    if CAUSAL:   # keys up to the last row's diagonal
        last_key = tl.minimum(tl.program_id(0) * BLOCK_M + BLOCK_M, S1) - 1 + causal_offset
        n_seen = _blocks_seen(last_key, nblk, KV_LEN)
    for j0 in range(0, n_seen, 16):
        ct = tl.load(c_base + (j0 + offs_16)[None, :] * DP + offs_d[:, None])        # zero rows past nblk
        hc = tl.dot(q, ct) * h_scale
        tl.store(h_base + (j0 + offs_16)[None, :] * S1 + offs_m[:, None], hc,
                 mask=(offs_m[:, None] < S1) & ((j0 + offs_16)[None, :] < nblk))


@triton.jit
def _mask_scores(x, offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2, causal_offset, bias_scale,
                 D: tl.constexpr, KV_LEN: tl.constexpr, MASKED: tl.constexpr, CAUSAL: tl.constexpr,
                 MASK_KIND: tl.constexpr):
    """The block's scores x with every key a row does not see at −inf (tile padding, sequence end, causal, a bool
    mask) and an additive mask added (times bias_scale: log2(e) where x is in log2 units), and the load mask of the
    block's V tile (rows past the keys, columns past D). Unmasked blocks (MASKED False) pass x through."""
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
                x = x + mvals.to(tl.float32) * bias_scale
        x = tl.where(visible, x, float("-inf"))
        v_mask = ((offs_t < KV_LEN) & (offs_n < S2))[:, None] & (offs_d[None, :] < D)
    else:
        v_mask = offs_d[None, :] < D
    return x, v_mask


@triton.jit
def _block_step(acc, l_i, m_i, f_i, h_cur, q, kp_base, c_base, h_base, v_base, stride_vs, stride_vd, mask_base,
                stride_mm, stride_mn, j, nblk, offs_m, S1, S2, causal_offset, sp_scale, h_scale,
                kp_desc, v_desc, kp_row0, b, hkv, KV_TMA: tl.constexpr,
                D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, V_BF16: tl.constexpr,
                H_MODE: tl.constexpr, SCALE_FOLD: tl.constexpr):
    """One KV block of the contract's loop (log2 units). MASKED: some key of the block is hidden from some row.

    h_cur: h of this block (H_MODE 3, the table), or Q·c for the 16 blocks of this block's group of 16 (H_MODE 4:
    one BLOCK_M×16 dot per 16 blocks instead of the table; this block's column is picked out of it).
    SCALE_FOLD (not with an additive mask): the row max of S' itself and s_rest folded into the exponent, x·s − r,
    one FFMA per score; the same r, since rounding x·s is monotone in x.
    KV_TMA: K' and V tiles by tensor-memory-accelerator copies (descriptors; V zero-filled past S2 and D), only
    where a tile is one whole contract block.

    O and l are kept in the frame f of the last block that counts (the model keeps them in the frame of the running
    max m, O' = α·O + γ·(P·V), which needs a second accumulator), so the update is O' = c·O + P·V, one accumulator
    fed to the dot: c = 2^(f − top). A block whose top is 64 (log2) below the running max counts as nothing there
    (its weight γ < 2^-64; the model adds γ·P·V, far below fp32 resolution of O)."""
    offs_t = tl.arange(0, BLOCK_N)
    offs_n = j * KV_LEN + offs_t
    offs_d = tl.arange(0, DP)
    offs_16 = tl.arange(0, 16)
    if H_MODE == 3:   # h of the next block, loaded one step ahead so its latency hides behind this block's dots
        h_next = tl.load(h_base + (j + 1) * S1 + offs_m, mask=(offs_m < S1) & (j + 1 < nblk), other=0.0)
    elif H_MODE == 4:
        if j % 16 == 0:   # Q·c for blocks j..j+15 (c has zero rows past the last block)
            ct = tl.load(c_base + (j + offs_16)[None, :] * DP + offs_d[:, None])
            h_cur = tl.dot(q, ct) * h_scale
        h_next = h_cur
    else:
        h_next = h_cur
    if KV_TMA:
        kt = kp_desc.load([kp_row0 + j * BLOCK_N, 0]).T
    else:
        kt = tl.load(kp_base + (j * BLOCK_N + offs_t)[None, :] * DP + offs_d[:, None])  # K'ᵀ tile, padded, no checks
    sp = _fp16(tl.dot(q, kt))                                                          # S' = fp16(Q·K'ᵀ)
    # h = log2e·s·(Q·c_j), the shift the centring removed from this block's scores
    if H_MODE == 3:
        h = h_cur                                                                     # precomputed, coalesced
    elif H_MODE == 4:
        h = tl.sum(tl.where(offs_16[None, :] == j % 16, h_cur, 0.0), axis=1)
    elif H_MODE == 2:
        ct = tl.load(c_base + j * DP + offs_d[:, None] + 0 * offs_16[None, :])     # c_j in all 16 columns
        h = tl.max(tl.dot(q, ct), axis=1) * h_scale
    else:
        h = tl.zeros([q.shape[0]], tl.float32)                                        # timing bound only: wrong
    if SCALE_FOLD:
        x = sp                                                                        # x·sp_scale in the exponent
        x_scale = sp_scale
    else:
        x = sp * sp_scale                                                             # log2e·s_rest·S'
        x_scale = 1.0
    x, v_mask = _mask_scores(x, offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2, causal_offset,
                             1.4426950408889634, D, KV_LEN, MASKED, CAUSAL, MASK_KIND)
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
    rowsum = tl.sum(p.to(tl.float32), axis=1)                                         # skipped rows: P = 0
    if KV_TMA:
        v = v_desc.load([b, hkv, j * KV_LEN, 0]).reshape(BLOCK_N, DP)
    else:
        v = tl.load(v_base + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd, mask=v_mask, other=0.0)
    if V_BF16:
        v = v.to(tl.float32).to(tl.float16)
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
    x, v_mask = _mask_scores(sp, offs_m, offs_t, offs_n, offs_d, mask_base, stride_mm, stride_mn, S1, S2,
                             causal_offset, 1.0, D, KV_LEN, MASKED, CAUSAL, MASK_KIND)
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
def _step(acc, l_i, m_i, f_i, aux, q, kp_base, c_base, h_base, v_base, stride_vs, stride_vd, mask_base, stride_mm,
          stride_mn, j, nblk, offs_m, S1, S2, causal_offset, sp_scale, h_scale, coef_ptr, kp_desc, v_desc,
          kp_row0, b, hkv, MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, V_BF16: tl.constexpr,
          D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr, VARIANT: tl.constexpr,
          H_MODE: tl.constexpr, SCALE_FOLD: tl.constexpr, KV_TMA: tl.constexpr):
    """One KV block of the variant's loop (MASKED: the step for blocks some row sees only in part)."""
    if VARIANT == 0:
        return _block_step(acc, l_i, m_i, f_i, aux, q, kp_base, c_base, h_base, v_base, stride_vs, stride_vd,
                           mask_base, stride_mm, stride_mn, j, nblk, offs_m, S1, S2, causal_offset, sp_scale, h_scale,
                           kp_desc, v_desc, kp_row0, b, hkv, KV_TMA, D, DP, KV_LEN, BLOCK_N, MASKED, CAUSAL,
                           MASK_KIND, V_BF16, H_MODE, SCALE_FOLD)
    else:
        return _block_step_shifted(acc, l_i, m_i, f_i, aux, q, kp_base, v_base, stride_vs, stride_vd, mask_base,
                                   stride_mm, stride_mn, j, offs_m, S1, S2, causal_offset, coef_ptr, D, DP,
                                   KV_LEN, BLOCK_N, MASKED, CAUSAL, MASK_KIND, V_BF16, VARIANT == 2)


SMEM_BYTES = 227 * 1024   # shared memory one block may take on the H100 and H200 (232448 bytes)


def smem_estimate(block_m: int, dp: int, tile_n: int, stages: int, h_mode: int = 3) -> int:
    """Shared memory of one program: Q, per pipeline stage a K' tile, a V tile and (h_mode 2) a c_j tile, the c tile
    of h_mode 4, plus 2 KiB for Triton's own (512 bytes in sm_90 compiles of these
    kernels, 1080 with tensor-descriptor copies: scripts/cuda_compile_report.py)."""
    c_tile = 16 * dp * (stages if h_mode == 2 else 1 if h_mode == 4 else 0)
    return 2 * (block_m * dp + stages * 2 * tile_n * dp + c_tile) + 2048


def default_config(dp: int, tile_n: int, h_mode: int = 3, variant: int = 0, s1: int | None = None) -> dict:
    """The launch used without autotuning (the best measured on an H100, docs/cuda.md): 128 query rows and
    8 warps where the widest tile is 128, else 64 rows and 4 warps; as many pipeline stages (≤ 3) as shared memory
    holds. pasa and paper (variant 1, 2) keep P·V beside O, a second fp32 tile: 64 rows on 8 warps and ≤ 2 stages,
    the launch that spills least in sm_90 compiles (scripts/cuda_compile_report.py: none at D = 80 and 128 with
    and without masks, 40 bytes for paper with an additive mask at D = 64; 64 rows on 4 warps spill up to 312 bytes,
    128 on 8 up to 384; not yet timed). Decoding (s1 ≤ 16 query rows): 16 rows on 4 warps, the smallest tile
    tl.dot takes, so a one-row step does not load and multiply 64 or 128 rows (not yet timed)."""
    if s1 is not None and s1 <= 16:
        block_m, warps = 16, 4
    elif variant != 0:
        block_m, warps = 64, 8
    else:
        block_m, warps = (128, 8) if max(dp, tile_n) == 128 else (64, 4)
    max_stages = 3 if variant == 0 else 2
    stages = next((s for s in (3, 2, 1) if s <= max_stages and smem_estimate(block_m, dp, tile_n, s, h_mode) <= SMEM_BYTES),
                  1)
    return {"BLOCK_M": block_m, "num_warps": warps, "num_stages": stages}


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
            and smem_estimate(c.kwargs["BLOCK_M"], dp, tile_n, c.num_stages, args["H_MODE"])
            <= SMEM_BYTES]
    return keep or [triton.Config({"BLOCK_M": 64}, num_warps=4, num_stages=1)]


@triton.jit
def _finish(acc, l_i, m_i, f_i, aux, sink, VARIANT: tl.constexpr, HAS_SINKS: tl.constexpr):
    """The epilogue (model._finish): the sink joins each row's normaliser as one more key of value zero, in the row's
    frame, then out = O / l and lse = m + F + log l in natural units; rows that saw no key give zeros and lse = the
    sink (−inf without). exact works in log2 units with O and l in the frame f of the last block that counts (the
    sink counts unless it is 64 below the running max, as a block); pasa and paper in the model's natural units in
    the pseudo-average frame f, paper rounding each step to fp16."""
    if VARIANT == 0:
        seen = m_i != float("-inf")
        if HAS_SINKS:
            t = sink * 1.4426950408889634
            m_new = tl.maximum(m_i, t, propagate_nan=tl.PropagateNan.ALL)
            skip = t < m_new - 64.0
            f_new = tl.where(skip, f_i, t)
            alpha = tl.where(skip, 1.0, tl.math.exp2(f_i - f_new))
            l_i = alpha * l_i + tl.where(skip, 0.0, 1.0)
            acc = acc * alpha[:, None]
            f_i = f_new
        lse = (f_i + tl.math.log2(l_i)) * 0.6931471805599453
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
def attention_kernel(q_ptr, kp_ptr, c_ptr, h_ptr, v_ptr, mask_ptr, out_ptr, lse_ptr, sinks_ptr, coef_ptr,
                     cu_q_ptr, cu_k_ptr, blk0_ptr, cblk0_ptr, kp_desc, v_desc,
                     stride_qb, stride_qh, stride_qs, stride_qd,
                     stride_vb, stride_vh, stride_vs, stride_vd,
                     stride_mb, stride_mh, stride_mm, stride_mn,
                     stride_ob, stride_oh, stride_os, stride_od,
                     stride_lb, stride_lh, stride_ls, split_stride_o, split_stride_l, split_blocks,
                     heads, groups, S1, S2, causal_offset, sp_scale, h_scale, S1_KEY, S2_KEY,
                     D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_M: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, Q_BF16: tl.constexpr,
                     VARIANT: tl.constexpr = 0, H_MODE: tl.constexpr = 3, SCALE_FOLD: tl.constexpr = False,
                     KV_TMA: tl.constexpr = False, RETURN_LSE: tl.constexpr = False, HAS_SINKS: tl.constexpr = False,
                     VARLEN: tl.constexpr = False, BOTTOM_RIGHT: tl.constexpr = False, SPLIT: tl.constexpr = False):
    """VARIANT 0: exact (sp_scale, h_scale; ``_block_step``); 1: pasa, 2: paper (coef_ptr, the recovery coefficient
    per block length; ``_block_step_shifted``). kp_desc, v_desc: descriptors of K' (rows, DP) and V (B, Nkv, S2, D)
    where KV_TMA, else unused. RETURN_LSE: also store each row's natural-log lse (B, N, S1 by stride_l*);
    HAS_SINKS: the sink of each head (sinks_ptr, fp32) joins the normaliser in the epilogue.
    VARLEN: sequence b of a packed batch is q rows cu_q[b]:cu_q[b + 1] (TND: stride_qb unused) and keys
    cu_k[b]:cu_k[b + 1]; its K' tiles and centre rows start at blk0[b]·Nkv and cblk0[b]·Nkv (op.kv_tiles), the causal
    offset is its own S2 − S1 where BOTTOM_RIGHT; programs past a sequence's rows return at once.
    SPLIT (flash-decoding): program_id(2) takes KV blocks [split·split_blocks, (split + 1)·split_blocks) and stores
    its normalised output (fp32) and lse split_stride_o and split_stride_l further on per split, no sink; the host
    merges the splits by lse (pasa.merge_attention) and applies the sink there."""
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
        q_row0 = q_ptr + q_start.to(tl.int64) * stride_qs + h * stride_qh
        v_base = v_ptr + k_start.to(tl.int64) * stride_vs + hkv * stride_vh
        o_row0 = out_ptr + q_start.to(tl.int64) * stride_os + h * stride_oh
        l_row0 = lse_ptr + q_start.to(tl.int64) * stride_ls + h * stride_lh
    else:
        n_mblk = tl.cdiv(S1, BLOCK_M)
        nblk = tl.cdiv(S2, KV_LEN)
        kvh = b * (heads // groups) + hkv
        tile0 = kvh.to(tl.int64) * nblk
        crow0 = kvh.to(tl.int64) * (tl.cdiv(nblk, 16) * 16)
        q_row0 = q_ptr + b.to(tl.int64) * stride_qb + h * stride_qh
        v_base = v_ptr + b.to(tl.int64) * stride_vb + hkv * stride_vh
        o_row0 = out_ptr + b.to(tl.int64) * stride_ob + h * stride_oh
        l_row0 = lse_ptr + b.to(tl.int64) * stride_lb + h * stride_lh
    start_m = n_mblk - 1 - tl.program_id(0)            # the longest causal rows first
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, DP)
    q = tl.load(q_row0 + offs_m[:, None] * stride_qs + offs_d[None, :] * stride_qd,
                mask=(offs_m[:, None] < S1) & (offs_d[None, :] < D), other=0.0)
    if Q_BF16:
        q = q.to(tl.float32).to(tl.float16)
    kp_base = kp_ptr + tile0 * BLOCK_N * DP
    kp_row0 = (tile0 * BLOCK_N).to(tl.int32)                # tensor descriptors take 32-bit offsets
    c_base = c_ptr + crow0 * DP
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
    n_plain = tl.maximum(tl.minimum(n_plain, hi), lo)

    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, DP], tl.float32)
    if VARIANT == 0:
        m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        f_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        if H_MODE == 3:   # aux: h of the current block
            aux = tl.load(h_base + lo * S1 + offs_m, mask=(offs_m < S1) & (lo < nblk), other=0.0)
        elif H_MODE == 4:   # aux: Q·c of the current group of 16 blocks
            aux = tl.zeros([BLOCK_M, 16], tl.float32)
        else:
            aux = tl.zeros([BLOCK_M], tl.float32)
    else:
        m_i = tl.full([BLOCK_M], -60000.0 if VARIANT == 2 else float("-inf"), tl.float32)  # model.PAPER_MAX_INIT
        f_i = tl.zeros([BLOCK_M], tl.float32)
        aux = tl.zeros([BLOCK_M], tl.float32)                                           # aux: blocks seen
    for j in range(lo, n_plain):
        acc, l_i, m_i, f_i, aux = _step(acc, l_i, m_i, f_i, aux, q, kp_base, c_base, h_base, v_base, stride_vs, stride_vd,
                                        mask_base, stride_mm, stride_mn, j, nblk, offs_m, S1, S2, causal_offset, sp_scale,
                                        h_scale, coef_ptr, kp_desc, v_desc, kp_row0, b, hkv, False, CAUSAL,
                                        MASK_KIND, Q_BF16, D, DP, KV_LEN, BLOCK_N, VARIANT, H_MODE, SCALE_FOLD, KV_TMA)
    for j in range(n_plain, hi):
        acc, l_i, m_i, f_i, aux = _step(acc, l_i, m_i, f_i, aux, q, kp_base, c_base, h_base, v_base, stride_vs, stride_vd,
                                        mask_base, stride_mm, stride_mn, j, nblk, offs_m, S1, S2, causal_offset, sp_scale,
                                        h_scale, coef_ptr, kp_desc, v_desc, kp_row0, b, hkv, True, CAUSAL,
                                        MASK_KIND, Q_BF16, D, DP, KV_LEN, BLOCK_N, VARIANT, H_MODE, SCALE_FOLD, KV_TMA)
    if HAS_SINKS:
        sink = tl.load(sinks_ptr + h)
    else:
        sink = float("-inf")
    out, lse = _finish(acc, l_i, m_i, f_i, aux, sink, VARIANT, HAS_SINKS)
    row_ok = offs_m < S1
    tl.store(o_row0 + offs_m[:, None] * stride_os + offs_d[None, :] * stride_od, out.to(out_ptr.dtype.element_ty),
             mask=row_ok[:, None] & (offs_d[None, :] < D))
    if RETURN_LSE:
        tl.store(l_row0 + offs_m * stride_ls, lse, mask=row_ok)


# the same kernel, tuned once per key (the host calls it only with PASA_CUDA_AUTOTUNE=1: on the H100 the tuner's
# picks, timed on one input, came out 3-14% slower than default_config; docs/cuda.md)
attention_kernel_tuned = triton.autotune(
    configs=_configs(), key=["S1_KEY", "S2_KEY", "DP", "BLOCK_N", "KV_LEN", "CAUSAL", "MASK_KIND", "Q_BF16", "VARIANT", "H_MODE",
                             "VARLEN", "SPLIT"],
    prune_configs_by={"early_config_prune": _prune})(attention_kernel)
