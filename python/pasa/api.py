"""The public entry point: ``pasa.attention``, a thin layer over ``torch.ops.pasa.attention``.

Argument types are checked here, in one table (``ARGUMENT_TYPES``), before the dispatcher sees them: a wrong type
raises a TypeError naming the argument instead of the dispatcher's list of schema overloads, and a Python number the
schema cannot hold (an int beyond int64, a float beyond float64) a ValueError. Values (shapes,
dtypes, variant names, block_n, beta, ...) are checked once for every backend by the op itself
(csrc/attention_args.cpp).
"""
from __future__ import annotations

import decimal
import numbers

import torch
from torch.nn.attention.bias import CausalBias, CausalVariant
from torch.overrides import has_torch_function

from .contract import DEFAULT_BLOCK_N, DEFAULT_VARIANT

LAYOUTS = ("BNSD", "BSND")
# backend names and the device each runs on; "auto" picks the device's kernel. Each device's kernel checks the
# names it takes (csrc/cpu/register_cpu.cpp, python/pasa/cuda/op.py, csrc/npu/register_npu.cpp).
BACKEND_DEVICES = {"native": "cpu", "ascend-sim": "cpu", "triton": "cuda", "npu": "npu"}
BACKENDS = ("auto",) + tuple(BACKEND_DEVICES)


def _tensor(x) -> bool:
    return isinstance(x, torch.Tensor)


def _integer(x) -> bool:
    return isinstance(x, (numbers.Integral, torch.SymInt)) and not isinstance(x, bool)


def _real(x) -> bool:
    return isinstance(x, (numbers.Real, torch.SymFloat, torch.SymInt)) and not isinstance(x, bool)


def _optional(accepts):
    return lambda x: x is None or accepts(x)


# argument → (accepts, what it must be): the one table of the public functions' argument types (pasa.attention's
# and pasa.sdpa's names); each function checks every argument it receives against it
ARGUMENT_TYPES = {
    "q": (_tensor, "a torch.Tensor"),
    "k": (_tensor, "a torch.Tensor"),
    "v": (_tensor, "a torch.Tensor"),
    "causal": (lambda x: isinstance(x, bool), "a bool"),
    "causal_align": (lambda x: isinstance(x, str), "a str ('top_left' or 'bottom_right')"),
    "mask": (_optional(_tensor), "None or a torch.Tensor"),
    "scale": (_optional(_real), "None or a float"),
    "variant": (lambda x: isinstance(x, str), "a str ('exact', 'pasa' or 'paper')"),
    "block_n": (_integer, "an int"),
    "beta": (_optional(_real), "None or a float"),
    "layout": (lambda x: isinstance(x, str), f"a str (one of {LAYOUTS})"),
    "backend": (lambda x: isinstance(x, str), f"a str (one of {BACKENDS})"),
    # pasa.sdpa's names (torch SDPA's)
    "query": (_tensor, "a torch.Tensor"),
    "key": (_tensor, "a torch.Tensor"),
    "value": (_tensor, "a torch.Tensor"),
    "attn_mask": (_optional(_tensor), "None or a torch.Tensor"),
    "dropout_p": (_real, "a float"),
    "is_causal": (lambda x: isinstance(x, bool), "a bool"),
    "enable_gqa": (lambda x: isinstance(x, bool), "a bool"),
    # the log-sum-exp and sinks (pasa.attention, pasa.attention_varlen, pasa.sdpa_with_options)
    "return_lse": (lambda x: isinstance(x, bool), "a bool"),
    "sinks": (_optional(_tensor), "None or a torch.Tensor (N,)"),
    # pasa.attention_varlen's (flash-attn's names)
    "cu_seqlens_q": (_tensor, "a torch.Tensor (B + 1,) of int32 or int64"),
    "cu_seqlens_k": (_tensor, "a torch.Tensor (B + 1,) of int32 or int64"),
    "max_seqlen_q": (_integer, "an int"),
    "max_seqlen_k": (_integer, "an int"),
}


INT64_MIN, INT64_MAX = -2**63, 2**63 - 1   # the schema's int; its float is float64


def check_argument_types(function: str, **arguments) -> None:
    """Raises TypeError naming the first argument whose type ``ARGUMENT_TYPES`` does not accept, and ValueError for a
    Python number the schema cannot hold: an int argument outside int64, a float one beyond float64 (10**400)."""
    for name, value in arguments.items():
        accepts, expected = ARGUMENT_TYPES[name]
        if not accepts(value):
            raise TypeError(f"{function}: {name} must be {expected}, got {_describe(value)}")
        if isinstance(value, (torch.SymInt, torch.SymFloat)) or not _real(value):
            continue
        if accepts is _integer and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{function}: {name} must fit in int64 ([-2**63, 2**63 - 1]), got {_huge(value)}")
        try:
            float(value)
        except OverflowError:
            raise ValueError(f"{function}: {name} must fit in float64 (|x| <= {torch.finfo(torch.float64).max}), "
                             f"got {_huge(value)}") from None


def _huge(value) -> str:
    """A number too large for the schema, readably: an int's digits, or its magnitude past 30 of them (repr fails
    past 4300)."""
    if not isinstance(value, numbers.Integral):
        return _describe(value)
    value = int(value)
    return repr(value) if value.bit_length() <= 96 else f"an int of magnitude {decimal.Decimal(value):.3e}"


def _describe(value) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return f"{kind.__qualname__} {value!r:.60}"
    hint = " (torch.from_numpy converts an array)" if kind.__module__ == "numpy" else ""
    return f"{kind.__module__}.{kind.__qualname__}{hint}"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False,
              causal_align: str = "top_left", mask: torch.Tensor | None = None, scale: float | None = None,
              variant: str = DEFAULT_VARIANT, block_n: int = DEFAULT_BLOCK_N, beta: float | None = None,
              layout: str = "BNSD", backend: str = "auto", sinks: torch.Tensor | None = None,
              return_lse: bool = False):
    """PASA attention: softmax(scale·q·kᵀ + mask)·v computed with fp16 tiles that do not overflow.

    Args:
        q: (B, N, S1, D) query, float16 or bfloat16 (``layout="BSND"``: (B, S1, N, D)).
        k, v: (B, Nkv, S2, D) keys and values, q's dtype and device; N must be a multiple of Nkv
            (GQA; Nkv = 1 is MQA), or N = Nkv = 0 (an empty output, as torch SDPA). Query head h reads KV head
            h // (N / Nkv).
        causal: hide keys after the query. ``causal_align="top_left"`` (torch SDPA's ``is_causal``) lets row i
            see keys 0..i; ``"bottom_right"`` (flash-attn's causal, KV-cache decoding) lets it see keys
            0..i + S2 − S1. S1 = 3, S2 = 5, 1 = visible::

                top_left        bottom_right
                1 0 0 0 0       1 1 1 0 0
                1 1 0 0 0       1 1 1 1 0
                1 1 1 0 0       1 1 1 1 1

        causal_align: "top_left" (default) or "bottom_right". ``causal_align="bottom_right"`` without
            ``causal=True`` raises ValueError: an alignment asks for a causal mask, and ignoring it would
            attend to every key.
        mask: broadcastable to (B, N, S1, S2); bool (True = attend) or floating (added to the scaled scores; −inf
            hides a key). The kernels hold a floating mask in float32: a float64 one with a finite value beyond
            float32's range raises ValueError (float32 would make it ±inf, and the softmax NaN). With
            ``causal=True`` both apply: a key is visible where the mask lets it through and the causal limit does
            (``pasa.sdpa`` refuses attn_mask with is_causal, as torch SDPA documents).
            torch's ``CausalBias`` (``torch.nn.attention.bias.causal_upper_left`` / ``causal_lower_right``)
            is read as ``causal=True`` with ``causal_align="top_left"`` / ``"bottom_right"``; other tensor
            subclasses that override torch functions raise TypeError (pass the plain tensor they stand for).
            A row that sees no key returns zeros.
        scale: softmax scale, default D^-1/2.
        variant: "exact" (default: β = 1 block centring, shift in fp32), "pasa" (β < 1, fp32 statistics) or
            "paper" (the published algorithm, all fp16). docs/numerics.md defines each step.
        block_n: KV block length n, a multiple of 16 in [16, 1024] (the CUDA backend: ≤ 256).
        beta: β of the shifting matrix for "pasa" and "paper" (default 0.984497); must be None for "exact".
        layout: "BNSD" or "BSND" for q, k, v and the output.
        backend: "auto" picks the device's kernel; on CPU "native" (C++ operator) or "ascend-sim" (the AscendC
            kernel on the project's simulator), on CUDA "triton", on an Ascend NPU "npu". README's "Backends"
            table gives each one's limits (head dims, block_n).
        sinks: (N,) floating, one logit per query head that joins every row's softmax normaliser as a key whose
            value is zero (attention sinks, GPT-OSS's ``s_aux``): out = Σ exp(x_j)·v_j / (exp(sink) + Σ exp(x_j)).
            A row that sees no key returns zeros; a −inf sink is no sink; values within float32's range, as mask.
            docs/numerics.md, "Attention sinks".
        return_lse: also return the log-sum-exp of each row's scores (and sink), as flash-attn's softmax_lse.

    Returns:
        The attention output in q's layout, shape and dtype, contiguous (BSND too: ``out.view(B, S1, N * D)``
        works). Non-finite inputs propagate to the rows that see them.
        With ``return_lse=True``, ``(out, lse)``: lse float32 (B, N, S1) in either layout, the natural log of the
        row's softmax normaliser (−inf for a row that sees no key and has no sink); ``pasa.merge_attention``
        combines such pairs computed over disjoint key sets.

    Raises:
        TypeError: an argument of the wrong type (named), or q/k/v/mask of a wrong dtype.
        ValueError: shapes, devices or values the op does not take, each naming the argument.
    """
    check_argument_types("pasa.attention", q=q, k=k, v=v, causal=causal, causal_align=causal_align, mask=mask,
                         scale=scale, variant=variant, block_n=block_n, beta=beta, layout=layout, backend=backend,
                         sinks=sinks, return_lse=return_lse)
    if layout not in LAYOUTS:
        raise ValueError(f"pasa.attention: layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "BSND":   # the op checks BNSD tensors, and would word a rank error in the transposed shape
        for name, t in (("q", q), ("k", k), ("v", v)):
            if t.dim() != 4:
                raise ValueError(f"pasa.attention: {name} must be 4-D (B, S, N, D) for layout 'BSND', got shape "
                                 f"{list(t.shape)}")
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    else:
        _check_heads_bnsd(q, k)
    mask, causal, causal_align = resolve_mask(mask, causal, causal_align, q.shape[-2], k.shape[-2],
                                              "pasa.attention", "mask", "causal")
    out, lse = torch.ops.pasa.attention(q, k, v, mask, scale, causal, causal_align, variant, block_n, beta, backend,
                                        return_lse, sinks)
    if layout == "BSND":   # the kernels write BNSD; BSND callers reshape the output to (B, S1, N·D), as with flash-attn
        out = out.transpose(1, 2).contiguous()
    return (out, lse) if return_lse else out


def resolve_mask(mask, causal: bool, causal_align: str, s1: int, s2: int, function: str, mask_name: str,
                 causal_name: str):
    """(mask, causal, causal_align) with torch's CausalBias read as pasa's causal flags (cheaper than its
    materialised S1 × S2 mask); any other tensor subclass that overrides torch functions is refused, since the
    op would read its storage, not the values it stands for."""
    if isinstance(mask, CausalBias):
        if causal or causal_align != "top_left":
            raise ValueError(f"{function}: {mask_name} is a CausalBias, which is the causal mask itself; leave "
                             f"{causal_name} at its default (False)")
        if (mask.seq_len_q, mask.seq_len_kv) != (s1, s2):
            raise ValueError(f"{function}: {mask_name} is a CausalBias for (S1, S2) = ({mask.seq_len_q}, "
                             f"{mask.seq_len_kv}) but the query has S1 = {s1} rows and the keys S2 = {s2}")
        align = "top_left" if mask.variant == CausalVariant.UPPER_LEFT else "bottom_right"
        return None, True, align
    if mask is not None and has_torch_function((mask,)):
        raise TypeError(f"{function}: {mask_name} is a {type(mask).__qualname__}, a tensor subclass that overrides "
                        f"torch functions; pasa reads a mask's values directly, so pass the plain bool or "
                        f"floating tensor it stands for")
    return mask, causal, causal_align


def _check_heads_bnsd(q: torch.Tensor, k: torch.Tensor) -> None:
    """The head-count check of the op, with the hint that (B, S, N, D) tensors need layout="BSND"."""
    if q.dim() != 4 or k.dim() != 4:
        return
    n, nkv, s1, s2 = q.shape[1], k.shape[1], q.shape[2], k.shape[2]
    if (n % nkv if nkv else n) and s2 > 0 and s1 % s2 == 0:
        raise ValueError(f"pasa.attention: q's head count N ({n}) must be a multiple of k's head count Nkv ({nkv}) "
                         f"for GQA/MQA (layout 'BNSD': dim 1 is the head count); for (B, S, N, D) tensors pass "
                         f"layout='BSND'")
