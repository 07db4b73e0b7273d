"""CPU benchmark: pasa.attention's C++ operator against torch SDPA in float32 on the same inputs, in one run.

    python scripts/bench_cpu.py [--shapes 1,28,4,1407,128 1,28,4,4096,128] [--repeats 3] [--model]
    python scripts/bench_cpu.py --decode 4096 16384 65536 131072 [--decode-shape 1,32,8,1,128]

Prints, per shape and variant, the median time of each and the ratio pasa / SDPA (lower is better; the target
is ≤ 3). Timings alternate between the two so machine load affects both alike. --model also times the
vectorised Python model of the contract (the same numerics in torch ops) for comparison.

--decode S2 ... times KV-cache decoding instead: S1 query rows (default 1) of B, N, Nkv, D = 1, 32, 8, 128 against
each cache length S2, pasa with bottom-right causal alignment (the key axis split into parallel parts), SDPA
without a mask (one query row sees every key; for S1 > 1 SDPA gets the bottom-right mask as a bool tensor).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import pasa
from pasa.model import model_attention


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["1,28,4,1407,128", "1,28,4,4096,128"],
                        help="B,N,Nkv,S,D per shape")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(pasa.VARIANTS))
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--model", action="store_true", help="also time the Python model (slow)")
    parser.add_argument("--decode", nargs="+", type=int, metavar="S2", help="time decoding against these cache lengths")
    parser.add_argument("--decode-shape", default="1,32,8,1,128", help="B,N,Nkv,S1,D of the decode rows")
    args = parser.parse_args()
    if args.decode:
        return decode(args)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, causal={args.causal}, "
          f"median of {args.repeats}")
    print(f"{'shape B,N,Nkv,S,D':20s} {'variant':8s} {'pasa s':>9s} {'sdpa fp32 s':>12s} {'ratio':>7s}"
          + (f" {'model s':>9s}" if args.model else ""))
    for text in args.shapes:
        b, n, nkv, s, d = (int(x) for x in text.split(","))
        g = torch.Generator().manual_seed(0)
        q = torch.randn(b, n, s, d, generator=g).half()
        k = torch.randn(b, nkv, s, d, generator=g).half()
        v = torch.randn(b, nkv, s, d, generator=g).half()
        q32, k32, v32 = q.float(), k.float(), v.float()
        for variant in args.variants:
            ours, peer = [], []
            for _ in range(args.repeats):  # alternate so that load hits both alike
                ours += timed(lambda: pasa.attention(q, k, v, variant=variant, causal=args.causal), 1)
                peer += timed(lambda: F.scaled_dot_product_attention(q32, k32, v32, is_causal=args.causal,
                                                                     enable_gqa=True), 1)
            t_ours, t_peer = statistics.median(ours), statistics.median(peer)
            line = f"{text:20s} {variant:8s} {t_ours:9.3f} {t_peer:12.3f} {t_ours / t_peer:7.2f}"
            if args.model:
                t_model = statistics.median(timed(lambda: model_attention(q, k, v, variant=variant,
                                                                          causal=args.causal), 1))
                line += f" {t_model:9.3f}"
            print(line, flush=True)


def decode(args):
    b, n, nkv, s1, d = (int(x) for x in args.decode_shape.split(","))
    print(f"# decode: torch {torch.__version__}, {torch.get_num_threads()} threads, B={b} N={n} Nkv={nkv} S1={s1} "
          f"D={d}, median of {args.repeats}")
    print(f"{'S2':>8s} {'variant':8s} {'pasa s':>9s} {'sdpa fp32 s':>12s} {'ratio':>7s}")
    for s2 in args.decode:
        g = torch.Generator().manual_seed(0)
        q = torch.randn(b, n, s1, d, generator=g).half()
        k = torch.randn(b, nkv, s2, d, generator=g).half()
        v = torch.randn(b, nkv, s2, d, generator=g).half()
        q32, k32, v32 = q.float(), k.float(), v.float()
        mask = None if s1 == 1 else torch.ones(s1, s2, dtype=torch.bool).tril(s2 - s1)
        for variant in args.variants:
            ours, peer = [], []
            for _ in range(args.repeats):
                ours += timed(lambda: pasa.attention(q, k, v, variant=variant, causal=True,
                                                     causal_align="bottom_right"), 1)
                peer += timed(lambda: F.scaled_dot_product_attention(q32, k32, v32, attn_mask=mask, enable_gqa=True), 1)
            t_ours, t_peer = statistics.median(ours), statistics.median(peer)
            print(f"{s2:8d} {variant:8s} {t_ours:9.4f} {t_peer:12.4f} {t_ours / t_peer:7.2f}", flush=True)


if __name__ == "__main__":
    main()
