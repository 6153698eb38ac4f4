"""``edgetts serve``: the HTTP adapter of the service core (``service.py``), a Starlette app on
Hypercorn's asyncio HTTP/1.1 server (``h11``, pure Python), beside the optional Wyoming adapter
on the same loop.

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
  ``GET /v1/voices``, ``GET /metrics`` (Prometheus text), ``GET /openapi.json``.

Why Hypercorn + Starlette: both are pure Python (h11, anyio) and install on a Jetson Nano's
Python 3.8 from wheels with no compiler. Hypercorn's ``keep_alive_timeout`` runs from the moment
a connection opens (or its last answer ends) until a request's headers are complete, however
slowly the bytes come, so it is a total header deadline as well as the idle limit: idle and
slow-header connections are closed by the server's own setting. (uvicorn, the other choice,
restarts its keep-alive timer on every byte and has no header deadline.) An idle connection
costs a socket and a few KB on the loop, no thread.

Safety: binds 127.0.0.1 unless told otherwise; optional bearer token for ``/v1/*`` and
``/metrics``; a Content-Length that is a plain byte count under the body limit (else 400/411/413
before the body is read) and a body deadline (408); text length limit (413); a bounded job queue
(503 with ``Retry-After``); a per-request timeout (504); every handler error becomes a 500 JSON
answer; a client that goes away cancels its synthesis. SIGTERM: every new request, ``/readyz``
and ``/healthz`` get 503 ``draining`` at once while in-flight speech finishes (up to ``drain_s``),
then the process exits.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import re
import signal
import socket
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..engine import prosody
from ..errors import BindError
from .metrics import CONTENT_TYPE
from . import schema
from . import ui as ui_page
from .limits import MAX_CONNECTIONS
from .service import Service, ServiceError, SpeakRequest, Speech
from ..engine.audio import wav_header

log = logging.getLogger("edgetts.serving.server")


@dataclass(frozen=True)
class HttpLimits:
    """Connection settings, handed to Hypercorn (``keep_alive_s``, ``max_header_bytes``,
    ``graceful_s``) or enforced by the app (``body_timeout_s``, ``write_timeout_s``, and
    ``max_header_bytes`` again for a header block that arrives whole, which h11 does not count)."""

    keep_alive_s: float = 5.0       # header deadline from connect / last answer; idle limit
    body_timeout_s: float = 10.0    # the whole body must arrive within this, once headers are in
    write_timeout_s: float = 30.0   # one piece of the answer must be taken by the client within this
    max_header_bytes: int = 16 << 10  # the header block, however its bytes arrive (more: 431)
    graceful_s: float = 3.0         # after the drain: how long open connections may finish
    backlog: int = 128
    max_connections: int = MAX_CONNECTIONS  # open at once; more are answered 503 and closed


# -- request bodies → SpeakRequest ------------------------------------------------------------------

def parse_tts(body) -> Tuple[SpeakRequest, str, bool]:
    """Validate a /v1/tts body → (request, format, stream); ServiceError names the field."""
    b = schema.parse(schema.TtsRequest, body)
    try:
        pitch = None if b.pitch is None else prosody.parse_pitch(b.pitch)
        spread = (None if b.pitch_range is None
                  else prosody.parse_factor(b.pitch_range, "pitch_range", words=prosody.RANGE_WORDS))
        energy = None if b.energy is None else prosody.parse_factor(b.energy, "energy")
    except ValueError as exc:
        raise ServiceError(422, "bad_control", str(exc))
    req = SpeakRequest(text=b.text, speed=b.speed, unknown=b.unknown, ssml=b.ssml, marks=b.marks,
                       voice=b.voice, pitch=pitch, pitch_range=spread, energy=energy,
                       emotion=b.emotion)
    return req, b.format, b.stream


def parse_openai(body, spec=None) -> Tuple[SpeakRequest, str, bool]:
    """An OpenAI speech body; ``instructions`` that name one of the voice's presets (`spec`)
    select it, other instructions are ignored (``prosody.preset_in``)."""
    b = schema.parse(schema.OpenAISpeechRequest, body)
    emotion = prosody.preset_in(spec, b.instructions) if b.instructions else None
    return (SpeakRequest(text=b.input, speed=b.speed, voice=b.voice, emotion=emotion),
            b.response_format, True)


def _ctype(fmt: str, sr: int) -> str:
    return "audio/wav" if fmt == "wav" else "audio/pcm;rate=%d;encoding=signed-int;bits=16;channels=1" % sr


def _json(status: int, obj, headers: Optional[dict] = None) -> Response:
    try:
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the request: escape it as JSON allows
        data = (json.dumps(obj) + "\n").encode("ascii")
    return Response(data, status, headers, "application/json; charset=utf-8")


def _error(e: ServiceError, close: bool = False) -> Response:
    headers = dict(e.headers)
    if close:  # the body was not read: the connection cannot carry another request
        headers["Connection"] = "close"
    return _json(e.status, {"error": {"code": e.code, "message": e.message}}, headers)


class _ClientGone(Exception):
    pass


class _WriteStalled(Exception):
    """The client took no part of the answer within the write deadline."""


class _Unread(ServiceError):
    """Refused before the body was read: the connection cannot carry another request."""


# -- the app --------------------------------------------------------------------------------------

class HttpAdapter:
    """The Starlette app: routing, authentication, body limits, and speech requests turned into
    ``Service.speak`` calls."""

    def __init__(self, svc: Service, limits: HttpLimits = HttpLimits(), ui: bool = True):
        self.svc = svc
        self.limits = limits
        # path -> (method, handler, needs the token)
        self.routes: Dict[str, Tuple[str, Callable[[Request], Awaitable[Response]], bool]] = {
            "/healthz": ("GET", self.healthz, False),
            "/readyz": ("GET", self.readyz, False),
            "/openapi.json": ("GET", self.openapi, False),
            "/v1/voices": ("GET", self.voices, True),
            "/metrics": ("GET", self.metrics, True),
            "/v1/tts": ("POST", self.tts, True),
            "/v1/audio/speech": ("POST", self.openai_speech, True),
        }
        if ui:  # the page and its files need no token; every call it makes does
            self.routes.update({"/": ("GET", self.page, False),
                                **{"/ui/" + f: ("GET", self.page, False) for f in ui_page.FILES}})
        self.app = Starlette(
            routes=[Route(p, self._wrap(p, h, auth), methods=[m]) for p, (m, h, auth) in self.routes.items()],
            exception_handlers={HTTPException: self._http_exception})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        route = self.routes.get(path)
        tracked = self.svc.track(path if route else "other", speech=bool(route and route[0] == "POST"))
        rid = uuid.uuid4().hex[:16]
        scope["edgetts"] = {"tracked": tracked, "request_id": rid}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                tracked.status = message["status"]
                message = dict(message, headers=list(message.get("headers", [])) +
                               [(b"x-request-id", rid.encode("ascii"))])
            try:  # a client that stops reading holds its slot only this long
                await asyncio.wait_for(send(message), self.limits.write_timeout_s)
            except asyncio.TimeoutError:
                raise _WriteStalled()

        with tracked:
            size = sum(len(k) + len(v) for k, v in scope.get("headers", ()))
            if size > self.limits.max_header_bytes:  # arrived in one piece: h11 let it through
                return await _error(ServiceError(431, "headers_too_large", "the request's headers are %d "
                                                 "bytes, the limit is %d" % (size, self.limits.max_header_bytes)),
                                    close=True)(scope, receive, send_with_id)
            try:
                await self.app(scope, receive, send_with_id)
            except _WriteStalled:
                tracked.status = 499  # the answer is cut: the connection closes
                log.warning("request %s: the client took no data for %.0f s; closing its connection",
                            rid, self.limits.write_timeout_s)

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        path = request.url.path
        if exc.status_code == 405:
            method = self.routes[path][0]
            return _error(ServiceError(405, "method_not_allowed", "%s takes %s, not %s"
                                       % (path, method, request.method), {"Allow": method}))
        if exc.status_code == 404:
            return _error(ServiceError(404, "not_found", "no endpoint %s; see GET /v1/voices, POST /v1/tts" % path))
        return _error(ServiceError(exc.status_code, "http_error", str(exc.detail)))

    def _wrap(self, path: str, handler, auth: bool):
        async def endpoint(request: Request) -> Response:
            state = request.scope["edgetts"]
            try:
                if auth and self.svc.token is not None:
                    self._authorize(request)
                return await handler(request)
            except ServiceError as e:
                return _error(e, close=isinstance(e, _Unread))
            except _ClientGone:
                state["tracked"].status = 499  # nobody is left to answer
                return Response(b"", 499)
            except Exception:
                log.exception("request %s failed", state["request_id"])
                return _error(ServiceError(500, "internal_error", "internal error (request id %s)"
                                           % state["request_id"]))
        return endpoint

    def _authorize(self, request: Request) -> None:
        # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        want = (self.svc.token or "").encode("utf-8")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8", "replace"), want):
            raise ServiceError(401, "unauthorized", "missing or wrong bearer token",
                               {"WWW-Authenticate": 'Bearer realm="edgetts"'})

    async def _body(self, request: Request):
        h = request.headers
        length = h.get("content-length")
        if h.get("transfer-encoding", "").lower() == "chunked" or length is None:
            raise _Unread(411, "length_required", "send the JSON body with a Content-Length header")
        if not re.fullmatch(r"[0-9]{1,18}", length.strip()):  # 1*DIGIT (RFC 9110): no sign
            raise _Unread(400, "bad_content_length", "Content-Length %r is not a byte count" % length)
        n = int(length)
        if n > self.svc.max_body_bytes:
            raise _Unread(413, "body_too_large", "the body has %d bytes, the limit is %d"
                          % (n, self.svc.max_body_bytes))

        async def read() -> bytes:
            parts, got = [], 0
            async for part in request.stream():
                got += len(part)
                if got > n:
                    break
                parts.append(part)
            return b"".join(parts)

        try:
            raw = await asyncio.wait_for(read(), self.limits.body_timeout_s)
        except asyncio.TimeoutError:
            raise _Unread(408, "body_timeout", "the body did not arrive within %.0f s"
                          % self.limits.body_timeout_s)
        except ClientDisconnect:
            raise _ClientGone()
        if len(raw) != n:
            raise _Unread(400, "incomplete_body", "the body ended after %d of %d bytes" % (len(raw), n))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ServiceError(400, "invalid_utf8", "the body is not UTF-8: byte %d (0x%02x) %s"
                               % (exc.start, raw[exc.start], exc.reason))
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ServiceError(400, "invalid_json", "the body is not JSON: %s at line %d column %d"
                               % (exc.msg, exc.lineno, exc.colno))
        except RecursionError:  # json's parser recurses per nesting level
            raise ServiceError(400, "invalid_json", "the body is nested too deeply; requests are flat "
                               "JSON objects")
        except ValueError:  # Python's limit on the digits of an integer (int_max_str_digits)
            limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
            raise ServiceError(400, "invalid_json", "the body holds a number of more than %d digits; "
                               "send numbers as JSON numbers of ordinary size" % limit)
        return body

    # -- endpoints -------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        if self.svc.draining:
            return _json(503, {"status": "draining"})
        return _json(200, {"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        svc = self.svc
        if svc.draining:
            return _json(503, {"status": "draining"})
        if not svc.ready:
            return _json(503, {"status": "warming up"})
        return _json(200, {"status": "ready", "provider": svc.voice.providers[0], "variant": svc.voice.variant})

    async def voices(self, request: Request) -> Response:
        return _json(200, {"voices": self.svc.voices()})

    async def metrics(self, request: Request) -> Response:
        return Response(self.svc.metrics.render().encode("utf-8"), 200, media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        return _json(200, openapi_document(self))

    async def page(self, request: Request) -> Response:
        name = request.url.path[len("/ui/"):] if request.url.path.startswith("/ui/") else "index.html"
        body, ctype = ui_page.read(name)
        return Response(body, 200, ui_page.HEADERS, ctype)

    async def tts(self, request: Request) -> Response:
        self.svc.admit()  # a draining service answers at once, before reading the body
        return await self._speak(request, *parse_tts(await self._body(request)))

    async def openai_speech(self, request: Request) -> Response:
        self.svc.admit()
        return await self._speak(request, *parse_openai(await self._body(request),
                                                        self.svc.voice.config.prosody))

    async def _speak(self, request: Request, req: SpeakRequest, fmt: str, stream: bool) -> Response:
        tracked = request.scope["edgetts"]["tracked"]
        speech = await self.svc.speak(req, tracked)
        sr = speech.sample_rate
        headers = {"X-Cache": speech.cache}
        try:
            if not stream:
                data = await _until_gone(request, speech.read(), speech)
                if req.marks:
                    return _json(200, {"sample_rate": sr, "duration": len(data) / 2.0 / sr,
                                       "audio": base64.b64encode(wav_header(sr, len(data)) + data).decode("ascii"),
                                       "marks": [m.to_dict() for m in speech.marks]}, headers)
                body = data if fmt == "pcm" else wav_header(sr, len(data)) + data
                return Response(body, 200, headers, _ctype(fmt, sr))
            chunks = speech.__aiter__()
            # headers go out only once audio exists, so early failures still get their status
            first = await _until_gone(request, _first(chunks), speech)
        except BaseException:
            speech.cancel()
            raise
        framing = _MarkedChunks(speech) if req.marks else _AudioChunks(fmt, sr)
        return StreamingResponse(_streamed(request, speech, chunks, first, framing), 200, headers,
                                 framing.content_type)


async def _streamed(request: Request, speech: Speech, chunks: AsyncIterator[bytes], first: bytes,
                    framing) -> AsyncIterator[bytes]:
    """A streamed answer: the framing's head, each PCM chunk as the framing writes it, and its
    tail; cut short when the client goes, and the synthesis cancelled however it ends."""
    samples = len(first) // 2
    try:
        yield framing.head()
        if first:
            yield framing.chunk(first)
        async for data in chunks:
            await asyncio.sleep(0)  # let the loop see a closed connection
            if await request.is_disconnected():
                return
            samples += len(data) // 2
            yield framing.chunk(data)
        yield framing.done(samples)
    except ServiceError as e:  # headers are out: the stream is cut short
        log.warning("stream ended early: %s", e.message)
        yield framing.error(e)
    finally:  # the client went away (Starlette cancels us) or we are done
        speech.cancel()


class _AudioChunks:
    """Audio as it is made: PCM, or a WAV whose header leaves the length open."""

    def __init__(self, fmt: str, sample_rate: int):
        self.fmt, self.sample_rate = fmt, sample_rate
        self.content_type = _ctype(fmt, sample_rate)

    def head(self) -> bytes:
        return wav_header(self.sample_rate, None) if self.fmt == "wav" else b""

    def chunk(self, data: bytes) -> bytes:
        return data

    def done(self, samples: int) -> bytes:
        return b""

    def error(self, e: ServiceError) -> bytes:
        return b""  # nothing a player could read: the stream just ends


class _MarkedChunks:
    """``stream`` with ``marks``: one JSON object per line (NDJSON). First
    ``{"sample_rate", "format": "pcm_s16le"}``, then per chunk ``{"audio": base64 PCM, "marks":
    the characters whose times are now known}``, last ``{"done": true, "duration"}`` (or
    ``{"error"}``): a page can play and light up the text while the rest is made."""

    content_type = "application/x-ndjson"

    def __init__(self, speech: Speech):
        self.speech = speech
        self.sent = 0  # marks already written

    @staticmethod
    def _line(obj) -> bytes:
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")

    def head(self) -> bytes:
        return self._line({"sample_rate": self.speech.sample_rate, "format": "pcm_s16le"})

    def chunk(self, data: bytes) -> bytes:
        marks = [m.to_dict() for m in self.speech.marks[self.sent:]]
        self.sent = len(self.speech.marks)
        return self._line({"audio": base64.b64encode(data).decode("ascii"), "marks": marks})

    def done(self, samples: int) -> bytes:
        return self._line({"done": True, "duration": samples / float(self.speech.sample_rate)})

    def error(self, e: ServiceError) -> bytes:
        return self._line({"error": {"code": e.code, "message": e.message}})


async def _first(chunks: AsyncIterator[bytes]) -> bytes:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return b""


# -- what Hypercorn does not bound ------------------------------------------------------------------

_BUSY_BODY = b'{"error": {"code": "busy", "message": "too many open connections; try again shortly"}}\n'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
         b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(_BUSY_BODY)) + _BUSY_BODY


class _Gate:
    """Open connections of one server, and its cap."""

    def __init__(self, cap: int):
        self.cap = cap
        self.live: set = set()  # (reader, writer) of open connections

    def full(self) -> bool:
        # a connection counts while its client can still send: Hypercorn keeps a connection the
        # client has closed until its keep-alive timer ends, and those must not refuse others
        self.live = {(r, w) for r, w in self.live if not (w.is_closing() or r.at_eof())}
        return len(self.live) >= self.cap


def _connection_cap(wanted: int) -> int:
    """``wanted``, lowered to leave 64 file descriptors under the process's limit (the voice's
    files, the cache, Wyoming): past the limit, accept() fails in a loop instead of refusing."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return wanted
    if soft != resource.RLIM_INFINITY and wanted > soft - 64:
        log.warning("--max-connections %d is above the file-descriptor limit %d less 64: using %d",
                    wanted, soft, max(8, soft - 64))
        return max(8, soft - 64)
    return wanted


_patched = False


def _http11_with_a_cap() -> None:
    """Two things Hypercorn has no setting for, done where it makes its connections:

    - **HTTP/1.1 only.** The service speaks HTTP/1.1, with its header, body, write and idle
      deadlines. Hypercorn switches a cleartext connection to HTTP/2 on the prior-knowledge
      preface or an ``Upgrade: h2c``, and its HTTP/2 side never reported idle connections, which
      stayed open: such a connection is closed instead.
    - **A connection cap** (``HttpLimits.max_connections``): one over it is answered 503 ``busy``
      and closed at once, so idle connections cannot take every file descriptor.

    Both replace Hypercorn's classes by subclasses (0.17.3 on Python 3.8 to 0.18), per process;
    a server's cap travels in its own Config, so servers in one process keep their own."""
    global _patched
    if _patched:
        return
    import hypercorn.asyncio.run as h_run
    import hypercorn.asyncio.tcp_server as h_tcp
    from hypercorn.events import Closed
    from hypercorn.protocol import ProtocolWrapper
    from hypercorn.protocol.h11 import H2CProtocolRequiredError, H2ProtocolAssumedError

    class Http11Only(ProtocolWrapper):
        async def handle(self, event) -> None:
            try:
                return await self.protocol.handle(event)
            except (H2ProtocolAssumedError, H2CProtocolRequiredError):
                await self.send(Closed())

    base = h_run.TCPServer

    class CappedTCPServer(base):  # type: ignore[misc,valid-type]
        async def run(self) -> None:
            gate = getattr(self.config, "edgetts_gate", None)
            if gate is None:
                return await super().run()
            if gate.full():
                log.warning(_OVER_CAP + " %d open connections: answered 503 busy", gate.cap)
                try:
                    self.writer.write(_BUSY)
                    await asyncio.wait_for(self.writer.drain(), 1.0)
                except (OSError, asyncio.TimeoutError):
                    pass
                finally:
                    self.writer.close()
                return
            pair = (self.reader, self.writer)
            gate.live.add(pair)
            try:
                await super().run()
            finally:
                gate.live.discard(pair)

    setattr(h_tcp, "ProtocolWrapper", Http11Only)  # noqa: B010 - replacing Hypercorn's class
    setattr(h_run, "TCPServer", CappedTCPServer)  # noqa: B010
    _patched = True






async def _until_gone(request: Request, work: Awaitable, speech: Speech):
    """Run `work`; if the client disconnects first, cancel it and the synthesis."""
    task = asyncio.ensure_future(work)

    async def gone() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return

    watch = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watch.cancel()
    if task.cancelled() or not task.done():
        speech.cancel()
        raise _ClientGone()
    return task.result()


def openapi_document(adapter: HttpAdapter) -> dict:
    """OpenAPI 3.1 for the endpoints above; the request schemas are generated from the models
    the service validates with (``edgetts.serving.schema``)."""
    err = {"description": "error",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    audio = {"description": "audio (WAV or raw PCM16; chunked when streamed)",
             "content": {"audio/wav": {}, "audio/pcm": {}}}

    def speech_op(summary: str, schema: str) -> dict:
        return {"post": {"summary": summary, "security": [{"bearer": []}, {}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/" + schema}}}},
                         "responses": {"200": audio, "400": err, "401": err, "408": err, "411": err,
                                       "413": err, "422": err, "503": err, "504": err}}}

    def get(summary: str, auth: bool) -> dict:
        op: Dict[str, object] = {"summary": summary, "responses": {
            "200": {"description": "ok"}, "503": {"description": "not ready"}}}
        if auth:
            op["security"] = [{"bearer": []}, {}]
        return {"get": op}

    return {
        "openapi": "3.1.0",
        "info": {"title": "edgetts", "version": "1"},
        "paths": {
            "/v1/tts": speech_op("Speak text (or SSML) with the served voice", "TtsRequest"),
            "/v1/audio/speech": speech_op("OpenAI-compatible text to speech (always streamed)", "OpenAISpeechRequest"),
            "/v1/voices": get("The served voice", True),
            "/metrics": get("Prometheus metrics", True),
            "/healthz": get("The process is alive (503 while draining)", False),
            "/readyz": get("Sessions warm and not draining", False),
            "/openapi.json": get("This document", False),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schema.schemas(adapter.svc.max_text_chars),
        },
    }


# -- running it -------------------------------------------------------------------------------

def bind(host: str, port: int, backlog: int = 128) -> socket.socket:
    """The listening socket, bound now so that a busy port fails before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError("%s:%d" % (host, port), exc)
    return sock


class _OncePer(logging.Filter):
    """Lets a message that starts with `prefix` through at most once per `seconds`: asyncio logs
    "socket.accept() out of system resource" on every attempt while file descriptors run out."""

    def __init__(self, prefix: str, seconds: float = 10.0):
        super().__init__()
        self.prefix, self.seconds = prefix, seconds
        self._last = float("-inf")
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        import time

        if not str(record.msg).startswith(self.prefix):
            return True
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._dropped += 1
            return False
        self._last = now
        if self._dropped:
            record.msg = "%s (%d more like it in the last %.0f s)" % (record.msg, self._dropped, self.seconds)
            self._dropped = 0
        return True


_ACCEPT_ERRORS = _OncePer("socket.accept() out of system resource")
logging.getLogger("asyncio").addFilter(_ACCEPT_ERRORS)
# a flood of refused connections must not flood the log either
_OVER_CAP = "HTTP connection over the cap of"
log.addFilter(_OncePer(_OVER_CAP, 60.0))


class Server:
    """The service on one asyncio loop: HTTP (Hypercorn) and, if given, Wyoming."""

    def __init__(self, svc: Service, host: str = "127.0.0.1", port: int = 8080,
                 limits: HttpLimits = HttpLimits(), wyoming: Optional[str] = None, ui: bool = True):
        self.svc = svc
        self.limits = limits
        self.wyoming = wyoming
        self.sock = bind(host, port, limits.backlog)
        self.address = self.sock.getsockname()[:2]
        self.wyoming_server = None
        if wyoming:
            from .wyoming_server import WyomingServer

            try:
                self.wyoming_server = WyomingServer(svc, wyoming)
            except BaseException:
                self.close()
                raise
        self.adapter = HttpAdapter(svc, limits, ui)
        self._stop: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    def _config(self):
        from hypercorn.config import Config

        c = Config()
        c.bind = ["fd://%d" % self.sock.fileno()]
        c.keep_alive_timeout = self.limits.keep_alive_s
        c.h11_max_incomplete_size = self.limits.max_header_bytes
        c.graceful_timeout = self.limits.graceful_s
        c.backlog = self.limits.backlog
        c.accesslog = None
        c.errorlog = logging.getLogger("edgetts.http")
        c.include_server_header = False
        _http11_with_a_cap()
        c.edgetts_gate = _Gate(_connection_cap(self.limits.max_connections))  # type: ignore[attr-defined]
        return c

    async def run(self, on_listening: Optional[Callable[[], None]] = None) -> None:
        """Serve until ``stop()``; the Wyoming server (if any) starts and stops with it."""
        from hypercorn.asyncio import serve as hypercorn_serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        wy = self.wyoming_server
        if wy is not None:
            await wy.start()
        if on_listening:
            self._loop.call_soon(on_listening)
        try:
            await hypercorn_serve(self.adapter, self._config(), shutdown_trigger=self._stop.wait)
        finally:
            if wy is not None:
                await wy.stop()

    def stop(self) -> None:
        """From any thread: stop serving (after a drain, if one is wanted)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    # for tests and benchmarks: the server on its own thread
    def start(self) -> "Server":
        ready = threading.Event()

        def main() -> None:
            asyncio.run(self.run(on_listening=ready.set))

        self._thread = threading.Thread(target=main, name="edgetts-http", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the HTTP server did not start")
        return self

    def shutdown(self) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.close()

    def close(self) -> None:
        for sock in (self.sock, getattr(self.wyoming_server, "sock", None)):
            try:
                if sock is not None:
                    sock.close()
            except OSError:
                pass


def serve(svc: Service, host: str = "127.0.0.1", port: int = 8080, drain_s: float = 30.0,
          on_ready=None, limits: HttpLimits = HttpLimits(), wyoming: Optional[str] = None,
          ui: bool = True) -> None:
    """Listen, warm up, serve until SIGTERM/SIGINT, then drain and return."""
    server = Server(svc, host, port, limits, wyoming, ui)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        draining: List[asyncio.Task] = []

        def on_signal(signum: int) -> None:
            if draining:
                return
            log.info("signal %d: draining (up to %.0f s)", signum, drain_s)

            async def drain() -> None:
                await svc.drain(drain_s)
                if svc.speaking:
                    log.warning("%d request(s) still running after %.0f s; exiting anyway", svc.speaking, drain_s)
                server.stop()
            draining.append(loop.create_task(drain()))

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)

        async def warm() -> None:  # /healthz answers (and /readyz says "warming up") meanwhile
            await loop.run_in_executor(None, svc.warm)
            log.info("ready: %s on %s", svc.voice.variant, svc.voice.providers[0])
            if on_ready:
                on_ready(server.address)

        warming: List[asyncio.Task] = []
        await server.run(on_listening=lambda: warming.append(loop.create_task(warm())))

    log.info("listening on http://%s:%d", *server.address)
    try:
        asyncio.run(main())
    finally:
        svc.scheduler.close()
        server.close()
        log.info("stopped")
