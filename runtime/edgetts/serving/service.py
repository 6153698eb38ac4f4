"""The service core that every protocol adapter shares: one voice, phrase cache, scheduler,
metrics and set of limits behind ``Service.speak(request) → Speech``.

The HTTP adapter (``server.py``) and the Wyoming adapter (``wyoming_server.py``) only translate
their protocol's requests into a ``SpeakRequest`` and a ``Speech``'s PCM into their protocol's
messages; admission (ready, draining, text length, queue bound), the front-end, the cache, the
scheduler, cancellation and the synthesis metrics all live here.

Synthesis runs on the scheduler's threads. A job's chunks reach the asyncio loop through
``call_soon_threadsafe`` (no thread waits per request), so idle and slow clients cost the
service nothing but their sockets.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from typing import AsyncIterator, List, Optional

from ..config import SynthesisOptions
from ..errors import EdgeTTSError, FrontendError, SSMLError
from ..engine.manifest import sha256
from .metrics import LiveReads, ServiceMetrics
from .phrase_cache import PhraseCache, phrase_key
from .limits import MAX_AUDIO_SECONDS, MAX_BODY_KB, MAX_TEXT_CHARS, REQUEST_TIMEOUT_S
from .scheduler import Job, JobTimeout, QueueFull, Scheduler
from ..engine.audio import pcm16

# Voice names OpenAI clients send; they all mean the served voice, so those clients work unchanged.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                 "shimmer", "verse")


class ServiceError(Exception):
    """A request the service refuses or cannot finish. ``status`` is the HTTP status the HTTP
    adapter answers with (other adapters map it); ``code`` is the stable machine-readable name."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass(frozen=True)
class SpeakRequest:
    text: str
    speed: Optional[float] = None
    unknown: str = "spell"
    ssml: Optional[bool] = None
    marks: bool = False  # timestamps wanted: synthesized (the cache stores audio only)
    voice: Optional[str] = None
    pitch: Optional[float] = None        # semitones
    pitch_range: Optional[float] = None  # factor
    energy: Optional[float] = None       # factor
    emotion: Optional[str] = None        # a preset of the voice


class _LoopQueue:
    """What a job's ``out`` needs (``put`` from any thread), delivering into an asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._q: "asyncio.Queue" = asyncio.Queue()

    def put(self, item) -> None:
        try:
            self._loop.call_soon_threadsafe(self._q.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    async def get(self, timeout: float):
        return await asyncio.wait_for(self._q.get(), timeout)


class Speech:
    """One answer. Iterate it (``async for``) for PCM16 bytes as they are made; ``marks`` fills
    with every spoken character's times as the chunks pass; ``cache`` is ``hit``, ``miss`` or
    ``bypass``. Leaving the iteration early (client gone, error) stops the synthesis."""

    def __init__(self, svc: "Service", key: str, started: float, pcm: Optional[bytes] = None,
                 job: Optional[Job] = None, bypass: bool = False):
        self.svc = svc
        self.key = key
        self.started = started
        self.sample_rate = svc.voice.config.sample_rate
        self.cache = "hit" if pcm is not None else ("bypass" if bypass else "miss")
        self.marks: List = []
        self._pcm = pcm
        self._job = job
        self._first = True
        self.complete = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def read(self) -> bytes:
        """All the PCM, once it is all made."""
        return b"".join([data async for data in self])

    async def _chunks(self) -> AsyncIterator[bytes]:
        m = self.svc.metrics
        if self._pcm is not None:
            self._first_audio()
            step = self.sample_rate * 2  # one second per piece
            for i in range(0, len(self._pcm), step):
                yield self._pcm[i:i + step]
            m.audio_seconds.inc(len(self._pcm) / 2.0 / self.sample_rate)
            self.complete = True
            return
        job = self._job
        assert job is not None
        out = job.out
        assert isinstance(out, _LoopQueue)
        parts = []
        t0 = time.perf_counter()
        try:
            while True:
                left = job.deadline - time.monotonic()
                try:
                    item = await out.get(max(0.0, left) + 1.0)
                except asyncio.TimeoutError:
                    item = JobTimeout("no audio within %.0f s" % job.timeout_s)
                if item is None:
                    break
                if isinstance(item, JobTimeout):
                    raise ServiceError(504, "timeout", "synthesis timed out: %s" % item)
                if isinstance(item, BaseException):
                    if isinstance(item, (EdgeTTSError, ValueError)):
                        raise ServiceError(422, "synthesis_failed", str(item))
                    raise ServiceError(500, "synthesis_failed", "synthesis failed (%s)" % type(item).__name__)
                self.marks.extend(item.marks)
                if item.audio.size:
                    data = pcm16(item.audio)
                    parts.append(data)
                    self._first_audio()
                    yield data
            data = b"".join(parts)
            secs = len(data) / 2.0 / self.sample_rate
            if secs:
                took = time.perf_counter() - t0
                svc = self.svc
                svc.request_s = 0.8 * svc.request_s + 0.2 * took
                m.rtf.observe(took / secs)
                m.audio_seconds.inc(secs)
                svc.cache.put(self.key, data)
            self.complete = True
        finally:
            if not self.complete:
                self.cancel()

    @property
    def outcome(self) -> str:
        """The metrics' outcome label: ``cache_hit`` or ``synthesized``."""
        return "cache_hit" if self.cache == "hit" else "synthesized"

    def _first_audio(self) -> None:
        if self._first:
            self._first = False
            self.svc.metrics.first_audio_seconds.labels(self.outcome).observe(time.perf_counter() - self.started)

    def cancel(self) -> None:
        """The client went away (or the answer failed): stop the synthesis between steps."""
        job = self._job
        if job is not None and not job.cancelled.is_set():
            job.cancelled.set()
            if not job.finished.is_set():
                self.svc.metrics.cancelled.inc()


class Tracked:
    """``with svc.track(endpoint) as t:`` around a request. ``speak(req, tracked=t)`` sets the
    outcome; the adapter sets ``t.status`` (HTTP-style) on success, and a ServiceError leaving
    the block sets it from the error (errors are read off the status)."""

    def __init__(self, svc: "Service", endpoint: str, speech: bool):
        self.svc, self.endpoint, self.speech = svc, endpoint, speech
        self.status = 500
        self.outcome = "other"
        self.t0 = time.perf_counter()

    def __enter__(self) -> "Tracked":
        self.svc.in_flight += 1
        self.svc.speaking += self.speech
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if isinstance(exc, ServiceError):
            self.status = exc.status
        svc = self.svc
        svc.in_flight -= 1
        svc.speaking -= self.speech
        m = svc.metrics
        m.requests.labels(self.endpoint, str(self.status)).inc()
        outcome = "error" if self.status >= 400 else self.outcome
        m.request_seconds.labels(self.endpoint, outcome).observe(time.perf_counter() - self.t0)


class Service:
    """Everything a request needs; the adapters call ``speak`` from the asyncio loop."""

    def __init__(self, voice, voice_id: str = "default", cache: Optional[PhraseCache] = None,
                 scheduler: Optional[Scheduler] = None, max_text_chars: int = MAX_TEXT_CHARS,
                 max_body_bytes: int = MAX_BODY_KB << 10, request_timeout_s: float = REQUEST_TIMEOUT_S,
                 token: Optional[str] = None, max_audio_s: float = MAX_AUDIO_SECONDS):
        self.voice = voice
        self.voice_id = voice_id
        self.cache = cache if cache is not None else PhraseCache()
        self.scheduler = scheduler or Scheduler(voice)
        self.max_text_chars = max_text_chars
        self.max_audio_s = max_audio_s
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self.token = token
        self.ready = False
        self.draining = False
        self.in_flight = 0   # requests of every adapter being answered now
        self.speaking = 0    # of which speech requests: what a drain waits for
        self.voice_sha = sha256(os.path.join(voice.bundle, "voice.json"))
        self.request_s = 1.0  # running mean of a synthesized request's time, for Retry-After
        self.metrics = ServiceMetrics(request_timeout_s, LiveReads(
            queue_length=lambda: self.scheduler.queue_length(),
            in_flight=lambda: self.in_flight,
            ready=lambda: 1 if self.ready and not self.draining else 0,
            cache_stats=lambda: self.cache.stats(),
            waves=lambda: (self.scheduler.waves, self.scheduler.wave_clauses),
            stopped=lambda: self.scheduler.stopped_jobs,
            provider=lambda: {"provider": voice.providers[0], "variant": voice.variant,
                              "voice": voice_id, "batching": str(self.scheduler.batching).lower()}),
            gpu_device=0 if voice.providers[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
            else None)

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
                 "sha256": self.voice_sha,
                 "prosody": c.prosody.to_dict() if c.prosody is not None else None}]

    def check_voice(self, name: Optional[str]) -> None:
        if name is None or name in (self.voice_id, self.voice.config.name) or name in OPENAI_VOICES:
            return
        raise ServiceError(422, "unknown_voice", "unknown voice %r; this service has %r"
                           % (name, self.voice_id))

    def admit(self) -> None:
        """Refuse at once while draining or warming up (engines are built by warm(), never
        inside a request)."""
        if self.draining:
            raise ServiceError(503, "draining", "the service is shutting down", {"Retry-After": "5"})
        if not self.ready:
            raise ServiceError(503, "warming_up", "the service is still warming up; poll GET /readyz",
                               {"Retry-After": "5"})

    async def speak(self, req: SpeakRequest, tracked: Optional[Tracked] = None) -> Speech:
        """Admit, run the front-end, answer from the cache or queue a job. Raises ServiceError
        naming what is wrong; the returned Speech yields the audio. ``tracked``: the request's
        tracking (its start time is the Speech's, and it gets the Speech's outcome)."""
        speech = await self._speech(req, tracked.t0 if tracked else time.perf_counter())
        if tracked is not None:
            tracked.outcome = speech.outcome
        return speech

    async def _speech(self, req: SpeakRequest, started: float) -> Speech:
        self.admit()
        self.check_voice(req.voice)
        if len(req.text) > self.max_text_chars:
            raise ServiceError(413, "text_too_long", "the text has %d characters, the limit is %d; "
                               "split it into several requests" % (len(req.text), self.max_text_chars))
        try:
            options = SynthesisOptions(speed=req.speed, unknown=req.unknown, ssml=req.ssml,
                                       pitch=req.pitch, pitch_range=req.pitch_range,
                                       energy=req.energy, emotion=req.emotion)
            controls = self.voice.controls(options)
        except ValueError as exc:  # ControlError included: a control the voice lacks, or its range
            raise ServiceError(422, "bad_control", str(exc))
        loop = asyncio.get_running_loop()
        try:  # the front-end takes milliseconds per clause: off the loop
            utts = await loop.run_in_executor(None, self.voice.prepare, req.text, options)
        except SSMLError as exc:  # malformed SSML, or a value it may not take
            raise ServiceError(422, "invalid_ssml", str(exc))
        except FrontendError as exc:
            raise ServiceError(422, "unsayable_text", str(exc))
        seconds = self.voice.estimate_seconds(utts, options)
        if seconds > self.max_audio_s:  # before any synthesis: long breaks and slow rates count too
            raise ServiceError(413, "audio_too_long", "the text would speak for about %.0f s (pauses and "
                               "rate included); the limit is %.0f s (--max-audio-seconds): split it"
                               % (seconds, self.max_audio_s))
        key = phrase_key(self.voice_sha, self.voice.variant, utts, dict(
            {"speed": req.speed or 1.0},
            **({} if controls.neutral and controls.speed == 1.0 else {"controls": [
                controls.pitch, controls.pitch_range, controls.energy, controls.speed]})))
        pcm = None if req.marks else self.cache.get(key)  # timestamps come from synthesis
        if pcm is not None:
            self.metrics.cache_hits.inc()
            return Speech(self, key, started, pcm=pcm)
        self.metrics.cache_misses.inc()
        job = Job(utts, options, self.request_timeout_s, out=_LoopQueue(loop))
        try:
            self.scheduler.submit(job)
        except QueueFull as exc:
            raise ServiceError(503, "busy", "the service is busy (%s); retry shortly" % exc,
                               {"Retry-After": self.retry_after()})
        return Speech(self, key, started, job=job, bypass=req.marks)

    def track(self, endpoint: str, speech: bool = False) -> "Tracked":
        """One request of any adapter: counted in flight (and, for speech, waited for by a
        drain) until it ends; its status and outcome go to the request metrics."""
        return Tracked(self, endpoint, speech)

    async def drain(self, drain_s: float) -> None:
        """Refuse new work at once (503 draining; /readyz and /healthz say so) and wait up to
        ``drain_s`` for the speech requests in flight to finish."""
        self.draining = True
        deadline = time.monotonic() + drain_s
        while self.speaking and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
