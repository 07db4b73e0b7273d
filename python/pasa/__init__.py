"""PASA: Online Pseudo-Average Shifting Attention — flash attention in half precision without fp16 overflow."""
import torch  # noqa: F401  (loads libtorch, which _C links against)

from . import _C  # noqa: F401  (registers torch.ops.pasa.attention and its CPU/Meta kernels)
try:  # the NPU kernel, present only where setup.py found torch_npu and CANN
    from . import _C_npu  # noqa: F401
except ImportError:
    pass
from . import cuda as _cuda  # noqa: F401  (registers the Triton CUDA kernel where Triton and a GPU are present)
from . import distributed  # noqa: F401  (pasa.distributed.ring_attention)
from .api import attention
from .contract import BASELINES, DEFAULT_BLOCK_N, DEFAULT_VARIANT, VARIANTS
from .merge import merge_attention
from .sdpa import sdpa
from .varlen import attention_varlen

__all__ = ["attention", "attention_varlen", "merge_attention", "sdpa", "VARIANTS", "BASELINES", "DEFAULT_VARIANT",
           "DEFAULT_BLOCK_N"]
