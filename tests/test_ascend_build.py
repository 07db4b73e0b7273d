"""The CANN build of the op package, checked without CANN: the host sources as CANN 8.1.RC1's op project template
compiles them (C++11).

Tests that need the CANN 8.1.RC1 mirror (msopgen, templates, headers) take its git directory from CANN81_GIT and
skip without it."""
import os
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

