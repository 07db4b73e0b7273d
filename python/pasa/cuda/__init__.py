"""CUDA backend of pasa::attention: the three variants (exact, pasa, paper) in Triton, and on sm_90 the exact
variant's attention loop in Gluon (docs/cuda.md).

Importing this package registers the Triton kernel as pasa::attention's CUDA kernel when Triton and a CUDA
device are present; elsewhere it does nothing, so ``import pasa`` stays cheap on CPU-only machines.
"""
import torch

AVAILABLE = False
if torch.cuda.is_available():
    try:
        import triton  # noqa: F401
    except ImportError:
        pass
    else:
        from .op import attention_triton, register  # noqa: F401
        register()
        AVAILABLE = True
