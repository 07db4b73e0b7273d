"""Hugging Face transformers: ``attn_implementation="pasa"``.

    import pasa.integrations.huggingface                 # registers attn_implementation="pasa"
    model = AutoModel.from_pretrained(path, attn_implementation="pasa")
    # or, on a loaded model: model.set_attn_implementation("pasa")
    pasa.integrations.huggingface.register("pasa-paper", variant="paper")   # other options under another name

Importing this module registers the default name (when transformers is installed); ``register`` adds more names
with other options. Each registration adds an attention function to transformers' ``AttentionInterface`` and the
boolean (True = attend) mask builder that SDPA uses, ``sdpa_mask``, to ``AttentionMaskInterface`` (without it
transformers would build no padding mask at all), so every model whose attention goes through the interface
(BERT, Llama, Qwen2, Mistral, T5, ... in transformers >= 4.53, the first with ``masking_utils``) runs its
attention with ``pasa.sdpa``. float32 models keep their float32 weights: Q/K/V are rounded to float16 for PASA
and the output returns in float32.

The attention function implements SDPA's path of transformers (``sdpa_attention_forward``), passes GPT-OSS's
attention sinks (``s_aux``, one logit per head) to ``pasa.attention(sinks=...)``, and refuses what it cannot honour
instead of dropping it: attention weights (``output_attentions=True``), ``softcap``, dropout, paged caches and any
keyword it does not know that carries a value.
"""
from __future__ import annotations

import torch

from ..api import BACKENDS, attention, check_argument_types
from ..contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT
from ..masking import block_bias
from ..sdpa import sdpa_with_options

try:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask
except ImportError:   # transformers missing or older than 4.53: make_attention_function still works
    AttentionInterface = None

DEFAULT_NAME = "pasa"
# keywords transformers passes that the attention needs nothing from: bookkeeping, or facts already in the mask
# that sdpa_mask builds (the sliding window; packed-sequence boundaries, which it reads from position_ids), or the
# encoder states that key/value were projected from
IGNORED_KEYWORDS = frozenset({
    "position_ids", "cache_position", "use_cache", "past_key_values", "output_hidden_states", "output_router_logits",
    "num_items_in_batch", "return_dict", "encoder_hidden_states", "sliding_window", "cu_seq_lens_q",
    "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx", "deterministic",
})
# keywords whose feature pasa does not implement: a value (not None / False) raises NotImplementedError
UNSUPPORTED_KEYWORDS = {
    "output_attentions": "pasa computes no attention weights (flash attention never forms them); use "
                         "attn_implementation='eager' to return them",
    "softcap": "pasa has no logit soft-capping (Gemma 2's attn_logit_softcapping); use attn_implementation='eager'",
    "cache": "paged attention caches (continuous batching) are not supported",
    "head_mask": "per-head masks are not supported",
}


def make_attention_function(variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N,
                            beta: float | None = None, backend: str = "auto"):
    """An attention function with the signature transformers' ``AttentionInterface`` calls:
    ``fn(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, position_bias=None,
    **kwargs)`` with BNSD query/key/value; returns ``(output (B, S, N, D), None)``.

    The options are checked now (ValueError/TypeError naming the option), not at the first forward.
    ``position_bias`` (T5's relative position bias, (B or 1, N, S1, S2)) is added to the float mask, as
    transformers' SDPA path does; ``s_aux`` (GPT-OSS's per-head attention sinks) becomes ``sinks``. Raises
    NotImplementedError for a keyword of ``UNSUPPORTED_KEYWORDS`` with a value, TypeError for any other keyword it
    does not know that carries a value, ValueError for dropout > 0."""
    _check_options(variant=variant, block_n=block_n, beta=beta, backend=backend)

    def pasa_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                               value: torch.Tensor, attention_mask: torch.Tensor | None, dropout: float = 0.0,
                               scaling: float | None = None, is_causal: bool | None = None,
                               position_bias: torch.Tensor | None = None, **kwargs):
        sinks = kwargs.pop("s_aux", None)
        _check_keywords(kwargs)
        _check_mask_builder(module)
        if dropout:
            raise ValueError(f"pasa attention has no dropout (got {dropout}); call model.eval() first")
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = attention_mask[:, :, :, : key.shape[-2]]
        is_causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
        # as transformers' SDPA path: an explicit mask already holds the causal pattern
        is_causal = bool(is_causal and attention_mask is None and query.shape[2] > 1)
        if position_bias is not None:   # one float mask: the bias plus the boolean/float mask and causal pattern
            hidden = block_bias(attention_mask, is_causal, "top_left", query.shape[2], key.shape[2], 0, key.shape[2])
            bias = position_bias[..., : key.shape[-2]].float()
            attention_mask, is_causal = (bias if hidden is None else bias + hidden), False
        out = sdpa_with_options(query, key, value, attn_mask=attention_mask, is_causal=is_causal, scale=scaling,
                                enable_gqa=query.shape[1] != key.shape[1], variant=variant, block_n=block_n,
                                beta=beta, backend=backend, sinks=sinks)
        return out.transpose(1, 2).contiguous(), None

    pasa_attention_forward.pasa_options = {"variant": variant, "block_n": block_n, "beta": beta, "backend": backend}
    return pasa_attention_forward


def register(name: str = DEFAULT_NAME, **options) -> str:
    """Registers ``attn_implementation=name`` with transformers (options: ``variant``, ``block_n``, ``beta``,
    ``backend``, as ``pasa.attention``'s); returns the name. The options are checked here: TypeError for an
    unknown option or a wrong type, ValueError for a value ``pasa.attention`` does not take. Raises ImportError
    if the installed transformers has no ``AttentionInterface`` and ``masking_utils`` (< 4.53)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"pasa register: name must be a non-empty str, got {name!r}")
    unknown = sorted(set(options) - {"variant", "block_n", "beta", "backend"})
    if unknown:
        raise TypeError(f"pasa register: unknown option(s) {unknown}; the options are variant, block_n, beta, "
                        f"backend")
    function = make_attention_function(**options)
    if AttentionInterface is None:
        raise ImportError("pasa: attn_implementation='pasa' needs transformers with AttentionInterface and "
                          "masking_utils (>= 4.53)")
    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, sdpa_mask)
    return name


def _check_options(variant, block_n, beta, backend) -> None:
    """The options' types and values, checked by pasa.attention itself on empty meta tensors (no data, no
    kernel): the one place that knows which variants, block lengths and β it takes."""
    check_argument_types("pasa register", variant=variant, block_n=block_n, beta=beta, backend=backend)
    if backend not in BACKENDS:
        raise ValueError(f"pasa register: backend must be one of {BACKENDS}, got {backend!r}")
    q = torch.empty(1, 1, 1, 16, dtype=torch.float16, device="meta")
    try:
        attention(q, q, q, variant=variant, block_n=block_n, beta=beta)
    except ValueError as err:
        raise ValueError(str(err).replace("pasa.attention:", "pasa register:")) from None


def _check_keywords(kwargs: dict) -> None:
    for keyword, value in kwargs.items():
        if keyword in IGNORED_KEYWORDS or value is None or value is False:
            continue
        if keyword in UNSUPPORTED_KEYWORDS:
            raise NotImplementedError(f"pasa attention: {keyword}={_short(value)}: {UNSUPPORTED_KEYWORDS[keyword]}")
        raise TypeError(f"pasa attention: got the keyword {keyword}={_short(value)}, which it does not implement "
                        f"(pasa.integrations.huggingface.IGNORED_KEYWORDS lists those it may ignore)")


def _check_mask_builder(module: torch.nn.Module) -> None:
    """An attention function registered without its mask builder would get no padding mask from transformers
    (masking_utils builds none for an implementation it does not know): refuse that instead of ignoring padding."""
    name = getattr(getattr(module, "config", None), "_attn_implementation", None)
    if AttentionInterface is None or not isinstance(name, str):
        return
    if name not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        raise RuntimeError(f"pasa attention runs as attn_implementation={name!r}, but no mask builder is registered "
                           f"for it; register it with pasa.integrations.huggingface.register({name!r}), which adds "
                           f"both")


def _short(value) -> str:
    return f"<{type(value).__name__} {tuple(value.shape)}>" if isinstance(value, torch.Tensor) else f"{value!r:.40}"


if AttentionInterface is not None:   # the default name: attn_implementation="pasa" works once this is imported
    register()
