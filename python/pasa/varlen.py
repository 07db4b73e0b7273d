"""``pasa.attention_varlen``: packed variable-length batches (flash-attn's ``flash_attn_varlen_func``, torch_npu's
TND layout with actual sequence lengths), a thin layer over ``torch.ops.pasa.attention_varlen``."""
from __future__ import annotations

import torch

from .api import check_argument_types
from .contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT


def attention_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor,
                     cu_seqlens_k: torch.Tensor, max_seqlen_q: int, max_seqlen_k: int, *, causal: bool = False,
                     causal_align: str = "top_left", scale: float | None = None, variant: str = DEFAULT_VARIANT,
                     block_n: int = DEFAULT_BLOCK_N, beta: float | None = None, sinks: torch.Tensor | None = None,
                     return_lse: bool = False, backend: str = "auto"):
    """PASA attention on B sequences packed along the token axis, without padding and without a mask.

    Sequence b holds query tokens cu_seqlens_q[b] : cu_seqlens_q[b + 1] of q and key/value tokens
    cu_seqlens_k[b] : cu_seqlens_k[b + 1] of k and v; its queries attend to its keys only. The result equals
    ``pasa.attention`` called on each sequence alone (BNSD views of the same tokens), sequence by sequence.

    Args:
        q: (Tq, N, D) float16 or bfloat16, the sequences' query tokens one after another (TND).
        k, v: (Tk, Nkv, D) in q's dtype and device; N a multiple of Nkv (GQA/MQA).
        cu_seqlens_q, cu_seqlens_k: (B + 1,) int32 or int64 on q's device: 0, then the cumulative sequence
            lengths, ending at Tq and Tk. Empty sequences are allowed.
        max_seqlen_q, max_seqlen_k: at least the longest query and key sequence (flash-attn's arguments).
        causal, causal_align: per sequence, as in ``pasa.attention`` (default top-left, as torch SDPA;
            flash-attn ≥ 2.1 aligns bottom-right: pass ``causal_align="bottom_right"`` for its behaviour). With
            S1 = 2 query and S2 = 4 key tokens, 1 = visible::

                top_left     bottom_right
                1 0 0 0      1 1 1 0
                1 1 0 0      1 1 1 1

        scale, variant, block_n, beta, sinks, backend: as ``pasa.attention``; KV blocks of block_n keys start at
            each sequence's first key.
        return_lse: also return the float32 log-sum-exp, (N, Tq) as flash-attn's varlen softmax_lse.

    Returns:
        out (Tq, N, D) in q's dtype, or ``(out, lse)``. A query row that sees no key gives zeros (lse −inf, or the
        sink).

    Raises:
        TypeError naming the argument: a wrong type (before the dispatcher, ``pasa.api.ARGUMENT_TYPES``).
        ValueError / TypeError naming the argument: shapes, dtypes, devices, cu_seqlens that do not start at 0, go
        down, end elsewhere than the token count, or hold a sequence longer than max_seqlen; on ascend-sim and
        the NPU, heads·D of q at 65536 or more (the Cube's row stride; ``op_host/pasa_attention_tiling_plan.cpp``).
    """
    check_argument_types("pasa.attention_varlen", q=q, k=k, v=v, cu_seqlens_q=cu_seqlens_q, cu_seqlens_k=cu_seqlens_k,
                         max_seqlen_q=max_seqlen_q, max_seqlen_k=max_seqlen_k, causal=causal,
                         causal_align=causal_align, scale=scale, variant=variant, block_n=block_n, beta=beta,
                         sinks=sinks, return_lse=return_lse, backend=backend)
    out, lse = torch.ops.pasa.attention_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                                               scale, causal, causal_align, variant, block_n, beta, backend,
                                               return_lse, sinks)
    return (out, lse) if return_lse else out
