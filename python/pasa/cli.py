"""Command line: ``python -m pasa accuracy`` (the main job) runs the accuracy suites, prints the table and writes
the plot."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

from . import report
from .api import BACKEND_DEVICES, BACKENDS, attention
from .contract import DEFAULT_BLOCK_N, VARIANTS
from .suites import PROTOTYPE_SEED, PROTOTYPE_SHAPE, SCHEMES, SEED_MAX, SEED_MIN, evaluate, suite_cases

BACKEND_HELP = {
    "auto": "the CPU operator (native), as pasa.attention picks for CPU tensors",
    "native": "the C++ CPU operator",
    "ascend-sim": "the AscendC kernel on the project's AscendC simulator, on the CPU (slower than native)",
    "triton": "the Triton kernels on the CUDA device (needs a GPU and Triton)",
    "npu": "the AscendC kernel as a CANN custom op on an Ascend NPU (needs torch_npu and the built package)",
}

ACCURACY_EPILOG = """\
schemes (the table's columns):
  fa16    flash attention with fp16 score tiles (the contract's model): the tile that overflows
  fa32    flash attention with fp32 score tiles (the contract's model)
  exact   PASA, block centring with the shift carried in fp32 (pasa.attention's default)
  pasa    PASA with beta < 1 and fp32 statistics
  paper   the published algorithm, every statistic in fp16
Each cell: RMSE against float64 attention on the same rounded inputs, relative RMSE (RMSE / RMS(v)) in brackets,
or "non-finite (count)" where the output overflowed.

outputs (in --out-dir):
  accuracy.png   RMSE against mean, one panel per suite and amplitude, a line per scheme; stress cases below
  accuracy.json  every figure of the table and the settings that produced it

examples:
  python -m pasa accuracy                                  # the paper's prototype shape, all suites (long on CPU)
  python -m pasa accuracy --suite uniform --shape 1,4,1,512,64 --out-dir out/small
  python -m pasa accuracy --suite stress --dtype bf16 --block-n 64 --beta 0.9689941406
"""


def _shape(text: str):
    try:
        parts = tuple(int(x) for x in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 5 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"shape must be five positive integers B,N,Nkv,S,D, got {text!r}")
    if parts[1] % parts[2]:
        raise argparse.ArgumentTypeError(f"N ({parts[1]}) must be a multiple of Nkv ({parts[2]}) in B,N,Nkv,S,D = "
                                         f"{text!r}")
    return parts


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer, got {text!r}") from None
    if not SEED_MIN <= seed <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed must be in [{SEED_MIN}, {SEED_MAX}] (torch.Generator's range, less the "
                                         f"+ 2 the suites add for v), got {text}")
    return seed


def _device(backend: str) -> str:
    """Where the inputs live: the backend's device; "auto" runs on the CPU."""
    return BACKEND_DEVICES.get(backend, "cpu")


def _validate(parser: argparse.ArgumentParser, args) -> None:
    """Everything the run will need, checked before any work: the backend's device, the settings the backend
    takes (pasa.attention on a one-row input of the run's heads and head dim, for every variant, so that its own
    checks speak: block_n, beta, D, the backend's limits), and a writable output folder. A failure ends in
    argparse's usage line and a one-line reason (exit code 2)."""
    device = _device(args.backend)
    if device == "cuda" and not _cuda_ready():
        parser.error(f"argument --backend: {args.backend} needs a CUDA device and Triton; this machine has "
                     f"{'no CUDA device' if not torch.cuda.is_available() else 'no Triton'}")
    if device == "npu" and not (hasattr(torch, "npu") and torch.npu.is_available()):
        parser.error("argument --backend: npu needs an Ascend NPU with torch_npu and pasa's NPU extension")
    b, n, nkv, _, d = args.shape
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    q, kv = torch.zeros(1, n, 1, d, dtype=dtype, device=device), torch.zeros(1, nkv, 1, d, dtype=dtype, device=device)
    for variant in VARIANTS:
        try:
            attention(q, kv, kv, variant=variant, block_n=args.block_n, beta=None if variant == "exact" else args.beta,
                      backend=args.backend)
        except (ValueError, TypeError, RuntimeError) as err:
            reason = str(err).splitlines()[0].replace("pasa.attention: ", "")
            parser.error(f"these settings fail for backend {args.backend} (variant {variant}): {reason}")
    if args.out_dir:
        try:
            os.makedirs(args.out_dir, exist_ok=True)
            with tempfile.TemporaryFile(dir=args.out_dir):
                pass
        except OSError as err:
            parser.error(f"argument --out-dir: cannot write into {args.out_dir!r}: {err.strerror or err}")


def _cuda_ready() -> bool:
    from . import cuda
    return cuda.AVAILABLE


class _Progress:
    """tqdm on stderr when it is installed (one step per scheme of a case), else one line per case."""

    def __init__(self, total_cases: int, schemes: int, enabled: bool):
        self.cases, self.start, self.done = total_cases, time.time(), 0
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total_cases * schemes, file=sys.stderr, unit="scheme", dynamic_ncols=True)
            except ImportError:
                pass
        self.enabled = enabled

    def case(self, name: str):
        if self.bar is not None:
            self.bar.set_description(name)

    def scheme(self, _name: str):
        if self.bar is not None:
            self.bar.update(1)

    def print_row(self, line: str):
        self.done += 1
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
            return
        print(line, flush=True)
        if self.enabled:
            print(f"  [{self.done}/{self.cases} cases, {time.time() - self.start:.0f} s]", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _accuracy(args) -> int:
    _validate(args.parser, args)
    cases = suite_cases(args.suite)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    settings = {"suite": args.suite, "shape": list(args.shape), "dtype": args.dtype, "seed": args.seed,
                "backend": args.backend, "block_n": args.block_n, "beta": args.beta, "torch": torch.__version__}
    print(f"# pasa accuracy: suite={args.suite} shape(B,N,Nkv,S,D)={','.join(map(str, args.shape))} "
          f"dtype={args.dtype} seed={args.seed} backend={args.backend} block_n={args.block_n} "
          f"beta={args.beta if args.beta is not None else 'default'}")
    print("# RMSE vs float64 golden on the same rounded inputs (relative RMSE = RMSE / RMS(v) in brackets)")
    print(report.header(SCHEMES), flush=True)
    progress = _Progress(len(cases), len(SCHEMES), enabled=not args.no_progress)
    records = []
    try:
        for case in cases:
            progress.case(case.name)
            res = evaluate(case, args.shape, dtype, args.seed, backend=args.backend, device=_device(args.backend),
                           block_n=args.block_n, beta=args.beta, progress=progress.scheme)
            progress.print_row(report.row(case.name, res, SCHEMES))
            records.append({"suite": case.suite, "name": case.name, "causal": case.causal, "params": case.params,
                            "errors": res})
    finally:
        progress.close()
    if args.out_dir:
        _write_outputs(args, settings, records)
    return 0


def _write_outputs(args, settings, records) -> None:
    json_path = os.path.join(args.out_dir, "accuracy.json")
    report.write_json(json_path, settings, records)
    print(f"# wrote {json_path}")
    if args.no_plot:
        return
    png_path = os.path.join(args.out_dir, "accuracy.png")
    title = (f"pasa accuracy: {args.dtype}, B,N,Nkv,S,D = {','.join(map(str, args.shape))}, block_n {args.block_n}, "
             f"backend {args.backend}, seed {args.seed}")
    try:
        report.plot_accuracy(records, SCHEMES, png_path, title)
    except ImportError:
        print("# no plot: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
        return
    print(f"# wrote {png_path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pasa", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy", help="RMSE of fp16/fp32-score flash attention and every PASA variant",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=ACCURACY_EPILOG,
                         description="Runs the accuracy suites and prints each scheme's RMSE against the float64 "
                                     "golden: fa16/fa32 = flash attention with fp16/fp32 score tiles (the model), "
                                     "exact/pasa/paper = the PASA variants on the chosen backend. Writes the "
                                     "figures as JSON and a PNG plot into --out-dir.")
    acc.add_argument("--suite", default="all", choices=["uniform", "hybrid", "stress", "all"],
                     help="uniform: the paper's (U(0,1)-0.5)*2*amp + mean grid, mean 0/10/20/30 x amp "
                          "0.5/5/10/20; hybrid: Normal(mean, 1) plus rare Normal(0, amp) spikes on the same grid; "
                          "stress: large means, resonance (q, k in/anti phase) and slow drift; all (default)")
    acc.add_argument("--shape", type=_shape, default=PROTOTYPE_SHAPE,
                     help="B,N,Nkv,S,D: batch, query heads, KV heads (N a multiple of Nkv), sequence length "
                          "(S1 = S2), head dim (default: the authors' prototype %(default)s)")
    acc.add_argument("--dtype", default="fp16", choices=["fp16", "bf16"],
                     help="inputs are drawn in float32 and rounded to this dtype (default fp16)")
    acc.add_argument("--seed", type=_seed, default=PROTOTYPE_SEED,
                     help="random seed of the inputs (default: the prototype's %(default)s)")
    acc.add_argument("--backend", default="auto", choices=BACKENDS,
                     help="pasa.attention backend for the PASA variants (fa16/fa32 always run on the model): "
                          + "; ".join(f"{name}: {BACKEND_HELP[name]}" for name in BACKENDS) + " (default auto)")
    acc.add_argument("--block-n", type=int, default=DEFAULT_BLOCK_N,
                     help="KV block length n, a multiple of 16 in [16, 1024] (triton: at most 256) "
                          "(default %(default)s)")
    acc.add_argument("--beta", type=float, default=None,
                     help="beta in (0, 1) for the pasa and paper variants (default 0.984497; exact ignores it)")
    acc.add_argument("--out-dir", default="out",
                     help="folder for accuracy.png and accuracy.json (default %(default)s/; '' writes nothing)")
    acc.add_argument("--no-plot", action="store_true", help="write accuracy.json only, no PNG")
    acc.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines on stderr")
    acc.set_defaults(func=_accuracy, parser=acc)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
