#!/usr/bin/env bash
# Type-checks the Ascend code without CANN or an NPU, against the real headers, in the standards the real builds use:
#   1. op_kernel/*.cpp and op_host/*.cpp against CANN 8.1.RC1's headers with /work/shared/tools/ascendc_typecheck.sh
#      (or $ASCENDC_TYPECHECK): the kernel -std=c++17 (tikcpp/compile_op.py), op_host -std=c++11 (the op project
#      template's cmake/func.cmake opbuild step and cmake/intf.cmake);
#   2. csrc/npu/register_npu.cpp against torch's and torch_npu 2.13.0's headers, with the include path setup.py's
#      npu_extension() gives it (NpuExtension: torch_npu/include and its third_party/hccl/inc, torch's; plus
#      third_party/op-plugin) and -std=c++17 (torch's BuildExtension);
#   3. for information, the same compile with CANN 8.1.RC1's include/ ahead of torch_npu's (not counted: torch_npu
#      2.13.0 declares acl functions newer than 8.1.RC1's, see docs/ascend.md).
# Usage: scripts/typecheck_ascend.sh GITDIR TORCH_NPU_INCLUDE   (or CANN81_GIT and TORCH_NPU_INCLUDE in the environment)
#   GITDIR: the git directory that fetching github:leideng/CANN-8.1.RC1 returns;
#   TORCH_NPU_INCLUDE: torch_npu/include unpacked from the torch-npu==2.13.0 wheel (docs/ascend.md, "Type-check").
# Downloads nothing; needs the active Python's torch (2.13.0). Prints one line per file, 'N passed, N failed' last.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GIT=${1:-${CANN81_GIT:-}}
NPU=${2:-${TORCH_NPU_INCLUDE:-}}
[ -n "$GIT" ] && [ -d "$NPU/torch_npu/csrc" ] || {
  echo "usage: $0 GITDIR TORCH_NPU_INCLUDE (torch_npu/include of the torch-npu 2.13.0 wheel: see docs/ascend.md)" >&2
  exit 2; }
cd "$ROOT"
out=$("${ASCENDC_TYPECHECK:-/work/shared/tools/ascendc_typecheck.sh}" "$GIT")
echo "$out" | grep -v ' passed, .* failed$'
pass=$(echo "$out" | grep -c '^ok ')
fail=$(echo "$out" | grep -c '^FAIL ')
[ $((pass + fail)) -gt 0 ] || { echo "$out"; exit 1; }

CANN_INC=${TMPDIR:-/tmp}/cann81-headers/Ascend/ascend-toolkit/8.1.RC1/aarch64-linux/include  # ascendc_typecheck.sh's
TORCH_INC=$(python -c "import torch.utils.cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))")
PY_INC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
versions="torch $(python -c 'import torch; print(torch.__version__)'), torch_npu headers $NPU"
binding() {  # extra flags...
  g++ -std=c++17 -fsyntax-only -w "$@" -I"$NPU/third_party/op-plugin" -I"$NPU" -I"$NPU/third_party/hccl/inc" \
    $TORCH_INC -I"$PY_INC" -DTORCH_EXTENSION_NAME=_C_npu -DTORCH_API_INCLUDE_EXTENSION_H csrc/npu/register_npu.cpp 2>&1
}
if err=$(binding); then
  echo "ok   csrc/npu/register_npu.cpp (c++17; $versions)"; pass=$((pass + 1))
else
  echo "FAIL csrc/npu/register_npu.cpp (c++17; $versions): $(echo "$err" | grep -m1 error)"; fail=$((fail + 1))
fi
if err=$(binding -I"$CANN_INC"); then
  echo "info csrc/npu/register_npu.cpp with CANN 8.1.RC1's include/ first: compiles"
else
  echo "info csrc/npu/register_npu.cpp with CANN 8.1.RC1's include/ first: $(echo "$err" | grep -m1 error)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
