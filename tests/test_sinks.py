"""Attention sinks (``sinks=``, GPT-OSS's ``s_aux``) on the CPU operator and the AscendC kernel on the simulator: every
variant against the contract's model and the float64 golden; the golden against GPT-OSS's eager formula."""
import pytest
import torch

import pasa
from pasa.reference import golden_attention

from conftest import MASK_KINDS, check_against_model, make_mask, rand_qkv

BACKENDS = ["native", "ascend-sim"]


def sinks_near_the_scores(q, k, seed):
    """Sinks drawn around the rows' log-sum-exp, so they take a real share of the normaliser."""
    lse = golden_attention(q, k, k, return_lse=True)[1]
    g = torch.Generator().manual_seed(seed)
    return (lse.mean(dim=(0, 2)) + torch.randn(q.shape[1], generator=g) * 2).float()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", [(2, 4, 2, 96, 300, 64, True, "top_left", 64),
                                   (1, 4, 1, 300, 96, 64, True, "bottom_right", 32),   # rows that see no key
                                   (1, 8, 2, 130, 129, 128, False, "top_left", 128)],
                         ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}")
def test_sinks_match_model(seed, variant, shape, backend):
    b, n, nkv, s1, s2, d, causal, align, block_n = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed)
    sinks = sinks_near_the_scores(q, k, seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n, sinks=sinks, return_lse=True)
    check_against_model(pasa.attention(q, k, v, backend=backend, **kw), q, k, v, what=backend, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
def test_sinks_with_masks_match_model(seed, mask_kind, backend):
    q, k, v = rand_qkv(2, 4, 2, 70, 150, 64, mean=1.0, amp=3.0, seed=seed)
    kw = dict(mask=make_mask(mask_kind, 2, 4, 70, 150, seed), sinks=sinks_near_the_scores(q, k, seed), block_n=64,
              return_lse=True)
    check_against_model(pasa.attention(q, k, v, backend=backend, **kw), q, k, v, what=backend, **kw)


def test_golden_sinks_are_gpt_oss_eager_attention(seed):
    """transformers' GPT-OSS eager attention: softmax over [scores, sink], the sink's column dropped."""
    q, k, v = (t.double() for t in rand_qkv(2, 4, 2, 9, 13, 16, seed=seed))
    sinks = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    scores = q @ k.repeat_interleave(2, dim=1).transpose(-1, -2) * 0.25
    logits = torch.cat([scores, sinks.view(1, 4, 1, 1).expand(2, 4, 9, 1)], dim=-1)
    want = torch.softmax(logits, dim=-1)[..., :-1] @ v.repeat_interleave(2, dim=1)
    out, lse = golden_attention(q, k, v, scale=0.25, sinks=sinks, return_lse=True)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lse, torch.logsumexp(logits, dim=-1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", pasa.VARIANTS)
def test_sink_limits(seed, variant, backend):
    q, k, v = rand_qkv(1, 2, 2, 20, 50, 64, seed=seed)
    mask = torch.ones(20, 50, dtype=torch.bool)
    mask[4] = False                                                  # row 4 sees no key
    kw = dict(mask=mask, variant=variant, return_lse=True, backend=backend)
    plain, plain_lse = pasa.attention(q, k, v, **kw)
    out, lse = pasa.attention(q, k, v, sinks=torch.full((2,), -torch.inf), **kw)
    assert torch.equal(out, plain) and torch.equal(lse, plain_lse)   # a −inf sink is no sink
    sinks = torch.tensor([1.5, -0.5])
    out, lse = pasa.attention(q, k, v, sinks=sinks, **kw)
    assert torch.all(out[:, :, 4] == 0) and torch.equal(lse[0, :, 4], sinks)   # zeros, lse = the sink
    out, _ = pasa.attention(q, k, v, sinks=torch.full((2,), 40.0), **kw)     # a sink far above every score
    assert out.abs().max() < 1e-6 * plain.abs().max()


@pytest.mark.parametrize("sinks,exc,pattern", [
    (torch.zeros(3), ValueError, r"sinks must have shape \(N,\) = \(4,\)"),
    (torch.zeros(1, 4), ValueError, r"sinks must have shape \(N,\)"),
    (torch.zeros(4, dtype=torch.int64), TypeError, "sinks must be floating"),
    (torch.zeros(4, device="meta"), ValueError, "sinks must be on q's device"),
])
def test_bad_sinks_are_named(sinks, exc, pattern):
    q, k, v = rand_qkv(1, 4, 2, 8, 16, 64)
    with pytest.raises(exc, match=pattern):
        pasa.attention(q, k, v, sinks=sinks)


def test_sdpa_takes_sinks(seed):
    q, k, v = rand_qkv(2, 4, 2, 10, 30, 64, seed=seed)
    sinks = torch.randn(4)
    want = pasa.attention(q, k, v, causal=True, sinks=sinks)
    from pasa.sdpa import sdpa_with_options
    got = sdpa_with_options(q, k, v, is_causal=True, enable_gqa=True, sinks=sinks)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
