"""The shifting matrix's β: the authors' fixed-point solvers and the exact recovery coefficient.

M = s·(I − (β/n)·11ᵀ) is built in fp32 and stored in fp16, so its diagonal is d = fp16(s·(1 − β/n)) and its
off-diagonal is −e with e = fp16(s·β/n). A row of the shifted scores then equals (d + e)·T_r − e·n·mean(T),
and its row mean is (d + e − e·n)·mean(T): adding c·mean with c = e·n / (d + e − e·n) recovers (d + e)·T_r.
"""
from __future__ import annotations

import numpy as np

# β of the authors' final prototype code, used by the "paper" and "pasa" variants unless told otherwise.
DEFAULT_BETA = 0.984497


def _fp16(x: float) -> float:
    return float(np.float16(x))


def shift_entries(scale: float, beta: float, n: int) -> tuple[float, float]:
    """The fp16 entries (d, e) of M = scale·(I − (β/n)·11ᵀ): d on the diagonal, −e off it.

    Computed in fp32 and rounded to fp16, as a kernel builds M (the contract's step 1).
    """
    s, b = np.float32(scale), np.float32(beta)
    d = np.float16(s * (np.float32(1.0) - b / np.float32(n)))
    e = np.float16(s * (b / np.float32(n)))
    return float(d), float(e)


def exact_coefficient(scale: float, beta: float, n: int) -> float:
    """The fp32 recovery coefficient c = e·n / (d + e − e·n) from the stored fp16 entries of M."""
    d, e = (np.float32(x) for x in shift_entries(scale, beta, n))
    num = e * np.float32(n)
    return float(num / ((d + e) - num))


def paper_coefficient(beta: float) -> float:
    """The authors' recovery coefficient β/(1 − β), as the fp16 value their prototype uses."""
    b = np.float32(beta)
    return float(np.float16(b / (np.float32(1.0) - b)))


def solve_beta(beta0: float, n: int = 128, formula: str = "verification", tol: float = 1e-8,
               max_iter: int = 1000) -> float:
    """Float64 fixed point β = f/(1 + f) on the fp16-rounded entries of M = I − (β/n)·11ᵀ (no scale).

    formula="verification": f = e·n / (a·(a − e·n)) with a = d + e (`obtainInvPam` of the prototype's
    verification script); formula="optimal": the same plus (1 − a)/a (`optimal_para.py`).
    For n = 128 and starts 1 − 2⁻⁵, 1 − 2⁻⁶ they give 0.9689939059, 0.9844970410 and 0.9689941406, 0.9844970703.
    """
    if formula not in ("verification", "optimal"):
        raise ValueError(f"formula must be 'verification' or 'optimal', got {formula!r}")
    if not 0.0 < beta0 < 1.0:
        raise ValueError(f"beta0 must lie in (0, 1), got {beta0}")
    beta = float(beta0)
    for _ in range(max_iter):
        e = _fp16(beta / n)
        a = _fp16(1.0 - beta / n) + e
        f = e * n / (a * (a - e * n))
        if formula == "optimal":
            f += (1.0 - a) / a
        new = f / (1.0 + f)
        if abs(new - beta) <= tol * abs(beta):
            return new
        beta = new
    raise RuntimeError(f"β fixed point did not converge from {beta0} in {max_iter} iterations")
