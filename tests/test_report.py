"""python -m pasa accuracy on a tiny shape: the table, the JSON record, the PNG plot and the help text."""
import json
import math
import re

import pytest

from pasa import cli, report
from pasa.suites import SCHEMES, SEED_MAX, SEED_MIN, suite_cases


def test_accuracy_command_writes_table_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "acc"
    rc = cli.main(["accuracy", "--suite", "uniform", "--shape", "1,2,1,40,16", "--block-n", "16",
                   "--out-dir", str(out_dir), "--no-progress"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "shape(B,N,Nkv,S,D)=1,2,1,40,16" in stdout and "block_n=16" in stdout
    rows = [line for line in stdout.splitlines() if line.startswith("uniform mean=")]
    assert len(rows) == 16
    header = next(line for line in stdout.splitlines() if line.startswith("case"))
    assert header.split()[1:] == list(SCHEMES)
    record = json.loads((out_dir / "accuracy.json").read_text())
    assert record["settings"]["shape"] == [1, 2, 1, 40, 16] and len(record["cases"]) == 16
    assert set(record["cases"][0]["errors"]) == set(SCHEMES)
    png = (out_dir / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_progress_goes_to_stderr_and_table_to_stdout(tmp_path, capsys):
    cli.main(["accuracy", "--suite", "stress", "--shape", "1,1,1,32,16", "--block-n", "16", "--out-dir", "",
              "--dtype", "bf16"])
    captured = capsys.readouterr()
    assert "resonance in-phase amp=100" in captured.out
    assert "resonance" in captured.err or "5/5" in captured.err   # tqdm's description or the fallback line


def test_plot_draws_overflow_and_stress_cases(tmp_path):
    pytest.importorskip("matplotlib")
    ok = {"rmse": 1e-3, "rel_rmse": 1e-3, "max_abs": 1e-2, "nonfinite": 0}
    bad = {"rmse": math.inf, "rel_rmse": math.inf, "max_abs": math.inf, "nonfinite": 7}
    records = [{"suite": "uniform", "name": f"uniform mean={m} amp=5", "causal": False,
                "params": {"mean": m, "amp": 5.0}, "errors": {"fa16": bad if m else ok, "exact": ok}}
               for m in (0.0, 10.0)]
    records.append({"suite": "stress", "name": "drift", "causal": False, "params": {},
                    "errors": {"fa16": bad, "exact": {**ok, "rmse": 0.0}}})
    path = tmp_path / "p.png"
    report.plot_accuracy(records, ("fa16", "exact"), str(path), "t")
    assert path.stat().st_size > 5_000
    report.write_json(str(tmp_path / "r.json"), {}, records)
    assert json.loads((tmp_path / "r.json").read_text())["cases"][1]["errors"]["fa16"]["rmse"] is None
    assert report.cell(bad) == "non-finite (7)"


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["accuracy", "--help"])
    text = capsys.readouterr().out
    for option in ("--suite", "--shape", "--dtype", "--seed", "--backend", "--block-n", "--beta", "--out-dir",
                   "--no-plot", "--no-progress", "accuracy.png", "fa16", "native:", "ascend-sim:", "triton:", "npu:"):
        assert option in text


@pytest.mark.parametrize("argv,reason", [
    (["--backend", "bogus"], r"argument --backend: invalid choice: 'bogus'"),
    (["--block-n", "100"], r"block_n must be a multiple of 16 in \[16, 1024\], got 100"),
    (["--beta", "1.5"], r"beta must lie in \(0, 1\) for variant 'pasa', got 1.5"),
    (["--shape", "1,3,2,64,32"], r"argument --shape: N \(3\) must be a multiple of Nkv \(2\)"),
    (["--shape", "1,2,3"], r"argument --shape: shape must be five positive integers"),
    (["--shape", "1,2,1,64,1024"], r"head dim D must be in \[1, 512\], got 1024"),
    (["--shape", "1,2,1,64,272", "--backend", "ascend-sim"], r"backend ascend-sim .*head dim D must be at most 256"),
    (["--out-dir", "{file}/sub"], r"argument --out-dir: cannot write into"),
    (["--seed", "99999999999999999999"], r"argument --seed: seed must be in \[-9223372036854775808, "
                                         r"18446744073709551613\] .*, got 99999999999999999999$"),
    (["--seed", str(2**64 - 2)], r"argument --seed: seed must be in .*, got 18446744073709551614$"),  # v's seed + 2
    (["--seed", "1e3"], r"argument --seed: seed must be an integer, got '1e3'"),
])
def test_bad_options_fail_before_any_work(tmp_path, capsys, argv, reason):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = [a.format(file=a_file) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["accuracy", "--suite", "stress", "--shape", "1,2,1,64,32", *argv])
    captured = capsys.readouterr()
    assert exit_.value.code == 2
    assert captured.out == ""                                  # no header, no table
    lines = captured.err.strip().splitlines()
    assert lines[0].startswith("usage: python -m pasa accuracy")
    assert re.search(reason, lines[-1]) and lines[-1].startswith("python -m pasa accuracy: error: "), lines[-1]
    assert "%" not in captured.err and "Traceback" not in captured.err     # no progress bar, no traceback


@pytest.mark.parametrize("suite", ["uniform", "hybrid", "stress"])
def test_every_case_takes_the_extreme_seeds(suite):
    for case in suite_cases(suite):
        for seed in (SEED_MIN, SEED_MAX):
            assert all(t.shape == (1, 1, 2, 16) for t in case.make((1, 1, 2, 16), (1, 1, 2, 16), seed))


def test_triton_backend_needs_a_gpu(capsys):
    from pasa import cuda
    if cuda.AVAILABLE:
        pytest.skip("a CUDA device with Triton is present")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["accuracy", "--backend", "triton", "--shape", "1,2,1,64,32"])
    assert exit_.value.code == 2 and "triton needs a CUDA device" in capsys.readouterr().err


def _stress_records():
    ok = {"rmse": 1e-3, "rel_rmse": 1e-3, "max_abs": 1e-2, "nonfinite": 0}
    bad = {"rmse": math.inf, "rel_rmse": math.inf, "max_abs": math.inf, "nonfinite": 7}
    zero = {"rmse": 0.0, "rel_rmse": 0.0, "max_abs": 0.0, "nonfinite": 0}
    return [{"suite": c.suite, "name": c.name, "causal": c.causal, "params": c.params,
             "errors": {s: (bad if s == "fa16" else zero if i == 0 else ok) for s in SCHEMES}}
            for i, c in enumerate(suite_cases("stress"))]


@pytest.mark.parametrize("suites", [("stress",), ("uniform", "stress"), ("uniform", "hybrid", "stress")])
def test_plot_is_readable_for_any_subset_of_suites(suites):
    """The title fits, the stress case names do not overprint, and overflowed and exactly-zero points lie inside
    the frame (they sat on its edge), for the stress suite alone as for the whole set."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from pasa.suites import suite_cases
    ok = {"rmse": 1e-3, "rel_rmse": 1e-3, "max_abs": 1e-2, "nonfinite": 0}
    records = [{"suite": c.suite, "name": c.name, "causal": c.causal, "params": c.params,
                "errors": {s: ok for s in SCHEMES}} for s in suites if s != "stress" for c in suite_cases(s)]
    stress = _stress_records()
    records += stress
    title = ("pasa accuracy: fp16, B,N,Nkv,S,D = 1,2,1,300,64, block_n 128, backend ascend-sim, seed 2024724, "
             "and a long tail so that it has to wrap")
    fig = report.accuracy_figure(records, SCHEMES, title)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    title_box = fig._suptitle.get_window_extent(renderer)
    assert frame.x0 <= title_box.x0 and title_box.x1 <= frame.x1, (title_box, frame)
    stress_ax = fig.axes[-1]
    boxes = [t.get_window_extent(renderer) for t in stress_ax.get_xticklabels()]
    assert len(boxes) == len(stress) and not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
    bottom, top = stress_ax.get_ylim()
    for line in stress_ax.get_lines():
        ys = [y for y in line.get_ydata() if math.isfinite(y)]
        assert all(bottom * 1.5 < y < top / 1.5 for y in ys), (line.get_marker(), ys, bottom, top)
    markers = {line.get_marker() for line in stress_ax.get_lines()}
    assert {"x", "v"} <= markers                      # overflow and exact zero each have their mark
    plt.close(fig)
