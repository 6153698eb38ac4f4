"""Two voices that differ only in their vocoder, on the same mels: judge CER, Distill-MOS,
DNSMOS OVRL and log-mel distance side by side, with the gates a new vocoder must pass.

    python -m benchmarks.vocoder_ab --base voices/default --candidate build/voice-small \\
        [--sentences ../shared/sentences_dev_zh.txt] [--variant fp32] [--out build/vocoder_ab] \\
        [--mos-python .venv-mos/bin/python] [--no-judge] [--json F]

Both bundles must carry the same text encoder and decoder graphs (same SHA-256 in their
manifests), so that each sentence is decoded to the same mel frames and only the vocoder differs;
the run refuses two voices whose acoustic graphs differ. Every sentence is synthesized whole by
both voices and written as 16-bit PCM (as ``edgetts say`` writes) to ``OUT/base/NN.wav`` and
``OUT/candidate/NN.wav``. Then, per voice:

- **judge CER**: the Whisper judge (``distill/judge.py``), mean over sentences;
- **Distill-MOS** and **DNSMOS P.835 OVRL**: ``benchmarks/distill_mos.py --dnsmos`` in the venv of
  ``--mos-python`` (torch, distillmos, speechmos: ``make .venv-mos/.installed``), means;
- **log-mel distance** of the candidate to the base (``benchmarks/variant_ab.log_mel_distance``),
  in dB, mean over sentences.

The gates (issue: a vocoder at half the cost): Distill-MOS and DNSMOS OVRL each no more than 0.05
below the base's, and CER within 0.01 of it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Dict, List

import numpy as np

from benchmarks.variant_ab import log_mel_distance, read_sentences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACOUSTIC_ROLES = ("text_encoder", "decoder_step", "prosody")
MOS_DROP, CER_RISE = 0.05, 0.01


def acoustic_checksums(voice_dir: str, variant: str) -> Dict[str, str]:
    from edgetts.engine import manifest

    graphs = manifest.load(voice_dir).graphs[variant]
    return {role: graphs[role].sha256 for role in ACOUSTIC_ROLES if role in graphs}


def synthesize(voices: Dict[str, str], sentences: List[str], variant: str, out: str) -> dict:
    import soundfile as sf

    from edgetts.engine.voice import Voice

    loaded = {name: Voice.load(path, provider="cpu", variant=variant) for name, path in voices.items()}
    sr = loaded["base"].config.sample_rate
    wavs: Dict[str, List[str]] = {name: [] for name in voices}
    audio: Dict[str, List[np.ndarray]] = {name: [] for name in voices}
    for i, text in enumerate(sentences):
        for name, v in loaded.items():
            x = v.synthesize_array(text)
            path = os.path.join(out, name, "%02d.wav" % i)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sf.write(path, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16")
            wavs[name].append(path)
            audio[name].append(x)
    lengths = [len(a) == len(b) for a, b in zip(audio["base"], audio["candidate"])]
    if not all(lengths):
        raise SystemExit("the voices gave audio of different lengths for %d sentences: their mels "
                         "differ, so this is not a vocoder comparison" % lengths.count(False))
    lmd = [log_mel_distance(a, b, sr) for a, b in zip(audio["base"], audio["candidate"])]
    return {"wavs": wavs, "log_mel_db": float(np.mean(lmd))}


def mos(python: str, paths: List[str]) -> Dict[str, List[float]]:
    out = subprocess.run([python, os.path.join(ROOT, "benchmarks", "distill_mos.py"), "--dnsmos"] + paths,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # distillmos prints a line of its own first


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--sentences", default=os.path.join(ROOT, "..", "shared", "sentences_dev_zh.txt"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "vocoder_ab"))
    ap.add_argument("--mos-python", default=None, help="a venv's python with distillmos and speechmos")
    ap.add_argument("--no-judge", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    voices = {"base": a.base, "candidate": a.candidate}
    sums = {name: acoustic_checksums(path, a.variant) for name, path in voices.items()}
    if sums["base"] != sums["candidate"]:
        raise SystemExit("%s and %s differ in their acoustic graphs (%s): export both from the "
                         "same student" % (a.base, a.candidate, a.variant))
    sentences = read_sentences(a.sentences, a.limit)
    res = synthesize(voices, sentences, a.variant, a.out)
    rows: Dict[str, dict] = {name: {} for name in voices}
    if not a.no_judge:
        from edgetts.distill.judge import Judge

        judge = Judge()
        for name in voices:
            scored = judge.score(list(zip(res["wavs"][name], sentences)))
            rows[name]["cer"] = float(np.mean([c for *_, c in scored]))
            rows[name]["transcripts"] = [h for _, _, h, _ in scored]
    if a.mos_python:
        scores = mos(a.mos_python, res["wavs"]["base"] + res["wavs"]["candidate"])
        for name in voices:
            pairs = np.array([scores[p] for p in res["wavs"][name]], dtype=float)
            rows[name]["distill_mos"] = float(pairs[:, 0].mean())
            rows[name]["dnsmos_ovrl"] = float(pairs[:, 1].mean())
    gates = {}
    b, c = rows["base"], rows["candidate"]
    if "cer" in b:
        gates["cer"] = c["cer"] <= b["cer"] + CER_RISE
    for key in ("distill_mos", "dnsmos_ovrl"):
        if key in b:
            gates[key] = c[key] >= b[key] - MOS_DROP
    print("%d sentences of %s, variant %s" % (len(sentences), a.sentences, a.variant))
    print("%-10s %8s %12s %12s" % ("voice", "CER", "Distill-MOS", "DNSMOS OVRL"))
    for name in voices:
        r = rows[name]
        print("%-10s %8s %12s %12s" % (name, "%.3f" % r["cer"] if "cer" in r else "-",
                                       "%.3f" % r["distill_mos"] if "distill_mos" in r else "-",
                                       "%.3f" % r["dnsmos_ovrl"] if "dnsmos_ovrl" in r else "-"))
    print("log-mel distance, candidate to base: %.2f dB" % res["log_mel_db"])
    verdicts = ", ".join("%s %s" % (k, "pass" if v else "FAIL") for k, v in gates.items())
    print("gates: %s" % (verdicts or "none measured"))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"base": a.base, "candidate": a.candidate, "variant": a.variant,
                       "sentences": sentences, "log_mel_db": res["log_mel_db"], "voices": rows,
                       "gates": gates}, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
