"""Error metrics against the float64 golden."""
from __future__ import annotations

import torch


def errors(out: torch.Tensor, golden: torch.Tensor, v: torch.Tensor | None = None) -> dict:
    """RMSE, relative RMSE (RMSE / RMS(v), as the paper; RMS(golden) when v is None), max abs error and
    the number of non-finite outputs. Non-finite outputs make RMSE and max error inf."""
    out64, gold64 = out.to(torch.float64), golden.to(torch.float64)
    bad = int((~torch.isfinite(out64)).sum())
    if bad:
        rmse = max_abs = float("inf")
    else:
        diff = out64 - gold64
        rmse = float(diff.pow(2).mean().sqrt()) if diff.numel() else 0.0
        max_abs = float(diff.abs().max()) if diff.numel() else 0.0
    ref = (v if v is not None else golden).to(torch.float64)
    rms_ref = float(ref.pow(2).mean().sqrt()) if ref.numel() else 0.0
    rel = rmse / rms_ref if rms_ref > 0 else float("nan")
    return {"rmse": rmse, "rel_rmse": rel, "max_abs": max_abs, "nonfinite": bad}
