"""The voice's CPU variants against FP32 on the same sentences: what changes, how much faster,
and a blind A/B kit for the listening check that a non-exact change needs (``make listen``).

    python -m benchmarks.variant_ab [--voice voices/default] [--variants int8]
        [--sentences ../shared/sentences_dev_zh.txt] [--keep build/listen] [--judge] [--json F]

Every sentence is synthesized whole (``Voice.synthesize``, the default pipeline) by FP32 and by
each other variant, in one process, interleaved sentence by sentence so that machine noise falls
on both alike. Per variant, against FP32:

- **speed**: characters of text per second of synthesis, summed over the sentences;
- **length**: sentences whose audio has another number of samples (the INT8 text encoder may
  round a duration the other way); the comparisons below use the common part;
- **log-mel distance** (dB): per 12.5 ms frame, the RMS over 80 mel bands of the difference of
  the two log-mel spectra (10·log10 of power, floored 80 dB below the loudest band), averaged
  over frames. It compares the spectra, which is what is heard, and not the phase;
- **waveform SNR** (dB): FP32 audio power over the power of the difference. An autoregressive
  decoder that is not exact drifts in phase: 1 % relative error in its mel frames already gives
  about 12 dB here, while the log-mel distance stays small. So waveform SNR is a criterion only
  for exact changes (see README, Benchmarks);
- **judge CER** (``--judge``, needs ``pip install -e '.[eval]'``): Whisper's character error rate
  over the sentences, for FP32 and the variant, transcribed by the same judge.

With ``--keep DIR`` it writes ``DIR/<variant>/NN_A.wav`` / ``NN_B.wav``: FP32 and the variant in
an order drawn at random per sentence (seeded: ``--seed``), the sentences in ``DIR/sentences.txt``,
and which of A and B is FP32 in ``DIR/<variant>/key.json``, to be opened only after listening.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import time
from typing import Dict, List, Sequence

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SENTENCES = [os.path.join(ROOT, "..", "shared", "sentences_dev_zh.txt"),
                     os.path.join(ROOT, "tests", "data", "dev_sentences_zh.txt")]

# log-mel analysis: the voice's own frame rate and band count
N_FFT, HOP, BANDS = 2048, 300, 80


@functools.lru_cache(maxsize=None)
def mel_filterbank(sample_rate: int, n_fft: int = N_FFT, bands: int = BANDS) -> np.ndarray:
    """Triangular filters on the HTK mel scale, ``[bands, n_fft // 2 + 1]``, each summing to 1."""
    def to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)

    def to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(0.0), to_mel(sample_rate / 2.0), bands + 2))
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    fb = np.zeros((bands, freqs.size))
    for b in range(bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        rise = (freqs - lo) / (mid - lo)
        fall = (hi - freqs) / (hi - mid)
        fb[b] = np.maximum(0.0, np.minimum(rise, fall))
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return fb


def mel_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mel band power ``[frames, BANDS]`` (Hann window, N_FFT, HOP)."""
    x = np.asarray(audio, np.float64)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    frames = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT), axis=1)) ** 2
    return spec @ mel_filterbank(sample_rate).T


# Band powers more than this far below the reference's loudest band count as that level: what
# lies 80 dB down (pauses, the filter's stop bands) is not heard, and its log is rounding noise.
FLOOR_DB = 80.0


def log_mel_distance(ref: np.ndarray, other: np.ndarray, sample_rate: int) -> float:
    """Mean over frames of the RMS over bands of the difference of the two log-mel spectra
    (10·log10 power, floored FLOOR_DB below the reference's peak), in dB, over the common
    length of the two signals (0 for identical audio)."""
    n = min(len(ref), len(other))
    a, b = mel_power(ref[:n], sample_rate), mel_power(other[:n], sample_rate)
    floor = max(float(a.max()), 1e-20) * 10.0 ** (-FLOOR_DB / 10.0)
    la, lb = 10.0 * np.log10(np.maximum(a, floor)), 10.0 * np.log10(np.maximum(b, floor))
    return float(np.sqrt(((la - lb) ** 2).mean(axis=1)).mean())


def waveform_snr(ref: np.ndarray, other: np.ndarray) -> float:
    """10·log10(power of ref / power of the difference) over the common length, in dB."""
    n = min(len(ref), len(other))
    r = np.asarray(ref[:n], np.float64)
    err = float(((np.asarray(other[:n], np.float64) - r) ** 2).sum())
    return float("inf") if err == 0.0 else 10.0 * np.log10(float((r ** 2).sum()) / err)


def read_sentences(path: str, limit: int) -> List[str]:
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return lines[:limit] if limit else lines


def run(voice_dir: str, variants: Sequence[str], sentences: List[str], keep: str, seed: int,
        judge: bool) -> dict:
    import soundfile as sf

    from edgetts.engine.voice import Voice

    voices = {"fp32": Voice.load(voice_dir, provider="cpu", variant="fp32")}
    for v in variants:
        voices[v] = Voice.load(voice_dir, provider="cpu", variant=v)
    for v in voices.values():
        v.synthesize_array(sentences[0])  # warm-up
    sr = voices["fp32"].config.sample_rate

    def write(path: str, x: np.ndarray) -> None:  # as `edgetts say` writes: 16-bit PCM
        sf.write(path, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16")

    audio: Dict[str, List[np.ndarray]] = {name: [] for name in voices}
    seconds = {name: 0.0 for name in voices}
    for text in sentences:
        for name, v in voices.items():
            t = time.perf_counter()
            audio[name].append(v.synthesize_array(text))
            seconds[name] += time.perf_counter() - t
    chars = sum(len(s) for s in sentences)
    rng = random.Random(seed)
    out = {"voice": voice_dir, "sentences": len(sentences), "chars": chars, "variants": {}}
    if keep:
        os.makedirs(keep, exist_ok=True)
        with open(os.path.join(keep, "sentences.txt"), "w", encoding="utf-8") as f:
            f.writelines("%02d %s\n" % (i, s) for i, s in enumerate(sentences))
    transcribe = None
    if judge:
        import tempfile

        from edgetts.distill.judge import Judge, cer

        j = Judge()

        def transcribe(a: np.ndarray) -> str:
            with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
                write(tmp.name, a)
                return j.transcribe(tmp.name)
    for name in voices:
        row = {"chars_per_s": chars / seconds[name],
               "speed_vs_fp32": seconds["fp32"] / seconds[name]}
        if name != "fp32":
            ref, got = audio["fp32"], audio[name]
            row["length_differs"] = sum(len(a) != len(b) for a, b in zip(ref, got))
            row["log_mel_db"] = float(np.mean([log_mel_distance(a, b, sr) for a, b in zip(ref, got)]))
            row["waveform_snr_db_median"] = float(np.median([waveform_snr(a, b) for a, b in zip(ref, got)]))
            if keep:
                folder = os.path.join(keep, name)
                os.makedirs(folder, exist_ok=True)
                key = {}
                for i, (a, b) in enumerate(zip(ref, got)):
                    first_is_fp32 = rng.random() < 0.5
                    pair = (a, b) if first_is_fp32 else (b, a)
                    for label, x in zip("AB", pair):
                        write(os.path.join(folder, "%02d_%s.wav" % (i, label)), x)
                    key["%02d" % i] = {"A": "fp32" if first_is_fp32 else name,
                                       "B": name if first_is_fp32 else "fp32"}
                with open(os.path.join(folder, "key.json"), "w") as f:
                    json.dump(key, f, indent=1)
        if transcribe is not None:
            hyp = [transcribe(a) for a in audio[name]]
            edits = sum(cer(s, h) * len(s) for s, h in zip(sentences, hyp))
            row["judge_cer"] = edits / chars
        out["variants"][name] = row
    return out


def table(res: dict) -> str:
    lines = ["%d sentences, %d characters; voice %s" % (res["sentences"], res["chars"], res["voice"]),
             "| variant | chars/s | speed vs fp32 | lengths that differ | log-mel distance | "
             "waveform SNR (median) | judge CER |", "|---|---|---|---|---|---|---|"]
    for name, r in res["variants"].items():
        cer_s = "%.3f" % r["judge_cer"] if "judge_cer" in r else "-"
        if name == "fp32":
            lines.append("| fp32 | %.0f | 1.00x | - | - | - | %s |" % (r["chars_per_s"], cer_s))
        else:
            lines.append("| %s | %.0f | %.2fx | %d | %.2f dB | %.1f dB | %s |"
                         % (name, r["chars_per_s"], r["speed_vs_fp32"], r["length_differs"],
                            r["log_mel_db"], r["waveform_snr_db_median"], cer_s))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voice", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--variants", default="int8", help="comma-separated CPU variants beside fp32")
    ap.add_argument("--sentences", default=None, help="one sentence per line")
    ap.add_argument("--limit", type=int, default=0, help="the first N sentences only")
    ap.add_argument("--keep", default="", help="write the blind A/B pairs here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge", action="store_true", help="Whisper CER too (needs .[eval])")
    ap.add_argument("--json", dest="json_path", default="")
    a = ap.parse_args(argv)
    path = a.sentences or next((p for p in DEFAULT_SENTENCES if os.path.exists(p)), None)
    if path is None:
        ap.error("no sentence file found; pass --sentences")
    res = run(a.voice, [v for v in a.variants.split(",") if v], read_sentences(path, a.limit),
              a.keep, a.seed, a.judge)
    print(table(res))
    if a.keep:
        print("blind pairs in %s/<variant>/NN_A.wav, NN_B.wav; the key in key.json" % a.keep)
    if a.json_path:
        os.makedirs(os.path.dirname(os.path.abspath(a.json_path)), exist_ok=True)
        with open(a.json_path, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
