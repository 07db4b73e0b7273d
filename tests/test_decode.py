"""KV-cache decoding: S1 = 1..16 query rows against a long cache. The CPU operator splits the key axis into parts
that run in parallel and merge in fp32 (docs/numerics.md, "Splitting the key axis"), checked against the model's split
form; the AscendC kernel on the simulator runs 16-row query tiles over the whole key axis, checked against the
unsplit model; both against the float64 golden."""
import pytest
import torch

import pasa
from pasa import _C
from pasa.metrics import errors
from pasa.model import model_attention
from pasa.reference import golden_attention

from conftest import check_against_model, make_mask, rand_qkv

sim = torch.ops.pasa_ascend_sim


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("s1", [1, 5, 16])
def test_decode_matches_the_split_model(seed, variant, s1):
    b, n, nkv, s2, d = 1, 32, 8, 4500, 64                          # GQA 32/8; 4500 keys: parts at 2048, 4096
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed)
    sinks = torch.randn(n, generator=torch.Generator().manual_seed(seed)) + 3.0
    kw = dict(causal=True, causal_align="bottom_right", variant=variant, sinks=sinks, return_lse=True)
    splits = _C.cpu_kv_splits(s1, s2, 128, variant)
    assert splits == ([] if variant == "paper" else [2048, 4096])
    out = pasa.attention(q, k, v, **kw)
    check_against_model(out, q, k, v, kv_splits=splits, **kw)


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("s1", [1, 5, 16])
def test_ascend_sim_decodes_in_16_row_tiles(seed, variant, s1):
    """One task per (batch, head) whose query tile is 16 rows (the Cube's m, GEMV-safe), not 128: GQA 4:1,
    bottom-right causal, sinks and lse; dense and packed (TND) calls give the same bits."""
    b, n, nkv, s2, d = 2, 8, 2, 1000, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed)
    sinks = torch.randn(n, generator=torch.Generator().manual_seed(seed)) + 3.0
    kw = dict(causal=True, causal_align="bottom_right", variant=variant, sinks=sinks, return_lse=True)
    out, lse = pasa.attention(q, k, v, backend="ascend-sim", **kw)
    assert f"tasks={b * n} q_rows=16 " in sim.last_launch()
    check_against_model((out, lse), q, k, v, what="ascend-sim", **kw)
    tnd = [t.transpose(1, 2).flatten(0, 1) for t in (q, k, v)]                   # (B·S, heads, D)
    cu_q, cu_k = (torch.arange(0, b + 1, dtype=torch.int32) * s for s in (s1, s2))
    out_p, lse_p = pasa.attention_varlen(*tnd, cu_q, cu_k, s1, s2, backend="ascend-sim", **kw)
    assert f"tasks={b * n} q_rows=16 " in sim.last_launch()
    assert torch.equal(out_p, out.transpose(1, 2).flatten(0, 1))
    assert torch.equal(lse_p, lse.transpose(0, 1).flatten(1, 2))


def test_decode_with_a_mask_and_bf16(seed):
    q, k, v = rand_qkv(2, 8, 2, 3, 2100, 64, dtype=torch.bfloat16, mean=1.0, amp=3.0, seed=seed)
    mask = make_mask("float-per-head", 2, 8, 3, 2100, seed)
    kw = dict(mask=mask, block_n=64, variant="pasa")
    check_against_model(pasa.attention(q, k, v, **kw), q, k, v, kv_splits=_C.cpu_kv_splits(3, 2100, 64, "pasa"), **kw)


def test_only_short_queries_split():
    assert _C.cpu_kv_splits(16, 5000, 128, "exact") == [2048, 4096]
    assert _C.cpu_kv_splits(17, 5000, 128, "exact") == []
    assert _C.cpu_kv_splits(1, 2048, 128, "exact") == []
    assert _C.cpu_kv_splits(1, 5000, 96, "pasa") == [2016, 4032]  # 21 whole blocks of 96


@pytest.mark.parametrize("variant", ["exact", "pasa"])
def test_split_at_block_multiples_changes_only_rounding(seed, variant):
    """The contract's split form keeps every block when cut at multiples of n: its output is the unsplit one up to
    the order of fp32 work, far below the variant's own error against the golden."""
    q, k, v = rand_qkv(1, 4, 2, 4, 1500, 64, mean=3.0, amp=4.0, seed=seed)
    kw = dict(causal=True, causal_align="bottom_right", variant=variant, block_n=64, return_lse=True)
    whole, whole_lse = model_attention(q, k, v, **kw)
    split, split_lse = model_attention(q, k, v, kv_splits=[256, 640, 1408], **kw)
    err = errors(whole, golden_attention(q, k, v, causal=True, causal_align="bottom_right"))["rmse"]
    dev = errors(split, whole)["rmse"]
    print(f"split vs whole {dev:.2e}, whole vs golden {err:.2e}")
    assert dev <= 0.1 * err
    torch.testing.assert_close(split_lse, whole_lse, rtol=0, atol=1e-4)


def test_split_form_arguments_are_checked():
    q, k, v = rand_qkv(1, 2, 2, 1, 300, 64)
    with pytest.raises(ValueError, match="paper variant .* defined unsplit"):
        model_attention(q, k, v, variant="paper", kv_splits=[128])
    for bad in ([0], [300], [200, 100], [64, 64]):
        with pytest.raises(ValueError, match="kv_splits must be increasing key positions"):
            model_attention(q, k, v, kv_splits=bad)
