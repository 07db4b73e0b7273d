"""The default variant's robustness guarantees (docs/numerics.md, "exact"): hidden keys change nothing, no finite
input overflows, bf16 inputs keep their range. Each example runs on the contract's model, on every CPU backend
that implements the variant, and on the CUDA backend (on a GPU, or its Triton kernels in Triton's interpreter on
CPU tensors, as tests/test_cuda.py runs them)."""
import pytest
import torch

import pasa
from pasa.model import model_attention
from pasa.reference import golden_attention

from conftest import check_against_model
from test_cuda import DEV, INTERPRETED, ON_GPU, run_triton

BACKENDS = ["model", "native", "ascend-sim"] + (["cuda"] if ON_GPU or INTERPRETED else [])


def run(backend, q, k, v, **kw):
    if backend == "model":
        return model_attention(q, k, v, **kw)
    if backend == "cuda":
        moved = {key: val.to(DEV) if isinstance(val, torch.Tensor) else val for key, val in kw.items()}
        return run_triton(q.to(DEV), k.to(DEV), v.to(DEV), **moved).cpu()
    return pasa.attention(q, k, v, backend=backend, **kw)


def column(*values, dtype=torch.float16):
    """A (1, 1, S, 1) tensor: one head, head dim 1."""
    return torch.tensor(values, dtype=dtype).reshape(1, 1, -1, 1)


def rmse(a, b):
    return float((a.double() - b.double()).pow(2).mean().sqrt())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hidden_key_cannot_overflow_a_visible_one(backend):
    """k = 60000 hidden by the mask: it stays out of the block's centre, and its own score is −inf by selection."""
    out = run(backend, column(3), column(1, 60000), column(1, 2), mask=torch.tensor([True, False]), scale=1.0)
    assert out.flatten().tolist() == [1.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", [2e3, 3e4, 6e4, -6e4])
@pytest.mark.parametrize("kind", ["bool", "padding", "float"])
def test_a_key_no_row_sees_changes_nothing(backend, value, kind, seed):
    """A stale KV-cache slot or padding holding any value gives the same output as the slot holding 0."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 2, 256, 64, generator=g).half() for _ in range(3))
    hidden = 100
    if kind == "bool":
        mask = torch.ones(256, 256, dtype=torch.bool)
        mask[:, hidden] = False
    elif kind == "padding":
        mask = torch.ones(2, 1, 1, 256, dtype=torch.bool)
        mask[..., hidden] = False
    else:
        mask = torch.zeros(256, 256)
        mask[:, hidden] = float("-inf")
    k_stale, k_zero = k.clone(), k.clone()
    k_stale[..., hidden, :] = value
    k_zero[..., hidden, :] = 0
    out = run(backend, q, k_stale, v, mask=mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out, run(backend, q, k_zero, v, mask=mask))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_query_row_far_from_the_key_centre(backend):
    """q = 300 against k = (0, 500): S' = q'·K' overflows fp16 without the query centre; with it Q' = 0."""
    assert run(backend, column(300), column(0, 500), column(1, 2), scale=1.0).flatten().tolist() == [2.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_overflowing_scores_fall_back_to_fp32(backend):
    """Two query rows ±300 share a group (centre 0), keys 0 and 500 (centre 250): the fp16 S' = ±75000 overflows,
    so those rows' block runs on fp32 scores s·q·(k − c_ref)."""
    out = run(backend, column(-300, 300), column(0, 500), column(1, 2), scale=1.0)
    assert out.flatten().tolist() == [1.0, 2.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("d,value", [(64, 1880.0), (128, 2400.0), (128, 30000.0), (128, 65504.0)])
def test_massive_activation_key(backend, d, value, seed):
    """Every query holds 448 on one dimension and one key of 200 holds a large value there (LLMs' "massive
    activations"): every row attends to that key alone."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 1, 64, d, generator=g) * 0.5
    q[..., 0] += 448
    k, v = torch.randn(1, 1, 200, d, generator=g), torch.randn(1, 1, 200, d, generator=g)
    k[0, 0, 7, 0] = value
    q, k, v = q.half(), k.half(), v.half()
    out = run(backend, q, k, v)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0, 0].float(), v[0, 0, 7].float().expand(64, d))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("d", [16, 256])
def test_extreme_finite_inputs_give_finite_output(backend, d, seed):
    """The edge of the guarantee: every |q|, |k| up to fp16's largest value, queries spread within each group, scale
    up to 1 (|s·q·k| ≤ 256·65504², far below fp32's maximum): the output is finite and agrees with the golden."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = ((torch.rand(1, 2, 96, d, generator=g) * 2 - 1) * 65504 for _ in range(3))
    q, k, v = q.half(), k.half(), v.half()
    for scale in (None, 1.0):
        out = run(backend, q, k, v, scale=scale)
        assert torch.isfinite(out).all()
        golden = golden_attention(q, k, v, scale=scale)
        # the scores are so far apart that each row picks its largest-score key; a row with two keys within the
        # fp32 rounding of ~1e9-sized scores may split differently: compare most rows exactly
        close = torch.isclose(out.double(), golden, rtol=1e-2, atol=1e-2 * 65504).all(dim=-1)
        assert close.float().mean() > 0.95


@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_tiny_values_keep_their_range(backend):
    q = k = torch.ones(1, 1, 4, 16, dtype=torch.bfloat16)
    v = torch.full((1, 1, 4, 16), 1e-8, dtype=torch.bfloat16)
    out = run(backend, q, k, v)
    assert torch.allclose(out.float(), v.float(), rtol=1e-2, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_beyond_fp16_range_works(backend, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, 2, 100, 64, generator=g).bfloat16() for _ in range(3))
    k[0, 1, 3, 5] = 1e5
    v[0, 0, 7, 1] = -3e6
    out = run(backend, q, k, v)
    assert torch.isfinite(out).all()
    if backend != "model":
        check_against_model(out, q, k, v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bf16_small_values_as_accurate_as_bf16_sdpa(backend, seed):
    """q, k ~ N(0, 1) with v ~ 1e-7: fp16's subnormals would lose v; the per-slice scale keeps it."""
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(2, 2, 128, 64, generator=g).bfloat16() for _ in range(2))
    v = (torch.randn(2, 2, 128, 64, generator=g) * 1e-7).bfloat16()
    golden = golden_attention(q, k, v)
    rel = lambda o: float((o.double() - golden).norm() / golden.norm())  # noqa: E731
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert rel(run(backend, q, k, v)) <= 2 * rel(sdpa)
