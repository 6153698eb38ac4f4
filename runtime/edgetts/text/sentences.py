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

# The marks, one definition each (the front-end's sentence splitting and the Wyoming adapter's
# sentence detection read them too). A sentence ends at SENTENCE_MARKS or a line break, never at
# "." (the decimal point in 12.5); every long mark gives a long pause.
SENTENCE_MARKS = "。！？!?"
LONG_MARKS = set(SENTENCE_MARKS + "；;…\n")
SHORT_MARKS = set("，、：,:")


@dataclass(frozen=True)
class Clause:
    text: str          # the clause without its closing mark
    pause_after: float  # seconds of silence after it
    start: int = 0     # index of text[0] in the text that was split


def split_clauses(text: str, max_chars: int = 40) -> List[Clause]:
    """Split normalized text at punctuation, then cut clauses longer than `max_chars`.

    Empty clauses are dropped, but a mark's pause is carried over to the previous clause so that
    "好。。。" still ends with one long pause.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1, got %r" % (max_chars,))
    clauses: List[Clause] = []
    begin = 0  # start of the clause being read

    def close(end: int, pause: float) -> None:
        raw = text[begin:end]
        piece = raw.strip()
        if piece:
            start = begin + (len(raw) - len(raw.lstrip()))
            clauses.extend(_cut(piece, pause, max_chars, start))
        elif clauses and pause > clauses[-1].pause_after:
            last = clauses[-1]
            clauses[-1] = Clause(last.text, pause, last.start)

    for i, ch in enumerate(text):
        if ch in LONG_MARKS:
            close(i, LONG_PAUSE)
            begin = i + 1
        elif ch in SHORT_MARKS:
            close(i, SHORT_PAUSE)
            begin = i + 1
    close(len(text), LONG_PAUSE)
    return clauses


def _cut(piece: str, pause: float, max_chars: int, start: int) -> List[Clause]:
    if len(piece) <= max_chars:
        return [Clause(piece, pause, start)]
    parts = math.ceil(len(piece) / max_chars)
    size = math.ceil(len(piece) / parts)
    return [Clause(piece[i:i + size], CUT_PAUSE if i + size < len(piece) else pause, start + i)
            for i in range(0, len(piece), size)]
