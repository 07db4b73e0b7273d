"""The CUDA backend (Triton, python/pasa/cuda) against the contract's model, the float64 golden and the CPU operator.

On a CUDA device every test runs. Without one, the tests not marked ``gpu_only`` run the same Triton kernels in
Triton's interpreter on CPU tensors (tests/triton_interpreter.py): the kernels' logic is checked on every CI run,
their speed and GPU code generation only on a GPU. The agreement rule is pasa.tolerance.check_backend (the same for
every backend): the model's non-finite rows, RMSE vs the model ≤ 0.5 × the model's own error vs the golden, and no
worse than 1.1 × the model's error. Figures are printed before each assertion.
"""
import pytest
import torch

import pasa
import triton_interpreter
from pasa import data
from pasa.metrics import errors
from pasa.reference import golden_attention
from pasa.suites import PROTOTYPE_SEED, PROTOTYPE_SHAPE, suite_cases

from conftest import MASK_KINDS, check_against_model, make_mask, rand_qkv

ON_GPU = torch.cuda.is_available() and pasa._cuda.AVAILABLE
INTERPRETED = not ON_GPU and triton_interpreter.active()
pytestmark = pytest.mark.skipif(not (ON_GPU or INTERPRETED), reason="needs a CUDA device, or Triton (interpreter)")
gpu_only = pytest.mark.skipif(not ON_GPU, reason="needs a CUDA device (too long for the interpreter, or about the GPU)")
DEV = "cuda" if ON_GPU else "cpu"


def run_triton(q, k, v, **kw):
    """The CUDA backend: through pasa.attention on a GPU; in the interpreter, the backend's host function itself
    (pasa.attention would send CPU tensors to the CPU operator)."""
    if ON_GPU:
        return pasa.attention(q, k, v, **kw)
    from pasa.cuda.op import attention_triton
    out, lse = attention_triton(q, k, v, **kw)
    return (out, lse) if kw.get("return_lse") else out


# (B, N, Nkv, S1, S2, D, causal, align, block_n, dtype)
SHAPES = [
    (1, 4, 4, 200, 200, 64, False, "top_left", 128, torch.float16),       # S not a multiple of n
    (2, 4, 2, 96, 300, 80, True, "top_left", 64, torch.float16),          # D = 80 (padded), S1 < S2, batch 2
    (1, 4, 2, 300, 96, 128, True, "top_left", 128, torch.bfloat16),       # S1 > S2, bf16
    (1, 4, 2, 96, 300, 64, True, "bottom_right", 128, torch.float16),     # decoding-style alignment
    (1, 4, 1, 300, 96, 64, True, "bottom_right", 32, torch.float16),      # rows that see no key; MQA
    (1, 28, 4, 77, 133, 128, False, "top_left", 128, torch.float16),      # GQA 28/4
    (1, 2, 2, 130, 129, 256, True, "top_left", 128, torch.bfloat16),      # D = 256
    (2, 2, 1, 1, 257, 128, False, "top_left", 128, torch.float16),        # one query row
    (1, 2, 2, 333, 517, 80, False, "top_left", 48, torch.bfloat16),       # block_n not a power of two
    (2, 3, 1, 1025, 1023, 128, True, "top_left", 256, torch.float16),     # 256-wide KV blocks
    (1, 2, 2, 640, 1000, 64, True, "bottom_right", 128, torch.bfloat16),  # several causal KV blocks
]


def _id(s):
    return "x".join(map(str, s[:6])) + f"-{'causal' if s[6] else 'full'}-{s[7]}-n{s[8]}-{str(s[9])[6:]}"


def _to_dev(*ts):
    return [t.to(DEV) if isinstance(t, torch.Tensor) else t for t in ts]


@pytest.mark.parametrize("shape", SHAPES, ids=_id)
def test_cuda_matches_model(seed, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed))
    kw = dict(causal=causal, causal_align=align, block_n=block_n)
    out = run_triton(q, k, v, **kw)
    assert out.dtype == dtype and out.shape == q.shape and out.device.type == DEV
    check_against_model(out, q, k, v, what="cuda", **kw)


# the pasa and paper variants on the shapes that exercise a different path each: ragged S with a short last block,
# D = 80, S1 > S2 in bf16, rows that see no key, block_n not a power of two
SHIFTED_SHAPES = [SHAPES[i] for i in (0, 1, 2, 4, 8)]


@pytest.mark.parametrize("variant", ["pasa", "paper"])
@pytest.mark.parametrize("shape", SHIFTED_SHAPES, ids=_id)
def test_shifted_variants_match_model(seed, shape, variant):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed))
    kw = dict(causal=causal, causal_align=align, block_n=block_n, variant=variant)
    out = run_triton(q, k, v, **kw)
    check_against_model(out, q, k, v, what=f"cuda {variant}", **kw)


@pytest.mark.parametrize("variant", ["exact", "pasa", "paper"])
@pytest.mark.parametrize("mask_kind", MASK_KINDS)
def test_cuda_masks_match_model(seed, mask_kind, variant):
    b, n, nkv, s1, s2, d = 2, 4, 2, 170, 350, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=2.0, amp=3.0, seed=seed)
    mask = make_mask(mask_kind, b, n, s1, s2, seed)
    q, k, v, mask = _to_dev(q, k, v, mask)
    kw = dict(mask=mask, causal=mask_kind != "bool-padding-2d", block_n=64, variant=variant)
    out = run_triton(q, k, v, **kw)
    check_against_model(out, q, k, v, what=f"cuda {variant}", **kw)
    if mask_kind == "bool-padding-2d":
        assert torch.equal(out[0], torch.zeros_like(out[0]))


@pytest.mark.parametrize("causal,align", [(False, "top_left"), (True, "bottom_right")])
def test_in_loop_shift_matches_model(seed, monkeypatch, causal, align):
    """Long S2 (beyond op.H_TABLE_LIMIT) computes Q·c_j inside the loop instead of the shift table; forced here."""
    from pasa.cuda import op
    monkeypatch.setattr(op, "H_TABLE_LIMIT", 0.0)
    q, k, v = _to_dev(*rand_qkv(2, 4, 2, 300, 700, 80, torch.bfloat16, mean=5.0, amp=5.0, seed=seed))
    mask = (torch.rand(2, 1, 300, 700, generator=torch.Generator().manual_seed(seed)) > 0.1).to(DEV)
    kw = dict(mask=mask, causal=causal, causal_align=align)
    check_against_model(run_triton(q, k, v, **kw), q, k, v, what="cuda (in-loop shift)", **kw)


# the exact kernel's paths that the default picks only for some calls (op.KERNEL_FLAGS): the shift table at D = 64
# (the default there is H_MODE 4), h from a 16-column dot per block (H_MODE 2, the default only past the table's
# size limit), and pointer loads with the scale outside the exponent (the default with an additive mask, a
# non-power-of-two block_n or V not aligned for tensor descriptors)
PATHS = [{"H_MODE": 3}, {"H_MODE": 2}, {"SCALE_FOLD": False, "KV_TMA": False}]


@pytest.mark.parametrize("flags", [{}] + PATHS,
                         ids=lambda f: "-".join(f"{k}{int(v)}" for k, v in f.items()) or "default")
@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_kernel_paths_match_model(seed, monkeypatch, flags, mask_kind):
    """More than 16 KV blocks (H_MODE 4 reloads its 16-block group), causal bottom-right, GQA, a ragged end."""
    from pasa.cuda import op
    monkeypatch.setattr(op, "KERNEL_FLAGS", {**op.KERNEL_FLAGS, **flags})
    b, n, nkv, s1, s2, d = 1, 4, 2, 90, 1250, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, mean=4.0, amp=4.0, seed=seed)
    mask = make_mask(mask_kind, b, n, s1, s2, seed) if mask_kind else None
    q, k, v, mask = _to_dev(q, k, v, mask)
    kw = dict(mask=mask, causal=True, causal_align="bottom_right", block_n=32)
    check_against_model(run_triton(q, k, v, **kw), q, k, v, what=f"cuda {flags}", **kw)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fallback_rows_match_model(seed, dtype):
    """A key far from its block's centre makes the fp16 S' of the rows far from their query centre overflow: the
    overflow screen flags their query groups and the fallback launch recomputes those groups' rows with fp32 scores
    where S' overflowed (model._step_exact). GQA, causal bottom-right, several KV blocks, 128-row programs whose
    flags the 64-row fallback programs read, and rows of other groups that never fall back."""
    b, n, nkv, s1, s2, d = 1, 4, 2, 300, 700, 64
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=0.0, amp=2.0, seed=seed)
    q[0, 2, 150:170, 3] = 200.0        # 20 rows of group 2: Q' ≈ 140 there, S' = Q'·K' far past fp16's range
    k[0, 1, 450, 3] = 30000.0          # in KV head 1 (query heads 2, 3), block 3
    q, k, v = _to_dev(q, k, v)
    kw = dict(causal=True, causal_align="bottom_right", block_n=128)
    out = run_triton(q, k, v, **kw)
    assert torch.isfinite(out).all()
    check_against_model(out, q, k, v, what="cuda fallback", **kw)


# the warp-specialised Hopper kernel (pasa/cuda/hopper.py, Gluon): with op.HOPPER (PASA_CUDA_HOPPER=1) it runs every
# call it covers on an sm_90 GPU (dense exact calls without a mask, D ≤ 128, block_n 64 or 128); Gluon does not run in
# the interpreter, so these run on such a GPU only, each against the model and the Triton kernel
HOPPER_SHAPES = [
    (2, 8, 2, 1000, 1000, 128, False, "top_left", 128, torch.float16),     # ragged end, GQA
    (1, 4, 4, 700, 900, 128, True, "top_left", 128, torch.bfloat16),       # S1 < S2, bf16 slices
    (1, 4, 2, 900, 700, 64, True, "bottom_right", 128, torch.float16),     # rows that see no key, D = 64
    (2, 4, 1, 333, 517, 80, True, "bottom_right", 64, torch.bfloat16),     # D = 80, 64-key blocks, MQA
    (2, 2, 2, 1, 257, 128, False, "top_left", 128, torch.float16),         # one query row
    (1, 4, 4, 2048, 2048, 64, True, "top_left", 64, torch.float16),        # many blocks, both warpgroups masked
    (1, 4, 2, 1500, 1500, 64, False, "top_left", 128, torch.bfloat16),     # D = 64, bf16, not causal
]
sm90_only = pytest.mark.skipif(not ON_GPU or torch.cuda.get_device_capability() != (9, 0), reason="needs an sm_90 GPU")


def run_hopper(monkeypatch, q, k, v, **kw):
    """pasa.attention with the Hopper kernel on, asserting that it ran, and the same call on the Triton kernel."""
    from pasa.cuda import op
    launches = []
    launch = op._launch_hopper
    monkeypatch.setattr(op, "_launch_hopper", lambda *args, **kwargs: (launches.append(1), launch(*args, **kwargs)))
    monkeypatch.setattr(op, "HOPPER", True)
    out = pasa.attention(q, k, v, **kw)
    assert launches, "the Hopper kernel did not take the call"
    monkeypatch.setattr(op, "HOPPER", False)
    return out, pasa.attention(q, k, v, **kw)


def relative_rmse(a, b):
    return float((a.double() - b.double()).pow(2).mean().sqrt() / b.double().pow(2).mean().sqrt())


@pytest.mark.parametrize("causal,align", [(False, "top_left"), (True, "top_left"), (True, "bottom_right")])
def test_hopper_g_table_matches_torch(seed, causal, align):
    """The Hopper kernel's g table (a Triton kernel, so it runs in the interpreter too): g = a·K'_jᵀ per query group,
    head and key of every block the group's rows see, against torch on the same query centres and K'."""
    from pasa.cuda import op
    b, n, nkv, s1, s2, d, block_n = 2, 4, 2, 200, 300, 64, 64
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, mean=2.0, amp=3.0, seed=seed))
    seqs = op.Seqs(block_n, s1, s2, b)
    prep = op.prepare_exact(q, k, v, None, d ** -0.5, causal, align, block_n, d, block_n, 3, seqs)
    offset = s2 - s1 if align == "bottom_right" else 0
    gtab = op.g_table(prep, n, n // nkv, s1, causal, offset, d, block_n)
    a = prep.a.view(b, -1, n, d).double()                                   # (B, groups, N, DP)
    kp = prep.k_prime.double().repeat_interleave(n // nkv, dim=1)          # (B, N, nblk·block_n, DP)
    want = torch.einsum("bgnd,bnkd->bngk", a, kp).reshape(gtab.shape)
    for t in range(a.shape[1]):
        seen = min(s2, min(t * 64 + 63, s1 - 1) + offset + 1) if causal else s2   # up to the group's last row
        blocks = -(-seen // block_n) * block_n
        got, ref = gtab[:, t, :blocks].double(), want[:, t, :blocks]
        assert torch.allclose(got, ref, rtol=1e-6, atol=1e-6 * float(ref.abs().max())), t


@gpu_only
@sm90_only
@pytest.mark.parametrize("shape", HOPPER_SHAPES, ids=_id)
def test_hopper_kernel_matches_model(seed, monkeypatch, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=3.0, amp=4.0, seed=seed))
    kw = dict(causal=causal, causal_align=align, block_n=block_n)
    out, triton_out = run_hopper(monkeypatch, q, k, v, **kw)
    check_against_model(out, q, k, v, what="cuda hopper", **kw)
    dev = relative_rmse(out, triton_out)
    print(f"hopper vs triton kernel: relative RMSE {dev:.2e}")
    assert dev < 1e-3


@gpu_only
@sm90_only
@pytest.mark.parametrize("shape", [HOPPER_SHAPES[i] for i in (1, 2, 6)], ids=_id)
def test_hopper_lse_and_sinks_match_model(seed, monkeypatch, shape):
    b, n, nkv, s1, s2, d, causal, align, block_n, dtype = shape
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=1.0, amp=3.0, seed=seed))
    sinks = (torch.randn(n, generator=torch.Generator().manual_seed(seed)) * 2 + 2).to(DEV)
    kw = dict(causal=causal, causal_align=align, block_n=block_n, sinks=sinks, return_lse=True)
    (out, lse), (triton_out, triton_lse) = run_hopper(monkeypatch, q, k, v, **kw)
    check_against_model((out, lse), q, k, v, what="cuda hopper", **kw)
    assert relative_rmse(out, triton_out) < 1e-3
    assert torch.allclose(lse, triton_lse, rtol=1e-5, atol=1e-4)


@gpu_only
@sm90_only
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_hopper_fallback_rows_match_model(seed, monkeypatch, d, dtype):
    """test_fallback_rows_match_model's biased rows on the Hopper kernel: its screen flags the query groups, and the
    Triton kernel's fallback launch redoes them."""
    b, n, nkv, s1, s2 = 1, 4, 2, 300, 700
    q, k, v = rand_qkv(b, n, nkv, s1, s2, d, dtype, mean=0.0, amp=2.0, seed=seed)
    q[0, 2, 150:170, 3] = 200.0
    k[0, 1, 450, 3] = 30000.0
    q, k, v = _to_dev(q, k, v)
    kw = dict(causal=True, causal_align="bottom_right", block_n=128, return_lse=True)
    (out, lse), (triton_out, _) = run_hopper(monkeypatch, q, k, v, **kw)
    assert torch.isfinite(out).all()
    check_against_model((out, lse), q, k, v, what="cuda hopper fallback", **kw)
    assert relative_rmse(out, triton_out) < 1e-3


@gpu_only
def test_op_dispatch_and_layouts(seed):
    q, k, v = _to_dev(*rand_qkv(2, 4, 2, 100, 140, 64, mean=1.0, amp=2.0, seed=seed))
    direct = pasa._cuda.attention_triton(q, k, v, None, None, True, "top_left", "exact", 128, None, "auto")[0]
    via_op = torch.ops.pasa.attention(q, k, v, None, None, True, "top_left", "exact", 128, None, "triton")[0]
    bsnd = pasa.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=True, layout="BSND")
    assert torch.equal(direct, via_op)
    assert torch.equal(direct, bsnd.transpose(1, 2))


def test_strided_inputs_give_identical_results(seed):
    q, k, v = _to_dev(*rand_qkv(2, 4, 2, 100, 140, 64, mean=1.0, amp=2.0, seed=seed))
    direct = run_triton(q, k, v, causal=True)
    d_major = run_triton(q.transpose(2, 3).contiguous().transpose(2, 3), k, v, causal=True)   # non-unit D stride
    bsnd_k = run_triton(q, k.transpose(1, 2).contiguous().transpose(1, 2), v, causal=True)     # BSND-strided K
    assert torch.equal(direct, d_major)
    assert torch.equal(direct, bsnd_k)


@pytest.mark.parametrize("variant", ["exact", "pasa", "paper"])
def test_nan_input_propagates_like_the_model(seed, variant):
    q, k, v = rand_qkv(1, 2, 2, 150, 200, 64, seed=seed)
    q[0, 1, 7, 3] = float("nan")
    q, k, v = _to_dev(q, k, v)
    out = run_triton(q, k, v, variant=variant)
    check_against_model(out, q, k, v, what=f"cuda {variant}", variant=variant)
    assert torch.isnan(out[0, 1, 7]).all() and torch.isfinite(out[0, 0]).all()


@gpu_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("maker", ["uniform 30/10", "hybrid 30/20", "uniform 80/0.5 causal", "resonance 100"])
def test_never_nonfinite_on_biased_inputs(seed, dtype, maker):
    qs, ks = (1, 8, 4096, 128), (1, 2, 4096, 128)
    causal = "causal" in maker
    if maker.startswith("uniform"):
        mean, amp = (30, 10) if "30" in maker else (80, 0.5)
        q, k, v = (data.uniform(s, mean, amp, seed=seed + i) for i, s in enumerate((qs, ks, ks)))
    elif maker.startswith("hybrid"):
        q, k, v = (data.hybrid(s, 30, 20, seed=seed + i) for i, s in enumerate((qs, ks, ks)))
    else:
        q, k, v = data.resonance(qs, ks, 100.0, "in", seed=seed)
    q, k, v = (t.to(dtype).to(DEV) for t in (q, k, v))
    out = pasa.attention(q, k, v, causal=causal)
    golden = golden_attention(q, k, v, causal=causal)
    e = errors(out, golden, v)
    print(maker, dtype, e)
    assert e["nonfinite"] == 0
    assert e["rel_rmse"] < 0.1


PAPER_CASES = suite_cases("uniform") + suite_cases("hybrid") + suite_cases("stress")


@gpu_only
@pytest.mark.parametrize("variant", ["exact", "pasa", "paper"])
@pytest.mark.parametrize("case", PAPER_CASES, ids=lambda c: c.name.replace(" ", "_"))
def test_paper_suites_no_worse_than_cpu_operator(case, variant):
    """The prototype's shape (B=1, N=28, Nkv=4, S=1407, D=128) and seed, fp16: RMSE vs the float64 golden of the
    CUDA kernel ≤ 1.1 × the CPU operator's (the two sum in different orders) + 1e-6, non-finite where it is."""
    b, n, nkv, s, d = PROTOTYPE_SHAPE
    q, k, v = (t.to(torch.float16) for t in case.make((b, n, s, d), (b, nkv, s, d), PROTOTYPE_SEED))
    cpu = pasa.attention(q, k, v, causal=case.causal, variant=variant)
    qd, kd, vd = _to_dev(q, k, v)
    out = pasa.attention(qd, kd, vd, causal=case.causal, variant=variant)
    golden = golden_attention(qd, kd, vd, causal=case.causal)
    e_cuda, e_cpu = errors(out, golden, vd), errors(cpu.to(DEV), golden, vd)
    print(f"{case.name} {variant}: cuda rmse {e_cuda['rmse']:.4e}, cpu rmse {e_cpu['rmse']:.4e}")
    if variant == "paper":   # its overflow can start a row apart (pasa.tolerance: a flipped fp16 row mean)
        assert (e_cuda["nonfinite"] > 0) == (e_cpu["nonfinite"] > 0)
    else:
        assert e_cuda["nonfinite"] == e_cpu["nonfinite"]
    if e_cpu["nonfinite"] == 0 and e_cuda["nonfinite"] == 0:
        assert e_cuda["rmse"] <= 1.1 * e_cpu["rmse"] + 1e-6


@gpu_only
def test_no_quadratic_memory():
    b, n, nkv, s, d = 1, 8, 8, 8192, 128
    q, k, v = _to_dev(*rand_qkv(b, n, nkv, s, s, d, seed=1))
    pasa.attention(q, k, v, causal=True)                     # compile and tune outside the measurement
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    pasa.attention(q, k, v, causal=True)
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    inputs = sum(t.numel() * t.element_size() for t in (q, k, v))
    print(f"peak extra {extra / 2**20:.1f} MiB for inputs of {inputs / 2**20:.1f} MiB")
    assert extra <= 2 * inputs                               # output + K' + c, far from S² = 2 GiB of fp32 scores


BAD = [
    (dict(backend="native"), ValueError, "backend"),
    (dict(variant="fa16"), ValueError, "variant"),
    (dict(variant="pasa", beta=1.5), ValueError, "beta"),
    (dict(causal_align="middle", causal=True), ValueError, "causal_align"),
    (dict(block_n=100), ValueError, "block_n"),
    (dict(block_n=512), ValueError, "block_n"),
    (dict(beta=0.9), ValueError, "beta"),
    (dict(scale=-1.0), ValueError, "scale"),
    (dict(mask=torch.ones(3, 5, dtype=torch.bool)), ValueError, "mask"),
    (dict(mask=torch.ones(40, 60, dtype=torch.int32)), TypeError, "mask"),
]


@pytest.mark.parametrize("kwargs,exc,word", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_raise(kwargs, exc, word):
    q, k, v = _to_dev(*rand_qkv(1, 2, 2, 40, 60, 64, seed=0))
    kwargs = {key: (val.to(DEV) if isinstance(val, torch.Tensor) else val) for key, val in kwargs.items()}
    with pytest.raises(exc, match=word):
        run_triton(q, k, v, **kwargs)


def test_bad_tensors_raise():
    q, k, v = _to_dev(*rand_qkv(1, 4, 2, 40, 60, 64, seed=0))
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        run_triton(q.float(), k.float(), v.float())
    with pytest.raises(TypeError, match="dtype"):
        run_triton(q, k.bfloat16(), v)
    with pytest.raises(ValueError, match="head dim"):
        run_triton(q, k[..., :32], v[..., :32])
    with pytest.raises(ValueError, match="multiple of"):
        run_triton(q[:, :3], k, v)
    if ON_GPU:
        with pytest.raises(ValueError, match="device"):
            run_triton(q, k.cpu(), v.cpu())
    with pytest.raises(ValueError, match="head dim D"):
        big = torch.zeros(1, 1, 8, 320, dtype=torch.float16, device=DEV)
        run_triton(big, big, big)
    with pytest.raises(ValueError, match="range"):     # pasa and paper round bf16 to fp16; exact scales slices
        run_triton(q.bfloat16() * 1e5, k.bfloat16(), v.bfloat16(), variant="pasa")
