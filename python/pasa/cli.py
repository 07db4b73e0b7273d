"""Command line: ``python -m pasa accuracy`` (the main job) runs the accuracy suites and prints the table."""
from __future__ import annotations

import argparse
import sys
import time

import torch

from .suites import PROTOTYPE_SEED, PROTOTYPE_SHAPE, SCHEMES, evaluate, suite_cases


def _shape(text: str):
    parts = tuple(int(x) for x in text.split(","))
    if len(parts) != 5 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"shape must be five positive integers B,N,Nkv,S,D, got {text!r}")
    return parts


def _accuracy(args) -> int:
    cases = suite_cases(args.suite)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    print(f"# pasa accuracy: suite={args.suite} shape(B,N,Nkv,S,D)={','.join(map(str, args.shape))} "
          f"dtype={args.dtype} seed={args.seed} backend={args.backend} block_n={args.block_n} "
          f"beta={args.beta if args.beta is not None else 'default'}")
    print("# RMSE vs float64 golden on the same rounded inputs (relative RMSE = RMSE / RMS(v) in brackets)")
    width = 22
    print(f"{'case':36s}" + "".join(f"{s:>{width}s}" for s in SCHEMES))
    start = time.time()
    for i, case in enumerate(cases):
        res = evaluate(case, args.shape, dtype, args.seed, backend=args.backend, block_n=args.block_n,
                       beta=args.beta)
        cells = "".join(f"{_cell(res[s]):>{width}s}" for s in SCHEMES)
        print(f"{case.name:36s}{cells}", flush=True)
        print(f"  [{i + 1}/{len(cases)} cases, {time.time() - start:.0f} s]", file=sys.stderr, flush=True)
    return 0


def _cell(e: dict) -> str:
    if e["nonfinite"]:
        return f"non-finite ({e['nonfinite']})"
    return f"{e['rmse']:.2e} ({e['rel_rmse']:.1e})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pasa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy", help="RMSE of fp16/fp32-score flash attention and every PASA variant",
                         description="Runs the accuracy suites and prints each scheme's RMSE against the float64 "
                                     "golden: fa16/fa32 = flash attention with fp16/fp32 score tiles (the model), "
                                     "exact/pasa/paper = the PASA variants on the chosen backend.")
    acc.add_argument("--suite", default="all", choices=["uniform", "hybrid", "stress", "all"],
                     help="the paper's uniform or hybrid grid, the stress cases, or all (default)")
    acc.add_argument("--shape", type=_shape, default=PROTOTYPE_SHAPE,
                     help="B,N,Nkv,S,D (default: the prototype's %(default)s)")
    acc.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"], help="input dtype (default fp16)")
    acc.add_argument("--seed", type=int, default=PROTOTYPE_SEED, help="random seed (default %(default)s)")
    acc.add_argument("--backend", default="auto", help="pasa.attention backend (default auto)")
    acc.add_argument("--block-n", type=int, default=128, help="KV block length n (default 128)")
    acc.add_argument("--beta", type=float, default=None, help="β for the pasa and paper variants")
    acc.set_defaults(func=_accuracy)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
