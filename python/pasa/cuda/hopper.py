"""Warp-specialised Hopper (sm_90) kernel of the exact variant's attention loop, in Gluon (Triton 3.6's
``triton.experimental.gluon``): the loop of ``kernels.attention_kernel`` over the same preparation (``op.prepare_exact``:
the key pass, the query pass with its h table; plus the g table of ``kernels.shift_g_kernel``), scheduled as
FlashAttention-3 schedules it (Shah et al., "FlashAttention-3", arXiv:2407.08608, sections 3.1-3.2):

- a producer warp copies K' and V tiles by TMA into a ring of STAGES shared-memory buffers each, guarded by
  mbarriers (ready: the copy landed, expect-tx; empty: every consumer is done with the buffer);
- NC consumer warpgroups (2 by default, ``consumers``) own 64 query rows each — exactly one of the contract's
  64-row query groups, so its query centre a, its per-key term g = a·K'ᵀ and its overflow flag are the warpgroup's
  own — and run the contract's block step on them: S' = fp16(Q'·K'ᵀ) by wgmma, z = S' + g, the softmax statistics in
  fp32 in registers, P = fp16(exp(x − r)) kept in registers as the A operand of the P·V wgmma and of P·1, the
  rowsum, so that O and l are both tensor-core accumulators;
- inside a warpgroup, block t's Q'·K'ᵀ and block t−1's P·V are issued together and (at NC = 2) the softmax of block
  t runs while that P·V is still in the tensor cores (intra-warpgroup overlap); between the warpgroups, one
  mbarrier each passes the turn to issue products round robin (ping-pong), so one warpgroup's products run while
  the others do their softmax.

The numerics are ``kernels._block_step``'s with SCALE_FOLD (same fp16 S', g = a·K'ᵀ in fp32 added to it, the shift h
relative to c_0 from the table, the same P; fp32 m, l, f, one accumulator kept in the frame of the last block that
counts); only the order of fp32 sums differs. The overflow screen is the Triton kernel's (the warpgroup's largest
|Q'|² and its |a|² against each block's key-norm bound): a warpgroup whose blocks fail it sets its query group's flag,
and the Triton kernel's fallback launch, which op._attention runs after this kernel, redoes the flagged groups with
the fp32 fallback. The epilogue adds the sink and writes the lse with the frame F = s_h·(q·c_0), as ``kernels._finish``.
Covered: fp16 and bf16 (the exact variant's bf16 slices: Q', K', V in fp16, each head's powers of two applied here),
GQA, both causal alignments, any S1 and S2, padded head dim DP 64 or 128 (D ≤ 128), KV blocks of 64 or 128 keys, lse
and sinks; no user mask, no packed or split call, the h and g tables within their limits (``op.use_hopper``,
``op._attention``; docs/cuda.md).
"""
from __future__ import annotations

import triton.language as tl
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                              warpgroup_mma_wait)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from .kernels import LN2, QUERY_GROUP, SP_SAFE_SQ, Z_SAFE

ROWS = 64          # query rows per consumer warpgroup (one 64-row query group)
STAGES = 2         # K' and V buffers each: Q (32 KiB) + 2 × (K' + V) (128 KiB) at DP = BLOCK_N = 128
NUM_WARPS = 4      # the default partition: consumer warpgroup 0
PRODUCER_REGS = gl.constexpr(24)
PINGPONG = True    # the consumer warpgroups take turns issuing their products (False: each when ready)
CONSUMERS = None   # consumer warpgroups per program; None: consumers(dp)
BOUND = 0          # timing bounds only (scripts/tune_cuda.py; _softmax): 0 is the contract


def consumers(dp: int) -> int:
    """Consumer warpgroups per program: 2 (S, O, P and the group's g row take about 190 of their 240 registers at
    DP = 128). Before g, 3 at DP = 64 were 9% faster than 2 on the H200 (D = 64, S = 4k; docs/cuda.md); with g's 32
    registers per thread, 3 warpgroups at 160 registers spill about 77 local loads and stores per block in sm_90
    compiles and 2 none, so 2 is the default until the two are timed again (scripts/tune_cuda.py, "hopper 3
    consumers")."""
    return CONSUMERS or 2


# per consumer count: (the kernel's maxnreg, each worker consumer's registers). (4·n + 4) warps share the 65536
# registers: the producer's warpgroup keeps 24 per thread, the consumers the rest (setmaxnreg at the partitions)
REGISTERS = {2: (168, 240), 3: (128, 160)}


def descriptors(kp, v, dp: int, tile_n: int):
    """Tensor descriptors of K' (rows, DP), one tile = one KV block, and of V (B, Nkv, S2, D), one tile = one KV block
    of one head (zero-filled past S2 and past D)."""
    k_layout = gl.NVMMASharedLayout.get_default_for([tile_n, dp], gl.float16)
    v_layout = gl.NVMMASharedLayout.get_default_for([1, 1, tile_n, dp], gl.float16)
    return (TensorDescriptor.from_tensor(kp.view(-1, dp), [tile_n, dp], k_layout),
            TensorDescriptor.from_tensor(v, [1, 1, tile_n, dp], v_layout))


@gluon.jit
def _producer(kp_desc, v_desc, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty, kp_row0, b, hkv, n_blk,
              BLOCK_N: gl.constexpr, NUM_STAGES: gl.constexpr):
    """One warp: K'_j and V_j of every block the program sees, in order, each into the next free buffer."""
    for j in range(n_blk):
        s = j % NUM_STAGES
        phase = (j // NUM_STAGES) & 1
        mbarrier.wait(k_empty.index(s), phase ^ 1)          # a fresh barrier counts as released (phase 1)
        mbarrier.expect(k_ready.index(s), kp_desc.block_type.nbytes)
        tma.async_copy_global_to_shared(kp_desc, [kp_row0 + j * BLOCK_N, 0], k_ready.index(s), k_bufs.index(s))
        mbarrier.wait(v_empty.index(s), phase ^ 1)
        mbarrier.expect(v_ready.index(s), v_desc.block_type.nbytes)
        tma.async_copy_global_to_shared(v_desc, [b, hkv, j * BLOCK_N, 0], v_ready.index(s), v_bufs.index(s))


@gluon.jit
def _round_fp16(x):
    """x rounded to fp16 and back to fp32, two values per conversion (cvt.rn.f16x2.f32): 3 instructions per pair
    instead of 4."""
    return gl.inline_asm_elementwise(
        "{ .reg .b32 t; .reg .b16 lo, hi; cvt.rn.f16x2.f32 t, $3, $2; mov.b32 {lo, hi}, t; "
        "cvt.f32.f16 $0, lo; cvt.f32.f16 $1, hi; }",
        "=f,=f,f,f", [x], dtype=gl.float32, is_pure=True, pack=2)


@gluon.jit
def _softmax(s, g, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
             BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr, s_layout: gl.constexpr, BOUND: gl.constexpr):
    """kernels._block_step's statistics for block t (SCALE_FOLD, log2 units): z = fp16(S) + g (g: the warpgroup's
    a·K'ᵀ, one fp32 per key), the keys a row does not see at −inf (blocks from n_plain on), r = s_rest·rowmax z,
    top = r + h, the running max m, the frame f of the last block that counts and its factor alpha = 2^(f − f_new),
    and 2^(s_rest·z − r) (0 for a block that does not count), which the caller rounds to the fp16 P tile. Returns that
    in fp32, alpha, m, f.
    BOUND (timing bounds only, wrong results): 1 leaves out the rounding of S to fp16; 2 is a plain
    flash-attention softmax (S not rounded, no g, no h, no frame: f = m)."""
    if BOUND == 0:
        z = _round_fp16(s) + gl.expand_dims(g, 0)                               # S' = fp16(Q'·K'ᵀ); z = S' + g
    elif BOUND == 1:
        z = s + gl.expand_dims(g, 0)
    else:
        z = s
    if t >= n_plain:
        cols = t * BLOCK_N + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
        visible = gl.expand_dims(cols < S2, 0)
        if CAUSAL:
            visible = visible & (gl.expand_dims(cols, 0) <= gl.expand_dims(rows + causal_offset, 1))
        z = gl.where(visible, z, float("-inf"))
    if BOUND == 2:
        m_new = gl.maximum(m_i, gl.max(z, axis=1) * sp_scale)
        return gl.exp2(z * sp_scale - gl.expand_dims(m_new, 1)), gl.exp2(m_i - m_new), m_new, m_new
    r = gl.max(z, axis=1) * sp_scale
    top = r + h
    seen = r != float("-inf")
    m_new = gl.where(seen, gl.maximum(m_i, top, propagate_nan=tl.PropagateNan.ALL), m_i)
    skip = (top < m_new - 64.0) | (r == float("-inf"))
    f_new = gl.where(skip, f_i, top)
    alpha = gl.where(skip, 1.0, gl.exp2(f_i - f_new))                            # f = −inf at first: 0
    p = gl.exp2(z * sp_scale - gl.expand_dims(gl.where(skip, float("inf"), r), 1))
    return p, alpha, m_new, f_new


@gluon.jit
def _key_norms(kn_ptr, t, NCHUNK: gl.constexpr):
    """Block t's key-norm bound: the sum of its NCHUNK partial bounds (kernels.shift_k_kernel's kn)."""
    kn = gl.load(kn_ptr + t * NCHUNK)
    for i in gl.static_range(1, NCHUNK):
        kn += gl.load(kn_ptr + t * NCHUNK + i)
    return kn


@gluon.jit
def _consumer(WG: gl.constexpr, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_ptr, kn_ptr, flag_ptr, out_ptr, lse_ptr,
              q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn,
              stride_qs, stride_qd, stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off,
              g_row0, group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
              n_blk, n_plain, nblk,
              D: gl.constexpr, DP: gl.constexpr, BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr, NCHUNK: gl.constexpr,
              SLICES: gl.constexpr, RETURN_LSE: gl.constexpr, HAS_SINKS: gl.constexpr, NUM_STAGES: gl.constexpr,
              PINGPONG: gl.constexpr, BOUND: gl.constexpr, NC: gl.constexpr):
    """Consumer warpgroup WG of NC: query rows [start_m·64·NC + 64·WG, + 64) of the program — query group
    grp = start_m·NC + WG of its sequence —, every block the program sees (the same loop in every warpgroup, so they
    take the same turns and release every buffer). O and l are both tensor-core accumulators: O += P·V, and
    l += P·1 (P times a ones tile 8 columns wide: the rowsum of the fp16 P tile, summed in fp32 by the tensor cores
    instead of 128 instructions per thread), each scaled by alpha when the frame moves. The group's row of the g table
    (g_row0 + grp·nblk·BLOCK_N) is read per block beside the h table; its overflow flag (group_row0 + grp·heads) is
    set at the end where a block failed the screen."""
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, DP, 16])
    l_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, 8, 16])
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    pl_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=l_layout, k_width=2)
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    col_s: gl.constexpr = gl.SliceLayout(0, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    row_l: gl.constexpr = gl.SliceLayout(1, l_layout)
    q_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [4, 1], [1, 0])
    row_q: gl.constexpr = gl.SliceLayout(1, q_layout)
    col_q: gl.constexpr = gl.SliceLayout(0, q_layout)

    m0 = start_m * (NC * 64) + WG * 64
    grp = start_m * NC + WG
    valid = m0 < S1                                      # a warpgroup past the last row still takes its turns
    # Q' of this warpgroup's rows into shared memory, once; the screen's factors from Q' and the group's centre a:
    # the largest |Q'_i|² (∞ where 65504·s_rest nears fp32's range) and |a|²·(2·s_rest/Z_SAFE)², NaN for NaN input
    q_rows = m0 + gl.arange(0, 64, layout=row_q)
    q_cols = gl.arange(0, DP, layout=col_q)
    qp = gl.load(qp_ptr + p_off + gl.expand_dims(q_rows, 1) * stride_ps + gl.expand_dims(q_cols, 0),
                 mask=gl.expand_dims(q_rows < S1, 1), other=0.0)
    q_tile = q_smem.index(WG)
    q_tile.store(qp)
    fence_async_shared()
    qf = qp.to(gl.float32)
    q_norms = gl.sum(qf * qf, axis=1)
    total = gl.sum(q_norms, axis=0)
    sp_safe = gl.max(q_norms, axis=0) + (total - total)
    sp_safe = gl.where(65504.0 * sp_scale < 0.5 * Z_SAFE, sp_safe, float("inf"))
    af = gl.load(a_ptr + (group_row0 + grp * heads).to(gl.int64) * DP + q_cols, mask=(q_cols < DP) & valid,
                 other=0.0).to(gl.float32)
    z_safe = gl.sum(af * af, axis=0) * (2.0 * sp_scale / Z_SAFE) * (2.0 * sp_scale / Z_SAFE)
    kn_max = gl.to_tensor(0.0)                           # the largest key-norm bound of the blocks seen

    rows = m0 + gl.arange(0, 64, layout=row_s)
    h_rows = h_ptr + h_off + rows
    g_cols = g_ptr + g_row0 + grp.to(gl.int64) * nblk * BLOCK_N + gl.arange(0, BLOCK_N, layout=col_s)
    m_i = gl.full([64], float("-inf"), gl.float32, row_s)
    f_i = gl.full([64], float("-inf"), gl.float32, row_s)
    acc = gl.zeros([64, DP], gl.float32, o_layout)
    l_acc = gl.zeros([64, 8], gl.float32, l_layout)
    zero_s = gl.zeros([64, BLOCK_N], gl.float32, s_layout)
    ones = ones_smem.permute((1, 0))
    turn_me = turn.index(WG)
    turn_other = turn.index((WG + 1) % NC)               # round robin: the next warpgroup issues after this one
    if PINGPONG and WG == NC - 1:
        mbarrier.arrive(turn_other)                      # warpgroup 0 issues first

    if n_blk > 0:
        # block 0: Q'·K'_0ᵀ alone
        h = gl.load(h_rows, mask=rows < S1, other=0.0)
        mbarrier.wait(k_ready.index(0), 0)
        if PINGPONG:
            mbarrier.wait(turn_me, 0)
        s_tok = warpgroup_mma(q_tile, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        if PINGPONG:
            mbarrier.arrive(turn_other)
        g = gl.load(g_cols, mask=valid, other=0.0)
        h_next = gl.load(h_rows + S1, mask=(rows < S1) & (n_blk > 1), other=0.0)
        kn_max = gl.maximum(kn_max, _key_norms(kn_ptr, 0, NCHUNK), propagate_nan=tl.PropagateNan.ALL)
        s = warpgroup_mma_wait(0, deps=[s_tok])
        mbarrier.arrive(k_empty.index(0))
        p32, alpha, m_i, f_i = _softmax(s, g, 0, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
                                        BLOCK_N, CAUSAL, s_layout, BOUND)               # O = 0: alpha scales nothing
        p = gl.convert_layout(p32.to(gl.float16), p_layout)                            # P = fp16(2^(x − r))
        h = h_next
        # block t: Q'·K'_tᵀ, P_{t−1}·V_{t−1} and P_{t−1}·1 issued together; block t's softmax runs while the
        # last two are in flight
        for t in range(1, n_blk):
            sk = t % NUM_STAGES
            sv = (t - 1) % NUM_STAGES
            mbarrier.wait(k_ready.index(sk), (t // NUM_STAGES) & 1)
            mbarrier.wait(v_ready.index(sv), ((t - 1) // NUM_STAGES) & 1)
            if PINGPONG:
                mbarrier.wait(turn_me, t & 1)
            s_tok = warpgroup_mma(q_tile, k_bufs.index(sk).permute((1, 0)), zero_s, use_acc=False, is_async=True)
            o_tok = warpgroup_mma(p, v_bufs.index(sv).reshape([BLOCK_N, DP]), acc, is_async=True)
            l_tok = warpgroup_mma(gl.convert_layout(p, pl_layout), ones, l_acc, is_async=True)
            if PINGPONG:
                mbarrier.arrive(turn_other)
            g = gl.load(g_cols + t * BLOCK_N, mask=valid, other=0.0)
            h_next = gl.load(h_rows + (t + 1) * S1, mask=(rows < S1) & (t + 1 < n_blk), other=0.0)
            kn_max = gl.maximum(kn_max, _key_norms(kn_ptr, t, NCHUNK), propagate_nan=tl.PropagateNan.ALL)
            if NC == 2:   # the softmax overlaps this warpgroup's own P·V too
                s = warpgroup_mma_wait(2, deps=[s_tok])
                mbarrier.arrive(k_empty.index(sk))
                p32, alpha, m_i, f_i = _softmax(s, g, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
                                                BLOCK_N, CAUSAL, s_layout, BOUND)
                acc, l_acc, p = warpgroup_mma_wait(0, deps=[o_tok, l_tok, p])
                mbarrier.arrive(v_empty.index(sv))
            else:         # 3 warpgroups: the other two overlap it; P_{t−1} freed first
                s, acc, l_acc, p = warpgroup_mma_wait(0, deps=[s_tok, o_tok, l_tok, p])
                mbarrier.arrive(k_empty.index(sk))
                mbarrier.arrive(v_empty.index(sv))
                p32, alpha, m_i, f_i = _softmax(s, g, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
                                                BLOCK_N, CAUSAL, s_layout, BOUND)
            acc = acc * gl.expand_dims(gl.convert_layout(alpha, row_o), 1)          # into block t's frame
            l_acc = l_acc * gl.expand_dims(gl.convert_layout(alpha, row_l), 1)
            p = gl.convert_layout(p32.to(gl.float16), p_layout)                     # P_{t−1}'s registers are free
            h = h_next
        # the last block's P·V and P·1
        sv = (n_blk - 1) % NUM_STAGES
        mbarrier.wait(v_ready.index(sv), ((n_blk - 1) // NUM_STAGES) & 1)
        if PINGPONG:
            mbarrier.wait(turn_me, n_blk & 1)
        o_tok = warpgroup_mma(p, v_bufs.index(sv).reshape([BLOCK_N, DP]), acc, is_async=True)
        l_tok = warpgroup_mma(gl.convert_layout(p, pl_layout), ones, l_acc, is_async=True)
        if PINGPONG:
            mbarrier.arrive(turn_other)
        acc, l_acc, p = warpgroup_mma_wait(0, deps=[o_tok, l_tok, p])
        mbarrier.arrive(v_empty.index(sv))

    # the overflow screen over the blocks the warpgroup saw (false for NaN): the Triton fallback launch redoes the group
    safe = (sp_safe * kn_max < SP_SAFE_SQ) & (z_safe * kn_max < 1.0)
    if valid & (safe == 0):
        gl.store(flag_ptr + group_row0 + grp * heads, 1)

    # the epilogue (kernels._finish, exact): the sink in the row's frame F = s_h·(q·c_0), O / l, lse = f + F + log l
    seen = gl.convert_layout(m_i != float("-inf"), row_o)
    f_o = gl.convert_layout(f_i, row_o)
    l_i = gl.convert_layout(gl.max(l_acc, axis=1), row_o)                           # the 8 columns are equal
    frame = gl.zeros([64], gl.float32, row_o)
    if RETURN_LSE or HAS_SINKS:                          # one fp32 dot per row of the raw fp16 q with c_0
        qr = gl.load(q_ptr + q_off + gl.expand_dims(q_rows, 1) * stride_qs + gl.expand_dims(q_cols, 0) * stride_qd,
                     mask=gl.expand_dims(q_rows < S1, 1) & gl.expand_dims(q_cols < D, 0), other=0.0)
        c0 = gl.load(c_ptr + q_cols).to(gl.float32)
        frame = gl.convert_layout(gl.sum(qr.to(gl.float32) * gl.expand_dims(c0, 0), axis=1), row_o) * frame_scale
    if HAS_SINKS:
        m_o = gl.convert_layout(m_i, row_o)
        ts = (sink - frame) * 1.4426950408889634
        m_new = gl.maximum(m_o, ts, propagate_nan=tl.PropagateNan.ALL)
        skip = ts < m_new - 64.0
        f_new = gl.where(skip, f_o, ts)
        alpha = gl.where(skip, 1.0, gl.exp2(f_o - f_new))
        l_i = alpha * l_i + gl.where(skip, 0.0, 1.0)
        acc = acc * gl.expand_dims(alpha, 1)
        f_o = f_new
    out = acc / gl.expand_dims(gl.where(seen, l_i, 1.0), 1)
    if SLICES:
        out = out * out_scale                                                       # 2^εv (bf16 slices)
    out = gl.where(gl.expand_dims(seen, 1), out, 0.0)
    o_rows = m0 + gl.arange(0, 64, layout=row_o)
    o_cols = gl.arange(0, DP, layout=gl.SliceLayout(0, o_layout))
    gl.store(out_ptr + o_off + gl.expand_dims(o_rows, 1) * stride_os + gl.expand_dims(o_cols, 0) * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=gl.expand_dims(o_rows < S1, 1) & gl.expand_dims(o_cols < D, 0))
    if RETURN_LSE:
        lse = gl.where(seen, (f_o * LN2 + frame) + gl.log(l_i), sink)
        gl.store(lse_ptr + l_off + o_rows * stride_ls, lse, mask=o_rows < S1)


@gluon.jit
def attention_kernel_ws(q_ptr, qp_ptr, a_ptr, kp_desc, v_desc, h_ptr, g_ptr, c_ptr, kn_ptr, flag_ptr, exp_ptr,
                        sinks_ptr, out_ptr, lse_ptr,
                        stride_qb, stride_qh, stride_qs, stride_qd, stride_pb, stride_ph, stride_ps,
                        stride_ob, stride_oh, stride_os, stride_od, stride_lb, stride_lh, stride_ls,
                        heads, groups, S1, S2, causal_offset, sp_scale, frame_scale,
                        D: gl.constexpr, DP: gl.constexpr, BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr,
                        NCHUNK: gl.constexpr, SLICES: gl.constexpr, RETURN_LSE: gl.constexpr,
                        HAS_SINKS: gl.constexpr, NUM_STAGES: gl.constexpr, PINGPONG: gl.constexpr, NC: gl.constexpr,
                        CONSUMER_REGS: gl.constexpr, BOUND: gl.constexpr = 0):
    """One program per (64·NC query rows, batch·head), NC consumer warpgroups (2 or 3) and a producer warp; rows in
    reversed order (the longest causal rows first). The exact variant's preparation (op.ExactPrep, dense): q_ptr the
    fp16 input q16 (bf16 slices scaled), qp_ptr Q' (strides stride_p*), a_ptr the query centres, h_ptr the h table
    (B·N, nblk, S1) of kernels.shift_q_kernel, g_ptr the g table (B·N, ⌈S1/64⌉, nblk·BLOCK_N) of
    kernels.shift_g_kernel, c_ptr the block centres (B·Nkv, c_rows, DP), kn_ptr the key-norm bounds (NCHUNK per
    block), flag_ptr the query groups' overflow flags, exp_ptr each head's bf16 slice exponents (SLICES); sp_scale
    log2e·s_rest and frame_scale s (times 2^(εq + εk) per head for bf16). RETURN_LSE: lse (B, N, S1) by stride_l*;
    HAS_SINKS: sinks_ptr, one fp32 per head."""
    BLOCK_M: gl.constexpr = NC * 64
    n_mblk = gl.cdiv(S1, BLOCK_M)
    start_m = n_mblk - 1 - gl.program_id(0)
    bh = gl.program_id(1)
    b = bh // heads
    h = bh % heads
    hkv = h // groups
    kvh = b * (heads // groups) + hkv
    nblk = gl.cdiv(S2, BLOCK_N)
    n_groups = gl.cdiv(S1, QUERY_GROUP)

    # blocks [0, n_plain) are seen in full by every row of the program, [n_plain, n_blk) in part, later ones by none
    n_blk = nblk
    n_plain = S2 // BLOCK_N
    if CAUSAL:
        last_key = start_m * BLOCK_M + BLOCK_M - 1 + causal_offset
        n_blk = gl.minimum(nblk, gl.cdiv(gl.maximum(last_key + 1, 0), BLOCK_N))
        n_plain = gl.minimum(n_plain, gl.maximum(start_m * BLOCK_M + causal_offset + 1, 0) // BLOCK_N)
    n_plain = gl.minimum(n_plain, n_blk)

    out_scale = 1.0
    if SLICES:   # this head's powers of two: 2^(εq + εk) on the scores, 2^εv on the output
        score = gl.exp2(gl.load(exp_ptr + bh * 2))
        sp_scale = sp_scale * score
        frame_scale = frame_scale * score
        out_scale = gl.exp2(gl.load(exp_ptr + bh * 2 + 1))
    sink = float("-inf")
    if HAS_SINKS:
        sink = gl.load(sinks_ptr + h)

    q_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([64, DP], gl.float16)
    q_smem = gl.allocate_shared_memory(gl.float16, [NC, 64, DP], q_layout)
    k_bufs = gl.allocate_shared_memory(gl.float16, [NUM_STAGES, BLOCK_N, DP], kp_desc.layout)
    v_bufs = gl.allocate_shared_memory(gl.float16, [NUM_STAGES, 1, 1, BLOCK_N, DP], v_desc.layout)
    k_ready = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
    k_empty = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
    v_ready = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
    v_empty = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
    turn = gl.allocate_shared_memory(gl.int64, [NC, 1], mbarrier.MBarrierLayout())
    ones_layout: gl.constexpr = gl.NVMMASharedLayout.get_default_for([8, BLOCK_N], gl.float16)
    ones_smem = gl.allocate_shared_memory(gl.float16, [8, BLOCK_N], ones_layout,
                                          gl.full([8, BLOCK_N], 1.0, gl.float16,
                                                  gl.BlockedLayout([1, 8], [8, 4], [1, 4], [1, 0])))
    fence_async_shared()
    for i in gl.static_range(NUM_STAGES):
        mbarrier.init(k_ready.index(i), count=1)
        mbarrier.init(v_ready.index(i), count=1)
        mbarrier.init(k_empty.index(i), count=NC)      # every consumer warpgroup releases each buffer
        mbarrier.init(v_empty.index(i), count=NC)
    for i in gl.static_range(NC):
        mbarrier.init(turn.index(i), count=1)

    q_off = b.to(gl.int64) * stride_qb + h * stride_qh
    p_off = b.to(gl.int64) * stride_pb + h * stride_ph
    o_off = b.to(gl.int64) * stride_ob + h * stride_oh
    l_off = b.to(gl.int64) * stride_lb + h * stride_lh
    h_off = bh.to(gl.int64) * nblk * S1
    g_row0 = bh.to(gl.int64) * n_groups * nblk * BLOCK_N
    group_row0 = b * n_groups * heads + h
    c_off = c_ptr + kvh.to(gl.int64) * gl.cdiv(nblk, 16) * 16 * DP
    kn_off = kn_ptr + kvh.to(gl.int64) * nblk * NCHUNK
    kp_row0 = kvh * nblk * BLOCK_N
    wg0: gl.constexpr = 0
    wg1: gl.constexpr = 1
    wg2: gl.constexpr = 2
    if NC == 2:
        gl.warp_specialize([
            (_consumer, (wg0, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_off, kn_off, flag_ptr, out_ptr, lse_ptr, q_smem,
                         k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn, stride_qs, stride_qd,
                         stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off, g_row0,
                         group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
                         n_blk, n_plain, nblk, D, DP, BLOCK_N, CAUSAL, NCHUNK, SLICES, RETURN_LSE, HAS_SINKS,
                         NUM_STAGES, PINGPONG, BOUND, NC)),
            (_consumer, (wg1, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_off, kn_off, flag_ptr, out_ptr, lse_ptr, q_smem,
                         k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn, stride_qs, stride_qd,
                         stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off, g_row0,
                         group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
                         n_blk, n_plain, nblk, D, DP, BLOCK_N, CAUSAL, NCHUNK, SLICES, RETURN_LSE, HAS_SINKS,
                         NUM_STAGES, PINGPONG, BOUND, NC)),
            (_producer, (kp_desc, v_desc, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty, kp_row0, b, hkv,
                         n_blk, BLOCK_N, NUM_STAGES)),
        ], [4, 1], [CONSUMER_REGS, PRODUCER_REGS])
    else:
        gl.warp_specialize([
            (_consumer, (wg0, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_off, kn_off, flag_ptr, out_ptr, lse_ptr, q_smem,
                         k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn, stride_qs, stride_qd,
                         stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off, g_row0,
                         group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
                         n_blk, n_plain, nblk, D, DP, BLOCK_N, CAUSAL, NCHUNK, SLICES, RETURN_LSE, HAS_SINKS,
                         NUM_STAGES, PINGPONG, BOUND, NC)),
            (_consumer, (wg1, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_off, kn_off, flag_ptr, out_ptr, lse_ptr, q_smem,
                         k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn, stride_qs, stride_qd,
                         stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off, g_row0,
                         group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
                         n_blk, n_plain, nblk, D, DP, BLOCK_N, CAUSAL, NCHUNK, SLICES, RETURN_LSE, HAS_SINKS,
                         NUM_STAGES, PINGPONG, BOUND, NC)),
            (_consumer, (wg2, q_ptr, qp_ptr, a_ptr, h_ptr, g_ptr, c_off, kn_off, flag_ptr, out_ptr, lse_ptr, q_smem,
                         k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready, v_empty, turn, stride_qs, stride_qd,
                         stride_ps, stride_os, stride_od, stride_ls, q_off, p_off, o_off, l_off, h_off, g_row0,
                         group_row0, heads, start_m, S1, S2, causal_offset, sp_scale, frame_scale, out_scale, sink,
                         n_blk, n_plain, nblk, D, DP, BLOCK_N, CAUSAL, NCHUNK, SLICES, RETURN_LSE, HAS_SINKS,
                         NUM_STAGES, PINGPONG, BOUND, NC)),
            (_producer, (kp_desc, v_desc, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty, kp_row0, b, hkv,
                         n_blk, BLOCK_N, NUM_STAGES)),
        ], [4, 4, 1], [CONSUMER_REGS, CONSUMER_REGS, PRODUCER_REGS])
