"""Shared test helpers: fresh random inputs (the seed is printed on failure) and the shape matrix."""
from __future__ import annotations

import pytest
import torch

import triton_interpreter

if triton_interpreter.wanted():     # no GPU: the CUDA backend's Triton kernels run in Triton's interpreter
    triton_interpreter.enable()

import pasa  # noqa: E402,F401  (registers torch.ops.pasa.attention)
from pasa.model import model_attention  # noqa: E402
from pasa.reference import golden_attention  # noqa: E402
from pasa.tolerance import check_backend, check_lse  # noqa: E402


def pytest_configure(config):
    if triton_interpreter.active():   # numpy's warnings on the inf/NaN a kernel handles on purpose, one per program
        for category in ("RuntimeWarning", "DeprecationWarning"):
            config.addinivalue_line("filterwarnings", f"ignore::{category}:triton.runtime.interpreter")


@pytest.fixture
def seed(request) -> int:
    """A fresh seed per test, shown in the test report so a failure can be replayed."""
    value = int(torch.randint(0, 2**31 - 1, (1,)).item())
    request.node.user_properties.append(("seed", value))
    print(f"seed={value}")
    return value


def rand_qkv(b, n, nkv, s1, s2, d, dtype=torch.float16, mean=0.0, amp=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    def make(*shape):
        return ((torch.rand(shape, generator=g) - 0.5) * 2 * amp + mean).to(dtype)
    return make(b, n, s1, d), make(b, nkv, s2, d), make(b, nkv, s2, d)


MASK_KINDS = ("bool", "float", "bool-broadcast-row", "float-per-head", "bool-padding-2d")


def make_mask(kind, b, n, s1, s2, seed):
    """A mask of one kind, broadcastable to (B, N, S1, S2): random bool (True = attend); additive float (S1, S2);
    a key-padding row (S2,); fp16 per head with −inf holes; padding (B, 1, 1, S2) where batch 0 sees nothing."""
    g = torch.Generator().manual_seed(seed)
    if kind == "bool":
        return torch.rand(b, 1, s1, s2, generator=g) > 0.2
    if kind == "float":
        return torch.randn(s1, s2, generator=g) * 2
    if kind == "bool-broadcast-row":
        return torch.rand(s2, generator=g) > 0.5
    if kind == "float-per-head":
        holes = torch.rand(1, n, s1, s2, generator=g) > 0.9
        return (torch.randn(1, n, s1, s2, generator=g) * 2).masked_fill(holes, float("-inf")).half()
    if kind == "bool-padding-2d":
        mask = torch.ones(b, 1, 1, s2, dtype=torch.bool)
        mask[-1, ..., s2 // 2:] = False            # the last sequence is half as long
        mask[0, ..., :] = False                    # the first sees nothing: zeros
        return mask
    raise ValueError(f"unknown mask kind {kind!r}")


GOLDEN_KEYWORDS = ("mask", "scale", "causal", "causal_align", "sinks", "return_lse")


def check_against_model(out, q, k, v, what="backend", **kw):
    """pasa.tolerance.check_backend of a backend's `out` for pasa.attention(q, k, v, **kw) against the model and the
    float64 golden of the same call (the golden takes the keywords that change the exact result); with
    ``return_lse=True`` out is (out, lse) and check_lse checks the lse too. Prints and returns the figures."""
    golden = golden_attention(q, k, v, **{key: kw[key] for key in GOLDEN_KEYWORDS if key in kw})
    model = model_attention(q, k, v, **kw)
    if not kw.get("return_lse"):
        out, model, golden = (out,), (model,), (golden,)
    figures = check_backend(out[0], model[0], golden[0], what=what, variant=kw.get("variant"))
    if kw.get("return_lse"):
        figures["lse"] = check_lse(out[1], model[1], golden[1], what=what, variant=kw.get("variant"))
    print(figures)
    return figures
