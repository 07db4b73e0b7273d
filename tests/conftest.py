"""Shared test helpers: fresh random inputs (the seed is printed on failure) and the shape matrix."""
from __future__ import annotations

import pytest
import torch

import pasa  # noqa: F401  (registers torch.ops.pasa.attention)


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
