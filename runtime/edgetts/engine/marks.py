"""Per-character timestamps: when each spoken character starts and ends in the audio.

The durations are the model's own (the length regulator's frames per symbol), so the times
are exact to a frame (``hop / sample_rate``, 12.5 ms for the default voice): a frame's audio
is ``hop`` samples, and every clause is followed by its pause. For subtitles, karaoke
highlighting and lip-sync.

``text`` is the spoken character (after normalization: 384756 gives 三, 八, …), or the whole
word for a word read as one unit (a lexicon entry such as WiFi).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Iterable, List, Tuple

import numpy as np


@dataclass(frozen=True)
class Mark:
    text: str
    start: float  # seconds from the start of the request's audio
    end: float

    def to_dict(self) -> dict:
        return {"text": self.text, "start": round(self.start, 4), "end": round(self.end, 4)}


def clause_marks(utt, sym: np.ndarray, hop: int, sample_rate: int, offset: int) -> List[Tuple[int, Mark]]:
    """(first frame, Mark) for every character of one clause whose sounds last at least one
    frame. ``sym``: the symbol index of every frame; ``offset``: samples before the clause."""
    chars = np.asarray(utt.symbol_chars)[sym]
    frames = np.flatnonzero(chars >= 0)  # frames that voice a character
    if not len(frames):
        return []
    c = chars[frames]
    # A character's symbols are adjacent, so its frames are one run: the runs' first and last
    # frames are its start and end (in one pass, not one scan per character).
    change = c[1:] != c[:-1]
    firsts = frames[np.r_[True, change]]
    lasts = frames[np.r_[change, True]]
    out = []
    for a, b, ci in zip(firsts.tolist(), lasts.tolist(), c[np.r_[True, change]].tolist()):
        out.append((a, Mark(utt.spoken[ci:utt.char_end(ci)], (offset + a * hop) / sample_rate,
                            (offset + (b + 1) * hop) / sample_rate)))
    return out


def write_jsonl(f: IO[str], marks: Iterable[Mark]) -> None:
    for m in marks:
        f.write(json.dumps(m.to_dict(), ensure_ascii=False) + "\n")


def _vtt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return "%02d:%02d:%02d.%03d" % (ms // 3600000, ms // 60000 % 60, ms // 1000 % 60, ms % 1000)


def write_vtt(f: IO[str], marks: Iterable[Mark]) -> None:
    """WebVTT, one cue per character."""
    f.write("WEBVTT\n\n")
    for n, m in enumerate(marks, 1):
        f.write("%d\n%s --> %s\n%s\n\n" % (n, _vtt_time(m.start), _vtt_time(m.end), m.text))


def write(path: str, marks: Iterable[Mark]) -> None:
    """JSON lines, or WebVTT when ``path`` ends in .vtt."""
    with open(path, "w", encoding="utf-8") as f:
        (write_vtt if path.lower().endswith(".vtt") else write_jsonl)(f, marks)



