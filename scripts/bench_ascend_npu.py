"""NPU benchmark: pasa.attention (the PasaAttention custom op) against torch_npu.npu_fused_infer_attention_score on
the paper's shapes, with TFLOP/s from 4·B·N·S1·S2·D (halved for causal) and the RMSE of each against the float64
golden on the same inputs. Needs an Ascend NPU, torch_npu and the installed op package (scripts/build_ascend.sh).

    python scripts/bench_ascend_npu.py [--seqs 1024 2048 4096 8192] [--causal] [--iters 20]
"""
from __future__ import annotations

import argparse

import torch

import pasa
from pasa.metrics import errors
from pasa.reference import golden_attention


def fia(q, k, v, scale, causal, inner_precise):
    """CANN's fused attention, BNSD; its scale argument is `scale` in newer torch_npu, `scale_value` in older."""
    import torch_npu
    kw = dict(num_heads=q.shape[1], num_key_value_heads=k.shape[1], input_layout="BNSD", inner_precise=inner_precise)
    if causal:  # sparse_mode 2: top-left causal with the 2048 x 2048 compressed mask (True = hidden)
        kw["sparse_mode"] = 2
        kw["atten_mask"] = torch.triu(torch.ones(2048, 2048, dtype=torch.bool, device=q.device), diagonal=1)
    try:
        return torch_npu.npu_fused_infer_attention_score(q, k, v, scale=scale, **kw)[0]
    except TypeError:
        return torch_npu.npu_fused_infer_attention_score(q, k, v, scale_value=scale, **kw)[0]


def timed(fn, iters):
    for _ in range(3):
        fn()
    start, end = torch.npu.Event(enable_timing=True), torch.npu.Event(enable_timing=True)
    torch.npu.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.npu.synchronize()
    return start.elapsed_time(end) / iters / 1e3


def main():
    import pasa._C_npu  # noqa: F401  (registers the NPU kernel)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqs", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    ap.add_argument("--heads", type=int, nargs=2, default=[28, 4], metavar=("N", "NKV"))
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--mean", type=float, default=20.0, help="input mean (the paper's uniform suite)")
    ap.add_argument("--amp", type=float, default=10.0)
    a = ap.parse_args()
    n, nkv, d = a.heads[0], a.heads[1], a.dim
    print(f"{'S':>6} {'scheme':>22} {'ms':>9} {'TFLOP/s':>8} {'RMSE':>10}")
    for s in a.seqs:
        g = torch.Generator().manual_seed(s)
        make = lambda *shape: ((torch.rand(shape, generator=g) - 0.5) * 2 * a.amp + a.mean).half()
        q, k, v = make(1, n, s, d), make(1, nkv, s, d), make(1, nkv, s, d)
        gold = golden_attention(q, k, v, causal=a.causal) if s <= 4096 else None
        qn, kn, vn = q.npu(), k.npu(), v.npu()
        flops = 4.0 * n * s * s * d * (0.5 if a.causal else 1.0)
        schemes = {f"pasa {v_}": (lambda v_=v_: pasa.attention(qn, kn, vn, causal=a.causal, variant=v_))
                   for v_ in pasa.VARIANTS}
        schemes["FIA inner_precise=0"] = lambda: fia(qn, kn, vn, d ** -0.5, a.causal, 0)
        schemes["FIA inner_precise=1"] = lambda: fia(qn, kn, vn, d ** -0.5, a.causal, 1)
        for name, fn in schemes.items():
            sec = timed(fn, a.iters)
            rmse = errors(fn().cpu(), gold)["rmse"] if gold is not None else float("nan")
            print(f"{s:>6} {name:>22} {sec * 1e3:>9.3f} {flops / sec / 1e12:>8.1f} {rmse:>10.3e}")


if __name__ == "__main__":
    main()
