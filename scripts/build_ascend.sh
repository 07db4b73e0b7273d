#!/usr/bin/env bash
# Builds and installs the PasaAttention CANN custom-op package (Atlas A2 / 910B) and then pasa's NPU binding.
#
# Needs: CANN toolkit 8.1.RC1 (or later 8.x) installed and its environment loaded, e.g.
#     source /usr/local/Ascend/ascend-toolkit/set_env.sh      # sets ASCEND_TOOLKIT_HOME, ASCEND_OPP_PATH, PATH
# plus, for the binding, torch and torch_npu matching that CANN in the active Python.
# Environment: PASA_SOC (Ascend910B1..Ascend910B4, default: the SoC npu-smi reports, else Ascend910B2),
#              PASA_OPP_VENDOR (vendor name under $ASCEND_OPP_PATH/vendors, default "pasa"),
#              PASA_INSTALL_PATH (install the package there instead of $ASCEND_OPP_PATH; then source
#              $PASA_INSTALL_PATH/vendors/$PASA_OPP_VENDOR/bin/set_env.bash before use),
#              PASA_BUILD_DIR (where the project is generated, default build_ascend/).
# Steps:
#   1. msopgen generates a custom-op project for PasaAttention from op_host/pasa_attention_op.json
#      (compute unit ai_core-<soc>), into build_ascend/PasaAttention.
#   2. Our op_host/ and op_kernel/ sources replace the generated stubs (the kernel's tiling data is a plain struct
#      shared by host and kernel: op_kernel/pasa_attention_tiling_data.h).
#   3. The project's build.sh compiles the host (tiling, infershape, OpDef) and the kernel (bisheng, dav-c220),
#      generates the aclnn two-stage interface (aclnnPasaAttentionGetWorkspaceSize / aclnnPasaAttention) and
#      packs build_out/custom_opp_<os>_<arch>.run.
#   4. The .run installs under $ASCEND_OPP_PATH/vendors/$PASA_OPP_VENDOR (or PASA_INSTALL_PATH).
#   5. setup.py builds pasa._C and, finding torch_npu, pasa._C_npu (csrc/npu), which torch_npu's EXEC_NPU_CMD_EXT
#      links at run time to the installed op_api/lib/libcust_opapi.so (found through ASCEND_CUSTOM_OPP_PATH).
# Usage: build_ascend.sh [--until-opbuild]
#   --until-opbuild: every step that needs no closed CANN binary, then stop: steps 1-2 (msopgen is Python), CANN's
#   own reading of the edited preset (the project's cmake/util/preset_parse.py, as its build.sh runs it) and a
#   syntax-only compile of op_host/*.cpp with the flags of the project's opbuild step (cmake/func.cmake: C++11,
#   the toolkit's include/ and op_kernel/). It stops before opbuild (op_build and the toolkit's libraries) and the
#   kernel compile (bisheng). Runs with the public CANN 8.1.RC1 copy:
#     ../shared/tools/with_cann_mirror.sh GITDIR -- bash scripts/build_ascend.sh --until-opbuild
set -euo pipefail
UNTIL_OPBUILD=0
case "${1:-}" in
  --until-opbuild) UNTIL_OPBUILD=1;;
  "") ;;
  *) echo "usage: build_ascend.sh [--until-opbuild]" >&2; exit 2;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CANN=${ASCEND_TOOLKIT_HOME:-${ASCEND_HOME_PATH:-}}
if [ -z "$CANN" ] || [ ! -d "$CANN" ]; then
  echo "build_ascend.sh: CANN not found: source <ascend-toolkit>/set_env.sh first (ASCEND_TOOLKIT_HOME unset)" >&2
  exit 2
fi
command -v msopgen >/dev/null || { echo "build_ascend.sh: msopgen not on PATH (CANN's set_env.sh adds it)" >&2; exit 2; }

SOC=${PASA_SOC:-}
if [ -z "$SOC" ] && command -v npu-smi >/dev/null; then
  SOC=$(npu-smi info 2>/dev/null | grep -o '910B[1-4]' | head -1 | sed 's/^/Ascend/') || true
fi
SOC=${SOC:-Ascend910B2}
case "$SOC" in Ascend910B1|Ascend910B2|Ascend910B3|Ascend910B4) ;; *)
  echo "build_ascend.sh: PASA_SOC must be Ascend910B1..Ascend910B4, got $SOC" >&2; exit 2;; esac
SOC_LOWER=$(echo "$SOC" | tr 'A-Z' 'a-z')
VENDOR=${PASA_OPP_VENDOR:-pasa}
OUT=${PASA_BUILD_DIR:-$ROOT/build_ascend}
PROJ=$OUT/PasaAttention
echo "== CANN: $CANN   SoC: $SOC   vendor: $VENDOR"

# 1. generate the project
rm -rf "$PROJ" && mkdir -p "$OUT"
msopgen gen -i "$ROOT/op_host/pasa_attention_op.json" -c "ai_core-$SOC_LOWER" -lan cpp -out "$PROJ"

# 2. our sources replace the generated stubs
rm -f "$PROJ"/op_host/*.cpp "$PROJ"/op_host/*.h "$PROJ"/op_kernel/*.cpp "$PROJ"/op_kernel/*.h
cp "$ROOT"/op_host/pasa_attention_{def,infershape,tiling,tiling_plan}.cpp "$ROOT"/op_host/*.h "$PROJ/op_host/"
cp "$ROOT"/op_kernel/*.cpp "$ROOT"/op_kernel/*.h "$PROJ/op_kernel/"
# the host sources include ../op_kernel/pasa_attention_tiling_data.h, which the generated layout also has
# the preset as JSON (msopgen writes it with json.dump, one key per line): vendor and toolkit; the vendor the
# package will install under is the one the preset then holds
VENDOR=$(python3 "$ROOT/scripts/ascend_project.py" preset "$PROJ/CMakePresets.json" --vendor "$VENDOR" --cann "$CANN")
echo "== CMakePresets.json: vendor_name=$VENDOR ASCEND_CANN_PACKAGE_PATH=$CANN"

if [ "$UNTIL_OPBUILD" = 1 ]; then
  echo "== the project's build.sh would configure with:" \
    "$(python3 "$PROJ/cmake/util/preset_parse.py" "$PROJ/CMakePresets.json")"
  mapfile -t HOST_FLAGS < <(python3 "$ROOT/scripts/ascend_project.py" host-flags "$PROJ" --cann "$CANN")
  echo "== opbuild's host compile (syntax only): ${CXX:-g++} ${HOST_FLAGS[*]}"
  for f in "$PROJ"/op_host/*.cpp; do
    "${CXX:-g++}" "${HOST_FLAGS[@]}" -fsyntax-only "$f"
    echo "ok   op_host/$(basename "$f")"
  done
  echo "== stopped before opbuild (op_build, the toolkit's libraries) and the kernel compile (bisheng)"
  exit 0
fi

# 3. build the package
(cd "$PROJ" && bash build.sh)
RUN=$(ls "$PROJ"/build_out/custom_opp_*.run | head -1)
echo "== package: $RUN"

# 4. install: the package's install.sh puts it under <target>/vendors/<vendor_name>, the target being
#    --install-path, else $ASCEND_CUSTOM_OPP_PATH if set, else $ASCEND_OPP_PATH (template scripts/install.sh);
#    a stale ASCEND_CUSTOM_OPP_PATH (a list of vendor folders) must not become the target
if [ -n "${PASA_INSTALL_PATH:-}" ]; then
  "$RUN" --install-path="$PASA_INSTALL_PATH"
  VENDOR_DIR=$PASA_INSTALL_PATH/vendors/$VENDOR
  echo "== installed under $VENDOR_DIR; run: source $VENDOR_DIR/bin/set_env.bash"
else
  env -u ASCEND_CUSTOM_OPP_PATH "$RUN"
  VENDOR_DIR=${ASCEND_OPP_PATH:-$CANN/opp}/vendors/$VENDOR
  echo "== installed under $VENDOR_DIR"
fi
[ -d "$VENDOR_DIR/op_api" ] || { echo "build_ascend.sh: no $VENDOR_DIR/op_api after the install" >&2; exit 1; }
export ASCEND_CUSTOM_OPP_PATH=$VENDOR_DIR${ASCEND_CUSTOM_OPP_PATH:+:$ASCEND_CUSTOM_OPP_PATH}

# 5. pasa with its NPU binding
cd "$ROOT"
python setup.py build_ext --inplace
python -c "import pasa, pasa._C_npu; print('pasa NPU backend loaded')"
echo "== a new shell finds the package through ASCEND_CUSTOM_OPP_PATH=$VENDOR_DIR" \
  "(or \$ASCEND_OPP_PATH/vendors/config.ini)"
