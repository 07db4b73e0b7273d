"""Float64 golden attention: the truth every backend and variant is measured against."""
from __future__ import annotations

import torch

from .masking import block_bias


def golden_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask: torch.Tensor | None = None,
                     scale: float | None = None, causal: bool = False, causal_align: str = "top_left",
                     sinks: torch.Tensor | None = None, return_lse: bool = False):
    """softmax(s·q·kᵀ + bias)·v in float64 on the given values (BNSD; GQA/MQA by head groups).

    sinks: (N,) per-head logits that join each row's softmax normaliser as one more key whose value is zero
    (GPT-OSS's attention sinks). Rows that see no key give zeros. Returns float64 of shape (B, N, S1, D), and with
    ``return_lse`` also the float64 log-sum-exp (B, N, S1) of each row's visible scores and its sink (−inf for a
    row that sees no key and has no sink).
    """
    q64, k64, v64 = (t.to(torch.float64) for t in (q, k, v))
    groups = q.shape[1] // max(k.shape[1], 1)
    k64 = k64.repeat_interleave(groups, dim=1)
    v64 = v64.repeat_interleave(groups, dim=1)
    s = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q64, k64.transpose(-1, -2)) * s
    bias = block_bias(mask, causal, causal_align, q.shape[2], k.shape[2], 0, k.shape[2], torch.float64)
    if bias is not None:
        scores = scores + bias.to(scores.device)
    if sinks is not None:   # the sink as a last key: its score is the sink, its value zero
        sink_col = sinks.to(torch.float64).to(scores.device).view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
        scores = torch.cat([scores, sink_col], dim=-1)
        v64 = torch.cat([v64, v64.new_zeros(*v64.shape[:2], 1, v64.shape[-1])], dim=-2)   # also when S2 = 0
    row_max = scores.amax(dim=-1, keepdim=True) if scores.shape[-1] else torch.full_like(q64[..., :1], -torch.inf)
    seen = row_max != -torch.inf                 # a row whose max is +inf or NaN is non-finite, as in torch SDPA
    p = torch.exp(scores - torch.where(seen, row_max, torch.zeros_like(row_max)))
    denom = p.sum(dim=-1, keepdim=True)
    out = torch.matmul(p, v64) / torch.where(seen, denom, torch.ones_like(denom))
    out = torch.where(seen, out, torch.zeros_like(out))
    if not return_lse:
        return out
    lse = torch.where(seen, row_max + torch.log(denom), torch.full_like(denom, -torch.inf)).squeeze(-1)
    return out, lse
