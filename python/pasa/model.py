"""Vectorised model of the numerics contract (docs/numerics.md): every PASA variant and two baselines.

All query rows are processed at once; the loop runs over KV blocks of n rows. Tensors hold fp32 values and
``_fp16`` rounds them to fp16 wherever the contract stores fp16, so each line below is one contract step.
Matmuls accumulate in fp32 ("Cube" semantics: fp16 operands, fp32 accumulation).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .beta import DEFAULT_BETA, exact_coefficient, paper_coefficient, shift_entries
from .contract import BASELINES, DEFAULT_BLOCK_N, DEFAULT_VARIANT, VARIANTS
from .masking import block_bias

NEG_INF = float("-inf")
PAPER_MAX_INIT = -60000.0  # the prototype's running-max start (fp16): a fully masked block must not give NaN


def _fp16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def _fp32(x: float) -> float:
    return float(np.float32(x))


def model_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask: torch.Tensor | None = None,
                    scale: float | None = None, causal: bool = False, causal_align: str = "top_left",
                    variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N, beta: float | None = None,
                    sinks: torch.Tensor | None = None, return_lse: bool = False,
                    kv_splits: Sequence[int] | None = None):
    """The contract's output for BNSD inputs, in q's dtype. variant: one of VARIANTS or BASELINES.

    sinks: (N,) per-head logits that join every row's softmax normaliser (docs/numerics.md, "Attention sinks").
    return_lse: also return the fp32 log-sum-exp (B, N, S1) ("Log-sum-exp"): (out, lse).
    kv_splits: key positions where the key axis is cut (the split form, "Splitting the key axis"): each part runs
        the online softmax from the initial state on blocks of n keys counted from the part's start, and the parts'
        states merge in fp32. Cuts at multiples of block_n keep every block, so only the order of fp32 work
        changes; the paper variant is defined unsplit.
    """
    if variant not in VARIANTS + BASELINES:
        raise ValueError(f"variant must be one of {VARIANTS + BASELINES}, got {variant!r}")
    b, n_heads, s1, d = q.shape
    s2 = k.shape[2]
    groups = n_heads // k.shape[1]
    scale = d ** -0.5 if scale is None else scale
    beta = DEFAULT_BETA if beta is None else beta
    q16 = _fp16(q.float())
    k16 = _fp16(k.float()).repeat_interleave(groups, dim=1)
    v16 = _fp16(v.float()).repeat_interleave(groups, dim=1)

    cuts = _parts(s2, kv_splits, variant)
    states = []
    for p0, p1 in zip(cuts[:-1], cuts[1:]):
        state = _STATE_INIT[variant]((b, n_heads, s1), d, q.device)
        for c0 in range(p0, p1, block_n):
            c1 = min(c0 + block_n, p1)
            bias = block_bias(mask, causal, causal_align, s1, s2, c0, c1)
            if bias is not None:
                bias = bias.to(q.device)
            _STEP[variant](state, q16, k16[:, :, c0:c1], v16[:, :, c0:c1], bias, scale, beta)
        states.append(state)
    state = states[0] if len(states) == 1 else merge_states(states)
    out, lse = _finish(state, variant, None if sinks is None else sinks.float().to(q.device).view(1, -1, 1))
    return (out.to(q.dtype), lse) if return_lse else out.to(q.dtype)


def _parts(s2: int, kv_splits, variant: str) -> list[int]:
    """[0, cut, ..., S2]: the bounds of the key axis's parts."""
    if not kv_splits:
        return [0, s2]
    if variant == "paper":
        raise ValueError("the paper variant keeps its statistics in fp16 and is defined unsplit; kv_splits must be "
                         "None")
    cuts = [int(c) for c in kv_splits]
    if cuts != sorted(set(cuts)) or cuts[0] <= 0 or cuts[-1] >= s2:
        raise ValueError(f"kv_splits must be increasing key positions in (0, S2 = {s2}), got {list(kv_splits)}")
    return [0] + cuts + [s2]


# ---- per-row state -------------------------------------------------------------------------------------------

def _init_fp32(rows, d, device):
    return {"m": torch.full(rows, NEG_INF, device=device), "l": torch.zeros(rows, device=device),
            "o": torch.zeros(rows + (d,), device=device), "seen": torch.zeros(rows, dtype=torch.bool, device=device)}


def _init_frame(rows, d, device):
    state = _init_fp32(rows, d, device)
    state["f"] = torch.zeros(rows, device=device)        # running pseudo-average of the recovered shifts
    state["count"] = torch.zeros(rows, device=device)    # blocks that contributed to the row so far
    return state


def _init_paper(rows, d, device):
    state = _init_frame(rows, d, device)
    state["m"].fill_(PAPER_MAX_INIT)
    return state


def _visible_row_max(x: torch.Tensor):
    """Row max over the keys a row sees, 0 where it sees none, and which rows see one."""
    r = x.amax(dim=-1)                                            # NaN propagates
    seen = r != NEG_INF
    return torch.where(seen, r, torch.zeros_like(r)), seen


def _commit(state, seen, **new):
    """Rows that see a key in this block take the new values; the others keep theirs."""
    for key, value in new.items():
        cond = seen.unsqueeze(-1) if value.dim() == seen.dim() + 1 else seen
        state[key] = torch.where(cond, value, state[key])
    state["seen"] = state["seen"] | seen


def _with_bias(x, bias):
    return x if bias is None else x + bias


# ---- the variants ---------------------------------------------------------------------------------------------

def split_scale(scale: float) -> tuple[float, float]:
    """s = 2^e · s_rest with e = ⌊log₂ s⌋: the exact variant folds 2^e into K' (exactly) and applies the fp32
    s_rest to S'. Returns (2^e, s_rest)."""
    pow2 = float(2.0 ** np.floor(np.log2(scale)))
    return pow2, _fp32(scale / pow2)


def centre_and_scale(kj: torch.Tensor, scale: float):
    """The exact variant's per-block centre c (fp16, on each column's own fp16 grid, so K − c is exact) and the
    split of the scale s = 2^e · s_rest (2^e folded into K' exactly, s_rest applied to S' in fp32)."""
    mean = kj.double().mean(dim=-2, keepdim=True)                  # exact: ≤ 1024 fp16 values sum exactly
    top = kj.double().abs().amax(dim=-2, keepdim=True)
    _, exp = torch.frexp(top)                                      # top = m·2^exp, m in [0.5, 1)
    ulp = torch.where(top >= 2.0 ** -14, torch.ldexp(torch.ones_like(top), exp - 11), torch.full_like(top, 2.0 ** -24))
    c = (torch.round(mean / ulp) * ulp).float()                    # a multiple of the column's largest ulp
    return (c,) + split_scale(scale)


def _step_exact(state, q, kj, vj, bias, scale, beta):
    c, pow2, s_rest = centre_and_scale(kj, scale)
    kp = _fp16((kj - c) * pow2)                                   # K' = fp16(2^e·(K − c)): exact but in rare cases
    sp = _fp16(q @ kp.transpose(-1, -2))                          # S' = Q·K'ᵀ, fp16 tile
    shift = (q @ c.transpose(-1, -2)).squeeze(-1) * _fp32(scale)  # h = s·(Q·cᵀ), fp32
    x = _with_bias(sp * s_rest, bias)                             # scores minus h, fp32
    r, seen = _visible_row_max(x)
    p = _fp16(torch.exp(x - r.unsqueeze(-1)))                     # P tile, fp16
    top = r + shift
    m_new = torch.maximum(state["m"], top)
    alpha = torch.exp(state["m"] - m_new)
    gamma = torch.exp(top - m_new)
    l_new = alpha * state["l"] + gamma * p.sum(dim=-1)
    o_new = alpha.unsqueeze(-1) * state["o"] + gamma.unsqueeze(-1) * (p @ vj)
    _commit(state, seen, m=m_new, l=l_new, o=o_new)


def _shifted_scores(q, kj, scale, beta):
    """S' = Q·(M·K)ᵀ with M = s·(I − (β/n)·11ᵀ) stored in fp16; K' and S' are fp16 tiles."""
    n = kj.shape[-2]
    d, e = shift_entries(scale, beta, n)
    m = torch.full((n, n), -e, device=q.device)
    m.fill_diagonal_(d)
    kp = _fp16(m @ kj)
    return _fp16(q @ kp.transpose(-1, -2))


def _step_pasa(state, q, kj, vj, bias, scale, beta):
    sp = _shifted_scores(q, kj, scale, beta)
    mu = sp.mean(dim=-1)                                          # row mean before the mask, fp32
    shift = _fp32(exact_coefficient(scale, beta, kj.shape[-2])) * mu
    x = _with_bias(sp, bias)
    r, seen = _visible_row_max(x)
    f_new = state["f"] + (shift - state["f"]) / (state["count"] + 1)
    d_new, d_old = shift - f_new, state["f"] - f_new
    m_old = state["m"] + d_old
    top = r + d_new
    m_new = torch.maximum(m_old, top)
    alpha = torch.exp(m_old - m_new)
    gamma = torch.exp(top - m_new)
    p = _fp16(torch.exp(x - r.unsqueeze(-1)))
    l_new = alpha * state["l"] + gamma * p.sum(dim=-1)
    o_new = alpha.unsqueeze(-1) * state["o"] + gamma.unsqueeze(-1) * (p @ vj)
    _commit(state, seen, m=m_new, l=l_new, o=o_new, f=f_new, count=state["count"] + 1)


def _step_paper(state, q, kj, vj, bias, scale, beta):
    sp = _shifted_scores(q, kj, scale, beta)
    mu = _fp16(sp.mean(dim=-1))
    shift = _fp16(paper_coefficient(beta) * mu)
    x = _fp16(_with_bias(sp, bias))
    r, seen = _visible_row_max(x)
    f = state["f"]
    f_new = _fp16(f + _fp16(_fp16(shift - f) / (state["count"] + 1)))
    d_new, d_old = _fp16(shift - f_new), _fp16(f - f_new)
    m_old = _fp16(state["m"] + d_old)
    top = _fp16(r + d_new)
    m_new = torch.maximum(m_old, top)
    alpha = _fp16(torch.exp(_fp16(m_old - m_new)))
    gamma = _fp16(torch.exp(_fp16(top - m_new)))
    p = _fp16(torch.exp(_fp16(x - r.unsqueeze(-1))))
    l_new = _fp16(_fp16(alpha * state["l"]) + _fp16(gamma * _fp16(p.sum(dim=-1))))
    o_new = _fp16(_fp16(alpha.unsqueeze(-1) * state["o"]) + _fp16(gamma.unsqueeze(-1) * _fp16(p @ vj)))
    _commit(state, seen, m=m_new, l=l_new, o=o_new, f=f_new, count=state["count"] + 1)


def _step_flash(state, q, kj, vj, bias, scale, fp16_scores):
    t = q @ kj.transpose(-1, -2)
    if fp16_scores:
        t = _fp16(t)                                              # the score tile that overflows
    x = _with_bias(t * _fp32(scale), bias)
    r, seen = _visible_row_max(x)
    m_new = torch.maximum(state["m"], r)
    alpha = torch.exp(state["m"] - m_new)
    p = _fp16(torch.exp(x - m_new.unsqueeze(-1)))
    l_new = alpha * state["l"] + p.sum(dim=-1)
    o_new = alpha.unsqueeze(-1) * state["o"] + p @ vj
    _commit(state, seen, m=m_new, l=l_new, o=o_new)


def merge_states(states: list[dict]) -> dict:
    """The split form's merge (docs/numerics.md, "Splitting the key axis"), fp32, parts in key order: the merged
    frame F is the mean of the parts' block shifts (Σ count_i·F_i / Σ count_i; 0 for exact and the baselines), each
    part's max moves into it (m_i + (F_i − F)), and l, O add up rescaled by α_i = exp(m_i + F_i − F − m)."""
    framed = "f" in states[0]
    seen = torch.stack([st["seen"] for st in states])
    if framed:
        count = torch.stack([st["count"] for st in states])
        total = count.sum(dim=0)
        f = torch.where(total > 0, (count * torch.stack([st["f"] for st in states])).sum(dim=0) / total, 0.0)
        m_parts = torch.stack([st["m"] + (st["f"] - f) for st in states])
    else:
        m_parts = torch.stack([st["m"] for st in states])
    m_parts = torch.where(seen, m_parts, NEG_INF)
    m = m_parts.amax(dim=0)
    alpha = torch.where(seen, torch.exp(m_parts - torch.where(seen.any(dim=0), m, 0.0)), 0.0)
    merged = {"m": m, "l": torch.zeros_like(states[0]["l"]), "o": torch.zeros_like(states[0]["o"]),
              "seen": seen.any(dim=0)}
    for a, st in zip(alpha, states):
        merged["l"] = merged["l"] + a * st["l"]
        merged["o"] = merged["o"] + a.unsqueeze(-1) * st["o"]
    if framed:
        merged.update(f=f, count=total)
    return merged


def _finish(state, variant, sinks=None):
    """Output O / l (zeros where a row saw no key) and the log-sum-exp m + F + log l (−inf there, or the sink).

    With sinks (a (1, N, 1) tensor), each row's normaliser first gains the sink as one more key of value zero, in
    the row's frame: t = sink − F, m' = max(m, t), l' = exp(m − m')·l + exp(t − m'), O' = exp(m − m')·O."""
    seen = state["seen"]
    paper = variant == "paper"
    rnd = _fp16 if paper else (lambda x: x)
    m, l, o = state["m"], state["l"], state["o"]
    f = state.get("f", torch.zeros_like(m))
    if sinks is not None:
        t = rnd(rnd(sinks) - f)
        m_new = torch.maximum(m, t)
        alpha = rnd(torch.exp(rnd(m - m_new)))
        gamma = rnd(torch.exp(rnd(t - m_new)))
        l = rnd(rnd(alpha * l) + gamma)
        o = rnd(alpha.unsqueeze(-1) * o)
        m = m_new
    l_safe = torch.where(seen, l, torch.ones_like(l)).unsqueeze(-1)
    out = torch.where(seen.unsqueeze(-1), rnd(o / l_safe), 0.0)
    empty = torch.full_like(m, NEG_INF) if sinks is None else sinks.expand_as(m)
    lse = torch.where(seen, (m + f) + torch.log(l), empty)
    return out, lse


_STATE_INIT = {"exact": _init_fp32, "pasa": _init_frame, "paper": _init_paper, "fa16": _init_fp32,
               "fa32": _init_fp32}
_STEP = {"exact": _step_exact, "pasa": _step_pasa, "paper": _step_paper,
         "fa16": lambda st, q, k, v, bias, s, b: _step_flash(st, q, k, v, bias, s, True),
         "fa32": lambda st, q, k, v, bias, s, b: _step_flash(st, q, k, v, bias, s, False)}
