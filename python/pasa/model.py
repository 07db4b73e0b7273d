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
from .contract import BASELINES, BF16_SLICE_TOP, DEFAULT_BLOCK_N, DEFAULT_VARIANT, QUERY_GROUP, VARIANTS
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
    if variant == "exact":
        (q16, eq), (k16, ek), (v16, ev) = (fp16_slices(t) for t in (q, k, v))
        ek, ev = (e.repeat_interleave(groups, dim=1) for e in (ek, ev))
        call = _exact_call(q16, scale, eq + ek, groups)
        if s2 > 0:   # c_0, the frame of every block's h: the centre of the sequence's first block
            bias0 = block_bias(mask, causal, causal_align, s1, s2, 0, min(block_n, s2))
            k0 = k16.repeat_interleave(groups, dim=1)[:, :, :min(block_n, s2)]
            call["c_ref"] = grid_centre(k0, live_keys(None if bias0 is None else bias0.to(q.device), groups))
    else:
        q16, k16, v16 = (_fp16(t.float()) for t in (q, k, v))
    k16 = k16.repeat_interleave(groups, dim=1)
    v16 = v16.repeat_interleave(groups, dim=1)

    cuts = _parts(s2, kv_splits, variant)
    states = []
    for p0, p1 in zip(cuts[:-1], cuts[1:]):
        state = _STATE_INIT[variant]((b, n_heads, s1), d, q.device)
        if variant == "exact":
            state.update(call)
        for c0 in range(p0, p1, block_n):
            c1 = min(c0 + block_n, p1)
            bias = block_bias(mask, causal, causal_align, s1, s2, c0, c1)
            if bias is not None:
                bias = bias.to(q.device)
            _STEP[variant](state, q16, k16[:, :, c0:c1], v16[:, :, c0:c1], bias, scale, beta)
        states.append(state)
    state = states[0] if len(states) == 1 else merge_states(states)
    out, lse = _finish(state, variant, None if sinks is None else sinks.float().to(q.device).view(1, -1, 1))
    if variant == "exact":
        out = out * torch.exp2(ev)
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
    """x + bias where the bias lets a key through; −inf where it hides it (selection: a hidden key is −inf whatever
    its score, never inf + (−inf))."""
    return x if bias is None else torch.where(bias == NEG_INF, NEG_INF, x + bias)




# ---- the variants ---------------------------------------------------------------------------------------------

def split_scale(scale: float) -> tuple[float, float]:
    """s = 2^e · s_rest with e = ⌊log₂ s⌋: the exact variant folds 2^e into K' (exactly) and applies the fp32
    s_rest to S'. Returns (2^e, s_rest)."""
    pow2 = float(2.0 ** np.floor(np.log2(scale)))
    return pow2, _fp32(scale / pow2)


def grid_centre(x: torch.Tensor, live: torch.Tensor | None = None) -> torch.Tensor:
    """The centre of the rows of x (dim −2) on each column's own fp16 grid: the column mean rounded to a multiple of
    u, the fp16 ulp of the column's largest |x| (2⁻²⁴ below fp16's normal range), so x − centre is exact in fp16
    wherever it stays in the column's binade. `live` (bool, broadcastable to x[..., :1]) picks the rows that count;
    hidden rows, whatever they hold, change nothing; a column with no live row has centre 0. fp32 result."""
    x64 = x.double()
    if live is None:
        mean = x64.mean(dim=-2, keepdim=True)                  # exact: ≤ 1024 fp16 values sum exactly
        top = x64.abs().amax(dim=-2, keepdim=True)
    else:
        x64 = torch.where(live, x64, 0.0)
        mean = x64.sum(dim=-2, keepdim=True) / live.sum(dim=-2, keepdim=True).clamp(min=1)
        top = x64.abs().amax(dim=-2, keepdim=True)
    _, exp = torch.frexp(top)                                  # top = m·2^exp, m in [0.5, 1)
    ulp = torch.where(top >= 2.0 ** -14, torch.ldexp(torch.ones_like(top), exp - 11), torch.full_like(top, 2.0 ** -24))
    return (torch.round(mean / ulp) * ulp).float()


def centre_and_scale(kj: torch.Tensor, scale: float, live: torch.Tensor | None = None):
    """The exact variant's per-block key centre c (grid_centre over the block's live keys) and the split of the
    scale s = 2^e · s_rest (2^e folded into K' exactly, s_rest applied to S' in fp32)."""
    return (grid_centre(kj, live),) + split_scale(scale)


def query_centres(q: torch.Tensor, group: int = QUERY_GROUP) -> torch.Tensor:
    """a: the grid_centre of each group of `group` consecutive query rows (rows [g·group, (g+1)·group)), repeated on
    every row of the group, so Q − a is exact in fp16. Shape and dtype of q (fp32 holding fp16 values)."""
    parts = [grid_centre(q[..., r0:r0 + group, :]).expand(-1, -1, min(group, q.shape[-2] - r0), -1)
             for r0 in range(0, q.shape[-2], group)]
    return torch.cat(parts, dim=-2) if parts else q.clone()


def fp16_slices(x: torch.Tensor, top: int = BF16_SLICE_TOP) -> tuple[torch.Tensor, torch.Tensor]:
    """x in fp16 for the exact variant, with the exponent ε of an exact power-of-two scale per (batch, head) slice.

    float16 input: fp32 values of x, ε = 0. bfloat16 input: x̃ = fp16(x·2^−ε) with ε chosen so the slice's largest
    finite |x| lands in [2^(top−1), 2^top) (ε = 0 for an all-zero slice): exact for every value within
    top + 13 binades of the slice's largest, and no bf16 value overflows. Returns (x̃ as fp32 values, ε as fp32 of
    shape (B, heads, 1, 1))."""
    xf = x.float()
    zeros = torch.zeros(x.shape[:2] + (1, 1), device=x.device)
    if x.dtype != torch.bfloat16 or x.numel() == 0:
        return _fp16(xf), zeros
    finite = torch.where(torch.isfinite(xf), xf.abs(), 0.0)
    amax = finite.amax(dim=(-2, -1), keepdim=True)
    _, exp = torch.frexp(amax)                                     # amax = m·2^exp, m in [0.5, 1)
    eps = torch.where(amax > 0, (exp - top).float(), zeros)
    return _fp16(xf * torch.exp2(-eps)), eps


def _exact_call(q: torch.Tensor, scale: float, score_exp: torch.Tensor, groups: int) -> dict:
    """Per-call values of the exact variant: query centres a and Q' = Q − a, the per-head score scale
    s_h = s·2^(εq + εk) (bf16 slice scales; s for fp16 inputs) and its s_rest_h = s_h / 2^e."""
    a = query_centres(q)
    pow2, s_rest = split_scale(scale)
    factor = torch.exp2(score_exp)
    return {"q": q, "a": a, "q_prime": _fp16(q - a), "pow2": pow2, "s_h": _fp32(scale) * factor,
            "s_rest_h": s_rest * factor, "groups": groups}


def _exact_frame(state, c_ref: torch.Tensor) -> torch.Tensor:
    """s_h·(q·c_ref) per row, fp32: the part of every score of the row that the exact variant never forms (its
    frame); the log-sum-exp and a sink need it."""
    return ((state["q"] @ c_ref.transpose(-1, -2)) * state["s_h"]).squeeze(-1)


def live_keys(bias: torch.Tensor | None, groups: int) -> torch.Tensor | None:
    """Keys of a block that some query row of some head of their KV head's group sees, (B, N, 1, n_j) bool, or
    None when every key is seen. Hidden keys stay out of the block's centre."""
    if bias is None:
        return None
    bias = bias.reshape((1,) * (4 - bias.dim()) + tuple(bias.shape))
    visible = (bias != NEG_INF).any(dim=-2, keepdim=True)          # any row; (B|1, N|1, 1, n_j)
    if visible.shape[1] > 1:                                       # any head of the KV group
        b, n, _, nj = visible.shape
        visible = visible.reshape(b, n // groups, groups, 1, nj).any(dim=2).repeat_interleave(groups, dim=1)
    return visible.transpose(-1, -2)                               # rows of K: (.., n_j, 1)


def _step_exact(state, q, kj, vj, bias, scale, beta):
    live = live_keys(bias, state["groups"])
    c = grid_centre(kj, live)                                      # the block's key centre, fp16 values
    c_ref = state["c_ref"]                                         # block 0's centre: the row's fixed frame
    s_h, s_rest = state["s_h"], state["s_rest_h"]
    kp = _fp16((kj - c) * state["pow2"])                           # K' = fp16(2^e·(K − c))
    sp = _fp16(state["q_prime"] @ kp.transpose(-1, -2))            # S' = Q'·K'ᵀ, fp16 tile
    g = state["a"] @ kp.transpose(-1, -2)                          # g = a·K'ᵀ, fp32 (one row per query group)
    z = (sp + g) * s_rest                                          # score − s·q·c, fp32
    shift = (q @ (c - c_ref).transpose(-1, -2)) * s_h              # h = s·q·(c − c_ref), fp32
    visible = torch.ones_like(z, dtype=torch.bool) if bias is None else (bias != NEG_INF).expand_as(z)
    fallback = (~torch.isfinite(z) & visible).any(dim=-1, keepdim=True)
    if fallback.any():                                             # an fp16 S' entry overflowed: fp32 scores
        full = (q @ kj.transpose(-1, -2)) * s_h - (q @ c_ref.transpose(-1, -2)) * s_h
        z = torch.where(fallback, full, z)
        shift = torch.where(fallback, 0.0, shift)
    x = _with_bias(z, bias)
    r, seen = _visible_row_max(x)
    p = _fp16(torch.exp(x - r.unsqueeze(-1)))                     # P tile, fp16
    top = r + shift.squeeze(-1)
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
    frame F is the mean of the parts' block shifts (Σ count_i·F_i / Σ count_i) for pasa; 0 for the baselines and for
    exact, whose parts share the frame s_h·q·c_0; each part's max moves into it (m_i + (F_i − F)), and l, O add up
    rescaled by α_i = exp(m_i + F_i − F − m)."""
    framed = "count" in states[0]
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
    elif "c_ref" in states[0]:
        merged.update({key: states[0][key] for key in ("q", "s_h", "c_ref")})
    return merged


def _finish(state, variant, sinks=None):
    """Output O / l (zeros where a row saw no key) and the log-sum-exp m + F + log l (−inf there, or the sink); F is
    the pseudo-average frame for pasa and paper, s_h·(q·c_0) for exact, 0 for the baselines.

    With sinks (a (1, N, 1) tensor), each row's normaliser first gains the sink as one more key of value zero, in
    the row's frame: t = sink − F, m' = max(m, t), l' = exp(m − m')·l + exp(t − m'), O' = exp(m − m')·O."""
    seen = state["seen"]
    paper = variant == "paper"
    rnd = _fp16 if paper else (lambda x: x)
    m, l, o = state["m"], state["l"], state["o"]
    f = state.get("f", torch.zeros_like(m))
    if "c_ref" in state:                                      # exact: the frame it never formed
        f = _exact_frame(state, state["c_ref"])
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
