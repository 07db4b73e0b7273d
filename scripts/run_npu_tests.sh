#!/usr/bin/env bash
# On a machine with an Ascend 910B NPU, CANN and torch_npu: build and install the op package and the binding
# (scripts/build_ascend.sh), run the NPU tests (tests/test_ascend_npu.py: the NPU kernel against the contract's
# model with pasa.tolerance.check_backend, plus the simulator for comparison) and the benchmark against
# torch_npu.npu_fused_infer_attention_score (scripts/bench_ascend_npu.py). Without an NPU it says so and exits 2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
python -c "import torch, torch_npu; assert torch.npu.is_available()" 2>/dev/null || {
  echo "run_npu_tests.sh: no NPU here (torch_npu missing or torch.npu.is_available() is False)" >&2; exit 2; }
[ "${PASA_SKIP_BUILD:-0}" = 1 ] || bash scripts/build_ascend.sh
# the binding finds the package at run time (torch_npu's EXEC_NPU_CMD_EXT): under $ASCEND_OPP_PATH/vendors through
# its config.ini, installed elsewhere through ASCEND_CUSTOM_OPP_PATH, which the package's set_env.bash sets
if [ -n "${PASA_INSTALL_PATH:-}" ]; then
  set +u  # set_env.bash appends to ASCEND_CUSTOM_OPP_PATH and LD_LIBRARY_PATH, which may be unset
  source "$PASA_INSTALL_PATH/vendors/${PASA_OPP_VENDOR:-pasa}/bin/set_env.bash"
  set -u
fi
PYTHONPATH=$ROOT/python python -m pytest -q tests/test_ascend_npu.py tests/test_ascend_sim.py
PYTHONPATH=$ROOT/python python scripts/bench_ascend_npu.py "$@"
