"""The log-sum-exp (``return_lse=True``) and ``pasa.merge_attention`` on the CPU operator and the AscendC kernel on
the simulator, against the contract's model and the float64 golden."""
import numpy as np
import pytest
import torch

import pasa
from pasa.reference import golden_attention

from conftest import check_against_model, rand_qkv

# (B, N, Nkv, S1, S2, D, causal, align, block_n)
BACKENDS = ["native", "ascend-sim"]

SHAPES = [
    (1, 4, 4, 200, 200, 64, False, "top_left", 128),       # S not a multiple of n
    (2, 4, 2, 96, 300, 80, True, "top_left", 64),          # causal top-left, batch 2
    (1, 4, 1, 300, 96, 64, True, "bottom_right", 32),      # rows that see no key: lse −inf; MQA
    (2, 8, 2, 3, 700, 64, True, "bottom_right", 64),       # decoding: the key axis split, merged in fp32
]


def ulp16(x: torch.Tensor) -> torch.Tensor:
    """The fp16 ulp at |x| (normal range)."""
    return torch.exp2(torch.floor(torch.log2(x.abs().clamp_min(2.0**-14))) - 10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}-n{s[8]}")
def test_lse_matches_model(seed, variant, shape, backend):
    b, n, nkv, s1, s2, d, causal, align, block_n = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n, return_lse=True)
    out, lse = pasa.attention(q, k, v, backend=backend, **kw)
    assert lse.dtype == torch.float32 and lse.shape == (b, n, s1)
    torch.testing.assert_close(out, pasa.attention(q, k, v, backend=backend, **dict(kw, return_lse=False)), rtol=0,
                               atol=0)
    check_against_model((out, lse), q, k, v, what=backend, **kw)


def test_lse_is_the_log_of_the_softmax_normaliser(seed):
    q, k, v = rand_qkv(1, 2, 2, 40, 90, 64, seed=seed)
    mask = torch.rand(40, 90, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[7] = False                                                   # row 7 sees no key
    _, lse = pasa.attention(q, k, v, mask=mask, return_lse=True)
    scores = (q.double() @ k.double().transpose(-1, -2)) * 64**-0.5
    want = torch.logsumexp(scores.masked_fill(~mask, -torch.inf), dim=-1)
    assert torch.all(lse[..., 7] == -torch.inf)
    torch.testing.assert_close(lse.double(), want, rtol=0, atol=2e-3)


def test_lse_layout_is_bnsd_for_bsnd_inputs(seed):
    q, k, v = rand_qkv(2, 4, 2, 50, 70, 64, seed=seed)
    out, lse = pasa.attention(*(t.transpose(1, 2) for t in (q, k, v)), layout="BSND", causal=True, return_lse=True)
    out_bnsd, lse_bnsd = pasa.attention(q, k, v, causal=True, return_lse=True)
    assert torch.equal(out.transpose(1, 2), out_bnsd) and torch.equal(lse, lse_bnsd)


def test_merge_of_golden_parts_is_the_golden_of_all_keys(seed):
    """merge_attention itself is exact to float64 rounding: three disjoint key sets, given by masks."""
    q, k, v = rand_qkv(2, 4, 2, 30, 100, 32, seed=seed)
    part = torch.randint(0, 3, (100,), generator=torch.Generator().manual_seed(seed))
    part[:3] = torch.arange(3)                                         # every set holds a key
    results = [golden_attention(q, k, v, mask=part == i, return_lse=True) for i in range(3)]
    out, lse = pasa.merge_attention([r[0] for r in results], [r[1] for r in results])
    want_out, want_lse = golden_attention(q, k, v, return_lse=True)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, want_out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lse, want_lse, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["exact", "pasa"])
def test_merge_of_key_slices_equals_one_call(seed, variant, backend):
    """Slices cut at multiples of block_n keep every KV block, so the merged result differs from one call over all
    keys only by the parts' fp16 output rounding and fp32 merge rounding: at most half an fp16 ulp of the largest
    part from the parts, half an ulp from the one call's own rounding, and fp32 noise."""
    q, k, v = rand_qkv(1, 4, 2, 64, 450, 64, mean=1.0, amp=3.0, seed=seed)
    kw = dict(variant=variant, block_n=64, backend=backend)
    cuts = [0, 128, 320, 450]
    parts = [pasa.attention(q, k[:, :, c0:c1], v[:, :, c0:c1], return_lse=True, **kw)
             for c0, c1 in zip(cuts[:-1], cuts[1:])]
    out, lse = pasa.merge_attention([p[0].float() for p in parts], [p[1] for p in parts])
    one, one_lse = pasa.attention(q, k, v, return_lse=True, **kw)
    biggest = torch.stack([p[0].float().abs() for p in parts] + [one.float().abs()]).amax(dim=0)
    diff = (out - one.float()).abs()
    print("max diff / ulp", float((diff / ulp16(biggest)).max()), "lse", float((lse - one_lse).abs().max()))
    assert torch.all(diff <= 1.01 * ulp16(biggest))
    torch.testing.assert_close(lse, one_lse, rtol=0, atol=1e-5 * float(one_lse.abs().max()) + 1e-6)


@pytest.mark.parametrize("layout", ["BSND", "TND"])
def test_merge_layouts_agree_with_bnsd(seed, layout):
    g = torch.Generator().manual_seed(seed)
    outs = [torch.randn(1, 3, 5, 8, generator=g) for _ in range(2)]
    lses = [torch.randn(1, 3, 5, generator=g) for _ in range(2)]
    want_out, want_lse = pasa.merge_attention(outs, lses)
    if layout == "BSND":
        out, lse = pasa.merge_attention([o.transpose(1, 2) for o in outs], lses, layout="BSND")
        out = out.transpose(1, 2)
    else:
        out, lse = pasa.merge_attention([o[0].transpose(0, 1) for o in outs], [x[0] for x in lses], layout="TND")
        out, lse = out.transpose(0, 1).unsqueeze(0), lse.unsqueeze(0)
    torch.testing.assert_close(out, want_out, rtol=0, atol=0)
    torch.testing.assert_close(lse, want_lse, rtol=0, atol=0)


def test_merge_rows_no_part_saw():
    outs = [torch.zeros(1, 1, 2, 4, dtype=torch.float16), torch.ones(1, 1, 2, 4, dtype=torch.float16)]
    lses = [torch.full((1, 1, 2), -torch.inf), torch.tensor([[[-torch.inf, 0.5]]])]
    out, lse = pasa.merge_attention(outs, lses)
    assert out.dtype == torch.float16 and lse.dtype == torch.float32
    assert torch.all(out[..., 0, :] == 0) and lse[..., 0] == -torch.inf
    assert torch.all(out[..., 1, :] == 1) and lse[..., 1] == 0.5


def test_merge_output_dtype_is_the_promoted_dtype_of_outs(seed):
    g = torch.Generator().manual_seed(seed)
    outs = [torch.randn(1, 2, 5, 8, generator=g) for _ in range(2)]
    lses = [torch.randn(1, 2, 5, generator=g) for _ in range(2)]
    for dtypes, out_dtype in [((torch.float16,) * 2, torch.float16), ((torch.float32,) * 2, torch.float32),
                              ((torch.float16, torch.bfloat16), torch.float32),
                              ((torch.bfloat16, torch.float32), torch.float32)]:
        parts = [o.to(t) for o, t in zip(outs, dtypes)]
        out, lse = pasa.merge_attention(parts, lses)
        assert out.dtype == out_dtype and lse.dtype == torch.float32
        ref = pasa.merge_attention([p.double() for p in parts], [x.double() for x in lses])[0]
        torch.testing.assert_close(out, ref.to(out_dtype))
    assert pasa.merge_attention(outs, [lses[0].double(), lses[1]])[1].dtype == torch.float64   # float64 throughout


@pytest.mark.parametrize("outs,lses,exc,pattern", [
    ([], [], ValueError, "non-empty lists of one length"),
    ([torch.zeros(1, 2, 3, 4)], [torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)], ValueError, "one length"),
    ([torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 5)], [torch.zeros(1, 2, 3)] * 2, ValueError, "one shape"),
    ([torch.zeros(1, 2, 3, 4)], [torch.zeros(1, 3, 2)], ValueError, r"lses\[0\] must have shape \(1, 2, 3\)"),
    ([torch.zeros(1, 2, 3, 4, dtype=torch.int32)], [torch.zeros(1, 2, 3)], TypeError, "floating"),
    (torch.zeros(1, 2, 3, 4), [torch.zeros(1, 2, 3)], TypeError,
     r"outs must be a list or tuple of tensors \(one per key set\), got torch.Tensor"),
    ([torch.zeros(1, 2, 3, 4)], torch.zeros(1, 2, 3), TypeError, r"lses must be a list or tuple of tensors"),
    ([torch.zeros(1, 2, 3, 4)], [np.zeros((1, 2, 3))], TypeError,
     r"lses\[0\] must be a floating torch.Tensor, got numpy.ndarray"),
    ([torch.zeros(2, 3, 4)], [torch.zeros(2, 3)], ValueError, r"outs\[0\] must be \(B, N, S, D\) for layout BNSD"),
    ([torch.zeros(1, 2, 3, 4)] * 2, [torch.zeros(1, 2, 3), torch.zeros(1, 2, 3, device="meta")], ValueError,
     r"every part must be on one device, got outs\[0\] on cpu and lses\[1\] on meta$"),
    ([torch.zeros(1, 2, 3, 4, device="meta")], [torch.zeros(1, 2, 3)], ValueError, r"lses\[0\] on cpu$"),
])
def test_merge_bad_input_is_named(outs, lses, exc, pattern):
    with pytest.raises(exc, match=pattern):
        pasa.merge_attention(outs, lses)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_key_axis_gives_zeros_and_minus_inf_or_the_sink(backend):
    q, k, v = rand_qkv(1, 2, 2, 5, 0, 64)
    out, lse = pasa.attention(q, k, v, return_lse=True, backend=backend)
    assert torch.equal(out, torch.zeros_like(q)) and torch.all(lse == -torch.inf) and lse.shape == (1, 2, 5)
    sinks = torch.tensor([0.5, -2.0])
    out, lse = pasa.attention(q, k, v, return_lse=True, sinks=sinks, backend=backend)
    assert torch.equal(out, torch.zeros_like(q)) and torch.equal(lse, sinks.view(1, 2, 1).expand(1, 2, 5))
    q, k, v = rand_qkv(1, 2, 2, 0, 10, 64)
    out, lse = pasa.attention(q, k, v, return_lse=True, backend=backend)
    assert out.shape == (1, 2, 0, 64) and lse.shape == (1, 2, 0)
