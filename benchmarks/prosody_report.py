"""``make prosody-report``: the development sentences at each prosody control value and preset,
measured side by side against the neutral reading of the same sentences by the same voice.

    python -m benchmarks.prosody_report [--voice voices/default] [--variant fp32]
        [--sentences ../shared/sentences_dev_zh.txt] [--out build/prosody] [--json F]
        [--mos-python .venv-mos/bin/python] [--no-judge] [--baseline OLD_VOICE]

Per setting it prints:
- the median f0 shift in semitones against neutral (per sentence: the difference of the two
  readings' median f0 over voiced frames, pYIN; then the median over sentences), and the share
  of sentences whose shift is within ±0.7 st of the one asked for;
- the p10-p90 pitch range in semitones (mean over sentences);
- RMS (over samples above -50 dB of the peak) relative to neutral, and the duration;
- the Whisper judge's CER (``distill/judge.py``) and Distill-MOS (PyPI ``distillmos``, run
  with ``--mos-python``, a venv with torch and distillmos: ``make .venv-mos/.installed``).

``--baseline`` adds a row for another voice's reading of the same sentences (the voice before
prosody, say), through the same measurements: the neutral setting's figures against it.

``pitch`` settings are also asked through SSML (``<prosody pitch>`` around each sentence), so
the two paths are checked alike. WAVs stay in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV = [os.path.join(ROOT, "..", "shared", "sentences_dev_zh.txt"),
       os.path.join(ROOT, "tests", "data", "dev_sentences_zh.txt")]
TOLERANCE_ST = 0.7


def settings(presets: List[str], pitch_limits=(-6.0, 6.0)) -> List[Tuple[str, dict, Optional[str], float]]:
    """(label, SynthesisOptions fields, SSML pitch or None, the shift asked for in st); the
    extreme pitch settings are the voice's own limits."""
    lo, hi = pitch_limits
    out = [("neutral", {}, None, 0.0),
           ("pitch +3st", {"pitch": 3.0}, None, 3.0), ("pitch -3st", {"pitch": -3.0}, None, -3.0),
           ("ssml pitch +3st", {}, "+3st", 3.0), ("ssml pitch -3st", {}, "-3st", -3.0),
           ("pitch %+gst" % hi, {"pitch": hi}, None, hi), ("pitch %+gst" % lo, {"pitch": lo}, None, lo),
           ("range 0%", {"pitch_range": 0.0}, None, 0.0), ("range 50%", {"pitch_range": 0.5}, None, 0.0),
           ("range 150%", {"pitch_range": 1.5}, None, 0.0), ("range 200%", {"pitch_range": 2.0}, None, 0.0),
           ("energy 70%", {"energy": 0.7}, None, 0.0), ("energy 140%", {"energy": 1.4}, None, 0.0)]
    out += [("preset " + p, {"emotion": p}, None, float("nan")) for p in presets if p != "neutral"]
    return out


def synthesize(voice, sentences: List[str], out: str, only_neutral: bool = False,
               prefix: str = "") -> Dict[str, List[str]]:
    import soundfile as sf

    from edgetts import SynthesisOptions

    presets = list(voice.config.prosody.presets) if voice.config.prosody else []
    wavs: Dict[str, List[str]] = {}
    for label, fields, ssml_pitch, _ in settings(presets, _limits(voice))[:1 if only_neutral else None]:
        label = prefix + label
        folder = os.path.join(out, label.replace(" ", "_").replace("%", "pc").replace("+", "p"))
        os.makedirs(folder, exist_ok=True)
        wavs[label] = []
        for i, s in enumerate(sentences):
            path = os.path.join(folder, "%02d.wav" % i)
            if not os.path.exists(path):
                text = s if ssml_pitch is None else \
                    '<speak><prosody pitch="%s">%s</prosody></speak>' % (ssml_pitch, s)
                audio = voice.synthesize_array(text, SynthesisOptions(**fields))
                sf.write(path, audio, voice.config.sample_rate, subtype="PCM_16")
            wavs[label].append(path)
    return wavs


def _limits(voice):
    spec = voice.config.prosody
    return spec.controls.get("pitch", (-6.0, 6.0)) if spec else (-6.0, 6.0)


def measure(wavs: Dict[str, List[str]]) -> Dict[str, List[dict]]:
    import soundfile as sf

    from edgetts.distill.prosody import summary

    out = {}
    for label, paths in wavs.items():
        out[label] = []
        for p in paths:
            audio, sr = sf.read(p, dtype="float32")
            out[label].append(summary(audio, sr))
    return out


def judge_cer(wavs: Dict[str, List[str]], sentences: List[str]) -> Dict[str, float]:
    from edgetts.distill.judge import Judge

    judge = Judge()
    return {label: float(np.mean([c for *_, c in judge.score(list(zip(paths, sentences)))]))
            for label, paths in wavs.items()}


def distill_mos(python: str, wavs: Dict[str, List[str]]) -> Dict[str, float]:
    """Mean Distill-MOS per setting, computed in the venv at `python` (torch + distillmos)."""
    paths = [p for ps in wavs.values() for p in ps]
    out = subprocess.run([python, os.path.join(ROOT, "benchmarks", "distill_mos.py")] + paths,
                         check=True, capture_output=True, text=True).stdout
    scores = json.loads(out.strip().splitlines()[-1])  # distillmos prints a line of its own first
    return {label: float(np.mean([scores[p] for p in ps])) for label, ps in wavs.items()}


def report(sentences: List[str], stats: Dict[str, List[dict]], cer: Dict[str, float],
           mos: Dict[str, float], presets: List[str], limits=(-6.0, 6.0)) -> List[dict]:
    neutral = stats["neutral"]
    rows = []
    labels = settings(presets, limits)
    if "baseline neutral" in stats:
        labels = [("baseline neutral", {}, None, float("nan"))] + labels
    for label, _, _, asked in labels:
        if label not in stats:
            continue
        s = stats[label]
        shifts = [a["median_st"] - b["median_st"] for a, b in zip(s, neutral)]
        row = {"setting": label, "median_shift_st": float(np.median(shifts)),
               "range_st": float(np.mean([x["range_st"] for x in s])),
               "rms_vs_neutral": float(np.mean([x["rms"] / max(b["rms"], 1e-9) for x, b in zip(s, neutral)])),
               "seconds": float(np.sum([x["seconds"] for x in s])),
               "voiced": float(np.mean([x["voiced"] for x in s]))}
        if not np.isnan(asked) and label.startswith(("pitch", "ssml")):
            row["asked_st"] = asked
            row["within_tolerance"] = float(np.mean([abs(d - asked) <= TOLERANCE_ST for d in shifts]))
        if label in cer:
            row["cer"] = cer[label]
        if label in mos:
            row["distill_mos"] = mos[label]
        rows.append(row)
    return rows


def print_table(rows: List[dict], n: int) -> None:
    print("| setting | median f0 shift (st) | p10–p90 range (st) | RMS vs neutral | duration (s) | CER | Distill-MOS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        shift = "%+.2f" % r["median_shift_st"]
        if "asked_st" in r:
            shift += " (asked %+g; %d/%d within ±%.1f)" % (r["asked_st"], round(r["within_tolerance"] * n), n,
                                                          TOLERANCE_ST)
        print("| %s | %s | %.1f | %.2f | %.1f | %s | %s |" % (
            r["setting"], shift, r["range_st"], r["rms_vs_neutral"], r["seconds"],
            "%.3f" % r["cer"] if "cer" in r else "–", "%.2f" % r["distill_mos"] if "distill_mos" in r else "–"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--sentences", default=next((p for p in DEV if os.path.exists(p)), DEV[-1]))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "prosody"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--mos-python", default=None, help="a venv's python with torch and distillmos")
    ap.add_argument("--no-judge", action="store_true", help="skip the Whisper judge")
    ap.add_argument("--baseline", default=None, help="another voice bundle, read neutral beside")
    args = ap.parse_args(argv)
    from edgetts import Voice

    with open(args.sentences, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    voice = Voice.load(args.voice, provider="cpu", variant=args.variant)
    if voice.config.prosody is None:
        raise SystemExit("voice %s has no prosody controls: export one with prosody" % args.voice)
    presets = list(voice.config.prosody.presets)
    t = time.time()
    wavs = synthesize(voice, sentences, args.out)
    if args.baseline:
        base = Voice.load(args.baseline, provider="cpu", variant=args.variant)
        wavs.update(synthesize(base, sentences, os.path.join(args.out, "baseline"), True, "baseline "))
    print("synthesized %d settings x %d sentences in %.0f s" % (len(wavs), len(sentences), time.time() - t),
          file=sys.stderr)
    stats = measure(wavs)
    cer = {} if args.no_judge else judge_cer(wavs, sentences)
    mos = distill_mos(args.mos_python, wavs) if args.mos_python else {}
    rows = report(sentences, stats, cer, mos, presets, _limits(voice))
    print("voice %s (%s), %d sentences from %s" % (voice.config.name, voice.variant, len(sentences),
                                                  os.path.relpath(args.sentences, ROOT)))
    print_table(rows, len(sentences))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sentences": args.sentences, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
