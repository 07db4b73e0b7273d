"""Analytical 910B cost model: PASA's kernel (fp16 S' and P tiles cross from Cube to Vector) against a flash
attention whose score tile crosses in fp32, both in this kernel's structure (1 AIC + 2 AIV per group, GM
workspace between the two sides, query blocks of q rows, KV blocks of n keys). docs/ascend.md explains it.

    python scripts/ascend_cost_model.py [--soc Ascend910B2] [--seqs 1407 4096 8192 16384] [--causal]

Figures and where they come from (see docs/ascend.md):
- AI cores, cube clock: CANN 8.1.RC1 platform files (Ascend910B{1..4}.ini).
- Cube: 16x16x16 fp16 MACs per cycle per AIC -> cores * 4096 * 2 * clock FLOP/s.
- Vector: ASSUMED 256 bytes per cycle per AIV (128 fp16 or 64 fp32 lanes), at the cube clock; Exp counted as
  EXP_COST passes. No official per-op rate was found; the ratio fp16:fp32 = 2 is what matters here.
- HBM: ASSUMED 1.6 TB/s for 910B1/B2 (64 GB HBM2e), 1.2 TB/s for 910B3/B4; L2: ASSUMED 192 MB at 4x HBM
  bandwidth. The GM workspace (a few hundred KB per group) lives in L2.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

SOCS = {  # AIC count, cube clock (MHz), HBM bytes/s (assumed)
    "Ascend910B1": (24, 1850, 1.6e12), "Ascend910B2": (24, 1800, 1.6e12),
    "Ascend910B3": (20, 1800, 1.2e12), "Ascend910B4": (20, 1500, 1.2e12),
}
VEC_BYTES_PER_CYCLE = 256
EXP_COST = 2.0       # an Exp pass costs about two simple passes (assumed)
L2_OVER_HBM = 4.0


@dataclass
class Kernel:
    name: str
    short: str
    score_bytes: int        # bytes per score element crossing Cube -> Vector (fp16 2, fp32 4)
    score_pass_bytes: int   # element width of the vector passes over the score tile
    kprep: str              # "per_task" (no cache), "prepass" (K' once per KV block: the cache) or "none"
    centred: bool = False   # the exact variant's query centring (g = A·K'ᵀ, the non-finite check), per task Q'


KERNELS = [
    Kernel("PASA exact, K' per task (no cache)", "exact/task", 2, 4, "per_task", True),
    Kernel("PASA exact, K' cached per group (as implemented)", "exact/cached", 2, 4, "prepass", True),
    Kernel("PASA paper (fp16 vector passes)", "paper", 2, 2, "prepass"),
    Kernel("FA, fp32 score tile", "FA fp32-S", 4, 4, "none"),
]
QUERY_GROUP = 64   # exact: rows per query centre


def block_time(k: Kernel, q: int, n: int, d: int, aic: int, clock: float, l2_bw: float):
    """Seconds for one (query block, KV block) step on one group, and its parts."""
    cube = 4.0 * q * n * d / (4096 * 2 * clock)                          # QK^T and PV
    rows = q / 2                                                         # rows per AIV
    lanes = lambda width: VEC_BYTES_PER_CYCLE / width                    # elements per cycle
    # score tile passes per AIV: cast in, scale/mask, rowmax, subtract, exp, cast to fp16, cast back, rowsum
    simple, exps = 7, 1
    vec = rows * n * (simple + EXP_COST * exps) / lanes(k.score_pass_bytes) / clock
    if k.centred:
        cube += 2.0 * 16 * n * d / (4096 * 2 * clock)                    # g = A·K'ᵀ, m = 16 (A: the group centres)
        vec += rows * n / lanes(4) / clock                               # + g on every score row (fp32)
        vec += rows * n * 2 / lanes(2) / clock                           # non-finite check: S'·0, sum (fp16)
    if k.kprep == "per_task":   # pass 1 (cast, add, abs, max) over n rows + pass 2 (cast, sub, muls, cast) on n/2
        vec += (n * d * 4 + n / 2 * d * 4) / lanes(4) / clock
        vec += rows * d * 3 / lanes(4) / clock                          # h = s * Q c^T per row
    elif k.kprep == "prepass":
        vec += rows * d * 3 / lanes(4) / clock
    # O update per row: 2 Muls + Add over D, fp32
    vec += rows * d * 3 / lanes(4) / clock
    # workspace traffic per group (L2): S (write+read), P (write+read), PV fp32 (write+read), K' (write+read)
    ws = 2 * q * n * k.score_bytes + 2 * q * n * 2 + 2 * q * d * 4
    if k.kprep == "per_task":
        ws += 2 * n * d * 2
    if k.centred:
        ws += 2 * (q // QUERY_GROUP) * n * 4                               # g rows (fp32), written and read
    l2 = ws / (l2_bw / aic)
    return cube, vec, l2


def predict(k: Kernel, soc: str, b: int, h: int, hkv: int, s: int, d: int, causal: bool, q: int = 128, n: int = 128):
    aic, mhz, hbm = SOCS[soc]
    clock = mhz * 1e6
    l2_bw = hbm * L2_OVER_HBM
    cube, vec, l2 = block_time(k, q, n, d, aic, clock, l2_bw)
    q_blocks = math.ceil(s / q)
    kv_blocks = math.ceil(s / n)
    steps_per_task = (kv_blocks + 1) / 2 if causal else kv_blocks
    tasks = b * h * q_blocks
    waves = math.ceil(tasks / aic)
    overlap = max(cube, vec, l2) * steps_per_task * waves        # perfect Cube/Vector/L2 overlap
    serial = (cube + vec + l2) * steps_per_task * waves          # no overlap (this kernel's sync is half-serial)
    prepass = 0.0
    if k.kprep == "prepass":
        prepass = b * hkv * kv_blocks * n * d * 8 / (VEC_BYTES_PER_CYCLE / 4) / clock / (2 * aic)
    if k.centred:   # per task and AIV: the group's column statistics (cast, add, max, min over 64 rows), then Q'
        # (cast, subtract, cast over its q/2 rows), written to the workspace and loaded by the Cube
        prepass += waves * (QUERY_GROUP * 4 + q / 2 * 3) * d / (VEC_BYTES_PER_CYCLE / 4) / clock
    hbm_bytes = 2 * (b * h * s * d) + 2 * 2 * (b * hkv * s * d) + 4 * b * h * s * d
    hbm_time = hbm_bytes / hbm
    return dict(cube=cube, vec=vec, l2=l2, overlap=max(overlap, hbm_time) + prepass, serial=serial + prepass,
                flops=4.0 * b * h * s * s * d * (0.5 if causal else 1.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--soc", default="Ascend910B2", choices=sorted(SOCS))
    ap.add_argument("--seqs", type=int, nargs="+", default=[1407, 4096, 8192, 16384])
    ap.add_argument("--heads", type=int, nargs=2, default=[28, 4])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--causal", action="store_true")
    a = ap.parse_args()
    aic, mhz, hbm = SOCS[a.soc]
    print(f"{a.soc}: {aic} AIC x {mhz} MHz -> Cube {aic * 4096 * 2 * mhz * 1e6 / 1e12:.0f} TFLOP/s fp16; "
          f"Vector {2 * aic * VEC_BYTES_PER_CYCLE / 2 * mhz * 1e6 / 1e12:.1f} Tops fp16, "
          f"{2 * aic * VEC_BYTES_PER_CYCLE / 4 * mhz * 1e6 / 1e12:.1f} Tops fp32 (assumed); HBM {hbm / 1e12:.1f} TB/s")
    q, n, d = 128, 128, a.dim
    print(f"\nper (query block {q}, KV block {n}) step on one group, D = {d}: microseconds")
    print(f"{'kernel':>42} {'cube':>7} {'vector':>7} {'L2':>7}   bytes Cube->Vector per step")
    for k in KERNELS:
        cube, vec, l2 = block_time(k, q, n, d, aic, mhz * 1e6, hbm * L2_OVER_HBM)
        cross = q * n * k.score_bytes + q * d * 4
        print(f"{k.name:>42} {cube * 1e6:>7.2f} {vec * 1e6:>7.2f} {l2 * 1e6:>7.2f}   {cross} (S {q * n * k.score_bytes} + PV {q * d * 4})")
    print(f"\nB=1, N={a.heads[0]}, Nkv={a.heads[1]}, D={d}, causal={a.causal}: predicted ms "
          "(overlapped / serial) and TFLOP/s (overlapped)")
    for s in a.seqs:
        cells = []
        for k in KERNELS:
            p = predict(k, a.soc, 1, a.heads[0], a.heads[1], s, d, a.causal)
            cells.append(f"{p['overlap'] * 1e3:7.3f}/{p['serial'] * 1e3:7.3f} ({p['flops'] / p['overlap'] / 1e12:5.1f})")
        print(f"S={s:>6}: " + " | ".join(f"{k.short}: {c}" for k, c in zip(KERNELS, cells)))


if __name__ == "__main__":
    main()
