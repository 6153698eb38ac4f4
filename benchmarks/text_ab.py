"""A front-end change judged on the same sentences: this checkout against an earlier runtime.

    python -m benchmarks.text_ab --sentences ../shared/sentences_mixed_dev.txt \
        --against /path/to/old/runtime --out build/text_ab [--voice voices/default] [--json F]

Each sentence is synthesized whole with the default FP32 voice, once by this checkout's runtime
with the ``--unknown`` policy for Latin letters, and once by the runtime folder given with
``--against`` (an older checkout's ``runtime/``, or this one's) with ``--against-unknown``, each
in a subprocess of its own so the two never share modules. Both sets go through the same Whisper
judge (``distill/judge.py``, needs ``pip install -e '.[eval]'``); the report lists, per sentence,
each side's transcript and CER, then the mean CER of each side. The WAVs stay in
``OUT/before`` and ``OUT/after`` with a ``manifest.tsv`` each (``wav<TAB>text``), ready for the
naturalness predictors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synth(runtime: str, voice: str, sentences: List[str], out: str, unknown: str = "spell") -> None:
    """Synthesize every sentence with the runtime package found in ``runtime`` (in this process)."""
    sys.path.insert(0, os.path.abspath(runtime))
    for name in [m for m in sys.modules if m == "edgetts" or m.startswith("edgetts.")]:
        del sys.modules[name]
    import numpy as np
    import soundfile as sf
    from edgetts import SynthesisOptions, Voice

    v = Voice.load(voice, provider="cpu", variant="fp32")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "manifest.tsv"), "w", encoding="utf-8") as man:
        for i, text in enumerate(sentences):
            audio = np.concatenate([c.audio for c in v.synthesize(text, SynthesisOptions(unknown=unknown))])
            path = os.path.join(out, "%02d.wav" % i)
            sf.write(path, audio, v.config.sample_rate)
            man.write("%s\t%s\n" % (os.path.abspath(path), text))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", default=os.path.join(ROOT, "..", "shared", "sentences_mixed_dev.txt"))
    ap.add_argument("--voice", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--against", required=True, help="the runtime/ folder of the checkout to compare with")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "text_ab"))
    ap.add_argument("--json", help="write the per-sentence results here")
    ap.add_argument("--unknown", default="spell", help="this checkout's policy for Latin letters (spell, read)")
    ap.add_argument("--against-unknown", default="spell", help="the same for the other runtime")
    ap.add_argument("--_synth", nargs=3, metavar=("RUNTIME", "OUT", "POLICY"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    with open(a.sentences, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    if a._synth:
        synth(a._synth[0], a.voice, sentences, a._synth[1], a._synth[2])
        return 0
    sides = {"before": os.path.abspath(a.against), "after": os.path.join(ROOT, "runtime")}
    policy = {"before": a.against_unknown, "after": a.unknown}
    for side, runtime in sides.items():
        # each side in a process of its own: two versions of one package cannot share one
        subprocess.run([sys.executable, "-m", "benchmarks.text_ab", "--sentences", a.sentences,
                        "--voice", a.voice, "--against", a.against,
                        "--_synth", runtime, os.path.join(a.out, side), policy[side]], check=True, cwd=ROOT)
    from edgetts.distill.judge import Judge

    judge = Judge()
    rows = []
    for i, text in enumerate(sentences):
        row = {"text": text}
        for side in sides:
            _, _, hyp, c = judge.score([(os.path.join(a.out, side, "%02d.wav" % i), text)])[0]
            row[side] = {"transcript": hyp, "cer": round(c, 4)}
        rows.append(row)
        print("%2d  %s\n    before %.3f  %s\n    after  %.3f  %s" % (
            i, text, row["before"]["cer"], row["before"]["transcript"],
            row["after"]["cer"], row["after"]["transcript"]))
    mean = {side: sum(r[side]["cer"] for r in rows) / len(rows) for side in sides}
    print("mean CER over %d sentences: before %.3f  after %.3f" % (len(rows), mean["before"], mean["after"]))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"sentences": rows, "mean_cer": mean}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
