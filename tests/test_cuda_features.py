"""The CUDA backend's log-sum-exp, sinks, packed variable-length batches and split-K decoding (flash-decoding)
against the contract's model and the float64 golden, as tests/test_cuda.py: on a GPU, or without one in Triton's
interpreter."""
import pytest
import torch

import pasa
from pasa.model import model_attention
from pasa.reference import golden_attention
from pasa.tolerance import check_backend, check_lse

from conftest import GOLDEN_KEYWORDS, check_against_model, rand_qkv
from test_cuda import DEV, INTERPRETED, ON_GPU, _to_dev, gpu_only, run_triton

pytestmark = pytest.mark.skipif(not (ON_GPU or INTERPRETED), reason="needs a CUDA device, or Triton (interpreter)")


def sinks_for(n, seed, level=2.0):
    return (torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 2 + level).to(DEV)


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("shape", [(2, 4, 2, 96, 300, 64, True, "top_left", 64, torch.float16),
                                   (1, 4, 1, 130, 60, 80, True, "bottom_right", 32, torch.bfloat16)],  # rows see none
                         ids=["causal-top-left", "bottom-right-keyless-rows-bf16"])
def test_lse_and_sinks_match_model(seed, variant, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=1.0, amp=3.0, seed=seed))
    for sinks in (None, sinks_for(n, seed)):
        kw = dict(causal=causal, causal_align=align, block_n=block_n, variant=variant, sinks=sinks, return_lse=True)
        out, lse = run_triton(q, k, v, **kw)
        assert lse.shape == (b, n, s1) and lse.dtype == torch.float32
        check_against_model((out, lse), q, k, v, what=f"cuda {variant}", **kw)


@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("s1", [1, 5])
def test_split_decoding_matches_the_split_model(seed, variant, s1):
    """S1 ≤ 16 rows against 700 keys in blocks of 16: the key axis is cut every 16·k blocks over programs and merged
    by lse (the paper variant stays unsplit), checked against the model's split form with the same cuts."""
    from pasa.cuda.op import kv_split_cuts
    b, n, nkv, s2, d, block_n = 1, 8, 2, 700, 64, 16
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, mean=1.0, amp=3.0, seed=seed))
    cuts = kv_split_cuts(b, n, s1, s2, block_n, variant, q.device)
    assert (cuts == []) == (variant == "paper"), cuts
    kw = dict(causal=True, causal_align="bottom_right", block_n=block_n, variant=variant, sinks=sinks_for(n, seed),
              return_lse=True)
    out, lse = run_triton(q, k, v, **kw)
    check_against_model((out, lse), q, k, v, what=f"cuda split {variant}", kv_splits=cuts, **kw)


def packed(lens_q, lens_k, n, nkv, d, seed):
    cu_q = torch.tensor([0] + lens_q).cumsum(0).to(torch.int32)
    cu_k = torch.tensor([0] + lens_k).cumsum(0).to(torch.int32)
    q, k, v = rand_qkv(1, n, nkv, int(cu_q[-1]), int(cu_k[-1]), d, mean=1.0, amp=3.0, seed=seed)
    return [t[0].transpose(0, 1).contiguous() for t in (q, k, v)] + [cu_q, cu_k]


def run_varlen(*args, **kw):
    if ON_GPU:
        return pasa.attention_varlen(*args, **kw)
    from pasa.cuda.op import attention_varlen_triton
    return attention_varlen_triton(*args, **kw)


# prefill-like (rows past a 64-row tile, empty and one-token sequences, queries longer than keys) and decoding-like
# (one row per sequence against caches long enough to split)
VARLEN_CASES = {"prefill": ([5, 0, 1, 100, 3], [9, 4, 1, 150, 0]), "decode": ([1, 1, 1, 1], [700, 33, 0, 400])}


@pytest.mark.parametrize("align", ["top_left", "bottom_right"])
@pytest.mark.parametrize("variant", pasa.VARIANTS)
@pytest.mark.parametrize("case", list(VARLEN_CASES))
def test_varlen_matches_the_model_per_sequence(seed, case, variant, align):
    lens_q, lens_k = VARLEN_CASES[case]
    n, nkv, d, block_n = 4, 2, 32, 16
    q, k, v, cu_q, cu_k = _to_dev(*packed(lens_q, lens_k, n, nkv, d, seed))
    sinks = sinks_for(n, seed)
    kw = dict(causal=True, causal_align=align, block_n=block_n, variant=variant, sinks=sinks, return_lse=True)
    out, lse = run_varlen(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), **kw)
    assert out.shape == q.shape and lse.shape == (n, q.shape[0])
    from pasa.cuda.op import kv_split_cuts   # decoding-like batches split their key axes (flash-decoding)
    cuts = kv_split_cuts(len(lens_q), n, max(lens_q), max(lens_k), block_n, variant, q.device, cu_q.tolist(),
                         cu_k.tolist())
    # each sequence's model and golden, packed back into TND (rows of a sequence without keys keep zeros and lse =
    # the sink, asserted exactly); one agreement check over every row, as the rule is calibrated on: a sequence of
    # 5 rows rests on a handful of fp16 roundings, where one flipped rounding moves its RMSE by half the model's error
    want = {name: torch.zeros(t.shape, dtype=torch.float64) for name, t in (("out", out), ("lse", lse))}
    want = {"model": dict(want), "golden": {key: t.clone() for key, t in want.items()}}
    rows = torch.zeros(q.shape[0], dtype=torch.bool)
    golden_kw = {key: kw[key] for key in GOLDEN_KEYWORDS if key in kw}
    for i in range(len(lens_q)):
        (q0, q1), (k0, k1) = cu_q[i:i + 2].tolist(), cu_k[i:i + 2].tolist()
        if q1 == q0:
            continue
        if k1 == k0:    # no key: zeros, lse = the sink
            sink_lse = sinks.float().view(n, 1).expand(n, q1 - q0)
            assert torch.all(out[q0:q1] == 0) and torch.equal(lse[:, q0:q1], sink_lse)
            continue
        bnsd = [t[a:z].transpose(0, 1).unsqueeze(0) for t, a, z in ((q, q0, q1), (k, k0, k1), (v, k0, k1))]
        results = {"model": model_attention(*bnsd, kv_splits=[c for c in cuts if c < k1 - k0], **kw),
                   "golden": golden_attention(*bnsd, **golden_kw)}
        for name, (o, l) in results.items():
            want[name]["out"][q0:q1] = o[0].transpose(0, 1).double().cpu()
            want[name]["lse"][:, q0:q1] = l[0].double().cpu()
        rows[q0:q1] = True
    what = f"cuda varlen {variant}"
    print(check_backend(out.cpu()[rows], want["model"]["out"][rows], want["golden"]["out"][rows], what=what,
                        variant=variant))
    print(check_lse(lse.cpu()[:, rows], want["model"]["lse"][:, rows], want["golden"]["lse"][:, rows], what=what,
                    variant=variant))


def test_packed_tables_are_one_cached_copy(seed):
    """A packed call's per-sequence tables (cu_seqlens, K' tile, centre-row and query-group starts) reach the device
    in one copy, cached per cu_seqlens values: views of one int64 buffer, each 16-byte aligned, holding no tensor of
    the caller's."""
    from pasa.cuda import op
    g = torch.Generator().manual_seed(seed)
    b = int(torch.randint(1, 9, (1,), generator=g))
    lens_q, lens_k = (torch.randint(0, 300, (b,), generator=g).tolist() for _ in range(2))
    cu_q, cu_k = (tuple(torch.tensor([0] + lens).cumsum(0).tolist()) for lens in (lens_q, lens_k))
    block_n, dev = 64, torch.device(DEV)
    seqs = op._packed_seqs(block_n, cu_q, cu_k, dev)
    assert op._packed_seqs(block_n, cu_q, cu_k, dev) is seqs
    assert op._packed_seqs(block_n, cu_q, cu_k[:-1] + (cu_k[-1] + 1,), dev) is not seqs
    nblk = [-(-x // block_n) for x in lens_k]
    want = [cu_q, cu_k, [0] + torch.tensor(nblk).cumsum(0).tolist(),
            [0] + torch.tensor([-(-x // 16) * 16 for x in nblk]).cumsum(0).tolist(),
            [0] + torch.tensor([-(-x // 64) for x in lens_q]).cumsum(0).tolist()]
    for got, ref in zip(seqs.device, want):
        assert got.dtype == torch.int64 and got.device == dev and got.tolist() == list(ref)
        assert got.data_ptr() % 16 == 0
    assert len({t.untyped_storage().data_ptr() for t in seqs.device}) == 1


@gpu_only
def test_varlen_op_dispatches_to_cuda(seed):
    q, k, v, cu_q, cu_k = _to_dev(*packed([3, 40], [50, 40], 4, 2, 64, seed))
    out, lse = torch.ops.pasa.attention_varlen(q, k, v, cu_q, cu_k, 40, 50, None, True, "bottom_right", "exact", 128,
                                               None, "triton", True, None)
    assert out.device.type == "cuda" and lse.shape == (4, 43)


# the exact variant's fp32 fallback beside the features: a query row far from its group's centre against a key far
# from its block's centre overflows the fp16 S' (test_cuda.test_fallback_rows_match_model), so the overflow screen
# flags the group and the fallback launch redoes it — with the lse and the sink, in split decoding's parts, and in
# one sequence of a packed batch
def _outlier(q, k, row, key, col=3):
    q[..., row, col] = 200.0
    k[..., key, col] = 30000.0


def test_fallback_with_lse_and_sinks_matches_model(seed):
    q, k, v = rand_qkv(1, 4, 2, 150, 300, 64, mean=0.0, amp=2.0, seed=seed)
    _outlier(q[0, 2], k[0, 1], slice(70, 80), 200)
    q, k, v = _to_dev(q, k, v)
    kw = dict(causal=True, causal_align="bottom_right", block_n=64, sinks=sinks_for(4, seed), return_lse=True)
    out, lse = run_triton(q, k, v, **kw)
    assert torch.isfinite(out).all() and torch.isfinite(lse).all()
    check_against_model((out, lse), q, k, v, what="cuda fallback lse", **kw)


def test_fallback_in_split_decoding_matches_the_split_model(seed):
    from pasa.cuda.op import kv_split_cuts
    b, n, nkv, s1, s2, d, block_n = 1, 8, 2, 5, 700, 64, 16
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=0.0, amp=2.0, seed=seed)
    _outlier(q[0, 1], k[0, 0], 2, 600)                      # the last part of the key axis
    q, k, v = _to_dev(q, k, v)
    cuts = kv_split_cuts(b, n, s1, s2, block_n, "exact", q.device)
    assert cuts
    kw = dict(causal=True, causal_align="bottom_right", block_n=block_n, return_lse=True)
    out, lse = run_triton(q, k, v, **kw)
    assert torch.isfinite(out).all()
    check_against_model((out, lse), q, k, v, what="cuda split fallback", kv_splits=cuts, **kw)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_packed_fallback_and_slices_per_sequence(seed, dtype):
    """A packed batch whose last sequence is 2^-20 times smaller (in bf16, below fp16's normal range: each (sequence,
    head) slice takes its own power of two) and whose second sequence falls back."""
    lens_q, lens_k = [40, 130, 7], [50, 260, 90]
    n, nkv, d, block_n = 4, 2, 32, 32
    q, k, v, cu_q, cu_k = packed(lens_q, lens_k, n, nkv, d, seed)
    q, k, v = (t.to(dtype) for t in (q, k, v))
    for t in (q, k, v):
        t[int(cu_k[2] if t is not q else cu_q[2]):] *= 2.0 ** -20 if dtype == torch.bfloat16 else 1.0
    q[int(cu_q[1]) + 100:int(cu_q[1]) + 110, 1, 3] = 200.0   # sequence 1, query head 1 (KV head 0)
    k[int(cu_k[1]) + 150, 0, 3] = 30000.0
    q, k, v, cu_q, cu_k = _to_dev(q, k, v, cu_q, cu_k)
    kw = dict(causal=True, causal_align="bottom_right", block_n=block_n, return_lse=True)
    out, lse = run_varlen(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), **kw)
    for i in range(len(lens_q)):
        (q0, q1), (k0, k1) = cu_q[i:i + 2].tolist(), cu_k[i:i + 2].tolist()
        bnsd = [t[a:z].transpose(0, 1).unsqueeze(0) for t, a, z in ((q, q0, q1), (k, k0, k1), (v, k0, k1))]
        got = (out[q0:q1].transpose(0, 1).unsqueeze(0), lse[:, q0:q1].unsqueeze(0))
        assert torch.isfinite(got[0]).all()
        check_against_model(got, *bnsd, what=f"cuda varlen {dtype} sequence {i}", **kw)
