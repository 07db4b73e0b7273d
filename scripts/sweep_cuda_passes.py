"""The exact variant's key and query passes (kernels.shift_k_kernel, shift_q_kernel) under candidate launches, on one
GPU: per candidate (op.SHIFT_FLAGS: columns per program DC, warps), µs of the key pass, of both passes
(op.prepare_exact) and of a whole pasa.attention call, at the prefill shapes of docs/cuda.md's profile and at
decoding (B=1 N=32 Nkv=8 S1=1, bottom-right causal); then, once, the decoding call's host time (enqueue, no sync)
and kernel launches per call, and the causal / full split of a D=128 S=1024 call (passes vs the rest).

    python scripts/sweep_cuda_passes.py [--json PATH]

Timings are triton.testing.do_bench medians (L2 flushed before each call); about two minutes on an H200. Writes
nothing but --json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import triton

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import pasa  # noqa: E402
from pasa.cuda import op  # noqa: E402

CANDIDATES = [(64, 4), (64, 8), (32, 4), (32, 8), (16, 4), (16, 8)]   # (DC, num_warps); (64, 4) the default
# (name, B, N, Nkv, S1, S2, D, causal, align)
SHAPES = [("prefill S=4096", 4, 16, 16, 4096, 4096, 128, False, "top_left"),
          ("prefill S=1024", 16, 16, 16, 1024, 1024, 128, False, "top_left"),
          ("decode S2=4096", 1, 32, 8, 1, 4096, 128, True, "bottom_right"),
          ("decode S2=65536", 1, 32, 8, 1, 65536, 128, True, "bottom_right")]
BLOCK_N = 128


def us(fn) -> float:
    return 1e3 * triton.testing.do_bench(fn, warmup=10, rep=40, return_mode="median")


def inputs(b, n, nkv, s1, s2, d):
    g = torch.Generator(device="cuda").manual_seed(0)
    return [torch.randn(b, h, s, d, device="cuda", dtype=torch.float16, generator=g)
            for h, s in ((n, s1), (nkv, s2), (nkv, s2))]


def passes(q, k, v, causal, align):
    """(key pass alone, both passes) as a default call runs them (no mask, fp16)."""
    b, n, s1, d = q.shape
    s2 = k.shape[2]
    seqs = op.Seqs(BLOCK_N, s1, s2, b)
    dp = max(16, triton.next_power_of_2(d))
    h_mode = op.exact_h_mode(d, dp, seqs, q.element_size())
    offset = s2 - s1 if align == "bottom_right" else 0
    live, live_end = op.live_keys(None, causal, offset, b, k.shape[1], s1, s2, n // k.shape[1])
    pow2 = op.split_scale(d ** -0.5)[0]
    key = lambda: op.shift_k(k, BLOCK_N, pow2, dp, BLOCK_N, seqs=seqs, live=live, live_end=live_end)  # noqa: E731
    both = lambda: op.prepare_exact(q, k, v, None, d ** -0.5, causal, align, BLOCK_N, dp, BLOCK_N, h_mode,  # noqa
                                    seqs)
    return key, both


def host_and_launches(q, k, v, causal, align):
    """Host µs per call (20 calls enqueued, no sync) and CUDA kernels per call (torch.profiler)."""
    call = lambda: pasa.attention(q, k, v, causal=causal, causal_align=align)  # noqa: E731
    for _ in range(3):
        call()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        call()
    host = (time.perf_counter() - t) / 20 * 1e6
    torch.cuda.synchronize()
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        for _ in range(5):
            call()
        torch.cuda.synchronize()
    kernels = sum(e.count for e in p.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA)
    return host, kernels / 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    data = {"gpu": torch.cuda.get_device_name(), "rows": []}
    default = dict(op.SHIFT_FLAGS)
    shapes = [(name, inputs(*dims[:6]), dims[6], dims[7]) for name, *dims in SHAPES]
    print(f"{'DC':>3} {'warps':>5} " + " ".join(f"{name:>28}" for name, *_ in shapes))
    print(f"{'':>9} " + " ".join(f"{'key / passes / call µs':>28}" for _ in shapes))
    try:
        for dc, warps in CANDIDATES:
            op.SHIFT_FLAGS.update(DC=dc, num_warps=warps)
            cells = []
            for name, (q, k, v), causal, align in shapes:
                key, both = passes(q, k, v, causal, align)
                call = lambda: pasa.attention(q, k, v, causal=causal, causal_align=align)  # noqa: E731
                t = [us(key), us(both), us(call)]
                data["rows"].append({"DC": dc, "num_warps": warps, "shape": name, "key_us": t[0], "passes_us": t[1],
                                     "call_us": t[2]})
                cells.append(f"{t[0]:8.1f} {t[1]:8.1f} {t[2]:9.1f}")
            print(f"{dc:>3} {warps:>5} " + " ".join(f"{c:>28}" for c in cells), flush=True)
    finally:
        op.SHIFT_FLAGS.clear()
        op.SHIFT_FLAGS.update(default)
    for name, (q, k, v), causal, align in shapes[2:]:
        host, launches = host_and_launches(q, k, v, causal, align)
        data[f"{name} host_us"], data[f"{name} kernels"] = host, launches
        print(f"{name}: host {host:.1f} µs per call (enqueue, no sync), {launches:.1f} kernels per call")
    q, k, v = inputs(16, 16, 16, 1024, 1024, 128)
    for causal in (False, True):
        _, both = passes(q, k, v, causal, "top_left")
        call = lambda: pasa.attention(q, k, v, causal=causal)  # noqa: E731
        t_pass, t_call = us(both), us(call)
        data[f"S=1024 causal={causal}"] = {"passes_us": t_pass, "call_us": t_call}
        print(f"D=128 S=1024 B=16 N=16 causal={causal}: passes {t_pass:.1f} µs, call {t_call:.1f} µs, "
              f"rest {t_call - t_pass:.1f} µs, host {host_and_launches(q, k, v, causal, 'top_left')[0]:.1f} µs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
