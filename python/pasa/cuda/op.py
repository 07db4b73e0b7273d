"""Host side of the CUDA backend: argument checks, the three launches (and flash-decoding's merge), and the
registration as pasa::attention's and pasa::attention_varlen's CUDA kernels (so ``torch.ops.pasa.attention``,
``pasa.attention`` and ``pasa.attention_varlen`` dispatch here for CUDA tensors)."""
from __future__ import annotations

import contextlib
import functools
import math
import os

import numpy as np
import torch
import triton
from triton.tools.tensor_descriptor import TensorDescriptor

from .. import _C
from ..beta import exact_coefficient, paper_coefficient, shift_entries
from ..merge import merge_attention
from ..model import split_scale
from . import kernels

BACKENDS = ("auto", "triton")
HEAD_DIM_MAX = 256   # DP = 256 is the widest output tile that fits in registers beside the score tile
BLOCK_N_MAX = 256    # the KV tile is one contract block wide
AUTOTUNE = os.environ.get("PASA_CUDA_AUTOTUNE", "0") == "1"   # 1: tune the launch per shape (default_config else)
# the exact variant's kernel paths (docs/cuda.md, chosen by the H200 timings there): SCALE_FOLD = the row max of S'
# itself, s_rest folded into the exponent's FFMA (off with an additive mask); KV_TMA = K' and V tiles through tensor
# descriptors (where a tile is one contract block and V is aligned for them). h = s·Q·c_j: at a padded head dim
# ≤ H4_MAX_DP from one Q·c dot per 16 KV blocks inside the loop (H_MODE 4); wider, precomputed per (query row,
# KV block) when that table stays within H_TABLE_LIMIT × Q's bytes (H_MODE 3), else a 16-column dot per block
# inside the loop (H_MODE 2). An "H_MODE" key here overrides that choice (scripts/tune_cuda.py, tests).
KERNEL_FLAGS = {"SCALE_FOLD": True, "KV_TMA": True}
H4_MAX_DP = 64
# the warp-specialised Hopper kernel (hopper.py, Gluon) for the calls it covers: None = where the device is an sm_90
# GPU and Gluon imports; True/False force it (scripts/cuda_compile_report.py compiles it with no GPU, tests compare)
HOPPER = None
H_TABLE_LIMIT = 4.0


def _mask_args(mask: torch.Tensor | None, b: int, n: int, s1: int, s2: int):
    """(tensor, kind, 4 strides): the user's mask broadcast to (B, N, S1, S2) by zero strides, no copy."""
    if mask is None:
        return None, kernels.MASK_NONE, (0, 0, 0, 0)
    full = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape)).expand(b, n, s1, s2)
    if mask.dtype == torch.bool:
        return full.view(torch.uint8), kernels.MASK_BOOL, full.stride()
    return full, kernels.MASK_FLOAT, full.stride()


SHIFT_FLAGS = {"SUM64": False, "DC": 64, "num_warps": 4}   # the fastest measured (docs/cuda.md)
VARIANT_IDS = {"exact": 0, "pasa": 1, "paper": 2}
DECODE_ROWS = 16       # a call with at most this many query rows per sequence splits its key axis (flash-decoding)
SPLIT_UNIT = 16        # blocks per split are a multiple of this (H_MODE 4 computes Q·c for 16 blocks at a time)
SM_COUNT = 132         # streaming multiprocessors assumed where no GPU is asked (the H100 and H200 have 132)


class Seqs:
    """The sequences of one call and where their K' tiles and centre rows lie. Dense: B sequences of S1 and S2
    tokens. Packed (varlen): host lists of the cumulative starts cu_q, cu_k (B + 1 entries); sequence b's K' tiles
    start at tile blk0[b]·Nkv and its centre rows at cblk0[b]·Nkv (every sequence's centre rows rounded up to 16)."""

    def __init__(self, block_n: int, s1: int, s2: int, batch: int, cu_q=None, cu_k=None):
        self.varlen = cu_q is not None
        lens_k = [e - s for s, e in zip(cu_k[:-1], cu_k[1:])] if self.varlen else [s2] * batch
        nblk = [triton.cdiv(x, block_n) for x in lens_k]
        self.batch, self.max_s1, self.max_s2 = batch, s1, s2
        self.max_nblk = max(nblk, default=0)
        self.blk0 = np.concatenate([[0], np.cumsum(nblk)]).astype(np.int64)
        self.cblk0 = np.concatenate([[0], np.cumsum([triton.cdiv(x, 16) * 16 for x in nblk])]).astype(np.int64)


def shift_k(k: torch.Tensor, block_n: int, pow2: float, dp: int, tile_n: int, me: torch.Tensor | None = None,
            seqs: Seqs | None = None, varlen_args=()):
    """The separate pass over K: K' fp16, one tile of tile_n rows per (sequence, kv head, KV block) in that order,
    zero-padded, and for the exact variant the centres c_j fp16, each (sequence, kv head) owning its blocks rounded up
    to 16 rows, zero past its last block (the attention loop reads 16 at once); dense calls get them as
    (B, Nkv, rows, dp), packed ones as (rows, dp). me: the fp16 entries (d, e) of M per block length (pasa, paper):
    K' = M·K, no centres. Dense (B, Nkv, S2, D) k by default; packed (T, Nkv, D) k with seqs and
    varlen_args = (cu_k, blk0, cblk0) on k's device."""
    nkv, d = k.shape[-2 if seqs is not None and seqs.varlen else 1], k.shape[-1]
    if seqs is None:
        seqs = Seqs(block_n, 0, k.shape[2], k.shape[0])
    varlen = seqs.varlen
    kp = torch.empty((int(seqs.blk0[-1]) * nkv * tile_n, dp), dtype=torch.float16, device=k.device)
    c = (torch.zeros((int(seqs.cblk0[-1]) * nkv, dp), dtype=torch.float16, device=k.device) if me is None else kp)
    if not varlen:   # dense: (B, Nkv, nblk·tile_n, dp) and (B, Nkv, nblk rounded up to 16, dp), as the Hopper kernel
        kp = kp.view(seqs.batch, nkv, -1, dp)         # and the shift table index them
        c = c.view(seqs.batch, nkv, -1, dp) if me is None else kp
    if kp.numel() == 0:
        return kp, c
    strides = (0, k.stride(1), k.stride(0), k.stride(2)) if varlen else k.stride()
    dc = min(dp, SHIFT_FLAGS["DC"])
    cu_k, blk0, cblk0 = varlen_args or (k, k, k)
    kernels.shift_k_kernel[(seqs.max_nblk, seqs.batch * nkv, dp // dc)](
        k, kp, c, me if me is not None else k, cu_k, blk0, cblk0, *strides, nkv, seqs.max_s2,
        triton.cdiv(seqs.max_nblk, 16) * 16, pow2, D=d, DP=dp, DC=dc, KV_LEN=block_n, BLOCK_N=tile_n,
        KV_POW2=block_n == tile_n, MATRIX=me is not None, SUM64=SHIFT_FLAGS["SUM64"], VARLEN=varlen,
        num_warps=SHIFT_FLAGS["num_warps"])
    return kp, c


@functools.lru_cache(maxsize=64)
def _length_tables(variant: str, scale: float, beta: float, block_n: int):
    """Per block length n = 0..block_n: M's fp16 entries (d, e) and the recovery coefficient (pasa, paper), as the
    contract computes them for that length (python/pasa/beta.py); n = 0 is never read."""
    lengths = range(1, block_n + 1)
    me = [(0.0, 0.0)] + [shift_entries(scale, beta, n) for n in lengths]
    if variant == "pasa":
        coef = [0.0] + [exact_coefficient(scale, beta, n) for n in lengths]
    else:
        coef = [paper_coefficient(beta)] * (block_n + 1)
    return np.asarray(me, dtype=np.float32).ravel(), np.asarray(coef, dtype=np.float32)


def split_blocks(seqs: Seqs, programs: int, variant: str, device: torch.device) -> int:
    """KV blocks per split for flash-decoding (0: unsplit): sequences of at most DECODE_ROWS query rows split their
    key axis so that about two programs per multiprocessor run, each part a multiple of SPLIT_UNIT blocks; the
    paper variant is never split (the contract defines it unsplit)."""
    if variant == "paper" or seqs.max_s1 > DECODE_ROWS or seqs.max_nblk <= SPLIT_UNIT:
        return 0
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else SM_COUNT
    splits = min(triton.cdiv(seqs.max_nblk, SPLIT_UNIT), max(1, 2 * sms // max(programs, 1)))
    if splits <= 1:
        return 0
    return triton.cdiv(triton.cdiv(seqs.max_nblk, splits), SPLIT_UNIT) * SPLIT_UNIT


def _decode_programs(bn: int, s1: int) -> int:
    """Programs of a decoding launch: 16-row tiles (kernels.default_config) per sequence·head."""
    return triton.cdiv(s1, 16) * bn


def kv_split_cuts(b: int, n: int, s1: int, s2: int, block_n: int, variant: str, device: torch.device) -> list[int]:
    """Where a dense call of this shape cuts the key axis (model_attention's kv_splits; [] = unsplit)."""
    per = split_blocks(Seqs(block_n, s1, s2, b), _decode_programs(b * n, s1), variant, device)
    return list(range(per * block_n, s2, per * block_n)) if per else []


def shift_h(q: torch.Tensor, c: torch.Tensor, nkv: int, s2: int, block_n: int, h_scale: float, causal_offset: int,
            causal: bool) -> torch.Tensor:
    """The shift table: h = h_scale·(Q·c_j) for every query row and KV block as (B·N, nblk, S1) fp32, one contiguous
    vector per block (causal: only the blocks each 64-row group sees; the loops read no other)."""
    b, n, s1, d = q.shape
    nblk = triton.cdiv(s2, block_n)
    htab = torch.empty((b * n, nblk, s1), dtype=torch.float32, device=q.device)
    kernels.shift_h_kernel[(triton.cdiv(s1, 64), b * n)](
        q, c, htab, *q.stride(), n, n // nkv, s1, nblk, c.shape[2], h_scale, causal_offset, D=d, DP=c.shape[-1],
        BLOCK_M=64, Q_BF16=q.dtype == torch.bfloat16, CAUSAL=causal, KV_LEN=block_n, num_warps=4)
    return htab


def attention_triton(q, k, v, mask=None, scale=None, causal=False, causal_align="top_left", variant="exact",
                     block_n=128, beta=None, backend="auto", return_lse=False, sinks=None):
    """pasa::attention for CUDA tensors (BNSD): (out, lse). Same arguments and errors as the CPU operator."""
    scale, beta = _C.check_args(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta, return_lse, sinks)
    _check_backend(backend, q.shape[-1], block_n)
    b, n, s1, _ = q.shape
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((b, n, s1) if return_lse else (0,), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    _attention(q, k, v, mask, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse,
               Seqs(block_n, s1, k.shape[2], b))
    return out, lse


def attention_varlen_triton(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale=None,
                            causal=False, causal_align="top_left", variant="exact", block_n=128, beta=None,
                            backend="auto", return_lse=False, sinks=None):
    """pasa::attention_varlen for CUDA tensors (TND, flash-attn's cu_seqlens): (out, lse). One program per (query
    block, sequence·head); programs past a sequence's rows return at once."""
    scale, beta, cu_q, cu_k = _C.check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                                                   scale, causal, causal_align, variant, block_n, beta, return_lse,
                                                   sinks)
    _check_backend(backend, q.shape[-1], block_n)
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((q.shape[1], q.shape[0]) if return_lse else (0,), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    seqs = Seqs(block_n, max(e - s for s, e in zip(cu_q[:-1], cu_q[1:])),
                max([e - s for s, e in zip(cu_k[:-1], cu_k[1:])], default=0), len(cu_q) - 1, cu_q, cu_k)
    _attention(q, k, v, None, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse, seqs,
               cu_seqlens_q, cu_seqlens_k)
    return out, lse


def _check_backend(backend: str, d: int, block_n: int) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"pasa.attention: backend for CUDA tensors must be one of {BACKENDS}, got {backend!r}")
    if d > HEAD_DIM_MAX:
        raise ValueError(f"pasa.attention: the CUDA backend takes head dim D ≤ {HEAD_DIM_MAX}, got {d}")
    if block_n > BLOCK_N_MAX:
        raise ValueError(f"pasa.attention: the CUDA backend takes block_n ≤ {BLOCK_N_MAX}, got {block_n}")


def _attention(q, k, v, mask, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse, seqs: Seqs,
               cu_seqlens_q=None, cu_seqlens_k=None):
    """The launches of one call into out (and lse where it has elements): K-shift pass, shift table (exact, dense,
    where it fits), attention loop; with split key axes (flash-decoding) the parts merge by lse afterwards."""
    d = q.shape[-1]
    n = q.shape[-2] if seqs.varlen else q.shape[1]
    nkv = k.shape[-2] if seqs.varlen else k.shape[1]
    dp = max(16, triton.next_power_of_2(d))
    tile_n = max(16, triton.next_power_of_2(block_n))
    pow2, s_rest = split_scale(scale)
    causal_offset = seqs.max_s2 - seqs.max_s1 if causal_align == "bottom_right" else 0
    dev = q.device
    with torch.cuda.device(dev) if q.is_cuda else contextlib.nullcontext():
        varlen_args = ()
        if seqs.varlen:
            varlen_args = (cu_seqlens_k.to(torch.int64), torch.from_numpy(seqs.blk0).to(dev),
                           torch.from_numpy(seqs.cblk0).to(dev))
        flags = dict(KERNEL_FLAGS, VARIANT=VARIANT_IDS[variant])
        sp_scale = h_scale = 0.0
        coef = q
        b, s1, s2 = seqs.batch, seqs.max_s1, seqs.max_s2
        if seqs.max_nblk == 0:   # no sequence has a key: zeros, lse = the sink (or −inf)
            out.zero_()
            if lse.numel() and sinks is None:
                lse.fill_(-math.inf)
            elif lse.numel():
                lse.copy_(sinks.float().view((-1, 1) if seqs.varlen else (1, -1, 1)).expand_as(lse))
            return
        per_split = split_blocks(seqs, _decode_programs(b * n, s1), variant, dev)
        if variant == "exact":
            kp, c = shift_k(k, block_n, pow2, dp, tile_n, seqs=seqs, varlen_args=varlen_args)
            h_scale = float(np.float32(np.float32(scale) * kernels.LOG2E))
            sp_scale = float(np.float32(s_rest * kernels.LOG2E))
            table_fits = not seqs.varlen and seqs.max_nblk * 4 <= H_TABLE_LIMIT * d * q.element_size()
            # the Hopper kernel writes neither lse nor sinks and takes no packed or split calls (yet)
            ws = (use_hopper(q, mask, variant, block_n) and table_fits and sinks is None and not lse.numel()
                  and not per_split)
            if ws:
                flags["H_MODE"] = 3                        # the Hopper kernel reads h from the table
            elif "H_MODE" not in flags:
                flags["H_MODE"] = 4 if dp <= H4_MAX_DP else 3 if table_fits else 2
            flags["SCALE_FOLD"] = flags["SCALE_FOLD"] and (mask is None or mask.dtype == torch.bool)
            if flags["H_MODE"] == 3:
                htab = shift_h(q, c, nkv, s2, block_n, h_scale, causal_offset, bool(causal))
            else:
                htab = c
            if ws:
                _launch_hopper(q, kp, v, htab, out, s2, causal_offset, sp_scale, dp, tile_n, bool(causal))
                return
        else:   # pasa, paper: K' = M·K with M's fp16 entries for the block's length; the shift comes from S'
            me, coef = (torch.from_numpy(t).to(dev) for t in _length_tables(variant, scale, beta, block_n))
            kp, c = shift_k(k, block_n, 1.0, dp, tile_n, me=me, seqs=seqs, varlen_args=varlen_args)
            htab = c
            flags["H_MODE"] = 0
        kp_desc, v_desc = kp, v
        flags["KV_TMA"] = flags["KV_TMA"] and not seqs.varlen and tile_n == block_n and _tma_ready(v)
        if flags["KV_TMA"]:
            kp_desc = TensorDescriptor.from_tensor(kp.view(-1, dp), [tile_n, dp])
            v_desc = TensorDescriptor.from_tensor(v, [1, 1, tile_n, dp])      # zeros past S2 and past D
        mask_t, mask_kind, mstride = _mask_args(mask, b, n, s1, s2)
        if AUTOTUNE:
            launch, config = kernels.attention_kernel_tuned, {}
        else:
            launch, config = kernels.attention_kernel, kernels.default_config(dp, tile_n, flags["H_MODE"],
                                                                              flags["VARIANT"], s1)
        splits = triton.cdiv(seqs.max_nblk, per_split) if per_split else 1
        target_o, target_l = out, lse
        if splits > 1:   # each split writes its normalised fp32 output and lse; merged below
            target_o = torch.empty((splits,) + tuple(out.shape), dtype=torch.float32, device=dev)
            target_l = torch.empty((splits,) + ((n, q.shape[0]) if seqs.varlen else (b, n, s1)),
                                   dtype=torch.float32, device=dev)
        if seqs.varlen:   # TND: no batch stride, the sequence's rows start at cu_seqlens
            q_str, v_str = (0, q.stride(1), q.stride(0), q.stride(2)), (0, v.stride(1), v.stride(0), v.stride(2))
            o_str = (0, target_o.stride(-2), target_o.stride(-3), target_o.stride(-1))
            l_str = (0, target_l.stride(-2), 1) if target_l.numel() else (0, 0, 0)
            cu_q_dev = cu_seqlens_q.to(torch.int64)
            seq_args = (cu_q_dev,) + varlen_args
        else:
            q_str, v_str, o_str = q.stride(), v.stride(), target_o.stride()[-4:]
            l_str = target_l.stride()[-3:] if target_l.numel() else (0, 0, 0)
            seq_args = (q, q, q, q)
        split_o = target_o.stride(0) if splits > 1 else 0
        split_l = target_l.stride(0) if splits > 1 else 0
        has_sinks = sinks is not None and splits == 1
        grid = lambda meta: (triton.cdiv(s1, meta["BLOCK_M"]), b * n, splits)  # noqa: E731
        launch[grid](
            q, kp, c, htab, v, mask_t if mask_t is not None else q, target_o,
            target_l if target_l.numel() else q, sinks.float() if has_sinks else q, coef, *seq_args, kp_desc, v_desc,
            *q_str, *v_str, *mstride, *o_str, *l_str, split_o, split_l, per_split,
            n, n // nkv, s1, s2, causal_offset, sp_scale, h_scale, _bucket(s1), _bucket(s2),
            D=d, DP=dp, KV_LEN=block_n, BLOCK_N=tile_n, CAUSAL=bool(causal), MASK_KIND=mask_kind,
            Q_BF16=q.dtype == torch.bfloat16, RETURN_LSE=bool(target_l.numel()), HAS_SINKS=has_sinks,
            VARLEN=seqs.varlen, BOTTOM_RIGHT=causal_align == "bottom_right", SPLIT=splits > 1, **flags, **config)
        if splits > 1:
            _merge_splits(target_o, target_l, sinks, out, lse, "TND" if seqs.varlen else "BNSD")


def _merge_splits(parts_o, parts_l, sinks, out, lse, layout: str) -> None:
    """Flash-decoding's second step: the splits' (out, lse) merged by lse (pasa.merge_attention, fp32), the sink
    joining once as a part of value zero; written into out and, where requested, lse."""
    merged, merged_lse = merge_attention(list(parts_o), list(parts_l), layout=layout)
    if sinks is not None:
        sink = sinks.float().view(-1, 1) if layout == "TND" else sinks.float().view(1, -1, 1)
        merged, merged_lse = merge_attention([merged, torch.zeros_like(merged)],
                                             [merged_lse, sink.expand_as(merged_lse)], layout=layout)
    out.copy_(merged)
    if lse.numel():
        lse.copy_(merged_lse)


def use_hopper(q: torch.Tensor, mask, variant: str, block_n: int) -> bool:
    """Whether a call runs the warp-specialised Hopper kernel (hopper.py): the exact variant without a user mask,
    head dim ≤ 128 padded to 64 or 128, KV blocks of 64 or 128 keys, on an sm_90 device with Gluon (or forced by
    HOPPER). The shift table must also fit (H_TABLE_LIMIT), checked by the caller. Every other call runs
    kernels.attention_kernel."""
    if HOPPER is False or variant != "exact" or mask is not None or block_n not in (64, 128):
        return False
    if max(16, triton.next_power_of_2(q.shape[-1])) not in (64, 128):
        return False
    if HOPPER:
        return True
    return q.is_cuda and torch.cuda.get_device_capability(q.device) == (9, 0) and _gluon() is not None


def _gluon():
    """The Hopper kernel's module, or None where this Triton has no Gluon."""
    try:
        from . import hopper
    except ImportError:
        return None
    return hopper


def _launch_hopper(q, kp, v, htab, out, s2, causal_offset, sp_scale, dp, tile_n, causal):
    """hopper.attention_kernel_ws over the K' and shift table already built. V goes by TMA, in fp16: a bf16 V, or
    one a tensor descriptor cannot address, is rounded (copied) to a contiguous fp16 tensor first, which is the
    contract's rounding of V."""
    hopper = _gluon()
    b, n, s1, d = q.shape
    if v.dtype != torch.float16 or not _tma_ready(v):
        v = torch.empty(v.shape, dtype=torch.float16, device=v.device).copy_(v)
    kp_desc, v_desc = hopper.descriptors(kp, v, dp, tile_n)
    nc = hopper.consumers(dp)
    maxnreg, consumer_regs = hopper.REGISTERS[nc]
    grid = (triton.cdiv(s1, hopper.ROWS * nc), b * n)
    hopper.attention_kernel_ws[grid](
        q, kp_desc, v_desc, htab, out, *q.stride(), *out.stride(), n, n // v.shape[1], s1, s2, causal_offset,
        sp_scale, D=d, DP=dp, BLOCK_N=tile_n, CAUSAL=causal, NUM_STAGES=hopper.STAGES, PINGPONG=hopper.PINGPONG,
        NC=nc, CONSUMER_REGS=consumer_regs, BOUND=hopper.BOUND, num_warps=hopper.NUM_WARPS, maxnreg=maxnreg)


def _tma_ready(t: torch.Tensor) -> bool:
    """Whether a tensor descriptor can address t: unit last stride, 16-byte aligned base and other strides."""
    size = t.element_size()
    return (t.stride(-1) == 1 and t.data_ptr() % 16 == 0
            and all(st * size % 16 == 0 for st in t.stride()[:-1]))


def _bucket(s: int) -> int:
    """Autotuning key of a sequence length: its power of two (one tuning per octave of lengths)."""
    return 1 << max(0, math.ceil(math.log2(max(s, 1))))


def flops(b: int, n: int, s1: int, s2: int, d: int, causal: bool) -> float:
    """Forward FLOPs of attention: 4·B·N·S1·S2·D (two matmuls), halved for causal."""
    total = 4.0 * b * n * s1 * s2 * d
    return total / 2 if causal else total


def register() -> None:
    """Make these the CUDA kernels of pasa::attention and pasa::attention_varlen."""
    torch.library.impl("pasa::attention", "CUDA", attention_triton)
    torch.library.impl("pasa::attention_varlen", "CUDA", attention_varlen_triton)
