"""The host tiling (op_host/pasa_attention_tiling_plan.cpp): its C++ unit tests (built here with the system C++
compiler, faked 910B platform figures) and the same plan as the simulator backend sees it."""
import os
import shutil
import subprocess

import pytest
import torch

import pasa  # noqa: F401  (loads the extension with the pasa_ascend_sim ops)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sim = torch.ops.pasa_ascend_sim


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_tiling_unit_tests_in_cpp(tmp_path):
    exe = tmp_path / "test_tiling_plan"
    subprocess.run(["g++", "-std=c++17", "-O1", "-Wall", "-Werror", "-o", str(exe),
                    os.path.join(ROOT, "tests", "ascend", "test_tiling_plan.cpp"),
                    os.path.join(ROOT, "op_host", "pasa_attention_tiling_plan.cpp")], check=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("0 failures")


def _plan(**kw):
    args = dict(b=1, n=28, nkv=4, s1=1407, s2=1407, d=128, variant="exact", causal=False, causal_offset=0,
                has_mask=False, block_n=128, scale=128 ** -0.5, beta=1.0, soc="Ascend910B2", core_num=0, max_q_rows=128)
    args.update(kw)
    return dict(item.split("=") for item in sim.plan(*args.values()).split())


def test_plan_as_the_backend_sees_it():
    plan = _plan()
    assert plan["qRows"] == "128" and plan["tasks"] == "308" and plan["cores"] == "24"
    assert int(plan["UB"]) <= 192 * 1024 and int(plan["L0C"]) <= 128 * 1024
    assert _plan(soc="Ascend910B4")["cores"] == "20"
    assert _plan(core_num=7)["cores"] == "7"


@pytest.mark.parametrize("kw, message", [
    (dict(d=72), "head dim D must be a multiple of 16 in \\[16, 256\\] for the Ascend kernel"),
    (dict(block_n=40), "block_n must be a multiple of 16"),
    (dict(nkv=5), "must be a multiple of kv heads"),
    (dict(s2=0), "empty problem"),
    (dict(variant="pasa", beta=1.5), "beta must lie in \\(0, 1\\)"),
    (dict(soc="Ascend310P3"), "unknown SoC 'Ascend310P3'"),
])
def test_plan_rejects_with_a_clear_message(kw, message):
    with pytest.raises(ValueError, match=message):
        _plan(**kw)


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("g++") is None, reason="needs cmake and g++")
def test_cmake_builds_and_ctest_passes(tmp_path):
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", ROOT, "-B", str(build)], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    result = subprocess.run(["ctest", "--test-dir", str(build), "--output-on-failure"], capture_output=True, text=True)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
