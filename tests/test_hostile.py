"""Holes a hostile test of `edgetts serve` and `edgetts say` found, each closed and kept closed:
framing tricks and deep JSON on real loopback sockets, token files that would turn
authentication off, a phrase cache entry corrupted in place, one-line errors for bad paths,
and `say -o` writing as it goes."""

import json
import os
import socket
import time

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from edgetts.cli import main
from edgetts.serving.phrase_cache import PhraseCache
from edgetts.engine.audio import AudioChunk, write_wav
from edgetts.engine.voice import Voice
from test_server import Client, start, stop


@pytest.fixture(scope="module")
def served(tiny_bundle):
    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, token="s3cret")
    yield svc, client
    stop(svc, httpd)


def _until_closed(sock) -> bytes:
    """Everything the server sends until it closes the connection (a timeout raises)."""
    got = b""
    while True:
        part = sock.recv(4096)
        if not part:
            return got
        got += part


def _raw(port, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)
        return _until_closed(s)


@pytest.mark.parametrize("length", [b"-1", b"+5", b"0x10", b"1e3"])
def test_content_length_must_be_a_plain_byte_count(served, length):
    """`Content-Length: -1` once bypassed the body limit (the server read 100 MB). Now the
    HTTP parser refuses the request line by line: 400 and the connection closed, body unread."""
    _, client = served
    head = (b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + length + b"\r\n\r\n")
    reply = _raw(client.port, head, b'{"text": "hi"}' + b" " * 1000)
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in reply.lower()


@pytest.mark.parametrize("length", [b"100000000", b"999999999999999999", b"1" * 30])
def test_a_huge_content_length_is_refused_before_the_body_is_sent(served, length):
    """The answer comes from the headers alone: the client never sends a byte of body."""
    _, client = served
    head = (b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + length + b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as s:
        s.sendall(head)  # and no body: a server that waited for it would time this out
        reply = b""
        while True:  # the server closes the connection after its answer
            part = s.recv(65536)
            if not part:
                break
            reply += part
    assert reply.split(b" ", 2)[1] in (b"400", b"413"), reply[:100]
    if len(length) <= 18:
        assert b"body_too_large" in reply


def test_idle_and_slow_header_floods_leave_readyz_answering_and_are_closed(tiny_bundle):
    """B5: 64 idle keep-alive connections, or 64 that send their headers one byte at a time,
    took the old service down (every request, /readyz included, got 503). Now they cost a
    socket each: /readyz answers throughout, and the server's header deadline (keep-alive 1 s
    here) closes every one of them however slowly it trickles."""
    from edgetts.serving.server import HttpLimits

    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    # the cap above the 264 connections: this is about the deadlines (the cap has its own test)
    svc, httpd, client = start(voice, server_kw={"limits": HttpLimits(keep_alive_s=1.0, max_connections=512)})
    idle, slow = [], []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", client.port), timeout=10))
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", client.port), timeout=10)
            s.sendall(b"GET /readyz HTTP/1.1\r\nHo")
            slow.append(s)
        closed_at = {}
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4 and len(closed_at) < len(slow):
            status, _, payload = client.request("GET", "/readyz")
            assert status == 200 and json.loads(payload)["status"] == "ready"
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"s")  # one more header byte, every 0.2 s
                except OSError:
                    closed_at[i] = time.monotonic() - t0
            time.sleep(0.2)
        assert len(closed_at) == len(slow), "%d of %d slow connections still open" % (
            len(slow) - len(closed_at), len(slow))
        for s in idle:  # the idle ones were closed too: the server's end reads as EOF
            s.settimeout(5)
            assert s.recv(1) == b""
        assert client.tts({"text": "你好"})[0] == 200
    finally:
        for s in idle + slow:
            s.close()
        stop(svc, httpd)


def test_connections_over_the_cap_are_answered_busy_and_closed(tiny_bundle):
    """H8: idle connections could take every file descriptor. Over --max-connections a new
    connection gets 503 busy and is closed at once; when the idle ones reach their deadline,
    the service takes connections again."""
    from edgetts.serving.server import HttpLimits

    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, server_kw={"limits": HttpLimits(keep_alive_s=1.0, max_connections=8)})
    idle = []
    try:
        for _ in range(8):
            idle.append(socket.create_connection(("127.0.0.1", client.port), timeout=10))
        time.sleep(0.3)  # accepted
        extra = socket.create_connection(("127.0.0.1", client.port), timeout=10)
        extra.settimeout(5)
        got = _until_closed(extra)
        assert got.startswith(b"HTTP/1.1 503") and b'"busy"' in got and b"retry-after" in got.lower()
        extra.close()
        for s in idle:  # the keep-alive deadline closes the idle ones
            s.settimeout(5)
            assert s.recv(1) == b""
        status, _, payload = client.request("GET", "/readyz")
        assert status == 200
    finally:
        for s in idle:
            s.close()
        stop(svc, httpd)


@pytest.mark.parametrize("opening", [
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
])
def test_http2_is_refused_and_its_connection_closed(served, opening):
    """H8: an HTTP/2 prior-knowledge preface or an h2c upgrade switched the connection to
    Hypercorn's HTTP/2 side, where idle connections stayed open past every deadline. The service
    speaks HTTP/1.1 only: such a connection is closed at once."""
    _, client = served
    s = socket.create_connection(("127.0.0.1", client.port), timeout=10)
    try:
        s.sendall(opening)
        s.settimeout(3)
        t0 = time.monotonic()
        got = _until_closed(s)
        assert time.monotonic() - t0 < 3
        assert b"\x00\x00" not in got[:9] or got.startswith(b"HTTP/1.1 101")  # no HTTP/2 frames first
    finally:
        s.close()


def test_the_connection_cap_stays_under_the_file_descriptor_limit(monkeypatch):
    import resource

    from edgetts.serving import server

    monkeypatch.setattr(resource, "getrlimit", lambda which: (300, 4096))
    assert server._connection_cap(256) == 236
    assert server._connection_cap(100) == 100


def test_deeply_nested_json_is_a_400_not_a_500(served):
    _, client = served
    body = b"[" * 30000 + b"]" * 30000  # 60 KB, under the 64 KiB body limit
    status, _, payload = client.request("POST", "/v1/tts", raw=body)
    assert status == 400 and json.loads(payload)["error"]["code"] == "invalid_json"
    assert "nested too deeply" in json.loads(payload)["error"]["message"]


def test_bearer_scheme_is_case_insensitive(served):
    _, client = served
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, _, _ = Client(client.port).request(
            "POST", "/v1/tts", {"text": "你好"}, headers={"Authorization": scheme + " s3cret"})
        assert status == 200, scheme
    status, _, _ = Client(client.port).request(
        "POST", "/v1/tts", {"text": "你好"}, headers={"Authorization": "Basic s3cret"})
    assert status == 401


@pytest.mark.parametrize("content", ["", "   \n", "\n\n"])
def test_an_empty_token_file_stops_serve_instead_of_turning_auth_off(tiny_bundle, tmp_path, content):
    token = tmp_path / "token"
    token.write_text(content)
    r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0",
                                  "--token-file", str(token)])
    assert r.exit_code == 78 and "is empty" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0"],
                           env={"EDGETTS_TOKEN": "  "})
    assert r.exit_code == 78 and "EDGETTS_TOKEN is empty" in r.output


def test_unusable_cache_dir_is_one_line(tiny_bundle):
    r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0",
                                  "--cache-dir", "/proc/nope"])
    assert r.exit_code == 78 and "--cache-dir /proc/nope cannot be used" in r.output
    assert "Traceback" not in r.output


def test_a_cache_entry_corrupted_in_place_is_dropped_not_served(tmp_path, caplog):
    """Same size, different bytes: the checksum catches it; the request is synthesized again."""
    d = str(tmp_path / "cache")
    key = "ab" * 32
    pcm = (np.arange(4000) % 200).astype("<i2").tobytes()
    PhraseCache(1 << 20, d).put(key, pcm)
    path = os.path.join(d, key + ".pcm")
    data = bytearray(open(path, "rb").read())
    data[-100] ^= 0xFF
    open(path, "wb").write(bytes(data))
    fresh = PhraseCache(1 << 20, d)  # after a restart: the entry comes from disk
    assert fresh.get(key) is None and not os.path.exists(path)
    assert "corrupt" in caplog.text
    PhraseCache(1 << 20, d).put(key, pcm)
    assert PhraseCache(1 << 20, d).get(key) == pcm  # a good entry still reads back


def test_say_to_a_missing_folder_fails_before_synthesis(tiny_bundle):
    t = time.perf_counter()
    r = CliRunner().invoke(main, ["say", "你好" * 2000, "--voice", tiny_bundle, "-o", "/nonexistent/x.wav"])
    assert r.exit_code == 1 and "the folder /nonexistent does not exist" in r.output
    assert "Traceback" not in r.output and time.perf_counter() - t < 5


def test_write_wav_writes_each_chunk_as_it_comes(tmp_path):
    """`say -o big.wav` once held all the audio until the end (237 → 496 MB on a 100 KB text):
    the file grows while the chunks are still being made."""
    path = str(tmp_path / "out.wav")
    seen = []

    def chunks():
        for i in range(3):
            yield AudioChunk(np.full(24000, 0.1, np.float32), 24000, i, "", 0, 0)
            seen.append(os.path.getsize(path))

    assert write_wav(path, chunks(), 24000) == 3.0
    assert seen[0] >= 44 + 2 * 24000 and seen[1] > seen[0]
    audio, sr = sf.read(path, dtype="float32")
    assert sr == 24000 and len(audio) == 72000


def test_say_to_stdout_streams_a_wav(tiny_bundle):
    r = CliRunner().invoke(main, ["say", "你好。再见。", "--voice", tiny_bundle, "-o", "-"])
    assert r.exit_code == 0
    data = r.stdout_bytes
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and (len(data) - 44) % 2 == 0
    pcm = np.frombuffer(data[44:], "<i2")
    assert len(pcm) > 24000 * 0.3


def test_metrics_separate_outcomes_reach_the_timeout_and_show_memory(served):
    """Latency is labelled by outcome, so errors and cache hits no longer hide synthesis time;
    the top finite bucket is at or past the request timeout; the batching totals are counters;
    the process's memory is there."""
    from prometheus_client.parser import text_string_to_metric_families

    svc, client = served
    assert client.tts({"text": "度量一下"})[0] == 200          # synthesized
    assert client.tts({"text": "度量一下"})[0] == 200          # the same again: a cache hit
    assert client.tts({"text": ""})[0] == 422                  # an error
    fams = {f.name: f for f in text_string_to_metric_families(client.request("GET", "/metrics")[2].decode())}
    counts = {s.labels["outcome"]: s.value for s in fams["edgetts_request_seconds"].samples
              if s.name.endswith("_count") and s.labels.get("endpoint") == "/v1/tts"}
    assert counts["synthesized"] >= 1 and counts["cache_hit"] >= 1 and counts["error"] >= 1
    tops = [float(s.labels["le"]) for s in fams["edgetts_request_seconds"].samples
            if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"]
    assert max(tops) >= svc.request_timeout_s
    assert fams["edgetts_decoder_waves"].type == "counter"
    assert fams["edgetts_decoder_wave_clauses"].type == "counter"
    rss = [s.value for s in fams["process_resident_memory_bytes"].samples]
    assert rss and rss[0] > 50e6


LONG = "今天天气很好，我们一起去公园散步吧。" * 105  # 1890 characters: seconds of synthesis


def _metric(client, name):
    from test_server import count_text

    return count_text(client.request("GET", "/metrics")[2].decode(), name)


@pytest.mark.parametrize("batching", [False, True], ids=["single", "batching"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_client_that_goes_away_stops_its_synthesis(tiny_bundle, batching, stream):
    """The old server let a non-streamed request's synthesis run to its end after the client
    left. Now the disconnect cancels the job and the synthesizer drops it with work left
    (edgetts_jobs_stopped_total counts only that)."""
    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, token="s3cret", batching=batching, max_text_chars=4000)
    try:
        body = json.dumps({"text": LONG, "stream": stream}).encode()
        s = socket.create_connection(("127.0.0.1", client.port), timeout=10)
        s.sendall(b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 10
        while svc.scheduler.queue_length() or not svc.speaking:  # the job has started
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)
        s.close()
        deadline = time.monotonic() + 10
        while _metric(client, "jobs_stopped_total") < 1:
            assert time.monotonic() < deadline, "the synthesis was not stopped"
            time.sleep(0.05)
        assert _metric(client, "cancelled_total") == 1
        assert svc.speaking == 0
        assert client.tts({"text": "你好"})[0] == 200  # the service goes on
    finally:
        stop(svc, httpd)


def test_retry_after_grows_with_the_queue(tiny_bundle):
    """Retry-After is the queue ahead of the client at the recent pace (2 to 60 s)."""
    from edgetts.serving.scheduler import Job

    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, max_queue=64)
    try:
        svc.scheduler.pause()  # the synthesizer takes no work: the queue only grows
        svc.request_s = 3.0
        seen = []
        for n in range(0, 25, 4):
            while svc.scheduler.queue_length() < n:
                svc.scheduler.submit(Job([], None, 60))
            seen.append(int(svc.retry_after()))
        assert seen == [min(60, max(2, 3 * (n + 1))) for n in range(0, 25, 4)]
    finally:
        svc.scheduler.resume()
        stop(svc, httpd)


def test_the_openapi_document_lists_every_route_and_field(served):
    from edgetts.serving.schema import OpenAISpeechRequest, TtsRequest

    svc, client = served
    status, _, payload = client.request("GET", "/openapi.json")
    doc = json.loads(payload)
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {"/healthz": "get", "/readyz": "get", "/openapi.json": "get", "/v1/voices": "get",
              "/metrics": "get", "/v1/tts": "post", "/v1/audio/speech": "post"}
    assert {p: list(v) for p, v in doc["paths"].items()} == {p: [m] for p, m in routes.items()}
    for path, method in routes.items():  # and the server really has them
        got = client.request(method.upper(), path, {"text": "你好"} if method == "post" else None)[0]
        assert got not in (404, 405), path
    schemas = doc["components"]["schemas"]
    assert set(schemas["TtsRequest"]["properties"]) == set(TtsRequest.model_fields) > {"text", "speed"}
    assert set(schemas["OpenAISpeechRequest"]["properties"]) == set(OpenAISpeechRequest.model_fields) > {"input"}
    speed = schemas["TtsRequest"]["properties"]["speed"]["anyOf"][0]
    assert (speed["minimum"], speed["maximum"]) == (0.25, 4.0)
    assert schemas["TtsRequest"]["properties"]["text"]["maxLength"] == svc.max_text_chars


def test_sigterm_answers_503_draining_at_once_while_a_stream_finishes(tiny_bundle, tmp_path):
    """B11: after SIGTERM during a long stream, new requests, /readyz and /healthz hung. Now
    each gets 503 "draining" at once while the stream in flight runs to its end."""
    import http.client
    import signal

    from test_server import spawn

    p, client = spawn(tiny_bundle, str(tmp_path / "cache"), "--no-batching", "--max-text", "4000")
    try:
        c = http.client.HTTPConnection("127.0.0.1", client.port, timeout=60)
        c.request("POST", "/v1/tts", json.dumps({"text": LONG, "stream": True, "format": "pcm"}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        got = r.read1(65536)  # the stream is flowing; we stop reading, so it cannot finish
        assert r.status == 200 and got
        p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while client.request("GET", "/readyz")[0] != 503:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for method, path, body in (("GET", "/readyz", None), ("GET", "/healthz", None),
                                   ("POST", "/v1/tts", {"text": "你好"})):
            t = time.monotonic()
            status, _, payload = client.request(method, path, body)
            assert status == 503 and time.monotonic() - t < 2, (path, status)
            assert b"draining" in payload
        rest = r.read()  # the stream in flight is not cut off
        assert len(got + rest) / 2 / 24000 > 100
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_gpu_metrics_come_from_nvml_or_say_why_not(served):
    """A CPU service registers no GPU families. The collector itself, where NVML answers,
    gives memory and utilisation; where it does not (no nvidia-ml-py, no driver, a Jetson) it
    gives nothing and names the reason, and scraping never fails."""
    from prometheus_client import CollectorRegistry, generate_latest

    from edgetts.serving.metrics import GpuCollector

    svc, client = served
    assert svc.metrics.gpu is None and b"edgetts_gpu_" not in client.request("GET", "/metrics")[2]
    gpu = GpuCollector(0)
    r = CollectorRegistry()
    r.register(gpu)
    text = generate_latest(r).decode()
    if gpu.reason is None:
        fams = {f.name: f for f in gpu.collect()}
        assert fams["edgetts_gpu_memory_total_bytes"].samples[0].value > 0
        assert 0 <= fams["edgetts_gpu_utilization_ratio"].samples[0].value <= 1
    else:
        assert "edgetts_gpu_" not in text and ("nvidia-ml-py" in gpu.reason or "NVML" in gpu.reason)


# -- round two: inputs that reached a 500 or a traceback -------------------------------------------

@pytest.mark.parametrize("path,field", [("/v1/tts", "speed"), ("/v1/audio/speech", "speed"),
                                        ("/v1/tts", "voice")])
def test_h1_a_5000_digit_number_is_invalid_json_not_a_500(served, path, field):
    """Python refuses to read an integer of more than 4300 digits (ValueError, not a JSON error)."""
    _, client = served
    text = "input" if path.endswith("speech") else "text"
    raw = ('{"%s": "你好", "%s": %s}' % (text, field, "1" * 5000)).encode()
    status, headers, payload = client.request("POST", path, raw=raw)
    assert status == 400 and json.loads(payload)["error"]["code"] == "invalid_json"
    assert "digits" in json.loads(payload)["error"]["message"]


@pytest.mark.parametrize("ssml,named", [
    ('<prosody volume="+99999dB">你好</prosody>', "volume"),            # H2: 10 ** 5000 overflowed
    ('<prosody volume="-99999dB">你好</prosody>', "volume"),
    ('<say-as interpret-as="cardinal">12345678901234567</say-as>', "17 digits"),  # H3: cn2an's limit
    ('\ud800你好', "surrogate"),                                        # H4: not encodable as UTF-8
])
def test_h2_h3_h4_ssml_that_broke_the_front_end_is_a_422_naming_it(served, ssml, named):
    _, client = served
    body = json.dumps({"text": "<speak>%s</speak>" % ssml}).encode()  # ASCII JSON: \ud800 escaped
    status, _, payload = client.request("POST", "/v1/tts", raw=body)
    err = json.loads(payload)["error"]
    assert status == 422 and err["code"] == "invalid_ssml" and named in err["message"]


def test_h2_h3_h4_the_cli_front_end_answers_in_one_line():
    for ssml in ('<speak><prosody volume="+99999dB">你好</prosody></speak>',
                 '<speak><say-as interpret-as="cardinal">123456789012345678</say-as></speak>'):
        r = CliRunner().invoke(main, ["frontend", ssml])
        assert r.exit_code != 0 and r.exception is None or isinstance(r.exception, SystemExit)
        assert "Traceback" not in r.output and "Error:" in r.output


def test_h5_a_surrogate_field_name_gets_a_json_422(served):
    """The error message names the field: with a lone surrogate in it, encoding the answer as
    UTF-8 failed and the framework answered a text/plain 500."""
    _, client = served
    status, headers, payload = client.request("POST", "/v1/tts", raw=b'{"text": "hi", "\\ud800": 1}')
    assert status == 422 and headers["Content-Type"].startswith("application/json")
    err = json.loads(payload)["error"]
    assert err["code"] == "unknown_field" and "\\ud800" in err["message"]
    assert headers["x-request-id"]


@pytest.mark.parametrize("content,ok", [("\ufeffs3cret\n", True), ("tökén中文", False)])
def test_h12_a_token_file_with_a_bom_or_non_ascii(tiny_bundle, tmp_path, content, ok):
    """A BOM (Windows editors) is not part of the token; a token no HTTP header can carry stops
    serve at start instead of answering 401 to the right token."""
    from edgetts.serving.scheduler import Scheduler  # noqa: F401  (serve's import path, loaded here)

    token = tmp_path / "token"
    token.write_text(content, encoding="utf-8")
    if ok:
        import subprocess
        import sys

        p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "serve", "--voice", tiny_bundle, "--port", "0",
                              "--provider", "cpu", "--token-file", str(token)], stderr=subprocess.PIPE, text=True)
        try:
            port = None
            for line in p.stderr:
                if "serving" in line:
                    port = int(line.rsplit(":", 1)[1].strip())
                    break
            assert port, "serve did not start"
            assert Client(port, "s3cret").request("GET", "/v1/voices")[0] == 200
            assert Client(port, "\ufeffs3cret".encode().decode("latin-1")).request("GET", "/v1/voices")[0] == 401
        finally:
            p.kill()
            p.wait()
    else:
        r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0", "--token-file", str(token)])
        assert r.exit_code == 78 and "printable ASCII" in r.output and "Traceback" not in r.output


def test_h14_a_dangling_link_in_the_cache_dir_is_skipped(tmp_path, caplog):
    d = tmp_path / "cache"
    d.mkdir()
    os.symlink(str(tmp_path / "gone"), str(d / (("cd" * 32) + ".pcm")))
    cache = PhraseCache(1 << 20, str(d))
    assert cache.get("cd" * 32) is None
    assert "skipping" in caplog.text


def _say(args, **kw):
    import subprocess
    import sys

    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "edgetts.cli", "say"] + args, timeout=120, **kw)


@pytest.mark.parametrize("target", ["DIR", "/dev/full", "/proc/x.wav"])
def test_h16_an_unwritable_output_is_one_line_and_exit_1(default_bundle, tmp_path, target):
    """libsndfile's traceback, then "terminate called without an active exception" (exit 134:
    synthesis threads still running as the process ended)."""
    out = str(tmp_path) if target == "DIR" else target
    r = _say(["你好", "--voice", default_bundle, "-o", out])
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith("Error: cannot write") and len(err.splitlines()) == 1, err


def test_h16_stdout_full_closed_or_gone(default_bundle):
    import subprocess
    import sys

    with open("/dev/full", "wb") as full:
        r = _say(["你好", "--voice", default_bundle, "-o", "-"], stdout=full)
    assert r.returncode == 1 and b"No space left" in r.stderr and len(r.stderr.splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "edgetts.cli", "say", "你好", "--voice", default_bundle, "-o", "-"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, close_fds=True,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 1 and b"stdout: it is closed" in r.stderr and b"Traceback" not in r.stderr
    # a reader that stops after 100 bytes, as `| head -c 100` does: quiet, no abort
    p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "say", "今天天气很好，我们一起去公园散步吧。" * 3,
                          "--voice", default_bundle, "-o", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(100)
    p.stdout.close()
    assert p.wait(timeout=120) == 1
    assert p.stderr.read() == b""


def test_h17_a_lexicon_that_never_ends_is_refused(tmp_path):
    r = CliRunner().invoke(main, ["frontend", "你好", "--lexicon", "/dev/zero"])
    assert r.exit_code != 0 and "larger than 8 MiB" in r.output
    long_line = tmp_path / "lex.tsv"
    long_line.write_text("行长\t" + "hang2 " * 1000 + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["frontend", "你好", "--lexicon", str(long_line)])
    assert r.exit_code != 0 and "lex.tsv:1: the line has" in r.output


def test_say_reads_at_most_16_mib_of_stdin(default_bundle):
    r = _say(["--voice", default_bundle, "-o", os.devnull], input=b"\xe4\xbd\xa0" * ((16 << 20) // 3 + 1))
    assert r.returncode == 2 and b"more than 16 MiB" in r.stderr


def _bundle_copy(src, dst, edit):
    import hashlib
    import shutil

    shutil.copytree(src, dst)
    path = os.path.join(dst, "voice.json")
    m = json.load(open(path, encoding="utf-8"))
    edit(m, dst)
    for roles in m["graphs"].values():  # checksums of whatever was swapped in
        for g in roles.values():
            g["sha256"] = hashlib.sha256(open(os.path.join(dst, g["file"]), "rb").read()).hexdigest()
    json.dump(m, open(path, "w", encoding="utf-8"))
    return dst


def _wrong_stream_graph(m, dst):
    import shutil

    g = m["graphs"]["fp32"]
    shutil.copy(os.path.join(dst, g["text_encoder"]["file"]), os.path.join(dst, g["vocoder_stream"]["file"]))


@pytest.mark.parametrize("edit,named", [
    (lambda m, d: m.update(sample_rate="abc"), "sample_rate: 'abc' is not a number"),
    (lambda m, d: m["cache"].update(heads=[1]), "cache.heads"),
    (lambda m, d: m.pop("decoding") and m.update(decoding={}), "decoding.speed: missing"),
    (_wrong_stream_graph, "not a streaming vocoder"),
])
def test_h15_a_broken_bundle_is_one_line_and_exit_78(tiny_bundle, tmp_path, edit, named):
    bad = _bundle_copy(tiny_bundle, str(tmp_path / "bad"), edit)
    r = CliRunner().invoke(main, ["serve", "--voice", bad, "--port", "0", "--provider", "cpu"])
    assert r.exit_code == 78 and named in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, ["say", "你好", "--voice", bad, "--provider", "cpu", "-o", str(tmp_path / "x.wav")])
    assert r.exit_code == 1 and named in r.output


def test_h9_audio_past_the_limit_is_refused_before_synthesis(served):
    """95 ten-second breaks in 1.9 KB of SSML once made 988 s of audio (47 MB per request)."""
    svc, client = served
    ssml = "<speak>" + '你<break time="10s"/>' * 95 + "</speak>"
    status, _, payload = client.tts({"text": ssml})
    err = json.loads(payload)["error"]
    assert status == 413 and err["code"] == "audio_too_long" and "--max-audio-seconds" in err["message"]
    # the longest plain text the service takes stays within the default limit
    utts = svc.voice.prepare("好" * svc.max_text_chars)
    assert svc.voice.estimate_seconds(utts) <= svc.max_audio_s


def test_h9_the_estimate_bounds_the_real_voice(default_bundle):
    """The estimate is an upper bound of what the real voice speaks (so the limit never cuts
    ordinary text short), within a factor of two of it (so it still limits)."""
    from edgetts.config import SynthesisOptions

    voice = Voice.load(default_bundle, provider="cpu", variant="fp32")
    for text, speed in (("今天天气很好，我们一起去公园散步吧。前方五百米右转。", None),
                        ("会议于下午三点开始，请准时参加。", 0.5)):
        o = SynthesisOptions(speed=speed)
        real = len(voice.synthesize_array(text, o)) / voice.config.sample_rate
        est = voice.estimate_seconds(voice.prepare(text, o), o)
        assert real <= est <= 2 * real, (text, real, est)


@pytest.fixture
def impatient(tiny_bundle):
    """A service whose clients must take each piece of an answer within one second."""
    from edgetts.serving.server import HttpLimits

    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, server_kw={"limits": HttpLimits(write_timeout_s=1.0)})
    yield svc, client
    stop(svc, httpd)


def _post_raw(port, body: dict, extra_headers: bytes = b"") -> socket.socket:
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra_headers
              + b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return s


def test_h10_a_client_that_never_reads_is_dropped_at_the_write_deadline(impatient):
    """It once held its connection and in-flight slot past --timeout."""
    svc, client = impatient
    s = _post_raw(client.port, {"text": "前方五百米右转请注意减速慢行保持安全车距。" * 80, "stream": True,
                                "format": "pcm"}, b"")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        deadline = time.monotonic() + 60
        while svc.speaking == 0 and time.monotonic() < deadline:  # the stream has started
            time.sleep(0.05)
        while svc.speaking and time.monotonic() < deadline:   # and is dropped, unread
            time.sleep(0.1)
        assert svc.speaking == 0
    finally:
        s.close()


def test_h11_a_dropped_cache_hit_stream_stops_writing(served, caplog):
    svc, client = served
    text = "今天天气很好，我们一起去公园散步吧。" * 20
    assert client.tts({"text": text})[0] == 200  # now in the phrase cache
    for _ in range(4):
        s = _post_raw(client.port, {"text": text, "stream": True, "format": "pcm"},
                      b"Authorization: Bearer s3cret\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
        s.close()
    time.sleep(0.5)
    assert "socket.send() raised" not in caplog.text


def test_h18_a_header_block_over_16_kib_in_one_piece_is_431(served):
    _, client = served
    big = b"X-Pad: " + b"a" * (17 << 10) + b"\r\n"
    reply = _raw(client.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431")
    assert b"headers_too_large" in reply


def test_h8_running_out_of_file_descriptors_logs_once_per_ten_seconds():
    """asyncio logs every failed accept() while descriptors run out (377 MB of log in a minute)."""
    import asyncio
    import errno
    import logging

    from edgetts.serving import server  # installs the filter on asyncio's logger

    assert server._ACCEPT_ERRORS in logging.getLogger("asyncio").filters
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    log = logging.getLogger("asyncio")
    log.addHandler(handler)
    loop = asyncio.new_event_loop()
    try:
        for _ in range(1000):  # as the event loop reports them
            loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                         "exception": OSError(errno.EMFILE, "Too many open files")})
        loop.call_exception_handler({"message": "another problem"})
    finally:
        loop.close()
        log.removeHandler(handler)
    accepts = [r for r in records if "socket.accept()" in r.getMessage()]
    assert len(accepts) <= 1 and any("another problem" in r.getMessage() for r in records)


def test_a_busy_wyoming_port_names_the_wyoming_flag(tiny_bundle):
    """It said "pick one with --port", the HTTP flag."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--voice", tiny_bundle, "--port", "0", "--provider", "cpu",
                                      "--wyoming", "tcp://127.0.0.1:%d" % port])
    assert r.exit_code == 69 and "pick another with --wyoming" in r.output
