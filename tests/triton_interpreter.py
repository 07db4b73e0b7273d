"""Running the CUDA backend's Triton kernels where there is no GPU: Triton's interpreter, on CPU tensors.

conftest.py turns the interpreter on (TRITON_INTERPRET=1, read when a kernel is decorated) before anything imports
pasa.cuda.kernels, so test_cuda.py checks the kernels' logic (tiling, masks, causal bounds, GQA, the shift, the
one-accumulator frame) against the contract's model on every CI run. It says nothing about speed or about code
generation for the GPU: tests/test_cuda.py runs the same checks on a CUDA device, and more.

Two fixes to the interpreter itself (Triton 3.6): its float32 → bfloat16 cast truncates the mantissa where the GPU
rounds to nearest even, which doubles a bf16 output's rounding error, and its ``tl.dot`` multiplies bfloat16
operands as the integers that hold their bits. ``enable()`` routes that cast through torch's conversion and widens
bfloat16 dot operands to float32 (exact) first. (Its other known defect, ``int()`` of a one-element array, which numpy 2.4 made an error,
is avoided by pinning numpy < 2.4 in requirements-dev.txt.)
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import torch


def wanted() -> bool:
    """The interpreter stands in for a GPU only where there is none and Triton is installed."""
    # not imported here: Triton's own library kernels (tl.cdiv, ...) are decorated when triton is first imported,
    # and they are interpreted only if TRITON_INTERPRET is set by then
    return not torch.cuda.is_available() and importlib.util.find_spec("triton") is not None


def enable() -> None:
    """Interpret every Triton kernel, with the bfloat16 cast rounding as on the GPU. Call before importing triton."""
    os.environ["TRITON_INTERPRET"] = "1"
    import triton.language as tl
    from triton.runtime import interpreter

    convert = interpreter._convert_float
    if getattr(convert, "pasa_fixed", False):
        return

    def convert_rounding(data, src, dst, rounding_mode):
        if src == tl.float32 and dst == tl.bfloat16:
            bf16 = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(torch.bfloat16)
            return bf16.view(torch.int16).numpy().view(np.uint16)
        return convert(data, src, dst, rounding_mode)

    convert_rounding.pasa_fixed = True
    interpreter._convert_float = convert_rounding

    dot = interpreter.InterpreterBuilder.create_dot

    def dot_widening_bf16(self, a, b, d, input_precision, max_num_imprecise_acc):
        def widen(x):
            if x.dtype != tl.bfloat16:
                return x
            bits = np.ascontiguousarray(x.data).view(np.uint16).astype(np.uint32) << 16
            return interpreter.TensorHandle(bits.view(np.float32), tl.float32)
        return dot(self, widen(a), widen(b), d, input_precision, max_num_imprecise_acc)

    interpreter.InterpreterBuilder.create_dot = dot_widening_bf16


def active() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"
