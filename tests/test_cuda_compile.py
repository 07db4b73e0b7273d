"""The CUDA backend's kernels compile for the H100 (sm_90) — checked without a GPU.

Triton's interpreter (test_cuda.py) runs the kernels' logic on CPU tensors but never generates GPU code, so a kernel
that Triton cannot lower for Hopper would pass there and fail on a GPU. scripts/cuda_compile_report.py compiles every
launch of a call as Triton would on an sm_90 device, with Triton's bundled ptxas; it runs here in a process of its own
because this test session has Triton in interpreter mode. One case per kind of code path: the benchmark's launch
(D = 128), D = 64 (q·(c − c_0) in the loop), bf16 with D = 80, a bool mask and the paths the default leaves for other
calls (pointer loads, the scale outside the exponent), h from a dot per block at D = 128, a bool mask at D = 128 (the
mask tile's stages), the paper variant with an additive mask, D = 256, split-K decoding with lse and sinks, packed
sequences, and the warp-specialised Hopper kernel (Gluon, pasa/cuda/hopper.py) for two of the calls it covers. Every
kernel must also fit the shared memory a block may take (kernels.SMEM_BYTES): a launch that does not would fail on
the GPU, so this checks kernels.default_config's choice of pipeline stages.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs Triton")

CASES = {
    "benchmark": [],
    "d64": ["--shape", "2,8,2,1000,2100,64", "--causal"],
    "bf16-d80-mask-pointers": ["--shape", "2,8,2,300,700,80", "--dtype", "bfloat16", "--causal", "--mask", "bool",
                               "--flags", "SCALE_FOLD=0", "KV_TMA=0"],
    "in-loop-h-d128": ["--flags", "H_MODE=2", "--causal"],
    "bool-mask-d128": ["--shape", "2,8,2,600,900,128", "--mask", "bool"],
    "paper-float-mask": ["--shape", "1,4,4,200,333,64", "--variant", "paper", "--mask", "float", "--causal"],
    "d256": ["--shape", "1,2,1,100,300,256", "--block-n", "64"],
    # the warp-specialised Hopper kernel (Gluon): the benchmark's call; bf16 D = 80 causal GQA, 64-key blocks, with lse
    # and sinks; D = 64 causal
    "hopper": ["--hopper"],
    "hopper-bf16-d80-lse-sinks": ["--hopper", "--shape", "2,8,2,300,700,80", "--dtype", "bfloat16", "--causal",
                                  "--block-n", "64", "--lse", "--sinks"],
    "hopper-d64": ["--hopper", "--shape", "4,32,32,2048,2048,64", "--causal"],
    # flash-decoding (one row against 4096 keys, 16-row tiles, the key axis split) with lse and sinks in the epilogue;
    # packed sequences (program per sequence from cu_seqlens, K' tiles per sequence) of the pasa and exact variants
    "decode-split-lse-sinks": ["--shape", "1,32,8,1,4096,128", "--causal", "--align", "bottom_right", "--lse",
                               "--sinks"],
    "varlen-pasa-lse": ["--shape", "3,8,2,100,300,64", "--varlen", "--variant", "pasa", "--causal", "--lse"],
    "varlen-exact-bf16-lse-sinks": ["--shape", "3,8,2,100,300,128", "--varlen", "--dtype", "bfloat16", "--causal",
                                    "--lse", "--sinks"],
}
KERNELS = {case: "attention_kernel_ws:" for case in CASES if case.startswith("hopper")}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_kernels_compile_for_sm90(case):
    env = {key: val for key, val in os.environ.items() if key != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "cuda_compile_report.py"), *CASES[case]],
                         capture_output=True, text=True, env=env, timeout=600)
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-3000:]
    assert KERNELS.get(case, "attention_kernel:") in run.stdout and "shift_k_kernel:" in run.stdout
    from pasa.cuda.kernels import SMEM_BYTES
    for name, shared in re.findall(r"^(\S+): .* (\d+) bytes of shared memory", run.stdout, flags=re.M):
        assert int(shared) <= SMEM_BYTES, f"{name} takes {shared} bytes of shared memory, over {SMEM_BYTES}"
