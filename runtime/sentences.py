"""Sentence splitting: long text becomes many short utterances, each with the pause that ended it.

The acoustic model is trained on single sentences without punctuation symbols (the Baker symbol
set has none), so punctuation is turned into silence between utterances instead: a full stop,
question or exclamation mark, semicolon or line break gives a long pause; a comma, enumeration
comma or colon a short one. A clause longer than ``max_chars`` is cut into near-equal parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List

# Pauses in seconds, close to what the Baker corpus speaker leaves at these marks.
LONG_PAUSE = 0.35
SHORT_PAUSE = 0.15
CUT_PAUSE = 0.05  # between the parts of a clause cut for length

LONG_MARKS = set("。！？!?；;…\n")
SHORT_MARKS = set("，、：,:")


@dataclass(frozen=True)
class Clause:
    text: str          # the clause without its closing mark
    pause_after: float  # seconds of silence after it


def split_clauses(text: str, max_chars: int = 40) -> List[Clause]:
    """Split normalized text at punctuation, then cut clauses longer than `max_chars`.

    Empty clauses are dropped, but a mark's pause is carried over to the previous clause so that
    "好。。。" still ends with one long pause.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1, got %r" % (max_chars,))
    clauses: List[Clause] = []
    buf: List[str] = []

    def close(pause: float) -> None:
        piece = "".join(buf).strip()
        buf.clear()
        if piece:
            clauses.extend(_cut(piece, pause, max_chars))
        elif clauses and pause > clauses[-1].pause_after:
            clauses[-1] = Clause(clauses[-1].text, pause)

    for ch in text:
        if ch in LONG_MARKS:
            close(LONG_PAUSE)
        elif ch in SHORT_MARKS:
            close(SHORT_PAUSE)
        else:
            buf.append(ch)
    close(LONG_PAUSE)
    return clauses


def _cut(piece: str, pause: float, max_chars: int) -> List[Clause]:
    if len(piece) <= max_chars:
        return [Clause(piece, pause)]
    parts = math.ceil(len(piece) / max_chars)
    size = math.ceil(len(piece) / parts)
    chunks = [piece[i:i + size] for i in range(0, len(piece), size)]
    return [Clause(c, CUT_PAUSE if i < len(chunks) - 1 else pause) for i, c in enumerate(chunks)]
