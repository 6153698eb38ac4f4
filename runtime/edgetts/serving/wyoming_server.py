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
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import stat
from typing import Optional
from urllib.parse import urlparse

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
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


class Handler(AsyncEventHandler):
    def __init__(self, svc: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer)
        self.svc = svc
        self.streaming = False
        self.pending = ""
        self.voice: Optional[str] = None

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(info(self.svc).event())
        elif SynthesizeStart.is_type(event.type):
            start = SynthesizeStart.from_event(event)
            self.streaming, self.pending = True, ""
            self.voice = start.voice.name if start.voice else None
        elif SynthesizeChunk.is_type(event.type):
            if self.streaming:
                self.pending += SynthesizeChunk.from_event(event).text
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
            if not self.streaming:  # else: the compatibility copy of a streaming request
                synth = Synthesize.from_event(event)
                await self.speak(synth.text, synth.voice.name if synth.voice else None)
        return True

    async def speak(self, text: str, voice: Optional[str], streamed: bool = False) -> None:
        svc = self.svc
        sr = svc.voice.config.sample_rate
        try:
            with svc.track("wyoming", speech=True) as tracked:
                speech = await svc.speak(SpeakRequest(text=text, voice=voice), tracked)
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


def info(svc: Service) -> Info:
    c = svc.voice.config
    attribution = Attribution(name="edgetts", url="https://pypi.org/project/edgetts/")
    voice = TtsVoice(name=svc.voice_id, description="%s (%s, %s)" % (c.name, svc.voice.variant, c.language),
                     attribution=attribution, installed=True, version=__version__,
                     languages=[c.language])
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
            self._handlers.add(task)
            try:
                await Handler(self.svc, reader, writer).run()
            except (ConnectionError, OSError):
                pass  # the client went away; its synthesis was stopped on the way out
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
