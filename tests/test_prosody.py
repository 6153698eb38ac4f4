"""Prosody controls: units, the edit of predicted pitch and energy, SSML spans, presets, and the
graphs they run through (a tiny random student with prosody; an older bundle without it)."""

import json
import logging
import os

import numpy as np
import pytest

from edgetts.config import SynthesisOptions
from edgetts.engine import prosody
from edgetts.engine.prosody import Controls, ProsodySpec
from edgetts.errors import BundleError, ControlError, SSMLError
from edgetts.text.frontend import Frontend, FrontendOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC_FILE = os.path.join(ROOT, "models", "student", "prosody.json")
TEXT = "今天天气很好，我们一起去公园散步吧。"


@pytest.mark.parametrize("value,semitones", [
    ("+2st", 2.0), ("-3st", -3.0), ("-3.5 st", -3.5), (1.5, 1.5), ("2", 2.0), ("high", 2.0),
    ("x-low", -4.0), ("medium", 0.0), ("+10%", 12 * np.log2(1.1)), ("-20%", 12 * np.log2(0.8))])
def test_pitch_values_in_the_units_users_know(value, semitones):
    assert prosody.parse_pitch(value) == pytest.approx(semitones)


@pytest.mark.parametrize("value,words", [("+20st", None), ("+20Hz", None), ("-100%", None),
                                         ("loud", None), ("nan", None), (float("inf"), None)])
def test_a_pitch_that_cannot_be_used_is_refused_by_name(value, words):
    with pytest.raises(ControlError, match="pitch"):
        prosody.parse_pitch(value)


@pytest.mark.parametrize("value,factor", [("130%", 1.3), ("+30%", 1.3), ("-20%", 0.8), ("0%", 0.0),
                                          (1.2, 1.2), ("0.5", 0.5), ("x-high", 1.7)])
def test_range_values(value, factor):
    assert prosody.parse_factor(value, "pitch_range", words=prosody.RANGE_WORDS) == pytest.approx(factor)
    with pytest.raises(ControlError, match="pitch_range"):
        prosody.parse_factor("-130%", "pitch_range")
    with pytest.raises(ControlError, match="energy"):
        prosody.parse_factor("500%", "energy")


def test_edit_shifts_scales_around_the_mean_and_composes_spans():
    g = np.random.default_rng(0)
    pitch = (16 + 2 * g.standard_normal(20)).astype(np.float32)
    energy = g.standard_normal(20).astype(np.float32)
    p, e = prosody.edit(pitch, energy, Controls())
    assert np.array_equal(p, pitch) and np.array_equal(e, energy)  # neutral: untouched
    p, _ = prosody.edit(pitch, energy, Controls(pitch=3.0))
    assert np.allclose(p - pitch, 3.0, atol=1e-5)
    p, _ = prosody.edit(pitch, energy, Controls(pitch_range=0.0))
    assert np.ptp(p) < 1e-5 and p[0] == pytest.approx(pitch.mean(), abs=1e-4)  # flat at the mean
    p, _ = prosody.edit(pitch, energy, Controls(pitch_range=1.5))
    assert np.allclose(p - pitch.mean(), 1.5 * (pitch - pitch.mean()), atol=1e-4)
    _, e = prosody.edit(pitch, energy, Controls(energy=1.2))
    assert np.allclose(e, 1.2 * energy)
    # a span: +2 st and range 2 on symbols 5-9, on top of the request's +1 st
    spans = [(0.0, 1.0, 1.0)] * 5 + [(2.0, 2.0, 1.1)] * 5 + [(0.0, 1.0, 1.0)] * 10
    p, e = prosody.edit(pitch, energy, Controls(pitch=1.0), spans)
    m = pitch.mean()
    assert np.allclose(p[:5], pitch[:5] + 1.0, atol=1e-5)
    assert np.allclose(p[5:10], m + 2 * (pitch[5:10] - m) + 3.0, atol=1e-4)
    assert np.allclose(e[5:10], 1.1 * energy[5:10]) and np.allclose(e[10:], energy[10:])


def test_a_measured_pitch_response_is_inverted():
    """A voice heard at 0.8x its given shift downwards and 1.0x upwards gets -3.75 st given for
    -3 st asked; the response's range is clamped (never extrapolated)."""
    s = ProsodySpec({"pitch": (-6.0, 6.0)}, pitch_response={"given": [-6.0, 0.0, 6.0], "heard": [-4.8, 0.0, 6.0]})
    assert s.given_shift(np.array([-3.0, 0.0, 3.0])) == pytest.approx([-3.75, 0.0, 3.0])
    assert s.given_shift(np.array([-9.0])) == pytest.approx([-6.0])
    p, _ = prosody.edit(np.full(4, 16.0, np.float32), np.zeros(4, np.float32), Controls(pitch=-3.0), spec=s)
    assert p == pytest.approx(np.full(4, 16.0 - 3.75))
    with pytest.raises(BundleError, match="pitch_response"):
        ProsodySpec.from_dict({"controls": {}, "pitch_response": {"given": [0, 1], "heard": [1, 0]}})


def spec():
    with open(SPEC_FILE, encoding="utf-8") as f:
        return ProsodySpec.from_dict(json.load(f))


def test_presets_resolve_by_name_or_alias_and_compose_with_explicit_controls():
    s = spec()
    calm = s.preset("calm")
    assert s.preset("平静") == calm and s.preset("CALM") == calm
    c = prosody.resolve(s, 1.0, 2.0, None, "平静")
    assert (c.pitch, c.pitch_range, c.energy, c.speed) == pytest.approx(
        (calm.pitch + 1.0, calm.pitch_range * 2.0, calm.energy, calm.speed))
    with pytest.raises(ControlError, match="angry.*calm"):
        prosody.resolve(s, None, None, None, "angry")
    with pytest.raises(ControlError, match="pitch .* outside this voice's range"):
        prosody.resolve(s, 5.0, None, None, "excited")  # +3 +5 > the voice's +6
    # the voice's presets: at least six, each named in Chinese too, and all different
    assert len(s.presets) >= 6 and all(any(not a.isascii() for a in p.aliases) for p in s.presets.values())
    assert len({(p.pitch, p.pitch_range, p.energy, p.speed) for p in s.presets.values()}) == len(s.presets)


def test_a_voice_without_prosody_names_the_control_it_lacks():
    assert prosody.resolve(None, None, None, None, None) == Controls()
    for kw, name in (({"pitch": 2.0}, "pitch"), ({"energy": 1.1}, "energy"), ({"emotion": "calm"}, "emotion")):
        args = dict(dict(pitch=None, pitch_range=None, energy=None, emotion=None), **kw)
        with pytest.raises(ControlError, match="no prosody controls .*%s" % name):
            prosody.resolve(None, args["pitch"], args["pitch_range"], args["energy"], args["emotion"])


@pytest.mark.parametrize("instructions,preset", [
    ("cheerful", "cheerful"), ("开心", "cheerful"), ("Speak in a calm, gentle tone.", "calm"),
    ("用悲伤的语气读", "sad"), ("Be excited but calm", None), ("whisper like a pirate", None),
    ("uncheerfully", None)])
def test_openai_instructions_select_the_one_preset_they_name(instructions, preset):
    assert prosody.preset_in(spec(), instructions) == preset
    assert prosody.preset_in(None, instructions) is None


def ssml(text):
    return Frontend(FrontendOptions(ssml=True))(text)


def test_ssml_pitch_range_and_emphasis_set_the_spans_they_cover():
    (u,) = ssml('<speak>今天<prosody pitch="+3st" range="130%">天气<emphasis level="strong">真'
                '</emphasis></prosody>好</speak>')
    by_char = {}
    for k, c in enumerate(u.symbol_chars):
        if c >= 0:
            by_char.setdefault(u.spoken[c], set()).add(u.symbol_prosody[k])
    strong = prosody.EMPHASIS["strong"]
    assert by_char["今"] == {(0.0, 1.0, 1.0)} and by_char["好"] == {(0.0, 1.0, 1.0)}
    assert by_char["气"] == {(3.0, 1.3, 1.0)}
    ((shift, spread, energy),) = by_char["真"]
    assert (shift, spread, energy) == pytest.approx((3.0, 1.3 * strong[0], strong[1]))
    assert u.symbol_rate is not None and min(u.symbol_rate) == pytest.approx(strong[2])
    (plain,) = ssml("<speak>今天天气真好</speak>")
    assert plain.symbol_prosody is None and plain.ids == u.ids


def test_nested_prosody_adds_shifts_and_bad_values_name_the_attribute():
    (u,) = ssml('<speak><prosody pitch="+2st"><prosody pitch="-5st">你好</prosody></prosody></speak>')
    assert {p[0] for p, c in zip(u.symbol_prosody, u.symbol_chars) if c >= 0} == {-3.0}
    for bad, what in (('<prosody pitch="+30st">', "prosody pitch"), ('<prosody range="loud">', "prosody range"),
                      ('<emphasis level="max">', "emphasis level")):
        tag = bad[1:].split()[0]
        with pytest.raises(SSMLError, match=what):
            ssml("<speak>%s你好</%s></speak>" % (bad, tag))


# -- through the graphs -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def voice(tiny_bundle):
    from edgetts.engine.voice import Voice

    return Voice.load(tiny_bundle, provider="cpu")


@pytest.fixture(scope="module")
def old_voice(tmp_path_factory):
    """A bundle as exported before prosody (fp32 only: enough for the runtime's checks), or
    EDGETTS_TEST_OLD_BUNDLE (the Nano job has no torch to export one)."""
    from edgetts.engine.voice import Voice

    out = os.environ.get("EDGETTS_TEST_OLD_BUNDLE")
    if not out:
        pytest.importorskip("torch")
        from build_bundles import build_tiny

        out = build_tiny(str(tmp_path_factory.mktemp("old_voice")), prosody=False, variants=("fp32",))
    return Voice.load(out, provider="cpu")


def test_neutral_controls_leave_the_audio_and_every_control_changes_it(voice):
    base = voice.synthesize_array(TEXT)
    assert np.array_equal(base, voice.synthesize_array(TEXT, SynthesisOptions(
        pitch=0.0, pitch_range=1.0, energy=1.0, emotion="neutral")))
    for o in (SynthesisOptions(pitch=3.0), SynthesisOptions(pitch_range=0.0),
              SynthesisOptions(energy=1.4), SynthesisOptions(emotion="calm")):
        other = voice.synthesize_array(TEXT, o)
        assert len(other) != len(base) or np.abs(other - base).max() > 1e-3, o
    slow = voice.synthesize_array(TEXT, SynthesisOptions(emotion="sad"))
    assert len(slow) > len(base)  # the preset's speed 0.85 lengthens it


def test_an_ssml_span_changes_its_own_audio_and_not_what_came_before(voice):
    """The decoder is causal and the pitch embedding reaches one symbol either side: audio
    well before the span is identical."""
    plain = voice.synthesize_array("<speak>今天天气很好我们一起去公园散步吧</speak>")
    span = voice.synthesize_array('<speak>今天天气很好我们一起去<prosody pitch="+4st">公园</prosody>散步吧</speak>')
    assert len(plain) == len(span)
    (u,) = voice.prepare("今天天气很好我们一起去公园散步吧")
    first = u.symbol_chars.index(u.spoken.index("公")) - 1  # its neighbour is embedded with it
    frames = 3 * first  # the tiny voice gives every symbol 3 frames
    cut = (frames - voice.config.context_frames) * voice.config.hop  # less the vocoder's context
    assert cut > 0 and np.abs(plain[:cut] - span[:cut]).max() < 1e-6
    assert np.abs(plain[cut:] - span[cut:]).max() > 1e-3


def test_every_variant_carries_the_prosody_graph_and_fp16_follows_fp32(voice, tiny_bundle):
    from edgetts.engine import manifest

    c = manifest.load(tiny_bundle)
    assert all("prosody" in roles for roles in c.graphs.values())
    assert c.prosody is not None and set(c.prosody.controls) == {"pitch", "pitch_range", "energy"}
    # the exporter's validation figures: ONNX against PyTorch, FP16 against FP32
    assert "text_states" in c.validation["max_abs_vs_fp32"]["fp16"]


def test_an_older_bundle_still_speaks_and_names_what_it_lacks(old_voice, caplog):
    assert old_voice.config.prosody is None and "prosody" not in old_voice.sessions
    base = old_voice.synthesize_array("你好")
    assert len(base) > 0
    with pytest.raises(ControlError, match="pitch_range"):
        old_voice.synthesize("你好", SynthesisOptions(pitch_range=1.2))
    with caplog.at_level(logging.WARNING):
        got = old_voice.synthesize_array('<speak><prosody pitch="+3st">你好</prosody></speak>')
    assert np.array_equal(got, base) and "no prosody controls" in caplog.text


def test_a_manifest_whose_prosody_section_and_graphs_disagree_is_refused(tiny_bundle, tmp_path):
    from edgetts.engine import manifest

    with open(os.path.join(tiny_bundle, "voice.json"), encoding="utf-8") as f:
        m = json.load(f)
    del m["prosody"]
    with pytest.raises(BundleError, match="prosody section and prosody graphs"):
        manifest.from_dict(m)
    m = json.loads(json.dumps(m))
    for roles in m["graphs"].values():
        roles.pop("prosody")
    assert manifest.from_dict(m).prosody is None  # a consistent bundle without prosody


def test_the_phrase_cache_key_covers_every_control(voice):
    from edgetts.serving.phrase_cache import phrase_key

    keys = set()
    for text in ("你好", '<speak><prosody pitch="+2st">你好</prosody></speak>',
                 '<speak><emphasis>你好</emphasis></speak>'):
        utts = voice.prepare(text)
        for controls in ({"speed": 1.0}, {"speed": 1.0, "controls": [2.0, 1.0, 1.0, 1.0]},
                         {"speed": 1.0, "controls": [0.0, 1.3, 1.0, 1.0]},
                         {"speed": 1.0, "controls": [0.0, 1.0, 1.2, 1.0]}):
            keys.add(phrase_key("v", "fp32", utts, controls))
    assert len(keys) == 12


def test_cli_say_takes_the_controls_and_names_a_bad_one(tiny_bundle, tmp_path):
    from click.testing import CliRunner

    from edgetts.cli.main import main

    out = str(tmp_path / "x.wav")
    r = CliRunner().invoke(main, ["say", "你好", "--voice", tiny_bundle, "-o", out, "--pitch", "+2st",
                                  "--pitch-range", "130%", "--energy", "110%", "--emotion", "开心"])
    assert r.exit_code == 0, r.output and os.path.getsize(out) > 1000
    r = CliRunner().invoke(main, ["say", "你好", "--voice", tiny_bundle, "-o", out, "--pitch", "+2Hz"])
    assert r.exit_code != 0 and "--pitch" in r.output
    r = CliRunner().invoke(main, ["say", "你好", "--voice", tiny_bundle, "-o", out, "--emotion", "angry"])
    assert r.exit_code != 0 and "angry" in r.output and "cheerful" in r.output
    r = CliRunner().invoke(main, ["voices"], env={"EDGETTS_VOICE": tiny_bundle})
    assert r.exit_code == 0
