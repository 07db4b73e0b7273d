"""The accuracy report's outputs: the text table, a JSON record and the PNG plot of RMSE against mean and amplitude.

``python -m pasa accuracy`` (pasa.cli) measures; this module only formats. matplotlib is optional: without it
``plot_accuracy`` raises ImportError and the command prints why it wrote no plot.
"""
from __future__ import annotations

import json
import math
import textwrap

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
    """Writes ``accuracy_figure``'s PNG to path."""
    plt = _pyplot()
    fig = accuracy_figure(records, schemes, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def accuracy_figure(records: list[dict], schemes, title: str = ""):
    """One panel per (grid suite, amplitude): RMSE against the mean, a line per scheme, log scale; a last row
    with the stress cases. Non-finite results are drawn as crosses on a dotted line at the top, an RMSE of exactly
    0 (the scheme matched the golden bit for bit) as triangles on a dotted line at the bottom, both inside the
    frame. The figure widens with the number of panels and stress cases, and long titles and case names wrap."""
    plt = _pyplot()
    grids = [s for s in dict.fromkeys(r["suite"] for r in records) if s != "stress"]
    stress = [r for r in records if r["suite"] == "stress"]
    amps = sorted({r["params"]["amp"] for r in records if r["suite"] in grids})
    ncols = max(len(amps), 1)
    nrows = len(grids) + (1 if stress else 0)
    if nrows == 0:
        raise ValueError("plot_accuracy: no cases to plot")
    width = max(3.6 * ncols, 1.6 * len(stress), 5.0) + 1.5          # + the legend
    fig = plt.figure(figsize=(width, 3.0 * nrows + 1.0), constrained_layout=True)
    gs = fig.add_gridspec(nrows, ncols)
    colours = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(schemes)}
    finite = [e["rmse"] for r in records for e in r["errors"].values() if e["rmse"] and math.isfinite(e["rmse"])]
    lo, hi = (min(finite) / 3, max(finite) * 3) if finite else (1e-6, 1.0)
    rows = {"top": hi * 3, "zero": lo}                         # where non-finite and exactly-zero points sit
    rmses = [e["rmse"] for r in records for e in r["errors"].values()]
    notes = {"top": "× on the top line: non-finite output (fp16 overflow)",
             "zero": "▽ on the bottom line: RMSE exactly 0"}
    used = [k for k, seen in (("top", any(not math.isfinite(x) for x in rmses)), ("zero", 0.0 in rmses)) if seen]

    def place(rmse):
        """(y of a regular point or NaN, y of a marked point or NaN, which mark)"""
        if not math.isfinite(rmse):
            return math.nan, rows["top"], "x"
        if rmse == 0:
            return math.nan, rows["zero"], "v"
        return rmse, math.nan, None

    def draw(ax, xs, cases, scheme, style, ms):
        points = [place(r["errors"][scheme]["rmse"]) for r in cases]
        ax.plot(xs, [p[0] for p in points], style, ms=ms, color=colours[scheme], label=scheme)
        for mark, kw in (("x", dict(mew=2)), ("v", dict(mfc="none", mew=1.5))):
            marked = [(x, p[1]) for x, p in zip(xs, points) if p[2] == mark]
            if marked:
                ax.plot(*zip(*marked), mark, ms=ms + 3, color=colours[scheme], **kw)

    for gi, suite in enumerate(grids):
        for ai, amp in enumerate(amps):
            ax = fig.add_subplot(gs[gi, ai])
            cases = sorted((r for r in records if r["suite"] == suite and r["params"]["amp"] == amp),
                           key=lambda r: r["params"]["mean"])
            for s in schemes:
                draw(ax, [r["params"]["mean"] for r in cases], cases, s, "o-", 3)
            _axes(ax, rows, used, f"{suite}, amp {amp:g}", "mean")
            if ai == 0:
                ax.set_ylabel("RMSE vs float64")
    if stress:
        ax = fig.add_subplot(gs[nrows - 1, :])
        for si, s in enumerate(schemes):
            offset = (si - (len(schemes) - 1) / 2) * 0.1
            draw(ax, [x + offset for x in range(len(stress))], stress, s, "o", 5)
        names = [textwrap.fill(r["name"], 16, break_on_hyphens=False) for r in stress]
        ax.set_xticks(range(len(stress)), names, fontsize=8)
        ax.set_xlim(-0.5, len(stress) - 0.5)
        _axes(ax, rows, used, "stress cases", None)
        ax.set_ylabel("RMSE vs float64")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="scheme")
    chars = int(width * 13)                                  # about 13 characters of 10-point text per inch
    fig.suptitle("\n".join(textwrap.wrap(title, chars) + textwrap.wrap("; ".join(notes[k] for k in used), chars)),
                 fontsize=10)
    return fig


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")                                    # files only: no display needed
    import matplotlib.pyplot as plt
    return plt


def _axes(ax, rows, used, title, xlabel):
    ax.set_yscale("log")
    ax.set_ylim(rows["zero"] / 4, rows["top"] * 4)          # both marked lines inside the frame
    for k in used:                                          # a line only where a point is marked on it
        ax.axhline(rows[k], color="0.6", lw=0.8, ls=":")
    ax.set_title(title, fontsize=9)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.grid(True, which="major", alpha=0.3)
