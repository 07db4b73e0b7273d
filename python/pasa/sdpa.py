"""``pasa.sdpa``: a drop-in for ``torch.nn.functional.scaled_dot_product_attention`` backed by ``pasa.attention``.

Same signature and semantics as torch SDPA, with these documented differences:
- ``dropout_p`` must be 0 (PASA is an inference kernel): anything else raises ValueError.
- float32 / float64 inputs are rounded to float16, attended in PASA's half-precision pipeline and the output is
  returned in the input dtype. value is first scaled by a power of two per (..., head) slice into float16's range
  and the output scaled back (exact: the output is linear in value), so small values keep float16's precision
  instead of flushing to zero and large ones fit. A query or key value beyond float16's range (|x| > 65504) raises
  ValueError instead of turning into inf (inside an op of its own, ``pasa::round_to_float16``, so torch.compile
  keeps the check out of the graph); query and key values below float16's normal range (6.1e-5) lose precision as
  float16 does. float16 / bfloat16 inputs go to ``pasa.attention`` as they are.
- value must have key's shape: PASA's kernels take one head dim E for query, key and value (torch SDPA allows
  value's Ev != E); a different Ev raises ValueError.
- ``scale`` must be finite (NaN or ±inf raises ValueError). The kernels take scale > 0, so scale ≤ 0 goes through
  exact identities: scale·q·kᵀ = |scale|·(−q)·kᵀ, and at 0 the query is multiplied by 0 (scores 0, the softmax of
  the mask alone, as torch SDPA).
- Forward only: with autograd recording and an input that requires grad it raises RuntimeError (pasa.attention
  has no backward, and a silently missing gradient would be worse); run under ``torch.no_grad()`` or
  ``torch.inference_mode()``.
As torch SDPA: a query row that sees no key (fully masked, or S = 0) returns zeros; an empty query gives an empty
output; torch's ``CausalBias`` masks work (read as pasa's causal flags, see ``pasa.attention``).
"""
from __future__ import annotations

import math

import torch

from .api import attention, check_argument_types, resolve_mask
from .contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT, FP16_MAX

_HALF = (torch.float16, torch.bfloat16)
_WIDE = (torch.float32, torch.float64)


def sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attn_mask: torch.Tensor | None = None,
         dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
         enable_gqa: bool = False) -> torch.Tensor:
    """softmax(scale·query·keyᵀ + attn_mask)·value with PASA, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (..., Hq, L, E); key, value: (..., Hkv, S, E), the same leading dims as query (no broadcasting) and
            value's last dim equal to E. 2-D (L, E) and 3-D (B, L, E) inputs work as in SDPA.
        attn_mask: broadcastable to (..., Hq, L, S); bool (True = attend) or floating (added to the scaled
            scores), or torch's ``CausalBias`` (``torch.nn.attention.bias.causal_upper_left(L, S)`` /
            ``causal_lower_right(L, S)``).
        dropout_p: must be 0.0.
        is_causal: top-left causal mask (row i sees keys 0..i); may not be combined with attn_mask, as in SDPA.
        scale: softmax scale, default E^-1/2; any finite value (0: the softmax of attn_mask alone, uniform over
            the visible keys).
        enable_gqa: allow Hq != Hkv (Hq a multiple of Hkv; query head h reads KV head h // (Hq / Hkv)).

    Returns:
        (..., Hq, L, E) in query's dtype.

    Raises:
        TypeError: an argument of the wrong type (named), or an unsupported dtype.
        ValueError: shapes that do not fit (value's last dim not key's included), dropout_p != 0, attn_mask with
            is_causal, a scale that is NaN or infinite, float32/float64 values beyond float16's range.
    """
    return sdpa_with_options(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def sdpa_with_options(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                      enable_gqa=False, *, variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N,
                      beta: float | None = None, backend: str = "auto",
                      sinks: torch.Tensor | None = None) -> torch.Tensor:
    """``sdpa`` plus PASA's own options (variant, block_n, beta, backend, sinks (Hq,); see ``pasa.attention``)."""
    check_argument_types("pasa.sdpa", query=query, key=key, value=value, attn_mask=attn_mask, dropout_p=dropout_p,
                         is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    _check(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
        raise RuntimeError("pasa.sdpa: PASA has no backward yet, and query/key/value require grad; call it under "
                           "torch.no_grad() or torch.inference_mode() (or detach the inputs)")
    attn_mask, is_causal, causal_align = resolve_mask(attn_mask, is_causal, "top_left", query.shape[-2],
                                                      key.shape[-2], "pasa.sdpa", "attn_mask", "is_causal")
    mask = _mask_as_bnsd(attn_mask, query, key)
    out_shape = query.shape[:-1] + (value.shape[-1],)
    if query.numel() == 0 or key.numel() == 0:    # no query rows (empty output) or no keys (zeros), as SDPA
        return query.new_zeros(out_shape)
    if scale is not None and scale <= 0:   # the kernels take scale > 0; both are exact, before any rounding
        query, scale = (-query, -scale) if scale < 0 else (query * 0, 1.0)
    out_dtype = query.dtype
    v_exp = None
    if out_dtype in _WIDE:
        value, v_exp = _value_in_float16_range(value, query)
        query, key, value = (round_to_float16(t, name) for t, name in ((query, "query"), (key, "key"),
                                                                       (value, "value")))
    q, k, v = (_as_bnsd(t) for t in (query, key, value))
    out = attention(q, k, v, causal=is_causal, causal_align=causal_align, mask=mask, scale=scale, variant=variant,
                    block_n=block_n, beta=beta, backend=backend, sinks=sinks)
    out = out.reshape(out_shape).to(out_dtype)
    return out if v_exp is None else out * torch.exp2(v_exp)


def _value_in_float16_range(value: torch.Tensor, query: torch.Tensor):
    """value·2^(−ε) with ε per (..., head) slice so the slice's largest finite |v| lies in [2^14, 2^15), and ε
    as the query's heads read it ((..., Hq, 1, 1), float of value's dtype). The output is linear in v, so
    out(v) = out(v·2^(−ε))·2^ε exactly: small values keep fp16's 11 bits instead of flushing to zero, and large
    ones fit. Powers of two are exact in float32/float64."""
    finite = torch.where(torch.isfinite(value), value.abs(), torch.zeros_like(value))
    _, exp = torch.frexp(finite.amax(dim=(-2, -1), keepdim=True))   # amax = m·2^exp, m in [0.5, 1)
    eps = (exp - 15).to(value.dtype)
    scaled = value * torch.exp2(-eps)
    if value.dim() >= 3 and query.shape[-3] != value.shape[-3]:      # GQA: query head h reads KV head h // G
        eps = eps.repeat_interleave(query.shape[-3] // value.shape[-3], dim=-3)
    return scaled, eps


def _check(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() < 2:
            raise ValueError(f"pasa.sdpa: {name} must have at least 2 dims (..., L, E), got shape {tuple(t.shape)}")
        if t.dtype not in _HALF + _WIDE:
            raise TypeError(f"pasa.sdpa: {name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(f"pasa.sdpa: query, key and value must share one dtype, got {query.dtype}, {key.dtype}, "
                        f"{value.dtype}")
    if dropout_p != 0.0:
        raise ValueError(f"pasa.sdpa: dropout_p must be 0.0 (PASA is an inference kernel without dropout), "
                         f"got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError("pasa.sdpa: pass either attn_mask or is_causal=True, not both (as torch SDPA)")
    if scale is not None and not -math.inf < scale < math.inf:   # NaN too (math.isfinite fails on a SymFloat)
        raise ValueError(f"pasa.sdpa: scale must be finite (or None for E^-1/2), got {scale}")
    if not (query.dim() == key.dim() == value.dim()):
        raise ValueError(f"pasa.sdpa: query, key and value must have the same number of dims, got shapes "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"pasa.sdpa: query's last dim E ({query.shape[-1]}) must equal key's ({key.shape[-1]}); "
                         f"got {shapes}")
    if value.shape[-1] != key.shape[-1]:
        raise ValueError(f"pasa.sdpa: value's last dim Ev ({value.shape[-1]}) must equal the head dim E of query "
                         f"and key ({key.shape[-1]}): PASA's kernels take one head dim (torch SDPA allows Ev != E); "
                         f"got {shapes}")
    if key.shape != value.shape:
        raise ValueError(f"pasa.sdpa: key and value must have the same shape, got {shapes}")
    if query.dim() >= 3:
        if query.shape[:-3] != key.shape[:-3]:
            raise ValueError(f"pasa.sdpa: query and key must have the same leading (batch) dims, got "
                             f"{tuple(query.shape[:-3])} and {tuple(key.shape[:-3])}")
        hq, hkv = query.shape[-3], key.shape[-3]
        if hq != hkv:
            if not enable_gqa:
                raise ValueError(f"pasa.sdpa: query has {hq} heads and key {hkv}; pass enable_gqa=True for "
                                 f"grouped-query attention")
            if hkv == 0 or hq % hkv:
                raise ValueError(f"pasa.sdpa: query's head count ({hq}) must be a multiple of key's ({hkv}) for GQA")


@torch.library.custom_op("pasa::round_to_float16", mutates_args=())
def round_to_float16(x: torch.Tensor, name: str) -> torch.Tensor:
    """x rounded to float16; ValueError (naming ``name``) where a finite value lies beyond float16's range, which
    the rounding would turn into inf. An op of its own: its data-dependent check runs inside the op, so
    torch.compile traces pasa.sdpa's float32 path into one graph."""
    if bool((x.abs().gt(FP16_MAX) & torch.isfinite(x)).any()):
        raise ValueError(f"pasa.sdpa: {name} holds values beyond float16's range (|x| > {FP16_MAX:g}); PASA "
                         f"computes in float16, so rescale the input or pass bfloat16")
    return x.to(torch.float16)


@round_to_float16.register_fake
def _(x: torch.Tensor, name: str) -> torch.Tensor:
    return torch.empty_like(x, dtype=torch.float16)


def _as_bnsd(t: torch.Tensor) -> torch.Tensor:
    """(..., H, S, E) → (B', H, S, E) with every leading dim folded into B'; (B, S, E) → (1, B, S, E);
    (S, E) → (1, 1, S, E). flatten/unsqueeze, not reshape(-1, ...), so that empty tensors fold too."""
    if t.dim() == 2:
        return t[None, None]
    if t.dim() == 3:
        return t.unsqueeze(0)
    return t.flatten(0, -4)


def _mask_as_bnsd(mask: torch.Tensor | None, query: torch.Tensor, key: torch.Tensor):
    """The mask in a shape pasa.attention broadcasts: up to 2-D and 4-D BNSD pass as they are, others are
    expanded to (..., Hq, L, S) and folded like the query."""
    if mask is None:
        return None
    full = query.shape[:-1] + (key.shape[-2],)
    try:
        fits = mask.dim() <= len(full) and torch.broadcast_shapes(mask.shape, full) == full
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"pasa.sdpa: attn_mask must broadcast to {tuple(full)}, got shape {tuple(mask.shape)}")
    if mask.dim() <= 2 or (query.dim() == 4 and mask.dim() <= 4):
        return mask
    return _as_bnsd(mask.expand(full))
