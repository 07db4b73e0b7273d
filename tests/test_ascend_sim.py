"""The AscendC kernel on the simulator (backend "ascend-sim") against the contract's model, with the one agreement
rule (pasa.tolerance.check_backend), on the shape matrix of issue 5."""
import pytest
import torch

import pasa
from pasa.model import model_attention

from conftest import check_against_model, make_mask, rand_qkv

sim = torch.ops.pasa_ascend_sim

# (B, N, Nkv, S1, S2, D, causal, align, block_n, dtype, core_num, max_q_rows)
SHAPES = [
    (1, 4, 4, 200, 200, 64, False, "top_left", 128, torch.float16, 0, 128),      # S not a multiple of n
    (2, 4, 2, 96, 300, 64, True, "top_left", 64, torch.float16, 3, 32),          # S1 < S2, batch 2, tasks > cores
    (1, 4, 2, 300, 96, 128, True, "top_left", 128, torch.bfloat16, 0, 128),      # S1 > S2, bf16
    (1, 4, 2, 96, 300, 64, True, "bottom_right", 128, torch.float16, 0, 128),    # decoding-style alignment
    (1, 4, 1, 150, 96, 64, True, "bottom_right", 32, torch.float16, 2, 64),      # rows that see no key; MQA
    (1, 28, 4, 77, 133, 128, False, "top_left", 128, torch.float16, 0, 128),     # GQA 28/4, fewer tasks than cores
    (1, 2, 2, 130, 129, 256, True, "top_left", 128, torch.bfloat16, 0, 128),     # D = 256
    (2, 2, 1, 1, 257, 128, False, "top_left", 128, torch.float16, 0, 128),       # one query row (Mmad m = 1: GEMV)
    (1, 2, 1, 129, 200, 64, False, "top_left", 128, torch.float16, 0, 128),      # a 1-row task: 129 = 128 + 1
    (1, 2, 2, 257, 300, 128, True, "bottom_right", 128, torch.bfloat16, 0, 128),  # 257 = 2 x 128 + 1
    (1, 2, 1, 1, 300, 256, False, "top_left", 128, torch.float16, 0, 128),       # decoding at D = 256
    (1, 2, 1, 16, 600, 128, False, "top_left", 256, torch.float16, 0, 16),       # block_n 256, 16 query rows
]


def _id(s):
    return "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}-n{s[8]}-{str(s[9])[6:]}-c{s[10]}-q{s[11]}"


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_ascend_sim_matches_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype, cores, qrows = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n)
    out = sim.run(q, k, v, None, None, causal, align, variant, block_n, None, "Ascend910B2", cores, qrows)
    assert out.dtype == dtype and out.shape == q.shape
    check_against_model(out, q, k, v, what=f"ascend-sim {variant}", **kw)


@pytest.mark.parametrize("mask_kind", ["bool", "float-per-head"])
@pytest.mark.parametrize("variant", pasa.VARIANTS)
def test_ascend_sim_masks_match_model(seed, variant, mask_kind):
    b, n, nkv, s1, s2, d = 2, 4, 2, 40, 150, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=2.0, amp=3.0, seed=seed)
    mask = make_mask(mask_kind, b, n, s1, s2, seed)
    kw = dict(mask=mask, causal=True, variant=variant, block_n=64)
    out = pasa.attention(q, k, v, backend="ascend-sim", **kw)
    check_against_model(out, q, k, v, **kw)


def test_public_api_backend_and_unknown_backend_message(seed):
    q, k, v = rand_qkv(1, 2, 2, 33, 47, 64, seed=seed)
    out = pasa.attention(q, k, v, backend="ascend-sim", causal=True)
    check_against_model(out, q, k, v, causal=True)
    with pytest.raises(ValueError, match="'auto', 'native' or 'ascend-sim'"):
        pasa.attention(q, k, v, backend="npu-please")


def test_exact_variant_is_nearly_bit_exact(seed):
    # the exact variant's fp16 tiles are S' and P: the kernel's fp32 sums in another order rarely move them
    q, k, v = rand_qkv(1, 2, 2, 64, 200, 128, mean=5.0, amp=5.0, seed=seed)
    out = pasa.attention(q, k, v, backend="ascend-sim", causal=True)
    ref = model_attention(q, k, v, causal=True)
    mismatch = (out.float() - ref.float()).abs()
    print("mismatch fraction", float((mismatch > 0).float().mean()), "max", float(mismatch.max()))
    assert (mismatch > 0).float().mean() < 0.05 and mismatch.max() <= 8 * 2**-10


def test_core_split_does_not_change_the_result(seed):
    q, k, v = rand_qkv(2, 3, 1, 70, 90, 64, seed=seed)
    args = (None, None, True, "top_left", "exact", 32, None, "Ascend910B2")
    one = sim.run(q, k, v, *args, 1, 16)      # 1 core, 30 tasks
    many = sim.run(q, k, v, *args, 24, 16)    # 24 cores
    torch.testing.assert_close(one, many, rtol=0, atol=0)


def test_empty_inputs_and_rows_that_see_nothing(seed):
    q, k, v = rand_qkv(1, 2, 2, 0, 10, 64)
    assert pasa.attention(q, k, v, backend="ascend-sim").shape == (1, 2, 0, 64)
    q, k, v = rand_qkv(1, 2, 2, 5, 0, 64)
    assert torch.equal(pasa.attention(q, k, v, backend="ascend-sim"), torch.zeros(1, 2, 5, 64, dtype=torch.float16))
    q, k, v = rand_qkv(1, 2, 2, 8, 40, 64, seed=seed)
    mask = torch.ones(8, 40, dtype=torch.bool)
    mask[3] = False
    for variant in pasa.VARIANTS:
        out = pasa.attention(q, k, v, mask=mask, variant=variant, backend="ascend-sim")
        assert torch.all(out[:, :, 3] == 0) and torch.isfinite(out).all()


def test_nan_input_propagates_only_to_rows_that_see_it(seed):
    q, k, v = rand_qkv(1, 2, 2, 16, 300, 64, seed=seed)
    q[0, 0, 5, 0] = float("nan")
    v[0, 1, 250, 3] = float("inf")
    for variant in pasa.VARIANTS:
        out = pasa.attention(q, k, v, variant=variant, causal=True, backend="ascend-sim")
        assert torch.isnan(out[0, 0, 5]).all()
        bad = ~torch.isfinite(out)
        bad[0, 0, 5] = False
        assert not bad.any(), f"{variant}: non-finite outside the NaN row"


def test_kernel_rejects_head_dims_it_cannot_tile():
    q, k, v = rand_qkv(1, 2, 2, 16, 16, 72)
    with pytest.raises(ValueError, match="head dim D must be a multiple of 16"):
        pasa.attention(q, k, v, backend="ascend-sim")
