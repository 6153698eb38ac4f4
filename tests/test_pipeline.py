"""edgetts.engine.pipeline: clauses vocoded at once come out in order, bounded, with errors and early
closes handled, every event reaching its clause as the decoder made it. Mechanics with plain
Python clause vocoders (the real voice's audio through this path is checked against decoding and
vocoding in turn in test_determinism). No test here depends on timing: where one must see the
pipeline blocked, it waits (with a deadline) for the state it needs."""

import threading
import time

import numpy as np
import pytest

from edgetts.engine.events import ClauseEnd, ClauseStart, Frames
from edgetts.engine.pipeline import ClausePipeline


def _events(clauses, frames_per_clause=5, fail_at=None):
    for k in range(clauses):
        yield ClauseStart(k, None, np.zeros(frames_per_clause, np.int64))
        for f in range(frames_per_clause):
            if fail_at == (k, f):
                raise RuntimeError("decoder broke in clause %d" % k)
            yield Frames(k, np.full((1, 2), 10 * k + f, np.float32))
        yield ClauseEnd(k, k == clauses - 1)


class Recorder:
    """A clause vocoder per clause: returns (clause, frame values) per Frames event, notes how
    many clauses are being vocoded at once and every event it was given."""

    def __init__(self, fail_clause=None):
        self.fail_clause = fail_clause
        self.live = 0
        self.most_live = 0
        self.lock = threading.Lock()
        self.seen = []

    def __call__(self, start):
        k = start.clause
        with self.lock:
            self.live += 1
            self.most_live = max(self.most_live, self.live)

        def event(ev):
            self.seen.append(ev)
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


def _run(events, vocoder, width):
    return ClausePipeline(vocoder, width=width).feed(events)


def _until(condition, what, timeout=10.0):
    """Wait for `condition()` (a state of other threads); fail after `timeout` s, naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.001)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_chunks_come_out_in_clause_order(width):
    got = list(_run(_events(6), Recorder(), width))
    assert got == _expected(6, 5)


def test_at_most_width_clauses_are_in_hand():
    """A reader that stops after its first chunk: the decoder opens `width` clauses and then
    waits at the next clause's start, so memory stays bounded; reading on finishes the rest."""
    progress = []

    def events():
        for ev in _events(6):
            if isinstance(ev, ClauseStart):
                progress.append(ev.clause)
            yield ev

    rec = Recorder()
    pc = _run(events(), rec, 2)
    it = iter(pc)
    first = next(it)
    _until(lambda: progress[-1:] == [2], "the decoder to reach clause 2")
    _until(lambda: len(rec.seen) == 12, "both clauses in hand to be vocoded")  # 5 Frames + end each
    assert not pc.has_room() and len(_clause_threads()) <= 2
    assert {ev.clause for ev in rec.seen} == {0, 1}  # clause 2 waits for room
    rest = list(it)
    assert [first] + rest == _expected(6, 5)
    assert rec.most_live == 2


def test_events_reach_their_clause_as_the_decoder_made_them():
    """However far the decoder runs ahead, every clause's vocoder gets its events one by one,
    never merged (vocoder calls then depend on frame counts only, not on timing)."""
    made = list(_interleaved(2))
    rec = Recorder()
    pc = _run(iter(made), rec, 4)
    _until(lambda: len(rec.seen) == len(made) - 4, "every clause's events")  # all but the starts
    list(pc)
    for k in range(4):
        mine = [e for e in made if e.clause == k and not isinstance(e, ClauseStart)]
        assert [e for e in rec.seen if e.clause == k] == mine


def test_a_clause_error_reaches_the_reader_and_stops_the_threads():
    pc = _run(_events(5), Recorder(fail_clause=2), 2)
    with pytest.raises(ValueError, match="vocoder broke in clause 2"):
        list(pc)
    assert not [t for t in _clause_threads() if t.is_alive()]  # closing joined them


def test_a_decoder_error_mid_clause_reaches_the_reader():
    got = []
    with pytest.raises(RuntimeError, match="decoder broke in clause 1"):
        for item in _run(_events(4, fail_at=(1, 3)), Recorder(), 2):
            got.append(item)
    assert got[:6] == [(0, float(f)) for f in range(5)] + [(0, "end")]


def test_closing_early_stops_every_thread():
    it = iter(_run(_events(50, frames_per_clause=20), Recorder(), 2))
    next(it)
    it.close()
    assert not _clause_threads()
    assert not [t for t in threading.enumerate() if t.name == "edgetts-decoder"]


def test_width_must_be_positive():
    with pytest.raises(ValueError, match="width must be at least 1"):
        ClausePipeline(Recorder(), width=0)


def _interleaved(pairs, frames=4):
    """Clauses decoded two at a time, as Voice.decode interleaves a group of two."""
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
    got = list(_run(_interleaved(3), Recorder(), width))
    assert got == _expected(6, 4)


def test_an_event_of_a_clause_not_started_is_an_error():
    def events():
        yield ClauseStart(0, None, np.zeros(1, np.int64))
        yield ClauseEnd(0, False)
        yield Frames(0, np.zeros((1, 2), np.float32))  # after its end

    with pytest.raises(RuntimeError, match="Frames of clause 0, which has not started or has ended"):
        list(_run(events(), Recorder(), 2))
