"""Float64 golden attention: the truth every backend and variant is measured against."""
from __future__ import annotations

import torch

from .masking import block_bias


def golden_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask: torch.Tensor | None = None,
                     scale: float | None = None, causal: bool = False,
                     causal_align: str = "top_left") -> torch.Tensor:
    """softmax(s·q·kᵀ + bias)·v in float64 on the given values (BNSD; GQA/MQA by head groups).

    Rows that see no key give zeros. Returns float64 of shape (B, N, S1, D).
    """
    q64, k64, v64 = (t.to(torch.float64) for t in (q, k, v))
    if k.shape[2] == 0:
        return torch.zeros_like(q64)
    groups = q.shape[1] // k.shape[1]
    k64 = k64.repeat_interleave(groups, dim=1)
    v64 = v64.repeat_interleave(groups, dim=1)
    s = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q64, k64.transpose(-1, -2)) * s
    bias = block_bias(mask, causal, causal_align, q.shape[2], k.shape[2], 0, k.shape[2], torch.float64)
    if bias is not None:
        scores = scores + bias.to(scores.device)
    row_max = scores.amax(dim=-1, keepdim=True)
    seen = torch.isfinite(row_max) | torch.isnan(row_max)
    p = torch.exp(scores - torch.where(seen, row_max, torch.zeros_like(row_max)))
    denom = p.sum(dim=-1, keepdim=True)
    out = torch.matmul(p, v64) / torch.where(seen, denom, torch.ones_like(denom))
    return torch.where(seen, out, torch.zeros_like(out))
