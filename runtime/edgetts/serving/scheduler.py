"""The service's synthesis scheduler: a bounded queue of jobs and the thread that runs them.

It decides only what is decoded together and when; the voice's engine does the work (one
decode routine, ``Voice.decode_batch``, and one vocoding pipeline per request,
``Voice.pipeline``). Two modes:

- ``batching=False``: one job at a time through ``Voice.synthesize`` (the pipelined
  single-stream path: lowest latency for a lone request).
- ``batching=True``: clause-level batching. Each *wave* takes the next clause of up to
  ``max_batch`` waiting jobs and decodes them together as one ``decode_batch``; each job's
  events go to its own vocoding pipeline, which a reader thread per job drains into
  ``job.out``. A job with more clauses stays for the next wave; new jobs join at wave
  boundaries, so a new request waits for at most one clause. A job whose pipeline already holds
  as many clauses as it may (its client reads slowly) sits out waves until it has room, so one
  slow client never holds up the others. INT8 voices decode one clause per wave
  (``Voice.batch_invariant``): their frames would otherwise depend on the other requests.

A job's chunks (``AudioChunk``), then ``None`` (done) or an exception, arrive on ``job.out``.
Jobs past their deadline or cancelled by their client are dropped between steps.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Deque, List, Optional

from ..config import SynthesisOptions
from .limits import MAX_BATCH, MAX_QUEUE
from ..engine.events import ClauseStart
from ..engine.pipeline import ClausePipeline
from ..engine.voice import ClauseTask

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The job queue is at its bound; the client should retry later."""


class JobTimeout(Exception):
    pass


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
    """``max_queue``: jobs waiting at most (more are refused with ``QueueFull``);
    ``max_batch``: clauses decoded together in a wave."""

    # clauses of one job in hand at once in batching mode (being vocoded or not yet read): two
    # let the next clause be vocoded while the client reads one, and bound the threads per job
    JOB_WIDTH = 2

    def __init__(self, voice, max_queue: int = MAX_QUEUE, batching: bool = False, max_batch: int = MAX_BATCH):
        self.voice = voice
        self.batching = batching
        self.max_batch = max(1, max_batch) if voice.batch_invariant else 1
        self._q: "queue.Queue[Job]" = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._taking = threading.Lock()    # held while a job is taken from the queue
        self._room = threading.Event()     # a job's pipeline made room (batching mode)
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

    def pause(self) -> None:
        """Take no new jobs until ``resume()`` (jobs already taken go on); submitted ones wait."""
        self._running.clear()
        with self._taking:  # a take in progress ends before this returns
            pass

    def alive(self) -> bool:
        """Whether the scheduler's thread runs (it outlives every failed request)."""
        return self._thread.is_alive()

    def resume(self) -> None:
        self._running.set()

    def close(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=10)
        while True:  # anything still queued gets an answer, not silence
            try:
                self._q.get_nowait().fail(QueueFull("the service is shutting down"))
            except queue.Empty:
                break

    def _next(self, block: bool) -> Optional[Job]:
        while not self._stop.is_set():
            with self._taking:  # pause() waits for a take in progress
                try:
                    if not self._running.is_set():
                        raise queue.Empty
                    job = self._q.get(timeout=0.1) if block else self._q.get_nowait()
                except queue.Empty:
                    job = None
            if job is None:
                if not block:
                    return None
                self._running.wait(0.1)
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
        members: List[_Member] = []
        try:
            while not self._stop.is_set():
                if not members:
                    job = self._next(block=True)
                    if job is None:
                        continue
                    members.append(_Member(job, self.voice, self._room))
                while True:  # everything waiting joins (a wave takes max_batch of them)
                    job = self._next(block=False)
                    if job is None:
                        break
                    members.append(_Member(job, self.voice, self._room))
                self._room.clear()
                wave = [m for m in members if m.ready()][: self.max_batch]
                if wave:
                    self.batch_sizes.append(len(wave))
                    self.waves += 1
                    self.wave_clauses += len(wave)
                    self._wave(wave)
                else:
                    self._room.wait(0.05)  # every job's pipeline is full: wait for a reader
                for m in members:  # each leaves the list below, so is counted once
                    if not m.job.alive() or m.failed:
                        if m.job.cancelled.is_set() and m.clause < len(m.job.utterances):
                            self.stopped_jobs += 1
                        m.pipeline.close()
                members = [m for m in members if m.job.alive() and not m.failed
                           and m.clause < len(m.job.utterances)]
        finally:
            for m in members:
                m.pipeline.close()

    def _wave(self, wave: List["_Member"]) -> None:
        """The next clause of every member, decoded together."""
        tasks = [ClauseTask(m.clause, m.job.utterances[m.clause], m.job.options,
                            m.clause == len(m.job.utterances) - 1) for m in wave]

        def keep(row: int) -> bool:
            job = wave[row].job
            if job.alive() and job.expired():
                job.fail(JobTimeout("synthesis took longer than %.0f s" % job.timeout_s))
            return job.alive()

        self.voice.cores.acquire(urgent=True)  # the decoder computes: a core the vocoders share
        try:
            for row, event in self.voice.decode_batch(tasks, keep):
                m = wave[row]
                if isinstance(event, ClauseStart):
                    m.pipeline.start(event)  # never waits: the member had room
                else:
                    m.pipeline.put(event)
        except Exception as exc:  # one wave's failure never stops the scheduler
            log.exception("batched synthesis failed")
            for m in wave:
                m.pipeline.fail(exc)
                m.failed = True
        finally:
            self.voice.cores.release()
        for m in wave:
            m.clause += 1
            if m.clause == len(m.job.utterances) and not m.failed:
                m.pipeline.end()


class _Member:
    """A job in the batched scheduler: the next clause to decode, its vocoding pipeline, and
    the thread that hands the pipeline's chunks to the job."""

    def __init__(self, job: Job, voice, room: threading.Event):
        self.job = job
        self.clause = 0
        self.failed = False
        self._room = room
        self.pipeline: ClausePipeline = voice.pipeline(job.options, Scheduler.JOB_WIDTH)
        self._reader = threading.Thread(target=self._read, name="edgetts-job", daemon=True)
        self._reader.start()

    def ready(self) -> bool:
        """Whether its next clause can be decoded now."""
        return (self.job.alive() and not self.failed and self.clause < len(self.job.utterances)
                and self.pipeline.has_room())

    def _read(self) -> None:
        job = self.job
        try:
            for chunk in self.pipeline:
                self._room.set()
                if not job.alive():
                    break
                job.out.put(chunk)
            job.done()
        except Exception as exc:
            log.exception("vocoding failed")
            job.fail(exc)
        finally:
            self.pipeline.close()
            self._room.set()
