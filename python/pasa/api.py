"""The public entry point: ``pasa.attention``, a thin layer over ``torch.ops.pasa.attention``."""
from __future__ import annotations

import torch

from .contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT

LAYOUTS = ("BNSD", "BSND")


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
              causal_align: str = "top_left", mask: torch.Tensor | None = None, scale: float | None = None,
              variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N, beta: float | None = None,
              layout: str = "BNSD", backend: str = "auto", sinks: torch.Tensor | None = None,
              return_lse: bool = False):
    """PASA attention: softmax(scale·q·kᵀ + mask)·v computed with fp16 tiles that do not overflow.

    Args:
        q: (B, N, S1, D) query, float16 or bfloat16 (``layout="BSND"``: (B, S1, N, D)).
        k, v: (B, Nkv, S2, D) keys and values, q's dtype and device; N must be a multiple of Nkv
            (GQA; Nkv = 1 is MQA). Query head h reads KV head h // (N / Nkv).
        causal: hide keys after the query. ``causal_align="top_left"`` (torch SDPA's ``is_causal``) lets row i
            see keys 0..i; ``"bottom_right"`` (KV-cache decoding) lets it see keys 0..i + S2 − S1.
            S1 = 3, S2 = 5, 1 = visible::

                top_left        bottom_right
                1 0 0 0 0       1 1 1 0 0
                1 1 0 0 0       1 1 1 1 0
                1 1 1 0 0       1 1 1 1 1

        mask: broadcastable to (B, N, S1, S2); bool (True = attend) or floating (added to the scaled scores).
            A row that sees no key returns zeros.
        scale: softmax scale, default D^-1/2.
        variant: "exact" (default: β = 1 block centring, shift in fp32), "pasa" (β < 1, fp32 statistics) or
            "paper" (the published algorithm, all fp16). docs/numerics.md defines each step.
        block_n: KV block length n, a multiple of 16 in [16, 1024].
        beta: β of the shifting matrix for "pasa" and "paper" (default 0.984497); must be None for "exact".
        layout: "BNSD" or "BSND" for q, k, v and the output.
        backend: "auto" picks the device's kernel; on CPU "native" (C++ operator), on CUDA "triton".
        sinks: (N,) floating, one logit per query head that joins every row's softmax normaliser as a key whose
            value is zero (attention sinks, GPT-OSS's ``s_aux``): out = Σ exp(x_j)·v_j / (exp(sink) + Σ exp(x_j)).
            A row that sees no key returns zeros. docs/numerics.md, "Attention sinks".
        return_lse: also return the log-sum-exp of each row's scores (and sink), as flash-attn's softmax_lse.

    Returns:
        The attention output in q's layout, shape and dtype. Non-finite inputs propagate to the rows that see them.
        With ``return_lse=True``, ``(out, lse)``: lse float32 (B, N, S1) in either layout, the natural log of the
        row's softmax normaliser (−inf for a row that sees no key and has no sink); ``pasa.merge_attention``
        combines such pairs computed over disjoint key sets.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"pasa.attention: layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "BSND":
        q, k, v = (t.transpose(1, 2) if isinstance(t, torch.Tensor) else t for t in (q, k, v))
    out, lse = torch.ops.pasa.attention(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta, backend,
                                        return_lse, sinks)
    if layout == "BSND":
        out = out.transpose(1, 2)
    return (out, lse) if return_lse else out
