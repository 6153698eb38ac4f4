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
from edgetts.phrase_cache import PhraseCache
from edgetts.voice import AudioChunk, Voice, write_wav
from test_server import Client, start, stop


@pytest.fixture(scope="module")
def served(tiny_bundle):
    voice = Voice.load(tiny_bundle, provider="cpu", variant="fp32")
    svc, httpd, client = start(voice, token="s3cret")
    yield svc, client
    stop(svc, httpd)


def _raw(port, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            part = s.recv(65536)
            if not part:
                return data
            data += part


@pytest.mark.parametrize("length", [b"-1", b"+5", b"0x10", b"1e3"])
def test_content_length_must_be_a_plain_byte_count(served, length):
    """`Content-Length: -1` once bypassed the body limit (the server read 100 MB)."""
    _, client = served
    head = (b"POST /v1/tts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + length + b"\r\n\r\n")
    reply = _raw(client.port, head, b'{"text": "hi"}' + b" " * 1000)
    assert reply.startswith(b"HTTP/1.1 400") and b"bad_content_length" in reply


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
