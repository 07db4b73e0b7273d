"""pasa.attention_varlen (packed TND batches, flash-attn's cu_seqlens) equals pasa.attention on each sequence, on the
CPU operator and the AscendC kernel on the simulator (whose tasks come from the sequence lengths)."""
import pytest
import torch

import pasa

from conftest import check_against_model, rand_qkv

N, NKV, D = 8, 2, 64
BACKENDS = ["native", "ascend-sim"]


def packed(lens_q, lens_k, seed, dtype=torch.float16):
    """q (Tq, N, D), k, v (Tk, Nkv, D) and int32 cu_seqlens for sequences of the given lengths."""
    cu_q = torch.tensor([0] + lens_q, dtype=torch.int32).cumsum(0, dtype=torch.int32)
    cu_k = torch.tensor([0] + lens_k, dtype=torch.int32).cumsum(0, dtype=torch.int32)
    q, k, v = rand_qkv(1, N, NKV, int(cu_q[-1]), int(cu_k[-1]), D, dtype, mean=1.0, amp=3.0, seed=seed)
    q, k, v = (t[0].transpose(0, 1).contiguous() for t in (q, k, v))   # (T, heads, D)
    return q, k, v, cu_q, cu_k


def as_bnsd(t, c0, c1):
    return t[c0:c1].transpose(0, 1).unsqueeze(0)


# per sequence: query and key lengths; empty and one-token sequences, decoding rows against a longer cache (its key
# axis split), prefill longer than a 128-row tile, and queries longer than keys (bottom-right: rows that see nothing)
LENS = ([5, 0, 1, 300, 16, 3, 9], [9, 4, 1, 300, 1100, 0, 2])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("align", ["top_left", "bottom_right"])
@pytest.mark.parametrize("variant", pasa.VARIANTS)
def test_varlen_equals_one_call_per_sequence(seed, variant, align, backend):
    q, k, v, cu_q, cu_k = packed(*LENS, seed=seed)
    sinks = torch.randn(N, generator=torch.Generator().manual_seed(seed)) + 2.0
    kw = dict(causal=True, causal_align=align, variant=variant, block_n=64, sinks=sinks, backend=backend)
    out, lse = pasa.attention_varlen(q, k, v, cu_q, cu_k, max(LENS[0]), max(LENS[1]), return_lse=True, **kw)
    assert out.shape == q.shape and out.dtype == q.dtype and lse.shape == (N, q.shape[0])
    for b in range(len(LENS[0])):
        (q0, q1), (k0, k1) = cu_q[b:b + 2].tolist(), cu_k[b:b + 2].tolist()
        qb, kb, vb = as_bnsd(q, q0, q1), as_bnsd(k, k0, k1), as_bnsd(v, k0, k1)
        want, want_lse = pasa.attention(qb, kb, vb, return_lse=True, **kw)
        torch.testing.assert_close(as_bnsd(out, q0, q1), want, rtol=0, atol=0, msg=f"sequence {b}")
        torch.testing.assert_close(lse[:, q0:q1].unsqueeze(0), want_lse, rtol=0, atol=0, msg=f"sequence {b} lse")
        if q1 > q0 and k1 > k0:
            model_kw = {key: val for key, val in kw.items() if key != "backend"}
            check_against_model((as_bnsd(out, q0, q1), lse[:, q0:q1].unsqueeze(0)), qb, kb, vb, what=backend,
                                return_lse=True, **model_kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_varlen_non_causal_bf16_and_int64_offsets(seed, backend):
    q, k, v, cu_q, cu_k = packed([7, 130], [200, 3], seed=seed, dtype=torch.bfloat16)
    out = pasa.attention_varlen(q, k, v, cu_q.long(), cu_k.long(), 130, 200, backend=backend)
    for b in range(2):
        (q0, q1), (k0, k1) = cu_q[b:b + 2].tolist(), cu_k[b:b + 2].tolist()
        torch.testing.assert_close(as_bnsd(out, q0, q1),
                                   pasa.attention(as_bnsd(q, q0, q1), as_bnsd(k, k0, k1), as_bnsd(v, k0, k1),
                                                  backend=backend),
                                   rtol=0, atol=0)


def test_varlen_op_checks_and_compiles(seed):
    q, k, v, cu_q, cu_k = packed([3, 0, 20], [10, 5, 20], seed=seed)
    samples = [((q, k, v, cu_q, cu_k, 20, 20), {}),
               ((q, k, v, cu_q, cu_k, 25, 30), {"causal": True, "causal_align": "bottom_right", "variant": "pasa",
                                                 "block_n": 16, "return_lse": True, "sinks": torch.randn(N)}),
               ((q, k, v, cu_q, cu_k, 20, 20), {"causal": True, "backend": "ascend-sim", "return_lse": True,
                                                 "sinks": torch.randn(N)})]
    for args, kwargs in samples:
        torch.library.opcheck(torch.ops.pasa.attention_varlen.default, args, kwargs)
    fn = torch.compile(lambda *t: pasa.attention_varlen(*t, 20, 20, causal=True, return_lse=True), fullgraph=True)
    for got, want in zip(fn(q, k, v, cu_q, cu_k), pasa.attention_varlen(q, k, v, cu_q, cu_k, 20, 20, causal=True,
                                                                        return_lse=True)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    out, lse = pasa.attention_varlen(*(t.to("meta") for t in (q, k, v, cu_q, cu_k)), 20, 20, return_lse=True)
    assert out.device.type == "meta" and out.shape == q.shape and lse.shape == (N, q.shape[0])


Q, K, V, CU_Q, CU_K = packed([3, 5], [4, 6], seed=0)


@pytest.mark.parametrize("change,exc,pattern", [
    (dict(q=Q.unsqueeze(0)), ValueError, r"q must be 3-D \(T, N, D\)"),
    (dict(cu_seqlens_q=CU_Q.float()), TypeError, "cu_seqlens_q must be int32 or int64"),
    (dict(cu_seqlens_k=CU_K[:2]), ValueError, "the same length B \\+ 1"),
    (dict(cu_seqlens_q=torch.tensor([1, 3, 8], dtype=torch.int32)), ValueError, r"cu_seqlens_q\[0\] must be 0"),
    (dict(cu_seqlens_k=torch.tensor([0, 6, 4], dtype=torch.int32)), ValueError, "must be non-decreasing"),
    (dict(cu_seqlens_k=torch.tensor([0, 4, 9], dtype=torch.int32)), ValueError,
     r"cu_seqlens_k\[-1\] must equal the token count 10"),
    (dict(max_seqlen_q=4), ValueError, "sequence 1 has 5 tokens, more than max_seqlen_q = 4"),
    (dict(cu_seqlens_q=CU_Q.to("meta")), ValueError, "cu_seqlens_q must be on q's device"),
    (dict(sinks=torch.zeros(3)), ValueError, r"sinks must have shape \(N,\) = \(8,\)"),
    (dict(variant="fast"), ValueError, "variant must be"),
])
def test_varlen_bad_argument_is_named(change, exc, pattern):
    args = dict(q=Q, k=K, v=V, cu_seqlens_q=CU_Q, cu_seqlens_k=CU_K, max_seqlen_q=5, max_seqlen_k=6)
    args.update(change)
    with pytest.raises(exc, match=pattern):
        pasa.attention_varlen(**args)


def test_ascend_sim_refuses_a_row_stride_beyond_the_cube():
    """Packed rows of one head are N·D elements apart; the Cube's ND -> NZ copy takes that stride in 16 bits."""
    q, k = torch.zeros(2, 512, 128, dtype=torch.float16), torch.zeros(2, 1, 128, dtype=torch.float16)
    cu = torch.tensor([0, 2], dtype=torch.int32)
    with pytest.raises(ValueError, match="heads x D below 65536"):
        pasa.attention_varlen(q, k, k, cu, cu, 2, 2, backend="ascend-sim")
