"""Time the CUDA backend's kernels and their paths against the default and SDPA, in one run on one GPU.

    python scripts/tune_cuda.py [--shapes 128,4096,full 128,4096,causal ...] [--only NAME ...] [--json FILE]

The default runs the warp-specialised Hopper kernel (pasa/cuda/hopper.py) for the calls it covers (all the shapes
here). Timed beside it: the Hopper kernel without its ping-pong, with 2 consumer warpgroups where it takes 3
(D = 64), and with 3 K' and V buffers instead of 2; two timing bounds of it (wrong results): without the rounding
of S' to fp16, and with a plain flash-attention softmax (S' not rounded, no shift h, no frame); the Triton kernel
(kernels.attention_kernel) that runs the calls the Hopper kernel does not cover, as its default runs it, with h from
the shift table or from Q·c in the loop wherever its default takes the other, and with h dropped (a bound). Each is
first checked against the model (bench_cuda.check_model: D = 128 and 64, fp16 and bf16, GQA, a ragged end, causal
bottom-right, more than 16 KV blocks; not the bounds), then timed like scripts/bench_cuda.py times
(triton.testing.do_bench's median; B = 16384/S, H = 2048/D, fp16). Printed last: TFLOP/s per path and
shape, each path's ratio to the default, and the best one's ratios to SDPA flash and cuDNN measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cuda import HIDDEN, PEERS, TOKENS, check_model, run_pasa, sdpa, time_ms  # noqa: E402

from pasa.cuda import kernels, op  # noqa: E402

# name: overrides of pasa.cuda.op.KERNEL_FLAGS ("flags"), of kernels.default_config's launch ("launch"), of op.HOPPER
# ("hopper": False runs the Triton kernel for every call), and of the Hopper kernel's PINGPONG and BOUND
CANDIDATES = {
    "default": {},
    "no ping-pong": {"pingpong": False},
    "2 consumers": {"consumers": 2},
    "3 stages": {"stages": 3},
    "no roundings": {"bound": 1},
    "plain softmax": {"bound": 2},
    "triton": {"hopper": False},
    "triton table h": {"hopper": False, "flags": {"H_MODE": 3}},
    "triton loop h": {"hopper": False, "flags": {"H_MODE": 4}},
    "triton h dropped": {"hopper": False, "flags": {"H_MODE": 0}},
}
BOUNDS = {"no roundings", "plain softmax", "triton h dropped"}   # wrong results, timed as bounds only
SHAPES = ["128,4096,full", "128,4096,causal", "128,16384,full", "128,16384,causal", "128,1024,full",
          "64,4096,full", "64,4096,causal"]
BASE_FLAGS, BASE_CONFIG = dict(op.KERNEL_FLAGS), kernels.default_config
HOPPER = op._gluon()
BASE_STAGES = HOPPER.STAGES if HOPPER is not None else None


def use(name: str) -> None:
    """Make pasa.attention run the candidate `name`."""
    cand = CANDIDATES[name]
    op.KERNEL_FLAGS = {**BASE_FLAGS, **cand.get("flags", {})}
    kernels.default_config = lambda *a, **kw: {**BASE_CONFIG(*a, **kw), **cand.get("launch", {})}
    op.HOPPER = cand.get("hopper")
    if HOPPER is not None:
        HOPPER.PINGPONG = cand.get("pingpong", True)
        HOPPER.CONSUMERS = cand.get("consumers")
        HOPPER.STAGES = cand.get("stages", BASE_STAGES)
        HOPPER.BOUND = cand.get("bound", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="D,S,mode (mode: full or causal)")
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), help="time these candidates only")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    names = ["default"] + [n for n in (args.only or CANDIDATES) if n != "default"]
    gpu = torch.cuda.get_device_name()
    print(f"# {gpu}, torch {torch.__version__}, triton {__import__('triton').__version__}", flush=True)
    for name in names:
        if name in BOUNDS:
            continue
        use(name)
        for d in (128, 64):
            check_model(d, s2=2900, label=name)   # > 16 KV blocks, so H_MODE 4 reloads its group

    rows = []
    for spec in args.shapes:
        d, s, mode = spec.split(",")
        d, s, causal = int(d), int(s), mode == "causal"
        b, h = max(1, TOKENS // s), HIDDEN // d
        gen = torch.Generator(device="cuda").manual_seed(s + d)
        inputs = tuple(torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16) for _ in range(3))
        flop = op.flops(b, h, s, s, d, causal)
        row = {"D": d, "S": s, "mode": mode}
        for peer in ("flash", "cudnn"):
            row[peer] = flop / (time_ms(sdpa(PEERS[peer]), *inputs, causal) * 1e-3) / 1e12
        for name in names:
            use(name)
            row[name] = flop / (time_ms(run_pasa, *inputs, causal) * 1e-3) / 1e12
        rows.append(row)
        print(f"# D={d} S={s} {mode}: " + ", ".join(f"{k} {row[k]:.0f}" for k in ["flash", "cudnn"] + names),
              flush=True)
    use("default")

    print(f"\nTFLOP/s on {gpu} (triton.testing.do_bench medians)")
    print(f"{'D':>4s} {'S':>6s} {'mode':>7s} " + " ".join(f"{n:>12s}" for n in ["flash", "cudnn"] + names))
    for r in rows:
        print(f"{r['D']:4d} {r['S']:6d} {r['mode']:>7s} " + " ".join(f"{r[n]:12.1f}" for n in ["flash", "cudnn"] + names))
    print("\nratio to the default launch")
    print(f"{'D':>4s} {'S':>6s} {'mode':>7s} " + " ".join(f"{n:>12s}" for n in names[1:]))
    for r in rows:
        print(f"{r['D']:4d} {r['S']:6d} {r['mode']:>7s} " + " ".join(f"{r[n] / r['default']:12.3f}" for n in names[1:]))
    print("\nbest path per shape, and its ratios to SDPA (targets at D=128, S ≥ 4k: ≥ 1.0 × cudnn)")
    for r in rows:
        best = max((n for n in names if n not in BOUNDS), key=lambda n: r[n])
        print(f"{r['D']:4d} {r['S']:6d} {r['mode']:>7s} {best:>12s} {r[best]:7.1f}  / flash {r[best] / r['flash']:.2f}"
              f"  / cudnn {r[best] / r['cudnn']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"gpu": gpu, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
