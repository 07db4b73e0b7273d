"""Bad input raises a ValueError/TypeError that names the argument (never a crash, a hang or a wrong answer)."""
import numpy as np
import pytest
import torch

import pasa

from conftest import rand_qkv

Q, K, V = rand_qkv(1, 4, 2, 16, 24, 64)


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(q=Q[0]), ValueError, r"q must be 4-D"),
    (dict(k=K[:, :, :, :32]), ValueError, r"k and v must have the same shape"),
    (dict(k=K[:, :, :, :32], v=V[:, :, :, :32]), ValueError, r"head dim D must equal"),
    (dict(zip("qkv", rand_qkv(1, 4, 3, 16, 24, 64))), ValueError, r"multiple of k's head count"),
    (dict(k=torch.cat([K, K]), v=torch.cat([V, V])), ValueError, r"batch size"),
    (dict(q=Q.float()), TypeError, r"q must be float16 or bfloat16"),
    (dict(v=V.bfloat16()), TypeError, r"share one dtype"),
    (dict(q=Q.to("meta")), ValueError, r"one device"),
    (dict(mask=torch.ones(16, 23, dtype=torch.bool)), ValueError, r"mask must broadcast"),
    (dict(mask=torch.ones(16, 24, dtype=torch.int32)), TypeError, r"mask must be bool"),
    (dict(variant="fast"), ValueError, r"variant must be"),
    (dict(block_n=8), ValueError, r"block_n must be a multiple of 16"),
    (dict(block_n=100), ValueError, r"block_n must be a multiple of 16"),
    (dict(scale=0.0), ValueError, r"scale must be finite and > 0"),
    (dict(scale=float("nan")), ValueError, r"scale must be finite"),
    (dict(beta=0.9), ValueError, r"beta is fixed at 1 for variant 'exact'"),
    (dict(variant="paper", beta=1.0), ValueError, r"beta must lie in \(0, 1\)"),
    # β so close to 1 that the recovery coefficient is not finite (the model and the kernels gave NaN outputs)
    (dict(variant="paper", beta=0.999985), ValueError, r"beta = 0.999985 is too close to 1 for variant 'paper'"),
    (dict(variant="pasa", beta=0.9999), ValueError, r"beta = 0.9999 is too close to 1 for variant 'pasa'"),
    (dict(causal=True, causal_align="center"), ValueError, r"causal_align must be"),
    (dict(layout="SBND"), ValueError, r"layout must be one of"),
    (dict(backend="cuda"), ValueError, r"backend for CPU tensors must be"),
    (dict(zip("qkv", rand_qkv(1, 4, 2, 16, 24, 1024))), ValueError, r"head dim D must be in \[1, 512\]"),
    (dict(causal_align="bottom_right"), ValueError, r"causal_align='bottom_right' .* needs causal=True"),
    # wrong types: a TypeError naming the argument and the expected type, before the dispatcher sees them
    (dict(q=Q.numpy()), TypeError, r"q must be a torch.Tensor, got numpy.ndarray \(torch.from_numpy"),
    (dict(k=K.tolist()), TypeError, r"k must be a torch.Tensor, got list"),
    (dict(v=None), TypeError, r"v must be a torch.Tensor, got NoneType"),
    (dict(mask=np.ones((16, 24), dtype=bool)), TypeError, r"mask must be None or a torch.Tensor, got numpy"),
    (dict(block_n=64.0), TypeError, r"block_n must be an int, got float 64.0"),
    (dict(block_n=True), TypeError, r"block_n must be an int, got bool"),
    (dict(causal="yes"), TypeError, r"causal must be a bool, got str 'yes'"),
    (dict(causal=1), TypeError, r"causal must be a bool, got int"),
    (dict(causal=True, causal_align=None), TypeError, r"causal_align must be a str"),
    (dict(scale="0.1"), TypeError, r"scale must be None or a float, got str"),
    (dict(beta=[0.9], variant="pasa"), TypeError, r"beta must be None or a float, got list"),
    (dict(variant=0), TypeError, r"variant must be a str"),
    (dict(layout=("B", "S")), TypeError, r"layout must be a str"),
    (dict(backend=None), TypeError, r"backend must be a str"),
    # numbers the schema's int64 / float64 cannot hold: a ValueError, not the dispatcher's "expected int, found int"
    (dict(block_n=2**64), ValueError, r"block_n must fit in int64 \(\[-2\*\*63, 2\*\*63 - 1\]\), got 18446744073709551616"),
    (dict(block_n=-2**63 - 1), ValueError, r"block_n must fit in int64"),
    (dict(block_n=np.uint64(2**64 - 1)), ValueError, r"block_n must fit in int64"),
    (dict(scale=10**400), ValueError, r"scale must fit in float64 \(.*\), got an int of magnitude 1.000e\+400"),
    (dict(scale=-7**50000), ValueError, r"scale must fit in float64 .* magnitude -7.980e\+42254"),
    (dict(variant="pasa", beta=10**400), ValueError, r"beta must fit in float64"),
])
def test_bad_argument_is_named(kwargs, exc, pattern):
    args = dict(q=Q, k=K, v=V)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        pasa.attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)


def test_numbers_beyond_the_schema_are_named_by_every_entry_point():
    """attention_varlen and sdpa share the type check (sdpa's own "scale must be finite" test let 10**400 pass)."""
    cu = torch.tensor([0, 16])
    with pytest.raises(ValueError, match=r"attention_varlen: max_seqlen_q must fit in int64"):
        pasa.attention_varlen(Q[0].transpose(0, 1), K[0].transpose(0, 1), V[0].transpose(0, 1), cu, cu, 2**64, 24)
    with pytest.raises(ValueError, match=r"pasa.sdpa: scale must fit in float64"):
        pasa.sdpa(Q.float(), K.float(), V.float(), scale=10**400)
    with pytest.raises(ValueError, match=r"pasa.sdpa: dropout_p must fit in float64"):
        pasa.sdpa(Q, K, V, dropout_p=-10**400)
    # ints that float64 holds are floats to the schema (scale = 2**64 is a valid, if odd, scale)
    assert pasa.attention(Q, K, V, scale=2**64).shape == Q.shape


def test_backend_limits_name_the_function_called():
    q, k = torch.zeros(10, 4, 300, dtype=torch.float16), torch.zeros(12, 2, 300, dtype=torch.float16)
    cu_q, cu_k = torch.tensor([0, 10]), torch.tensor([0, 12])
    with pytest.raises(ValueError, match=r"^pasa.attention_varlen backend 'ascend-sim': head dim D must be at most 256"):
        pasa.attention_varlen(q, k, k, cu_q, cu_k, 10, 12, backend="ascend-sim")
    with pytest.raises(ValueError, match=r"^pasa.attention backend 'ascend-sim': head dim D must be at most 256"):
        pasa.attention(q.unsqueeze(0), k.unsqueeze(0), k.unsqueeze(0), layout="BSND", backend="ascend-sim")


def test_errors_are_one_line():
    # the dispatcher's own type error (a numpy array, a float block_n) listed the schema and a C++ trace
    for kwargs in (dict(block_n=64.0), dict(causal="yes"), dict(variant="x"), dict(block_n=100)):
        with pytest.raises((TypeError, ValueError)) as err:
            pasa.attention(Q, K, V, **kwargs)
        assert "\n" not in str(err.value), str(err.value)


def test_numpy_scalars_are_accepted_as_numbers():
    ref = pasa.attention(Q, K, V, block_n=64, scale=0.25)
    torch.testing.assert_close(pasa.attention(Q, K, V, block_n=np.int64(64), scale=np.float32(0.25)), ref,
                               rtol=0, atol=0)


def test_bsnd_tensors_with_the_default_layout_get_the_layout_hint():
    q, k, v = (t.transpose(1, 2) for t in rand_qkv(1, 4, 2, 16, 24, 64))   # (B, S, N, D)
    with pytest.raises(ValueError, match=r"head count .* pass layout='BSND'"):
        pasa.attention(q, k, v)
    torch.testing.assert_close(pasa.attention(q, k, v, layout="BSND"),
                               pasa.attention(*rand_qkv(1, 4, 2, 16, 24, 64)).transpose(1, 2), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"multiple of k's head count") as err:   # no BSND reading fits: no hint
        pasa.attention(*rand_qkv(1, 4, 3, 16, 24, 64))
    assert "layout" not in str(err.value)


@pytest.mark.parametrize("change,pattern", [
    (lambda q, k, v: (q[0], k[0], v[0]), r"q must be 4-D \(B, S, N, D\) for layout 'BSND', got shape \[16, 4, 64\]$"),
    (lambda q, k, v: (q, k, v[:, :23]), r"k and v must have the same shape: v's key length S2 is 23, k's 24$"),
    (lambda q, k, v: (q, k, v[..., :32]), r"k and v must have the same shape: v's head dim D is 32, k's 64$"),
    (lambda q, k, v: (q, torch.cat([k, k]), torch.cat([v, v])), r"k must have q's batch size 1, got 2$"),
])
def test_bsnd_errors_speak_of_the_tensors_passed(change, pattern):
    """layout='BSND' runs the op on BNSD views; its errors name dimensions, not the transposed shapes."""
    q, k, v = change(*(t.transpose(1, 2) for t in (Q, K, V)))
    with pytest.raises(ValueError, match=pattern) as err:
        pasa.attention(q, k, v, layout="BSND")
    assert "[1, 4, 16, 64]" not in str(err.value) and "[1, 2, 24, 64]" not in str(err.value)


@pytest.mark.parametrize("factory,align", [("causal_upper_left", "top_left"), ("causal_lower_right", "bottom_right")])
def test_causal_bias_mask_is_read_as_the_causal_flags(factory, align):
    from torch.nn.attention import bias
    causal_bias = getattr(bias, factory)(16, 24)
    out = pasa.attention(Q, K, V, mask=causal_bias)
    torch.testing.assert_close(out, pasa.attention(Q, K, V, causal=True, causal_align=align), rtol=0, atol=0)
    torch.testing.assert_close(out, pasa.attention(Q, K, V, mask=causal_bias._materialize()), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"mask is a CausalBias.* leave causal"):
        pasa.attention(Q, K, V, mask=causal_bias, causal=True)
    with pytest.raises(ValueError, match=r"CausalBias for \(S1, S2\) = \(16, 23\)"):
        pasa.attention(Q, K, V, mask=getattr(bias, factory)(16, 23))


def test_other_tensor_subclass_masks_are_refused():
    class Lazy(torch.Tensor):   # a subclass that gives torch functions its own meaning, as CausalBias does
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return super().__torch_function__(func, types, args, kwargs or {})

    mask = torch.ones(16, 24, dtype=torch.bool).as_subclass(Lazy)
    with pytest.raises(TypeError, match=r"mask is a .*Lazy, a tensor subclass that overrides torch functions"):
        pasa.attention(Q, K, V, mask=mask)
    plain = torch.nn.Parameter(torch.zeros(16, 24), requires_grad=False)   # a subclass without such overrides
    torch.testing.assert_close(pasa.attention(Q, K, V, mask=plain), pasa.attention(Q, K, V), rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["pasa", "paper"])
def test_bf16_beyond_fp16_range_is_rejected_by_the_paper_variants(variant):
    """pasa and paper compute on the fp16 values of the inputs; the exact variant scales bf16 slices instead
    (tests/test_contract_robustness.py)."""
    q, k, v = (t.bfloat16() for t in (Q, K, V))
    k = k.clone()
    k[0, 1, 3, 5] = 70000.0
    with pytest.raises(ValueError, match=r"k holds bfloat16 values beyond float16's range"):
        pasa.attention(q, k, v, variant=variant)
    k[0, 1, 3, 5] = 60000.0  # inside the range: accepted
    assert torch.isfinite(pasa.attention(q, k, v, variant=variant)).all()


def test_direct_op_call_is_checked_too():
    with pytest.raises(ValueError, match="variant must be"):
        torch.ops.pasa.attention(Q, K, V, None, None, False, "top_left", "nope", 128, None, "auto")


def test_meta_tensors_infer_shape_without_data():
    q, k, v = (t.to("meta") for t in (Q, K, V))
    out = pasa.attention(q, k, v, causal=True)
    assert out.device.type == "meta" and out.shape == Q.shape and out.dtype == Q.dtype


@pytest.mark.parametrize("backend", ["native", "ascend-sim"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float64_mask_and_sinks_beyond_float32_range_are_refused(seed, backend, sign):
    """The kernels hold a floating mask and the sinks in float32, where a float64 value beyond its range turns into
    ±inf (and the softmax of +inf into NaN): the shared argument check refuses it; −inf ("hidden", "no sink") and
    float32's own extremes pass and give what the same values in float32 give."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = rand_qkv(1, 4, 2, 16, 24, 64, seed=seed)
    mask = torch.randn(16, 24, generator=g, dtype=torch.float64)
    sinks = torch.randn(4, generator=g, dtype=torch.float64)
    bad_mask, bad_sinks = mask.clone(), sinks.clone()
    bad_mask.view(-1)[int(torch.randint(mask.numel(), (1,), generator=g))] = sign * 1e300
    bad_sinks[int(torch.randint(4, (1,), generator=g))] = sign * 1e300
    with pytest.raises(ValueError, match=r"mask must hold values within float32's range .* or -inf"):
        pasa.attention(q, k, v, mask=bad_mask, backend=backend)
    with pytest.raises(ValueError, match=r"sinks must hold values within float32's range .* or -inf"):
        pasa.attention(q, k, v, sinks=bad_sinks, backend=backend)
    cu_q, cu_k = torch.tensor([0, 16]), torch.tensor([0, 24])
    with pytest.raises(ValueError, match=r"attention_varlen: sinks must hold values within float32's range"):
        pasa.attention_varlen(*(t[0].transpose(0, 1) for t in (q, k, v)), cu_q, cu_k, 16, 24, sinks=bad_sinks,
                              backend=backend)
    edge_mask, edge_sinks = mask.clone(), sinks.clone()
    edge_mask[3, :5], edge_mask[7, 2] = -torch.inf, sign * torch.finfo(torch.float32).max
    edge_sinks[1] = -torch.inf
    out = pasa.attention(q, k, v, mask=edge_mask, sinks=edge_sinks, backend=backend)
    assert torch.equal(out, pasa.attention(q, k, v, mask=edge_mask.float(), sinks=edge_sinks.float(), backend=backend))
    assert not out.isnan().any()
