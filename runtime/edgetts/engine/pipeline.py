"""The vocoding pipeline: the decoder's events in, every clause vocoded in a thread of its own,
the audio chunks out in clause order. ``Voice.synthesize`` feeds it from a decoder thread of
its own; the service's batched scheduler feeds one per request from its decoding waves.

The vocoder is most of the CPU time of a request. The clauses of a text are vocoded
independently (each has its own stream, and its place in the audio is known from its durations
before any of it is vocoded), so while the caller streams clause k, the next ones are vocoded in
threads of their own and wait, whole or in part, until clause k is done. The first clause
streams as it is decoded, and the later ones start only once its first chunk is out, so the
first audio is not delayed by them.

    decoder ──events──► clause thread k   ──chunks──┐
               └──────► clause thread k+1 ──chunks──┴──► reader, clause by clause

At most ``width`` clauses are in hand at once (being vocoded, or vocoded and not yet read), so
memory stays bounded whatever the length of the text and however slowly the reader reads. The
threads never change what is computed: every event reaches its clause's vocoder as the decoder
made it, and each vocoder sizes its calls from frame counts alone, so the audio is the same
whatever the timing. Errors in any thread reach the reader; closing stops every thread.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Dict, Generator, Iterable, Iterator, List, NamedTuple, Optional, Union

from .events import ClauseEnd, ClauseStart, Event


class _Done(NamedTuple):
    """No more items (of a clause, or of the request)."""


class _Failed(NamedTuple):
    """The stage that made the items failed; the reader raises ``error``."""

    error: BaseException


# one decoder event (the clause's Frames and its ClauseEnd) → the chunks now ready
# (``ClauseAudio.event`` of a fresh per-clause object)
ClauseVocoder = Callable[[Event], List[Any]]

_POLL_S = 0.05  # how often blocked threads look whether the pipeline was closed


class Cores:
    """At most `n` threads compute at once (a voice's decoders and vocoder calls share one).
    Urgent work waiting for a core (a decoder, or a request's calls before its first audio) gets
    the next free one before any other: under load a new request's first chunk does not queue
    behind the rest of other requests' audio."""

    def __init__(self, n: int):
        self._free = max(1, n)
        self._urgent_waiting = 0
        self._cv = threading.Condition()

    def acquire(self, urgent: bool = False) -> None:
        with self._cv:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._free == 0 or (not urgent and self._urgent_waiting):
                    self._cv.wait()
                self._free -= 1
            finally:
                if urgent:
                    self._urgent_waiting -= 1

    def release(self) -> None:
        with self._cv:
            self._free += 1
            self._cv.notify_all()

    def __enter__(self) -> "Cores":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _until_done(q: "queue.Queue", stop: threading.Event) -> Iterator[Any]:
    """The items of `q` as they come, until a ``_Done`` (a ``_Failed`` raises its error); ends
    early once `stop` is set and nothing is waiting."""
    while True:
        try:
            item = q.get(timeout=_POLL_S)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if isinstance(item, _Done):
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item


class _Clause:
    """One clause's events in, its chunks out, vocoded in a thread of its own."""

    def __init__(self, start: ClauseStart, vocoder: ClauseVocoder, stop: threading.Event,
                 first_audio: threading.Event, cores: Cores):
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
        self.events.put(item)

    def _next(self) -> "Optional[Union[Event, _Failed]]":
        """The next event (None once the pipeline is closed)."""
        while not self._stop.is_set():
            try:
                return self.events.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return None

    def _run(self, start: ClauseStart) -> None:
        try:
            # Later clauses wait until the request's first chunk is out: the cores are the first
            # chunk's until then (its latency is what a listener waits for).
            while start.clause > 0 and not self._first_audio.wait(_POLL_S):
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
        except BaseException as exc:  # handed to the reader, raised there
            self.chunks.put(_Failed(exc))

    def _vocode(self, event: Event) -> List[Any]:
        # no more threads computing than cores (see ClausePipeline); the request's first audio first
        self._cores.acquire(urgent=not self._first_audio.is_set())
        try:
            return self._vocoder(event)
        finally:
            self._cores.release()

    def read(self, stop: threading.Event) -> Iterator[Any]:
        """The clause's chunks as they come, until its end (raises what its thread raised)."""
        return _until_done(self.chunks, stop)

    def join(self) -> None:
        self._thread.join(timeout=5)


class ClausePipeline:
    """Clauses vocoded at once, their chunks read in order.

    The decoder side calls ``start`` (a ``ClauseStart``: a fresh vocoder from
    ``clause_vocoder(start)`` and a thread for it), ``put`` (that clause's ``Frames`` and its
    ``ClauseEnd``, interleaved with other clauses' as a batched decoder makes them), then ``end``
    or ``fail``; ``feed(events)`` does all of that from a decoder thread of its own. The reader
    iterates the pipeline.

    ``cores`` (``Cores``, shared by every pipeline of a voice): at most that many threads compute
    at once. A decoder holds one while it decodes and each vocoder call takes one. More runnable
    threads than cores would only time-slice them, each evicting the others' weights and
    activations from the caches; this way the decoder, which feeds everything, never waits for a
    core behind vocoder calls, and the vocoders fill the rest.
    """

    def __init__(self, clause_vocoder: Callable[[ClauseStart], ClauseVocoder], width: int = 2,
                 cores: Optional[Cores] = None):
        if width < 1:
            raise ValueError("width must be at least 1, got %r" % (width,))
        self._make = clause_vocoder
        self._cores = cores or Cores(os.cpu_count() or 1)
        self._width = width
        self._in_hand = 0                 # clauses started and not yet read to their end
        self._room = threading.Condition()
        self._clauses: "queue.Queue[Union[_Clause, _Done, _Failed]]" = queue.Queue()
        self._open: Dict[int, _Clause] = {}  # started, not yet ended (a batch interleaves)
        self._stop = threading.Event()
        self._first_audio = threading.Event()  # set once the first clause has returned a chunk
        self._started: List[_Clause] = []
        self._feeder: Optional[threading.Thread] = None

    # -- the decoder side ------------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether ``start`` would not wait now (fewer than ``width`` clauses in hand)."""
        with self._room:
            return self._in_hand < self._width

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def start(self, event: ClauseStart, holding_core: bool = False) -> bool:
        """Open a clause; waits while ``width`` clauses are in hand (a caller `holding_core`
        gives its core back meanwhile). False if the pipeline was closed instead."""
        if holding_core and not self.has_room():
            self._cores.release()
            try:
                self._wait_for_room()
            finally:
                self._cores.acquire(urgent=True)
        else:
            self._wait_for_room()
        with self._room:  # one thread starts clauses: the room seen above is still there
            if self._stop.is_set():
                return False
            self._in_hand += 1
        clause = self._open[event.clause] = _Clause(event, self._make(event), self._stop,
                                                     self._first_audio, self._cores)
        self._started.append(clause)
        self._clauses.put(clause)
        return True

    def _wait_for_room(self) -> None:
        with self._room:
            while self._in_hand >= self._width and not self._stop.is_set():
                self._room.wait(_POLL_S)

    def put(self, event: Event) -> None:
        """A started clause's ``Frames`` or ``ClauseEnd``."""
        target = self._open.get(event.clause)
        if target is None:
            raise RuntimeError("%s of clause %d, which has not started or has ended"
                               % (type(event).__name__, event.clause))
        target.put(event)
        if isinstance(event, ClauseEnd):
            del self._open[event.clause]

    def end(self) -> None:
        """No more clauses."""
        self._clauses.put(_Done())

    def fail(self, exc: BaseException) -> None:
        """The decoder failed: the reader gets `exc` where it would have read what is missing."""
        for clause in self._open.values():
            clause.put(_Failed(exc))
        self._open.clear()
        self._clauses.put(_Failed(exc))

    def feed(self, events: Iterable[Event]) -> "ClausePipeline":
        """Run `events` (a request's decoder stage) in a decoder thread that feeds the pipeline."""
        self._feeder = threading.Thread(target=self._decode, args=(events,), name="edgetts-decoder",
                                        daemon=True)
        self._feeder.start()
        return self

    def _decode(self, events: Iterable[Event]) -> None:
        self._cores.acquire(urgent=True)  # the decoder computes between events (the generator's next())
        try:
            for event in events:
                if self._stop.is_set():
                    return
                if isinstance(event, ClauseStart):
                    if not self.start(event, holding_core=True):
                        return
                else:
                    self.put(event)
            self.end()
        except BaseException as exc:  # handed to the reader through the clauses being made
            self.fail(exc)
        finally:
            self._cores.release()
            close = getattr(events, "close", None)
            if close:
                close()

    # -- the reader side -------------------------------------------------------------------------

    def __iter__(self) -> Generator[Any, None, None]:
        try:
            for clause in _until_done(self._clauses, self._stop):
                try:
                    yield from clause.read(self._stop)
                finally:
                    with self._room:
                        self._in_hand -= 1
                        self._room.notify_all()
        finally:
            self.close()

    def chunks(self) -> "Chunks":
        """The reader's iterator, whose ``close()`` stops every thread even before the first
        chunk was asked for (a generator's own close does nothing until it has started)."""
        return Chunks(self)

    def close(self) -> None:
        """Stop every thread (the reader's iteration ends)."""
        self._stop.set()
        if self._feeder is not None and self._feeder is not threading.current_thread():
            self._feeder.join(timeout=5)
        for clause in self._started:
            clause.join()


class Chunks:
    """A pipeline's chunks in order; ``close()`` (or leaving a ``with`` block) stops its threads."""

    def __init__(self, pipeline: ClausePipeline):
        self._pipeline = pipeline
        self._it = iter(pipeline)

    def __iter__(self) -> "Chunks":
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def close(self) -> None:
        self._it.close()
        self._pipeline.close()

    def __enter__(self) -> "Chunks":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
