"""``edgetts serve``: the HTTP service (standard library ``http.server``, one thread per connection).

Endpoints (JSON errors are ``{"error": {"code", "message"}}``, the shape OpenAI clients expect):

- ``POST /v1/tts``: ``{"text", "voice"?, "format": "wav"|"pcm", "stream": bool, "speed"?,
  "unknown"?: "spell"|"skip"|"strict", "ssml"?: bool, "marks"?: bool}`` → audio. ``stream: true``
  sends chunked transfer encoding, one HTTP chunk per audio chunk as it is vocoded. Text that
  starts with ``<speak`` is SSML (``ssml`` forces it on or off). ``marks: true`` answers one JSON
  document ``{"sample_rate", "duration", "audio": base64 WAV, "marks": [{"text", "start",
  "end"}]}`` with every spoken character's times, for captions and highlighting in a web page.
- ``POST /v1/audio/speech``: OpenAI's text-to-speech request (``model``, ``input``, ``voice``,
  ``response_format`` wav|pcm, ``speed``); always streamed, like OpenAI's.
- ``GET /healthz`` (process alive), ``GET /readyz`` (sessions warm and not draining),
  ``GET /v1/voices``, ``GET /metrics`` (Prometheus text).

Why the standard library: the service must install on a Jetson Nano's Python 3.8 (JetPack 4.6)
next to a vendor ONNX Runtime wheel, where every extra compiled dependency (uvloop, pydantic-core,
httptools) is a build fight on aarch64. Its threads only parse small JSON bodies and copy audio
bytes out; synthesis runs on the scheduler's threads, so the server's speed never limits it.

Safety: binds 127.0.0.1 unless told otherwise; optional bearer token for ``/v1/*`` and
``/metrics``; body size and text length limits (413); a bounded job queue (503 with
``Retry-After``); a bounded number of connections (503); a per-request timeout (504); socket
timeouts for slow clients; every handler error becomes a 500 JSON answer, never a dead process;
SIGTERM stops accepting, lets in-flight requests finish (up to ``drain_s``), then exits.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import queue
import re
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from .config import UNKNOWN_POLICIES, SynthesisOptions
from .errors import EdgeTTSError, FrontendError
from .manifest import sha256
from .metrics import CONTENT_TYPE, LiveReads, ServiceMetrics
from .phrase_cache import PhraseCache, phrase_key
from .scheduler import Job, JobTimeout, QueueFull, Scheduler
from .voice import pcm16, wav_header

log = logging.getLogger("edgetts.server")

# Voice names OpenAI clients send; they all mean the served voice, so those clients work unchanged.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                 "shimmer", "verse")
FORMATS = ("wav", "pcm")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class Service:
    """Everything a request needs, shared by the handler threads."""

    def __init__(self, voice, voice_id: str = "default", cache: Optional[PhraseCache] = None,
                 scheduler: Optional[Scheduler] = None, max_text_chars: int = 2000,
                 max_body_bytes: int = 64 << 10, request_timeout_s: float = 60.0,
                 token: Optional[str] = None, max_connections: int = 64):
        self.voice = voice
        self.voice_id = voice_id
        self.cache = cache if cache is not None else PhraseCache()
        self.scheduler = scheduler or Scheduler(voice)
        self.max_text_chars = max_text_chars
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self.token = token
        self.connections = threading.BoundedSemaphore(max_connections)
        self.ready = False
        self.draining = False
        self.in_flight = 0
        self._lock = threading.Lock()
        self.voice_sha = sha256(os.path.join(voice.bundle, "voice.json"))
        self.request_s = 1.0  # running mean of a synthesized request's time, for Retry-After
        self.metrics = ServiceMetrics(request_timeout_s, LiveReads(
            queue_length=lambda: self.scheduler.queue_length(),
            in_flight=lambda: self.in_flight,
            ready=lambda: 1 if self.ready and not self.draining else 0,
            cache_stats=lambda: self.cache.stats(),
            waves=lambda: (self.scheduler.waves, self.scheduler.wave_clauses),
            provider=lambda: {"provider": voice.providers[0], "variant": voice.variant,
                              "voice": voice_id, "batching": str(self.scheduler.batching).lower()}))

    def retry_after(self) -> str:
        """Seconds a refused client should wait: the queue ahead of it at the recent pace,
        2 to 60. (A fixed 1 s let OpenAI clients spend both default retries inside one burst.)"""
        wait = (self.scheduler.queue_length() + 1) * self.request_s
        return str(int(min(60, max(2, math.ceil(wait)))))

    def warm(self) -> None:
        """Before any request: allocations, TensorRT engines for the whole shape range."""
        self.voice.warmup()
        self.ready = True

    def voices(self) -> list:
        c = self.voice.config
        return [{"id": self.voice_id, "name": c.name, "language": c.language,
                 "sample_rate": c.sample_rate, "variant": self.voice.variant,
                 "provider": self.voice.providers[0], "aliases": list(OPENAI_VOICES),
                 "sha256": self.voice_sha}]

    def check_voice(self, name) -> None:
        if name is None or name in (self.voice_id, self.voice.config.name) or name in OPENAI_VOICES:
            return
        raise ApiError(422, "unknown_voice", "unknown voice %r; this service has %r (GET /v1/voices)"
                       % (name, self.voice_id))


def parse_tts(body: dict, svc: Service) -> dict:
    """Validate a /v1/tts body → normalized request fields (raises ApiError naming the field)."""
    _only(body, {"text", "voice", "format", "stream", "speed", "unknown", "ssml", "marks"})
    req = {"text": _text(body.get("text"), "text", svc),
           "format": _choice(body.get("format", "wav"), "format", FORMATS),
           "stream": _bool(body.get("stream", False), "stream"),
           "speed": _speed(body.get("speed")),
           "unknown": _choice(body.get("unknown", "spell"), "unknown", UNKNOWN_POLICIES),
           "ssml": None if body.get("ssml") is None else _bool(body.get("ssml"), "ssml"),
           "marks": _bool(body.get("marks", False), "marks")}
    if req["marks"] and req["stream"]:
        raise ApiError(422, "unsupported_value", "'marks' needs \"stream\": false: the answer is one "
                       "JSON document with the audio and the timestamps")
    svc.check_voice(_str_or_none(body.get("voice"), "voice"))
    return req


def parse_openai(body: dict, svc: Service) -> dict:
    _only(body, {"model", "input", "voice", "response_format", "speed", "instructions", "stream_format"})
    _str_or_none(body.get("model"), "model")
    req = {"text": _text(body.get("input"), "input", svc),
           "format": _choice(body.get("response_format", "wav"), "response_format", FORMATS),
           "stream": True, "speed": _speed(body.get("speed")), "unknown": "spell", "ssml": None,
           "marks": False}
    svc.check_voice(_str_or_none(body.get("voice"), "voice"))
    return req


def _only(body, allowed) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise ApiError(422, "unknown_field", "unknown field(s) %s; allowed: %s"
                       % (", ".join(extra), ", ".join(sorted(allowed))))


def _text(v, field: str, svc: Service) -> str:
    if v is None:
        raise ApiError(422, "missing_field", "%r is required: the text to speak" % field)
    if not isinstance(v, str):
        raise ApiError(422, "wrong_type", "%r must be a string, got %s" % (field, _json_type(v)))
    if len(v) > svc.max_text_chars:
        raise ApiError(413, "text_too_long", "%r has %d characters, the limit is %d; split it into "
                       "several requests" % (field, len(v), svc.max_text_chars))
    return v


def _choice(v, field: str, allowed) -> str:
    if not isinstance(v, str) or v not in allowed:
        raise ApiError(422, "unsupported_" + ("format" if "format" in field else "value"),
                       "%r must be one of %s, got %s" % (field, ", ".join(allowed), json.dumps(v)))
    return v


def _bool(v, field: str) -> bool:
    if not isinstance(v, bool):
        raise ApiError(422, "wrong_type", "%r must be true or false, got %s" % (field, _json_type(v)))
    return v


def _speed(v) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.25 <= v <= 4.0):
        raise ApiError(422, "bad_speed", "'speed' must be a number from 0.25 to 4.0, got %s" % json.dumps(v))
    return float(v)


def _str_or_none(v, field: str) -> Optional[str]:
    if v is not None and not isinstance(v, str):
        raise ApiError(422, "wrong_type", "%r must be a string, got %s" % (field, _json_type(v)))
    return v


def _json_type(v) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "edgetts"
    timeout = 30  # seconds a client may stall while sending or receiving
    svc: Service  # set on the subclass made by make_server

    def log_message(self, fmt, *args):  # access log at debug level, not on stderr
        log.debug("%s %s", self.address_string(), fmt % args)

    # -- dispatch --------------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        self._t0 = time.perf_counter()
        self._status = 500
        self._endpoint = path if path in ROUTES else "other"
        self._outcome = "other"  # synthesized / cache_hit for speech; error is read off the status
        self._request_id = uuid.uuid4().hex[:16]
        svc = self.svc
        with svc._lock:
            svc.in_flight += 1
        try:
            route = ROUTES.get(path)
            if route is None:
                raise ApiError(404, "not_found", "no endpoint %s; see GET /v1/voices, POST /v1/tts" % path)
            if method != route[0]:
                raise ApiError(405, "method_not_allowed", "%s takes %s, not %s" % (path, route[0], method),
                               {"Allow": route[0]})
            if route[2] and svc.token is not None:
                self._authorize()
            route[1](self)
        except ApiError as e:
            self._error(e)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
            self._status = 499  # client went away
        except Exception:
            log.exception("request %s failed", self._request_id)
            self._error(ApiError(500, "internal_error", "internal error (request id %s)" % self._request_id))
        finally:
            m = svc.metrics
            m.requests.labels(self._endpoint, str(self._status)).inc()
            outcome = "error" if self._status >= 400 else self._outcome
            m.request_seconds.labels(self._endpoint, outcome).observe(time.perf_counter() - self._t0)
            with svc._lock:
                svc.in_flight -= 1

    def _authorize(self) -> None:
        # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
        scheme, _, given = self.headers.get("Authorization", "").strip().partition(" ")
        want = (self.svc.token or "").encode("utf-8")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("utf-8", "replace"), want):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token",
                           {"WWW-Authenticate": 'Bearer realm="edgetts"'})

    # -- responses -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, headers: Optional[dict] = None) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", self._request_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: Optional[dict] = None) -> None:
        self._send(status, (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"),
                   "application/json; charset=utf-8", headers)

    def _error(self, e: ApiError) -> None:
        if getattr(self, "_streaming", False):  # headers are out: cut the stream short instead
            self.close_connection = True
            return
        try:
            self._json(e.status, {"error": {"code": e.code, "message": e.message}}, e.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    def _body(self) -> dict:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or length is None:
            self.close_connection = True
            raise ApiError(411, "length_required", "send the JSON body with a Content-Length header")
        if not re.fullmatch(r"[0-9]{1,18}", length.strip()):  # 1*DIGIT (RFC 9110): no sign
            self.close_connection = True
            raise ApiError(400, "bad_content_length", "Content-Length %r is not a byte count" % length)
        n = int(length)
        if n > self.svc.max_body_bytes:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            raise ApiError(413, "body_too_large", "the body has %d bytes, the limit is %d"
                           % (n, self.svc.max_body_bytes))
        raw = self.rfile.read(n)
        if len(raw) != n:
            self.close_connection = True
            raise ApiError(400, "incomplete_body", "the body ended after %d of %d bytes" % (len(raw), n))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "invalid_utf8", "the body is not UTF-8: byte %d (0x%02x) %s"
                           % (exc.start, raw[exc.start], exc.reason))
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_json", "the body is not JSON: %s at line %d column %d"
                           % (exc.msg, exc.lineno, exc.colno))
        except RecursionError:  # json's parser recurses per nesting level
            raise ApiError(400, "invalid_json", "the body is nested too deeply; requests are flat "
                           "JSON objects")
        if not isinstance(body, dict):
            raise ApiError(422, "wrong_type", "the body must be a JSON object, got %s" % _json_type(body))
        return body

    # -- endpoints -------------------------------------------------------------------------------

    def healthz(self) -> None:
        self._json(200, {"status": "ok"})

    def readyz(self) -> None:
        svc = self.svc
        if svc.draining:
            self._json(503, {"status": "draining"})
        elif not svc.ready:
            self._json(503, {"status": "warming up"})
        else:
            self._json(200, {"status": "ready", "provider": svc.voice.providers[0],
                             "variant": svc.voice.variant})

    def voices(self) -> None:
        self._json(200, {"voices": self.svc.voices()})

    def metrics(self) -> None:
        self._send(200, self.svc.metrics.render().encode("utf-8"), CONTENT_TYPE)

    def tts(self) -> None:
        self._speak(parse_tts(self._body(), self.svc))

    def openai_speech(self) -> None:
        self._speak(parse_openai(self._body(), self.svc))

    def _speak(self, req: dict) -> None:
        svc = self.svc
        if svc.draining:
            raise ApiError(503, "draining", "the service is shutting down", {"Retry-After": "5"})
        if not svc.ready:  # engines are built by warm(), never inside a request
            raise ApiError(503, "warming_up", "the service is still warming up; poll GET /readyz",
                           {"Retry-After": "5"})
        options = SynthesisOptions(speed=req["speed"], unknown=req["unknown"], ssml=req["ssml"])
        try:
            utts = svc.voice.prepare(req["text"], options)
        except FrontendError as exc:
            raise ApiError(422, "unsayable_text", str(exc))
        sr = svc.voice.config.sample_rate
        key = phrase_key(svc.voice_sha, svc.voice.variant, utts, {"speed": req["speed"] or 1.0})
        pcm = None if req["marks"] else svc.cache.get(key)  # timestamps come from synthesis
        if pcm is not None:
            svc.metrics.cache_hits.inc()
            self._outcome = "cache_hit"
            self._answer_cached(req, pcm, sr)
            return
        svc.metrics.cache_misses.inc()
        self._outcome = "synthesized"
        job = Job(utts, options, svc.request_timeout_s)
        try:
            svc.scheduler.submit(job)
        except QueueFull as exc:
            raise ApiError(503, "busy", "the service is busy (%s); retry shortly" % exc,
                           {"Retry-After": svc.retry_after()})
        start = time.perf_counter()

        def complete(data: bytes) -> None:
            """All audio is made: cache it before the last byte goes out, so a client that has
            its answer can rely on the entry being stored (on disk too)."""
            secs = len(data) / 2.0 / sr
            if secs:
                took = time.perf_counter() - start
                svc.request_s = 0.8 * svc.request_s + 0.2 * took
                svc.metrics.rtf.observe(took / secs)
                svc.metrics.audio_seconds.inc(secs)
                svc.cache.put(key, data)

        try:
            if req["marks"]:
                self._with_marks(job, sr, complete)
            elif req["stream"]:
                self._stream(job, req, sr, complete)
            else:
                data = b"".join(pcm16(audio) for audio in self._chunks(job))
                complete(data)
                body = data if req["format"] == "pcm" else wav_header(sr, len(data)) + data
                self._send(200, body, _ctype(req["format"], sr), {"X-Cache": "miss"})
                svc.metrics.first_audio_seconds.labels(self._outcome).observe(time.perf_counter() - self._t0)
        finally:
            job.cancelled.set()  # stops the job if we leave early (client gone, error)

    def _with_marks(self, job: Job, sr: int, complete) -> None:
        """One JSON document: the WAV (base64) and every character's start and end."""
        import base64

        marks: list = []
        data = b"".join(pcm16(audio) for audio in self._chunks(job, marks))
        complete(data)
        body = {"sample_rate": sr, "duration": len(data) / 2.0 / sr,
                "audio": base64.b64encode(wav_header(sr, len(data)) + data).decode("ascii"),
                "marks": [m.to_dict() for m in marks]}
        self._json(200, body, {"X-Cache": "bypass"})
        self.svc.metrics.first_audio_seconds.labels(self._outcome).observe(time.perf_counter() - self._t0)

    def _chunks(self, job: Job, marks: Optional[list] = None):
        """The job's audio arrays as they come (and their marks into `marks`); ApiError for
        timeouts and failures."""
        while True:
            left = job.deadline - time.monotonic()
            try:
                item = job.out.get(timeout=max(0.0, left) + 1.0)
            except queue.Empty:
                item = JobTimeout("no audio within %.0f s" % job.timeout_s)
            if item is None:
                return
            if isinstance(item, JobTimeout):
                raise ApiError(504, "timeout", "synthesis timed out: %s" % item)
            if isinstance(item, BaseException):
                if isinstance(item, (EdgeTTSError, ValueError)):
                    raise ApiError(422, "synthesis_failed", str(item))
                raise ApiError(500, "synthesis_failed", "synthesis failed (%s)" % type(item).__name__)
            if marks is not None:
                marks.extend(item.marks)
            if item.audio.size:
                yield item.audio

    def _stream(self, job: Job, req: dict, sr: int, complete) -> None:
        parts = []
        first = True
        for audio in self._chunks(job):
            data = pcm16(audio)
            if first:  # headers only once audio exists, so early failures still get a status
                self._start_stream(req, sr, "miss")
                self._write_chunk(wav_header(sr, None) if req["format"] == "wav" else b"")
                self.svc.metrics.first_audio_seconds.labels(self._outcome).observe(time.perf_counter() - self._t0)
                first = False
            self._write_chunk(data)
            parts.append(data)
        if first:
            self._start_stream(req, sr, "miss")
        complete(b"".join(parts))
        self._end_stream()

    def _answer_cached(self, req: dict, pcm: bytes, sr: int) -> None:
        if req["stream"]:
            self._start_stream(req, sr, "hit")
            if req["format"] == "wav":
                self._write_chunk(wav_header(sr, None))
            self.svc.metrics.first_audio_seconds.labels(self._outcome).observe(time.perf_counter() - self._t0)
            step = sr * 2  # one second per HTTP chunk
            for i in range(0, len(pcm), step):
                self._write_chunk(pcm[i:i + step])
            self._end_stream()
        else:
            body = pcm if req["format"] == "pcm" else wav_header(sr, len(pcm)) + pcm
            self._send(200, body, _ctype(req["format"], sr), {"X-Cache": "hit"})
            self.svc.metrics.first_audio_seconds.labels(self._outcome).observe(time.perf_counter() - self._t0)
        self.svc.metrics.audio_seconds.inc(len(pcm) / 2.0 / sr)

    def _start_stream(self, req: dict, sr: int, cache: str) -> None:
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", _ctype(req["format"], sr))
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Request-Id", self._request_id)
        self.send_header("X-Cache", cache)
        self.end_headers()
        self._streaming = True

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self._streaming = False


def _ctype(fmt: str, sr: int) -> str:
    return "audio/wav" if fmt == "wav" else "audio/pcm;rate=%d;encoding=signed-int;bits=16;channels=1" % sr


# path -> (method, handler, needs the token)
ROUTES = {
    "/healthz": ("GET", Handler.healthz, False),
    "/readyz": ("GET", Handler.readyz, False),
    "/v1/voices": ("GET", Handler.voices, True),
    "/metrics": ("GET", Handler.metrics, True),
    "/v1/tts": ("POST", Handler.tts, True),
    "/v1/audio/speech": ("POST", Handler.openai_speech, True),
}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, svc: Service):
        handler = type("BoundHandler", (Handler,), {"svc": svc})
        self.svc = svc
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.svc.connections.acquire(blocking=False):
            try:
                body = b'{"error": {"code": "busy", "message": "too many connections"}}\n'
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                                % (self.svc.retry_after().encode(), len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.svc.connections.release()


def serve(svc: Service, host: str = "127.0.0.1", port: int = 8080, drain_s: float = 30.0,
          on_ready=None) -> None:
    """Warm up, serve until SIGTERM/SIGINT, then drain in-flight requests and return."""
    httpd = Server((host, port), svc)
    stop = threading.Event()

    def _signal(signum, frame):
        if not stop.is_set():
            log.info("signal %d: draining (up to %.0f s)", signum, drain_s)
            stop.set()
            svc.draining = True
            threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()  # /healthz answers (and /readyz says "warming up") while the sessions warm
    log.info("listening on http://%s:%d", *httpd.server_address[:2])
    svc.warm()
    log.info("ready: %s on %s", svc.voice.variant, svc.voice.providers[0])
    if on_ready:
        on_ready(httpd.server_address)
    while not stop.wait(0.5):
        pass
    t.join()
    deadline = time.monotonic() + drain_s
    while svc.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    if svc.in_flight:
        log.warning("%d request(s) still running after %.0f s; exiting anyway", svc.in_flight, drain_s)
    svc.scheduler.close()
    httpd.server_close()
    log.info("stopped")
