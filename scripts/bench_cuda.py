"""CUDA benchmark: pasa.attention against torch SDPA's flash and cuDNN backends, in one run on one GPU.

    python scripts/bench_cuda.py [--shapes D,S,MODE ... | --dims D ... --seqs S ... --modes full causal]
                                 [--kernels triton hopper] [--variants pasa paper]
                                 [--flags-off ROWSUM_DOT ...] [--peers flash cudnn efficient]
                                 [--decode S2 ...] [--decode-shape B,N,Nkv,S1,D] [--no-prefill]
                                 [--json FILE] [--dry-run]

Prefill rows (default: issue 15's, D = 128 at S = 1k, 4k, 16k and D = 64 at S = 4k, 16k, causal and not): fp16,
BNSD, N(0, 1) inputs; B = 16384 / S and H = 2048 / D, so every row moves the same number of tokens. Columns, all
measured in this run:
  pasa               the call as dispatched by default (the exact variant; the Hopper kernel only where
                     PASA_CUDA_HOPPER=1 asks for it, op.HOPPER)
  pasa[triton]       --kernels: the exact variant on kernels.attention_kernel (op.HOPPER False),
  pasa[hopper]         or on the Gluon kernel (op.HOPPER True) where it covers the call
  pasa[pasa], [paper]  --variants: the other variants (Triton kernel)
  pasa[-FLAG]        --flags-off: the exact variant on the Triton kernel with op.KERNEL_FLAGS[FLAG] off
  flash, cudnn, ...  --peers: F.scaled_dot_product_attention on that SDPA backend alone
Every time is triton.testing.do_bench's median (CUDA events around single calls, the L2 flushed before each).
TFLOP/s = 4·B·H·S²·D / time, halved for causal. Before the timings every pasa kernel column is checked against the
contract's model (pasa.tolerance.check_backend: D of the rows, fp16 full and bf16 causal bottom-right, GQA, a
ragged end), and every pasa column against SDPA-flash on each row's input (relative RMSE; the exact variant's
kernels must stay under 5e-3). The exact variant's separate passes (op.prepare_exact, and op.g_table where the
default call runs the Hopper kernel) are timed alone as a share of pasa's time.

Decode rows (--decode S2 ...): S1 query rows (default 1) of B, N, Nkv, D = 1, 32, 8, 128 (GQA 32/8) against each
cache length S2, pasa with bottom-right causal alignment (flash-decoding: the key axis split over programs, merged by
lse) against the SDPA backends with enable_gqa and no mask (a row that sees every key), after a check of pasa against
the model's split form at S2 = 4096.

Printed last: the TFLOP/s table, then the ratios — each kernel column / each peer (issue 15's targets: D = 128,
S ≥ 4k ≥ 1.0 × cuDNN; D = 64, S ≥ 4k ≥ 0.9 ×; D = 128, S = 1k ≥ 0.8 ×), the variants and flag columns / the
kernel they vary (variants ≥ 0.6 × pasa), pasa[hopper] / the Triton kernel — and the decode table. --json writes
every figure (rewritten after each measurement, so a run stopped early leaves what it measured). Columns run one
after another over all rows, the Hopper kernel's last and decoding first, so a kernel that breaks the CUDA context
costs only what follows it. --dry-run prints the plan (rows, columns, decode rows) without a GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from contextlib import contextmanager

import torch
import torch.nn.functional as F
import triton.testing
from torch.nn.attention import SDPBackend, sdpa_kernel

import pasa
from pasa.contract import DEFAULT_BLOCK_N
from pasa.cuda import op as cuda_op
from pasa.model import model_attention
from pasa.reference import golden_attention
from pasa.tolerance import check_backend

PEERS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
         "efficient": SDPBackend.EFFICIENT_ATTENTION}
TOKENS, HIDDEN = 16384, 2048
ISSUE15_ROWS = [(d, s, causal) for d, seqs in ((128, (1024, 4096, 16384)), (64, (4096, 16384)))
                for s in seqs for causal in (False, True)]
FLASH_REL_MAX = 5e-3   # the exact variant's kernels against SDPA-flash on N(0, 1) inputs (relative RMSE)


def sdpa(backend):
    def run(q, k, v, causal):
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return run


def run_pasa(q, k, v, causal, variant="exact"):
    return pasa.attention(q, k, v, causal=causal, variant=variant)


@contextmanager
def on_kernel(kernel: str | None = None, flags_off=(), flags_on=()):
    """Inside the block the exact variant runs on one kernel — None (the default dispatch), "triton" (op.HOPPER
    False) or "hopper" (True: the Gluon kernel where it covers the call) — with op.KERNEL_FLAGS[f] off for f in
    flags_off and on for f in flags_on."""
    hopper, flags = cuda_op.HOPPER, dict(cuda_op.KERNEL_FLAGS)
    if kernel:
        cuda_op.HOPPER = kernel == "hopper"
    cuda_op.KERNEL_FLAGS.update({f: False for f in flags_off})
    cuda_op.KERNEL_FLAGS.update({f: True for f in flags_on})
    try:
        yield
    finally:
        cuda_op.HOPPER = hopper
        cuda_op.KERNEL_FLAGS.clear()
        cuda_op.KERNEL_FLAGS.update(flags)


def column(kernel=None, variant="exact", flags_off=(), flags_on=()):
    """fn(q, k, v, causal) of a pasa column."""
    def run(q, k, v, causal):
        with on_kernel(kernel, flags_off, flags_on):
            return run_pasa(q, k, v, causal, variant)
    return run


def run_passes(q, k, v, causal):
    """The exact variant's separate passes as the default call runs them: op.prepare_exact (key pass, query pass),
    and op.g_table where the Hopper kernel takes the call."""
    b, _, s, d = q.shape
    block_n = DEFAULT_BLOCK_N
    seqs = cuda_op.Seqs(block_n, s, k.shape[2], b)
    dp = max(16, 1 << (d - 1).bit_length())
    hopper = cuda_op.hopper_takes(q, None, "exact", block_n, seqs)
    h_mode = 3 if hopper else cuda_op.exact_h_mode(d, dp, seqs, q.element_size())
    prep = cuda_op.prepare_exact(q, k, v, None, d ** -0.5, causal, "top_left", block_n, dp, block_n, h_mode, seqs)
    if hopper:
        cuda_op.g_table(prep, q.shape[1], q.shape[1] // k.shape[1], s, causal, 0, dp, block_n)


def time_ms(fn, *args, rep_ms: float = 100.0) -> float:
    """Median milliseconds of one call fn(*args) (triton.testing.do_bench: CUDA events, L2 flushed before each)."""
    return triton.testing.do_bench(lambda: fn(*args), warmup=25, rep=rep_ms, return_mode="median")


def check_model(d, s2=900, label="cuda", kernel=None):
    """The contract, on a shape with a ragged tail, GQA, causal bottom-right and bf16 too (S2 = s2 keys), on the
    default dispatch or one kernel (``on_kernel``). Returns check_backend's figures per case; raises where it fails."""
    figs = []
    for dtype, causal, align in [(torch.float16, False, "top_left"), (torch.bfloat16, True, "bottom_right")]:
        g = torch.Generator(device="cuda").manual_seed(d)
        q = torch.randn(2, 8, 700, d, device="cuda", generator=g).mul(3).add(2).to(dtype)
        k = torch.randn(2, 2, s2, d, device="cuda", generator=g).mul(3).add(2).to(dtype)
        v = torch.randn(2, 2, s2, d, device="cuda", generator=g).to(dtype)
        kw = dict(causal=causal, causal_align=align)
        with on_kernel(kernel):
            out = pasa.attention(q, k, v, **kw)
        fig = check_backend(out, model_attention(q, k, v, **kw),
                            golden_attention(q, k, v, **kw), what=f"{label} D={d} {dtype}")
        print(f"# {label}: check vs model D={d} {str(dtype)[6:]} causal={causal}: rmse vs model "
              f"{fig['dev_from_model']:.2e}, model vs golden {fig['err_model']:.2e}, pasa vs golden {fig['err_out']:.2e}",
              flush=True)
        figs.append({"D": d, "dtype": str(dtype)[6:], "causal": causal, **{k: float(x) for k, x in fig.items()
                                                                             if isinstance(x, (int, float))}})
    return figs


def _print_compiled():
    """Registers and spills of each compiled attention kernel (the compiler's resource report)."""
    from pasa.cuda import kernels
    hopper = cuda_op._gluon()
    launches = [kernels.attention_kernel] + ([hopper.attention_kernel_ws] if hopper is not None else [])
    try:
        for cache in (c for fn in launches for c in fn.device_caches.values()):
            for kern in cache[0].values():
                print(f"# compiled: {kern.name} regs {kern.n_regs} spills {kern.n_spills} warps "
                      f"{kern.metadata.num_warps} stages {kern.metadata.num_stages} shared {kern.metadata.shared}")
    except Exception as exc:  # the cache layout is Triton's private business
        print(f"# compiled kernels: not readable ({exc!r})")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", metavar="D,S,MODE",
                        help="prefill rows (MODE: full or causal); default: issue 15's ten rows")
    parser.add_argument("--dims", nargs="+", type=int, help="rows dims × seqs × modes instead (default 64 128)")
    parser.add_argument("--seqs", nargs="+", type=int, help="(default 1024 4096 16384)")
    parser.add_argument("--modes", nargs="+", choices=["full", "causal"], help="(default full causal)")
    parser.add_argument("--peers", nargs="+", default=["flash", "cudnn"], choices=list(PEERS))
    parser.add_argument("--kernels", nargs="*", default=[], choices=["triton", "hopper"],
                        help="also time the exact variant on these kernels (columns pasa[triton], pasa[hopper])")
    parser.add_argument("--variants", nargs="*", default=[], choices=["pasa", "paper"],
                        help="also time these variants (columns pasa[pasa], pasa[paper])")
    parser.add_argument("--flags-off", nargs="*", default=[], choices=sorted(cuda_op.KERNEL_FLAGS),
                        help="also time the Triton kernel with each of these op.KERNEL_FLAGS off (pasa[-FLAG])")
    parser.add_argument("--flags-on", nargs="*", default=[], choices=sorted(cuda_op.KERNEL_FLAGS),
                        help="also time the Triton kernel with each of these op.KERNEL_FLAGS on (pasa[+FLAG])")
    parser.add_argument("--no-prefill", action="store_true", help="decode rows only")
    parser.add_argument("--decode", nargs="*", type=int, default=[], metavar="S2", help="decode cache lengths")
    parser.add_argument("--decode-shape", default="1,32,8,1,128", help="B,N,Nkv,S1,D of the decode rows")
    parser.add_argument("--rep", type=float, default=100.0, help="do_bench's rep (ms) per measurement")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop (no GPU needed)")
    args = parser.parse_args(argv)
    if args.dims or args.seqs or args.modes:
        args.shapes = (args.shapes or []) + [f"{d},{s},{m}" for d in args.dims or (64, 128)
                                             for s in args.seqs or (1024, 4096, 16384)
                                             for m in args.modes or ("full", "causal")]
    args.rows = [] if args.no_prefill else rows_of(args.shapes, parser)
    try:
        args.decode_dims = tuple(int(x) for x in args.decode_shape.split(","))
        assert len(args.decode_dims) == 5
    except (ValueError, AssertionError):
        parser.error(f"--decode-shape must be B,N,Nkv,S1,D, got {args.decode_shape!r}")
    return args


def rows_of(shapes, parser):
    """[(D, S, causal)] of the prefill rows."""
    if not shapes:
        return list(ISSUE15_ROWS)
    rows = []
    for spec in shapes:
        parts = spec.split(",")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or parts[2] not in ("full", "causal"):
            parser.error(f"--shapes takes D,S,MODE with MODE full or causal, got {spec!r}")
        rows.append((int(parts[0]), int(parts[1]), parts[2] == "causal"))
    return rows


def columns(args) -> dict:
    """{name: (fn, kind, base)} in the order they run: peers, the default, variants, flags, the Triton kernel, the
    Hopper kernel last. kind: "peer", "kernel" (exact variant, checked against the model and flash) or "option"
    (ratio to ``base``)."""
    cols = {p: (sdpa(PEERS[p]), "peer", None) for p in args.peers}
    cols["pasa"] = (column(), "kernel", None)
    triton_col = "pasa[triton]" if "triton" in args.kernels else "pasa"
    cols.update({f"pasa[{v}]": (column(variant=v), "option", "pasa") for v in args.variants})
    cols.update({f"pasa[-{f}]": (column("triton", flags_off=(f,)), "option", triton_col) for f in args.flags_off})
    cols.update({f"pasa[+{f}]": (column("triton", flags_on=(f,)), "option", triton_col) for f in args.flags_on})
    cols.update({f"pasa[{k}]": (column(k), "kernel", None) for k in ("triton", "hopper") if k in args.kernels})
    return cols


def shape_of(d: int, s: int, causal: bool) -> dict:
    b, h = max(1, TOKENS // s), HIDDEN // d
    return {"D": d, "S": s, "B": b, "H": h, "mode": "causal" if causal else "full",
            "gflop": cuda_op.flops(b, h, s, s, d, causal) / 1e9}


def target(d: int, s: int) -> float | None:
    """Issue 15's target for the default against SDPA-cuDNN at this row, if it sets one."""
    return {128: 1.0, 64: 0.9}[d] if d in (64, 128) and s >= 4096 else 0.8 if (d, s) == (128, 1024) else None


def ratios(row: dict, cols: dict, peers: list[str]) -> dict:
    """The ratios printed: kernel / peer, option / its base, pasa[hopper] / the Triton kernel."""
    t, out = row["tflops"], {}
    for name, (_, kind, base) in cols.items():
        if kind == "kernel":
            out.update({f"{name}/{p}": t.get(name, math.nan) / t.get(p, math.nan) for p in peers})
        elif kind == "option":
            out[f"{name}/{base}"] = t.get(name, math.nan) / t.get(base, math.nan)
    if "pasa[hopper]" in cols:
        base = "pasa[triton]" if "pasa[triton]" in cols else "pasa"
        if base != "pasa" or not cuda_op.HOPPER:
            out[f"pasa[hopper]/{base}"] = t.get("pasa[hopper]", math.nan) / t.get(base, math.nan)
    return out


class Report:
    """Every figure of the run, written to --json after each measurement."""

    def __init__(self, path: str | None, **head):
        self.path, self.data = path, dict(head, checks=[], rows=[], decode=[], errors=[])

    def error(self, what: str, exc: BaseException) -> None:
        line = f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"# FAILED {line}", flush=True)
        traceback.print_exc(file=sys.stdout)
        self.data["errors"].append(line)
        self.save()

    def save(self) -> None:
        if self.path:
            with open(self.path, "w") as f:
                json.dump(self.data, f, indent=1, default=float)


def prefill(args, report: Report) -> str:
    """The prefill rows, column by column (``columns``); returns the TFLOP/s and ratio tables."""
    cols = columns(args)
    peers = list(args.peers)
    rows = [dict(shape_of(d, s, c), tflops={}, rel_rmse_vs_flash={}) for d, s, c in args.rows]
    report.data["rows"] = rows
    inputs = []
    for r in rows:
        gen = torch.Generator(device="cuda").manual_seed(r["S"] + r["D"])
        inputs.append(tuple(torch.randn(r["B"], r["H"], r["S"], r["D"], device="cuda", generator=gen,
                                        dtype=torch.float16) for _ in range(3)))
    refs = [sdpa(SDPBackend.FLASH_ATTENTION)(*x, r["mode"] == "causal").float() for r, x in zip(rows, inputs)]
    for name, (fn, kind, _) in cols.items():
        if kind == "kernel":
            kernel = name[5:-1] if name.startswith("pasa[") else None
            for d in sorted({r["D"] for r in rows}):
                try:
                    report.data["checks"] += [dict(c, column=name) for c in check_model(d, label=name, kernel=kernel)]
                except Exception as exc:   # recorded; the timings still run
                    report.error(f"{name} check vs model D={d}", exc)
        for r, x, ref in zip(rows, inputs, refs):
            causal, where = r["mode"] == "causal", f"{name} D={r['D']} S={r['S']} {r['mode']}"
            try:
                if kind != "peer":
                    out = fn(*x, causal).float()
                    rel = float((out - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())
                    r["rel_rmse_vs_flash"][name] = rel
                    if kind == "kernel" and not rel < FLASH_REL_MAX:
                        report.error(where, ValueError(f"disagrees with SDPA flash: relative RMSE {rel:.2e}"))
                r["tflops"][name] = r["gflop"] / time_ms(fn, *x, causal, rep_ms=args.rep)   # GFLOP/ms = TFLOP/s
            except Exception as exc:   # a backend that does not take this shape, or a failing kernel
                r["tflops"][name] = math.nan
                report.error(where, exc)
            print(f"# {where}: {r['tflops'][name]:.1f} TFLOP/s", flush=True)
            report.save()
    for r, x in zip(rows, inputs):
        try:
            pasa_ms = r["gflop"] / r["tflops"]["pasa"]
            r["passes_share"] = time_ms(run_passes, *x, r["mode"] == "causal", rep_ms=args.rep) / pasa_ms
        except Exception as exc:
            r["passes_share"] = math.nan
            report.error(f"passes D={r['D']} S={r['S']} {r['mode']}", exc)
        r["ratios"] = ratios(r, cols, peers)
        r["target_vs_cudnn"] = target(r["D"], r["S"])
    report.save()

    names, keys = list(cols), list(rows[0]["ratios"]) if rows else []
    return (f"\nTFLOP/s on {report.data['gpu']} (triton.testing.do_bench medians, one run; passes% = the exact "
            "variant's separate passes / pasa)\n"
            + table(["D", "S", "mode"] + names + ["passes%"],
                    [[r["D"], r["S"], r["mode"]] + [r["tflops"].get(n, math.nan) for n in names]
                     + [100 * r["passes_share"]] for r in rows])
            + "\n\nratios (higher is better; issue 15: pasa/cudnn ≥ target, variants ≥ 0.6 × pasa)\n"
            + table(["D", "S", "mode", "target"] + keys,
                    [[r["D"], r["S"], r["mode"], r["target_vs_cudnn"] or "-"] + [r["ratios"][k] for k in keys]
                     for r in rows], fmt="{:.2f}"))


def decode(args, report: Report) -> str:
    """Decode rows: pasa (bottom-right causal, split key axis) against each SDPA backend, ms per call and peer / pasa;
    returns their table."""
    b, n, nkv, s1, d = args.decode_dims
    print(f"# decode: B={b} N={n} Nkv={nkv} S1={s1} D={d} fp16", flush=True)
    gen = torch.Generator(device="cuda").manual_seed(0)
    kw = dict(causal=True, causal_align="bottom_right")
    try:
        q, k, v = (torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16)
                   for h, s in ((n, s1), (nkv, 4096), (nkv, 4096)))
        cuts = cuda_op.kv_split_cuts(b, n, s1, 4096, DEFAULT_BLOCK_N, "exact", q.device)
        fig = check_backend(pasa.attention(q, k, v, **kw), model_attention(q, k, v, kv_splits=cuts, **kw),
                            golden_attention(q, k, v, **kw), what="decode")
        print(f"# decode check S2=4096 (cuts {cuts}): RMSE vs model {fig['dev_from_model']:.2e}, model vs golden "
              f"{fig['err_model']:.2e}", flush=True)
        report.data["checks"].append({"column": "decode", "S2": 4096, "dev_from_model": float(fig["dev_from_model"]),
                                      "err_model": float(fig["err_model"])})
    except Exception as exc:
        report.error("decode check", exc)
    rows = []
    report.data["decode"] = rows
    for s2 in args.decode:
        row = {"B": b, "N": n, "Nkv": nkv, "S1": s1, "S2": s2, "D": d, "ms": {}}
        rows.append(row)
        q, k, v = (torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16)
                   for h, s in ((n, s1), (nkv, s2), (nkv, s2)))
        mask = None if s1 == 1 else torch.ones(s1, s2, dtype=torch.bool, device="cuda").tril(s2 - s1)

        def peer(backend):
            def run():
                with sdpa_kernel([backend]):
                    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
            return run
        fns = {"pasa": lambda: pasa.attention(q, k, v, **kw), **{p: peer(PEERS[p]) for p in args.peers}}
        for name, fn in fns.items():
            try:
                row["ms"][name] = time_ms(fn, rep_ms=args.rep)
            except Exception as exc:   # a backend that does not take this call
                row["ms"][name] = math.nan
                report.error(f"decode {name} S2={s2}", exc)
        row["peer_over_pasa"] = {p: row["ms"][p] / row["ms"]["pasa"] for p in args.peers}
        print(f"# decode S2={s2}: " + ", ".join(f"{k} {t:.4f} ms" for k, t in row["ms"].items()), flush=True)
        report.save()
    return (f"\ndecode, ms per call (peer/pasa: time ratio, > 1 where pasa is faster), B={b} N={n} Nkv={nkv} S1={s1} "
            f"D={d}\n"
            + table(["S2", "pasa"] + [x for p in args.peers for x in (p, f"{p}/pasa")],
                    [[r["S2"], r["ms"]["pasa"]] + [x for p in args.peers for x in (r["ms"][p], r["peer_over_pasa"][p])]
                     for r in rows], fmt="{:.4f}"))


def table(head: list[str], rows: list[list], fmt: str = "{:.1f}") -> str:
    """Right-aligned columns as wide as their widest cell."""
    cells = [[c if isinstance(c, str) else str(c) if isinstance(c, int) else fmt.format(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]
    return "\n".join(" ".join(c.rjust(w) for c, w in zip(line, widths)) for line in [head] + cells)


def plan(args) -> dict:
    """The run's rows and columns, as --dry-run prints them."""
    cols = columns(args)
    return {"rows": [shape_of(d, s, c) for d, s, c in args.rows],
            "columns": {name: {"kind": kind, "base": base} for name, (_, kind, base) in cols.items()},
            "ratios": list(ratios({"tflops": {}}, cols, list(args.peers))),
            "decode": [dict(zip(("B", "N", "Nkv", "S1", "D"), args.decode_dims), S2=s2) for s2 in args.decode]}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        p = plan(args)
        print(table(["D", "S", "B", "H", "mode", "GFLOP"],
                    [[r["D"], r["S"], r["B"], r["H"], r["mode"], r["gflop"]] for r in p["rows"]]))
        print("columns: " + ", ".join(f"{n} ({c['kind']})" for n, c in p["columns"].items()))
        print("ratios: " + ", ".join(p["ratios"]))
        print("decode: " + ", ".join(f"S2={r['S2']}" for r in p["decode"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(p, f, indent=1)
        return 0
    gpu = torch.cuda.get_device_name()
    print(f"# {gpu}, torch {torch.__version__}, triton {triton.__version__}, cuDNN {torch.backends.cudnn.version()}; "
          f"default kernel: {'hopper' if cuda_op.HOPPER else 'triton'}", flush=True)
    report = Report(args.json, gpu=gpu, torch=torch.__version__, triton=triton.__version__,
                    default_kernel="hopper" if cuda_op.HOPPER else "triton", argv=sys.argv[1:])
    tables = []          # printed last, after the compiler's report
    if args.decode:      # first: it never takes the Hopper kernel, whose column runs last
        tables.append(decode(args, report))
    if args.rows:
        tables.append(prefill(args, report))
    _print_compiled()
    report.save()
    print("\n".join(tables))
    if report.data["errors"]:
        print(f"\n{len(report.data['errors'])} failures:\n  " + "\n  ".join(report.data["errors"]))
    return 1 if report.data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
