"""The accuracy suites: the paper's uniform and hybrid grids, and the stress cases (resonance, drift, large means).

Each case makes (q, k, v) in float32 for a shape; `evaluate` rounds them to the input dtype, runs every scheme and
measures it against the float64 golden on the same rounded inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from . import data
from .contract import BASELINES, VARIANTS
from .metrics import errors
from .model import model_attention
from .reference import golden_attention

PAPER_MEANS = (0.0, 10.0, 20.0, 30.0)
PAPER_AMPS = (0.5, 5.0, 10.0, 20.0)
PROTOTYPE_SHAPE = (1, 28, 4, 1407, 128)  # B, N, Nkv, S, D of the authors' prototype (S = 1280 + 127)
PROTOTYPE_SEED = 2024724
SCHEMES = BASELINES + VARIANTS           # fa16, fa32, exact, pasa, paper
# seeds a case takes: torch.Generator.manual_seed's range [-2**63, 2**64 - 1], less the + 2 of the values (_qkv)
SEED_MIN, SEED_MAX = -2**63, 2**64 - 1 - 2


@dataclass(frozen=True)
class Case:
    suite: str
    name: str
    make: Callable  # (q_shape, kv_shape, seed) -> (q, k, v) float32
    causal: bool = False
    params: dict = field(default_factory=dict)


def _qkv(fn, **kw):
    def make(q_shape, kv_shape, seed):
        return fn(q_shape, **kw, seed=seed), fn(kv_shape, **kw, seed=seed + 1), fn(kv_shape, **kw, seed=seed + 2)
    return make


def _grid(suite, fn):
    return [Case(suite, f"{suite} mean={m:g} amp={a:g}", _qkv(fn, mean=m, amp=a), params={"mean": m, "amp": a})
            for m in PAPER_MEANS for a in PAPER_AMPS]


def _stress():
    return [
        Case("stress", "uniform mean=70 amp=5", _qkv(data.uniform, mean=70.0, amp=5.0), params={"mean": 70, "amp": 5}),
        Case("stress", "uniform mean=80 amp=0.5 causal", _qkv(data.uniform, mean=80.0, amp=0.5), causal=True,
             params={"mean": 80, "amp": 0.5}),
        Case("stress", "resonance in-phase amp=100",
             lambda qs, ks, seed: data.resonance(qs, ks, 100.0, "in", seed=seed), params={"amp": 100}),
        Case("stress", "resonance anti-phase amp=100",
             lambda qs, ks, seed: data.resonance(qs, ks, 100.0, "anti", seed=seed), params={"amp": 100}),
        Case("stress", "drift bias=40", lambda qs, ks, seed: data.drift(qs, ks, seed=seed), params={"bias": 40}),
        Case("stress", "query bias mean=20", lambda qs, ks, seed: data.query_bias(qs, ks, seed=seed),
             params={"mean": 20}),
    ]


def suite_cases(name: str) -> list[Case]:
    """Cases of one suite: "uniform", "hybrid", "stress" or "all"."""
    suites = {"uniform": lambda: _grid("uniform", data.uniform), "hybrid": lambda: _grid("hybrid", data.hybrid),
              "stress": _stress}
    if name == "all":
        return [c for s in suites.values() for c in s()]
    if name not in suites:
        raise ValueError(f"suite must be one of {sorted(suites) + ['all']}, got {name!r}")
    return suites[name]()


def evaluate(case: Case, shape=PROTOTYPE_SHAPE, dtype=torch.float16, seed: int = PROTOTYPE_SEED,
             schemes=SCHEMES, backend: str = "auto", device: str = "cpu", block_n: int = 128,
             beta: float | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Errors of each scheme on one case: {scheme: errors(...)}. Baselines run on the model; the PASA variants
    on `pasa.attention` with the given backend (beta applies to "pasa" and "paper"). `progress(scheme)` is
    called after each scheme (for a progress bar)."""
    from .api import attention

    b, n, nkv, s, d = shape
    q, k, v = (t.to(dtype).to(device) for t in case.make((b, n, s, d), (b, nkv, s, d), seed))
    golden = golden_attention(q, k, v, causal=case.causal)
    result = {}
    for scheme in schemes:
        if scheme in BASELINES:
            out = model_attention(q, k, v, causal=case.causal, variant=scheme, block_n=block_n)
        else:
            out = attention(q, k, v, causal=case.causal, variant=scheme, block_n=block_n,
                            beta=None if scheme == "exact" else beta, backend=backend)
        result[scheme] = errors(out, golden, v)
        if progress is not None:
            progress(scheme)
    return result
