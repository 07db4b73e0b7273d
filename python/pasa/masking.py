"""Which keys a query row sees: the causal alignments and user masks, as an additive fp32 bias.

One helper for the float64 golden and the numerics model, so both read the same semantics:
- ``causal=True, causal_align="top_left"``: row i sees keys 0..i (torch SDPA's ``is_causal``).
- ``causal_align="bottom_right"``: row i sees keys 0..i + (S2 − S1) (flash-attn ≥ 2.1, KV-cache decoding).
- ``mask``: broadcastable to (B, N, S1, S2); bool (True = attend, as SDPA) or floating (added to the scaled
  scores; −inf hides a key).
A row that sees no key at all outputs zeros.
"""
from __future__ import annotations

import torch

CAUSAL_ALIGNS = ("top_left", "bottom_right")


def block_bias(mask: torch.Tensor | None, causal: bool, causal_align: str, s1: int, s2: int,
               c0: int, c1: int, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
    """Additive bias for key columns c0:c1, broadcastable to (B, N, S1, c1 − c0); None where nothing hides."""
    bias = None
    if mask is not None:
        m = mask[..., c0:c1] if mask.shape[-1] != 1 else mask
        if m.dtype == torch.bool:
            bias = torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill(~m, float("-inf"))
        else:
            bias = m.to(dtype)
    if causal:
        offset = s2 - s1 if causal_align == "bottom_right" else 0
        rows = torch.arange(s1, device=_device(mask)).unsqueeze(1)
        cols = torch.arange(c0, c1, device=_device(mask)).unsqueeze(0)
        hidden = cols > rows + offset
        causal_bias = torch.zeros(hidden.shape, dtype=dtype, device=hidden.device).masked_fill(hidden, float("-inf"))
        bias = causal_bias if bias is None else bias + causal_bias
    return bias


def _device(mask: torch.Tensor | None) -> torch.device:
    return mask.device if mask is not None else torch.device("cpu")
