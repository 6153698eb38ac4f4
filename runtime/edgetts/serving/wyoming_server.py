"""The Wyoming adapter: Home Assistant's protocol for local voice services, served beside HTTP
from the same process, voice, cache and scheduler (``edgetts serve --wyoming tcp://127.0.0.1:10200``).

- ``describe`` → ``info``: one TTS program with the served voice and its language, and
  ``supports_synthesize_streaming``.
- ``synthesize`` → ``audio-start``, ``audio-chunk``… (as the audio is made), ``audio-stop``.
- Streaming text, for a language model's reply spoken while it is still being written:
  ``synthesize-start``, ``synthesize-chunk``…, ``synthesize-stop``. Each complete sentence in the
  text so far is spoken as soon as its closing mark arrives (``audio-start``/``chunk``/``stop``
  per sentence), the rest at ``synthesize-stop``, then ``synthesize-stopped``. A plain
  ``synthesize`` sent alongside a streaming request (Home Assistant sends both, for servers that
  do not stream) is ignored.
- Errors are ``error`` events with the HTTP service's codes and messages (``unsayable_text``,
  ``text_too_long``, ``busy``…); the connection stays open. A client that disconnects stops its
  synthesis.

Events are read here, not by the ``wyoming`` package's reader, so that every malformed event is
answered with an ``error`` event (code ``bad_event``) instead of a traceback: a line that is not
a JSON object with a ``type``, or fields of the wrong type, leave the connection open; a header
line over ``MAX_EVENT_BYTES``, a ``data_length`` or ``payload_length`` that is not a count under
that limit, close it (the framing is lost). Streamed text is held up to the service's text limit
(``text_too_long`` as soon as it passes it), a connection idle for ``IDLE_S`` is closed, and at
most ``MAX_CONNECTIONS`` are open at once (more are told ``busy`` and closed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import stat
from typing import Optional, Tuple
from urllib.parse import urlparse

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from .. import __version__
from ..errors import BindError
from ..text.sentences import LONG_MARKS
from .service import Service, ServiceError, SpeakRequest

log = logging.getLogger("edgetts.wyoming")

# a sentence is complete once one of the front-end's long-pause marks follows it, or a Latin full
# stop before a space
_SENTENCE_END = re.compile(r"[%s]+|\.(?=\s)" % re.escape("".join(sorted(LONG_MARKS))))


def split_complete(text: str):
    """(complete sentences, the rest still being written)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends:
        return "", text
    return text[:ends[-1]], text[ends[-1]:]


MAX_EVENT_BYTES = 64 << 10  # an event's header line, its data and its payload, each
IDLE_S = 300.0              # a connection with no event for this long is closed
MAX_CONNECTIONS = 64        # open at once; more are answered `busy` and closed


class BadEvent(Exception):
    """A malformed event: answered with an ``error`` event; `fatal` when the framing is lost."""

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.message = message
        self.fatal = fatal


async def read_event(reader: asyncio.StreamReader, limit: int = MAX_EVENT_BYTES) -> Optional[Event]:
    """The next event, None at the end of the stream; raises BadEvent."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        line = exc.partial  # the last line, without its newline
    except asyncio.LimitOverrunError:
        raise BadEvent("an event's header line is longer than %d bytes" % limit, fatal=True)
    if len(line) > limit:
        raise BadEvent("an event's header line is longer than %d bytes" % limit, fatal=True)
    try:
        head = json.loads(line)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or too deep
        raise BadEvent("an event line is not JSON: %s" % str(exc).split(":")[0])
    if not isinstance(head, dict):
        raise BadEvent("an event must be a JSON object, got %s" % type(head).__name__)
    sizes = []
    for key in ("data_length", "payload_length"):
        n = head.get(key)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= limit):
            raise BadEvent("%s must be a byte count up to %d, got %s" % (key, limit, json.dumps(n)[:40]),
                           fatal=True)
        sizes.append(n or 0)
    data_bytes = await reader.readexactly(sizes[0]) if sizes[0] else b""
    payload = await reader.readexactly(sizes[1]) if sizes[1] else None
    etype, data = head.get("type"), head.get("data", {})
    if not isinstance(etype, str) or not etype:
        raise BadEvent("an event needs a \"type\" string")
    if data_bytes:
        try:
            more = json.loads(data_bytes)
        except (ValueError, RecursionError) as exc:
            raise BadEvent("an event's data is not JSON: %s" % str(exc).split(":")[0])
        if not isinstance(more, dict) or not isinstance(data, dict):
            raise BadEvent("an event's data must be a JSON object")
        data = dict(data, **more)
    if not isinstance(data, dict):
        raise BadEvent("an event's data must be a JSON object")
    return Event(type=etype, data=data, payload=payload)


def _text(data: dict, key: str = "text") -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BadEvent("%r must be a string, got %s" % (key, json.dumps(value)[:40]))
    return value


def _voice(data: dict) -> Tuple[Optional[str], Optional[str]]:
    """The voice a synthesize event names, and its speaker: one of the voice's prosody presets,
    which ``info`` lists as speakers (a Home Assistant user picks one as a voice's speaker)."""
    voice = data.get("voice")
    if voice is None:
        return None, None
    name = voice.get("name") if isinstance(voice, dict) else voice
    if name is not None and not isinstance(name, str):
        raise BadEvent("'voice' must name a voice, got %s" % json.dumps(voice)[:40])
    speaker = voice.get("speaker") if isinstance(voice, dict) else None
    if speaker is not None and not isinstance(speaker, str):
        raise BadEvent("'voice.speaker' must name a preset, got %s" % json.dumps(speaker)[:40])
    return name, speaker


class Handler(AsyncEventHandler):
    def __init__(self, svc: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer)
        self.svc = svc
        self.streaming = False
        self.pending = ""
        self.voice: Tuple[Optional[str], Optional[str]] = (None, None)

    async def run(self) -> None:
        """Events until the client leaves, idles past IDLE_S or breaks the framing."""
        try:
            while True:
                try:
                    event = await asyncio.wait_for(read_event(self.reader), IDLE_S)
                    if event is None:
                        return
                    await self.handle_event(event)
                except asyncio.TimeoutError:
                    return
                except BadEvent as exc:
                    await self.write_event(Error(text=exc.message, code="bad_event").event())
                    if exc.fatal:
                        return
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # gone mid-event: nobody to answer
        finally:
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        data = event.data or {}
        if Describe.is_type(event.type):
            await self.write_event(info(self.svc).event())
        elif SynthesizeStart.is_type(event.type):
            self.streaming, self.pending = True, ""
            self.voice = _voice(data)
        elif SynthesizeChunk.is_type(event.type):
            if self.streaming:
                self.pending += _text(data)
                limit = self.svc.max_text_chars
                if len(self.pending) > limit:  # the service's own limit, before any more work
                    self.streaming, self.pending = False, ""
                    await self.write_event(Error(
                        text="the streamed text passed %d characters without a sentence end; the limit "
                             "is %d (--max-text)" % (limit, limit), code="text_too_long").event())
                    return True
                ready, self.pending = split_complete(self.pending)
                if ready.strip():
                    await self.speak(ready, self.voice, streamed=True)
        elif SynthesizeStop.is_type(event.type):
            if self.streaming:
                rest, self.pending, self.streaming = self.pending, "", False
                if rest.strip():
                    await self.speak(rest, self.voice, streamed=True)
                await self.write_event(SynthesizeStopped().event())
        elif Synthesize.is_type(event.type):
            text, voice = _text(data), _voice(data)
            if not self.streaming:  # else: the compatibility copy of a streaming request
                await self.speak(text, voice)
        return True

    async def speak(self, text: str, voice: Tuple[Optional[str], Optional[str]],
                    streamed: bool = False) -> None:
        svc = self.svc
        sr = svc.voice.config.sample_rate
        name, speaker = voice
        try:
            with svc.track("wyoming", speech=True) as tracked:
                speech = await svc.speak(SpeakRequest(text=text, voice=name, emotion=speaker), tracked)
                await self.write_event(AudioStart(rate=sr, width=2, channels=1).event())
                async for data in speech:  # a write to a closed connection raises: synthesis stops
                    await self.write_event(AudioChunk(rate=sr, width=2, channels=1, audio=data).event())
                await self.write_event(AudioStop().event())
                tracked.status = 200
        except ServiceError as e:
            if streamed and e.code == "unsayable_text":  # a fragment of only marks or symbols
                log.debug("skipped a streamed fragment: %s", e.message)
                return
            await self.write_event(Error(text=e.message, code=e.code).event())


def _answers(path: str) -> bool:
    """Whether a process accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def info(svc: Service) -> Info:
    c = svc.voice.config
    attribution = Attribution(name="edgetts", url="https://pypi.org/project/edgetts/")
    # the voice's prosody presets are its speakers
    speakers = ([TtsVoiceSpeaker(name=p) for p in c.prosody.presets] if c.prosody is not None
                and c.prosody.presets else None)
    voice = TtsVoice(name=svc.voice_id, description="%s (%s, %s)" % (c.name, svc.voice.variant, c.language),
                     attribution=attribution, installed=True, version=__version__,
                     languages=[c.language], speakers=speakers)
    program = TtsProgram(name="edgetts", description="edgetts: Mandarin text to speech on ONNX Runtime",
                         attribution=attribution, installed=True, version=__version__, voices=[voice],
                         supports_synthesize_streaming=True)
    return Info(tts=[program])


class WyomingServer:
    """Listens on ``tcp://host:port`` or ``unix:///path``; bound at construction, so a busy
    port fails before anything is served."""

    def __init__(self, svc: Service, uri: str):
        self.svc = svc
        u = urlparse(uri)
        if u.scheme == "tcp":
            if not u.hostname or u.port is None:
                raise ValueError("--wyoming %s: give host and port, e.g. tcp://127.0.0.1:10200" % uri)
            family = socket.AF_INET6 if ":" in u.hostname else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((u.hostname, u.port))
            except OSError as exc:
                sock.close()
                raise BindError(uri, exc)
            self.address = sock.getsockname()[:2]
        elif u.scheme == "unix" and u.path:
            if os.path.exists(u.path) and stat.S_ISSOCK(os.stat(u.path).st_mode):
                if _answers(u.path):  # another process serves there: never take its socket
                    raise BindError(uri, OSError(98, "another process listens on this socket"))
                os.unlink(u.path)  # left by a previous run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(u.path)
            except OSError as exc:
                sock.close()
                raise BindError(uri, exc)
            self.address = u.path
        else:
            raise ValueError("--wyoming %s: use tcp://HOST:PORT or unix:///PATH" % uri)
        self.sock = sock
        self._server: Optional[asyncio.AbstractServer] = None
        self._handlers: set = set()

    async def start(self) -> None:
        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            handler = Handler(self.svc, reader, writer)
            if len(self._handlers) >= MAX_CONNECTIONS:
                try:
                    await handler.write_event(Error(text="%d Wyoming connections are open; try again later"
                                                    % MAX_CONNECTIONS, code="busy").event())
                except (ConnectionError, OSError):
                    pass
                writer.close()
                return
            self._handlers.add(task)
            try:
                await handler.run()
            except (ConnectionError, OSError):
                pass  # the client went away; its synthesis was stopped on the way out
            except Exception:  # never a traceback per connection, never the server's end
                log.exception("Wyoming connection failed")
            finally:
                self._handlers.discard(task)

        if self.sock.family == socket.AF_UNIX:
            self._server = await asyncio.start_unix_server(connected, sock=self.sock)
        else:
            self._server = await asyncio.start_server(connected, sock=self.sock)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._handlers):
            task.cancel()
