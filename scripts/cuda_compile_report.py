"""Compile the CUDA backend's kernels for the H100 (sm_90) on a machine without a GPU, and report what ptxas made.

    python scripts/cuda_compile_report.py [--shape B,N,Nkv,S1,S2,D] [--causal] [--variant exact] [--mask bool]
                                          [--flags KV_TMA=1 ...] [--hopper] [--sass-dir DIR]

``pasa.cuda.op.attention_triton`` runs on CPU tensors of the given shape, but each kernel launch is replaced by the
compilation Triton would do for it on an H100: the same argument specialisation (pointer alignment, integers
equal to 1 or divisible by 16), Triton's own ptxas for sm_90; with --hopper, the calls the warp-specialised Gluon
kernel covers compile that kernel (pasa.cuda.hopper) the same way. Printed per kernel: registers per thread, spill
stack, shared memory, and for every loop of the SASS its length and most frequent instructions. These are static
facts about the code, a guide for kernel changes between GPU sessions; speed is measured only on a GPU
(scripts/bench_cuda.py). A kernel that does not compile for sm_90 makes the script fail (tests/test_cuda_compile.py).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import JITFunction, create_function_from_signature

TARGET = GPUTarget("cuda", 90, 64)
NVIDIA_BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


def compile_like_launch(fn: JITFunction, args, kwargs):
    """What JITFunction.run would compile for these arguments on an sm_90 device."""
    backend = make_backend(TARGET)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization, options)
    source = ASTSource
    if fn.is_gluon():   # what GluonJITFunction.create_binder (which needs a driver) would pick
        from triton.experimental.gluon._runtime import GluonASTSource as source
    return triton.compile(source(fn, signature, constexprs, attrs), target=TARGET, options=options.__dict__)


def sass_loops(sass: str):
    """(first address, instruction count, Counter of opcodes) of each innermost loop with a tensor-core product
    (the KV loops), found as the span of a backward branch. Spin-waits on barriers and out-of-line paths that
    jump back into a loop are left out."""
    ins = [(int(m.group(1), 16), m.group(2)) for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", sass)]
    where = {addr: i for i, (addr, _) in enumerate(ins)}
    spans = []
    for i, (addr, text) in enumerate(ins):
        target = re.search(r"BRA\s+(?:\S+\s+)?0x([0-9a-f]+)", text)
        if target and int(target.group(1), 16) < addr and int(target.group(1), 16) in where:
            first = where[int(target.group(1), 16)]
            if any("GMMA" in t for _, t in ins[first:i + 1]):
                spans.append((first, i))
    inner = [(a, z) for a, z in spans if not any(a <= a2 and z2 <= z and (a2, z2) != (a, z) for a2, z2 in spans)]
    loops = []
    for first, last in sorted(set(inner)):
        body = ins[first:last + 1]
        ops = Counter(re.sub(r"^@!?U?P\w+\s+", "", t).split()[0] for _, t in body)
        loops.append((body[0][0], len(body), ops))
    return loops


def report(kernel, name: str, sass_dir: Path | None) -> None:
    cubin = Path(os.environ.get("TMPDIR", "/tmp")) / f"pasa_{name}.cubin"
    cubin.write_bytes(kernel.asm["cubin"])
    usage = subprocess.run([NVIDIA_BIN / "cuobjdump", "--dump-resource-usage", cubin], capture_output=True,
                           text=True, check=True).stdout
    sass = subprocess.run([NVIDIA_BIN / "cuobjdump", "--dump-sass", cubin], capture_output=True, text=True,
                          check=True).stdout
    reg = re.search(r"REG:(\d+)", usage).group(1)
    stack = re.search(r"STACK:(\d+)", usage).group(1)
    print(f"{name}: {reg} registers, {stack} bytes of stack (spills), {kernel.metadata.shared} bytes of shared memory, "
          f"{kernel.metadata.num_warps} warps, {kernel.metadata.num_stages} stages")
    for start, count, ops in sass_loops(sass):
        top = ", ".join(f"{op} {n}" for op, n in ops.most_common(12))
        print(f"  loop at {start:#x}: {count} instructions: {top}")
    if sass_dir is not None:
        sass_dir.mkdir(parents=True, exist_ok=True)
        (sass_dir / f"{name}.sass").write_text(sass)
        (sass_dir / f"{name}.ttgir").write_text(kernel.asm["ttgir"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="4,16,16,4096,4096,128", help="B,N,Nkv,S1,S2,D (default: the benchmark's)")
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--variant", default="exact")
    parser.add_argument("--block-n", type=int, default=128)
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    parser.add_argument("--mask", choices=["bool", "float"], help="an (S1, S2) mask of this kind")
    parser.add_argument("--flags", nargs="*", default=[], help="pasa.cuda.op.KERNEL_FLAGS overrides, KEY=INT")
    parser.add_argument("--hopper", action="store_true",
                        help="the warp-specialised Hopper kernel (pasa.cuda.hopper) for the calls it covers")
    parser.add_argument("--align", default="top_left", choices=["top_left", "bottom_right"])
    parser.add_argument("--lse", action="store_true", help="return_lse=True")
    parser.add_argument("--sinks", action="store_true", help="one sink per head")
    parser.add_argument("--varlen", action="store_true",
                        help="pasa.attention_varlen on B packed sequences of S1 query and S2 key tokens")
    parser.add_argument("--sass-dir", type=Path, help="also write each kernel's SASS and TTGIR here")
    args = parser.parse_args(argv)
    b, n, nkv, s1, s2, d = map(int, args.shape.split(","))
    dtype = getattr(torch, args.dtype)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from pasa.cuda import op

    compiled = []
    JITFunction.run = lambda self, *a, grid, warmup, **kw: compiled.append(  # noqa: E731
        (self.fn.__name__, compile_like_launch(self, a, kw)))
    op.KERNEL_FLAGS = {**op.KERNEL_FLAGS, **{key: int(val) for key, val in (f.split("=") for f in args.flags)}}
    op.HOPPER = args.hopper
    q = torch.zeros(b, n, s1, d, dtype=dtype)
    k = torch.zeros(b, nkv, s2, d, dtype=dtype)
    mask = {None: None, "bool": torch.ones(s1, s2, dtype=torch.bool), "float": torch.zeros(s1, s2)}[args.mask]
    kw = dict(causal=args.causal, causal_align=args.align, variant=args.variant, block_n=args.block_n,
              return_lse=args.lse, sinks=torch.zeros(n) if args.sinks else None)
    if args.varlen:   # the same tokens as B packed sequences, TND
        cu_q, cu_k = (torch.arange(0, b * s + 1, s, dtype=torch.int32) for s in (s1, s2))
        q, k = (t.transpose(1, 2).reshape(-1, t.shape[1], d) for t in (q, k))
        op.attention_varlen_triton(q, k, k.clone(), cu_q, cu_k, s1, s2, **kw)
    else:
        op.attention_triton(q, k, k.clone(), mask=mask, **kw)
    print(f"B={b} N={n} Nkv={nkv} S1={s1} S2={s2} D={d} {args.dtype} causal={args.causal} {args.align} "
          f"mask={args.mask} variant={args.variant} block_n={args.block_n} lse={args.lse} sinks={args.sinks} "
          f"varlen={args.varlen} flags={op.KERNEL_FLAGS} hopper={args.hopper}; compiled for sm_90 by Triton "
          f"{triton.__version__}")
    seen = Counter()
    for name, kernel in compiled:
        seen[name] += 1
        report(kernel, name if seen[name] == 1 else f"{name}.{seen[name]}", args.sass_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
