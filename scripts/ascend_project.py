"""Edits and reads the CANN custom-op project that msopgen generates (used by scripts/build_ascend.sh).

    python scripts/ascend_project.py preset PROJECT/CMakePresets.json --vendor pasa --cann $ASCEND_HOME_PATH
        sets the cache variables vendor_name and ASCEND_CANN_PACKAGE_PATH of every configure preset and prints the
        vendor name the file then holds (the vendor the package installs under: vendors/<vendor_name>)
    python scripts/ascend_project.py host-flags PROJECT --cann $ASCEND_HOME_PATH
        prints, one per line, the language standard, definitions and include directories with which the project's
        opbuild step compiles op_host/*.cpp (its cmake/func.cmake), for a syntax-only compile of the host sources

CANN 8.1.RC1's msopgen writes CMakePresets.json with json.dump(..., indent=4) (op_gen/interface/op_file_aicore.py),
one key per line, so the preset is edited as JSON, never line by line.
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import sys


def set_preset(path, vendor, cann):
    """Sets vendor_name and ASCEND_CANN_PACKAGE_PATH in every configure preset of the CMakePresets.json at path.

    Returns the vendor name the file holds afterwards. Raises ValueError if the file has no configure preset or a
    preset lacks one of the two cache variables (a template this script does not know)."""
    with open(path) as f:
        data = json.load(f)
    presets = data.get("configurePresets") or []
    if not presets:
        raise ValueError(f"{path}: no configurePresets")
    for preset in presets:
        cache = preset.get("cacheVariables", {})
        for key, value in (("vendor_name", vendor), ("ASCEND_CANN_PACKAGE_PATH", cann)):
            if "value" not in cache.get(key, {}):
                raise ValueError(f"{path}: preset '{preset.get('name')}' has no cache variable {key} with a value")
            cache[key]["value"] = value
    with open(path, "w") as f:
        json.dump(data, f, indent=4)   # as msopgen writes it
    return preset_value(path, "vendor_name")


def preset_value(path, key):
    """The value of cache variable key in the first configure preset of the CMakePresets.json at path."""
    with open(path) as f:
        return json.load(f)["configurePresets"][0]["cacheVariables"][key]["value"]


def host_flags(project, cann):
    """-std, -D and -I arguments of the opbuild compile in project/cmake/func.cmake, for op_host/*.cpp.

    The template compiles `${CMAKE_COMPILE} -g -fPIC -shared -std=c++11 ${OPBUILD_OPS_SRC} -D... -I
    ${ASCEND_CANN_PACKAGE_PATH}/include -I ${CMAKE_CURRENT_SOURCE_DIR}/../op_kernel -L... -l... -o ...` in its
    opbuild function (run from op_host/CMakeLists.txt)."""
    with open(os.path.join(project, "cmake", "func.cmake")) as f:
        text = f.read()
    m = re.search(r"function\(opbuild\).*?execute_process\(COMMAND \$\{CMAKE_COMPILE\}(.*?)RESULT_VARIABLE", text, re.S)
    if not m:
        raise ValueError(f"{project}/cmake/func.cmake: no opbuild compile command found")
    words = shlex.split(m.group(1).replace("${ASCEND_CANN_PACKAGE_PATH}", cann)
                        .replace("${CMAKE_CURRENT_SOURCE_DIR}", os.path.join(project, "op_host")))
    flags = []
    for i, w in enumerate(words):
        if w.startswith(("-std=", "-D")):
            flags.append(w)
        elif w == "-I" or (w.startswith("-I") and len(w) > 2):
            d = os.path.normpath(words[i + 1] if w == "-I" else w[2:])
            if d == os.path.join(os.path.normpath(cann), "include") and not os.path.isdir(d):
                d = _installed_include(cann, os.path.join(project, "cann_include"))
            flags.append("-I" + d)
    if not any(f.startswith("-std=") for f in flags):
        raise ValueError(f"{project}/cmake/func.cmake: the opbuild compile names no -std")
    return flags


def _installed_include(cann, tree):
    """The toolkit's include/ as an install lays it out, for a copy of the toolkit that keeps no symbolic links.

    CANN 8.1.RC1's packages link include -> <arch>-linux/include, and the runtime package links
    <arch>-linux/include/tiling and kernel_tiling to <arch>-linux/ascendc/include/highlevel_api/{tiling,kernel_tiling}
    (the softlink column of runtime/script/filelist.csv): op_host code includes "tiling/platform/platform_ascendc.h"
    through that link. The links are made in tree."""
    found = glob.glob(os.path.join(cann, "*-linux", "include"))
    if len(found) != 1:
        raise ValueError(f"{cann}: no include/ and not one <arch>-linux/include")
    arch_include = found[0]
    highlevel = os.path.join(os.path.dirname(arch_include), "ascendc", "include", "highlevel_api")
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    links = {name: os.path.join(arch_include, name) for name in os.listdir(arch_include)}
    for name in ("tiling", "kernel_tiling"):
        links.setdefault(name, os.path.join(highlevel, name))
    for name, target in links.items():
        if os.path.exists(target):
            os.symlink(target, os.path.join(tree, name))
    print(f"ascend_project: {cann}/include absent (a copy without the install's links): "
          f"{tree} links it as an install does", file=sys.stderr)
    return tree


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("preset")
    p.add_argument("path")
    p.add_argument("--vendor", required=True)
    p.add_argument("--cann", required=True)
    h = sub.add_parser("host-flags")
    h.add_argument("project")
    h.add_argument("--cann", required=True)
    args = parser.parse_args()
    if args.command == "preset":
        print(set_preset(args.path, args.vendor, args.cann))
    else:
        print("\n".join(host_flags(args.project, args.cann)))


if __name__ == "__main__":
    main()
