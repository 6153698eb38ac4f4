"""Per-character timestamps on the real voice, from the API, `say --marks` and HTTP; and SSML
and the lexicon through the CLI and the service."""

import base64
import io
import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from edgetts.cli import main
from edgetts.config import SynthesisOptions
from edgetts.engine.voice import Voice

TEXT = "验证码是384756。请用WeChat支付，谢谢！"


@pytest.fixture(scope="module")
def voice(default_bundle):
    return Voice.load(default_bundle, provider="cpu", variant="fp32")


def _check_against_audio(voice, text, marks, duration):
    """Times increase, every sayable character has one mark, and after the last mark there
    is exactly the last clause's trailing silence (its final sil frames) and pause, to a frame;
    that stretch of the audio is quiet."""
    hop = voice.config.hop / voice.config.sample_rate
    utts = voice.prepare(text)
    assert "".join(m["text"] for m in marks) == "".join(
        u.spoken[c:u.char_end(c)] for u in utts for c in dict.fromkeys(x for x in u.symbol_chars if x >= 0))
    starts = [m["start"] for m in marks]
    assert all(m["start"] < m["end"] for m in marks)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(marks, marks[1:]))
    assert starts == sorted(starts)
    last = utts[-1]
    _, _, sym = voice.encode(last, SynthesisOptions())
    voiced = [f for f in range(len(sym)) if last.symbol_chars[sym[f]] >= 0]
    trailing = (len(sym) - 1 - voiced[-1]) * hop + last.pause_after
    assert abs(duration - marks[-1]["end"] - trailing) <= hop + 1e-6


def test_api_marks_line_up_with_the_audio(voice):
    chunks = list(voice.synthesize(TEXT))
    audio = np.concatenate([c.audio for c in chunks])
    sr = voice.config.sample_rate
    marks = [m.to_dict() for c in chunks for m in c.marks]
    _check_against_audio(voice, TEXT, marks, len(audio) / sr)
    # after the last character only its release (the vocoder's decay, under 250 ms) and then
    # silence: the pause at the end is quiet beside the speech
    end = int(marks[-1]["end"] * sr)
    speech = np.sqrt(np.mean(audio[:end] ** 2))
    tail = audio[end + int(0.25 * sr):]
    assert len(tail) > 0.05 * sr and np.sqrt(np.mean(tail ** 2)) < 0.05 * speech


def test_marks_arrive_with_the_chunk_where_the_character_starts(voice):
    sr = voice.config.sample_rate
    t = 0.0
    for c in voice.synthesize(TEXT):
        for m in c.marks:
            assert t - 1e-6 <= m.start <= t + len(c.audio) / sr + 1e-6
        t += len(c.audio) / sr


def test_say_writes_json_lines_and_webvtt(default_bundle, tmp_path):
    runner = CliRunner()
    wav, jl, vtt = (str(tmp_path / n) for n in ("a.wav", "a.jsonl", "a.vtt"))
    r = runner.invoke(main, ["say", TEXT, "--voice", default_bundle, "-o", wav, "--marks", jl])
    assert r.exit_code == 0, r.output
    with open(jl, encoding="utf-8") as f:
        marks = [json.loads(line) for line in f]
    assert set(marks[0]) == {"text", "start", "end"}
    voice = Voice.load(default_bundle, provider="cpu")
    _check_against_audio(voice, TEXT, marks, sf.info(wav).frames / sf.info(wav).samplerate)
    r = runner.invoke(main, ["say", TEXT, "--voice", default_bundle, "-o", wav, "--marks", vtt])
    assert r.exit_code == 0, r.output
    cues = open(vtt, encoding="utf-8").read().strip().split("\n\n")
    assert cues[0] == "WEBVTT" and len(cues) == len(marks) + 1
    assert cues[1].splitlines()[1].count(" --> ") == 1 and cues[1].splitlines()[2] == marks[0]["text"]


def test_say_reads_ssml_and_a_lexicon_from_the_environment(default_bundle, tmp_path):
    lex = tmp_path / "lex.tsv"
    lex.write_text("WeChat\t=微信\n", encoding="utf-8")
    runner = CliRunner()
    ssml = '<speak>你好<break time="2s"/>请用WeChat</speak>'
    plain = str(tmp_path / "plain.wav")
    with_break = str(tmp_path / "ssml.wav")
    assert runner.invoke(main, ["say", "你好，请用微信", "--voice", default_bundle, "-o", plain]).exit_code == 0
    r = runner.invoke(main, ["say", ssml, "--voice", default_bundle, "-o", with_break],
                      env={"EDGETTS_LEXICON": str(lex)})
    assert r.exit_code == 0, r.output
    # the 2 s break replaces the comma's 0.15 s pause; the alias is read like the plain text
    gap = sf.info(with_break).duration - sf.info(plain).duration
    assert gap == pytest.approx(2.0 - 0.15, abs=0.05)


def test_frontend_shows_ssml_lexicon_and_forced_plain_text(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["frontend", '<speak><prosody rate="slow">好</prosody></speak>'])
    assert r.exit_code == 0 and "rate:" in r.output and "0.75" in r.output
    r = runner.invoke(main, ["frontend", "--no-ssml", "--unknown", "skip", "<speak>好</speak>"])
    assert r.exit_code == 0 and "[1] <speak>好</speak>" in r.output
    r = runner.invoke(main, ["frontend", "<speak>好"])
    assert r.exit_code == 1 and "malformed SSML" in r.output
    bad = tmp_path / "bad.tsv"
    bad.write_text("行长\thang2\n", encoding="utf-8")
    r = runner.invoke(main, ["frontend", "行长", "--lexicon", str(bad)])
    assert r.exit_code == 1 and "%s:1:" % bad in r.output and "Traceback" not in r.output


def test_serve_refuses_a_bad_lexicon_with_the_config_exit_code(tmp_path, default_bundle):
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["serve", "--voice", default_bundle, "--lexicon", str(bad)])
    assert r.exit_code == 78 and "bad.tsv:1:" in r.output


# -- over HTTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def service(voice):
    from test_server import start, stop

    svc, httpd, client = start(voice)
    yield client
    stop(svc, httpd)


def test_http_marks_document(service, voice):
    status, headers, body = service.tts({"text": TEXT, "marks": True})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    audio, sr = sf.read(io.BytesIO(base64.b64decode(doc["audio"])), dtype="float32")
    assert sr == doc["sample_rate"] and len(audio) / sr == pytest.approx(doc["duration"])
    _check_against_audio(voice, TEXT, doc["marks"], len(audio) / sr)
    # the batched service and Voice.synthesize give the same durations, so the same times
    api = [m.to_dict() for c in voice.synthesize(TEXT) for m in c.marks]
    assert doc["marks"] == api


def test_http_streamed_marks_come_with_their_audio(service):
    """``stream`` + ``marks``: NDJSON, the sample rate first, then each PCM chunk with the marks
    now known, then the duration; the same audio and marks as the whole answer."""
    status, headers, body = service.tts({"text": TEXT, "marks": True, "stream": True, "format": "pcm"})
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(ln) for ln in body.decode("utf-8").splitlines()]
    assert lines[0] == {"sample_rate": 24000, "format": "pcm_s16le"} and lines[-1]["done"] is True
    chunks = lines[1:-1]
    assert len(chunks) >= 2 and all(set(c) == {"audio", "marks"} for c in chunks)
    pcm = b"".join(base64.b64decode(c["audio"]) for c in chunks)
    marks = [m for c in chunks for m in c["marks"]]
    _, _, whole = service.tts({"text": TEXT, "marks": True})
    doc = json.loads(whole)
    assert marks == doc["marks"] and pcm == base64.b64decode(doc["audio"])[44:]
    assert abs(lines[-1]["duration"] - doc["duration"]) < 1e-9
    # a mark arrives with (or before) the chunk that carries its end
    seen = 0
    for c in chunks:
        seen += len(base64.b64decode(c["audio"])) // 2
        assert all(m["start"] * 24000 <= seen + 1 for m in c["marks"])


def test_http_ssml_in_both_endpoints(service):
    ssml = '<speak>你好<break time="1s"/>世界</speak>'
    s1, _, plain = service.tts({"text": "你好，世界"})
    s2, _, marked = service.tts({"text": ssml})
    s3, _, openai = service.tts({"input": ssml, "model": "tts-1", "voice": "alloy"}, "/v1/audio/speech")
    assert s1 == s2 == s3 == 200
    d_plain = sf.info(io.BytesIO(plain)).duration
    d_ssml = sf.info(io.BytesIO(marked)).duration
    assert d_ssml - d_plain == pytest.approx(1.0 - 0.15, abs=0.05)
    assert len(openai) > 44


def test_http_bad_ssml_is_named(service):
    status, _, body = service.tts({"text": '<speak><break time="20s"/></speak>'})
    assert status == 422 and "10 s limit" in json.loads(body)["error"]["message"]
    status, _, body = service.tts({"text": "<speak>你好</speak>", "ssml": "yes"})
    assert status == 422 and "'ssml' must be true or false" in json.loads(body)["error"]["message"]
    status, _, body = service.tts({"text": "<speak>好</speak>", "ssml": False, "unknown": "strict"})
    assert status == 422 and "cannot say" in json.loads(body)["error"]["message"]
