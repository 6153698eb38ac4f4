"""Print the runtime's declared dependencies (pyproject.toml), one per line, for pip -r.

    python jetson/requirements.py --without onnxruntime > requirements.txt

``--without NAME`` leaves out requirements whose name starts with NAME: on a Jetson the ONNX
Runtime wheel comes from the Jetson Zoo (install.sh), in CI's Nano job it is pinned to 1.11.1.
Needs Python 3.11+ (tomllib): run it with the export venv's interpreter.
"""

import argparse
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--without", action="append", default=[])
    args = ap.parse_args()
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    for d in deps:
        if not any(d.replace(" ", "").lower().startswith(w.lower()) for w in args.without):
            print(d)


if __name__ == "__main__":
    main()
