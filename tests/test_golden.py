"""The float64 golden against an independent float64 softmax, and the masking semantics against torch SDPA."""
import pytest
import torch

from pasa.reference import golden_attention


def naive(q, k, v, scale, allowed):
    out = torch.zeros(q.shape[:-1] + (v.shape[-1],), dtype=torch.float64)
    g = q.shape[1] // k.shape[1]
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            for i in range(q.shape[2]):
                keys = [j for j in range(k.shape[2]) if allowed(b, h, i, j)]
                if not keys:
                    continue
                s = torch.stack([q[b, h, i].double() @ k[b, h // g, j].double() * scale for j in keys])
                w = torch.exp(s - s.max())
                out[b, h, i] = sum(wj * v[b, h // g, j].double() for wj, j in zip(w / w.sum(), keys))
    return out


@pytest.mark.parametrize("s1,s2,align", [(5, 9, "top_left"), (9, 5, "top_left"), (5, 9, "bottom_right"),
                                         (9, 5, "bottom_right")])
def test_golden_matches_independent_softmax(seed, s1, s2, align):
    g = torch.Generator().manual_seed(seed)
    q, k, v = torch.randn(2, 4, s1, 8, generator=g), torch.randn(2, 2, s2, 8, generator=g), torch.randn(2, 2, s2, 8, generator=g)
    offset = s2 - s1 if align == "bottom_right" else 0
    mask = torch.rand(2, 1, s1, s2, generator=g) > 0.3
    got = golden_attention(q, k, v, causal=True, causal_align=align, mask=mask, scale=0.3)
    want = naive(q, k, v, 0.3, lambda b, h, i, j: j <= i + offset and bool(mask[b, 0, i, j]))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_golden_agrees_with_sdpa_conventions(seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 4, 7, 16, generator=g, dtype=torch.float64) for _ in range(3))
    k, v = k[:, :2], v[:, :2]
    add = torch.randn(7, 7, generator=g, dtype=torch.float64)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    torch.testing.assert_close(golden_attention(q, k, v, causal=True),
                               sdpa(q, k, v, is_causal=True, enable_gqa=True))
    torch.testing.assert_close(golden_attention(q, k, v, mask=add), sdpa(q, k, v, attn_mask=add, enable_gqa=True))


def test_row_that_sees_no_key_is_zero():
    q, k, v = torch.randn(1, 1, 4, 8), torch.randn(1, 1, 2, 8), torch.randn(1, 1, 2, 8)
    out = golden_attention(q, k, v, causal=True, causal_align="bottom_right")  # rows 0, 1 see nothing
    assert torch.all(out[0, 0, :2] == 0) and torch.all(out[0, 0, 2:] != 0)


def test_no_keys_with_sinks_gives_zeros_and_the_sink(seed):
    g = torch.Generator().manual_seed(seed)
    q, kv, sinks = torch.randn(1, 2, 3, 8, generator=g), torch.zeros(1, 2, 0, 8), torch.randn(2, generator=g)
    out, lse = golden_attention(q, kv, kv, sinks=sinks, return_lse=True)
    assert out.shape == (1, 2, 3, 8) and torch.all(out == 0)
    torch.testing.assert_close(lse, sinks.double().view(1, 2, 1).expand(1, 2, 3), rtol=0, atol=0)


def test_row_whose_max_score_is_inf_is_nan_as_in_sdpa(seed):
    """An inf score is not "no key": exp(inf - inf) is NaN, torch SDPA's answer in float64."""
    q, k = torch.randn(1, 1, 2, 4, dtype=torch.float64), torch.randn(1, 1, 3, 4, dtype=torch.float64)
    q[0, 0, 0] = torch.tensor([1.0, 0, 0, 0])
    k[0, 0, 1, 0] = torch.inf
    v = torch.randn(1, 1, 3, 4, dtype=torch.float64)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    got = golden_attention(q, k, v)
    assert torch.equal(torch.isnan(got), torch.isnan(want)) and torch.isnan(got[0, 0, 0]).all()
