"""The PasaAttention custom op on an Ascend NPU against the contract's model (pasa.tolerance.check_backend).
Skipped where there is no NPU; scripts/run_npu_tests.sh runs it on a machine that has one."""
import pytest
import torch

import pasa

from conftest import MASK_KINDS, check_against_model, make_mask, rand_qkv

torch_npu = pytest.importorskip("torch_npu")
if not torch.npu.is_available():
    pytest.skip("no NPU", allow_module_level=True)
pytest.importorskip("pasa._C_npu")  # built by setup.py where torch_npu and CANN are found

SHAPES = [  # (B, N, Nkv, S1, S2, D, causal, align, block_n, dtype)
    (1, 4, 4, 200, 200, 64, False, "top_left", 128, torch.float16),
    (2, 4, 2, 96, 300, 64, True, "top_left", 64, torch.float16),
    (1, 4, 2, 300, 96, 128, True, "top_left", 128, torch.bfloat16),
    (1, 4, 2, 96, 300, 64, True, "bottom_right", 128, torch.float16),
    (1, 28, 4, 1407, 1407, 128, False, "top_left", 128, torch.float16),
    (1, 2, 2, 130, 129, 256, True, "top_left", 128, torch.bfloat16),             # D = 256, a 1-key tail block
    (2, 2, 1, 1, 257, 128, False, "top_left", 128, torch.float16),               # one query row (Mmad m = 1)
    (1, 2, 1, 129, 200, 64, False, "top_left", 128, torch.float16),              # a 1-row task
    (1, 2, 2, 257, 300, 128, True, "bottom_right", 128, torch.bfloat16),         # 257 = 2 x 128 + 1
    (1, 8, 1, 1, 300, 256, False, "top_left", 128, torch.float16),               # decoding at D = 256, GQA 8:1
    (1, 2, 1, 16, 600, 128, False, "top_left", 256, torch.float16),              # block_n 256, 16 query rows
]


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}")
def test_npu_matches_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n)
    out = pasa.attention(q.npu(), k.npu(), v.npu(), **kw).cpu()
    check_against_model(out, q, k, v, what=f"npu {variant}", **kw)


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
def test_npu_masks_match_model(seed, variant, mask_kind):
    b, n, s1, s2, d = 2, 4, 40, 150, 64
    q, k, v = rand_qkv(b, n, 2, s1, s2, d, mean=2.0, amp=3.0, seed=seed)
    mask = make_mask(mask_kind, b, n, s1, s2, seed)
    kw = dict(causal=True, variant=variant, block_n=64)
    out = pasa.attention(q.npu(), k.npu(), v.npu(), mask=mask.npu(), **kw).cpu()
    check_against_model(out, q, k, v, what=f"npu {variant} {mask_kind}", mask=mask, **kw)


def test_npu_equals_the_simulator(seed):
    q, k, v = rand_qkv(1, 4, 2, 150, 170, 128, seed=seed)
    out = pasa.attention(q.npu(), k.npu(), v.npu(), causal=True).cpu()
    torch.testing.assert_close(out, pasa.attention(q, k, v, causal=True, backend="ascend-sim"), rtol=0, atol=2e-3)


# The exact variant's robustness paths, as tests/test_ascend_sim.py runs them on the simulator


def npu(*tensors):
    return [None if t is None else t.npu() for t in tensors]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=lambda t: str(t)[6:])
@pytest.mark.parametrize("mask_kind", [None, "float", "bool-padding-2d"])
def test_npu_rows_whose_scores_overflow_fall_back(seed, dtype, mask_kind):
    b, n, nkv, s1, s2, d = 2, 4, 2, 70, 150, 32
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, torch.float32, mean=1.0, amp=3.0, seed=seed)
    q[:, :, 5:60:7, 0] = 4000.0 * torch.tensor([1.0, -1.0]).repeat(4)[:8]
    k[:, :, 70:90, 0] = torch.linspace(-200, 200, 20)
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    mask = None if mask_kind is None else make_mask(mask_kind, b, n, s1, s2, seed)
    kw = dict(causal=True, causal_align="bottom_right", block_n=64)
    out = pasa.attention(*npu(q, k, v), mask=npu(mask)[0], **kw).cpu()
    assert torch.isfinite(out).all()
    check_against_model(out, q, k, v, what="npu fallback", mask=mask, **kw)


@pytest.mark.parametrize("value", [60000.0, float("inf"), float("nan")])
def test_npu_a_hidden_key_changes_nothing(seed, value):
    q, k, v = rand_qkv(1, 2, 1, 48, 100, 64, seed=seed)
    mask = torch.ones(48, 100, dtype=torch.bool)
    mask[:, 70] = False
    stale, zero = k.clone(), k.clone()
    stale[..., 70, :] = value
    zero[..., 70, :] = 0
    out = pasa.attention(*npu(q, stale, v, mask)).cpu()
    assert torch.isfinite(out).all()
    assert torch.equal(out, pasa.attention(*npu(q, zero, v, mask)).cpu())


@pytest.mark.parametrize("mask_kind", MASK_KINDS)
def test_npu_bf16_slices_with_masks_match_model(seed, mask_kind):
    b, n, nkv, s1, s2, d = 2, 4, 2, 40, 150, 32
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, torch.float32, mean=2.0, amp=3.0, seed=seed)
    q = (q * torch.tensor([1e-6, 1.0, 1e3, 1e6]).view(1, n, 1, 1)).bfloat16()
    k = (k * torch.tensor([1e4, 1e-5]).view(1, nkv, 1, 1)).bfloat16()
    v = (v * torch.tensor([1e-7, 1e5]).view(1, nkv, 1, 1)).bfloat16()
    mask = make_mask(mask_kind, b, n, s1, s2, seed)
    out = pasa.attention(*npu(q, k, v), mask=mask.npu(), causal=True, block_n=64).cpu()
    check_against_model(out, q, k, v, what=f"npu bf16 {mask_kind}", mask=mask, causal=True, block_n=64)


@pytest.mark.parametrize("d", [1, 72])
def test_npu_head_dims_are_padded_to_16(seed, d):
    q, k, v = rand_qkv(1, 2, 2, 40, 70, d, mean=2.0, seed=seed)
    out = pasa.attention(*npu(q, k, v), causal=True).cpu()
    check_against_model(out, q, k, v, what=f"npu D={d}", causal=True)


# Issue 13's features through the NPU binding: the log-sum-exp, sinks, packed sequences (TND with cu_seqlens),
# decoding in 16-row query tiles


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", [(2, 4, 2, 96, 300, 64, True, "top_left", 64),
                                   (1, 4, 1, 300, 96, 64, True, "bottom_right", 32),    # rows that see no key
                                   (1, 32, 8, 1, 4500, 128, True, "bottom_right", 128),  # decoding, GQA 32/8
                                   (2, 8, 2, 16, 2100, 64, True, "bottom_right", 128)],
                         ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}")
def test_npu_lse_and_sinks_match_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed)
    sinks = torch.randn(n, generator=torch.Generator().manual_seed(seed)) + 2.0
    for s in (None, sinks):
        kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n, return_lse=True)
        out, lse = pasa.attention(*npu(q, k, v), sinks=None if s is None else s.npu(), **kw)
        check_against_model((out.cpu(), lse.cpu()), q, k, v, what=f"npu {variant}", sinks=s, **kw)


@pytest.mark.parametrize("align", ["top_left", "bottom_right"])
@pytest.mark.parametrize("variant", pasa.VARIANTS)
def test_npu_varlen_equals_the_simulator(seed, variant, align):
    lens_q, lens_k = [5, 0, 1, 300, 16, 3, 9], [9, 4, 1, 300, 1100, 0, 2]
    cu_q = torch.tensor([0] + lens_q).cumsum(0, dtype=torch.int32)
    cu_k = torch.tensor([0] + lens_k).cumsum(0, dtype=torch.int32)
    q, k, v = (t[0].transpose(0, 1).contiguous()
               for t in rand_qkv(1, 8, 2, int(cu_q[-1]), int(cu_k[-1]), 64, mean=1.0, amp=3.0, seed=seed))
    sinks = torch.randn(8, generator=torch.Generator().manual_seed(seed)) + 2.0
    kw = dict(causal=True, causal_align=align, variant=variant, block_n=64, return_lse=True)
    out, lse = pasa.attention_varlen(*npu(q, k, v, cu_q, cu_k), 300, 1100, sinks=sinks.npu(), **kw)
    want, want_lse = pasa.attention_varlen(q, k, v, cu_q, cu_k, 300, 1100, sinks=sinks, backend="ascend-sim", **kw)
    torch.testing.assert_close(out.cpu(), want, rtol=0, atol=2e-3)
    torch.testing.assert_close(lse.cpu(), want_lse, rtol=0, atol=1e-4)
