"""Vocode several clauses of one request at once, and hand their audio out in order.

The vocoder is most of the CPU time of a request and runs on one thread at a time (its
convolutions are too short for ONNX Runtime's thread pool to split well beside a decoder
thread). The clauses of a text are vocoded independently (each has its own stream, and its place
in the audio is known from its durations before any of it is vocoded), so while the caller
streams clause k, the next ones are vocoded in threads of their own and wait, whole or in part,
until clause k is done. The first clause streams as before, and the later ones start only once
its first chunk is out, so the first audio is not delayed by them; the cores an application
would leave idle vocode what comes after it.

    decoder thread ──events──► clause thread k   ──chunks──┐
                       └─────► clause thread k+1 ──chunks──┴──► caller, clause by clause

At most ``width`` clauses are in hand at once (being vocoded, or vocoded and not yet read), so
memory stays bounded by ``width`` clauses whatever the length of the text and however slowly the
caller reads. Errors in any thread reach the caller; closing the iterator stops every thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Union

from .events import ClauseEnd, ClauseStart, Event, Frames, merge


class _Done(NamedTuple):
    pass


class _Failed(NamedTuple):
    error: BaseException


# ClauseAudio-like: one decoder event → the chunks now ready (voice.ClauseAudio.event)
ClauseVocoder = Callable[[Event], List[Any]]


class _Clause:
    """One clause's events in, its chunks out, vocoded in a thread of its own."""

    def __init__(self, start: ClauseStart, vocoder: ClauseVocoder, stop: threading.Event,
                 first_audio: threading.Event, cores: threading.Semaphore):
        # unbounded: a clause's events are a few hundred small arrays, and the slots bound how
        # many clauses there are
        self.events: "queue.Queue[Union[Event, _Failed]]" = queue.Queue()
        self.chunks: "queue.Queue[Any]" = queue.Queue()  # bounded by one clause's audio
        self._stop = stop
        self._first_audio = first_audio
        self._cores = cores
        self._vocoder = vocoder
        self._thread = threading.Thread(target=self._run, args=(start,), name="edgetts-clause-%d"
                                        % start.clause, daemon=True)
        self._thread.start()

    def put(self, item: "Union[Event, _Failed]") -> None:
        """Hand the clause thread an event."""
        self.events.put(item)

    def _next(self) -> "Optional[Union[Event, _Failed]]":
        """The next event (None once the request is closed)."""
        if self._held is not None:
            item, self._held = self._held, None
            return item
        while not self._stop.is_set():
            try:
                item = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            # frames already waiting are pushed as one (fewer, longer vocoder calls), and with the
            # clause's end if that is waiting too (no separate flush call)
            while isinstance(item, Frames):
                try:
                    nxt = self.events.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, ClauseEnd) and nxt.frames is None:
                    return nxt._replace(frames=item.frames)
                if not isinstance(nxt, Frames):
                    self._held = nxt
                    break
                item = merge(item, nxt)
            return item
        return None

    _held: "Optional[Union[Event, _Failed]]" = None

    def _run(self, start: ClauseStart) -> None:
        try:
            for chunk in self._vocode(start):
                self.chunks.put(chunk)
            # Later clauses wait until the request's first chunk is out: the cores are the first
            # chunk's until then (its latency is what a listener waits for).
            while start.clause > 0 and not self._first_audio.wait(0.05):
                if self._stop.is_set():
                    return
            while True:
                item = self._next()
                if item is None:          # closed
                    return
                if isinstance(item, _Failed):
                    self.chunks.put(item)
                    return
                for chunk in self._vocode(item):
                    self.chunks.put(chunk)
                    self._first_audio.set()
                if isinstance(item, ClauseEnd):
                    self._first_audio.set()
                    self.chunks.put(_Done())
                    return
        except BaseException as exc:  # handed to the caller, raised there
            self.chunks.put(_Failed(exc))

    def _vocode(self, event: Event) -> List[Any]:
        with self._cores:  # no more threads computing than cores (see ParallelClauses)
            return self._vocoder(event)

    def read(self, stop: threading.Event) -> Iterator[Any]:
        """The clause's chunks as they come, until its end (raises what its thread raised)."""
        while True:
            try:
                item = self.chunks.get(timeout=0.05)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def join(self) -> None:
        self._thread.join(timeout=5)


class ParallelClauses:
    """Run `events` (a request's decoder stage) in a thread, vocode each clause in a thread made
    by ``clause_vocoder(start)`` (a fresh per-clause ``ClauseAudio``'s ``event``), at most
    `width` clauses in hand at once, and yield the chunks in clause order.

    At most `cores` threads compute at once (default: the machine's cores): the decoder thread
    holds one while it decodes, and each vocoder call takes one. More runnable threads than
    cores would only time-slice them, each evicting the others' weights and activations from
    the caches (measured: the same work took 20 % more CPU time); this way the decoder, which
    feeds everything, never waits for a core, and the vocoders fill the rest.
    """

    def __init__(self, events: Iterable[Event], clause_vocoder: Callable[[ClauseStart], ClauseVocoder],
                 width: int = 2, cores: Optional[int] = None):
        import os

        if width < 1:
            raise ValueError("width must be at least 1, got %r" % (width,))
        self._events = events
        self._make = clause_vocoder
        self._cores = threading.Semaphore(max(1, cores or os.cpu_count() or 1))
        self._slots = threading.Semaphore(width)  # released as the caller finishes a clause
        self._clauses: "queue.Queue[Union[_Clause, _Done, _Failed]]" = queue.Queue()
        self._stop = threading.Event()
        self._first_audio = threading.Event()  # set once the first clause has returned a chunk
        self._started: List[_Clause] = []
        self._thread = threading.Thread(target=self._decode, name="edgetts-decoder", daemon=True)
        self._thread.start()

    def _decode(self) -> None:
        open_: Dict[int, _Clause] = {}  # clauses started and not yet ended (a batch interleaves)
        self._cores.acquire()  # the decoder computes between events (the generator's next())
        try:
            for event in self._events:
                if isinstance(event, ClauseStart):
                    if not self._slots.acquire(blocking=False):
                        self._cores.release()  # waiting for the caller: a core for the vocoders
                        try:
                            while not self._slots.acquire(timeout=0.05):
                                if self._stop.is_set():
                                    return
                        finally:
                            self._cores.acquire()
                    clause = open_[event.clause] = _Clause(event, self._make(event), self._stop,
                                                             self._first_audio, self._cores)
                    self._started.append(clause)
                    self._clauses.put(clause)
                    continue
                if self._stop.is_set():
                    return
                target = open_.get(event.clause)
                if target is None:
                    raise RuntimeError("%s of clause %d, which has not started or has ended"
                                       % (type(event).__name__, event.clause))
                target.put(event)
                if isinstance(event, ClauseEnd):
                    del open_[event.clause]
            self._clauses.put(_Done())
        except BaseException as exc:  # handed to the caller through the clauses being made
            for clause in open_.values():
                clause.put(_Failed(exc))
            self._clauses.put(_Failed(exc))
        finally:
            self._cores.release()
            close = getattr(self._events, "close", None)
            if close:
                close()

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                item = self._clauses.get()
                if isinstance(item, _Done):
                    return
                if isinstance(item, _Failed):
                    raise item.error
                try:
                    yield from item.read(self._stop)
                finally:
                    self._slots.release()
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for clause in self._started:
            clause.join()
