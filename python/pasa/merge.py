"""``pasa.merge_attention``: attention over a union of disjoint key sets from the results over each set.

softmax attention over keys K = K_1 ∪ … ∪ K_p (disjoint) is a weighted mean of the attention over each K_i, the
weights being each part's share of the softmax normaliser: with lse_i = log Σ_{j ∈ K_i} exp(x_j),

    lse = log Σ_i exp(lse_i),    out = Σ_i exp(lse_i − lse) · out_i

(flash-decoding, ring attention). ``pasa.attention(..., return_lse=True)`` and ``pasa.attention_varlen`` return the
(out, lse) pairs this takes.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .api import _describe

LAYOUTS = ("BNSD", "BSND", "TND")
OUT_SHAPES = {"BNSD": "(B, N, S, D)", "BSND": "(B, S, N, D)", "TND": "(T, N, D)"}


def merge_attention(outs: Sequence[torch.Tensor], lses: Sequence[torch.Tensor], *,
                    layout: str = "BNSD") -> tuple[torch.Tensor, torch.Tensor]:
    """Combines attention results computed for the same queries over disjoint key sets.

    Args:
        outs: a list or tuple of p ≥ 1 outputs of one shape: (B, N, S, D) for ``layout="BNSD"``, (B, S, N, D) for
            "BSND", (T, N, D) for "TND" (``pasa.attention_varlen``); any floating dtypes.
        lses: a list or tuple of the matching log-sum-exps, natural log, as ``return_lse=True`` returns them:
            (B, N, S) for "BNSD" and "BSND", (N, T) for "TND". A row that saw no key in a part has −inf there.
        layout: how outs and lses are laid out.

    Returns:
        (out, lse) in the input layouts: out in the promoted dtype of ``outs`` (``torch.promote_types``), lse float32.
        Computed in float32; in float64 if an input is float64, and then lse is float64. A row with lse −inf in
        every part gives zeros and −inf; NaN propagates.

    Raises:
        ValueError: an empty list, lists of different lengths, parts on different devices, or shapes that do not
            match the layout.
        TypeError: outs or lses not a list or tuple (a tensor included), or an entry that is not a floating tensor.

    Only lse_i − lse enters the weights, so a part's rounding of its lse moves the result by that rounding relative
    to |lse|: merging is exact to float32 rounding when the scores are of moderate size, and loses about
    2^-24·|lse| of relative weight when |lse| is large (a large common score bias).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"pasa.merge_attention: layout must be one of {LAYOUTS}, got {layout!r}")
    for name, parts in (("outs", outs), ("lses", lses)):
        if not isinstance(parts, Sequence) or isinstance(parts, str):
            raise TypeError(f"pasa.merge_attention: {name} must be a list or tuple of tensors (one per key set), got "
                            f"{_describe(parts)}")
    outs, lses = list(outs), list(lses)
    if not outs or len(outs) != len(lses):
        raise ValueError(f"pasa.merge_attention: outs and lses must be non-empty lists of one length, got "
                         f"{len(outs)} and {len(lses)}")
    for i, (o, l) in enumerate(zip(outs, lses)):
        for name, t in (("outs", o), ("lses", l)):
            if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                got = t.dtype if isinstance(t, torch.Tensor) else _describe(t)
                raise TypeError(f"pasa.merge_attention: {name}[{i}] must be a floating torch.Tensor, got {got}")
        for name, t in (("outs", o), ("lses", l)):
            if t.device != outs[0].device:
                raise ValueError(f"pasa.merge_attention: every part must be on one device, got outs[0] on "
                                 f"{outs[0].device} and {name}[{i}] on {t.device}")
        if o.dim() != (3 if layout == "TND" else 4):
            raise ValueError(f"pasa.merge_attention: outs[{i}] must be {OUT_SHAPES[layout]} for layout {layout}, got "
                             f"shape {tuple(o.shape)}")
        if o.shape != outs[0].shape:
            raise ValueError(f"pasa.merge_attention: outs must share one shape, got {tuple(outs[0].shape)} and "
                             f"{tuple(o.shape)} (outs[{i}])")
        want = _lse_shape(o.shape, layout)
        if tuple(l.shape) != want:
            raise ValueError(f"pasa.merge_attention: lses[{i}] must have shape {want} for outs of shape "
                             f"{tuple(o.shape)} in layout {layout}, got {tuple(l.shape)}")
    acc = torch.float64 if any(t.dtype == torch.float64 for t in outs + lses) else torch.float32
    parts = torch.stack([_as_out_rows(l, layout).to(acc) for l in lses])      # (p, ..., 1) beside out's rows
    top = parts.amax(dim=0)
    top = torch.where(top == -torch.inf, 0.0, top)                           # rows no part saw: weights 0 below
    lse = top + torch.log(torch.exp(parts - top).sum(dim=0))
    weights = torch.where(lse == -torch.inf, 0.0, torch.exp(parts - lse))
    out = sum(w * o.to(acc) for w, o in zip(weights, outs))
    dtype = outs[0].dtype
    for o in outs[1:]:
        dtype = torch.promote_types(dtype, o.dtype)
    return out.to(dtype), _from_out_rows(lse, layout).to(torch.float32 if acc == torch.float32 else acc)


def _lse_shape(out_shape, layout: str) -> tuple:
    if layout == "BNSD":
        return tuple(out_shape[:3])
    if layout == "BSND":
        return (out_shape[0], out_shape[2], out_shape[1])
    return (out_shape[1], out_shape[0])


def _as_out_rows(lse: torch.Tensor, layout: str) -> torch.Tensor:
    """lse with out's row dims, plus a trailing 1 for D."""
    if layout == "BSND":
        lse = lse.transpose(1, 2)
    elif layout == "TND":
        lse = lse.transpose(0, 1)
    return lse.unsqueeze(-1)


def _from_out_rows(rows: torch.Tensor, layout: str) -> torch.Tensor:
    lse = rows.squeeze(-1)
    if layout == "BSND":
        return lse.transpose(1, 2).contiguous()
    if layout == "TND":
        return lse.transpose(0, 1).contiguous()
    return lse
