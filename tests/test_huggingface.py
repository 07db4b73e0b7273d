"""attn_implementation="pasa" in transformers: small models built from a config (random weights, no download)
against transformers' eager attention, and every keyword the adapter cannot honour refused by name."""
import pytest
import torch

transformers = pytest.importorskip("transformers")
hf = pytest.importorskip("pasa.integrations.huggingface")
from pasa.model import model_attention  # noqa: E402
from pasa.reference import golden_attention  # noqa: E402
from pasa.tolerance import check_backend  # noqa: E402
if hf.AttentionInterface is None:
    pytest.skip("transformers without masking_utils (< 4.53)", allow_module_level=True)

SMALL = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=100)


def _configs():
    return {
        "llama": transformers.LlamaConfig(num_key_value_heads=2, **SMALL),                   # causal, GQA
        "mistral": transformers.MistralConfig(num_key_value_heads=2, sliding_window=4, **SMALL),  # window in the mask
        "bert": transformers.BertConfig(**SMALL),                                            # bidirectional, padding
        "t5": transformers.T5Config(d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                                    vocab_size=100),                                         # position_bias
    }


def _inputs(name):
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(1, 100, (2, 9), generator=g)
    padding = torch.ones(2, 9, dtype=torch.long)
    padding[1, :3] = 0
    kw = dict(input_ids=ids, attention_mask=padding)
    if name == "t5":
        kw["decoder_input_ids"] = ids[:, :4]
    seen = torch.ones(2, 4, 1, dtype=torch.bool) if name == "t5" else padding.bool()[:, :, None]
    return kw, seen


@pytest.mark.parametrize("name", ["llama", "mistral", "bert", "t5"])
def test_pasa_matches_eager_attention(name):
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(_configs()[name], attn_implementation="eager").eval()
    kw, seen = _inputs(name)
    with torch.no_grad():
        eager = model(**kw).last_hidden_state
        model.set_attn_implementation("pasa")        # registered by importing pasa.integrations.huggingface
        got = model(**kw).last_hidden_state
    diff = ((got - eager) * seen).abs().max().item()   # padded query rows are left out, as their output is unused
    print(name, "max |pasa - eager|", diff)
    assert diff < 5e-3, f"{name}: {diff}"


def test_sliding_window_reaches_pasa_through_the_mask():
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(_configs()["mistral"], attn_implementation="pasa").eval()
    ids = torch.randint(1, 100, (1, 9))
    with torch.no_grad():
        windowed = model(input_ids=ids).last_hidden_state
        model.config.sliding_window = None
        full = model(input_ids=ids).last_hidden_state
    assert (windowed - full).abs().max() > 0.1     # the window of 4 changed rows 4..8


@pytest.mark.parametrize("name", ["llama", "t5"])
def test_output_attentions_is_refused(name):
    model = transformers.AutoModel.from_config(_configs()[name], attn_implementation="pasa").eval()
    kw, _ = _inputs(name)
    with torch.no_grad(), pytest.raises(NotImplementedError, match="output_attentions=True: pasa computes no "
                                                                   "attention weights"):
        model(**kw, output_attentions=True)


class _Decoder(torch.nn.Module):
    is_causal = True


QKV = tuple(torch.randn(1, 4, 6, 16) for _ in range(3))


@pytest.mark.parametrize("keyword,value,exc,match", [
    ("output_attentions", True, NotImplementedError, "output_attentions=True"),
    ("softcap", 50.0, NotImplementedError, "softcap=50.0: pasa has no logit soft-capping"),
    ("head_mask", torch.ones(4), NotImplementedError, "head_mask"),
    ("some_new_bias", torch.ones(6, 6), TypeError, "keyword some_new_bias=<Tensor"),
    ("window_size", 3, TypeError, "keyword window_size=3"),
])
def test_keywords_it_does_not_implement_raise_by_name(keyword, value, exc, match):
    fn = hf.make_attention_function()
    with pytest.raises(exc, match=match):
        fn(_Decoder(), *QKV, None, **{keyword: value})


def test_keywords_without_a_value_and_bookkeeping_pass():
    fn = hf.make_attention_function()
    ref, _ = fn(_Decoder(), *QKV, None)
    out, _ = fn(_Decoder(), *QKV, None, output_attentions=False, softcap=None, s_aux=None, some_new_bias=None,
                position_ids=torch.arange(6)[None], use_cache=True, sliding_window=None)
    assert torch.equal(out, ref)


def test_position_bias_folds_into_the_float_mask():
    q, k, v = QKV
    bias = torch.randn(1, 4, 6, 6)
    padding = torch.ones(1, 1, 6, 6, dtype=torch.bool)
    padding[..., :2] = False
    fn = hf.make_attention_function()
    for mask, causal in ((None, True), (None, False), (padding, False)):
        module = _Decoder()
        module.is_causal = causal
        out, _ = fn(module, q, k, v, mask, position_bias=bias, scaling=1.0)
        hidden = torch.zeros(6, 6, dtype=torch.bool) if mask is None else ~mask
        if causal:
            hidden = hidden | torch.ones(6, 6, dtype=torch.bool).triu(1)
        folded = bias.masked_fill(hidden, float("-inf"))   # what pasa must attend with, on its fp16-rounded inputs
        q16, k16, v16 = (t.half() for t in (q, k, v))
        check_backend(out.transpose(1, 2), model_attention(q16, k16, v16, mask=folded, scale=1.0),
                      golden_attention(q16, k16, v16, mask=folded, scale=1.0), what="position_bias")


@pytest.mark.parametrize("options,exc,match", [
    (dict(variant="nope"), ValueError, "pasa register: variant must be 'exact', 'pasa' or 'paper', got 'nope'"),
    (dict(block_n=100), ValueError, "pasa register: block_n must be a multiple of 16"),
    (dict(block_n=64.0), TypeError, "pasa register: block_n must be an int"),
    (dict(variant="pasa", beta=1.5), ValueError, r"beta must lie in \(0, 1\)"),
    (dict(beta=0.9), ValueError, "beta is fixed at 1 for variant 'exact'"),
    (dict(backend="bogus"), ValueError, "backend must be one of"),
    (dict(varaint="paper"), TypeError, r"unknown option\(s\) \['varaint'\]"),
])
def test_register_checks_its_options_at_once(options, exc, match):
    with pytest.raises(exc, match=match):
        hf.register("bad", **options)
    assert "bad" not in transformers.AttentionInterface._global_mapping


def test_an_attention_function_registered_without_its_mask_builder_names_register():
    transformers.AttentionInterface.register("pasa-by-hand", hf.make_attention_function())
    model = transformers.AutoModel.from_config(_configs()["bert"], attn_implementation="pasa-by-hand").eval()
    kw, _ = _inputs("bert")
    with torch.no_grad(), pytest.raises(RuntimeError, match=r"register\('pasa-by-hand'\)"):
        model(**kw)
    hf.register("pasa-by-hand")
    with torch.no_grad():
        model(**kw)
