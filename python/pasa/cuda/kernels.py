"""Triton kernels of the exact variant (docs/numerics.md, python/pasa/model.py `_step_exact`).

Two launches per call:
1. ``shift_k_kernel``: one program per (KV block j, batch·kv-head). It reads block j of K once and writes the
   block's centre c_j (fp16, exact) and K'_j = fp16(2^e·(K_j − c_j)), padded with zero rows to the tile and
   zero columns to the padded head dim DP, so the attention loop loads K' with no bounds checks.
2. ``attention_kernel``: one program per (BLOCK_M query rows, batch·head), the flash-attention loop over KV
   blocks of the contract's length n. Per block: S' = fp16(Q·K'ᵀ) (fp32-accumulating tensor-core dot), the
   removed shift h = s·(Q·c_j) (a second, 16-column dot), x = s_rest·S' + bias, r = rowmax x, P = fp16(exp(x − r)),
   top = r + h, then the running max/sum/output update with the factors α, γ of the contract. Exponentials are
   exp2 with log2(e) folded into the scales, so m, r, h and top are kept in log2 units.
Causal programs skip the KV blocks nobody in their rows can see, and run the masked step only on the blocks that
cross the diagonal, the sequence end or a user mask.
"""
from __future__ import annotations

import os

import triton
import triton.language as tl

LOG2E = 1.4426950408889634
ROUND_MAGIC = tl.constexpr(6755399441055744.0)  # 1.5·2^52: (x + M) − M rounds a float64 |x| < 2^51 to the nearest even integer

MASK_NONE, MASK_BOOL, MASK_FLOAT = 0, 1, 2


@triton.jit
def shift_k_kernel(k_ptr, kp_ptr, c_ptr, stride_kb, stride_kh, stride_ks, stride_kd, kv_heads, S2, pow2,
                   D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr):
    """c_j: the block's column mean on each column's fp16 grid; K'_j = fp16(2^e·(K_j − c_j)) in fp32."""
    j = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // kv_heads
    h = bh % kv_heads
    rows = j * KV_LEN + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, DP)
    in_block = (tl.arange(0, BLOCK_N) < KV_LEN) & (rows < S2)
    mask = in_block[:, None] & (cols[None, :] < D)
    k = tl.load(k_ptr + b * stride_kb + h * stride_kh + rows[:, None] * stride_ks + cols[None, :] * stride_kd,
                mask=mask, other=0.0)
    k = k.to(tl.float32).to(tl.float16).to(tl.float32)              # the contract rounds inputs to fp16
    count = tl.minimum(S2 - j * KV_LEN, KV_LEN)
    mean = tl.sum(k.to(tl.float64), axis=0) / count                 # exact: n fp16 values sum exactly in float64
    top = tl.max(tl.abs(k), axis=0)
    # ulp of fp16 at the column's largest magnitude: 2^(E − 10) for top in [2^E, 2^(E+1)), 2^-24 below 2^-14
    biased = (top.to(tl.int32, bitcast=True) >> 23) & 0xFF
    ulp = tl.where(top >= 6.103515625e-05, ((biased - 10) << 23).to(tl.float32, bitcast=True), 5.960464477539063e-08)
    ulp64 = ulp.to(tl.float64)
    steps = (mean / ulp64 + ROUND_MAGIC) - ROUND_MAGIC               # round half to even, as torch.round
    c = (steps * ulp64).to(tl.float32)
    kp = ((k - c[None, :]) * pow2).to(tl.float16)
    kp = tl.where(mask, kp, 0.0)
    out_rows = j * BLOCK_N + tl.arange(0, BLOCK_N)
    nblk = tl.cdiv(S2, KV_LEN)
    base = bh.to(tl.int64) * nblk
    tl.store(kp_ptr + (base * BLOCK_N + out_rows[:, None]) * DP + cols[None, :], kp)
    tl.store(c_ptr + (base + j) * DP + cols, c.to(tl.float16))


@triton.jit
def _block_step(acc, l_i, m_i, q, kp_base, c_base, v_base, stride_vs, stride_vd, mask_base, stride_mm, stride_mn,
                j, offs_m, S1, S2, causal_offset, sp_scale, h_scale,
                D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                MASKED: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, V_BF16: tl.constexpr):
    """One KV block of the contract's loop. MASKED: some key of the block is hidden from some row."""
    offs_t = tl.arange(0, BLOCK_N)
    offs_n = j * KV_LEN + offs_t
    offs_d = tl.arange(0, DP)
    kt = tl.load(kp_base + (j * BLOCK_N + offs_t)[None, :] * DP + offs_d[:, None])     # K'ᵀ tile, padded, no checks
    sp = tl.dot(q, kt).to(tl.float16)                                                 # S' = fp16(Q·K'ᵀ)
    ct = tl.load(c_base + j * DP + offs_d[:, None] + 0 * tl.arange(0, 16)[None, :])   # c_j in every column
    h = tl.max(tl.dot(q, ct), axis=1) * h_scale                                       # log2e·s·(Q·c_j)
    x = sp.to(tl.float32) * sp_scale                                                  # log2e·s_rest·S'
    if MASKED:
        visible = (offs_t[None, :] < KV_LEN) & (offs_n[None, :] < S2)
        if CAUSAL:
            visible = visible & (offs_n[None, :] <= offs_m[:, None] + causal_offset)
        if MASK_KIND != 0:
            in_range = (offs_m[:, None] < S1) & visible
            mvals = tl.load(mask_base + offs_m[:, None] * stride_mm + offs_n[None, :] * stride_mn, mask=in_range,
                            other=0)
            if MASK_KIND == 1:
                visible = visible & (mvals != 0)
            else:
                x = x + mvals.to(tl.float32) * 1.4426950408889634
        x = tl.where(visible, x, float("-inf"))
        r = tl.max(x, axis=1)
        seen = r != float("-inf")
        p = tl.math.exp2(x - tl.where(seen, r, 0.0)[:, None]).to(tl.float16)          # P = fp16(exp(x − r))
        top = r + h
        m_new = tl.where(seen, tl.maximum(m_i, top), m_i)
        alpha = tl.where(seen, tl.math.exp2(m_i - m_new), 1.0)
        gamma = tl.where(seen, tl.math.exp2(top - m_new), 0.0)
        v_mask = ((offs_t < KV_LEN) & (offs_n < S2))[:, None] & (offs_d[None, :] < D)
    else:
        r = tl.max(x, axis=1)
        p = tl.math.exp2(x - r[:, None]).to(tl.float16)
        top = r + h
        m_new = tl.maximum(m_i, top)
        alpha = tl.math.exp2(m_i - m_new)
        gamma = tl.math.exp2(top - m_new)
        v_mask = offs_d[None, :] < D
    v = tl.load(v_base + offs_n[:, None] * stride_vs + offs_d[None, :] * stride_vd, mask=v_mask, other=0.0)
    if V_BF16:
        v = v.to(tl.float32).to(tl.float16)
    pv = tl.dot(p, v)
    l_new = alpha * l_i + gamma * tl.sum(p.to(tl.float32), axis=1)
    acc_new = acc * alpha[:, None] + pv * gamma[:, None]
    if MASKED:
        acc_new = tl.where(seen[:, None], acc_new, acc)                 # a row that sees no key keeps its state
        l_new = tl.where(seen, l_new, l_i)
    return acc_new, l_new, m_new


def default_config(dp: int, tile_n: int) -> dict:
    """The launch used without autotuning: 128 query rows and 8 warps, 64 rows where a tile is 256 wide."""
    return {"BLOCK_M": 128 if max(dp, tile_n) <= 128 else 64, "num_warps": 8, "num_stages": 2}


def _configs():
    return [triton.Config({"BLOCK_M": bm}, num_warps=w, num_stages=s)
            for bm, w, s in [(128, 8, 2), (128, 8, 3), (64, 4, 3), (128, 4, 3), (64, 8, 2)]]


def _prune(configs, named_args, **kwargs):
    """Drop tiles whose two fp32 accumulators (acc and P·V) would not fit in the warps' registers."""
    args = {**named_args, **kwargs}
    width = max(args["DP"], args["BLOCK_N"])
    per_thread = lambda c: c.kwargs["BLOCK_M"] * width // (32 * c.num_warps)  # noqa: E731 (fp32 values each)
    return [c for c in configs if per_thread(c) <= 64] or configs[-1:]


@triton.jit
def attention_kernel(q_ptr, kp_ptr, c_ptr, v_ptr, mask_ptr, out_ptr,
                     stride_qb, stride_qh, stride_qs, stride_qd,
                     stride_vb, stride_vh, stride_vs, stride_vd,
                     stride_mb, stride_mh, stride_mm, stride_mn,
                     stride_ob, stride_oh, stride_os, stride_od,
                     heads, groups, S1, S2, causal_offset, sp_scale, h_scale, S1_KEY, S2_KEY,
                     D: tl.constexpr, DP: tl.constexpr, KV_LEN: tl.constexpr, BLOCK_N: tl.constexpr,
                     BLOCK_M: tl.constexpr, CAUSAL: tl.constexpr, MASK_KIND: tl.constexpr, Q_BF16: tl.constexpr):
    tl.static_assert(BLOCK_N >= KV_LEN)
    n_mblk = tl.cdiv(S1, BLOCK_M)
    start_m = n_mblk - 1 - tl.program_id(0)            # the longest causal rows first
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    kvh = b * (heads // groups) + h // groups
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, DP)
    q = tl.load(q_ptr + b.to(tl.int64) * stride_qb + h * stride_qh + offs_m[:, None] * stride_qs
                + offs_d[None, :] * stride_qd, mask=(offs_m[:, None] < S1) & (offs_d[None, :] < D), other=0.0)
    if Q_BF16:
        q = q.to(tl.float32).to(tl.float16)
    nblk = tl.cdiv(S2, KV_LEN)
    kp_base = kp_ptr + kvh.to(tl.int64) * nblk * BLOCK_N * DP
    c_base = c_ptr + kvh.to(tl.int64) * nblk * DP
    v_base = v_ptr + b.to(tl.int64) * stride_vb + (h // groups) * stride_vh
    mask_base = mask_ptr + b.to(tl.int64) * stride_mb + h * stride_mh

    # KV blocks [0, n_plain) need no mask; [n_plain, hi) are masked; blocks past hi are hidden from every row
    hi = nblk
    if KV_LEN == BLOCK_N:
        n_plain = S2 // KV_LEN
    else:
        n_plain = 0
    if CAUSAL:
        last_visible = start_m * BLOCK_M + BLOCK_M - 1 + causal_offset     # by the program's last row
        hi = tl.minimum(hi, tl.maximum(last_visible + 1, 0) // KV_LEN + (tl.maximum(last_visible + 1, 0) % KV_LEN > 0))
        first_full = start_m * BLOCK_M + causal_offset + 1                  # keys every row of the program sees
        n_plain = tl.minimum(n_plain, tl.maximum(first_full, 0) // KV_LEN)
    if MASK_KIND != 0:
        n_plain = 0
    n_plain = tl.minimum(n_plain, hi)

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, DP], tl.float32)
    for j in range(0, n_plain):
        acc, l_i, m_i = _block_step(acc, l_i, m_i, q, kp_base, c_base, v_base, stride_vs, stride_vd, mask_base,
                                    stride_mm, stride_mn, j, offs_m, S1, S2, causal_offset, sp_scale, h_scale,
                                    D, DP, KV_LEN, BLOCK_N, False, CAUSAL, MASK_KIND, Q_BF16)
    for j in range(n_plain, hi):
        acc, l_i, m_i = _block_step(acc, l_i, m_i, q, kp_base, c_base, v_base, stride_vs, stride_vd, mask_base,
                                    stride_mm, stride_mn, j, offs_m, S1, S2, causal_offset, sp_scale, h_scale,
                                    D, DP, KV_LEN, BLOCK_N, True, CAUSAL, MASK_KIND, Q_BF16)
    seen = m_i != float("-inf")
    out = acc / tl.where(seen, l_i, 1.0)[:, None]
    out = tl.where(seen[:, None], out, 0.0)
    tl.store(out_ptr + b.to(tl.int64) * stride_ob + h * stride_oh + offs_m[:, None] * stride_os
             + offs_d[None, :] * stride_od, out.to(out_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < S1) & (offs_d[None, :] < D))


# the same kernel, tuned once per key (the host calls it unless PASA_CUDA_AUTOTUNE=0)
attention_kernel_tuned = triton.autotune(
    configs=_configs(), key=["S1_KEY", "S2_KEY", "DP", "BLOCK_N", "KV_LEN", "CAUSAL", "MASK_KIND", "Q_BF16"],
    prune_configs_by={"early_config_prune": _prune})(attention_kernel)
