"""The HTTP service on real loopback sockets: load, bad input, limits, auth, metrics, restarts."""

import http.client
import io
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf

from edgetts.serving.phrase_cache import PhraseCache
from edgetts.serving.scheduler import Scheduler
from edgetts.serving.server import Server
from edgetts.serving.service import Service
from edgetts.engine.voice import Voice


class Client:
    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def request(self, method, path, body=None, headers=None, raw=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        c.close()
        return r.status, r.headers, payload  # header names case-insensitive, as in HTTP

    def tts(self, body, path="/v1/tts"):
        return self.request("POST", path, body)


def start(voice, warm=True, server_kw=None, **kw):
    """The service on a loopback port, its loop on a thread of this process."""
    sched = Scheduler(voice, max_queue=kw.pop("max_queue", 64), batching=kw.pop("batching", True),
                      max_batch=kw.pop("max_batch", 8))
    svc = Service(voice, "default", kw.pop("cache", PhraseCache()), sched, **kw)
    httpd = Server(svc, "127.0.0.1", 0, **(server_kw or {})).start()
    if warm:
        svc.warm()
    return svc, httpd, Client(httpd.address[1], kw.get("token"))


def stop(svc, httpd):
    httpd.shutdown()
    svc.scheduler.close()


@pytest.fixture(scope="module")
def voice(tiny_bundle):
    return Voice.load(tiny_bundle, provider="cpu")


@pytest.fixture(scope="module", params=[True, False], ids=["batching", "single"])
def served(request, voice):
    svc, httpd, client = start(voice, batching=request.param, max_text_chars=500)
    yield svc, client
    stop(svc, httpd)


def wav(payload):
    audio, sr = sf.read(io.BytesIO(payload), dtype="float32")
    return audio, sr


TEXTS = ["你好，世界。", "今天天气很好。", "请注意，列车即将进站。", "前方五百米右转。", "欢迎光临！",
         "现在是上午十点。", "电梯正在上行，请稍候。", "谢谢你的帮助。"]


def test_load_every_request_gets_its_own_correct_audio(served, voice):
    """240 requests from 8 concurrent clients, streamed and not, WAV and PCM: every one is
    answered 200 with the audio of *its* text (length exact; samples within 1e-3 of the
    reference, the float rounding of batched matmuls fed back through the decoder)."""
    svc, client = served
    ref = {t: voice.synthesize_array(t) for t in TEXTS}
    # distinct texts per request (a suffix of spoken digits) so most are synthesized, not cached
    jobs = []
    for i in range(240):
        text = TEXTS[i % len(TEXTS)]
        if i % 3:
            text = text + "第%d次。" % (i % 40)
        jobs.append((text, ["wav", "pcm"][i % 2], bool(i % 4 < 2)))
    before = svc.metrics.render()

    def one(job):
        text, fmt, stream = job
        status, headers, payload = client.tts({"text": text, "format": fmt, "stream": stream})
        return job, status, headers, payload

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, jobs))
    lengths = {}
    for (text, fmt, _stream), status, _headers, payload in results:
        assert status == 200, payload[:200]
        if fmt == "wav":
            audio, sr = wav(payload)
            assert sr == 24000
        else:
            audio = np.frombuffer(payload, "<i2").astype(np.float32) / 32767.0
        if text in ref:
            assert len(audio) == len(ref[text]) and np.abs(audio - ref[text]).max() < 1e-3 + 1 / 32767
        lengths.setdefault(text, set()).add(len(audio))
    assert all(len(v) == 1 for v in lengths.values())  # same text, same audio, however answered
    assert count(svc, "requests_total", endpoint="/v1/tts", status="200") - \
        count_text(before, "requests_total", endpoint="/v1/tts", status="200") == 240
    if svc.scheduler.batching:
        assert max(svc.scheduler.batch_sizes) > 1  # concurrent requests really shared decoder steps


BAD = [
    # (description, raw body or JSON, status, error code)
    ("empty text", {"text": ""}, 422, "unsayable_text"),
    ("whitespace", {"text": "  \n\t "}, 422, "unsayable_text"),
    ("emoji only", {"text": "😀🎉"}, 422, "unsayable_text"),
    ("control characters only", {"text": "\x00\x07\x1b"}, 422, "unsayable_text"),
    ("text too long", {"text": "好" * 501}, 413, "text_too_long"),
    ("broken JSON", b'{"text": "\xe4\xbd\xa0', 400, "invalid_json"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400, "invalid_utf8"),
    ("not an object", [1, 2], 422, "wrong_type"),
    ("text not a string", {"text": 12}, 422, "wrong_type"),
    ("text missing", {"voice": "default"}, 422, "missing_field"),
    ("stream not a bool", {"text": "你好", "stream": "yes"}, 422, "wrong_type"),
    ("speed out of range", {"text": "你好", "speed": 9}, 422, "bad_speed"),
    ("unknown voice", {"text": "你好", "voice": "bob"}, 422, "unknown_voice"),
    ("unsupported format", {"text": "你好", "format": "mp3"}, 422, "unsupported_format"),
    ("unknown field", {"text": "你好", "tone": 2}, 422, "unknown_field"),
    ("pitch out of range", {"text": "你好", "pitch": "+20st"}, 422, "bad_control"),
    ("pitch in Hz", {"text": "你好", "pitch": "+20Hz"}, 422, "bad_control"),
    ("pitch not a value", {"text": "你好", "pitch": [2]}, 422, "wrong_type"),
    ("range below zero", {"text": "你好", "pitch_range": "-120%"}, 422, "bad_control"),
    ("unknown emotion", {"text": "你好", "emotion": "angry"}, 422, "bad_control"),
    ("strict mode, unsayable", {"text": "你好😀", "unknown": "strict"}, 422, "unsayable_text"),
]


@pytest.mark.parametrize("desc,body,status,code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_the_documented_error(served, desc, body, status, code):
    svc, client = served
    raw = body if isinstance(body, bytes) else None
    got, headers, payload = client.request("POST", "/v1/tts", None if raw else body, raw=raw)
    err = json.loads(payload)["error"]
    assert (got, err["code"]) == (status, code), err
    assert err["message"] and headers["Content-Type"].startswith("application/json")


def test_mixed_text_speaks_and_skips_what_it_cannot_say(served):
    svc, client = served
    status, _, payload = client.tts({"text": "你好\x00😀世界"})
    assert status == 200 and len(wav(payload)[0]) > 0


def test_body_limit_wrong_method_and_unknown_path(served):
    svc, client = served
    status, headers, payload = client.request("POST", "/v1/tts", raw=b"{" + b" " * (70 << 10) + b"}")
    assert status == 413 and json.loads(payload)["error"]["code"] == "body_too_large"
    status, headers, _ = client.request("GET", "/v1/tts")
    assert status == 405 and headers["Allow"] == "POST"
    assert client.request("GET", "/nope")[0] == 404
    assert svc.scheduler.alive()  # none of it hurt the service


def test_openai_compatible_speech_endpoint(served):
    svc, client = served
    status, headers, payload = client.tts({"model": "tts-1", "input": "你好，世界。", "voice": "alloy",
                                           "response_format": "pcm", "speed": 1.0}, "/v1/audio/speech")
    assert status == 200 and headers["Transfer-Encoding"] == "chunked" and len(payload) > 2000
    status, _, payload = client.tts({"model": "tts-1", "input": "你好", "voice": "alloy",
                                     "response_format": "opus"}, "/v1/audio/speech")
    assert status == 422 and json.loads(payload)["error"]["code"] == "unsupported_format"


def test_health_ready_voices_and_metrics_parse_as_prometheus(served):
    from prometheus_client.parser import text_string_to_metric_families

    svc, client = served
    assert client.request("GET", "/healthz")[0] == 200
    status, _, payload = client.request("GET", "/readyz")
    assert status == 200 and json.loads(payload)["status"] == "ready"
    voices = json.loads(client.request("GET", "/v1/voices")[2])["voices"]
    assert voices[0]["id"] == "default" and voices[0]["sample_rate"] == 24000
    client.tts({"text": "欢迎光临！"})
    client.tts({"text": "欢迎光临！"})
    status, headers, payload = client.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(payload.decode())}
    for name in ("edgetts_requests", "edgetts_request_seconds", "edgetts_first_audio_seconds",
                 "edgetts_rtf", "edgetts_queue_length", "edgetts_cache_hits", "edgetts_cache_misses",
                 "edgetts_provider_info", "edgetts_cache_hit_ratio"):
        assert name in fams, name
    assert fams["edgetts_request_seconds"].type == "histogram"
    hits = [s.value for s in fams["edgetts_cache_hits"].samples if s.name == "edgetts_cache_hits_total"]
    assert hits and hits[0] >= 1
    info = fams["edgetts_provider_info"].samples[0].labels
    assert info["provider"] == "CPUExecutionProvider" and info["variant"] == "fp32"


def count_text(text, name, **labels):
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "edgetts_" + name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def count(svc, name, **labels):
    return count_text(svc.metrics.render(), name, **labels)


def test_bearer_token(voice):
    svc, httpd, client = start(voice, token="s3cret")
    try:
        anon = Client(client.port)
        status, headers, payload = anon.tts({"text": "你好"})
        assert status == 401 and "Bearer" in headers["WWW-Authenticate"]
        assert Client(client.port, "wrong").tts({"text": "你好"})[0] == 401
        assert anon.request("GET", "/healthz")[0] == 200  # probes stay open
        assert client.tts({"text": "你好"})[0] == 200
    finally:
        stop(svc, httpd)


def test_full_queue_answers_503_and_a_stuck_request_times_out(voice):
    """A scheduler that takes no work (its thread stopped): the first request waits in the queue
    until its 1 s timeout (504), the one after it finds the queue full (503 + Retry-After)."""
    svc, httpd, client = start(voice, max_queue=1, request_timeout_s=1.0)
    try:
        svc.scheduler.pause()
        results = {}

        def first():
            results["first"] = client.tts({"text": "今天天气很好。"})

        t = threading.Thread(target=first)
        t.start()
        deadline = time.time() + 5
        while svc.scheduler.queue_length() == 0 and time.time() < deadline:
            time.sleep(0.01)
        status, headers, payload = client.tts({"text": "前方五百米右转。"})
        # the queue ahead at the recent pace, never less than 2 s
        assert status == 503 and 2 <= int(headers["Retry-After"]) <= 60
        assert json.loads(payload)["error"]["code"] == "busy"
        t.join()
        status, _, payload = results["first"]
        assert status == 504 and json.loads(payload)["error"]["code"] == "timeout"
    finally:
        stop(svc, httpd)


# -- the real process: restart with a disk cache, SIGTERM drain -----------------------------------

def spawn(bundle, cache_dir, *extra):
    p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "serve", "--voice", bundle, "--port", "0",
                          "--cache-dir", cache_dir, "--provider", "cpu", *extra],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    for line in p.stderr:
        if "serving" in line:
            port = int(line.rsplit(":", 1)[1].strip())
            threading.Thread(target=p.stderr.read, daemon=True).start()  # keep the pipe drained
            return p, Client(port)
        assert time.time() < deadline
    raise AssertionError("service did not start: exit %s" % p.wait())


def test_killed_and_restarted_service_answers_from_the_disk_cache(tiny_bundle, tmp_path):
    cache = str(tmp_path / "cache")
    p, client = spawn(tiny_bundle, cache)
    try:
        status, headers, first = client.tts({"text": "请系好安全带，我们即将起飞。"})
        assert status == 200 and headers["X-Cache"] == "miss"
    finally:
        p.kill()  # no clean shutdown: the entry must already be on disk
        p.wait()
    p, client = spawn(tiny_bundle, cache)
    try:
        status, headers, again = client.tts({"text": "请系好安全带，我们即将起飞。"})
        assert status == 200 and headers["X-Cache"] == "hit" and again == first
        # same normalized text, different spelling: the key is the normalized utterance
        status, headers, _ = client.tts({"text": "请系好安全带， 我们即将起飞。"})
        assert headers["X-Cache"] == "hit"
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0


def test_sigterm_drains_in_flight_requests(tiny_bundle, tmp_path):
    p, client = spawn(tiny_bundle, str(tmp_path / "cache"), "--no-batching")
    text = "今天天气很好，我们一起去公园散步吧。" * 12
    result = {}
    t = threading.Thread(target=lambda: result.update(r=client.tts({"text": text, "stream": True})))
    t.start()
    deadline = time.time() + 30
    while count_text(client.request("GET", "/metrics")[2].decode(), "in_flight_requests") < 2:
        assert time.time() < deadline  # the /metrics request itself is the other one in flight
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    t.join(timeout=60)
    status, headers, payload = result["r"]
    audio, _ = wav(payload)
    assert status == 200 and len(audio) > 24000 * 10  # the whole long answer, not cut off
    assert p.wait(timeout=30) == 0


def test_real_voice_over_http(default_bundle):
    """The default voice through the service equals the library's own synthesis."""
    v = Voice.load(default_bundle, provider="cpu", variant="int8")
    svc, httpd, client = start(v)
    try:
        text = "今天天气很好，我们一起去公园散步吧。"
        status, _, payload = client.tts({"text": text})
        audio, _ = wav(payload)
        ref = v.synthesize_array(text)
        assert status == 200 and len(audio) == len(ref) and np.abs(audio - ref).max() < 2e-3
        assert np.sqrt(np.mean(audio ** 2)) > 0.01
    finally:
        stop(svc, httpd)


def test_requests_before_warm_up_are_refused_not_run(voice):
    """Until warm() has run (TensorRT engines built there), /readyz says so and speech requests
    get 503 warming_up instead of building engines inside a request."""
    svc, httpd, client = start(voice, warm=False)
    try:
        status, _, payload = client.request("GET", "/readyz")
        assert status == 503 and json.loads(payload)["status"] == "warming up"
        status, headers, payload = client.tts({"text": "你好"})
        assert status == 503 and json.loads(payload)["error"]["code"] == "warming_up" and headers["Retry-After"]
        assert client.request("GET", "/healthz")[0] == 200
        svc.warm()
        assert client.request("GET", "/readyz")[0] == 200 and client.tts({"text": "你好"})[0] == 200
        status, _, payload = client.request("HEAD", "/v1/tts")
        assert status == 405
    finally:
        stop(svc, httpd)


def test_warmup_command(tiny_bundle):
    from click.testing import CliRunner

    from edgetts.cli import main

    r = CliRunner().invoke(main, ["warmup", "--voice", tiny_bundle, "--provider", "cpu"])
    assert r.exit_code == 0 and "warm: fp32 on CPUExecutionProvider" in r.output


def test_warmup_covers_the_longest_clause():
    from edgetts.text.frontend import Frontend

    lengths = [len(u.spoken) for u in Frontend()(Voice.WARMUP_TEXT)]
    assert lengths == [1, 40]  # the front-end's shortest and longest clause (max_clause_chars)


def test_done_and_fail_from_two_threads_end_a_job_once():
    """The scheduler thread may fail a job (timeout) while the vocoder thread finishes it:
    exactly one end marker reaches the client, never two. The check-then-set window is widened
    (an Event whose is_set() yields for a millisecond) so that an unlocked version loses."""
    import threading
    import time

    from edgetts.serving.scheduler import Job

    class SlowEvent(threading.Event):
        def is_set(self):
            seen = super().is_set()
            time.sleep(0.001)
            return seen

    for _ in range(20):
        job = Job([], None, 60)
        job.finished = SlowEvent()
        start = threading.Barrier(2)

        def finish(call, *args, start=start):
            start.wait()
            call(*args)

        threads = [threading.Thread(target=finish, args=(job.done,)),
                   threading.Thread(target=finish, args=(job.fail, RuntimeError("late")))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert job.out.qsize() == 1
