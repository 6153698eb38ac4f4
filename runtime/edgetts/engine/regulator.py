"""The length regulator in numpy: predicted durations → the text context of every frame.

It is a gather, kept out of the graphs so that every graph's shapes stay simple. It must compute
what ``models.student.regulate`` computes in training (a test checks the two agree).
"""

from __future__ import annotations

from typing import Tuple, Union

import numpy as np


def durations(log_durations: np.ndarray, speed: Union[float, np.ndarray],
              max_per_symbol: int) -> np.ndarray:
    """``log(1 + frames)`` per symbol → integer frames, divided by `speed` (one value, or one per
    symbol for SSML prosody), capped per symbol."""
    d = np.round((np.exp(log_durations.astype(np.float64)) - 1.0) / speed)
    return np.clip(d, 0, max_per_symbol).astype(np.int64)


def regulate(memory: np.ndarray, dur: np.ndarray, r: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """memory ``[S, D]``, durations ``[S]`` → context ``[N, r, D]``, progress ``[N, r, 2]``,
    symbol index of every frame ``[T]`` (T = sum of durations, N = ceil(T / r); the frames past
    T in the last step are zero padding)."""
    total = int(dur.sum())
    steps = max(1, -(-total // r))
    sym = np.repeat(np.arange(len(dur)), dur)                       # [T]
    ends = np.cumsum(dur)
    starts = ends - dur
    pos = np.arange(total)
    ctx = np.zeros((steps * r, memory.shape[1]), np.float32)
    prog = np.zeros((steps * r, 2), np.float32)
    ctx[:total] = memory[sym]
    prog[:total, 0] = (pos - starts[sym]) / 10.0
    prog[:total, 1] = (ends[sym] - 1 - pos) / 10.0
    return ctx.reshape(steps, r, -1), prog.reshape(steps, r, 2), sym
