"""The CANN build of the op package, checked without CANN: the host sources as CANN 8.1.RC1's op project template
compiles them (C++11).

Tests that need the CANN 8.1.RC1 mirror (msopgen, templates, headers) take its git directory from CANN81_GIT and
skip without it."""
import os
import re
import shutil
import subprocess

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
                   '  std::puts(pasa_text::Cat("got ", 3, ", want ", 2.5, " ", std::string("s"), \'c\', " ", -7L, " ",\n'
                   '                           42u, " ", static_cast<uint8_t>(7), " ", true, " ", 1.5f, " ", none).c_str());\n'
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
    assert len(kernel) == 1, f"the kernel must register one default tiling struct (REGISTER_TILING_DEFAULT), got {kernel}"
    assert host == set(kernel), f"the host writes {sorted(host)} (GetTilingData<T>), the kernel registers {kernel}"


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
