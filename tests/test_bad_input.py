"""Bad input raises a ValueError/TypeError that names the argument (never a crash, a hang or a wrong answer)."""
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
    (dict(causal=True, causal_align="center"), ValueError, r"causal_align must be"),
    (dict(layout="SBND"), ValueError, r"layout must be one of"),
    (dict(backend="cuda"), ValueError, r"backend for CPU tensors must be"),
    (dict(zip("qkv", rand_qkv(1, 4, 2, 16, 24, 1024))), ValueError, r"head dim D must be in \[1, 512\]"),
])
def test_bad_argument_is_named(kwargs, exc, pattern):
    args = dict(q=Q, k=K, v=V)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        pasa.attention(args.pop("q"), args.pop("k"), args.pop("v"), **args)


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
