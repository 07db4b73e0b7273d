"""The CANN build of the op package, checked without CANN: the host sources as CANN 8.1.RC1's op project template
compiles them (C++11), the tiling keys and tiling struct as its kernel compile reads them, the edit of the project's
CMakePresets.json.

Tests that need the CANN 8.1.RC1 mirror (msopgen, templates, headers) take its git directory from CANN81_GIT and
skip without it."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


@needs_gxx
@pytest.mark.parametrize("std", ["c++11", "c++17"])
def test_message_builder_is_cpp11_and_keeps_its_output(tmp_path, std):
    # op_host/pasa_text.h is compiled as C++11 by CANN's template (cmake/func.cmake: opbuild's `-std=c++11`) and as
    # C++17 by the torch extension and the simulator: the same text either way
    src = tmp_path / "cat.cpp"
    src.write_text('#include <cstdint>\n#include <cstdio>\n#include "pasa_text.h"\n'
                   'int main() {\n  const char* none = nullptr;\n'
                   '  std::puts(pasa_text::Cat("got ", 3, ", want ", 2.5, " ", std::string("s"), \'c\', " ",\n'
                   '    -7L, " ", 42u, " ", static_cast<uint8_t>(7), " ", true, " ", 1.5f, " ", none).c_str());\n'
                   '}\n')
    exe = tmp_path / "cat"
    subprocess.run(["g++", f"-std={std}", "-Wall", "-Wextra", "-pedantic-errors", "-Werror",
                    "-I", os.path.join(ROOT, "op_host"), "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out == "got 3, want 2.5 sc -7 42 7 1 1.5 (null)\n"


@needs_gxx
def test_host_tiling_plan_compiles_as_cpp11():
    # the op_host source that needs no CANN header; the others are compiled as C++11 against CANN 8.1.RC1's
    # headers by scripts/build_ascend.sh --until-opbuild (test_build_until_opbuild below)
    result = subprocess.run(["g++", "-std=c++11", "-fsyntax-only", "-Wall", "-Wextra", "-pedantic-errors", "-Werror",
                             os.path.join(ROOT, "op_host", "pasa_attention_tiling_plan.cpp")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- tiling key and tiling struct: what the host sets, what CANN's kernel compile builds ----
# CANN 8.1.RC1's kernel compile (tikcpp/compile_op.py, KernelInfoInfer) reads the preprocessed kernel: every
# `g_tilingKey == (N` (TILING_KEY_IS(k) expands to `(g_tilingKey == (k))`, ascendc kernel_utils_macros.h) is a key
# compiled as its own entry, and with none the only key is DEFAULT_TILING_KEY '0'; `REGISTER_TILING_DEFAULT(T)`
# (`auto __enable_custom_tiling T = default;` under -D__CHECK_FEATURE_AT_PRECOMPILE) registers the tiling struct.
# A launch with a key the binary lacks fails (`BinaryGetFunctionByEntry`).
COMPILE_OP_KEY = re.compile(r"g_tilingKey == \((-?\d+)")
COMPILE_OP_DEFAULT_STRUCT = re.compile(r"__enable_custom_tiling\s*([0-9a-zA-Z_:]{1,})\s*=\s*default;")


def _sources(folder, exts=(".cpp", ".h")):
    """Text of the project's sources in folder, comments removed."""
    text = ""
    for name in sorted(os.listdir(os.path.join(ROOT, folder))):
        if name.endswith(exts):
            with open(os.path.join(ROOT, folder, name)) as f:
                text += re.sub(r"//[^\n]*|/\*.*?\*/", "", f.read(), flags=re.S) + "\n"
    return text


def _literal_arguments(call, text):
    """The integer arguments of every call(...) in text; anything but an integer literal is an error here, so that
    the test can evaluate both sides."""
    keys = set()
    for arg in re.findall(call + r"\s*\(\s*([^()]*?)\s*\)", text):
        m = re.fullmatch(r"(\d+)[uUlL]*", arg)
        assert m, f"{call}({arg}): write the tiling key as an integer literal so this test can check it"
        keys.add(int(m.group(1)))
    return keys


def kernel_tiling_keys():
    return _literal_arguments("TILING_KEY_IS", _sources("op_kernel")) or {0}


def host_tiling_keys():
    return _literal_arguments(r"SetTilingKey", _sources("op_host", (".cpp",)))


def test_every_tiling_key_the_host_sets_is_compiled_into_the_kernel():
    host, kernel = host_tiling_keys(), kernel_tiling_keys()
    assert host, "the tiling sets no key: say which one (context->SetTilingKey)"
    assert host <= kernel, f"the host tiling sets keys {sorted(host)}, the kernel is compiled for {sorted(kernel)}"


def kernel_default_tiling_structs():
    return re.findall(r"REGISTER_TILING_DEFAULT\s*\(\s*([\w:]+)\s*\)", _sources("op_kernel"))


def test_the_host_writes_the_tiling_struct_the_kernel_registers():
    # unregistered, CANN 8.1.RC1's compile logs "do not registe tiling struct" (tikcpp/get_op_tiling.py) and records
    # opParaSize = 8 bytes of tiling (compile_op.py); TilingContext::GetTilingData<T> says sizeof(T) must not exceed
    # the compiled maximum (exe_graph/runtime/tiling_context.h)
    kernel = kernel_default_tiling_structs()
    host = set(re.findall(r"GetTilingData\s*<\s*([\w:]+)\s*>", _sources("op_host", (".cpp",))))
    assert len(kernel) == 1, f"the kernel must register one default tiling struct (REGISTER_TILING_DEFAULT): {kernel}"
    assert host == set(kernel), f"the host writes {sorted(host)} (GetTilingData<T>), the kernel registers {kernel}"



# ---- the project msopgen generates: CMakePresets.json ----
def msopgen_preset(path, **cache):
    """A CMakePresets.json written as CANN 8.1.RC1's msopgen writes it: the template's layout (a configure preset
    whose cacheVariables are {"type", "value"} objects; tools/op_project_templates/ascendc/customize) with the
    compute unit and toolkit path msopgen fills in, dumped with json.dump(..., indent=4)
    (op_gen/interface/op_file_aicore.py), so every key is on a line of its own."""
    variables = {"CMAKE_BUILD_TYPE": ("STRING", "Release"), "ASCEND_COMPUTE_UNIT": ("STRING", "ascend910b"),
                 "vendor_name": ("STRING", "customize"),
                 "ASCEND_CANN_PACKAGE_PATH": ("PATH", "/usr/local/Ascend/ascend-toolkit/latest"),
                 "CMAKE_INSTALL_PREFIX": ("PATH", "${sourceDir}/build_out")}
    variables.update(cache)
    data = {"version": 1, "configurePresets": [{
        "name": "default", "generator": "Unix Makefiles", "binaryDir": "${sourceDir}/build_out",
        "cacheVariables": {k: {"type": t, "value": v} for k, (t, v) in variables.items() if t is not None}}]}
    with open(path, "w") as f:
        json.dump(data, f, indent=4)
    return data


def _edit_preset(path, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "ascend_project.py"), "preset", str(path),
                           *args], capture_output=True, text=True)


def test_preset_edit_sets_vendor_and_toolkit_in_a_preset_as_msopgen_writes_it(tmp_path):
    path = tmp_path / "CMakePresets.json"
    before = msopgen_preset(path)
    assert '"vendor_name": {\n' in path.read_text()   # one key per line: what a line-wise sed never matched
    result = _edit_preset(path, "--vendor", "pasa", "--cann", "/opt/cann")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pasa"   # the vendor build_ascend.sh then installs and builds against
    after = json.loads(path.read_text())
    cache = after["configurePresets"][0]["cacheVariables"]
    assert cache["vendor_name"] == {"type": "STRING", "value": "pasa"}
    assert cache["ASCEND_CANN_PACKAGE_PATH"] == {"type": "PATH", "value": "/opt/cann"}
    for key in ("CMAKE_BUILD_TYPE", "ASCEND_COMPUTE_UNIT", "CMAKE_INSTALL_PREFIX"):
        assert cache[key] == before["configurePresets"][0]["cacheVariables"][key]
    assert path.read_text() == json.dumps(after, indent=4)


def test_preset_edit_rejects_a_preset_it_does_not_know(tmp_path):
    path = tmp_path / "CMakePresets.json"
    msopgen_preset(path, vendor_name=(None, None))
    result = _edit_preset(path, "--vendor", "pasa", "--cann", "/opt/cann")
    assert result.returncode != 0 and "no cache variable vendor_name" in result.stderr


# ---- with the CANN 8.1.RC1 mirror ----
CANN81_GIT = os.environ.get("CANN81_GIT", "")
TOOLKIT = "Ascend/ascend-toolkit/8.1.RC1"
needs_cann_mirror = pytest.mark.skipif(
    not os.path.isdir(CANN81_GIT) or shutil.which("git") is None or shutil.which("g++") is None,
    reason="needs the CANN 8.1.RC1 mirror (CANN81_GIT=<git dir of github:leideng/CANN-8.1.RC1>), git and g++")


@pytest.fixture(scope="module")
def cann_headers(tmp_path_factory):
    """CANN 8.1.RC1's AscendC, acl and CPU-debug headers, extracted from the mirror (nothing else of it)."""
    out = tmp_path_factory.mktemp("cann81")
    dirs = [f"{TOOLKIT}/{d}" for d in ("aarch64-linux/include", "aarch64-linux/ascendc/include",
                                       "tools/tikicpulib/lib/include")]
    archive = subprocess.run(["git", f"--git-dir={CANN81_GIT}", "archive", "HEAD", *dirs],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / TOOLKIT


@needs_cann_mirror
def test_cann_precompile_reads_the_kernel_as_these_tests_do(cann_headers):
    # the kernel preprocessed against the real headers as compile_op.py's precompile does it
    # (-D__CHECK_FEATURE_AT_PRECOMPILE; CPU-debug defines instead of bisheng's device ones), then its own patterns
    a = cann_headers / "aarch64-linux" / "ascendc" / "include"
    includes = [cann_headers / "tools/tikicpulib/lib/include", cann_headers / "aarch64-linux/include"] + \
        [a / d for d in ("basic_api", "basic_api/impl", "basic_api/interface", "highlevel_api", "highlevel_api/lib",
                         "highlevel_api/impl", "highlevel_api/lib/matmul")] + [os.path.join(ROOT, "op_kernel")]
    pre = subprocess.run(["g++", "-std=c++17", "-E", "-D__CHECK_FEATURE_AT_PRECOMPILE", "-D__CCE_KT_TEST__=1",
                          "-DASCENDC_CPU_DEBUG=1", "-D__CCE_AICORE__=220", "-D__DAV_C220__"] +
                         [f"-I{p}" for p in includes] + [os.path.join(ROOT, "op_kernel", "pasa_attention.cpp")],
                         check=True, capture_output=True, text=True).stdout
    assert ({int(k) for k in COMPILE_OP_KEY.findall(pre)} or {0}) == kernel_tiling_keys()
    assert COMPILE_OP_DEFAULT_STRUCT.findall(pre) == kernel_default_tiling_structs()


WITH_CANN_MIRROR = os.environ.get("WITH_CANN_MIRROR",
                                  os.path.join(os.path.dirname(ROOT), "shared", "tools", "with_cann_mirror.sh"))


@needs_cann_mirror
@pytest.mark.skipif(not os.path.isfile(WITH_CANN_MIRROR), reason=f"needs {WITH_CANN_MIRROR} (or WITH_CANN_MIRROR)")
def test_build_until_opbuild(tmp_path):
    # CANN 8.1.RC1's real msopgen generates the project; the host sources compile with its opbuild flags (C++11)
    env = dict(os.environ, PASA_BUILD_DIR=str(tmp_path))
    result = subprocess.run(["bash", WITH_CANN_MIRROR, CANN81_GIT, "--", "bash",
                             os.path.join(ROOT, "scripts", "build_ascend.sh"), "--until-opbuild"],
                            env=env, capture_output=True, text=True)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "-Dvendor_name=pasa " in out and "-std=c++11" in out
    for name in sorted(os.listdir(os.path.join(ROOT, "op_host"))):
        if name.endswith(".cpp"):
            assert f"ok   op_host/{name}" in out
    assert result.stdout.rstrip().endswith(
        "== stopped before opbuild (op_build, the toolkit's libraries) and the kernel compile (bisheng)")
