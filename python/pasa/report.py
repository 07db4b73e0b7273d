"""The accuracy report's outputs: the text table, a JSON record and the PNG plot of RMSE against mean and amplitude.

``python -m pasa accuracy`` (pasa.cli) measures; this module only formats. matplotlib is optional: without it
``plot_accuracy`` raises ImportError and the command prints why it wrote no plot.
"""
from __future__ import annotations

import json
import math

CELL_WIDTH = 22
CASE_WIDTH = 36


def header(schemes) -> str:
    return f"{'case':{CASE_WIDTH}s}" + "".join(f"{s:>{CELL_WIDTH}s}" for s in schemes)


def row(name: str, result: dict, schemes) -> str:
    return f"{name:{CASE_WIDTH}s}" + "".join(f"{cell(result[s]):>{CELL_WIDTH}s}" for s in schemes)


def cell(e: dict) -> str:
    """RMSE (relative RMSE), or the count of non-finite outputs."""
    if e["nonfinite"]:
        return f"non-finite ({e['nonfinite']})"
    return f"{e['rmse']:.2e} ({e['rel_rmse']:.1e})"


def write_json(path: str, settings: dict, records: list[dict]) -> None:
    """settings: the command's options; records: {"suite", "name", "causal", "params", "errors": {scheme: ...}}."""
    def finite(x):
        return x if not (isinstance(x, float) and math.isinf(x)) else None   # strict JSON: inf → null
    clean = [{**r, "errors": {s: {k: finite(v) for k, v in e.items()} for s, e in r["errors"].items()}}
             for r in records]
    with open(path, "w") as f:
        json.dump({"settings": settings, "cases": clean}, f, indent=1)


def plot_accuracy(records: list[dict], schemes, path: str, title: str = "") -> None:
    """One panel per (grid suite, amplitude): RMSE against the mean, a line per scheme, log scale; a last row
    with the stress cases. Non-finite results are drawn as crosses on the panel's top edge, labelled overflow."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [s for s in dict.fromkeys(r["suite"] for r in records) if s != "stress"]
    stress = [r for r in records if r["suite"] == "stress"]
    amps = sorted({r["params"]["amp"] for r in records if r["suite"] in grids})
    ncols = max(len(amps), 1)
    nrows = len(grids) + (1 if stress else 0)
    if nrows == 0:
        raise ValueError("plot_accuracy: no cases to plot")
    fig = plt.figure(figsize=(3.6 * ncols + 1.5, 3.0 * nrows + 0.8), constrained_layout=True)
    gs = fig.add_gridspec(nrows, ncols)
    colours = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(schemes)}
    finite = [e["rmse"] for r in records for e in r["errors"].values() if e["rmse"] and math.isfinite(e["rmse"])]
    lo, hi = (min(finite) / 3, max(finite) * 3) if finite else (1e-6, 1.0)
    top = hi * 3                                            # where overflowed points sit

    for gi, suite in enumerate(grids):
        for ai, amp in enumerate(amps):
            ax = fig.add_subplot(gs[gi, ai])
            cases = sorted((r for r in records if r["suite"] == suite and r["params"]["amp"] == amp),
                           key=lambda r: r["params"]["mean"])
            means = [r["params"]["mean"] for r in cases]
            for s in schemes:
                ys = [max(r["errors"][s]["rmse"], lo) for r in cases]          # an exact 0 sits on the bottom edge
                ax.plot(means, [y if math.isfinite(y) else math.nan for y in ys], "o-", ms=3, color=colours[s],
                        label=s)
                bad = [m for m, y in zip(means, ys) if not math.isfinite(y)]
                ax.plot(bad, [top] * len(bad), "x", ms=7, mew=2, color=colours[s])
            _axes(ax, lo, top, f"{suite}, amp {amp:g}", "mean")
            if ai == 0:
                ax.set_ylabel("RMSE vs float64")
    if stress:
        ax = fig.add_subplot(gs[nrows - 1, :])
        xs = range(len(stress))
        for si, s in enumerate(schemes):
            offset = (si - (len(schemes) - 1) / 2) * 0.1
            ys = [max(r["errors"][s]["rmse"], lo) for r in stress]
            ax.plot([x + offset for x in xs], [y if math.isfinite(y) else math.nan for y in ys], "o", ms=5,
                    color=colours[s], label=s)
            bad = [x + offset for x, y in zip(xs, ys) if not math.isfinite(y)]
            ax.plot(bad, [top] * len(bad), "x", ms=8, mew=2, color=colours[s])
        ax.set_xticks(list(xs), [r["name"].replace("stress ", "") for r in stress], fontsize=8)
        _axes(ax, lo, top, "stress cases", None)
        ax.set_ylabel("RMSE vs float64")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="scheme")
    fig.suptitle(title + "\n× on the top edge: non-finite output (fp16 overflow)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _axes(ax, lo, top, title, xlabel):
    ax.set_yscale("log")
    ax.set_ylim(lo, top * 2)
    ax.axhline(top, color="0.6", lw=0.8, ls=":")
    ax.set_title(title, fontsize=9)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.grid(True, which="major", alpha=0.3)
