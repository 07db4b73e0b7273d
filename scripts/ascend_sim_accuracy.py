"""RMSE against the float64 golden of the AscendC kernel on the simulator (backend "ascend-sim") for the paper's
suites, beside the fp16/fp32-score flash attention baselines (contract model) and the CPU operator.

    PYTHONPATH=python python scripts/ascend_sim_accuracy.py [--suite uniform|hybrid|stress|all]
        [--shape B N NKV S D] [--dtype float16|bfloat16] [--out results.md]

The default shape is smaller than the prototype's (1, 28, 4, 1407, 128): the simulator runs the Cube in scalar
C++ loops, so the full shape takes minutes per case.
"""
from __future__ import annotations

import argparse
import time

import torch

import pasa  # noqa: F401
from pasa.suites import evaluate, suite_cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="all")
    ap.add_argument("--shape", type=int, nargs=5, default=[1, 8, 2, 400, 128], metavar=("B", "N", "NKV", "S", "D"))
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    lines = [f"shape (B, N, Nkv, S, D) = {tuple(a.shape)}, {a.dtype}, block_n 128; RMSE vs float64 golden",
             "", "| case | fa16 (model) | fa32 (model) | exact sim | pasa sim | paper sim | exact CPU op |",
             "|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    t0 = time.time()
    for case in suite_cases(a.suite):
        sim = evaluate(case, shape=tuple(a.shape), dtype=dtype, backend="ascend-sim")
        cpu = evaluate(case, shape=tuple(a.shape), dtype=dtype, schemes=("exact",), backend="native")
        row = [sim["fa16"], sim["fa32"], sim["exact"], sim["pasa"], sim["paper"], cpu["exact"]]
        line = f"| {case.name} | " + " | ".join(f"{r['rmse']:.2e}" for r in row) + " |"
        lines.append(line)
        print(line, flush=True)
    print(f"({time.time() - t0:.0f} s)")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
