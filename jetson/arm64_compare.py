"""The emulated arm64 WAVs (jetson/arm64_check.sh) against this machine's x86 output.

    python jetson/arm64_compare.py --voice voices/default --out build/arm64/out [--x86-python P]

The x86 side runs `edgetts say` with the same sentences, variant and onnxruntime version (the
Nano job's venv, 1.11.1, by default), so what differs is the CPU and its kernels. Per variant and
sentence it reports the length, the log-mel distance (benchmarks/variant_ab.py) and the share of
clipped samples.

Tolerances, and why: ARM's and x86's kernels sum in other orders and use other vector widths
(NEON against AVX2), and FP32 rounding then differs in the last bits. The decoder feeds its own
frames back, so these differences grow along a sentence, and a duration may round to the next
frame. So the check is:
- the length within 2 % (a few frames);
- the log-mel distance within 2 dB for fp32 and nano and 3 dB for int8, whose quantized
  activations round differently (a variant's own CPU changes are judged by its listening test,
  not here);
- for INT8, no saturation: at most 0.1 % of the samples at full scale.

The figures go to OUT/compare.json; any row outside its tolerance fails with its numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from benchmarks.variant_ab import log_mel_distance  # noqa: E402

MAX_DB = {"fp32": 2.0, "nano": 2.0, "int8": 3.0}
MAX_LENGTH_DIFF = 0.02
MAX_CLIPPED = 1e-3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voice", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--x86-python", default=sys.executable)
    a = ap.parse_args(argv)
    with open(os.path.join(a.out, "sentences.txt"), encoding="utf-8") as f:
        sentences = [s.strip() for s in f if s.strip()]
    rows, bad = [], []
    for variant in MAX_DB:
        os.makedirs(os.path.join(a.out, "x86", variant), exist_ok=True)
        for n, text in enumerate(sentences):
            ref_path = os.path.join(a.out, "x86", variant, "%d.wav" % n)
            subprocess.run([a.x86_python, "-m", "edgetts.cli", "say", text, "--voice", a.voice, "--provider", "cpu",
                            "--variant", variant, "-o", ref_path], check=True, stderr=subprocess.DEVNULL)
            ref, sr = sf.read(ref_path, dtype="float32")
            arm, _ = sf.read(os.path.join(a.out, variant, "%d.wav" % n), dtype="float32")
            row = {"variant": variant, "sentence": n, "x86_samples": len(ref), "arm_samples": len(arm),
                   "length_diff": abs(len(arm) - len(ref)) / len(ref),
                   "log_mel_db": round(log_mel_distance(ref, arm, sr), 3),
                   "clipped": float(np.mean(np.abs(arm) >= 32767 / 32768))}
            rows.append(row)
            ok = (row["length_diff"] <= MAX_LENGTH_DIFF and row["log_mel_db"] <= MAX_DB[variant]
                  and row["clipped"] <= MAX_CLIPPED)
            print("%-5s %d  samples x86 %6d arm %6d  log-mel %.2f dB  clipped %.5f  %s"
                  % (variant, n, len(ref), len(arm), row["log_mel_db"], row["clipped"], "ok" if ok else "OUT"))
            if not ok:
                bad.append(row)
    timing = os.path.join(a.out, "arm_timing.json")
    if os.path.exists(timing):
        arm = {(t["variant"], t["sentence"]): t for t in json.load(open(timing))}
        for r in rows:
            t = arm.get((r["variant"], r["sentence"]))
            if t:
                r["arm_rtf"] = t["rtf"]
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump(rows, f, indent=1)
    for v in MAX_DB:
        rtfs = [r["arm_rtf"] for r in rows if r["variant"] == v and "arm_rtf" in r]
        if rtfs:
            print("%-5s emulated RTF (synthesis, voice loaded) %s" % (v, " / ".join("%.2f" % x for x in rtfs)))
    if bad:
        print("test-arm64: %d of %d outside tolerance: %s" % (len(bad), len(rows), json.dumps(bad)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
