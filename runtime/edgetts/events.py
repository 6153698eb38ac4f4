"""The events that pass from the decoder stage to the vocoder stage, one clause at a time.

    ClauseStart(clause, utterance, symbols)   the clause's utterance and the symbol of every frame
    Frames(clause, frames)                    mel frames ``[n, mel_bins]`` as the decoder makes them
    ClauseEnd(clause, last[, frames])         no more frames (but these); ``last``: the request's last clause

``Voice.synthesize`` produces them in its decoder thread and the service's batched scheduler in
its decoding waves; ``voice.ClauseAudio`` turns them into ``AudioChunk``s in both.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np

from .frontend import Utterance


class ClauseStart(NamedTuple):
    clause: int
    utterance: Utterance
    symbols: np.ndarray  # symbol index of every frame of the clause


class Frames(NamedTuple):
    clause: int
    frames: np.ndarray   # [n, mel_bins]


class ClauseEnd(NamedTuple):
    clause: int
    last: bool
    # the clause's last frames, when they reach the vocoder together with its end (one call
    # instead of a push and a flush)
    frames: Optional[np.ndarray] = None


Event = Union[ClauseStart, Frames, ClauseEnd]


def merge(a: Frames, b: Frames) -> Frames:
    """Two runs of frames of one clause as one push (the vocoder prefers longer windows)."""
    return Frames(a.clause, np.concatenate([a.frames, b.frames]))
