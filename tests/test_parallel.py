"""edgetts.parallel: clauses vocoded at once come out in order, bounded, with errors and early
closes handled. Mechanics with plain Python clause vocoders (the real voice's audio through this
path is checked against sequential synthesis in test_runtime and test_stream_vocoder)."""

import threading
import time

import numpy as np
import pytest

from edgetts.events import ClauseEnd, ClauseStart, Frames
from edgetts.parallel import ParallelClauses


def _events(clauses, frames_per_clause=5, fail_at=None):
    for k in range(clauses):
        yield ClauseStart(k, None, np.zeros(frames_per_clause, np.int64))
        for f in range(frames_per_clause):
            if fail_at == (k, f):
                raise RuntimeError("decoder broke in clause %d" % k)
            yield Frames(k, np.full((1, 2), 10 * k + f, np.float32))
        yield ClauseEnd(k, k == clauses - 1)


class Recorder:
    """A clause vocoder per clause: returns (clause, frame values) per Frames event, and notes
    how many clauses are being vocoded at once."""

    def __init__(self, delay=0.0, fail_clause=None):
        self.delay = delay
        self.fail_clause = fail_clause
        self.live = 0
        self.most_live = 0
        self.lock = threading.Lock()

    def __call__(self, start):
        k = start.clause
        with self.lock:
            self.live += 1
            self.most_live = max(self.most_live, self.live)

        def event(ev):
            time.sleep(self.delay)
            out = []
            if getattr(ev, "frames", None) is not None:  # Frames, or a ClauseEnd carrying the last ones
                if k == self.fail_clause:
                    raise ValueError("vocoder broke in clause %d" % k)
                out = [(k, float(v)) for v in ev.frames[:, 0]]
            if isinstance(ev, ClauseEnd):
                with self.lock:
                    self.live -= 1
                out.append((k, "end"))
            return out

        return event


def _expected(clauses, frames):
    """What the Recorder returns for every clause, in order."""
    out = []
    for k in range(clauses):
        out += [(k, float(10 * k + f)) for f in range(frames)] + [(k, "end")]
    return out


def _clause_threads():
    return [t for t in threading.enumerate() if t.name.startswith("edgetts-clause")]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_chunks_come_out_in_clause_order(width):
    got = list(ParallelClauses(_events(6), Recorder(delay=0.001), width=width))
    assert got == _expected(6, 5)


def test_clauses_are_vocoded_at_once_and_at_most_width_in_hand():
    """A slow reader: clauses ahead of it are vocoded (more than one at a time), but never more
    than `width` clauses are in hand, so memory stays bounded."""
    rec = Recorder(delay=0.002)
    it = iter(ParallelClauses(_events(8), rec, width=2))
    seen = []
    for item in it:
        seen.append(item)
        time.sleep(0.003)
        assert len(_clause_threads()) <= 2
    assert rec.most_live == 2
    assert len(seen) == 8 * 6


def test_a_clause_error_reaches_the_reader_and_stops_the_threads():
    it = ParallelClauses(_events(5), Recorder(fail_clause=2), width=2)
    with pytest.raises(ValueError, match="vocoder broke in clause 2"):
        list(it)
    time.sleep(0.2)
    assert not _clause_threads()


def test_a_decoder_error_mid_clause_reaches_the_reader():
    got = []
    with pytest.raises(RuntimeError, match="decoder broke in clause 1"):
        for item in ParallelClauses(_events(4, fail_at=(1, 3)), Recorder(), width=2):
            got.append(item)
    assert got[:6] == [(0, float(f)) for f in range(5)] + [(0, "end")]


def test_closing_early_stops_every_thread():
    it = iter(ParallelClauses(_events(50, frames_per_clause=20), Recorder(delay=0.001), width=2))
    next(it)
    it.close()
    time.sleep(0.2)
    assert not _clause_threads()
    assert not [t for t in threading.enumerate() if t.name == "edgetts-decoder"]


def test_width_must_be_positive():
    with pytest.raises(ValueError, match="width must be at least 1"):
        ParallelClauses(_events(1), Recorder(), width=0)


def _interleaved(pairs, frames=4):
    """Clauses decoded two at a time, as Voice.decode(group=2) interleaves them."""
    k = 0
    for _ in range(pairs):
        yield ClauseStart(k, None, np.zeros(frames, np.int64))
        yield ClauseStart(k + 1, None, np.zeros(frames, np.int64))
        for f in range(frames):
            yield Frames(k, np.full((1, 2), 10 * k + f, np.float32))
            yield Frames(k + 1, np.full((1, 2), 10 * (k + 1) + f, np.float32))
        yield ClauseEnd(k, False)
        yield ClauseEnd(k + 1, k + 2 == 2 * pairs)
        k += 2


@pytest.mark.parametrize("width", [2, 4])
def test_interleaved_clauses_are_routed_by_their_index(width):
    got = list(ParallelClauses(_interleaved(3), Recorder(delay=0.001), width=width))
    assert got == _expected(6, 4)


def test_frames_waiting_with_the_end_reach_the_clause_as_one_event():
    """A clause thread that finds its last frames and its end queued together gets one
    ClauseEnd carrying the frames (one vocoder call instead of a push and a flush)."""
    seen = []

    def make(start):
        def event(ev):
            seen.append(ev)
            return [len(ev.frames) if getattr(ev, "frames", None) is not None else 0]
        return event

    def events():
        yield ClauseStart(0, None, np.zeros(6, np.int64))
        for _f in range(6):
            yield Frames(0, np.zeros((1, 2), np.float32))
        yield ClauseEnd(0, True)

    pc = ParallelClauses(events(), make, width=1)
    time.sleep(0.1)  # let the decoder thread queue every event before the clause thread reads
    out = list(pc)
    assert sum(out) == 6
    ends = [e for e in seen if isinstance(e, ClauseEnd)]
    assert len(ends) == 1 and ends[0].last


def test_an_event_of_a_clause_not_started_is_an_error():
    def events():
        yield ClauseStart(0, None, np.zeros(1, np.int64))
        yield ClauseEnd(0, False)
        yield Frames(0, np.zeros((1, 2), np.float32))  # after its end

    with pytest.raises(RuntimeError, match="Frames of clause 0, which has not started or has ended"):
        list(ParallelClauses(events(), Recorder(), width=2))
