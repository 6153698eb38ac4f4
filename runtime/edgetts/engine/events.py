"""The events that pass from the decoder stage to the vocoder stage, one clause at a time.

    ClauseStart(clause, utterance, symbols)   the clause's utterance and the symbol of every frame
    Frames(clause, frames)                    mel frames ``[n, mel_bins]`` as the decoder makes them
    ClauseEnd(clause, last[, frames])         no more frames (but these); ``last``: the request's last clause

``Voice.decode_batch`` makes them, whoever drives it (``Voice.synthesize``'s decoder thread, the
service's batched scheduler); each clause's ``ClauseAudio`` turns them into ``AudioChunk``s. They
reach it exactly as made (never merged), so its vocoder calls follow from frame counts alone.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np

from ..text.frontend import Utterance


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
    # the clause's last frames (its last decoder step's), which reach the vocoder with its end
    # (one call instead of a push and a flush)
    frames: Optional[np.ndarray] = None


Event = Union[ClauseStart, Frames, ClauseEnd]
