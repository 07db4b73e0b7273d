"""Host side of the CUDA backend: argument checks, the exact variant's preparation (``prepare_exact``), the launches
(and flash-decoding's merge), and the registration as pasa::attention's and pasa::attention_varlen's CUDA kernels (so
``torch.ops.pasa.attention``, ``pasa.attention`` and ``pasa.attention_varlen`` dispatch here for CUDA tensors)."""
from __future__ import annotations

import contextlib
import functools
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import triton
from triton.tools.tensor_descriptor import TensorDescriptor

from .. import _C
from ..beta import exact_coefficient, paper_coefficient, shift_entries
from ..contract import BF16_SLICE_TOP, QUERY_GROUP
from ..model import fp16_slices, split_scale
from . import kernels

BACKENDS = ("auto", "triton")
HEAD_DIM_MAX = 256   # DP = 256 is the widest output tile that fits in registers beside the score tile
BLOCK_N_MAX = 256    # the KV tile is one contract block wide
AUTOTUNE = os.environ.get("PASA_CUDA_AUTOTUNE", "0") == "1"   # 1: tune the launch per shape (default_config else)
# the exact variant's kernel paths (docs/cuda.md): SCALE_FOLD = the row max of z itself, s_rest folded into the
# exponent's FFMA (off with an additive mask); KV_TMA = K' and V tiles through tensor descriptors (where a tile is one
# contract block and V is aligned for them), both chosen by the H200 timings there; ROWSUM_DOT = Σ P by a tensor-core
# product with a ones tile: on, although 2–7% slower than the plain rowsum at S ≥ 4k on the H200, because with it off
# the additive-mask test (test_cuda_masks_match_model[float-exact]) failed on the H200 (RMSE 0.6-0.7 against the
# model; it passes in the interpreter and with it on): docs/cuda.md, "The new contract on the H200".
# h = s_h·q·(c_j − c_0): at a padded head dim ≤ H4_MAX_DP from q·(c − c_0) for 16 KV blocks at once inside the loop
# (H_MODE 4); wider, precomputed per (query row, KV block) by the query pass when that table stays within
# H_TABLE_LIMIT × Q's bytes (H_MODE 3; dense calls), else a 16-column dot per block inside the loop (H_MODE 2). An
# "H_MODE" key here overrides that choice (scripts/tune_cuda.py, tests).
KERNEL_FLAGS = {"SCALE_FOLD": True, "KV_TMA": True, "ROWSUM_DOT": True}
H4_MAX_DP = 64
H_TABLE_LIMIT = 4.0
# the warp-specialised Hopper kernel (hopper.py, Gluon) for the calls it covers (``use_hopper``): True where the device
# is an sm_90 GPU and Gluon imports, False never, None (the default) only where PASA_CUDA_HOPPER=1 asks for it: its
# port to the exact variant's current steps has compiled for sm_90 but not yet run on a GPU (docs/cuda.md)
HOPPER = {"1": True, "0": False}.get(os.environ.get("PASA_CUDA_HOPPER", ""))
# the Hopper kernel's g table (one fp32 per query group and key: S1·S2/16 bytes per head, quadratic) stays within
# this × Q's bytes: then the h table is at most half Q's (KV blocks of 128 keys) and the call's extra memory (out, Q',
# K', the tables) within 4.5 × Q's, below tests/test_cuda.py::test_no_quadratic_memory's 2 × (q, k, v); at D = 128
# fp16 the kernel takes S2 ≤ 4096, at D = 64 S2 ≤ 2048 (docs/cuda.md)
G_TABLE_LIMIT = 1.0
# the key and query passes: columns per program (at most 8192 values per tile: the key pass's centre, K' and norms
# of a 256-row block in 64 columns spill in sm_90 compiles), warps (docs/cuda.md)
SHIFT_FLAGS = {"DC": 64, "num_warps": 4}
VARIANT_IDS = {"exact": 0, "pasa": 1, "paper": 2}
DECODE_ROWS = 16       # a call with at most this many query rows per sequence splits its key axis (flash-decoding)
SPLIT_UNIT = 16        # blocks per split are a multiple of this (H_MODE 4 computes q·(c − c_0) for 16 blocks at once)
SM_COUNT = 132         # streaming multiprocessors assumed where no GPU is asked (the H100 and H200 have 132)


def _mask_args(mask: torch.Tensor | None, b: int, n: int, s1: int, s2: int):
    """(tensor, kind, 4 strides): the user's mask broadcast to (B, N, S1, S2) by zero strides, no copy."""
    if mask is None:
        return None, kernels.MASK_NONE, (0, 0, 0, 0)
    full = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape)).expand(b, n, s1, s2)
    if mask.dtype == torch.bool:
        return full.view(torch.uint8), kernels.MASK_BOOL, full.stride()
    return full, kernels.MASK_FLOAT, full.stride()


class Seqs:
    """The sequences of one call and where their per-sequence data lies. Dense: B sequences of S1 and S2 tokens.
    Packed (varlen): host lists of the cumulative starts cu_q, cu_k (B + 1 entries); sequence b's K' tiles (and
    key-norm rows) start at tile blk0[b]·Nkv, its centre rows at cblk0[b]·Nkv (every sequence's centre rows rounded
    up to 16), its 64-row query groups at gq0[b] (the exact variant's query centres and overflow flags, one row per
    group and head). ``device`` holds the cu_seqlens and those prefix sums as int64 tensors on the call's device
    (packed calls, ``to_device``; None for dense ones)."""

    def __init__(self, block_n: int, s1: int, s2: int, batch: int, cu_q=None, cu_k=None):
        self.varlen = cu_q is not None
        self.cu_q, self.cu_k = cu_q, cu_k
        self.lens_q = [e - s for s, e in zip(cu_q[:-1], cu_q[1:])] if self.varlen else [s1] * batch
        self.lens_k = [e - s for s, e in zip(cu_k[:-1], cu_k[1:])] if self.varlen else [s2] * batch
        nblk = [triton.cdiv(x, block_n) for x in self.lens_k]
        self.batch, self.max_s1, self.max_s2 = batch, s1, s2
        self.max_nblk = max(nblk, default=0)
        self.blk0 = np.concatenate([[0], np.cumsum(nblk)]).astype(np.int64)
        self.cblk0 = np.concatenate([[0], np.cumsum([triton.cdiv(x, 16) * 16 for x in nblk])]).astype(np.int64)
        self.gq0 = np.concatenate([[0], np.cumsum([triton.cdiv(x, QUERY_GROUP) for x in self.lens_q])]).astype(np.int64)
        self.device = None

    def to_device(self, device: torch.device) -> None:
        """Packed calls: (cu_q, cu_k, blk0, cblk0, gq0) as int64 tensors on device, views of one host-to-device copy
        of the five tables, each starting at a 16-byte boundary (Triton specialises pointers on that alignment)."""
        tables = [np.asarray(t, dtype=np.int64) for t in (self.cu_q, self.cu_k, self.blk0, self.cblk0, self.gq0)]
        padded = [np.pad(t, (0, len(t) % 2)) for t in tables]
        flat = torch.from_numpy(np.concatenate(padded)).to(device)
        self.device = tuple(part[:len(t)] for part, t in zip(flat.split([len(p) for p in padded]), tables))

    def args(self, stand_in: torch.Tensor) -> tuple:
        """The five per-sequence pointers of a launch (stand-ins for a dense call, which reads none)."""
        return self.device or (stand_in,) * 5

    def rows(self, t: torch.Tensor) -> tuple:
        """Strides (batch, head, row, column) of a BNSD tensor, or of a packed TND one (no batch stride)."""
        return (0, t.stride(1), t.stride(0), t.stride(2)) if self.varlen else t.stride()


@functools.lru_cache(maxsize=256)
def _dense_seqs(block_n: int, s1: int, s2: int, batch: int) -> Seqs:
    """The Seqs of a dense call, built once per shape (decoding calls repeat a handful of shapes; never mutated)."""
    return Seqs(block_n, s1, s2, batch)


@functools.lru_cache(maxsize=64)
def _packed_seqs(block_n: int, cu_q: tuple, cu_k: tuple, device: torch.device) -> Seqs:
    """The Seqs of a packed call with its tables on device, built and copied once per (block_n, cu_seqlens values,
    device): a pageable host-to-device copy waits for the stream (as ``_length_tables_on``), and the layers of a
    model repeat one batch's cu_seqlens. Never mutated; holds no tensor of the caller's."""
    seqs = Seqs(block_n, max(e - s for s, e in zip(cu_q[:-1], cu_q[1:])),
                max([e - s for s, e in zip(cu_k[:-1], cu_k[1:])], default=0), len(cu_q) - 1, cu_q, cu_k)
    seqs.to_device(device)
    return seqs


def shift_k(k: torch.Tensor, block_n: int, pow2: float, dp: int, tile_n: int, me: torch.Tensor | None = None,
            seqs: Seqs | None = None, live: torch.Tensor | None = None, live_end: int | None = None,
            causal: bool = False, bottom_right: bool = False):
    """The key pass over K: K' fp16, one tile of tile_n rows per (sequence, kv head, KV block) in that order,
    zero-padded; for the exact variant also the block centres c_j over the live keys, each (sequence, kv head)
    owning its blocks rounded up to 16 rows, zero past its last block (the loop reads 16 at once), and the key-norm
    bounds kn, DP / DC floats per tile (kernels.shift_k_kernel). Dense calls get K' as (B, Nkv, nblk·tile_n, dp), c
    as (B, Nkv, c_rows, dp) and kn as (B, Nkv, nblk, DP / DC); packed ones flat. live: (B, Nkv, S2) uint8, the keys
    that count in a centre (``live_keys``), or None: the keys below live_end (default S2; packed calls: from each
    sequence's causal limit). me: the fp16 entries (d, e) of M per block length (pasa, paper): K' = M·K, no centres.
    Dense (B, Nkv, S2, D) k by default; packed (T, Nkv, D) k with seqs (``Seqs.to_device`` called)."""
    nkv, d = k.shape[-2 if seqs is not None and seqs.varlen else 1], k.shape[-1]
    if seqs is None:
        seqs = Seqs(block_n, 0, k.shape[2], k.shape[0])
    tiles = int(seqs.blk0[-1]) * nkv
    dc = min(dp, SHIFT_FLAGS["DC"], 8192 // tile_n)
    kp = torch.empty((tiles * tile_n, dp), dtype=torch.float16, device=k.device)
    if me is None:
        c = torch.empty((int(seqs.cblk0[-1]) * nkv, dp), dtype=torch.float16, device=k.device)   # zero rows: kernel
        kn = torch.empty((tiles, dp // dc), dtype=torch.float32, device=k.device)
    else:
        c = kn = kp
    if not seqs.varlen:   # dense: per (batch, kv head), as the Hopper kernel and the query pass index them
        kp = kp.view(seqs.batch, nkv, -1, dp)
        if me is None:
            c, kn = c.view(seqs.batch, nkv, -1, dp), kn.view(seqs.batch, nkv, -1, dp // dc)
    if kp.numel() == 0:
        return kp, c, kn
    c_rows = triton.cdiv(seqs.max_nblk, 16) * 16
    kernels.shift_k_kernel[(seqs.max_nblk if me is not None else c_rows, seqs.batch * nkv, dp // dc)](
        k, kp, c, kn, _or(live, kp), _or(me, kp), *seqs.args(k)[:4], *seqs.rows(k), nkv, seqs.max_s2,
        seqs.max_s2 if live_end is None else live_end, c_rows, pow2, D=d, DP=dp, DC=dc,
        KV_LEN=block_n, BLOCK_N=tile_n, KV_POW2=block_n == tile_n, MATRIX=me is not None, HAS_LIVE=live is not None,
        VARLEN=seqs.varlen, CAUSAL=causal, BOTTOM_RIGHT=bottom_right, num_warps=SHIFT_FLAGS["num_warps"])
    return kp, c, kn


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


@functools.lru_cache(maxsize=64)
def _length_tables_on(variant: str, scale: float, beta: float, block_n: int, device: torch.device):
    """``_length_tables`` as fp32 tensors on device, copied once per key (a pageable host-to-device copy waits for the
    stream, so one per call would serialise the host with the GPU)."""
    return tuple(torch.from_numpy(t).to(device) for t in _length_tables(variant, scale, beta, block_n))


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


def kv_split_cuts(b: int, n: int, s1: int, s2: int, block_n: int, variant: str, device: torch.device,
                  cu_q: list[int] | None = None, cu_k: list[int] | None = None) -> list[int]:
    """Where a dense call of this shape cuts the key axis (model_attention's kv_splits; [] = unsplit). A packed call
    (host lists cu_q, cu_k; s1, s2 their longest sequences) cuts every sequence at these positions below its length."""
    per = split_blocks(Seqs(block_n, s1, s2, b, cu_q, cu_k), _decode_programs(b * n, s1), variant, device)
    return list(range(per * block_n, s2, per * block_n)) if per else []


# ---- the exact variant's preparation (docs/cuda.md, "Design"), shared by every kernel that runs the variant -------

def exact_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, seqs: Seqs):
    """The exact variant's fp16 inputs (docs/numerics.md, "Notation and inputs"): float16 tensors as they are;
    bfloat16 ones with each (sequence, head) slice scaled by its power of two 2^−ε into fp16 (model.fp16_slices;
    ``_packed_slices`` for packed calls). Returns (q16, k16, v16, head_exps): head_exps (B·N, 2) fp32 holds, per
    sequence and query head, εq + εk (the scores' power of two) and εv (the output's), or None for float16 inputs."""
    if q.dtype != torch.bfloat16:
        return q, k, v, None
    if seqs.varlen:
        (q16, eq), (k16, ek), (v16, ev) = (_packed_slices(t, lens) for t, lens in
                                           ((q, seqs.lens_q), (k, seqs.lens_k), (v, seqs.lens_k)))
    else:
        (q16, eq), (k16, ek), (v16, ev) = ((x.half(), e[..., 0, 0]) for x, e in (fp16_slices(t) for t in (q, k, v)))
    groups = eq.shape[1] // ek.shape[1]
    ek, ev = (e.repeat_interleave(groups, dim=1) for e in (ek, ev))
    return q16, k16, v16, torch.stack([eq + ek, ev], dim=-1).reshape(-1, 2).contiguous()


def _packed_slices(x: torch.Tensor, lens: list[int]):
    """model.fp16_slices for a packed (T, H, D) bfloat16 tensor, one power of two per (sequence, head): returns
    (x̃ fp16 (T, H, D), ε (B, H) fp32)."""
    seq = torch.repeat_interleave(torch.arange(len(lens), device=x.device), torch.tensor(lens, device=x.device))
    xf = x.float()
    finite = torch.where(torch.isfinite(xf), xf.abs(), 0.0).amax(dim=-1)                       # (T, H)
    amax = torch.zeros((len(lens), x.shape[1]), device=x.device).scatter_reduce_(
        0, seq[:, None].expand_as(finite), finite, "amax")
    _, exp = torch.frexp(amax)                                                                 # amax = m·2^exp
    eps = torch.where(amax > 0, (exp - BF16_SLICE_TOP).float(), 0.0)
    return (xf * torch.exp2(-eps)[seq].unsqueeze(-1)).half(), eps


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
    """The exact variant's per-call data for a kernel (``prepare_exact``); G = the call's query groups (Σ over the
    sequences of ⌈S1/64⌉), c_rows = nblk rounded up to 16:
    q16 (B, N, S1, D), k16, v16 (B, Nkv, S2, D) (packed: TND): the fp16 inputs (bf16 slices scaled, ``exact_inputs``);
    head_exps (B·N, 2) fp32 or None: εq + εk and εv per sequence and query head;
    sp_scale, h_scale: log2e·s_rest and log2e·s (``score_scales``; times 2^(εq + εk) per head for bf16);
    q_prime: Q' = Q − a, as q16 with DP columns, fp16; a (G·N, DP) fp16: the query centres, row (g0 + group)·N + head
    (g0: the sequence's first group, b·⌈S1/64⌉ dense, Seqs.gq0[b] packed);
    k_prime, c, kn: ``shift_k``'s K', block centres over live keys and key-norm bounds (the overflow screen);
    h (B·N, nblk, S1) fp32 or None: the table log2e·s_h·q·(c_j − c_0) (h_mode 3);
    flags (G·N,) int32: zeroed, indexed as a; the attention loop sets a group's flag where a block of its rows fails
    the overflow screen, and the fallback launch redoes the flagged groups."""
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


def prepare_exact(q, k, v, mask, scale: float, causal: bool, causal_align: str, block_n: int, dp: int, tile_n: int,
                  h_mode: int, seqs: Seqs) -> ExactPrep:
    """Everything the exact variant computes once per call before its attention loop (model._exact_call and the
    per-block centres): the fp16 inputs, the key pass (live keys, centres, K', norm bounds) and the query pass
    (query centres, Q', the zeroed overflow flags, and the h table where h_mode is 3, dense calls only). Arguments as
    attention_triton's after its checks; dp, tile_n: the padded head dim and KV tile; seqs: the call's sequences."""
    d = q.shape[-1]
    n = q.shape[-2] if seqs.varlen else q.shape[1]
    nkv = k.shape[-2] if seqs.varlen else k.shape[1]
    s1, s2, groups = seqs.max_s1, seqs.max_s2, n // nkv
    bottom_right = causal_align == "bottom_right"
    causal_offset = s2 - s1 if bottom_right else 0
    q16, k16, v16, head_exps = exact_inputs(q, k, v, seqs)
    sp_scale, h_scale = score_scales(scale)
    live, live_end = (None, None) if seqs.varlen else live_keys(mask, causal, causal_offset, seqs.batch, nkv, s1, s2,
                                                                groups)
    kp, c, kn = shift_k(k16, block_n, split_scale(scale)[0], dp, tile_n, seqs=seqs, live=live, live_end=live_end,
                        causal=causal, bottom_right=bottom_right)
    n_groups = int(seqs.gq0[-1])
    qp = torch.empty(q.shape[:-1] + (dp,), dtype=torch.float16, device=q.device)
    a = torch.empty((n_groups * n, dp), dtype=torch.float16, device=q.device)
    flags = torch.empty((n_groups * n,), dtype=torch.int32, device=q.device)
    htab = None
    if h_mode == 3:
        htab = torch.empty((seqs.batch * n, seqs.max_nblk, s1), dtype=torch.float32, device=q.device)
    kernels.shift_q_kernel[(triton.cdiv(s1, QUERY_GROUP), seqs.batch * n)](
        q16, qp, a, c, _or(htab, qp), _or(head_exps, qp), flags, *seqs.args(q)[0:5:4], *seqs.rows(q16),
        *seqs.rows(qp)[:3], n, groups, s1, seqs.max_nblk, triton.cdiv(seqs.max_nblk, 16) * 16, causal_offset, h_scale,
        D=d, DP=dp, DC=min(dp, SHIFT_FLAGS["DC"]), H_TABLE=h_mode == 3, SLICES=head_exps is not None,
        CAUSAL=bool(causal), KV_LEN=block_n, VARLEN=seqs.varlen, num_warps=SHIFT_FLAGS["num_warps"])
    return ExactPrep(q16, k16, v16, head_exps, sp_scale, h_scale, qp, a, kp, c, kn, htab, flags)


def exact_h_mode(d: int, dp: int, seqs: Seqs, element_size: int) -> int:
    """Where the exact variant takes h from (KERNEL_FLAGS's comment): 4, 3 or 2, unless KERNEL_FLAGS names one (the
    table, 3, only for dense calls: a packed call asking for it takes 2)."""
    if "H_MODE" in KERNEL_FLAGS:
        return 2 if seqs.varlen and KERNEL_FLAGS["H_MODE"] == 3 else KERNEL_FLAGS["H_MODE"]
    if dp <= H4_MAX_DP:
        return 4
    return 3 if _table_fits(d, seqs, element_size) else 2


def _table_fits(d: int, seqs: Seqs, element_size: int) -> bool:
    """Whether the h table (S2/n floats per query row) of a dense call stays within H_TABLE_LIMIT × Q's bytes."""
    return not seqs.varlen and seqs.max_nblk * 4 <= H_TABLE_LIMIT * d * element_size


def attention_triton(q, k, v, mask=None, scale=None, causal=False, causal_align="top_left", variant="exact",
                     block_n=128, beta=None, backend="auto", return_lse=False, sinks=None):
    """pasa::attention for CUDA tensors (BNSD): (out, lse). Same arguments and errors as the CPU operator."""
    scale, beta = _C.check_args(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta, return_lse, sinks)
    _check_backend("pasa.attention", backend, q.shape[-1], block_n)
    b, n, s1, _ = q.shape
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((b, n, s1) if return_lse else (0,), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    _attention(q, k, v, mask, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse,
               _dense_seqs(block_n, s1, k.shape[2], b))
    return out, lse


def attention_varlen_triton(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, scale=None,
                            causal=False, causal_align="top_left", variant="exact", block_n=128, beta=None,
                            backend="auto", return_lse=False, sinks=None):
    """pasa::attention_varlen for CUDA tensors (TND, flash-attn's cu_seqlens): (out, lse). One program per (query
    block, sequence·head); programs past a sequence's rows return at once."""
    scale, beta, cu_q, cu_k = _C.check_varlen_args(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                                                   scale, causal, causal_align, variant, block_n, beta, return_lse,
                                                   sinks)
    _check_backend("pasa.attention_varlen", backend, q.shape[-1], block_n)
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((q.shape[1], q.shape[0]) if return_lse else (0,), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    seqs = _packed_seqs(block_n, tuple(cu_q), tuple(cu_k), q.device)
    _attention(q, k, v, None, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse, seqs)
    return out, lse


def _check_backend(function: str, backend: str, d: int, block_n: int) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"{function}: backend for CUDA tensors must be one of {BACKENDS}, got {backend!r}")
    if d > HEAD_DIM_MAX:
        raise ValueError(f"{function}: the CUDA backend takes head dim D ≤ {HEAD_DIM_MAX}, got {d}")
    if block_n > BLOCK_N_MAX:
        raise ValueError(f"{function}: the CUDA backend takes block_n ≤ {BLOCK_N_MAX}, got {block_n}")


def _attention(q, k, v, mask, scale, beta, causal, causal_align, variant, block_n, sinks, out, lse, seqs: Seqs):
    """The launches of one call into out (and lse where it has elements): the key pass, the exact variant's query pass,
    the attention loop (the Hopper kernel where it covers the call), the exact variant's fallback launch; with split
    key axes (flash-decoding) the parts merge by lse afterwards."""
    d = q.shape[-1]
    n = q.shape[-2] if seqs.varlen else q.shape[1]
    nkv = k.shape[-2] if seqs.varlen else k.shape[1]
    dp = max(16, triton.next_power_of_2(d))
    tile_n = max(16, triton.next_power_of_2(block_n))
    causal_offset = seqs.max_s2 - seqs.max_s1 if causal_align == "bottom_right" else 0
    b, s1, s2 = seqs.batch, seqs.max_s1, seqs.max_s2
    dev = q.device
    with torch.cuda.device(dev) if q.is_cuda else contextlib.nullcontext():
        if seqs.max_nblk == 0:   # no sequence has a key: zeros, lse = the sink (or −inf)
            out.zero_()
            if lse.numel() and sinks is None:
                lse.fill_(-math.inf)
            elif lse.numel():
                lse.copy_(sinks.float().view((-1, 1) if seqs.varlen else (1, -1, 1)).expand_as(lse))
            return
        per_split = split_blocks(seqs, _decode_programs(b * n, s1), variant, dev)
        flags = dict(KERNEL_FLAGS, VARIANT=VARIANT_IDS[variant], NCHUNK=1, SLICES=False)
        sp_scale = h_scale = 0.0
        hopper = False
        if variant == "exact":
            hopper = hopper_takes(q, mask, variant, block_n, seqs, per_split)
            flags["H_MODE"] = 3 if hopper else exact_h_mode(d, dp, seqs, q.element_size())
            flags["SCALE_FOLD"] = flags["SCALE_FOLD"] and (mask is None or mask.dtype == torch.bool)
            prep = prepare_exact(q, k, v, mask, scale, causal, causal_align, block_n, dp, tile_n, flags["H_MODE"], seqs)
            flags.update(NCHUNK=prep.kn.shape[-1], SLICES=prep.head_exps is not None)
            q_raw, k_raw, v, kp, coef = prep.q16, prep.k16, prep.v16, prep.k_prime, q
            sp_scale, h_scale = prep.sp_scale, prep.h_scale
            exact_ptrs = (prep.q_prime, prep.a, k_raw, kp, prep.c, prep.kn, _or(prep.h, kp), _or(prep.head_exps, kp),
                          prep.flags)
            p_str = seqs.rows(prep.q_prime)[:3]
        else:   # pasa, paper: K' = M·K with M's fp16 entries for the block's length; the shift comes from S'
            me, coef = _length_tables_on(variant, scale, beta, block_n, dev)
            kp = shift_k(k, block_n, 1.0, dp, tile_n, me=me, seqs=seqs)[0]
            flags["H_MODE"] = 0
            q_raw, k_raw = q, k
            exact_ptrs = (q, q, k, kp) + (kp,) * 5
            p_str = (0, 0, 0)
        mask_t, mask_kind, mstride = _mask_args(mask, b, n, s1, s2)
        flags["KV_TMA"] = flags["KV_TMA"] and not seqs.varlen and tile_n == block_n and _tma_ready(v)
        flags["ROWSUM_DOT"] = flags["ROWSUM_DOT"] and flags["KV_TMA"]   # beside pointer loads it spills (sm_90)
        config = _default_config(dp, tile_n, flags, mask_t, s1)
        if flags["KV_TMA"] and mask_t is not None and config["num_stages"] < 3:
            # with a mask tile beside them, tensor-descriptor loads in fewer than 3 stages crash the ptxas of
            # Triton 3.6 (sm_90, D = 128: a segmentation fault) and 3 stages do not fit: pointer loads instead
            flags.update(KV_TMA=False, ROWSUM_DOT=False)
            config = _default_config(dp, tile_n, flags, mask_t, s1)
        kp_desc, v_desc = kp, v
        if flags["KV_TMA"]:
            kp_desc = TensorDescriptor.from_tensor(kp.view(-1, dp), [tile_n, dp])
            v_desc = TensorDescriptor.from_tensor(v, [1, 1, tile_n, dp])      # zeros past S2 and past D
        launch = kernels.attention_kernel
        if AUTOTUNE:
            launch, config = kernels.attention_kernel_tuned, {}
        splits = triton.cdiv(seqs.max_nblk, per_split) if per_split else 1
        target_o, target_l = out, lse
        if splits > 1:   # each split writes its normalised fp32 output and lse; merged below
            target_o = torch.empty((splits,) + tuple(out.shape), dtype=torch.float32, device=dev)
            target_l = torch.empty((splits,) + ((n, q.shape[0]) if seqs.varlen else (b, n, s1)),
                                   dtype=torch.float32, device=dev)
        if seqs.varlen:   # TND: no batch stride, the sequence's rows start at cu_seqlens
            o_str = (0, target_o.stride(-2), target_o.stride(-3), target_o.stride(-1))
            l_str = (0, target_l.stride(-2), 1) if target_l.numel() else (0, 0, 0)
        else:
            o_str = target_o.stride()[-4:]
            l_str = target_l.stride()[-3:] if target_l.numel() else (0, 0, 0)
        split_o = target_o.stride(0) if splits > 1 else 0
        split_l = target_l.stride(0) if splits > 1 else 0
        has_sinks = sinks is not None and splits == 1
        sinks_t = sinks.float().contiguous() if has_sinks else q
        grid = lambda meta: (triton.cdiv(s1, meta["BLOCK_M"]), b * n, splits)  # noqa: E731
        args = (q_raw, *exact_ptrs, v, _or(mask_t, q), target_o, target_l if target_l.numel() else q, sinks_t, coef,
                *seqs.args(q), kp_desc, v_desc, *seqs.rows(q_raw), *p_str, *seqs.rows(k_raw), *seqs.rows(v), *mstride,
                *o_str, *l_str, split_o, split_l, per_split, n, n // nkv, s1, s2, causal_offset, sp_scale, h_scale,
                float(np.float32(scale)), _bucket(s1), _bucket(s2))
        consts = dict(D=d, DP=dp, KV_LEN=block_n, BLOCK_N=tile_n, CAUSAL=bool(causal), MASK_KIND=mask_kind,
                      Q_BF16=q.dtype == torch.bfloat16, RETURN_LSE=bool(target_l.numel()), HAS_SINKS=has_sinks,
                      VARLEN=seqs.varlen, BOTTOM_RIGHT=causal_align == "bottom_right", SPLIT=splits > 1)
        if hopper:
            _launch_hopper(prep, q, out, lse, sinks_t if has_sinks else None, scale, causal, causal_offset, dp, tile_n,
                           n // nkv)
        else:
            launch[grid](*args, **consts, **flags, **config)
        if variant == "exact":   # the query groups whose overflow screen failed, again with the fp32 fallback
            flags.update(FALLBACK=True, SCALE_FOLD=False, ROWSUM_DOT=False)
            kernels.attention_kernel[grid](*args, **consts, **flags, **kernels.fallback_config(dp, tile_n))
        if splits > 1:
            _merge_splits(target_o, target_l, sinks, out, lse, "TND" if seqs.varlen else "BNSD")


def _default_config(dp: int, tile_n: int, flags: dict, mask_t: torch.Tensor | None, s1: int) -> dict:
    """kernels.default_config for a launch with these flags and mask."""
    return kernels.default_config(dp, tile_n, flags["H_MODE"], flags["VARIANT"], flags["KV_TMA"], flags["ROWSUM_DOT"],
                                  mask_t.element_size() if mask_t is not None else 0, s1)


def _merge_splits(parts_o, parts_l, sinks, out, lse, layout: str) -> None:
    """Flash-decoding's second step, one launch (kernels.merge_splits_kernel): the splits' (out, lse) merged by lse
    in fp32 as pasa.merge_attention does, the sink joining once as a part of value zero; written into out (contiguous,
    as attention_triton allocates it) and, where requested, lse."""
    d = out.shape[-1]
    rows = out.numel() // d
    sinks = None if sinks is None else sinks.float().contiguous()
    tnd = layout == "TND"
    block_r = 16
    kernels.merge_splits_kernel[(triton.cdiv(rows, block_r),)](
        parts_o, parts_l, _or(sinks, parts_l), out, lse if lse.numel() else parts_l, rows, parts_o.shape[0],
        parts_o.stride(0), parts_l.stride(0), 1 if tnd else out.shape[2], out.shape[-2 if tnd else 1],
        out.shape[0] if tnd else 0, D=d, DP=max(16, triton.next_power_of_2(d)), BLOCK_R=block_r, TND=tnd,
        HAS_SINKS=sinks is not None, RETURN_LSE=bool(lse.numel()), num_warps=4)


def use_hopper(q: torch.Tensor, mask, variant: str, block_n: int) -> bool:
    """Whether a call may run the warp-specialised Hopper kernel (hopper.py): the exact variant without a user mask,
    head dim ≤ 128 padded to 64 or 128, KV blocks of 64 or 128 keys, on an sm_90 device with Gluon, where HOPPER
    asks for it. The caller also requires a dense, unsplit call whose h and g tables fit (H_TABLE_LIMIT,
    G_TABLE_LIMIT). Every other call runs kernels.attention_kernel."""
    if not HOPPER or variant != "exact" or mask is not None or block_n not in (64, 128):
        return False
    if max(16, triton.next_power_of_2(q.shape[-1])) not in (64, 128):
        return False
    return not q.is_cuda or (torch.cuda.get_device_capability(q.device) == (9, 0) and _gluon() is not None)


def hopper_takes(q: torch.Tensor, mask, variant: str, block_n: int, seqs: Seqs, per_split: int = 0) -> bool:
    """Whether the Hopper kernel runs a call (``use_hopper``, and a dense, unsplit call whose h table and g table —
    one fp32 per 64-row query group and key, S2/64 floats per query row — stay within H_TABLE_LIMIT and
    G_TABLE_LIMIT × Q's bytes)."""
    d, size = q.shape[-1], q.element_size()
    return (use_hopper(q, mask, variant, block_n) and _table_fits(d, seqs, size) and not per_split
            and triton.cdiv(seqs.max_s2, QUERY_GROUP) * 4 <= G_TABLE_LIMIT * d * size)


def _gluon():
    """The Hopper kernel's module, or None where this Triton has no Gluon."""
    try:
        from . import hopper
    except ImportError:
        return None
    return hopper


def g_table(prep: ExactPrep, n: int, groups: int, s1: int, causal: bool, causal_offset: int, dp: int,
            tile_n: int) -> torch.Tensor:
    """The Hopper kernel's g = a·K'_jᵀ per query group and key of a dense call (kernels.shift_g_kernel):
    (B·N, ⌈S1/64⌉, nblk·tile_n) fp32; causal: only the blocks each group's rows can see are written."""
    b, nkv, rows, _ = prep.k_prime.shape
    nblk = rows // tile_n
    n_groups = triton.cdiv(s1, QUERY_GROUP)
    gtab = torch.empty((b * n, n_groups, nblk * tile_n), dtype=torch.float32, device=prep.a.device)
    kernels.shift_g_kernel[(triton.cdiv(n_groups, 64), b * n)](
        prep.a, prep.k_prime, gtab, n, groups, s1, nblk, causal_offset, DP=dp, BLOCK_N=tile_n, CAUSAL=bool(causal),
        num_warps=4)
    return gtab


def _launch_hopper(prep: ExactPrep, q, out, lse, sinks, scale: float, causal: bool, causal_offset: int, dp: int,
                   tile_n: int, groups: int) -> None:
    """The g table (``g_table``), then hopper.attention_kernel_ws over the exact variant's preparation. V goes by TMA
    in fp16 (the exact variant's v16): one a tensor descriptor cannot address is copied to a contiguous tensor first."""
    hopper = _gluon()
    b, n, s1, d = q.shape
    gtab = g_table(prep, n, groups, s1, causal, causal_offset, dp, tile_n)
    v = prep.v16 if _tma_ready(prep.v16) else prep.v16.contiguous()
    kp_desc, v_desc = hopper.descriptors(prep.k_prime, v, dp, tile_n)
    nc = hopper.consumers(dp)
    maxnreg, consumer_regs = hopper.REGISTERS[nc]
    grid = (triton.cdiv(s1, hopper.ROWS * nc), b * n)
    hopper.attention_kernel_ws[grid](
        prep.q16, prep.q_prime, prep.a, kp_desc, v_desc, prep.h, gtab, prep.c, prep.kn, prep.flags,
        _or(prep.head_exps, gtab), _or(sinks, gtab), out, _or(lse if lse.numel() else None, gtab),
        *prep.q16.stride(), *prep.q_prime.stride()[:3], *out.stride(), *(lse.stride() if lse.numel() else (0, 0, 0)),
        n, groups, s1, prep.k16.shape[2], causal_offset, prep.sp_scale, float(np.float32(scale)),
        D=d, DP=dp, BLOCK_N=tile_n, CAUSAL=causal, NCHUNK=prep.kn.shape[-1], SLICES=prep.head_exps is not None,
        RETURN_LSE=bool(lse.numel()), HAS_SINKS=sinks is not None, NUM_STAGES=hopper.STAGES, PINGPONG=hopper.PINGPONG,
        NC=nc, CONSUMER_REGS=consumer_regs, BOUND=hopper.BOUND, num_warps=hopper.NUM_WARPS, maxnreg=maxnreg)


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
    """Make these the CUDA kernels of pasa::attention and pasa::attention_varlen."""
    torch.library.impl("pasa::attention", "CUDA", attention_triton)
    torch.library.impl("pasa::attention_varlen", "CUDA", attention_varlen_triton)
