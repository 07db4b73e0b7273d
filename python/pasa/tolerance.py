"""The one agreement rule between a backend and the contract's model, used by every backend's tests.

A backend's fp32 sums run in its own order (SIMD lanes, tensor cores, the Cube), so an fp16-rounded tile entry
can land one ulp away from the model's. The rule bounds what that may do to the output:
1. the same rows are non-finite as in the model;
2. RMSE(backend − model) ≤ ``rel`` · RMSE(model − golden) + ``floor``: reordering noise stays well below the
   variant's own error against the float64 golden;
3. RMSE(backend − golden) ≤ ``worse`` · RMSE(model − golden) + ``floor``: the backend is as accurate as the model.

The paper variant keeps its row statistics in fp16, and its shift is β/(1 − β) ≈ 63 times the fp16 row mean of S':
a row mean that rounds to the neighbouring fp16 value (its fp32 sum in another order) moves that whole row's
frame, and the row differs from the model by more than the variant's typical error. For ``variant="paper"`` rules 2
and 3 leave out the ``max(1, rows // 256)`` rows that differ most from the model (rule 1 still covers every row).

``check_lse`` applies the same three rules to the log-sum-exp of each row (a row's lse is one value; a row that
sees no key has −inf in the model, and rule 1 asks the backend for the same).
"""
from __future__ import annotations

import torch

from .metrics import errors


PAPER_ROWS_LEFT_OUT = 256   # paper: one row in this many (at least one) may differ by a flipped fp16 row mean


def check_backend(out: torch.Tensor, model_out: torch.Tensor, golden: torch.Tensor, *, rel: float = 0.5,
                  worse: float = 1.1, floor: float = 1e-6, what: str = "backend", variant: str | None = None) -> dict:
    """Raises AssertionError (with every figure) unless `out` agrees with `model_out`; returns the figures.
    variant: the variant both computed ("paper" relaxes rules 2 and 3 as the module says)."""
    out64, model64 = out.double().cpu(), model_out.double().cpu()
    golden = golden.double().cpu()
    finite_out, finite_model = torch.isfinite(out64), torch.isfinite(model64)
    figures = {"nonfinite_out": int((~finite_out).sum()), "nonfinite_model": int((~finite_model).sum())}
    if not torch.equal(finite_out, finite_model):
        raise AssertionError(f"{what}: non-finite outputs differ from the model's: {figures}")
    keep = finite_model.all(dim=-1, keepdim=True).expand_as(model64)
    if variant == "paper" and keep.any():
        row_dev = torch.where(keep, out64 - model64, 0.0).pow(2).sum(dim=-1)
        rows_left_out = max(1, row_dev.numel() // PAPER_ROWS_LEFT_OUT)
        worst = row_dev.flatten().topk(rows_left_out).indices
        row_keep = keep[..., 0].flatten().clone()
        row_keep[worst] = False
        keep = row_keep.reshape(keep.shape[:-1]).unsqueeze(-1).expand_as(model64)
        figures["rows_left_out"] = rows_left_out
    dev = errors(out64[keep], model64[keep])["rmse"]
    err_model = errors(model64[keep], golden[keep])["rmse"]
    err_out = errors(out64[keep], golden[keep])["rmse"]
    figures.update(dev_from_model=dev, err_model=err_model, err_out=err_out)
    if not dev <= rel * err_model + floor:
        raise AssertionError(f"{what}: RMSE vs model {dev:.3e} > {rel} x model error {err_model:.3e} + {floor:g}; "
                             f"{figures}")
    if not err_out <= worse * err_model + floor:
        raise AssertionError(f"{what}: error vs golden {err_out:.3e} > {worse} x model error {err_model:.3e} + "
                             f"{floor:g}; {figures}")
    return figures


LSE_FLOOR_ULPS = 2   # lse = m + log(l) is one fp32 value: the model and a backend each round it once


def check_lse(lse: torch.Tensor, model_lse: torch.Tensor, golden_lse: torch.Tensor, *, what: str = "backend",
              variant: str | None = None, **rule) -> dict:
    """``check_backend``'s rules on the log-sum-exp (B, N, S1) of a backend against the model's and the golden's;
    rule: rel, worse, floor as there. The default floor is LSE_FLOOR_ULPS fp32 ulps of the largest finite |lse| (at
    least check_backend's 1e-6): where the model's own error is an ulp or two (short rows, decoding), the two
    roundings of m + log(l) are all that differs, and an absolute 1e-6 is below one ulp once |lse| > 8."""
    finite = model_lse.detach().double().cpu()
    finite = finite[torch.isfinite(finite)]
    top = float(finite.abs().max()) if finite.numel() else 0.0
    rule.setdefault("floor", max(1e-6, LSE_FLOOR_ULPS * torch.finfo(torch.float32).eps * top))
    return check_backend(lse.unsqueeze(-1), model_lse.unsqueeze(-1), golden_lse.unsqueeze(-1), what=f"{what} lse",
                         variant=variant, **rule)
