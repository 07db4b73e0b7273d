"""Warp-specialised Hopper (sm_90) kernel of the exact variant's attention loop, in Gluon (Triton 3.6's
``triton.experimental.gluon``): the loop of ``kernels.attention_kernel`` (the K-shift pass and the shift table are the
same launches, ``kernels.shift_k_kernel`` and ``kernels.shift_h_kernel``), scheduled as FlashAttention-3 schedules
it (Shah et al., "FlashAttention-3", arXiv:2407.08608, sections 3.1-3.2):

- a producer warp copies K' and V tiles by TMA into a ring of STAGES shared-memory buffers each, guarded by
  mbarriers (ready: the copy landed, expect-tx; empty: every consumer is done with the buffer);
- NC consumer warpgroups (2, or 3 at a padded head dim of 64) own 64 query rows each (one 64-row query group) and
  run the contract's block step on them: S' = fp16(Q·K'ᵀ) by wgmma, the softmax statistics in fp32 in registers,
  P = fp16(exp(x − r)) kept in registers as the A operand of the P·V wgmma and of P·1, the rowsum, so that O and l
  are both tensor-core accumulators;
- inside a warpgroup, block t's Q·K'ᵀ and block t−1's P·V are issued together and (at NC = 2) the softmax of block
  t runs while that P·V is still in the tensor cores (intra-warpgroup overlap); between the warpgroups, one
  mbarrier each passes the turn to issue products round robin (ping-pong), so one warpgroup's products run while
  the others do their softmax.

The numerics are ``kernels._block_step``'s with SCALE_FOLD (same fp16 S' and P, fp32 m, l, f, the shift h from the
table, one accumulator kept in the frame of the last block that counts); only the order of fp32 sums differs.
Covered: fp16 and bf16 (bf16 Q is rounded to fp16 on load, bf16 V is rounded by the host), GQA, both causal
alignments, any S1 and S2, padded head dim DP 64 or 128 (D ≤ 128), KV blocks of 64 or 128 keys; no user mask
(``op.use_hopper``; ``op.attention_triton`` sends everything else to ``kernels.attention_kernel``; docs/cuda.md).
"""
from __future__ import annotations

import triton.language as tl
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                              warpgroup_mma_wait)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

ROWS = 64          # query rows per consumer warpgroup (one 64-row query group)
STAGES = 2         # K' and V buffers each: Q (32 KiB) + 2 × (K' + V) (128 KiB) at DP = BLOCK_N = 128
NUM_WARPS = 4      # the default partition: consumer warpgroup 0
PRODUCER_REGS = gl.constexpr(24)
PINGPONG = True    # the consumer warpgroups take turns issuing their products (False: each when ready)
CONSUMERS = None   # consumer warpgroups per program; None: consumers(dp)
BOUND = 0          # timing bounds only (scripts/tune_cuda.py; _softmax): 0 is the contract


def consumers(dp: int) -> int:
    """Consumer warpgroups per program: 2 at DP = 128 (S, O and P take 160 of their 240 registers); 3 at DP = 64,
    where each block's products take half as long against the same softmax, so the softmax of two warpgroups can
    run beside the third one's products (measured on the H200: 9% faster than 2 at D = 64, S = 4k; docs/cuda.md)."""
    return CONSUMERS or (3 if dp <= 64 else 2)


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
def _softmax(s, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
             BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr, s_layout: gl.constexpr, BOUND: gl.constexpr):
    """kernels._block_step's statistics for block t (SCALE_FOLD, log2 units): S' = fp16(S), the keys a row does not
    see at −inf (blocks from n_plain on), r = s_rest·rowmax S', top = r + h, the running max m, the frame f of the
    last block that counts and its factor alpha = 2^(f − f_new), and 2^(s_rest·S' − r) (0 for a block that does not
    count), which the caller rounds to the fp16 P tile. Returns that in fp32, alpha, m, f.
    BOUND (timing bounds only, wrong results): 1 leaves out the rounding of S' to fp16; 2 is a plain
    flash-attention softmax (S' not rounded, no h, no frame: f = m)."""
    if BOUND == 0:
        sp = _round_fp16(s)                                                      # S' = fp16(Q·K'ᵀ)
    else:
        sp = s
    if t >= n_plain:
        cols = t * BLOCK_N + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, s_layout))
        visible = gl.expand_dims(cols < S2, 0)
        if CAUSAL:
            visible = visible & (gl.expand_dims(cols, 0) <= gl.expand_dims(rows + causal_offset, 1))
        sp = gl.where(visible, sp, float("-inf"))
    if BOUND == 2:
        m_new = gl.maximum(m_i, gl.max(sp, axis=1) * sp_scale)
        return gl.exp2(sp * sp_scale - gl.expand_dims(m_new, 1)), gl.exp2(m_i - m_new), m_new, m_new
    r = gl.max(sp, axis=1) * sp_scale
    top = r + h
    seen = r != float("-inf")
    m_new = gl.where(seen, gl.maximum(m_i, top, propagate_nan=tl.PropagateNan.ALL), m_i)
    skip = (top < m_new - 64.0) | (r == float("-inf"))
    f_new = gl.where(skip, f_i, top)
    alpha = gl.where(skip, 1.0, gl.exp2(f_i - f_new))                            # f = −inf at first: 0
    p = gl.exp2(sp * sp_scale - gl.expand_dims(gl.where(skip, float("inf"), r), 1))
    return p, alpha, m_new, f_new


@gluon.jit
def _consumer(WG: gl.constexpr, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
              v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1, S2,
              causal_offset, sp_scale, n_blk, n_plain,
              D: gl.constexpr, DP: gl.constexpr, BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr,
              NUM_STAGES: gl.constexpr, PINGPONG: gl.constexpr, BOUND: gl.constexpr, NC: gl.constexpr):
    """Consumer warpgroup WG of NC: query rows [start_m·64·NC + 64·WG, + 64) of the program, every block the
    program sees (the same loop in every warpgroup, so they take the same turns and release every buffer).
    O and l are both tensor-core accumulators: O += P·V, and l += P·1 (P times a ones tile 8 columns wide: the
    rowsum of the fp16 P tile, summed in fp32 by the tensor cores instead of 128 instructions per thread), each
    scaled by alpha when the frame moves."""
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, DP, 16])
    l_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, 8, 16])
    p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
    pl_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=l_layout, k_width=2)
    row_s: gl.constexpr = gl.SliceLayout(1, s_layout)
    row_o: gl.constexpr = gl.SliceLayout(1, o_layout)
    row_l: gl.constexpr = gl.SliceLayout(1, l_layout)
    q_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [4, 1], [1, 0])

    m0 = start_m * (NC * 64) + WG * 64
    # Q of this warpgroup's rows into shared memory (fp16; bf16 rounded here), once
    q_rows = m0 + gl.arange(0, 64, layout=gl.SliceLayout(1, q_layout))
    q_cols = gl.arange(0, DP, layout=gl.SliceLayout(0, q_layout))
    q = gl.load(q_ptr + q_off + gl.expand_dims(q_rows, 1) * stride_qs + gl.expand_dims(q_cols, 0) * stride_qd,
                mask=gl.expand_dims(q_rows < S1, 1) & gl.expand_dims(q_cols < D, 0), other=0.0)
    q_tile = q_smem.index(WG)
    q_tile.store(q.to(gl.float32).to(gl.float16))
    fence_async_shared()

    rows = m0 + gl.arange(0, 64, layout=row_s)
    h_rows = h_ptr + h_off + rows
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
        # block 0: Q·K'_0ᵀ alone
        h = gl.load(h_rows, mask=rows < S1, other=0.0)
        mbarrier.wait(k_ready.index(0), 0)
        if PINGPONG:
            mbarrier.wait(turn_me, 0)
        s_tok = warpgroup_mma(q_tile, k_bufs.index(0).permute((1, 0)), zero_s, use_acc=False, is_async=True)
        if PINGPONG:
            mbarrier.arrive(turn_other)
        h_next = gl.load(h_rows + S1, mask=(rows < S1) & (n_blk > 1), other=0.0)
        s = warpgroup_mma_wait(0, deps=[s_tok])
        mbarrier.arrive(k_empty.index(0))
        p32, alpha, m_i, f_i = _softmax(s, 0, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
                                        BLOCK_N, CAUSAL, s_layout, BOUND)               # O = 0: alpha scales nothing
        p = gl.convert_layout(p32.to(gl.float16), p_layout)                            # P = fp16(2^(x − r))
        h = h_next
        # block t: Q·K'_tᵀ, P_{t−1}·V_{t−1} and P_{t−1}·1 issued together; block t's softmax runs while the
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
            h_next = gl.load(h_rows + (t + 1) * S1, mask=(rows < S1) & (t + 1 < n_blk), other=0.0)
            if NC == 2:   # the softmax overlaps this warpgroup's own P·V too
                s = warpgroup_mma_wait(2, deps=[s_tok])
                mbarrier.arrive(k_empty.index(sk))
                p32, alpha, m_i, f_i = _softmax(s, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
                                                BLOCK_N, CAUSAL, s_layout, BOUND)
                acc, l_acc, p = warpgroup_mma_wait(0, deps=[o_tok, l_tok, p])
                mbarrier.arrive(v_empty.index(sv))
            else:         # 3 warpgroups: the other two overlap it; P_{t−1} freed first (no spills at 160 registers)
                s, acc, l_acc, p = warpgroup_mma_wait(0, deps=[s_tok, o_tok, l_tok, p])
                mbarrier.arrive(k_empty.index(sk))
                mbarrier.arrive(v_empty.index(sv))
                p32, alpha, m_i, f_i = _softmax(s, t, h, m_i, f_i, rows, n_plain, S2, causal_offset, sp_scale,
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

    seen = gl.convert_layout(m_i != float("-inf"), row_o)
    l_i = gl.convert_layout(gl.max(l_acc, axis=1), row_o)                           # the 8 columns are equal
    out = acc / gl.expand_dims(gl.where(seen, l_i, 1.0), 1)
    out = gl.where(gl.expand_dims(seen, 1), out, 0.0)
    o_rows = m0 + gl.arange(0, 64, layout=row_o)
    o_cols = gl.arange(0, DP, layout=gl.SliceLayout(0, o_layout))
    gl.store(out_ptr + o_off + gl.expand_dims(o_rows, 1) * stride_os + gl.expand_dims(o_cols, 0) * stride_od,
             out.to(out_ptr.dtype.element_ty), mask=gl.expand_dims(o_rows < S1, 1) & gl.expand_dims(o_cols < D, 0))


@gluon.jit
def attention_kernel_ws(q_ptr, kp_desc, v_desc, h_ptr, out_ptr,
                        stride_qb, stride_qh, stride_qs, stride_qd, stride_ob, stride_oh, stride_os, stride_od,
                        heads, groups, S1, S2, causal_offset, sp_scale,
                        D: gl.constexpr, DP: gl.constexpr, BLOCK_N: gl.constexpr, CAUSAL: gl.constexpr,
                        NUM_STAGES: gl.constexpr, PINGPONG: gl.constexpr, NC: gl.constexpr, CONSUMER_REGS: gl.constexpr,
                        BOUND: gl.constexpr = 0):
    """One program per (64·NC query rows, batch·head), NC consumer warpgroups (2 or 3) and a producer warp; rows in
    reversed order (the longest causal rows first). h_ptr: the shift table of kernels.shift_h_kernel,
    (B·N, nblk, S1) fp32."""
    BLOCK_M: gl.constexpr = NC * 64
    n_mblk = gl.cdiv(S1, BLOCK_M)
    start_m = n_mblk - 1 - gl.program_id(0)
    bh = gl.program_id(1)
    b = bh // heads
    h = bh % heads
    hkv = h // groups
    nblk = gl.cdiv(S2, BLOCK_N)

    # blocks [0, n_plain) are seen in full by every row of the program, [n_plain, n_blk) in part, later ones by none
    n_blk = nblk
    n_plain = S2 // BLOCK_N
    if CAUSAL:
        last_key = start_m * BLOCK_M + BLOCK_M - 1 + causal_offset
        n_blk = gl.minimum(nblk, gl.cdiv(gl.maximum(last_key + 1, 0), BLOCK_N))
        n_plain = gl.minimum(n_plain, gl.maximum(start_m * BLOCK_M + causal_offset + 1, 0) // BLOCK_N)
    n_plain = gl.minimum(n_plain, n_blk)

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
    o_off = b.to(gl.int64) * stride_ob + h * stride_oh
    h_off = bh.to(gl.int64) * nblk * S1
    kp_row0 = (b * (heads // groups) + hkv) * nblk * BLOCK_N
    wg0: gl.constexpr = 0
    wg1: gl.constexpr = 1
    wg2: gl.constexpr = 2
    if NC == 2:
        gl.warp_specialize([
            (_consumer, (wg0, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
                         v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1,
                         S2, causal_offset, sp_scale, n_blk, n_plain, D, DP, BLOCK_N, CAUSAL, NUM_STAGES, PINGPONG,
                         BOUND, NC)),
            (_consumer, (wg1, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
                         v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1,
                         S2, causal_offset, sp_scale, n_blk, n_plain, D, DP, BLOCK_N, CAUSAL, NUM_STAGES, PINGPONG,
                         BOUND, NC)),
            (_producer, (kp_desc, v_desc, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty, kp_row0, b, hkv,
                         n_blk, BLOCK_N, NUM_STAGES)),
        ], [4, 1], [CONSUMER_REGS, PRODUCER_REGS])
    else:
        gl.warp_specialize([
            (_consumer, (wg0, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
                         v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1,
                         S2, causal_offset, sp_scale, n_blk, n_plain, D, DP, BLOCK_N, CAUSAL, NUM_STAGES, PINGPONG,
                         BOUND, NC)),
            (_consumer, (wg1, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
                         v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1,
                         S2, causal_offset, sp_scale, n_blk, n_plain, D, DP, BLOCK_N, CAUSAL, NUM_STAGES, PINGPONG,
                         BOUND, NC)),
            (_consumer, (wg2, q_ptr, h_ptr, out_ptr, q_smem, k_bufs, v_bufs, ones_smem, k_ready, k_empty, v_ready,
                         v_empty, turn, stride_qs, stride_qd, stride_os, stride_od, q_off, o_off, h_off, start_m, S1,
                         S2, causal_offset, sp_scale, n_blk, n_plain, D, DP, BLOCK_N, CAUSAL, NUM_STAGES, PINGPONG,
                         BOUND, NC)),
            (_producer, (kp_desc, v_desc, k_bufs, v_bufs, k_ready, k_empty, v_ready, v_empty, kp_row0, b, hkv,
                         n_blk, BLOCK_N, NUM_STAGES)),
        ], [4, 4, 1], [CONSUMER_REGS, CONSUMER_REGS, PRODUCER_REGS])
