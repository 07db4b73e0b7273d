"""Time the CUDA backend's kernel paths against its default launch and SDPA, in one run on one GPU.

    python scripts/tune_cuda.py [--shapes 128,4096,full 128,4096,causal ...] [--only NAME ...] [--json FILE]

The paths are switches of the exact variant's kernel (pasa.cuda.op.KERNEL_FLAGS, docs/cuda.md), each tested against
the model in CI (Triton's interpreter): the default, h from the shift table or from Q·c in the loop wherever the
default takes the other, pointer loads instead of tensor descriptors, the scale outside the exponent, and h dropped
(a wrong result: the bound of any h scheme). Each is first checked against the model (bench_cuda.check_model:
D = 128 and 64, fp16 and bf16, GQA, a ragged end, causal bottom-right, more than 16 KV blocks; not the bound), then
timed like scripts/bench_cuda.py times (median of one-call CUDA-event times, rotating inputs; B = 16384/S,
H = 2048/D, fp16). Printed last: TFLOP/s per path and shape, each path's ratio to the default, and the best one's
ratios to SDPA flash and cuDNN measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cuda import HIDDEN, PEERS, TOKENS, check_model, median_ms, run_pasa, sdpa  # noqa: E402

from pasa.cuda import kernels, op  # noqa: E402

# name: (KERNEL_FLAGS overrides, launch overrides of kernels.default_config's pick)
CANDIDATES = {
    "default": ({}, {}),
    "table h": ({"H_MODE": 3}, {}),
    "loop h": ({"H_MODE": 4}, {}),
    "pointers": ({"KV_TMA": False}, {}),
    "no fold": ({"SCALE_FOLD": False}, {}),
    "h dropped": ({"H_MODE": 0}, {}),
}
BOUNDS = {"h dropped"}   # wrong results, timed as bounds only
SHAPES = ["128,4096,full", "128,4096,causal", "128,16384,full", "128,16384,causal", "128,1024,full",
          "64,4096,full", "64,4096,causal"]
BASE_FLAGS, BASE_CONFIG = dict(op.KERNEL_FLAGS), kernels.default_config


def use(name: str) -> None:
    """Make pasa.attention run the candidate `name`."""
    flags, launch = CANDIDATES[name]
    op.KERNEL_FLAGS = {**BASE_FLAGS, **flags}
    kernels.default_config = lambda *a, **kw: {**BASE_CONFIG(*a, **kw), **launch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="D,S,mode (mode: full or causal)")
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), help="time these candidates only")
    parser.add_argument("--sets", type=int, default=3, help="input sets to rotate over")
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
        inputs = [tuple(torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16) for _ in range(3))
                  for _ in range(args.sets)]
        flop = op.flops(b, h, s, s, d, causal)
        row = {"D": d, "S": s, "mode": mode}
        for peer in ("flash", "cudnn"):
            row[peer] = flop / (median_ms(sdpa(PEERS[peer]), inputs, causal) * 1e-3) / 1e12
        for name in names:
            use(name)
            row[name] = flop / (median_ms(run_pasa, inputs, causal) * 1e-3) / 1e12
        rows.append(row)
        print(f"# D={d} S={s} {mode}: " + ", ".join(f"{k} {row[k]:.0f}" for k in ["flash", "cudnn"] + names),
              flush=True)
    use("default")

    print(f"\nTFLOP/s on {gpu} (median of one-call CUDA-event times)")
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
