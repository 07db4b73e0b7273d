"""Host side of the CUDA backend: argument checks, the exact variant's preparation (``prepare_exact``), the launches,
and the registration as pasa::attention's CUDA kernel (so ``torch.ops.pasa.attention`` and ``pasa.attention``
dispatch here for CUDA tensors)."""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import triton
from triton.tools.tensor_descriptor import TensorDescriptor

from .. import _C
from ..beta import exact_coefficient, paper_coefficient, shift_entries
from ..contract import QUERY_GROUP
from ..model import fp16_slices, split_scale
from . import kernels

BACKENDS = ("auto", "triton")
HEAD_DIM_MAX = 256   # DP = 256 is the widest output tile that fits in registers beside the score tile
BLOCK_N_MAX = 256    # the KV tile is one contract block wide
AUTOTUNE = os.environ.get("PASA_CUDA_AUTOTUNE", "0") == "1"   # 1: tune the launch per shape (default_config else)
# the exact variant's kernel paths (docs/cuda.md): SCALE_FOLD = the row max of z itself, s_rest folded into the
# exponent's FFMA (off with an additive mask); KV_TMA = K' and V tiles through tensor descriptors (where a tile is one
# contract block and V is aligned for them), both chosen by the H200 timings there; ROWSUM_DOT = Σ P by a tensor-core
# product with a ones tile (fits beside 3 pipeline stages since the K' ring has one buffer fewer; not yet timed).
# h = s_h·q·(c_j − c_0): at a padded head dim ≤ H4_MAX_DP from q·(c − c_0) for 16 KV blocks at once inside the loop
# (H_MODE 4); wider, precomputed per (query row, KV block) by the query pass when that table stays within
# H_TABLE_LIMIT × Q's bytes (H_MODE 3), else a 16-column dot per block inside the loop (H_MODE 2). An "H_MODE" key
# here overrides that choice (scripts/tune_cuda.py, tests).
KERNEL_FLAGS = {"SCALE_FOLD": True, "KV_TMA": True, "ROWSUM_DOT": True}
H4_MAX_DP = 64
H_TABLE_LIMIT = 4.0
# the key and query passes: columns per program (at most 8192 values per tile: the key pass's centre, K' and norms
# of a 256-row block in 64 columns spill in sm_90 compiles), warps (docs/cuda.md)
SHIFT_FLAGS = {"DC": 64, "num_warps": 4}
VARIANT_IDS = {"exact": 0, "pasa": 1, "paper": 2}


def _mask_args(mask: torch.Tensor | None, b: int, n: int, s1: int, s2: int):
    """(tensor, kind, 4 strides): the user's mask broadcast to (B, N, S1, S2) by zero strides, no copy."""
    if mask is None:
        return None, kernels.MASK_NONE, (0, 0, 0, 0)
    full = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape)).expand(b, n, s1, s2)
    if mask.dtype == torch.bool:
        return full.view(torch.uint8), kernels.MASK_BOOL, full.stride()
    return full, kernels.MASK_FLOAT, full.stride()


def shift_k(k: torch.Tensor, block_n: int, pow2: float, dp: int, tile_n: int, m_entries=None,
            live: torch.Tensor | None = None, live_end: int | None = None):
    """The key pass over K: K' (B, Nkv, nblk·tile_n, dp) fp16, zero-padded; for the exact variant also the block
    centres c_j over the live keys as (B, Nkv, nblk rounded up to 16, dp) fp16, zero rows past the last block (the
    loop reads 16 at once), and the key-norm bounds kn (B, Nkv, nblk, dp / DC) fp32 (kernels.shift_k_kernel).
    live: (B, Nkv, S2) uint8, the keys that count in a centre (see ``live_keys``), or None: the keys below live_end
    (default S2). m_entries = (d, e) of M for a full and for the last block (pasa, paper): K' = M·K, no centres."""
    b, nkv, s2, d = k.shape
    nblk = triton.cdiv(s2, block_n)
    c_rows = triton.cdiv(nblk, 16) * 16
    dc = min(dp, SHIFT_FLAGS["DC"], 8192 // tile_n)
    kp = torch.empty((b, nkv, nblk * tile_n, dp), dtype=torch.float16, device=k.device)
    if m_entries is None:
        c = torch.zeros((b, nkv, c_rows, dp), dtype=torch.float16, device=k.device)
        kn = torch.empty((b, nkv, nblk, dp // dc), dtype=torch.float32, device=k.device)
    else:
        c = kn = kp
    kernels.shift_k_kernel[(nblk, b * nkv, dp // dc)](
        k, kp, c, kn, _or(live, kp), *k.stride(), nkv, s2, s2 if live_end is None else live_end,
        c_rows, pow2, *(m_entries or (0.0, 0.0, 0.0, 0.0)), D=d, DP=dp, DC=dc, KV_LEN=block_n, BLOCK_N=tile_n,
        KV_POW2=block_n == tile_n, MATRIX=m_entries is not None, HAS_LIVE=live is not None,
        num_warps=SHIFT_FLAGS["num_warps"])
    return kp, c, kn


# ---- the exact variant's preparation (docs/cuda.md, "Design"), shared by every kernel that runs the variant -------

def exact_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """The exact variant's fp16 inputs (docs/numerics.md, "Notation and inputs"): float16 tensors as they are;
    bfloat16 ones with each (batch, head) slice scaled by its power of two 2^−ε into fp16 (model.fp16_slices).
    Returns (q16, k16, v16, head_exps): head_exps (B·N, 2) fp32 holds, per query head, εq + εk (the scores' power
    of two) and εv (the output's), or None for float16 inputs."""
    if q.dtype != torch.bfloat16:
        return q, k, v, None
    (q16, eq), (k16, ek), (v16, ev) = (fp16_slices(t) for t in (q, k, v))
    groups = q.shape[1] // k.shape[1]
    ek, ev = (e.repeat_interleave(groups, dim=1) for e in (ek, ev))
    return q16.half(), k16.half(), v16.half(), torch.cat([eq + ek, ev], dim=-1).reshape(-1, 2).contiguous()


def score_scales(scale: float) -> tuple[float, float]:
    """(log2e·s_rest, log2e·s) in fp32: the scales of S' + g and of h in log2 units (model.split_scale; bf16 slices
    multiply both by each head's 2^(εq + εk) inside the kernels)."""
    return (float(np.float32(split_scale(scale)[1] * kernels.LOG2E)),
            float(np.float32(np.float32(scale) * kernels.LOG2E)))


def live_keys(mask: torch.Tensor | None, causal: bool, causal_offset: int, b: int, nkv: int, s1: int, s2: int,
              groups: int):
    """The keys some query row of some head of their KV head's group sees (docs/numerics.md, "exact": only they
    enter a block's centre; model.live_keys): (live, live_end) with live (B, Nkv, S2) uint8 or None, and every key at
    or past live_end dead. Without a mask, causal rows see keys up to the last row's diagonal, so live_end alone
    says it; a mask is read at its own (un-broadcast) size."""
    if mask is None:
        return None, (min(s2, max(0, s1 + causal_offset)) if causal else s2)
    m = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
    visible = m if m.dtype == torch.bool else m != float("-inf")
    if causal:   # row i sees keys ≤ i + offset; a row dimension of 1 stands for every row, so for the last one
        keys = torch.arange(s2, device=m.device)
        rows = (torch.arange(s1, device=m.device)[:, None] if visible.shape[2] > 1
                else torch.full((1, 1), s1 - 1, device=m.device))
        visible = visible & (keys[None, :] <= rows + causal_offset)
    any_row = visible.any(dim=2)                                               # (B|1, N|1, S2|1)
    if any_row.shape[1] > 1:                                                   # any head of the KV group
        any_row = any_row.reshape(any_row.shape[0], nkv, groups, any_row.shape[-1]).any(dim=2)
    return any_row.expand(b, nkv, s2).contiguous().view(torch.uint8), s2


@dataclass
class ExactPrep:
    """The exact variant's per-call data for a kernel (``prepare_exact``), c_rows = nblk rounded up to 16:
    q16 (B, N, S1, D), k16, v16 (B, Nkv, S2, D): the fp16 inputs (bf16 slices scaled, ``exact_inputs``);
    head_exps (B·N, 2) fp32 or None: εq + εk and εv per query head;
    sp_scale, h_scale: log2e·s_rest and log2e·s (``score_scales``; times 2^(εq + εk) per head for bf16);
    q_prime (B, N, S1, DP) fp16: Q' = Q − a; a (B, N, groups, DP) fp16: the query centres (64-row groups);
    k_prime (B, Nkv, nblk·tile_n, DP) fp16: K', zero-padded; c (B, Nkv, c_rows, DP) fp16: the block centres over live
    keys, zero rows past nblk; kn (B, Nkv, nblk, DP / DC) fp32: key-norm bounds (the overflow screen);
    h (B·N, nblk, S1) fp32 or None: the table log2e·s_h·q·(c_j − c_0) (h_mode 3);
    flags (B·N, groups + 1) int32: zeroed; the attention loop sets a group's flag where a block of its rows fails
    the overflow screen."""
    q16: torch.Tensor
    k16: torch.Tensor
    v16: torch.Tensor
    head_exps: torch.Tensor | None
    sp_scale: float
    h_scale: float
    q_prime: torch.Tensor
    a: torch.Tensor
    k_prime: torch.Tensor
    c: torch.Tensor
    kn: torch.Tensor
    h: torch.Tensor | None
    flags: torch.Tensor


def prepare_exact(q, k, v, mask, scale: float, causal: bool, causal_offset: int, block_n: int, dp: int, tile_n: int,
                  h_mode: int) -> ExactPrep:
    """Everything the exact variant computes once per call before its attention loop (model._exact_call and the
    per-block centres): the fp16 inputs, the key pass (live keys, centres, K', norm bounds) and the query pass
    (query centres, Q', the zeroed overflow flags, and the h table where h_mode is 3). Arguments as attention_triton's
    after its checks; dp, tile_n: the padded head dim and KV tile."""
    b, n, s1, d = q.shape
    nkv, s2 = k.shape[1], k.shape[2]
    groups = n // nkv
    q16, k16, v16, head_exps = exact_inputs(q, k, v)
    sp_scale, h_scale = score_scales(scale)
    live, live_end = live_keys(mask, causal, causal_offset, b, nkv, s1, s2, groups)
    kp, c, kn = shift_k(k16, block_n, split_scale(scale)[0], dp, tile_n, live=live, live_end=live_end)
    nblk = triton.cdiv(s2, block_n)
    n_groups = triton.cdiv(s1, QUERY_GROUP)
    qp = torch.empty((b, n, s1, dp), dtype=torch.float16, device=q.device)
    a = torch.empty((b, n, n_groups, dp), dtype=torch.float16, device=q.device)
    flags = torch.empty((b * n, n_groups + 1), dtype=torch.int32, device=q.device)
    htab = torch.empty((b * n, nblk, s1), dtype=torch.float32, device=q.device) if h_mode == 3 else None
    kernels.shift_q_kernel[(n_groups, b * n)](
        q16, qp, a, c, _or(htab, qp), _or(head_exps, qp), flags,
        *q16.stride(), n, groups, s1, n_groups, nblk, c.shape[2], causal_offset, h_scale, D=d, DP=dp,
        DC=min(dp, SHIFT_FLAGS["DC"]), H_TABLE=h_mode == 3, SLICES=head_exps is not None, CAUSAL=bool(causal),
        KV_LEN=block_n, num_warps=SHIFT_FLAGS["num_warps"])
    return ExactPrep(q16, k16, v16, head_exps, sp_scale, h_scale, qp, a, kp, c, kn, htab, flags)


def exact_h_mode(d: int, dp: int, nblk: int, element_size: int) -> int:
    """Where the exact variant takes h from (KERNEL_FLAGS's comment): 4, 3 or 2, unless KERNEL_FLAGS names one."""
    if "H_MODE" in KERNEL_FLAGS:
        return KERNEL_FLAGS["H_MODE"]
    return 4 if dp <= H4_MAX_DP else 3 if nblk * 4 <= H_TABLE_LIMIT * d * element_size else 2


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
    nblk = triton.cdiv(s2, block_n)
    last_n = s2 - (nblk - 1) * block_n
    causal_offset = s2 - s1 if causal_align == "bottom_right" else 0
    with torch.cuda.device(q.device) if q.is_cuda else contextlib.nullcontext():
        flags = dict(KERNEL_FLAGS, VARIANT=VARIANT_IDS[variant], NCHUNK=1, SLICES=False)
        sp_scale = h_scale = coef_full = coef_last = 0.0
        if variant == "exact":
            flags["H_MODE"] = exact_h_mode(d, dp, nblk, q.element_size())
            flags["SCALE_FOLD"] = flags["SCALE_FOLD"] and (mask is None or mask.dtype == torch.bool)
            prep = prepare_exact(q, k, v, mask, scale, causal, causal_offset, block_n, dp, tile_n, flags["H_MODE"])
            flags.update(NCHUNK=prep.kn.shape[-1], SLICES=prep.head_exps is not None)
            q_raw, k_raw, v, kp = prep.q16, prep.k16, prep.v16, prep.k_prime
            sp_scale, h_scale = prep.sp_scale, prep.h_scale
            exact_ptrs = (prep.q_prime, prep.a, k_raw, kp, prep.c, prep.kn, _or(prep.h, kp), _or(prep.head_exps, kp),
                          prep.flags)
        else:   # pasa, paper: K' = M·K with M's fp16 entries for the block's length; the shift comes from S'
            kp = shift_k(k, block_n, 1.0, dp, tile_n,
                         m_entries=shift_entries(scale, beta, block_n) + shift_entries(scale, beta, last_n))[0]
            flags["H_MODE"] = 0
            if variant == "pasa":
                coef_full, coef_last = exact_coefficient(scale, beta, block_n), exact_coefficient(scale, beta, last_n)
            else:
                coef_full = coef_last = paper_coefficient(beta)
            q_raw, k_raw = q, k
            exact_ptrs = (q, q, k, kp) + (kp,) * 5
        mask_t, mask_kind, mstride = _mask_args(mask, b, n, s1, s2)
        flags["KV_TMA"] = flags["KV_TMA"] and tile_n == block_n and _tma_ready(v)
        flags["ROWSUM_DOT"] = flags["ROWSUM_DOT"] and flags["KV_TMA"]   # beside pointer loads it spills (sm_90)
        config = _default_config(dp, tile_n, flags, mask_t)
        if flags["KV_TMA"] and mask_t is not None and config["num_stages"] < 3:
            # with a mask tile beside them, tensor-descriptor loads in fewer than 3 stages crash the ptxas of
            # Triton 3.6 (sm_90, D = 128: a segmentation fault) and 3 stages do not fit: pointer loads instead
            flags.update(KV_TMA=False, ROWSUM_DOT=False)
            config = _default_config(dp, tile_n, flags, mask_t)
        kp_desc, v_desc = kp, v
        if flags["KV_TMA"]:
            kp_desc = TensorDescriptor.from_tensor(kp.view(-1, dp), [tile_n, dp])
            v_desc = TensorDescriptor.from_tensor(v, [1, 1, tile_n, dp])      # zeros past S2 and past D
        launch = kernels.attention_kernel
        if AUTOTUNE:
            launch, config = kernels.attention_kernel_tuned, {}
        grid = lambda meta: (triton.cdiv(s1, meta["BLOCK_M"]), b * n)  # noqa: E731
        args = (q_raw, *exact_ptrs, v, _or(mask_t, q), out, kp_desc, v_desc,
                *q_raw.stride(), *k_raw.stride(), *v.stride(), *mstride, *out.stride(),
                n, n // nkv, s1, s2, causal_offset, sp_scale, h_scale, coef_full, coef_last, _bucket(s1), _bucket(s2))
        consts = dict(D=d, DP=dp, KV_LEN=block_n, BLOCK_N=tile_n, CAUSAL=bool(causal), MASK_KIND=mask_kind,
                      Q_BF16=q.dtype == torch.bfloat16)
        launch[grid](*args, **consts, **flags, **config)
        if variant == "exact":   # the query groups whose overflow screen failed, again with the fp32 fallback
            flags.update(FALLBACK=True, SCALE_FOLD=False, ROWSUM_DOT=False)
            kernels.attention_kernel[grid](*args, **consts, **flags, **kernels.fallback_config(dp, tile_n))
    return out


def _default_config(dp: int, tile_n: int, flags: dict, mask_t: torch.Tensor | None) -> dict:
    """kernels.default_config for a launch with these flags and mask."""
    return kernels.default_config(dp, tile_n, flags["H_MODE"], flags["VARIANT"], flags["KV_TMA"], flags["ROWSUM_DOT"],
                                  mask_t.element_size() if mask_t is not None else 0)


def _or(t: torch.Tensor | None, stand_in: torch.Tensor) -> torch.Tensor:
    """t, or a tensor that stands in for a pointer argument the launch does not read."""
    return stand_in if t is None else t


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
