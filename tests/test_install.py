"""Installing: `pip install .` (build isolation) and the README's `pip install --no-build-isolation -e .` both need
torch at build time. Checked here without building: the pins agree, and a build without torch says what to run.
(The full installs are run in fresh virtual environments by hand: README's commands, and `pip install .`.)"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _torch_pin(lines):
    return next(re.sub(r"\s*#.*", "", x).strip() for x in lines if re.match(r"\s*torch\s*==", x))


def test_isolated_build_uses_the_pinned_torch():
    tomllib = pytest.importorskip("tomllib")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pinned = _torch_pin((ROOT / "requirements.txt").read_text().splitlines())
    assert _torch_pin(requires).replace(" ", "") == pinned.replace(" ", ""), (requires, pinned)


def test_build_without_torch_says_what_to_run():
    hide_torch = ("import sys; sys.modules['torch'] = None; sys.argv = ['setup.py', '--version']; "
                  "exec(compile(open('setup.py').read(), 'setup.py', 'exec'))")
    run = subprocess.run([sys.executable, "-c", hide_torch], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "pip install --no-build-isolation -e ." in run.stderr and "pip install ." in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
