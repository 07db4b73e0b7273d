"""The PasaAttention custom op on an Ascend NPU against the contract's model (pasa.tolerance.check_backend).
Skipped where there is no NPU; scripts/run_npu_tests.sh runs it on a machine that has one."""
import pytest
import torch

import pasa

from conftest import check_against_model, rand_qkv

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
    (1, 2, 2, 130, 129, 256, True, "top_left", 128, torch.bfloat16),
]


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:6])) + f"-{s[6]}-{s[7]}")
def test_npu_matches_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed)
    kw = dict(causal=causal, causal_align=align, variant=variant, block_n=block_n)
    out = pasa.attention(q.npu(), k.npu(), v.npu(), **kw).cpu()
    check_against_model(out, q, k, v, what=f"npu {variant}", **kw)


def test_npu_equals_the_simulator(seed):
    q, k, v = rand_qkv(1, 4, 2, 150, 170, 128, seed=seed)
    out = pasa.attention(q.npu(), k.npu(), v.npu(), causal=True).cpu()
    torch.testing.assert_close(out, pasa.attention(q, k, v, causal=True, backend="ascend-sim"), rtol=0, atol=2e-3)
