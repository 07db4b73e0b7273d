"""pasa.distributed.ring_attention over gloo in 2 and 4 CPU processes: equal, to rounding, to pasa.attention on the
whole sequence where the chunks are whole KV blocks, and the contract's split form at the chunk boundaries where
they are not (pasa.tolerance.check_backend against the model and the float64 golden)."""
from __future__ import annotations

import json
import traceback

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pasa
from pasa.contract import QUERY_GROUP
from pasa.distributed import gather_sequence, ring_attention, split_sequence
from pasa.model import model_attention
from pasa.reference import golden_attention
from pasa.tolerance import check_backend, check_lse

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is not available")

# name: (causal, chunk c (causal: a rank holds 2 chunks; else one slice of c keys), block_n, variant, options)
CASES = {
    "noncausal-aligned-exact": (False, 64, 32, "exact", {}),
    "causal-aligned-exact": (True, 64, 32, "exact", {}),
    "causal-aligned-pasa-lse": (True, 64, 32, "pasa", {"return_lse": True}),
    "causal-unaligned-exact": (True, 24, 16, "exact", {}),
    "noncausal-unaligned-pasa": (False, 40, 32, "pasa", {}),
    "causal-aligned-sinks-bsnd-bf16": (True, 64, 16, "exact", {"sinks": True, "return_lse": True, "layout": "BSND",
                                                               "dtype": torch.bfloat16}),
}
B, N, NKV, D = 1, 4, 2, 32
RING_REL = 1.0
# exact centres each call's queries per 64-row group (contract.QUERY_GROUP): where a chunk is not a multiple of 64 rows,
# the ring's calls group the rows differently from one call, so the ring and the model round independently by the
# same amount (dev ≈ √2 × err; measured 1.13-1.25 × err at c = 24, with err_out 1.06-1.07 × err_model): rel = 1.5
RING_REL_REGROUPED = 1.5


def ulp(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The ulp of dtype (fp16, bf16) at |x| (normal range)."""
    return torch.exp2(torch.floor(torch.log2(x.abs().clamp_min(2.0**-14)))) * torch.finfo(dtype).eps


def run_case(name: str, world: int, rank: int, seed: int) -> dict | None:
    causal, c, block_n, variant, opts = CASES[name]
    s = 2 * world * c if causal else world * c
    dtype = opts.get("dtype", torch.float16)
    g = torch.Generator().manual_seed(seed)
    # mean 3, amplitude 4 as the CPU operator's tests: the variant's own error, not the output's rounding, dominates
    # the model's error, which is what the agreement rule is calibrated on
    q, k, v = (((torch.rand(B, h, s, D, generator=g) - 0.5) * 8 + 3).to(dtype) for h in (N, NKV, NKV))
    sinks = torch.randn(N, generator=g) + 3.0 if opts.get("sinks") else None
    kw = dict(causal=causal, variant=variant, block_n=block_n, sinks=sinks, return_lse=opts.get("return_lse", False))
    bsnd = opts.get("layout") == "BSND"
    local = [split_sequence(t.transpose(1, 2) if bsnd else t, world, rank, causal=causal, dim=1 if bsnd else 2)
             for t in (q, k, v)]
    got = ring_attention(*local, layout="BSND" if bsnd else "BNSD", **kw)
    out, lse = got if kw["return_lse"] else (got, None)
    out = gather_sequence(out, causal=causal, dim=1 if bsnd else 2)
    out = out.transpose(1, 2) if bsnd else out
    lse = gather_sequence(lse, causal=causal) if lse is not None else None
    if rank != 0:
        return None
    aligned = c % block_n == 0 and (variant != "exact" or c % QUERY_GROUP == 0)
    one = pasa.attention(q, k, v, **kw)
    one, one_lse = one if kw["return_lse"] else (one, None)
    golden = golden_attention(q, k, v, causal=causal, sinks=sinks, return_lse=True)
    # the model of what ran: the whole sequence where the chunks are whole blocks, else the split form at the chunks
    cuts = None if aligned else list(range(c, s, c))
    model = model_attention(q, k, v, kv_splits=cuts, **dict(kw, return_lse=True))
    # Each part's output is rounded to fp16 before the merge (as flash-attn's ring implementations merge bf16 parts),
    # one more output rounding than the model has, so rule 2 is relaxed to rel = 1 (0.5 for reordering noise, 0.5 for
    # that rounding) on inputs where the variant's own error dominates the output's rounding (mean 3, amplitude 4,
    # as the CPU operator's tests). Measured: dev/err 0.04-0.06 (pasa), 0.32-0.44 (exact), 0.5-0.63 (bf16 output);
    # rule 3 unchanged. On N(0, 1) inputs exact's error is the output's rounding alone and a part's rounding can
    # exceed it (scripts/bench_ring.py: the ring 3-7% less accurate than one call there).
    regrouped = variant == "exact" and c % QUERY_GROUP != 0
    figures = {"out": check_backend(out, model[0], golden[0], what=name, variant=variant,
                                    rel=RING_REL_REGROUPED if regrouped else RING_REL)}
    if lse is not None:
        figures["lse"] = check_lse(lse, model[1], golden[1], what=name, variant=variant)
    if aligned:   # the parts' fp16 outputs (each within max|v|) and two final roundings: 1.5 ulps of max|v|
        diff = (out.float() - one.float()).abs().max()
        bound = 1.5 * 1.01 * ulp(v.float().abs().max(), dtype)
        figures["max_diff_to_one_call"], figures["bound"] = float(diff), float(bound)
        if diff > bound:
            raise AssertionError(f"{name}: ring vs one call {float(diff):.3e} > {float(bound):.3e}")
        if lse is not None:
            torch.testing.assert_close(lse, one_lse, rtol=0, atol=1e-5 * float(one_lse.abs().max()) + 1e-6)
    return figures


def worker(rank: int, world: int, store: str, seed: int, result: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    results = {}
    try:
        for name in CASES:
            try:
                results[name] = run_case(name, world, rank, seed)
            except Exception:                                   # one case's failure must not hang the others
                results[name] = {"error": traceback.format_exc()}
        try:   # slices of different shapes are refused on every rank, not left to hang in recv
            k = torch.zeros(1, NKV, 8 + 2 * rank, D, dtype=torch.float16)
            ring_attention(torch.zeros(1, N, 8, D, dtype=torch.float16), k, k)
            results["mismatch"] = {"error": "no error"}
        except ValueError as err:
            results["mismatch"] = {"message": str(err)}
    finally:
        dist.destroy_process_group()
    if rank == 0:
        with open(result, "w") as f:
            json.dump(results, f)


_RUNS: dict[int, dict] = {}


def results(world: int, tmp_path_factory) -> dict:
    """Runs every case once per world size (one spawn of `world` processes) and caches the figures."""
    if world not in _RUNS:
        tmp = tmp_path_factory.mktemp(f"ring{world}")
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        print(f"seed={seed}")
        mp.start_processes(worker, args=(world, str(tmp / "store"), seed, str(tmp / "result.json")), nprocs=world,
                           start_method="spawn")
        with open(tmp / "result.json") as f:
            _RUNS[world] = dict(json.load(f), seed=seed)
    return _RUNS[world]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("world", [2, 4])
def test_ring_attention_over_gloo(world, name, tmp_path_factory):
    figures = results(world, tmp_path_factory)
    print(f"seed={figures['seed']}", figures[name])
    assert "error" not in figures[name], figures[name]["error"]


@pytest.mark.parametrize("world", [2, 4])
def test_ring_attention_refuses_slices_of_different_shapes(world, tmp_path_factory):
    figures = results(world, tmp_path_factory)["mismatch"]
    assert "every rank's k and v must have one shape" in figures.get("message", ""), figures


def test_paper_variant_and_bad_slices_are_refused_before_communicating():
    q = torch.zeros(1, 2, 6, 16, dtype=torch.float16)
    with pytest.raises(ValueError, match="variant 'paper'"):
        ring_attention(q, q, q, variant="paper")
    with pytest.raises(ValueError, match="layout must be one of"):
        ring_attention(q, q, q, layout="TND")
    with pytest.raises(ValueError, match="must be a multiple of 8"):
        split_sequence(q, 4, 0, causal=True)


def test_split_sequence_is_zig_zag():
    x = torch.arange(8).view(1, 1, 8, 1)
    assert split_sequence(x, 2, 0, causal=True).flatten().tolist() == [0, 1, 6, 7]
    assert split_sequence(x, 2, 1, causal=True).flatten().tolist() == [2, 3, 4, 5]
    assert split_sequence(x, 2, 1, causal=False).flatten().tolist() == [4, 5, 6, 7]
