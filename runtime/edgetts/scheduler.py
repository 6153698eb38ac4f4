"""The service's synthesis scheduler: a bounded queue of jobs and the thread that runs them.

Two modes:

- ``batching=False``: one job at a time through ``Voice.synthesize`` (the pipelined
  single-stream path: lowest latency for a lone request).
- ``batching=True``: clause-level batching. Each *wave* takes the next clause of up to
  ``max_batch`` waiting jobs, runs the text encoder per clause, and decodes all of them in
  lock-step through the decoder step with a batch dimension (``StepDecoder.batch_frames``:
  shorter clauses are padded at their end and their padded steps dropped). The frames go to a
  vocoder thread that streams each job's audio on its own. A job with more clauses stays for the
  next wave; new jobs join at wave boundaries, so a new request waits for at most one clause.

A job's chunks (``AudioChunk``), then ``None`` (done) or an exception, arrive on ``job.out``.
Jobs past their deadline or cancelled by their client are dropped between steps.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .config import SynthesisOptions
from .events import ClauseEnd, ClauseStart, Event, Frames, merge
from .voice import ClauseAudio

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The job queue is at its bound; the client should retry later."""


class JobTimeout(Exception):
    pass


class _Work(NamedTuple):
    """A decoder event of one member, on its way to the vocoder thread."""

    member: "_Member"
    event: Event


class _Fail(NamedTuple):
    """A wave failed: its members get the error."""

    member: "_Member"
    error: BaseException


class Job:
    def __init__(self, utterances, options: Optional[SynthesisOptions], timeout_s: float, out=None):
        self.utterances = list(utterances)
        self.options = options or SynthesisOptions()
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s
        # anything with put(item) that may be called from the scheduler's threads
        self.out = out if out is not None else queue.Queue()
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self._lock = threading.Lock()  # done/fail come from the scheduler and vocoder threads

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def alive(self) -> bool:
        return not (self.cancelled.is_set() or self.finished.is_set())

    def fail(self, exc: BaseException) -> None:
        self._finish(exc)

    def done(self) -> None:
        self._finish(None)

    def _finish(self, last: Optional[BaseException]) -> None:
        """Exactly one of done()/fail() puts its end marker, whichever thread comes first."""
        with self._lock:
            if self.finished.is_set():
                return
            self.finished.set()
        self.out.put(last)


class Scheduler:
    def __init__(self, voice, max_queue: int = 16, batching: bool = False, max_batch: int = 8,
                 batch_wait_s: float = 0.0):
        self.voice = voice
        self.batching = batching
        self.max_batch = max(1, max_batch)
        self.batch_wait_s = batch_wait_s
        self._q: "queue.Queue[Job]" = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self.batch_sizes: Deque[int] = deque(maxlen=4096)  # sizes of the latest waves
        self.waves = 0           # waves run since start (batching mode)
        self.wave_clauses = 0    # clauses decoded in them
        self.stopped_jobs = 0    # jobs dropped with work left because their client went away
        self._thread = threading.Thread(target=self._run_batched if batching else self._run_single,
                                        name="edgetts-scheduler", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        if self._stop.is_set():
            raise QueueFull("the service is shutting down")
        try:
            self._q.put_nowait(job)
        except queue.Full:
            raise QueueFull("%d requests are already waiting" % self._q.maxsize) from None

    def queue_length(self) -> int:
        return self._q.qsize()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        while True:  # anything still queued gets an answer, not silence
            try:
                self._q.get_nowait().fail(QueueFull("the service is shutting down"))
            except queue.Empty:
                break

    def _next(self, block: bool) -> Optional[Job]:
        while not self._stop.is_set():
            try:
                job = self._q.get(timeout=0.1) if block else self._q.get_nowait()
            except queue.Empty:
                if not block:
                    return None
                continue
            if job.expired():
                job.fail(JobTimeout("timed out after %.0f s in the queue" % job.timeout_s))
                continue
            if job.alive():
                return job
            if job.cancelled.is_set():
                self.stopped_jobs += 1  # gone before it started
        return None

    # -- one job at a time -----------------------------------------------------------------------

    def _run_single(self) -> None:
        while not self._stop.is_set():
            job = self._next(block=True)
            if job is None:
                continue
            stream = None
            try:
                stream = self.voice.synthesize(job.utterances, job.options)
                for chunk in stream:
                    if job.cancelled.is_set():
                        self.stopped_jobs += 1
                        break
                    if job.expired():
                        raise JobTimeout("synthesis took longer than %.0f s" % job.timeout_s)
                    job.out.put(chunk)
                job.done()
            except Exception as exc:  # one request's failure never stops the scheduler
                if not isinstance(exc, JobTimeout):
                    log.exception("synthesis failed")
                job.fail(exc)
            finally:
                if stream is not None:
                    stream.close()

    # -- clause-level batching -------------------------------------------------------------------

    def _run_batched(self) -> None:
        voc_q: "queue.Queue[Union[_Work, _Fail, None]]" = queue.Queue(maxsize=256)
        vocoder = threading.Thread(target=self._vocode_loop, args=(voc_q,), name="edgetts-vocoder",
                                   daemon=True)
        vocoder.start()
        members: List[_Member] = []
        try:
            while not self._stop.is_set():
                if not members:
                    job = self._next(block=True)
                    if job is None:
                        continue
                    members.append(_Member(job, self.voice))
                    time.sleep(self.batch_wait_s)  # let simultaneous requests arrive together
                while len(members) < self.max_batch:
                    job = self._next(block=False)
                    if job is None:
                        break
                    members.append(_Member(job, self.voice))
                wave = [m for m in members if m.job.alive()][: self.max_batch]
                if wave:
                    self.batch_sizes.append(len(wave))
                    self.waves += 1
                    self.wave_clauses += len(wave)
                    try:
                        self._wave(wave, voc_q)
                    except Exception as exc:
                        log.exception("batched synthesis failed")
                        for m in wave:
                            voc_q.put(_Fail(m, exc))
                        for m in wave:
                            m.clause = len(m.job.utterances)
                # a member leaves after its last clause (its vocoder sends `done`), or when gone
                self.stopped_jobs += sum(1 for m in members if m.job.cancelled.is_set()
                                         and not m.job.finished.is_set() and m.clause < len(m.job.utterances))
                members = [m for m in members if m.job.alive() and m.clause < len(m.job.utterances)]
        finally:
            voc_q.put(None)
            vocoder.join(timeout=10)

    def _wave(self, wave: List["_Member"], voc_q) -> None:
        v = self.voice
        ctxs, progs, syms = [], [], []
        for m in wave:
            utt = m.job.utterances[m.clause]
            ctx, prog, sym = v.encode(utt, m.job.options)
            ctxs.append(ctx)
            progs.append(prog)
            syms.append(sym)
            voc_q.put(_Work(m, ClauseStart(m.clause, utt, sym)))
        n = max(len(x) for x in ctxs)
        ctx_b = np.zeros((len(wave), n) + ctxs[0].shape[1:], np.float32)
        prog_b = np.zeros((len(wave), n) + progs[0].shape[1:], np.float32)
        for i, (cx, pg) in enumerate(zip(ctxs, progs)):
            ctx_b[i, : len(cx)] = cx
            prog_b[i, : len(pg)] = pg
        pushed = [0] * len(wave)
        for step, frames in enumerate(v.decoder.batch_frames(ctx_b, prog_b)):
            for i, m in enumerate(wave):
                if step >= len(ctxs[i]) or not m.job.alive():
                    continue
                if m.job.expired():
                    m.job.fail(JobTimeout("synthesis took longer than %.0f s" % m.job.timeout_s))
                    continue
                take = frames[i][: max(0, len(syms[i]) - pushed[i])]
                pushed[i] += len(take)
                if len(take):
                    voc_q.put(_Work(m, Frames(m.clause, take)))
            if not any(m.job.alive() for m in wave):
                break
        for m in wave:
            last = m.clause == len(m.job.utterances) - 1
            voc_q.put(_Work(m, ClauseEnd(m.clause, last)))
            m.clause += 1

    def _vocode_loop(self, voc_q: "queue.Queue[Union[_Work, _Fail, None]]") -> None:
        while True:
            items = [voc_q.get()]
            while True:  # take what else is waiting, so one member's steps become one push
                try:
                    items.append(voc_q.get_nowait())
                except queue.Empty:
                    break
            per_member: Dict[int, Tuple[_Member, List[Union[Event, BaseException]]]] = {}
            for item in items:
                if item is None:
                    break
                events = per_member.setdefault(id(item.member), (item.member, []))[1]
                if isinstance(item, _Fail):
                    events.append(item.error)
                    continue
                ev = item.event
                last = events[-1] if events else None
                if isinstance(ev, Frames) and isinstance(last, Frames) and last.clause == ev.clause:
                    events[-1] = merge(last, ev)
                else:
                    events.append(ev)
            for m, events in per_member.values():
                for event in events:
                    self._vocode_event(m, event)
            if None in items:
                return

    def _vocode_event(self, m: "_Member", event: Union[Event, BaseException]) -> None:
        job = m.job
        if not job.alive():
            return
        try:
            if isinstance(event, BaseException):
                job.fail(event)
                return
            for chunk in m.audio.event(event):
                job.out.put(chunk)
            if isinstance(event, ClauseEnd) and event.last:
                job.done()
        except Exception as exc:
            log.exception("vocoding failed")
            job.fail(exc)


class _Member:
    """A job in the batched scheduler: the next clause to decode and its audio state."""

    def __init__(self, job: Job, voice):
        self.job = job
        self.clause = 0
        self.audio = ClauseAudio(voice, job.options)
