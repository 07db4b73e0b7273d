#!/usr/bin/env bash
# Type-checks the Ascend code against the real CANN 8.1.RC1 headers without CANN installed:
#   1. op_kernel/*.cpp and op_host/*.cpp with /work/shared/tools/ascendc_typecheck.sh (or $ASCENDC_TYPECHECK), in the
#      standards CANN 8.1.RC1 builds them with: the kernel -std=c++17 (tikcpp/compile_op.py), op_host -std=c++11 (the
#      op project template's cmake/func.cmake opbuild step and cmake/intf.cmake);
#   2. csrc/npu/register_npu.cpp against torch's headers and CANN's acl/aclnn headers, with stand-ins for
#      torch_npu's NPUStream.h and for the aclnn header the op package build generates.
# Usage: scripts/typecheck_ascend.sh GITDIR   (GITDIR: the git directory fetched from github:leideng/CANN-8.1.RC1)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GIT=${1:?usage: $0 GITDIR}
cd "$ROOT"
"${ASCENDC_TYPECHECK:-/work/shared/tools/ascendc_typecheck.sh}" "$GIT"
rc=$?
INC=${TMPDIR:-/tmp}/cann81-headers/Ascend/ascend-toolkit/8.1.RC1/aarch64-linux/include
STUB=$(mktemp -d)
mkdir -p "$STUB/torch_npu/csrc/core/npu"
cat > "$STUB/torch_npu/csrc/core/npu/NPUStream.h" <<'H'
#pragma once
#include "acl/acl.h"
namespace c10_npu {
struct NPUStream { aclrtStream stream() const { return nullptr; } };
inline NPUStream getCurrentNPUStream() { return {}; }
}  // namespace c10_npu
H
cat > "$STUB/aclnn_pasa_attention.h" <<'H'
#pragma once
#include "aclnn/acl_meta.h"
extern "C" {
aclnnStatus aclnnPasaAttentionGetWorkspaceSize(const aclTensor* q, const aclTensor* k, const aclTensor* v,
    const aclTensor* biasOptional, double scale, bool causal, int64_t causalOffset, char* variantOptional,
    int64_t blockN, double beta, const aclTensor* out, uint64_t* workspaceSize, aclOpExecutor** executor);
aclnnStatus aclnnPasaAttention(void* workspace, uint64_t workspaceSize, aclOpExecutor* executor, aclrtStream stream);
}
H
TORCH_INC=$(python -c "import torch.utils.cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))")
PY_INC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
if out=$(g++ -std=c++17 -fsyntax-only -w $TORCH_INC -I"$PY_INC" -I"$STUB" -I"$INC" -DTORCH_EXTENSION_NAME=_C_npu \
    csrc/npu/register_npu.cpp 2>&1); then
  echo "ok   csrc/npu/register_npu.cpp (stand-ins: NPUStream.h, aclnn_pasa_attention.h)"
else
  echo "FAIL csrc/npu/register_npu.cpp: $(echo "$out" | grep -m1 error)"; rc=1
fi
rm -rf "$STUB"
exit $rc
