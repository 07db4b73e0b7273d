"""CUDA benchmark: pasa.attention's Triton kernel against torch SDPA's flash, cuDNN and memory-efficient backends.

    python scripts/bench_cuda.py [--seqs 1024 4096 16384] [--dims 64 128] [--modes full causal]
                                 [--variants pasa paper] [--json FILE]
    python scripts/bench_cuda.py --decode 4096 16384 65536 131072 [--decode-shape 1,32,8,1,128]

One run: first the correctness checks (pasa vs the contract's model through pasa.tolerance.check_backend on a
small shape per head dim, then pasa vs SDPA-flash on every benchmark input), then the timings. Inputs are fp16,
BNSD, N(0, 1); B = 16384 / S and H = 2048 / D, so every row moves the same number of tokens. Each time is the
median over many calls of one CUDA-event pair around a single call, rotating over several input sets so no call
reads its inputs from the L2 of the previous one (pasa runs its default launch; PASA_CUDA_AUTOTUNE=1 tunes
it). TFLOP/s = 4·B·H·S²·D / time, halved for causal. The table of TFLOP/s comes first, the ratios pasa / peer
last. The K-shift pass (pasa's separate pass over K) is also timed
alone, and its share of pasa's time printed.

--decode S2 ... times KV-cache decoding instead: S1 query rows (default 1) of B, N, Nkv, D = 1, 32, 8, 128 against
each cache length S2 (GQA 32/8), pasa with bottom-right causal alignment (flash-decoding: the key axis split over
programs and merged by lse) against the SDPA backends with enable_gqa and no mask (one row sees every key), after a
check of pasa against the model's split form at S2 = 4096.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import pasa
from pasa.cuda import op as cuda_op
from pasa.model import model_attention
from pasa.reference import golden_attention
from pasa.tolerance import check_backend

PEERS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
         "efficient": SDPBackend.EFFICIENT_ATTENTION}
TOKENS, HIDDEN = 16384, 2048


def sdpa(backend):
    def run(q, k, v, causal):
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return run


def run_pasa(q, k, v, causal, variant="exact"):
    return pasa.attention(q, k, v, causal=causal, variant=variant)


def run_variant(variant):
    return lambda q, k, v, causal: run_pasa(q, k, v, causal, variant)


def median_ms(fn, inputs, causal, min_calls=20, budget_ms=400.0):
    """Median time of one call (CUDA events), cycling over the input sets; warm-up calls first."""
    for i in range(3):
        fn(*inputs[i % len(inputs)], causal)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn(*inputs[0], causal)
    end.record()
    end.synchronize()
    calls = max(min_calls, min(500, int(budget_ms / max(start.elapsed_time(end), 1e-3))))
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(calls)]
    for i, (a, b) in enumerate(pairs):
        q, k, v = inputs[i % len(inputs)]
        a.record()
        fn(q, k, v, causal)
        b.record()
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in pairs)


def check_model(d, s2=900, label="cuda"):
    """The contract, on a shape with a ragged tail, GQA, causal bottom-right and bf16 too (S2 = s2 keys)."""
    for dtype, causal, align in [(torch.float16, False, "top_left"), (torch.bfloat16, True, "bottom_right")]:
        g = torch.Generator(device="cuda").manual_seed(d)
        q = torch.randn(2, 8, 700, d, device="cuda", generator=g).mul(3).add(2).to(dtype)
        k = torch.randn(2, 2, s2, d, device="cuda", generator=g).mul(3).add(2).to(dtype)
        v = torch.randn(2, 2, s2, d, device="cuda", generator=g).to(dtype)
        kw = dict(causal=causal, causal_align=align)
        fig = check_backend(pasa.attention(q, k, v, **kw), model_attention(q, k, v, **kw),
                            golden_attention(q, k, v, **kw), what=f"{label} D={d} {dtype}")
        print(f"# {label}: check vs model D={d} {str(dtype)[6:]} causal={causal}: rmse vs model "
              f"{fig['dev_from_model']:.2e}, model vs golden {fig['err_model']:.2e}, pasa vs golden {fig['err_out']:.2e}",
              flush=True)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seqs", nargs="+", type=int, default=[1024, 4096, 16384])
    parser.add_argument("--dims", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--modes", nargs="+", default=["full", "causal"], choices=["full", "causal"])
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--variants", nargs="*", default=[], choices=["pasa", "paper"],
                        help="also time these variants (columns pasa[...]; the ratios are the default's)")
    parser.add_argument("--sets", type=int, default=3, help="input sets to rotate over")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--decode", nargs="+", type=int, metavar="S2", help="time decoding against these cache lengths")
    parser.add_argument("--decode-shape", default="1,32,8,1,128", help="B,N,Nkv,S1,D of the decode rows")
    args = parser.parse_args()
    if args.decode:
        return decode(args)

    name = torch.cuda.get_device_name()
    print(f"# {name}, torch {torch.__version__}, triton {__import__('triton').__version__}, fp16 BNSD, "
          f"B = {TOKENS}/S, H = {HIDDEN}/D")
    for d in args.dims:
        check_model(d)

    fns = {"pasa": run_pasa, **{f"pasa[{v}]": run_variant(v) for v in args.variants},
           **{p: sdpa(PEERS[p]) for p in args.peers}}
    rows = []
    for d in args.dims:
        for s in args.seqs:
            b, h = max(1, TOKENS // s), HIDDEN // d
            gen = torch.Generator(device="cuda").manual_seed(s + d)
            inputs = [tuple(torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16)
                            for _ in range(3)) for _ in range(args.sets)]
            for mode in args.modes:
                causal = mode == "causal"
                ref = sdpa(SDPBackend.FLASH_ATTENTION)(*inputs[0], causal).float()
                ours = run_pasa(*inputs[0], causal).float()
                rel = float((ours - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())
                if not rel < 5e-3:
                    raise SystemExit(f"pasa disagrees with SDPA flash at D={d} S={s} {mode}: relative RMSE {rel:.2e}")
                flop = cuda_op.flops(b, h, s, s, d, causal)
                row = {"D": d, "S": s, "B": b, "H": h, "mode": mode, "rel_rmse_vs_flash": rel}
                for fname, fn in fns.items():
                    try:
                        ms = median_ms(fn, inputs, causal)
                        row[fname] = flop / (ms * 1e-3) / 1e12
                    except RuntimeError as exc:   # a backend that does not take this shape
                        print(f"# {fname} D={d} S={s} {mode}: {str(exc).splitlines()[0]}")
                        row[fname] = float("nan")
                pasa_ms = flop / (row["pasa"] * 1e12) * 1e3
                kshift = lambda q, k, v, causal: cuda_op.shift_k(k, 128, 0.0625, max(16, d), 128)  # noqa: E731
                row["kshift_share"] = median_ms(kshift, inputs, causal) / pasa_ms
                c = cuda_op.shift_k(inputs[0][1], 128, 0.0625, max(16, d), 128)[1]
                table = lambda q, k, v, causal: cuda_op.shift_h(q, c, h, s, 128, 0.1, 0, causal)  # noqa: E731
                row["table_share"] = median_ms(table, inputs, causal) / pasa_ms
                rows.append(row)
                print(f"# D={d} S={s} {mode}: " + ", ".join(f"{k} {row[k]:.0f}" for k in fns) +
                      f" TFLOP/s; K-shift pass {100 * row['kshift_share']:.1f}%, shift table "
                      f"{100 * row['table_share']:.1f}% of pasa; rel RMSE vs flash {rel:.1e}", flush=True)

    peers = list(args.peers)
    print(f"\nTFLOP/s on {name} (median of one-call CUDA-event times)")
    print(f"{'D':>4s} {'S':>6s} {'mode':>7s} " + " ".join(f"{f:>9s}" for f in fns) + f" {'kshift%':>8s} {'table%':>7s}")
    for r in rows:
        print(f"{r['D']:4d} {r['S']:6d} {r['mode']:>7s} " + " ".join(f"{r[f]:9.1f}" for f in fns)
              + f" {100 * r['kshift_share']:8.1f} {100 * r['table_share']:7.1f}")
    variants = [f for f in fns if f.startswith("pasa[")]
    print("\nratios pasa / peer, and each other variant / pasa (higher is better; targets: D=128, S ≥ 4k ≥ 1.0 × "
          "cudnn; D=64, S ≥ 4k ≥ 0.9 × cudnn; D=128, S=1k ≥ 0.8 × cudnn; variants ≥ 0.6 × pasa)")
    print(f"{'D':>4s} {'S':>6s} {'mode':>7s} " + " ".join(f"{'/' + p:>10s}" for p in peers)
          + "".join(f" {f:>12s}" for f in variants))
    for r in rows:
        print(f"{r['D']:4d} {r['S']:6d} {r['mode']:>7s} " + " ".join(f"{r['pasa'] / r[p]:10.2f}" for p in peers)
              + "".join(f" {r[f] / r['pasa']:12.2f}" for f in variants))
    _print_compiled()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": name, "rows": rows}, f, indent=1)


def decode(args):
    """Decode rows: pasa (bottom-right causal, split key axis) against each SDPA backend, time per call and ratio."""
    b, n, nkv, s1, d = (int(x) for x in args.decode_shape.split(","))
    name = torch.cuda.get_device_name()
    print(f"# decode on {name}, torch {torch.__version__}: B={b} N={n} Nkv={nkv} S1={s1} D={d} fp16")
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16)
               for h, s in ((n, s1), (nkv, 4096), (nkv, 4096)))
    kw = dict(causal=True, causal_align="bottom_right")
    cuts = cuda_op.kv_split_cuts(b, n, s1, 4096, 128, "exact", q.device)
    fig = check_backend(pasa.attention(q, k, v, **kw), model_attention(q, k, v, kv_splits=cuts, **kw),
                        golden_attention(q, k, v, **kw), what="decode")
    print(f"# check S2=4096 (cuts {cuts}): RMSE vs model {fig['dev_from_model']:.2e}, model vs golden "
          f"{fig['err_model']:.2e}")
    print(f"{'S2':>8s} {'pasa ms':>9s} " + " ".join(f"{p + ' ms':>12s} {'ratio':>6s}" for p in args.peers))
    for s2 in args.decode:
        inputs = [tuple(torch.randn(b, h, s, d, device="cuda", generator=gen, dtype=torch.float16)
                        for h, s in ((n, s1), (nkv, s2), (nkv, s2))) for _ in range(args.sets)]
        mask = None if s1 == 1 else torch.ones(s1, s2, dtype=torch.bool, device="cuda").tril(s2 - s1)

        def peer(backend, mask=mask):
            def run(q, k, v, causal):
                with sdpa_kernel([backend]):
                    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
            return run
        ours = median_ms(lambda q, k, v, causal: pasa.attention(q, k, v, **kw), inputs, True)
        line = f"{s2:8d} {ours:9.4f} "
        for p in args.peers:
            try:
                t = median_ms(peer(PEERS[p]), inputs, False)
                line += f"{t:12.4f} {ours / t:6.2f} "
            except RuntimeError as exc:   # a backend that does not take this call
                line += f"{'-':>12s} {'-':>6s} "
                print(f"# {p} S2={s2}: {str(exc).splitlines()[0]}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
