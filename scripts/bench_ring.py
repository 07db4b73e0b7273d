"""Ring attention benchmark: pasa.distributed.ring_attention over the ranks of one host, against one device.

    torchrun --nproc-per-node=2 scripts/bench_ring.py                       # NCCL on GPUs, 32k and 128k
    torchrun --nproc-per-node=2 scripts/bench_ring.py --seq 2048 --check-seq 512 --heads 8 --kv-heads 2  # gloo, CPU

1. Correctness: on --check-seq tokens (a shape one device holds), every rank's ring output is gathered and compared
   with pasa.attention on the whole sequence on one device (max |difference| in units of the fp16 ulp at max|v|,
   at most 1.5 where the chunks are whole KV blocks; and both RMSEs against the float64 golden), causal and not.
2. Speed: for each --seq S (split over the R ranks, zig-zag for causal), the median time of one ring_attention call
   (the slowest rank's), its TFLOP/s per device (4·B·N·S²·D / R, halved for causal), the same ring with the sends
   removed (each rank attends to its own K/V slice R times: the computation alone), and the exposed communication
   (ring − computation). Beside it, pasa.attention on one device at the largest of --single-seq that fits.

NCCL when CUDA is available (one GPU per rank: cuda:LOCAL_RANK), gloo on CPU otherwise.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist

import pasa
from pasa.distributed import _ring, gather_sequence, ring_attention, split_sequence
from pasa.metrics import errors
from pasa.reference import golden_attention


def flops(b: int, n: int, s: int, d: int, causal: bool) -> float:
    """Forward FLOPs of self-attention over S tokens: 4·B·N·S²·D (two matmuls), halved for causal."""
    return 4.0 * b * n * s * s * d / (2 if causal else 1)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats: int) -> float:
    """Median seconds of fn over the ranks' slowest: every rank starts together (barrier) and the max is taken."""
    fn()
    times = []
    for _ in range(repeats):
        dist.barrier()
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64, device=device)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        times.append(float(elapsed))
    return statistics.median(times)


def inputs(args, s: int, device, seed: int):
    g = torch.Generator(device=device).manual_seed(seed)
    shape = lambda h: (args.batch, h, s, args.dim)  # noqa: E731
    return tuple(torch.randn(shape(h), generator=g, device=device, dtype=torch.float16)
                 for h in (args.heads, args.kv_heads, args.kv_heads))


def check(args, device, world: int, rank: int) -> None:
    """The ring against one device on --check-seq tokens: the largest difference in ulps of max|v| (at most 1.5 where
    the chunks are whole KV blocks: each chunk's fp16 output and the two final roundings) and, up to 8k tokens, the
    RMSE of both against the float64 golden."""
    s = args.check_seq
    q, k, v = inputs(args, s, device, seed=1)
    for t in (q, k, v):                                        # the same whole tensors on every rank: rank 0's
        dist.broadcast(t, 0)
    for causal in (False, True):
        kw = dict(causal=causal, variant=args.variant, block_n=args.block_n)
        local = [split_sequence(t, world, rank, causal=causal) for t in (q, k, v)]
        out = gather_sequence(ring_attention(*local, **kw), causal=causal)
        if rank == 0:
            one = pasa.attention(q, k, v, **kw)
            ulp = torch.finfo(torch.float16).eps * 2.0 ** torch.floor(torch.log2(v.float().abs().max()))
            diff = float((out.float() - one.float()).abs().max() / ulp)
            chunk = s // world // (2 if causal else 1)
            verdict = "ok" if diff <= 1.5 else "OVER 1.5" if chunk % args.block_n == 0 else "chunks not whole blocks"
            line = f"check S={s} causal={causal}: max |ring - one device| = {diff:.2f} ulp of max|v| ({verdict})"
            if s <= 8192:
                golden = golden_attention(q, k, v, causal=causal)
                line += (f"; RMSE vs golden: ring {errors(out, golden)['rmse']:.2e}, "
                         f"one device {errors(one, golden)['rmse']:.2e}")
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq", nargs="+", type=int, default=[32768, 131072], help="whole sequence lengths S")
    parser.add_argument("--single-seq", nargs="+", type=int, default=[131072, 65536, 32768],
                        help="one-device lengths to try, the largest that fits is timed")
    parser.add_argument("--check-seq", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--variant", default="exact")
    parser.add_argument("--block-n", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))
    dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    world, rank = dist.get_world_size(), dist.get_rank()
    if rank == 0:
        where = f"nccl, {torch.cuda.get_device_name(device)}" if cuda else "gloo, CPU"
        print(f"# ring attention: {world} ranks, {where}; B={args.batch} N={args.heads} Nkv={args.kv_heads} D={args.dim} fp16 {args.variant} "
              f"n={args.block_n}; median of {args.repeats}", flush=True)
    check(args, device, world, rank)

    kw = dict(variant=args.variant, block_n=args.block_n, return_lse=True)
    no_sends = lambda kv, group: (kv, None)  # noqa: E731  (each rank keeps its own slice: computation alone)
    if rank == 0:
        print(f"{'S':>8s} {'causal':>6s} {'ring s':>9s} {'TFLOP/s/dev':>11s} {'compute s':>10s} "
              f"{'exposed comm s':>14s}")
    for s in args.seq:
        for causal in (False, True):
            q, k, v = inputs(args, s // world, device, seed=100 + rank)
            kv = torch.stack([k, v])
            ring = timed(lambda: ring_attention(q, k, v, causal=causal, variant=args.variant, block_n=args.block_n),
                         device, args.repeats)
            compute = timed(lambda: _ring(q, kv, None, causal, dict(kw), no_sends), device, args.repeats)
            if rank == 0:
                rate = flops(args.batch, args.heads, s, args.dim, causal) / world / ring / 1e12
                print(f"{s:8d} {str(causal):>6s} {ring:9.4f} {rate:11.2f} {compute:10.4f} {ring - compute:14.4f}",
                      flush=True)
            del q, k, v, kv
    if rank == 0:
        single(args, device)
    dist.barrier()
    dist.destroy_process_group()


def single(args, device) -> None:
    """pasa.attention on one device at the largest --single-seq that fits (rank 0 alone)."""
    for s in sorted(args.single_seq, reverse=True):
        q = k = v = None
        try:
            q, k, v = inputs(args, s, device, seed=7)
            for causal in (False, True):
                fn = lambda: pasa.attention(q, k, v, causal=causal, variant=args.variant, block_n=args.block_n)  # noqa
                fn()
                times = []
                for _ in range(args.repeats):
                    sync(device)
                    t0 = time.perf_counter()
                    fn()
                    sync(device)
                    times.append(time.perf_counter() - t0)
                t = statistics.median(times)
                print(f"one device S={s} causal={causal}: {t:.4f} s, "
                      f"{flops(args.batch, args.heads, s, args.dim, causal) / t / 1e12:.2f} TFLOP/s", flush=True)
            return
        except torch.OutOfMemoryError:
            print(f"one device S={s}: does not fit", flush=True)
            del q, k, v
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
