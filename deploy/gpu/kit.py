"""Pack what a GPU machine without network needs to run ``deploy/gpu/gpu_check.sh``.

    python deploy/gpu/kit.py [--voice voices/default] [--out build/gpu-kit] [--python-version 3.12]
        [--ort onnxruntime-gpu==1.31.1] [--chunk-mib 60]

The machine has a working copy of this repository (the script, the tests, the dev sentences) and
its own Python with torch, numpy and the CUDA libraries as pip packages, but nothing of edgetts.
The kit is one tar, cut into chunks of at most ``--chunk-mib`` MiB so that each travels in one
call of at most 64 MiB:

- ``voice/``: the default voice's FP16 and FP32 graphs and a ``voice.json`` that lists only those
  two variants (the INT8 and Nano graphs stay here);
- ``wheels/``: the runtime wheel, its dependencies, pytest, hypothesis and nvidia-ml-py for the
  machine's Python (``--python-version``, manylinux x86_64), and ONNX Runtime GPU (``--ort``),
  built for the CUDA major version the machine has.

``build/gpu-kit/chunks/kit.part-NN`` and ``build/gpu-kit/manifest.json`` (sizes and SHA-256 of the
chunks, checked when the kit is put back together) are the output; the order of calls is in
``deploy/gpu/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile

from edgetts.engine.manifest import sha256

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_28_x86_64", "any"]


def _pip_download(dest: str, python_version: str, *args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version",
           python_version, "-d", dest]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd + list(args), check=True)


def _voice(src: str, dest: str) -> None:
    with open(os.path.join(src, "voice.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["graphs"] = {k: v for k, v in manifest["graphs"].items() if k in ("fp16", "fp32")}
    os.makedirs(dest)
    files = {g["file"] for graphs in manifest["graphs"].values() for g in graphs.values()}
    for name in sorted(files):
        shutil.copy(os.path.join(src, name), dest)
    with open(os.path.join(dest, "voice.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voice", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "gpu-kit"))
    ap.add_argument("--python-version", default="3.12")
    ap.add_argument("--ort", default="onnxruntime-gpu==1.31.1")
    ap.add_argument("--chunk-mib", type=int, default=60)
    a = ap.parse_args(argv)

    stage = os.path.join(a.out, "stage")
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(os.path.join(stage, "wheels"))
    _voice(a.voice, os.path.join(stage, "voice"))
    wheels = os.path.join(stage, "wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels,
                    os.path.join(ROOT, "runtime")], check=True)
    reqs = [ln.split("#")[0].strip() for ln in open(os.path.join(ROOT, "runtime", "requirements.txt"))]
    # ONNX Runtime is the GPU build named by --ort, whatever the requirement lines say
    reqs = [r for r in reqs if r and not r.startswith("onnxruntime")]
    _pip_download(wheels, a.python_version, *reqs, "pytest", "hypothesis", "nvidia-ml-py")
    _pip_download(wheels, a.python_version, "--no-deps", a.ort)

    tar_path = os.path.join(a.out, "kit.tar")
    with tarfile.open(tar_path, "w") as tar:
        for name in ("voice", "wheels"):
            tar.add(os.path.join(stage, name), arcname=name)
    shutil.rmtree(stage)
    chunks = os.path.join(a.out, "chunks")
    os.makedirs(chunks)
    size = a.chunk_mib << 20
    parts = []
    with open(tar_path, "rb") as f:
        for n, block in enumerate(iter(lambda: f.read(size), b"")):
            path = os.path.join(chunks, "kit.part-%02d" % n)
            with open(path, "wb") as out:
                out.write(block)
            parts.append({"file": os.path.relpath(path, ROOT), "bytes": len(block), "sha256": sha256(path)})
    total = os.path.getsize(tar_path)
    os.remove(tar_path)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump({"ort": a.ort, "python_version": a.python_version, "bytes": total, "parts": parts}, f, indent=1)
    print("gpu kit: %d MiB in %d chunks of at most %d MiB under %s"
          % (total >> 20, len(parts), a.chunk_mib, os.path.relpath(chunks, ROOT)))
    for p in parts:
        print("  %s  %5.1f MiB" % (p["file"], p["bytes"] / 2 ** 20))
    print("order of calls: deploy/gpu/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
