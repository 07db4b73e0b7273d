"""Accuracy targets of the default variant (docs/numerics.md), on fresh random data every run.

Every scheme is measured against the float64 golden on the same fp16-rounded inputs; the figures are printed
before the assertions. Shape: the prototype's S = 1407 and D = 128 with 4 query heads over 2 KV heads.
"""
import functools

import pytest
import torch

import pasa
from pasa.suites import evaluate, suite_cases

SHAPE = (1, 4, 2, 1407, 128)
CASES = {c.name: c for c in suite_cases("all")}
UNBIASED = [n for n, c in CASES.items() if c.params.get("mean") == 0]
BIASED = [n for n in CASES if n not in UNBIASED]
DRIFT_RESONANCE = [n for n in CASES if n.startswith(("drift", "resonance"))]
RUN_SEED = int(torch.randint(0, 2**31 - 1, (1,)).item())


@functools.lru_cache(maxsize=None)
def measured(name: str) -> dict:
    res = evaluate(CASES[name], SHAPE, seed=RUN_SEED)
    print(f"\n{name} (seed {RUN_SEED}): " + ", ".join(f"{s}={e['rmse']:.3e}" for s, e in res.items()))
    return {s: (float("inf") if e["nonfinite"] else e["rmse"]) for s, e in res.items()}


def skip_if_one_hot(e: dict) -> None:
    """Some draws of the hybrid suite put a spike of amplitude ~30 into one key's column, so every row's softmax is
    one-hot on that key and fp16 and fp32 scores give the same error (the output's own rounding): there is no score
    error for a variant to remove. Seen once in CI (hybrid mean=20 amp=10: fa16 = fa32 = exact = pasa = 3.9e-07)."""
    if e["fa16"] <= 1.01 * e["fa32"]:
        pytest.skip(f"score rounding costs nothing on this draw (one-hot softmax): {e}")


@pytest.mark.parametrize("name", list(CASES))
def test_default_variant_is_always_finite(name):
    assert pasa.DEFAULT_VARIANT == "exact"
    assert measured(name)["exact"] < float("inf"), f"seed {RUN_SEED}"


# exact over fa16 on unbiased data: 0.96-1.05 on most draws, but on the hybrid suite's spikes it reaches 1.27 and 1.34
# (hybrid mean=0 amp=10, seeds 321 and 1014 of 580 seeds tried): the RMSE there rests on a few fp16 roundings, and two
# fp16-score flash attentions (S rounded before or after the scale) differ by 0.62-1.23x on the same case
# (docs/numerics.md): the bound sits above that spread
UNBIASED_BOUND = 1.5


@pytest.mark.parametrize("name", UNBIASED)
def test_unbiased_within_150_percent_of_fp16_score_flash(name):
    e = measured(name)
    assert e["exact"] <= UNBIASED_BOUND * e["fa16"], (f"seed {RUN_SEED}", e)


@pytest.mark.parametrize("name", BIASED)
def test_biased_at_most_half_of_fp16_score_flash(name):
    e = measured(name)
    if e["fa16"] < float("inf"):
        skip_if_one_hot(e)
        assert e["exact"] <= 0.5 * e["fa16"], (f"seed {RUN_SEED}", e)


@pytest.mark.parametrize("name", DRIFT_RESONANCE)
def test_drift_and_resonance_twice_as_accurate_as_fp32_score_flash(name):
    e = measured(name)
    assert e["exact"] <= 0.5 * e["fa32"], (f"seed {RUN_SEED}", e)


def test_query_bias_alone_well_below_fp16_score_flash():
    """Biased queries with unbiased keys put a large per-key part in every score: the query centre carries it in
    fp32 (g = a·K'ᵀ), so the fp16 tile holds only the queries' own spread."""
    e = measured("query bias mean=20")
    assert e["exact"] <= 0.6 * e["fa16"], e


@pytest.mark.parametrize("name", BIASED)
def test_twice_as_accurate_as_the_paper_variant(name):
    e = measured(name)
    if e["paper"] < float("inf"):
        skip_if_one_hot(e)
        assert 2 * e["exact"] <= e["paper"], e


@pytest.mark.parametrize("amp", [0.5, 5.0, 10.0, 20.0])
def test_fp16_score_flash_overflows_on_mean_30_while_pasa_stays_finite(amp):
    e = measured(f"uniform mean=30 amp={amp:g}")
    assert e["fa16"] == float("inf"), e
    for variant in pasa.VARIANTS:
        assert e[variant] < float("inf"), (variant, e)
