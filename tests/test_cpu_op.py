"""The CPU operator against the contract's model (pasa.tolerance.check_backend) on a shape matrix."""
import pytest
import torch

import pasa
from pasa.model import model_attention

from conftest import MASK_KINDS, check_against_model, make_mask, rand_qkv

# (B, N, Nkv, S1, S2, D, causal, align, block_n, dtype)
SHAPES = [
    (1, 4, 4, 200, 200, 64, False, "top_left", 128, torch.float16),       # S not a multiple of n
    (2, 4, 2, 96, 300, 80, True, "top_left", 64, torch.float16),          # S1 < S2, causal top-left, batch 2
    (1, 4, 2, 300, 96, 128, True, "top_left", 128, torch.bfloat16),       # S1 > S2
    (1, 4, 2, 96, 300, 64, True, "bottom_right", 128, torch.float16),     # decoding-style alignment
    (1, 4, 1, 300, 96, 64, True, "bottom_right", 32, torch.float16),      # rows that see no key; MQA
    (1, 28, 4, 77, 133, 128, False, "top_left", 128, torch.float16),      # GQA 28/4
    (1, 2, 2, 130, 129, 256, True, "top_left", 128, torch.bfloat16),      # D = 256
    (2, 2, 1, 1, 257, 128, False, "top_left", 128, torch.float16),        # one query row
]


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}-n{s[8]}-{s[9]}")
def test_cpu_matches_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n)
    out = pasa.attention(q, k, v, **kw)
    assert out.dtype == dtype and out.shape == q.shape
    check_against_model(out, q, k, v, **kw)


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
@pytest.mark.parametrize("variant", pasa.VARIANTS)
def test_cpu_masks_match_model(seed, variant, mask_kind):
    b, n, nkv, s1, s2, d = 2, 4, 2, 70, 150, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=2.0, amp=3.0, seed=seed)
    mask = make_mask(mask_kind, b, n, s1, s2, seed)
    kw = dict(mask=mask, causal=True, variant=variant, block_n=64)
    out = pasa.attention(q, k, v, **kw)
    check_against_model(out, q, k, v, **kw)


def test_paper_variant_is_bit_exact_with_the_model(seed):
    # every paper statistic is fp16, so fp32 sums in another order rarely move a rounded value, and then by an ulp
    q, k, v = rand_qkv(1, 4, 2, 200, 333, 64, mean=5.0, amp=5.0, seed=seed)
    out = pasa.attention(q, k, v, variant="paper", causal=True).float()
    ref = model_attention(q, k, v, variant="paper", causal=True).float()
    ulp = torch.exp2(torch.floor(torch.log2(ref.abs().clamp_min(2.0**-14))) - 10)
    mismatch = (out - ref).abs()
    assert (mismatch > 0).float().mean() < 0.01, (mismatch > 0).float().mean()
    assert (mismatch <= 2 * ulp).all(), (mismatch / ulp).max()


@pytest.mark.parametrize("backend", ["native", "ascend-sim"])
def test_bsnd_layout_equals_bnsd(seed, backend):
    q, k, v = rand_qkv(2, 4, 2, 50, 70, 64, seed=seed)
    out = pasa.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), layout="BSND", causal=True,
                         backend=backend)
    torch.testing.assert_close(out.transpose(1, 2), pasa.attention(q, k, v, causal=True, backend=backend), rtol=0,
                               atol=0)
    assert out.is_contiguous()          # flash-attn and torch_npu users reshape the output to (B, S1, N·D) by view
    assert torch.equal(out.view(2, 50, 4 * 64)[:, :, 64:128], out[:, :, 1])


def test_non_contiguous_inputs_are_accepted(seed):
    q, k, v = rand_qkv(1, 4, 2, 64, 96, 64, seed=seed)
    qs = torch.stack([q, q], dim=-1)[..., 0]  # a strided view holding the same values
    assert not qs.is_contiguous()
    torch.testing.assert_close(pasa.attention(qs, k, v), pasa.attention(q, k, v), rtol=0, atol=0)


def test_empty_and_keyless_inputs():
    q, k, v = rand_qkv(1, 2, 2, 0, 10, 64)
    assert pasa.attention(q, k, v).shape == (1, 2, 0, 64)
    q, k, v = rand_qkv(1, 2, 2, 5, 0, 64)
    assert torch.equal(pasa.attention(q, k, v), torch.zeros(1, 2, 5, 64, dtype=torch.float16))


@pytest.mark.parametrize("backend", ["native", "ascend-sim"])
@pytest.mark.parametrize("variant", ["exact", "pasa", "paper"])
def test_zero_heads_give_empty_outputs(backend, variant):
    """N = Nkv = 0: an empty output of q's shape and dtype, as torch SDPA; the lse (B, 0, S1) or (0, Tq)."""
    q, k, v = rand_qkv(2, 0, 0, 10, 12, 64)
    kw = dict(backend=backend, variant=variant, return_lse=True)
    out, lse = pasa.attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), causal=True, sinks=torch.zeros(0),
                              mask=torch.ones(10, 12, dtype=torch.bool), **kw)
    assert out.shape == q.shape and out.dtype == torch.bfloat16 and lse.shape == (2, 0, 10)
    assert pasa.attention(*(t.transpose(1, 2) for t in (q, k, v)), layout="BSND", **kw)[0].shape == (2, 10, 0, 64)
    out, lse = pasa.attention_varlen(*(t[0].transpose(0, 1) for t in (q, k, v)), torch.tensor([0, 4, 10]),
                                     torch.tensor([0, 6, 12]), 6, 6, **kw)
    assert out.shape == (10, 0, 64) and out.dtype == q.dtype and lse.shape == (0, 10)
    with pytest.raises(ValueError, match=r"head count N \(2\) must be a multiple of k's head count Nkv \(0\)"):
        pasa.attention(torch.zeros(2, 2, 10, 64, dtype=q.dtype), k, v, backend=backend)


def test_fully_masked_rows_are_zero_and_others_unaffected(seed):
    q, k, v = rand_qkv(1, 2, 2, 8, 40, 64, seed=seed)
    mask = torch.ones(8, 40, dtype=torch.bool)
    mask[3] = False
    for variant in pasa.VARIANTS:
        out = pasa.attention(q, k, v, mask=mask, variant=variant)
        assert torch.all(out[:, :, 3] == 0)
        assert torch.isfinite(out).all()


def test_nan_input_propagates_only_to_rows_that_see_it(seed):
    q, k, v = rand_qkv(1, 2, 2, 16, 300, 64, seed=seed)
    q[0, 0, 5, 0] = float("nan")
    v[0, 1, 250, 3] = float("inf")
    for variant in pasa.VARIANTS:
        out = pasa.attention(q, k, v, variant=variant, causal=True)
        assert torch.isnan(out[0, 0, 5]).all()
        bad = ~torch.isfinite(out)
        bad[0, 0, 5] = False
        assert not bad.any(), f"{variant}: non-finite outside the NaN row"  # row 250 is never seen causally


def test_torch_compile_and_opcheck(seed):
    q, k, v = rand_qkv(1, 4, 2, 40, 70, 64, seed=seed)
    samples = [((q, k, v, None, None, False, "top_left", "exact", 128, None, "auto"), {}),
               ((q, k, v, torch.ones(40, 70, dtype=torch.bool), 0.2, True, "bottom_right", "pasa", 32, 0.97,
                 "native"), {}),
               ((q, k, v), {"return_lse": True, "sinks": torch.randn(4), "variant": "paper"}),
               ((q, k, v), {"return_lse": True, "sinks": torch.randn(4), "backend": "ascend-sim"})]
    for args, kwargs in samples:
        torch.library.opcheck(torch.ops.pasa.attention.default, args, kwargs)
    compiled = torch.compile(lambda a, b, c: pasa.attention(a, b, c, causal=True), fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v), pasa.attention(q, k, v, causal=True), rtol=0, atol=0)
    sinks = torch.randn(4)
    compiled = torch.compile(lambda a, b, c: pasa.attention(a, b, c, sinks=sinks, return_lse=True), fullgraph=True)
    for got, want in zip(compiled(q, k, v), pasa.attention(q, k, v, sinks=sinks, return_lse=True)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
