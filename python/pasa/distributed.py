"""Sequence parallelism over ``torch.distributed``: ring attention.

Each of the R ranks of a process group holds one slice of a sequence's queries, keys and values. The K/V slices
travel around the ring of ranks (each step every rank sends the slice it holds to rank + 1 and receives the next
from rank − 1, through ``torch.distributed.batch_isend_irecv``, while it computes), and every rank attends its
queries over each K/V slice as it passes. The partial results merge by their log-sum-exp (``pasa.merge_attention``),
so after R steps every rank holds attention over the whole sequence for its queries. The same code runs on gloo
(CPU tensors) and NCCL (CUDA tensors).

Causal attention balances the work by zig-zag sharding: the sequence is cut into 2R chunks and rank r holds chunks
r and 2R − 1 − r, so each step after the first costs every rank half a step's work (``split_sequence`` and
``gather_sequence`` cut and reassemble that way).

Numerics: each call of ``pasa.attention`` covers one K/V chunk, its KV blocks counted from the chunk's first key, so
ring attention computes the contract's split form with cuts at every chunk boundary (docs/numerics.md, "Splitting
the key axis"), merged through the chunks' fp16 outputs and fp32 lse. Where the chunk length is a multiple of
block_n (and, for ``exact``, of its 64-row query group, contract.QUERY_GROUP), every KV block and query group is the
single-process call's, and the result differs from ``pasa.attention`` on the whole sequence only by that rounding;
other chunk lengths regroup exact's query rows, a different rounding of the same size. Each chunk's output is rounded to fp16 before the merge (bf16 inputs run in fp16),
one output rounding more than a single call, and a chunk's output (over fewer keys) can be larger than the merged
one: where a variant's error is close to the output's own rounding (``exact`` on moderate scores) the ring's RMSE
against the float64 golden is above the single call's, by 1-3% on the tests' inputs (tests/test_distributed.py, 2
and 4 ranks) and 3-7% on N(0, 1) inputs (scripts/bench_ring.py's check, S = 512, 2 ranks).
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from . import _C
from .api import attention
from .contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT, FP16_MAX
from .merge import merge_attention

LAYOUTS = ("BNSD", "BSND")


def ring_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, group: dist.ProcessGroup | None = None, *,
                   causal: bool = False, scale: float | None = None, variant: str = DEFAULT_VARIANT,
                   block_n: int = DEFAULT_BLOCK_N, beta: float | None = None, sinks: torch.Tensor | None = None,
                   return_lse: bool = False, layout: str = "BNSD", backend: str = "auto"):
    """Attention over a sequence sharded across the ranks of ``group``, each rank holding one slice.

    Every rank calls it with its own slice (``split_sequence`` cuts one):
        q: (B, N, S_q, D) this rank's queries (BSND: (B, S_q, N, D)), float16 or bfloat16.
        k, v: (B, Nkv, S_k, D) this rank's keys and values; the same shape and dtype on every rank.
        causal=False: slice r holds tokens [r·S_k, (r + 1)·S_k) of the keys; the queries may be any slice.
        causal=True: self-attention with zig-zag slices: S_q = S_k = 2c, the concatenation of chunks r and 2R − 1 − r
            of the 2R chunks of c tokens; token i sees tokens 0..i of the whole sequence.
        group: the process group (default: the world). scale, variant, block_n, beta, sinks, backend: as
            ``pasa.attention``; variant "paper" is refused (its statistics are fp16, and it is defined on the whole
            key axis, unsplit).
        return_lse: also return the float32 log-sum-exp (B, N, S_q) of this rank's rows.

    Returns:
        This rank's output rows, q's shape, layout and dtype, contiguous (and lse). Equal to ``pasa.attention`` on
        the whole sequence (``gather_sequence`` of the outputs) to rounding when c (causal) or S_k is a multiple of
        block_n (``exact``: and of 64); otherwise the KV blocks start at each chunk and the result is the contract's
        split form with those cuts, exact's query rows grouped by each call.

    Raises:
        ValueError: a paper variant, an unknown layout, slices that differ between ranks in shape or dtype, or
        causal slices that are not two chunks of equal length (S_q = S_k, even); the errors of ``pasa.attention``
        (sinks included).
    """
    if variant == "paper":
        raise ValueError("pasa.distributed.ring_attention: variant 'paper' keeps its statistics in fp16 and is defined "
                         "on the whole key axis; use 'exact' or 'pasa'")
    if layout not in LAYOUTS:
        raise ValueError(f"pasa.distributed.ring_attention: layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "BSND":
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    if sinks is not None:   # the ring merges the sink itself (below): the op's check of sinks, on this rank's slice
        _C.check_args(q, k, v, None, scale, False, "top_left", variant, block_n, beta, False, sinks)
    _check_slices(q, k, v, group, causal)
    out_dtype = q.dtype
    q, k, v = (_as_fp16(t, name) for t, name in ((q, "q"), (k, "k"), (v, "v")))   # fp16 parts, not bf16
    kw = dict(scale=scale, variant=variant, block_n=block_n, beta=beta, backend=backend, return_lse=True)
    out, lse = _ring(q, torch.stack([k, v]), group, causal, kw, _send_recv)
    if sinks is not None:              # the sink joins each row's normaliser once: a part of value zero and lse = sink
        sink = sinks.to(device=lse.device, dtype=torch.float32).view(1, -1, 1).expand_as(lse)
        out, lse = merge_attention([out, torch.zeros_like(out)], [lse, sink])
    out = out.to(out_dtype)
    if layout == "BSND":
        out = out.transpose(1, 2).contiguous()
    return (out, lse) if return_lse else out


def _ring(q: torch.Tensor, kv: torch.Tensor, group, causal: bool, kw: dict, exchange):
    """The ring's steps: attend q to the (2, B, Nkv, S_k, D) K/V buffer held, merge, and take the next buffer from
    ``exchange(kv, group)`` (which starts sending this one and returns the incoming buffer and a wait function).
    Returns the fp32 output and the lse of q's rows. scripts/bench_ring.py times it with an exchange that sends
    nothing, to measure the communication the computation does not hide."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    lse = torch.full(q.shape[:-1], -torch.inf, dtype=torch.float32, device=q.device)
    for step in range(world):
        incoming, wait = exchange(kv, group) if step < world - 1 else (kv, None)   # travels while kv is used
        for q0, q1, c0, c1, diagonal in _work(step, rank, world, q.shape[2], kv.shape[3], causal):
            o, l = attention(q[:, :, q0:q1], kv[0][:, :, c0:c1], kv[1][:, :, c0:c1], causal=diagonal, **kw)
            out[:, :, q0:q1], lse[:, :, q0:q1] = merge_attention([out[:, :, q0:q1], o], [lse[:, :, q0:q1], l])
        if wait is not None:
            wait()
        kv = incoming
    return out, lse


def _send_recv(kv: torch.Tensor, group):
    """Sends kv to the next rank and receives the previous rank's buffer (one batch_isend_irecv)."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    incoming = torch.empty_like(kv)
    requests = dist.batch_isend_irecv([dist.P2POp(dist.isend, kv, _peer(group, (rank + 1) % world), group),
                                       dist.P2POp(dist.irecv, incoming, _peer(group, (rank - 1) % world), group)])

    def wait():
        for request in requests:
            request.wait()
    return incoming, wait


def _work(step: int, rank: int, world: int, s_q: int, s_k: int, causal: bool):
    """(q0, q1, c0, c1, diagonal): attend rows q0:q1 to the held slice's keys c0:c1, causally (top-left) where the
    query and key chunk are the same chunk. One key chunk per call, so every call's KV blocks start at a chunk."""
    if not causal:
        return [(0, s_q, 0, s_k, False)]
    c = s_k // 2
    src = (rank - step) % world                   # the rank whose chunks src and 2R − 1 − src are held
    if step == 0:                                 # own chunks r (rows 0:c) and 2R − 1 − r (rows c:2c)
        return [(0, c, 0, c, True), (c, 2 * c, 0, c, False), (c, 2 * c, c, 2 * c, True)]
    if src < rank:                                # chunk src precedes both query chunks; 2R − 1 − src follows both
        return [(0, 2 * c, 0, c, False)]
    return [(c, 2 * c, 0, c, False), (c, 2 * c, c, 2 * c, False)]   # only chunk 2R − 1 − r sees them, both whole


def _as_fp16(t: torch.Tensor, name: str) -> torch.Tensor:
    """The contract rounds inputs to fp16 anyway; the ring works in fp16 so that each part's output is rounded to fp16
    rather than bf16. A bf16 value beyond fp16's range is refused, as pasa.attention refuses it."""
    if t.dtype == torch.bfloat16 and t.numel() and bool((t.abs().gt(FP16_MAX) & torch.isfinite(t)).any()):
        raise ValueError(f"pasa.distributed.ring_attention: {name} holds bfloat16 values beyond float16's range "
                         f"(|x| > {FP16_MAX:g}); PASA computes in float16, so rescale the input")
    return t.to(torch.float16)


def _peer(group, group_rank: int) -> int:
    """The global rank P2POp takes for a rank of ``group``."""
    return group_rank if group is None else dist.get_global_rank(group, group_rank)


_DTYPES = {torch.float16: 1, torch.bfloat16: 2}


def _check_slices(q, k, v, group, causal: bool) -> None:
    """Every rank's K/V slice must have one shape and dtype (the ring buffer's), checked with one all-reduce; causal
    slices must be two equal chunks of queries and keys."""
    if not all(isinstance(t, torch.Tensor) for t in (q, k, v)) or q.dim() != 4 or k.shape != v.shape or k.dim() != 4:
        raise ValueError("pasa.distributed.ring_attention: q, k and v must be 4-D tensors (B, N, S, D), k and v of one "
                         f"shape; got {[tuple(getattr(t, 'shape', ())) for t in (q, k, v)]}")
    if causal and (q.shape[2] != k.shape[2] or k.shape[2] % 2):
        raise ValueError("pasa.distributed.ring_attention: causal=True takes zig-zag slices (pasa.distributed."
                         f"split_sequence): S_q = S_k = 2c, got S_q = {q.shape[2]}, S_k = {k.shape[2]}")
    mine = torch.tensor(list(k.shape) + [_DTYPES.get(k.dtype, 0), q.shape[2] if causal else 0], device=k.device)
    both = torch.cat([mine, -mine])
    dist.all_reduce(both, op=dist.ReduceOp.MAX, group=group)        # max and −min of every entry in one call
    if not torch.equal(both[:mine.numel()], -both[mine.numel():]):
        raise ValueError("pasa.distributed.ring_attention: every rank's k and v must have one shape and dtype (and, "
                         f"causal, one query length); this rank has k {tuple(k.shape)} {k.dtype}, q {tuple(q.shape)}")


def split_sequence(x: torch.Tensor, world_size: int, rank: int, *, causal: bool, dim: int = 2) -> torch.Tensor:
    """Rank ``rank``'s slice of a whole-sequence tensor, as ``ring_attention`` takes it: the rank-th of
    ``world_size`` equal slices, or (causal) chunks rank and 2R − 1 − rank of 2R equal chunks, concatenated.
    The sequence length along ``dim`` must divide into R (2R) equal parts; raises ValueError otherwise."""
    parts = 2 * world_size if causal else world_size
    if x.shape[dim] % parts:
        raise ValueError(f"pasa.distributed.split_sequence: the sequence length {x.shape[dim]} must be a multiple of "
                         f"{parts} ({'2 x ' if causal else ''}world size {world_size})")
    chunks = x.chunk(parts, dim=dim)
    if not causal:
        return chunks[rank].contiguous()
    return torch.cat([chunks[rank], chunks[parts - 1 - rank]], dim=dim)


def gather_sequence(x: torch.Tensor, group: dist.ProcessGroup | None = None, *, causal: bool,
                    dim: int = 2) -> torch.Tensor:
    """The inverse of ``split_sequence``: every rank's slice gathered (``all_gather``) into the whole sequence, on
    every rank."""
    world = dist.get_world_size(group)
    slices = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(slices, x.contiguous(), group=group)
    if not causal:
        return torch.cat(slices, dim=dim)
    halves = [s.chunk(2, dim=dim) for s in slices]
    return torch.cat([h[0] for h in halves] + [h[1] for h in reversed(halves)], dim=dim)
