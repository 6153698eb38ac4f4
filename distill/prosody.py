"""Pitch measured in audio, and the teacher's pitch scale in hertz.

    python -m edgetts.distill.prosody calibrate --data data/distill [--utts 120]
    python -m edgetts.distill.prosody response --voice voices/default [--utts 40]

The teacher's per-symbol f0 (``distill/teacher_tf.py``) is normalized: ``z = (f0 - mean) / std``
over its training corpus, whose statistics the TFLite file does not carry. The runtime edits
pitch in semitones, so it needs them: ``calibrate`` vocodes held-out teacher mels (MB-MelGAN, the
voice's own vocoder, without the student's postnet), tracks f0 with pYIN, averages it over each
symbol's voiced frames and fits ``f0 = mean + std · z`` by least squares. The utterances were
drawn with varied f0 ratios, so z spans flat and lively readings. The result goes into the voice
manifest (``prosody.pitch_hz``).

``response`` measures a trained voice: held-out clauses read with pitch shifts of ±3 and ±6 st
given to the model as they are, against their unshifted reading. Where the heard shift falls
short of the given one, ``pitch_response`` in the voice's prosody data lets the runtime give the
shift that is heard as the one asked for.

``track`` and ``summary`` are the measurements ``benchmarks/prosody_report.py`` makes too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict

import numpy as np

HOP, SAMPLE_RATE = 300, 24000
FMIN, FMAX = 65.0, 600.0  # the voice speaks at 150-400 Hz; pYIN's search range


TRACK_SR = 8000  # pYIN runs at 8 kHz: f0 is far below its Nyquist, and it is 10x faster


def track(audio: np.ndarray, sr: int = SAMPLE_RATE, hop: int = HOP) -> np.ndarray:
    """f0 in Hz per hop (NaN where unvoiced), by pYIN (librosa) on the audio resampled to
    8 kHz, 50 ms frames."""
    import librosa

    x = audio.astype(np.float32)
    if sr % TRACK_SR == 0 and hop % (sr // TRACK_SR) == 0:
        x = librosa.resample(x, orig_sr=sr, target_sr=TRACK_SR)
        hop, sr = hop // (sr // TRACK_SR), TRACK_SR
    f0, voiced, _ = librosa.pyin(x, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=4 * hop,
                                 hop_length=hop)
    return np.where(voiced, f0, np.nan)


def semitones(hz):
    """Hz → semitones above 100 Hz."""
    return 12.0 * np.log2(np.asarray(hz, np.float64) / 100.0)


def summary(audio: np.ndarray, sr: int = SAMPLE_RATE) -> Dict[str, float]:
    """What a listener's pitch and loudness impression rests on: median f0 (Hz and semitones),
    the p10-p90 range in semitones, the voiced share, RMS (over samples above -50 dBFS peak, so
    that pauses do not dilute it) and the duration."""
    f0 = track(audio, sr)
    v = f0[np.isfinite(f0)]
    st = semitones(v) if len(v) else np.array([np.nan])
    loud = audio[np.abs(audio) > np.abs(audio).max() * 10 ** (-50 / 20)] if len(audio) else audio
    return {"median_hz": float(np.median(v)) if len(v) else float("nan"),
            "median_st": float(np.median(st)),
            "range_st": float(np.percentile(st, 90) - np.percentile(st, 10)) if len(v) else float("nan"),
            "voiced": float(len(v) / max(1, len(f0))),
            "rms": float(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) if len(loud) else 0.0,
            "seconds": len(audio) / sr}


def per_symbol_hz(f0: np.ndarray, durations: np.ndarray, min_voiced: int = 2) -> np.ndarray:
    """Mean f0 over each symbol's voiced frames (NaN with fewer than `min_voiced`)."""
    out = np.full(len(durations), np.nan)
    ends = np.cumsum(durations)
    for s, (a, b) in enumerate(zip(ends - durations, ends)):
        v = f0[a:b]
        v = v[np.isfinite(v)]
        if len(v) >= min_voiced:
            out[s] = float(np.mean(v))
    return out


def calibrate(data: str, utts: int, split: str = "heldout") -> dict:
    import torch

    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    vocoder = load_tflite_vocoder().eval()
    zs, hz = [], []
    with open(os.path.join(data, split + ".jsonl"), encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    used = 0
    for it in items:
        path = os.path.join(data, "mels", it["key"] + ".npz")
        if not os.path.exists(path):
            continue
        with np.load(path) as d:
            if "f0" not in d:
                continue
            mel, dur, z = d["mel"].astype(np.float32), d["durations"].astype(np.int64), d["f0"]
        with torch.no_grad():
            audio = vocoder(torch.from_numpy(mel.T[None])).numpy()[0]
        f0 = track(audio)[: len(mel)]
        sym = per_symbol_hz(f0, dur)
        ok = np.isfinite(sym)
        zs.append(z[ok])
        hz.append(sym[ok])
        used += 1
        if used >= utts:
            break
    z, y = np.concatenate(zs).astype(np.float64), np.concatenate(hz)
    a = np.stack([np.ones_like(z), z], 1)
    (mean, std), *_ = np.linalg.lstsq(a, y, rcond=None)
    pred = mean + std * z
    r2 = 1.0 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    return {"mean": round(float(mean), 2), "std": round(float(std), 2), "r2": round(r2, 3),
            "symbols": int(len(z)), "utterances": used,
            "residual_st": round(float(np.median(np.abs(semitones(y) - semitones(pred)))), 3)}


def response(voice_dir: str, data: str, utts: int, given=(-6.0, -3.0, 0.0, 3.0, 6.0)) -> dict:
    """The voice's pitch response: held-out clauses (never trained on, and not the development
    sentences the report measures) read with each shift in `given` handed to the model as is;
    the median over clauses of each reading's median-f0 shift against the unshifted one."""
    import dataclasses

    from edgetts import SynthesisOptions, Voice

    voice = Voice.load(voice_dir, provider="cpu", variant="fp32")
    spec = voice.config.prosody
    if spec is None:
        raise SystemExit("%s has no prosody controls" % voice_dir)
    # measure the model itself: no earlier response applied, and no limit set from one
    lo, hi = spec.controls.get("pitch", (0.0, 0.0))
    controls = dict(spec.controls, pitch=(min(lo, min(given)), max(hi, max(given))))
    voice.config = dataclasses.replace(voice.config, prosody=dataclasses.replace(
        spec, pitch_response=None, controls=controls))
    with open(os.path.join(data, "heldout.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:utts]
    medians = {g: [summary(voice.synthesize_array(t, SynthesisOptions(pitch=g)))["median_st"]
                   for t in texts] for g in given}
    heard = [float(np.median(np.asarray(medians[g]) - np.asarray(medians[0.0]))) for g in given]
    return {"given": list(given), "heard": [round(h, 3) for h in heard], "clauses": len(texts),
            "how": "median f0 shift (pYIN) of %d held-out clauses against their unshifted reading "
                   "(edgetts.distill.prosody response)" % len(texts)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["calibrate", "response"])
    ap.add_argument("--data", default="data/distill")
    ap.add_argument("--utts", type=int, default=120)
    ap.add_argument("--voice", default="voices/default")
    args = ap.parse_args(argv)
    if args.stage == "calibrate":
        print(json.dumps(calibrate(args.data, args.utts)))
    else:
        print(json.dumps(response(args.voice, args.data, args.utts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
