"""The variant comparison (benchmarks/variant_ab.py): its two measures on signals whose answer is
known, and its blind A/B kit on the real voice."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import variant_ab  # noqa: E402

SR = 24000


def _tone(freq=440.0, phase=0.0, amp=0.3, seconds=1.0):
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def test_filterbank_covers_the_spectrum():
    fb = variant_ab.mel_filterbank(SR)
    assert fb.shape == (variant_ab.BANDS, variant_ab.N_FFT // 2 + 1)
    np.testing.assert_allclose(fb.sum(axis=1), 1.0, rtol=1e-9)
    assert (fb.argmax(axis=1)[1:] >= fb.argmax(axis=1)[:-1]).all()  # bands in frequency order


def test_identical_audio_is_zero_distance_and_infinite_snr():
    a = _tone()
    assert variant_ab.log_mel_distance(a, a.copy(), SR) == 0.0
    assert variant_ab.waveform_snr(a, a.copy()) == float("inf")


def _noise(seconds=1.0):
    return (0.1 * np.random.default_rng(0).standard_normal(int(SR * seconds))).astype(np.float32)


def test_a_gain_shows_as_its_decibels():
    # twice the amplitude is 4x the power in every band: 10*log10(4) = 6.02 dB everywhere
    a = _noise()
    assert variant_ab.log_mel_distance(a, 2 * a, SR) == pytest.approx(6.02, abs=0.01)


def test_a_shift_in_time_is_heard_as_nothing_but_ruins_the_waveform_snr():
    # what an inexact autoregressive decoder does to audio: the spectra stay, the phase does
    # not. Noise 3 samples (0.125 ms) late: the log-mel distance sees almost nothing, and the
    # waveform SNR is about 0 dB (the difference has the power of the signal, or twice it)
    a = _noise()
    b = np.concatenate([np.zeros(3, np.float32), a[:-3]])
    assert variant_ab.log_mel_distance(a, b, SR) < 0.2
    assert variant_ab.waveform_snr(a, b) < 0.5
    assert variant_ab.log_mel_distance(_tone(), _tone(phase=np.pi / 2), SR) < 0.2


def test_another_sound_is_far_in_log_mel():
    assert variant_ab.log_mel_distance(_tone(440.0), _tone(3000.0), SR) > 10.0


@pytest.mark.slow
def test_blind_pairs_on_the_real_voice(default_bundle, tmp_path):
    sentences = ["你好，欢迎回家。", "明天有小雨，出门记得带伞。"]
    res = variant_ab.run(default_bundle, ["int8"], sentences, str(tmp_path), seed=1, judge=False)
    int8 = res["variants"]["int8"]
    assert res["variants"]["fp32"]["chars_per_s"] > 0 and int8["chars_per_s"] > 0
    assert 0.0 < int8["log_mel_db"] < 10.0  # not exact, and still the same speech
    with open(os.path.join(str(tmp_path), "int8", "key.json")) as f:
        key = json.load(f)
    assert sorted(key) == ["00", "01"]
    import soundfile as sf

    from edgetts.engine.voice import Voice

    fp32 = Voice.load(default_bundle, provider="cpu", variant="fp32")
    for i, text in enumerate(sentences):
        assert sorted(key["%02d" % i].values()) == ["fp32", "int8"]
        label = "A" if key["%02d" % i]["A"] == "fp32" else "B"
        heard, sr = sf.read(os.path.join(str(tmp_path), "int8", "%02d_%s.wav" % (i, label)), dtype="float32")
        assert sr == fp32.config.sample_rate
        # the file the key calls fp32 is the fp32 voice's audio, to one 16-bit step
        np.testing.assert_allclose(heard, np.clip(fp32.synthesize_array(text), -1, 1), atol=1.0 / 32767 + 1e-6)
    with open(os.path.join(str(tmp_path), "sentences.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == ["00 你好，欢迎回家。", "01 明天有小雨，出门记得带伞。"]
