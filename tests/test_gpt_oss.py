"""Attention sinks in a real architecture: a small GptOssForCausalLM (config only, random weights, nothing
downloaded) with ``attn_implementation="pasa"`` matches its eager attention, whose softmax takes each head's sink
(``s_aux``) as one more logit."""
import pytest
import torch

transformers = pytest.importorskip("transformers")
GptOssConfig = getattr(transformers, "GptOssConfig", None)
if GptOssConfig is None:
    pytest.skip("this transformers has no GPT-OSS", allow_module_level=True)


def small_model(seed):
    config = GptOssConfig(vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_local_experts=4,
                          num_experts_per_tok=2, sliding_window=8, layer_types=["sliding_attention", "full_attention"])
    torch.manual_seed(seed)
    model = transformers.GptOssForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:         # sinks of the size of the scores, so that they matter
            layer.self_attn.sinks.copy_(torch.randn_like(layer.self_attn.sinks) * 2 + 1)
    return model


def test_gpt_oss_pasa_matches_eager(seed):
    import pasa.integrations.huggingface as pasa_hf

    pasa_hf.register()
    model = small_model(seed)
    ids = torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0                                  # left padding in the second sequence
    with torch.no_grad():
        model.set_attn_implementation("eager")
        eager = model(input_ids=ids, attention_mask=mask).logits
        model.set_attn_implementation("pasa")
        got = model(input_ids=ids, attention_mask=mask).logits
        # the same model without sinks: the error the sinks must not leave
        for layer in model.model.layers:
            layer.self_attn.sinks.fill_(-torch.inf)
        no_sinks = model(input_ids=ids, attention_mask=mask).logits
    keep = mask.bool()
    diff = float((got - eager)[keep].abs().max())
    without = float((no_sinks - eager)[keep].abs().max())
    print(f"max |pasa - eager| {diff:.2e}; with the sinks dropped {without:.2e}")
    assert diff < 0.02 * without and diff < 5e-3
