"""Whole-process `edgetts say` under several interpreters, side by side in one run.

    python -m benchmarks.nano_stack --voice voices/default \
        --python .venv-nano/bin/python --python .venv/bin/python [--keep build/nano-bench]

Every sentence of the dev set is spoken by each interpreter's installed `edgetts` console script,
with the default variant choice, in a fresh process (loading, sessions and front-end included,
as a user runs it); the configurations alternate sentence by sentence so machine drift hits them
alike. Reported per configuration: Python / ONNX Runtime / variant, total wall time over total
audio (whole-process RTF), the median per sentence, and the ratio to the last configuration.
``--keep DIR`` leaves the WAVs (DIR/<n>/<i>.wav) for the intelligibility judge:

    python -m edgetts.distill.judge DIR/0/0.wav "sentence" ...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV = [os.path.join(ROOT, "..", "shared", "sentences_dev_zh.txt"),
       os.path.join(ROOT, "tests", "data", "dev_sentences_zh.txt")]


def sentences(path: str = "") -> List[str]:
    for p in [path] if path else DEV:
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                return [ln.strip() for ln in f if ln.strip()]
    raise SystemExit("no sentence file found (looked in %s)" % ", ".join([path] if path else DEV))


def describe(python: str) -> Dict[str, str]:
    out = subprocess.run([python, "-c", "import sys, onnxruntime, numpy; print(sys.version.split()[0],"
                          " onnxruntime.__version__, numpy.__version__)"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {"python": out[0], "onnxruntime": out[1], "numpy": out[2]}


def speak(python: str, voice: str, text: str, wav_path: str) -> Dict[str, float]:
    exe = os.path.join(os.path.dirname(python), "edgetts")
    t = time.perf_counter()
    r = subprocess.run([exe, "say", text, "--voice", voice, "-o", wav_path, "-v"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit("%s failed: %s" % (exe, r.stderr.strip()))
    with wave.open(wav_path) as w:
        audio = w.getnframes() / float(w.getframerate())
    variant = r.stderr.split("(", 1)[1].split(" on ", 1)[0] if "(" in r.stderr else "?"
    return {"wall": wall, "audio": audio, "variant": variant}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--python", action="append", required=True,
                    help="an interpreter whose venv has edgetts installed (repeat; the last is the baseline)")
    ap.add_argument("--sentences", default="")
    ap.add_argument("--keep", default="", help="keep the WAVs here for the judge")
    ap.add_argument("--json", default="")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the whole set in one process")
    args = ap.parse_args(argv)
    texts = sentences(args.sentences)
    keep = args.keep or tempfile.mkdtemp(prefix="edgetts-nano-bench-")
    configs = [{"python_path": p, **describe(p), "runs": []} for p in args.python]
    for i, text in enumerate(texts):
        for n, c in enumerate(configs):
            os.makedirs(os.path.join(keep, str(n)), exist_ok=True)
            c["runs"].append(speak(c["python_path"], args.voice, text, os.path.join(keep, str(n), "%d.wav" % i)))
        print("%d/%d %s" % (i + 1, len(texts), text), file=sys.stderr)
    base = None
    rows = []
    for c in reversed(configs):
        wall = sum(r["wall"] for r in c["runs"])
        audio = sum(r["audio"] for r in c["runs"])
        c["rtf"] = wall / audio
        c["median_rtf"] = statistics.median(r["wall"] / r["audio"] for r in c["runs"])
        c["variant"] = ",".join(sorted({r["variant"] for r in c["runs"]}))
        base = base or c
        rows.append(c)
    print("| Python | onnxruntime | numpy | variant | sentences | audio s | wall s | "
          "whole-process RTF | median RTF | vs baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        print("| %s | %s | %s | %s | %d | %.1f | %.1f | %.3f | %.3f | %.2fx |" % (
            c["python"], c["onnxruntime"], c["numpy"], c["variant"], len(c["runs"]),
            sum(r["audio"] for r in c["runs"]), sum(r["wall"] for r in c["runs"]), c["rtf"],
            c["median_rtf"], c["rtf"] / base["rtf"]))
    # The whole set in one process (one load, every sentence pipelined): synthesis dominates.
    whole_text = "\n".join(texts)
    for _rep in range(args.repeats):
        for n, c in enumerate(configs):
            c.setdefault("whole", []).append(
                speak(c["python_path"], args.voice, whole_text, os.path.join(keep, "whole-%d.wav" % n)))
    print()
    print("| Python | onnxruntime | whole set in one process: audio s | wall s (each run) | "
          "whole-process RTF (best) | vs baseline |")
    print("|---|---|---|---|---|---|")
    best_base = min(r["wall"] / r["audio"] for r in base["whole"])
    for c in configs:
        best = min(r["wall"] / r["audio"] for r in c["whole"])
        print("| %s | %s | %.1f | %s | %.3f | %.2fx |" % (
            c["python"], c["onnxruntime"], c["whole"][0]["audio"],
            " / ".join("%.2f" % r["wall"] for r in c["whole"]), best, best / best_base))
    print("WAVs in %s (configuration n → %s/n/)" % (keep, keep), file=sys.stderr)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"sentences": texts, "configs": configs}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
