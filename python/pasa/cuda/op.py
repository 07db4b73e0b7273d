"""Host side of the CUDA backend: argument checks, the three launches, and the registration as pasa::attention's
CUDA kernel (so ``torch.ops.pasa.attention`` and ``pasa.attention`` dispatch here for CUDA tensors)."""
from __future__ import annotations

import contextlib
import math
import os

import numpy as np
import torch
import triton
from triton.tools.tensor_descriptor import TensorDescriptor

from .. import _C
from ..beta import exact_coefficient, paper_coefficient, shift_entries
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


def shift_k(k: torch.Tensor, block_n: int, pow2: float, dp: int, tile_n: int, m_entries=None):
    """The separate pass over K: K' (B, Nkv, nblk·tile_n, dp) fp16, zero-padded, and for the exact variant the
    centres c_j as (B, Nkv, nblk rounded up to 16, dp) fp16, zero rows past the last block (the attention loop reads
    16 at once). m_entries = (d, e) of M for a full and for the last block (pasa, paper): K' = M·K, no centres."""
    b, nkv, s2, d = k.shape
    nblk = triton.cdiv(s2, block_n)
    c_rows = triton.cdiv(nblk, 16) * 16
    kp = torch.empty((b, nkv, nblk * tile_n, dp), dtype=torch.float16, device=k.device)
    c = torch.zeros((b, nkv, c_rows, dp), dtype=torch.float16, device=k.device) if m_entries is None else kp
    dc = min(dp, SHIFT_FLAGS["DC"])
    kernels.shift_k_kernel[(nblk, b * nkv, dp // dc)](k, kp, c, *k.stride(), nkv, s2, c_rows, pow2,
                                                      *(m_entries or (0.0, 0.0, 0.0, 0.0)), D=d, DP=dp, DC=dc,
                                                      KV_LEN=block_n, BLOCK_N=tile_n, KV_POW2=block_n == tile_n,
                                                      MATRIX=m_entries is not None,
                                                      SUM64=SHIFT_FLAGS["SUM64"], num_warps=SHIFT_FLAGS["num_warps"])
    return kp, c


def attention_triton(q, k, v, mask=None, scale=None, causal=False, causal_align="top_left", variant="exact",
                     block_n=128, beta=None, backend="auto"):
    """pasa::attention for CUDA tensors (BNSD). Same arguments and errors as the CPU operator."""
    scale, beta = _C.check_args(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta)
    if backend not in BACKENDS:
        raise ValueError(f"pasa.attention: backend for CUDA tensors must be one of {BACKENDS}, got {backend!r}")
    b, n, s1, d = q.shape
    nkv, s2 = k.shape[1], k.shape[2]
    if d > HEAD_DIM_MAX:
        raise ValueError(f"pasa.attention: the CUDA backend takes head dim D ≤ {HEAD_DIM_MAX}, got {d}")
    if block_n > BLOCK_N_MAX:
        raise ValueError(f"pasa.attention: the CUDA backend takes block_n ≤ {BLOCK_N_MAX}, got {block_n}")
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if out.numel() == 0:
        return out
    if s2 == 0:
        return out.zero_()
    dp = max(16, triton.next_power_of_2(d))
    tile_n = max(16, triton.next_power_of_2(block_n))
    pow2, s_rest = split_scale(scale)
    nblk = triton.cdiv(s2, block_n)
    last_n = s2 - (nblk - 1) * block_n
    causal_offset = s2 - s1 if causal_align == "bottom_right" else 0
    with torch.cuda.device(q.device) if q.is_cuda else contextlib.nullcontext():
        flags = dict(KERNEL_FLAGS, VARIANT=VARIANT_IDS[variant])
        sp_scale = h_scale = coef_full = coef_last = 0.0
        if variant == "exact":
            kp, c = shift_k(k, block_n, pow2, dp, tile_n)
            h_scale = float(np.float32(np.float32(scale) * kernels.LOG2E))
            sp_scale = float(np.float32(s_rest * kernels.LOG2E))
            if "H_MODE" not in flags:
                flags["H_MODE"] = (4 if dp <= H4_MAX_DP else
                                   3 if nblk * 4 <= H_TABLE_LIMIT * d * q.element_size() else 2)
            flags["SCALE_FOLD"] = flags["SCALE_FOLD"] and (mask is None or mask.dtype == torch.bool)
            if flags["H_MODE"] == 3:
                htab = torch.empty((b * n, nblk, s1), dtype=torch.float32, device=q.device)
                kernels.shift_h_kernel[(triton.cdiv(s1, 64), b * n)](
                    q, c, htab, *q.stride(), n, n // nkv, s1, nblk, c.shape[2], h_scale, causal_offset, D=d, DP=dp,
                    BLOCK_M=64, Q_BF16=q.dtype == torch.bfloat16, CAUSAL=bool(causal), KV_LEN=block_n, num_warps=4)
            else:
                htab = c
        else:   # pasa, paper: K' = M·K with M's fp16 entries for the block's length; the shift comes from S'
            kp, c = shift_k(k, block_n, 1.0, dp, tile_n,
                            m_entries=shift_entries(scale, beta, block_n) + shift_entries(scale, beta, last_n))
            htab = c
            flags["H_MODE"] = 0
            if variant == "pasa":
                coef_full, coef_last = exact_coefficient(scale, beta, block_n), exact_coefficient(scale, beta, last_n)
            else:
                coef_full = coef_last = paper_coefficient(beta)
        kp_desc, v_desc = kp, v
        flags["KV_TMA"] = flags["KV_TMA"] and tile_n == block_n and _tma_ready(v)
        if flags["KV_TMA"]:
            kp_desc = TensorDescriptor.from_tensor(kp.view(-1, dp), [tile_n, dp])
            v_desc = TensorDescriptor.from_tensor(v, [1, 1, tile_n, dp])      # zeros past S2 and past D
        mask_t, mask_kind, mstride = _mask_args(mask, b, n, s1, s2)
        if AUTOTUNE:
            launch, config = kernels.attention_kernel_tuned, {}
        else:
            launch, config = kernels.attention_kernel, kernels.default_config(dp, tile_n, flags["H_MODE"],
                                                                              flags["VARIANT"])
        grid = lambda meta: (triton.cdiv(s1, meta["BLOCK_M"]), b * n)  # noqa: E731
        launch[grid](
            q, kp, c, htab, v, mask_t if mask_t is not None else q, out, kp_desc, v_desc,
            *q.stride(), *v.stride(), *mstride, *out.stride(),
            n, n // nkv, s1, s2, causal_offset, sp_scale, h_scale, coef_full, coef_last,
            _bucket(s1), _bucket(s2),
            D=d, DP=dp, KV_LEN=block_n, BLOCK_N=tile_n, CAUSAL=bool(causal), MASK_KIND=mask_kind,
            Q_BF16=q.dtype == torch.bfloat16, **flags, **config)
    return out


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
    """Make this the CUDA kernel of pasa::attention."""
    torch.library.impl("pasa::attention", "CUDA", attention_triton)
