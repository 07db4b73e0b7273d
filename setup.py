"""Builds pasa's C++ extension (torch op schema, CPU operator, Meta kernel) and installs the `pasa` package.

Install with the torch already in the environment: `pip install --no-build-isolation -e .`
"""
import glob
import os
import platform

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def cpu_sources():
    return sorted(glob.glob("csrc/*.cpp") + glob.glob("csrc/cpu/*.cpp"))


def cxx_flags():
    flags = ["-O3", "-std=c++17", "-fvisibility=hidden"]
    if platform.machine() in ("x86_64", "AMD64"):
        flags += ["-mavx2", "-mfma", "-mf16c"]  # F16C rounding and SLEEF's AVX2 exp (csrc/cpu/vec_math.h)
    return flags


setup(
    name="pasa",
    version="0.1.0",
    description="PASA: flash attention in half precision without fp16 overflow",
    package_dir={"": "python"},
    packages=find_packages("python"),
    python_requires=">=3.10",
    install_requires=["torch>=2.4", "numpy"],
    ext_modules=[CppExtension("pasa._C", cpu_sources(), extra_compile_args={"cxx": cxx_flags()})],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
