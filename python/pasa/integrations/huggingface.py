"""Hugging Face transformers: ``attn_implementation="pasa"``.

    import pasa.integrations.huggingface as pasa_hf
    pasa_hf.register()                                   # once per process
    model = AutoModel.from_pretrained(path, attn_implementation="pasa")
    # or, on a loaded model: model.set_attn_implementation("pasa")

``register`` adds an attention function to transformers' ``AttentionInterface`` and the boolean (True = attend)
mask builder that SDPA uses to ``AttentionMaskInterface``, so every model whose attention goes through the
interface (BERT, Llama, Qwen2, Mistral, ... in transformers >= 4.48) runs its attention with ``pasa.sdpa``.
float32 models keep their float32 weights: Q/K/V are rounded to float16 for PASA and the output returns in float32.
"""
from __future__ import annotations

import torch

from ..contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT
from ..sdpa import sdpa_with_options

DEFAULT_NAME = "pasa"


def make_attention_function(variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N,
                            beta: float | None = None, backend: str = "auto"):
    """An attention function with the signature transformers' ``AttentionInterface`` calls:
    ``fn(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs)`` with
    BNSD query/key/value; returns ``(output (B, S, N, D), None)``. ``s_aux`` (GPT-OSS's per-head attention sinks)
    becomes ``sinks``."""

    def pasa_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                               value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
                               scaling: float | None = None, is_causal: bool | None = None, **kwargs):
        if kwargs.get("softcap") is not None:
            raise ValueError("pasa attention does not support softcap")
        if kwargs.get("position_bias") is not None:
            raise ValueError("pasa attention does not support a per-layer position_bias")
        if dropout:
            raise ValueError(f"pasa attention has no dropout (got {dropout}); call model.eval() first")
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = attention_mask[:, :, :, : key.shape[-2]]
        is_causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
        # as transformers' SDPA path: an explicit mask already holds the causal pattern
        is_causal = bool(is_causal and attention_mask is None and query.shape[2] > 1)
        out = sdpa_with_options(query, key, value, attn_mask=attention_mask, is_causal=is_causal, scale=scaling,
                                enable_gqa=query.shape[1] != key.shape[1], variant=variant, block_n=block_n,
                                beta=beta, backend=backend, sinks=kwargs.get("s_aux"))
        return out.transpose(1, 2).contiguous(), None

    pasa_attention_forward.pasa_options = {"variant": variant, "block_n": block_n, "beta": beta, "backend": backend}
    return pasa_attention_forward


def register(name: str = DEFAULT_NAME, **options) -> str:
    """Registers ``attn_implementation=name`` with transformers (options: see ``make_attention_function``);
    returns the name. Raises ImportError if the installed transformers has no ``AttentionInterface``."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError as err:
        raise ImportError("pasa: attn_implementation='pasa' needs transformers with AttentionInterface and "
                          "masking_utils (>= 4.53)") from err
    AttentionInterface.register(name, make_attention_function(**options))
    AttentionMaskInterface.register(name, sdpa_mask)
    return name
