"""The Wyoming adapter through the `wyoming` package's own client, on loopback, beside HTTP in
the same process (same voice, cache and scheduler)."""

import asyncio
import socket
import subprocess
import sys

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from edgetts.engine.voice import Voice
from edgetts.serving.wyoming_server import split_complete
from test_server import start, stop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voice(tiny_bundle):
    return Voice.load(tiny_bundle, provider="cpu", variant="fp32")


@pytest.fixture(scope="module")
def served(voice):
    port = free_port()
    svc, httpd, client = start(voice, server_kw={"wyoming": "tcp://127.0.0.1:%d" % port})
    yield svc, port, client
    stop(svc, httpd)


async def _exchange(port, events, until):
    """Send `events`, then read until an event of a type in `until` (or Error) arrives."""
    got = []
    async with AsyncTcpClient("127.0.0.1", port) as c:
        for e in events:
            await c.write_event(e.event())
        while True:
            ev = await asyncio.wait_for(c.read_event(), 60)
            assert ev is not None, "the server closed the connection"
            got.append(ev)
            if any(t.is_type(ev.type) for t in until) or Error.is_type(ev.type):
                return got


def run(port, events, until):
    return asyncio.run(_exchange(port, events, until))


def audio_of(events):
    """The PCM of each AudioStart…AudioStop run, as float arrays."""
    runs, cur = [], None
    for ev in events:
        if AudioStart.is_type(ev.type):
            assert cur is None
            cur = []
            start = AudioStart.from_event(ev)
            assert (start.rate, start.width, start.channels) == (24000, 2, 1)
        elif AudioChunk.is_type(ev.type):
            cur.append(AudioChunk.from_event(ev).audio)
        elif AudioStop.is_type(ev.type):
            runs.append(np.frombuffer(b"".join(cur), "<i2").astype(np.float32) / 32767.0)
            cur = None
    assert cur is None, "audio-start without audio-stop"
    return runs


def test_describe_lists_the_voice_and_its_language(served):
    svc, port, _ = served
    events = run(port, [Describe()], [Info])
    info = Info.from_event(events[-1])
    (program,) = info.tts
    assert program.installed and program.supports_synthesize_streaming
    (v,) = program.voices
    assert v.name == "default" and v.languages == [svc.voice.config.language]
    # the voice's prosody presets are its speakers, so a Home Assistant user can pick one
    assert [s.name for s in v.speakers] == list(svc.voice.config.prosody.presets)


def test_a_speaker_is_a_preset_and_an_unknown_one_gets_an_error(served, voice):
    from edgetts.config import SynthesisOptions

    _, port, _ = served
    text = "今天天气很好。"
    events = run(port, [Synthesize(text=text, voice=SynthesizeVoice(name="default", speaker="calm"))],
                 [AudioStop])
    (audio,) = audio_of(events)
    ref = voice.synthesize_array(text, SynthesisOptions(emotion="calm"))
    plain = voice.synthesize_array(text)
    assert len(audio) == len(ref) and np.abs(audio - ref).max() < 1e-3 + 1 / 32767
    assert len(plain) != len(ref) or np.abs(plain - ref).max() > 1e-2  # the preset was applied
    events = run(port, [Synthesize(text=text, voice=SynthesizeVoice(name="default", speaker="angry"))], [AudioStop])
    err = Error.from_event(events[-1])
    assert err.code == "bad_control" and "angry" in err.text and "calm" in err.text


def test_synthesize_streams_audio_equal_to_the_library(served, voice):
    """Same text, same audio as Voice.synthesize (within 1e-3: the batched decoder's float
    rounding, as over HTTP), in several audio-chunk events as it is made."""
    _, port, _ = served
    text = "今天天气很好，我们一起去公园散步吧。请注意，列车即将进站。"
    events = run(port, [Synthesize(text=text)], [AudioStop])
    chunks = [e for e in events if AudioChunk.is_type(e.type)]
    (audio,) = audio_of(events)
    ref = voice.synthesize_array(text)
    assert len(chunks) > 1
    assert len(audio) == len(ref) and np.abs(audio - ref).max() < 1e-3 + 1 / 32767


def test_streaming_text_is_spoken_sentence_by_sentence(served, voice):
    """synthesize-start / chunks / stop: each sentence is spoken once its closing mark has
    arrived, the rest at synthesize-stop; then synthesize-stopped. The compatibility
    `synthesize` Home Assistant sends alongside is not spoken twice."""
    _, port, _ = served
    pieces = ["今天天气", "很好。我们一", "起去公园", "散步吧。请注意", "，列车即将进站"]
    events = [SynthesizeStart(voice=SynthesizeVoice(name="default"))]
    events += [SynthesizeChunk(text=p) for p in pieces]
    events += [Synthesize(text="".join(pieces)), SynthesizeStop()]
    got = run(port, events, [SynthesizeStopped])
    assert SynthesizeStopped.is_type(got[-1].type)
    runs = audio_of(got)
    sentences = ["今天天气很好。", "我们一起去公园散步吧。", "请注意，列车即将进站"]
    assert len(runs) == 3
    for audio, text in zip(runs, sentences):
        ref = voice.synthesize_array(text)
        assert len(audio) == len(ref) and np.abs(audio - ref).max() < 1e-3 + 1 / 32767


def test_split_complete_keeps_the_unfinished_sentence():
    assert split_complete("你好。今天") == ("你好。", "今天")
    assert split_complete("没有句号") == ("", "没有句号")
    assert split_complete("Hi. There") == ("Hi.", " There")
    assert split_complete("3.5元") == ("", "3.5元")  # a decimal point is not a sentence end


@pytest.mark.parametrize("text,voice_name,code", [
    ("", None, "unsayable_text"),
    ("😀🎉", None, "unsayable_text"),
    ("好" * 2001, None, "text_too_long"),
    ("你好", "bob", "unknown_voice"),
])
def test_bad_requests_get_an_error_event_and_the_connection_stays(served, text, voice_name, code):
    _, port, _ = served

    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as c:
            await c.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice_name)
                                           if voice_name else None).event())
            ev = await asyncio.wait_for(c.read_event(), 30)
            assert Error.is_type(ev.type)
            err = Error.from_event(ev)
            assert err.code == code and err.text
            await c.write_event(Synthesize(text="你好").event())  # the same connection goes on
            while True:
                ev = await asyncio.wait_for(c.read_event(), 30)
                if AudioStop.is_type(ev.type):
                    return

    asyncio.run(go())


def test_wyoming_and_http_share_one_cache(served):
    """A sentence spoken over Wyoming is a cache hit over HTTP: one service behind both."""
    svc, port, client = served
    run(port, [Synthesize(text="共享同一个缓存。")], [AudioStop])
    status, headers, _ = client.tts({"text": "共享同一个缓存。"})
    assert status == 200 and headers["X-Cache"] == "hit"


def test_serve_with_a_busy_wyoming_port_says_so_and_exits_69(tiny_bundle):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "edgetts.cli", "serve", "--voice", tiny_bundle, "--port", "0",
                            "--wyoming", "tcp://127.0.0.1:%d" % port], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 69 and "tcp://127.0.0.1:%d is already in use" % port in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "edgetts.cli", "serve", "--voice", tiny_bundle, "--port", "0",
                        "--wyoming", "http://x"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and "use tcp://HOST:PORT or unix:///PATH" in r.stderr


# -- hostile input (round two): an `error` event, never a traceback --------------------------------

async def _raw_exchange(port, lines, then=None):
    """Send raw bytes, then (optionally) a well-formed `then` event; → the events read back until
    the server closes or an answer to `then` arrives, and whether the connection was closed."""
    from wyoming.event import async_read_event, async_write_event

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(lines)
        await writer.drain()
        if then is not None:
            await async_write_event(then.event(), writer)
        got = []
        while True:
            ev = await asyncio.wait_for(async_read_event(reader), 30)
            if ev is None:
                return got, True
            got.append(ev)
            if then is not None and Info.is_type(ev.type):
                return got, False
    finally:
        writer.close()


@pytest.mark.parametrize("line,closes", [
    (b"[1]\n", False),                                                   # JSON, not an object
    (b"not json\n", False),
    (b'{"data": {}}\n', False),                                          # no type
    (b'{"type": "synthesize", "data": {"text": 5}}\n', False),           # text not a string
    (b'{"type": "synthesize", "data": {"text": "hi", "voice": [1]}}\n', False),
    (b'{"type": "synthesize", "data": "x"}\n', False),
    (b'{"type": "synthesize", "data_length": "x"}\n', True),             # framing lost
    (b'{"type": "synthesize", "data_length": 99999999}\n', True),
    (b"{" + b" " * 70000 + b"\n", True),                                 # a header line past 64 KiB
])
def test_h6_a_malformed_event_gets_an_error_event(served, caplog, line, closes):
    svc, port, _ = served
    got, closed = asyncio.run(_raw_exchange(port, line, None if closes else Describe()))
    errors = [Error.from_event(e) for e in got if Error.is_type(e.type)]
    assert len(errors) == 1 and errors[0].code == "bad_event", got
    assert closed == closes
    if not closes:
        assert Info.is_type(got[-1].type)  # the connection goes on
    assert "Traceback" not in caplog.text


def test_h6_a_client_gone_mid_payload_leaves_no_trace(served, caplog):
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", served[1])
        writer.write(b'{"type": "synthesize", "data_length": 100}\n{"text": "')
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.3)

    asyncio.run(go())
    assert "Traceback" not in caplog.text and "Error" not in caplog.text


def test_h7_streamed_text_without_a_sentence_end_stops_at_the_text_limit(served):
    """2000 chunks of 500 characters once grew the buffer without bound and re-split it each
    time (quadratic); now the stream ends with text_too_long as soon as it passes --max-text."""
    svc, port, _ = served
    chunk = "好" * 500
    n = svc.max_text_chars // 500 + 1
    events = [SynthesizeStart()] + [SynthesizeChunk(text=chunk)] * n
    got = run(port, events, [])
    err = Error.from_event(got[-1])
    assert err.code == "text_too_long" and str(svc.max_text_chars) in err.text


def test_h13_a_live_unix_socket_is_not_taken_over(tmp_path):
    from edgetts.errors import BindError
    from edgetts.serving.wyoming_server import WyomingServer

    path = str(tmp_path / "w.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(1)
    try:
        with pytest.raises(BindError, match="another process listens"):
            WyomingServer(None, "unix://" + path)
    finally:
        live.close()
    server = WyomingServer(None, "unix://" + path)  # a stale socket file is reused
    server.sock.close()
