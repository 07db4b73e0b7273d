#!/usr/bin/env bash
# The CUDA backend's validation on a machine with 2 sm_90 GPUs (the device tool's nvidia-h200-x2), in one call of
# under 9 minutes, from the repository root:
#
#     bash scripts/gpu_validation.sh
#
#  1. build      python3 setup.py build_ext --inplace -j16 (the C++ extension against the machine's torch)
#  2. GPU 1:     tests_triton  the CUDA tests (tests/test_cuda.py; test_cuda_features.py: lse, sinks, packed batches,
#                              split decoding; test_contract_robustness.py) as dispatched by default: the Triton
#                              kernels, and the Hopper kernel where a test asks for it
#                tests_hopper  the same tests with PASA_CUDA_HOPPER=1: the Hopper kernel on every call it covers
#     GPU 0, at the same time:
#                bench         scripts/bench_cuda.py: issue 15's rows against SDPA flash and cuDNN, the Hopper kernel,
#                              the pasa and paper variants, ROWSUM_DOT off, decoding S2 = 4k..128k (GQA 32/8)
#  3. both GPUs: ring          scripts/bench_ring.py over NCCL: the check against one GPU at S = 4k, S = 32k and
#                              128k causal and not, one GPU at the largest S that fits
#
# Every stage runs whatever the previous ones returned and is bounded by `timeout` (and by a deadline 510 s after
# the start); its rc goes to validation.log and to the summary printed last. Files in $OUT (the device tool brings
# back 8): validation.log (machine, build, stage rcs, summary), tests_triton.log/.xml, tests_hopper.log/.xml (pytest
# -rA and junit), bench.log, bench.json, ring.log. NVLink multicast stays off (the device's KINDS.md).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu_validation}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
LOG=$OUT/validation.log
T0=$(date +%s)
DEADLINE=$((T0 + ${GPU_VALIDATION_SECONDS:-510}))   # the whole script's bound

log() { echo "$*" | tee -a "$LOG"; }

# stage NAME SECONDS LOGFILE COMMAND...: COMMAND under timeout (at most until DEADLINE), output appended to LOGFILE
stage() {
    local name=$1 limit=$2 file=$3 start rc left
    shift 3
    start=$(date +%s)
    left=$((DEADLINE - start))
    ((left < limit)) && limit=$left
    if ((limit < 10)); then
        log "== $name rc=skipped (deadline)"
        return 0
    fi
    log "== $name: limit ${limit}s, at +$((start - T0))s: $*"
    timeout -k 10 "$limit" "$@" >>"$file" 2>&1
    rc=$?
    log "== $name rc=$rc$( ((rc == 124 || rc == 137)) && echo ' (timed out)') after $(($(date +%s) - start))s"
}

{
    echo "# $(date -u) $(uname -m) $(nproc) cores"
    nvidia-smi -L
    nvidia-smi topo -m
    python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, "GPUs",
torch.cuda.device_count(), [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())])'
    env | grep -E '^(NCCL|TORCH_SYMM|NVSHMEM)_' | sort
} >>"$LOG" 2>&1

stage build 90 "$LOG" python3 setup.py build_ext --inplace -j16

TESTS=(tests/test_cuda.py tests/test_cuda_features.py tests/test_contract_robustness.py)
PYTEST=(python3 -m pytest -p no:cacheprovider -q -rA)
python3 -c 'import xdist' 2>/dev/null && PYTEST+=(-n 8)                   # pytest-xdist: compiles in parallel
python3 -c 'import pytest_timeout' 2>/dev/null && PYTEST+=(--timeout 75)  # a hung kernel ends its test alone
GPUS=$(python3 -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
TEST_GPU=$((GPUS > 1 ? 1 : 0))   # one GPU: the tests, then the benchmark, on it; the ring needs two
tests() {
    stage tests_triton 170 "$OUT/tests_triton.log" env CUDA_VISIBLE_DEVICES=$TEST_GPU OMP_NUM_THREADS=3 \
        "${PYTEST[@]}" --junitxml="$OUT/tests_triton.xml" "${TESTS[@]}"
    stage tests_hopper 110 "$OUT/tests_hopper.log" env CUDA_VISIBLE_DEVICES=$TEST_GPU OMP_NUM_THREADS=3 \
        PASA_CUDA_HOPPER=1 "${PYTEST[@]}" --junitxml="$OUT/tests_hopper.xml" "${TESTS[@]}"
}
if ((GPUS > 1)); then tests & TESTS_PID=$!; else tests; TESTS_PID=; fi
stage bench 280 "$OUT/bench.log" env CUDA_VISIBLE_DEVICES=0 python3 scripts/bench_cuda.py \
    --kernels hopper --variants pasa paper --flags-off ROWSUM_DOT --decode 4096 16384 65536 131072 --rep 50 \
    --json "$OUT/bench.json"
[ -n "$TESTS_PID" ] && wait "$TESTS_PID"

if ((GPUS > 1)); then
    stage ring 110 "$OUT/ring.log" python3 -m torch.distributed.run --standalone --nproc-per-node=2 \
        scripts/bench_ring.py --seq 32768 131072 --check-seq 4096 --single-seq 131072 65536 --repeats 3
else
    log "== ring rc=skipped ($GPUS GPU: the ring needs two)"
fi

{
    echo
    echo "######## summary (+$(($(date +%s) - T0))s)"
    grep -E '^== [a-z_]+ rc=' "$LOG"
    for t in tests_triton tests_hopper; do
        echo "## $t: $(grep -E '(passed|failed|error|no tests ran).* in [0-9.]+s' "$OUT/$t.log" | tail -1)"
        grep -E '^(FAILED|ERROR) ' "$OUT/$t.log" | head -20
    done
    echo "## bench (tail)"
    tail -n 60 "$OUT/bench.log"
    echo "## ring (tail)"
    grep -vE '^(W|I)[0-9]{4} ' "$OUT/ring.log" | tail -n 20
} 2>/dev/null | tee -a "$LOG"
