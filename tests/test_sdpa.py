"""pasa.sdpa against torch SDPA computed in float64 on the same half-precision inputs."""
import pytest
import torch
import torch.nn.functional as F

import pasa
from pasa.metrics import errors

from conftest import rand_qkv


def _torch64(q, k, v, **kw):
    return F.scaled_dot_product_attention(q.double(), k.double(), v.double(), **kw)


def _fa16_bound(q, k, v, golden, **kw):
    """The error an fp16-score flash attention makes on these inputs: PASA's accuracy yardstick."""
    from pasa.model import model_attention
    return errors(model_attention(q, k, v, variant="fa16", **kw), golden)["rmse"]


def _assert_close(out, golden, bound_rmse, what):
    e = errors(out, golden)
    print(what, e, "fa16 rmse", bound_rmse)
    assert e["nonfinite"] == 0, what
    assert e["rmse"] <= 2.0 * bound_rmse + 1e-4, f"{what}: rmse {e['rmse']:.3e} vs fa16 {bound_rmse:.3e}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_matches_torch_sdpa_bnsd(seed, dtype, is_causal):
    q, k, v = rand_qkv(2, 4, 4, 77, 77, 64, dtype, mean=1.0, amp=2.0, seed=seed)
    out = pasa.sdpa(q, k, v, is_causal=is_causal)
    assert out.shape == q.shape and out.dtype == dtype
    golden = _torch64(q, k, v, is_causal=is_causal)
    _assert_close(out, golden, _fa16_bound(q, k, v, golden, causal=is_causal), f"{dtype} causal={is_causal}")


@pytest.mark.parametrize("mask_kind", ["bool", "float", "key-padding"])
def test_sdpa_masks(seed, mask_kind):
    q, k, v = rand_qkv(2, 3, 3, 40, 90, 32, seed=seed)
    g = torch.Generator().manual_seed(seed)
    if mask_kind == "bool":
        mask = torch.rand(2, 1, 40, 90, generator=g) > 0.3
        mask[..., 0] = True                       # every row sees a key
    elif mask_kind == "float":
        mask = (torch.randn(40, 90, generator=g) * 2).half()
    else:
        mask = torch.ones(2, 1, 1, 90, dtype=torch.bool)
        mask[1, ..., 60:] = False
    out = pasa.sdpa(q, k, v, attn_mask=mask)
    golden = _torch64(q, k, v, attn_mask=mask if mask.dtype == torch.bool else mask.double())
    _assert_close(out, golden, _fa16_bound(q, k, v, golden, mask=mask), mask_kind)


def test_sdpa_gqa_scale_and_ranks(seed):
    q, k, v = rand_qkv(1, 8, 2, 33, 50, 16, seed=seed)
    out = pasa.sdpa(q, k, v, enable_gqa=True, scale=0.3)
    golden = _torch64(q, k, v, enable_gqa=True, scale=0.3)
    _assert_close(out, golden, _fa16_bound(q, k, v, golden, scale=0.3), "gqa")
    with pytest.raises(ValueError, match="enable_gqa"):
        pasa.sdpa(q, k, v)
    # 3-D (B, L, E) and 5-D (B, G, H, L, E) inputs, as SDPA accepts them
    q3, k3, v3 = (t[0] for t in rand_qkv(1, 2, 2, 20, 30, 16, seed=seed))
    _assert_close(pasa.sdpa(q3, k3, v3, is_causal=True), _torch64(q3, k3, v3, is_causal=True), 2e-3, "3-D")
    q5, k5, v5 = (t.reshape(1, 2, 2, t.shape[2], 16) for t in rand_qkv(1, 4, 4, 20, 30, 16, seed=seed))
    mask = torch.rand(2, 1, 20, 30) > 0.2
    mask[..., 0] = True
    _assert_close(pasa.sdpa(q5, k5, v5, attn_mask=mask), _torch64(q5, k5, v5, attn_mask=mask), 2e-3, "5-D")


def test_sdpa_float32_inputs_round_to_fp16(seed):
    q, k, v = (t.float() for t in rand_qkv(1, 2, 2, 50, 50, 32, seed=seed))
    out = pasa.sdpa(q, k, v)
    assert out.dtype == torch.float32
    golden = _torch64(q, k, v)                    # q, k, v hold fp16 values, so the golden is the same
    _assert_close(out, golden, _fa16_bound(q.half(), k.half(), v.half(), golden), "float32")
    with pytest.raises(ValueError, match="float16's range"):
        pasa.sdpa(q * 1e5, k, v)


@pytest.mark.parametrize("v_scale", [1e-8, 1e-6, 1e5, 1e30])
def test_sdpa_float32_value_keeps_its_precision_at_any_magnitude(seed, v_scale):
    """value is scaled per head by a power of two into fp16's range and the output back: v·1e-8 gave zeros when
    rounded to fp16 as it is; per head, so heads of very different sizes (GQA) each keep their precision."""
    q, k, v = (t.float() for t in rand_qkv(2, 4, 2, 40, 56, 32, seed=seed))
    v = v * torch.tensor([v_scale, 1.0]).view(1, 2, 1, 1)
    out = pasa.sdpa(q, k, v, enable_gqa=True)
    golden = _torch64(q, k, v, enable_gqa=True)
    for h in range(4):                            # each head against its own size
        o, g = out[:, h].double(), golden[:, h]
        rel = float((o - g).pow(2).mean().sqrt() / g.pow(2).mean().sqrt())
        assert rel < 2e-3, f"head {h}: relative RMSE {rel:.2e} (seed {seed})"


def test_sdpa_survives_the_bias_that_overflows_fp16_scores(seed):
    # every score carries ~ 40·40·64 = 102400 > 65504 of common bias: fp16-score flash attention gives inf
    q, k, v = rand_qkv(1, 2, 2, 64, 200, 64, mean=40.0, amp=1.0, seed=seed)
    golden = _torch64(q, k, v)
    from pasa.model import model_attention
    assert errors(model_attention(q, k, v, variant="fa16"), golden)["nonfinite"] > 0
    e = errors(pasa.sdpa(q, k, v), golden)
    print(e)
    assert e["nonfinite"] == 0 and e["rmse"] < 1e-2


@pytest.mark.parametrize("bad, err, match", [
    (dict(dropout_p=0.1), ValueError, "dropout_p"),
    (dict(is_causal=True, attn_mask=torch.ones(5, 7, dtype=torch.bool)), ValueError, "not both"),
    (dict(attn_mask=torch.ones(3, 5, 7, dtype=torch.bool)), ValueError, "attn_mask"),
    (dict(scale=float("nan")), ValueError, r"^pasa.sdpa: scale must be finite"),
    (dict(scale=-float("inf")), ValueError, r"^pasa.sdpa: scale must be finite"),
])
def test_sdpa_errors(bad, err, match):
    q, k, v = rand_qkv(1, 2, 2, 5, 7, 16)
    with pytest.raises(err, match=match):
        pasa.sdpa(q, k, v, **bad)
    with pytest.raises(TypeError, match="one dtype"):
        pasa.sdpa(q, k.float(), v)
    with pytest.raises(ValueError, match=r"value's last dim Ev \(8\) must equal the head dim E of query and key "
                                         r"\(16\): PASA's kernels take one head dim .* value \(1, 2, 7, 8\)"):
        pasa.sdpa(q, k, v[..., :8])
    with pytest.raises(ValueError, match="key and value must have the same shape"):
        pasa.sdpa(q, k, v[:, :, :6])
    with pytest.raises(RuntimeError, match="no_grad"):
        pasa.sdpa(q.clone().requires_grad_(), k, v)
    with torch.no_grad():
        pasa.sdpa(q.clone().requires_grad_(), k, v)


@pytest.mark.parametrize("scale", [0.0, -0.3])
def test_sdpa_zero_and_negative_scale_match_torch_sdpa(seed, scale):
    """The kernels take scale > 0; pasa.sdpa takes any finite scale as torch SDPA does (0: the softmax of the mask
    alone), through exact identities on the query."""
    q, k, v = rand_qkv(2, 4, 2, 33, 70, 32, mean=1.0, amp=2.0, seed=seed)
    mask = torch.rand(33, 70, generator=torch.Generator().manual_seed(seed)) > 0.3
    mask[:, 0] = True
    out = pasa.sdpa(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
    golden = _torch64(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
    fa16 = _fa16_bound(-q if scale else q * 0, k, v, golden, mask=mask, scale=abs(scale) or 1.0)
    _assert_close(out, golden, fa16, f"scale={scale}")


def test_sdpa_fully_masked_row_gives_zeros_as_torch_sdpa():
    q, k, v = rand_qkv(1, 1, 1, 3, 4, 8)
    mask = torch.ones(1, 1, 3, 4, dtype=torch.bool)
    mask[0, 0, 1] = False
    out = pasa.sdpa(q, k, v, attn_mask=mask)
    assert torch.equal(out[0, 0, 1], torch.zeros(8, dtype=out.dtype))
    assert torch.equal(F.scaled_dot_product_attention(q.double(), k.double(), v.double(), attn_mask=mask)[0, 0, 1],
                       torch.zeros(8, dtype=torch.float64))


def test_transformers_attention_function_causal_gqa_and_mask(seed):
    # the function attn_implementation="pasa" calls, on a decoder-style module (no transformers needed here)
    from pasa.integrations.huggingface import make_attention_function

    class Decoder(torch.nn.Module):
        is_causal = True

    fn = make_attention_function()
    q, k, v = (t.float() for t in rand_qkv(2, 4, 2, 30, 30, 16, seed=seed))
    out, weights = fn(Decoder(), q, k, v, None, scaling=0.25)
    assert weights is None and out.shape == (2, 30, 4, 16) and out.dtype == torch.float32
    golden = _torch64(q, k, v, is_causal=True, scale=0.25, enable_gqa=True).transpose(1, 2)
    _assert_close(out, golden, 2e-3, "causal gqa")
    mask = torch.ones(2, 1, 30, 40, dtype=torch.bool).tril()         # a mask longer than the keys is cut to S
    out, _ = fn(Decoder(), q, k, v, mask)
    _assert_close(out, _torch64(q, k, v, is_causal=True, enable_gqa=True).transpose(1, 2), 2e-3, "4-D mask")
    with pytest.raises(ValueError, match="dropout"):
        fn(Decoder(), q, k, v, None, dropout=0.1)


@pytest.mark.parametrize("heads", [2, 4])
@pytest.mark.parametrize("factory", ["causal_lower_right", "causal_upper_left"])
@pytest.mark.parametrize("s1,s2", [(4, 9), (9, 4)])
def test_sdpa_causal_bias_masks_match_torch_sdpa(seed, heads, factory, s1, s2):
    # a CausalBias holds no mask values (its storage is uninitialised): it is read as pasa's causal flags
    import warnings
    from torch.nn.attention import bias
    q, k, v = rand_qkv(1, heads, heads, s1, s2, 16, mean=1.0, amp=2.0, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch warns that lower-right with S1 > S2 leaves rows unseen
        mask = getattr(bias, factory)(s1, s2)
    out = pasa.sdpa(q, k, v, attn_mask=mask)
    assert torch.equal(out, pasa.sdpa(q, k, v, attn_mask=mask))          # the same on every call
    golden = _torch64(q, k, v, attn_mask=mask._materialize())
    _assert_close(out, golden, _fa16_bound(q, k, v, golden, mask=mask._materialize()), f"{factory} {s1}x{s2}")
    with pytest.raises(ValueError, match="not both"):
        pasa.sdpa(q, k, v, attn_mask=mask, is_causal=True)
    with pytest.raises(ValueError, match=r"CausalBias for \(S1, S2\)"):
        pasa.sdpa(q[:, :, :1], k, v, attn_mask=mask)


def test_sdpa_refuses_tensor_subclass_masks_it_cannot_read():
    from torch.masked import masked_tensor
    q, k, v = rand_qkv(1, 1, 1, 3, 4, 8)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch.masked is a prototype
        mask = masked_tensor(torch.ones(3, 4), torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="attn_mask is a MaskedTensor, a tensor subclass"):
        pasa.sdpa(q, k, v, attn_mask=mask)


@pytest.mark.parametrize("q_shape,kv_shape", [
    ((1, 1, 0, 1), (1, 1, 5, 1)),     # no query rows: empty output
    ((1, 1, 3, 8), (1, 1, 0, 8)),     # no keys: zeros
    ((2, 4, 8), (2, 0, 8)),           # 3-D, no keys
    ((0, 2, 3, 8), (0, 2, 5, 8)),     # empty batch
    ((2, 0, 3, 8), (2, 0, 5, 8)),     # no heads
    ((1, 2, 0, 8), (1, 2, 0, 8)),     # neither
    ((0, 8), (5, 8)),                 # 2-D
])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_sdpa_empty_shapes_match_torch_sdpa(q_shape, kv_shape, dtype):
    q, k = torch.randn(q_shape, dtype=dtype), torch.randn(kv_shape, dtype=dtype)
    out = pasa.sdpa(q, k, k)
    expected = F.scaled_dot_product_attention(q.float(), k.float(), k.float())
    assert out.shape == expected.shape and out.dtype == dtype
    assert torch.equal(out.float(), expected)
    mask = torch.ones(q_shape[-2], kv_shape[-2], dtype=torch.bool)
    assert torch.equal(pasa.sdpa(q, k, k, attn_mask=mask).float(), expected)


def _compile(fn):
    # aot_eager: Dynamo's fullgraph capture and AOT's fake-tensor trace (where a data-dependent branch fails),
    # without Inductor's C++ compile per graph; test_sdpa_compiles_with_inductor covers Inductor
    return torch.compile(fn, fullgraph=True, backend="aot_eager")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_sdpa_compiles_fullgraph(seed, dtype):
    from torch.nn.attention.bias import causal_lower_right
    torch._dynamo.reset()
    q, k, v = (t.to(dtype) for t in rand_qkv(1, 4, 2, 20, 33, 16, mean=1.0, amp=2.0, seed=seed))
    g = torch.Generator().manual_seed(seed)
    masks = {"bool": torch.rand(1, 1, 20, 33, generator=g) > 0.3, "float": torch.randn(20, 33, generator=g),
             "causal-bias": causal_lower_right(20, 33)}
    causal = _compile(lambda q, k, v: pasa.sdpa(q, k, v, is_causal=True, enable_gqa=True))
    torch.testing.assert_close(causal(q, k, v), pasa.sdpa(q, k, v, is_causal=True, enable_gqa=True), rtol=0, atol=0)
    masked = _compile(lambda q, k, v, m: pasa.sdpa(q, k, v, attn_mask=m, enable_gqa=True))
    for name, mask in masks.items():
        out = masked(q, k, v, mask)
        assert out.dtype == dtype, name
        torch.testing.assert_close(out, pasa.sdpa(q, k, v, attn_mask=mask, enable_gqa=True), rtol=0, atol=0)
    if dtype == torch.float32:     # the float16 range check runs inside its op, compiled or not
        with pytest.raises(ValueError, match="query holds values beyond float16's range"):
            causal(q * 1e5, k, v)


def test_sdpa_compiles_with_inductor(seed):
    torch._dynamo.reset()
    q, k = (t.float() for t in rand_qkv(1, 2, 2, 16, 16, 16, seed=seed)[:2])
    compiled = torch.compile(lambda q, k: pasa.sdpa(q, k, k, is_causal=True), fullgraph=True)
    torch.testing.assert_close(compiled(q, k), pasa.sdpa(q, k, k, is_causal=True), rtol=0, atol=0)


def test_round_to_float16_op_passes_opcheck():
    from pasa.sdpa import round_to_float16
    for x in (torch.randn(2, 3, 5, 8), torch.randn(4, 6, dtype=torch.float64).t(), torch.empty(0, 8)):
        torch.library.opcheck(round_to_float16, (x, "query"))
        assert torch.equal(round_to_float16(x, "query"), x.half())
    with pytest.raises(ValueError, match="key holds values beyond float16's range"):
        round_to_float16(torch.tensor([1.0, 7e4]), "key")
    inf = torch.tensor([float("inf"), float("nan"), -1.0])      # non-finite values pass through, as they propagate
    assert torch.equal(round_to_float16(inf, "value").isnan(), inf.isnan())
