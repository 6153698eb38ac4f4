"""Choose among training checkpoints by the judge's CER on held-out clauses, through ONNX.

    python -m edgetts.distill.select runs/prosody2/step*.fp16.pt [build/voice-before ...] \
        [--heldout data/distill/heldout.jsonl --n 240] [--work build/select] \
        [--export-python .venv/bin/python] [--json F]

Each candidate is a student checkpoint (exported to an FP32 voice with ``edgetts.exporter``,
run with ``--export-python``, a Python with torch) or an already exported voice folder. Every
candidate reads the same held-out clauses (``distill/data.py`` keeps them out of training, and
they are not the development sentences that the gates are measured on), through the runtime
the product ships, at neutral settings; the Whisper judge transcribes each. CER is corpus-level:
total edits over total reference characters, so that short clauses do not weigh more than long
ones.

Runs in the judge's venv (``make .venv-eval/.installed``): the runtime and faster-whisper.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def heldout_texts(path: str, n: int) -> List[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()][:n]


def voice_for(candidate: str, work: str, export_python: str, prosody: str) -> str:
    """An exported voice folder for the candidate (exported once into `work`, FP32 only)."""
    if os.path.exists(os.path.join(candidate, "voice.json")):
        return candidate
    out = os.path.join(work, "voice")
    if not os.path.exists(os.path.join(out, "voice.json")):
        subprocess.run([export_python, "-m", "edgetts.exporter", "--student", candidate,
                        "--out", out, "--variants", "fp32", "--prosody", prosody], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    return out


def judge_voice(judge, folder: str, texts: List[str], wavs: str) -> Tuple[float, List[dict]]:
    import soundfile as sf

    from edgetts import Voice
    from edgetts.distill.judge import cer, normalize

    voice = Voice.load(folder, provider="cpu", variant="fp32")
    os.makedirs(wavs, exist_ok=True)
    rows, edits, chars = [], 0.0, 0
    for i, text in enumerate(texts):
        path = os.path.join(wavs, "%03d.wav" % i)
        if not os.path.exists(path):
            sf.write(path, voice.synthesize_array(text), voice.config.sample_rate, subtype="PCM_16")
        hyp = judge.transcribe(path)
        n = len(normalize(text))
        c = cer(text, hyp)
        edits, chars = edits + c * n, chars + n
        rows.append({"text": text, "transcript": hyp, "cer": c})
    return edits / max(chars, 1), rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("candidates", nargs="+", help="FP16 checkpoints or exported voice folders")
    ap.add_argument("--heldout", default=os.path.join(ROOT, "data", "distill", "heldout.jsonl"))
    ap.add_argument("--n", type=int, default=240, help="held-out clauses to read")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "select"))
    ap.add_argument("--export-python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    ap.add_argument("--prosody", default=os.path.join(ROOT, "models", "student", "prosody.json"),
                    help="controls and presets for a checkpoint with prosody (neutral is read)")
    ap.add_argument("--json", default=None, help="write each candidate's transcripts here")
    args = ap.parse_args(argv)

    from edgetts.distill.judge import Judge

    texts = heldout_texts(args.heldout, args.n)
    judge = Judge()
    results = {}
    print("%d held-out clauses from %s" % (len(texts), args.heldout), flush=True)
    for cand in args.candidates:
        t0 = time.time()
        work = os.path.join(args.work, os.path.basename(cand.rstrip("/")).split(".")[0])
        folder = voice_for(cand, work, args.export_python, args.prosody)
        score, rows = judge_voice(judge, folder, texts, os.path.join(work, "wavs"))
        results[cand] = {"cer": score, "rows": rows}
        print("%-40s CER %.4f  (%.0f s)" % (cand, score, time.time() - t0), flush=True)
    best = min(results, key=lambda c: results[c]["cer"])
    print("lowest held-out CER: %s (%.4f)" % (best, results[best]["cer"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
