"""Edits and reads the CANN custom-op project that msopgen generates (used by scripts/build_ascend.sh).

    python scripts/ascend_project.py preset PROJECT/CMakePresets.json --vendor pasa --cann $ASCEND_HOME_PATH
        sets the cache variables vendor_name and ASCEND_CANN_PACKAGE_PATH of every configure preset and prints the
        vendor name the file then holds (the vendor the package installs under: vendors/<vendor_name>)

CANN 8.1.RC1's msopgen writes CMakePresets.json with json.dump(..., indent=4) (op_gen/interface/op_file_aicore.py),
one key per line, so the preset is edited as JSON, never line by line.
"""
import argparse
import json


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("preset")
    p.add_argument("path")
    p.add_argument("--vendor", required=True)
    p.add_argument("--cann", required=True)
    args = parser.parse_args()
    print(set_preset(args.path, args.vendor, args.cann))


if __name__ == "__main__":
    main()
