"""Input generators: the paper's uniform and hybrid suites, resonance and drift. All return float32 BNSD."""
from __future__ import annotations

import math

import torch


def _gen(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(torch.seed() if seed is None else seed)
    return g


def uniform(shape, mean: float, amp: float, seed: int | None = None) -> torch.Tensor:
    """(U(0, 1) − 0.5)·2·amp + mean: the paper's uniform suite."""
    return (torch.rand(shape, generator=_gen(seed)) - 0.5) * 2 * amp + mean


def hybrid(shape, mean: float, amp: float, p: float = 0.001, seed: int | None = None) -> torch.Tensor:
    """Normal(mean, 1) plus Normal(0, amp) on a Bernoulli(p) subset of entries: the paper's hybrid suite."""
    g = _gen(seed)
    base = torch.randn(shape, generator=g) + mean
    spikes = torch.randn(shape, generator=g) * amp
    return base + spikes * (torch.rand(shape, generator=g) < p)


def _pattern(d: int, g: torch.Generator) -> torch.Tensor:
    """A head-dimension pattern: a few sinusoids with random frequencies and phases, unit RMS."""
    dims = torch.arange(d, dtype=torch.float32)
    freqs = torch.randint(1, max(2, d // 8), (3,), generator=g).float()
    phases = torch.rand(3, generator=g) * 2 * math.pi
    pat = torch.sin(2 * math.pi * freqs[:, None] * dims[None] / d + phases[:, None]).sum(0)
    return pat / pat.pow(2).mean().sqrt()


def resonance(q_shape, kv_shape, amplitude: float, phase: str = "in", spread: float = 1.0,
              seed: int | None = None):
    """q and k share one head-dimension pattern of RMS `amplitude` (phase "in") or q takes its negative ("anti"),
    at every position, so every score carries ±amplitude²·D·scale of common bias. k's own noise is sized so a
    row's scaled scores spread by about `spread` across keys (a softmax that is neither flat nor one-hot);
    q adds U(−1, 1). Returns (q, k, v)."""
    if phase not in ("in", "anti"):
        raise ValueError(f"phase must be 'in' or 'anti', got {phase!r}")
    g = _gen(seed)
    pat = _pattern(q_shape[-1], g) * amplitude
    sign = 1.0 if phase == "in" else -1.0
    k_noise = spread * math.sqrt(3.0) / amplitude
    q = sign * pat + (torch.rand(q_shape, generator=g) - 0.5) * 2
    k = pat + (torch.rand(kv_shape, generator=g) - 0.5) * 2 * k_noise
    v = (torch.rand(kv_shape, generator=g) - 0.5) * 2
    return q, k, v


def drift(q_shape, kv_shape, bias: float = 40.0, q_mean: float = 20.0, swing: float = 0.5, noise: float = 0.05,
          seed: int | None = None):
    """A large score bias that varies slowly along the sequence: k = bias + swing·sin(2π·t/S2 + φ_d) + U(−noise,
    noise) (one slow period per head dimension, random phases φ_d), q = q_mean + U(−1, 1), v = U(−1, 1).
    Returns (q, k, v)."""
    g = _gen(seed)
    s2, d = kv_shape[-2], kv_shape[-1]
    t = torch.arange(s2, dtype=torch.float32)[:, None]
    phase = torch.rand(d, generator=g)[None] * 2 * math.pi
    slow = bias + swing * torch.sin(2 * math.pi * t / max(s2, 1) + phase)
    k = slow + (torch.rand(kv_shape, generator=g) - 0.5) * 2 * noise
    q = q_mean + (torch.rand(q_shape, generator=g) - 0.5) * 2
    v = (torch.rand(kv_shape, generator=g) - 0.5) * 2
    return q, k, v


def query_bias(q_shape, kv_shape, mean: float = 20.0, q_std: float = 2.0, k_std: float = 0.2,
               seed: int | None = None):
    """Queries biased alone, as in small encoders' activations: q ~ N(mean, q_std), unbiased keys k ~ N(0, k_std)
    (k_std sized so a row's scaled scores spread by a few units: a softmax neither flat nor one-hot),
    v ~ N(0, 1). Every score then carries a large per-key part mean·Σ_d k_d. Returns (q, k, v)."""
    g = _gen(seed)
    q = torch.randn(q_shape, generator=g) * q_std + mean
    k = torch.randn(kv_shape, generator=g) * k_std
    v = torch.randn(kv_shape, generator=g)
    return q, k, v
