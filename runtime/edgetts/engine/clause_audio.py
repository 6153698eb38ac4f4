"""One clause's decoder events → its ``AudioChunk``s: the vocoder stream, the characters each
chunk voices, their timestamps, the SSML volume, and the pause after the clause.

``ClauseAudios`` makes one per clause of a request, in clause order, each placed in the
request's audio by the lengths of the clauses before it (known from their durations, so it
needs none of their audio). How a clause's vocoder calls are sized depends only on its place
(the first clause of a request starts with a small call for fast first audio) and on frame
counts, so a clause's samples never depend on how, or how fast, it was decoded and vocoded.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from .audio import AudioChunk
from ..config import SynthesisOptions, VoiceConfig
from .events import ClauseEnd, ClauseStart, Event, Frames
from .marks import Mark, clause_marks
from .vocoder import StatefulVocoder, StreamingVocoder, Vocoder


class ClauseAudios:
    """A request's ``ClauseAudio`` factory: call it with each ``ClauseStart``, in clause order."""

    def __init__(self, config: VoiceConfig, vocoder: Vocoder, o: SynthesisOptions):
        self._config = config
        self._vocoder = vocoder
        self._first = o.first_chunk_frames or config.first_chunk_frames
        self._chunk = o.chunk_frames or config.chunk_frames
        self._max_chunk = max(self._chunk, o.max_chunk_frames or StreamingVocoder.MAX_CHUNK)
        # Clauses after the first play after it, so they need no small first call. Where calls
        # overlap (the windowed vocoder) they start with the largest windows; where they do not
        # (the stateful one), with the usual calls, so that they follow the decoder closely.
        self._later = self._chunk if isinstance(vocoder, StatefulVocoder) else self._max_chunk
        self._at = 0  # samples of the request before the next clause

    def __call__(self, start: ClauseStart) -> "ClauseAudio":
        c = self._config
        first = self._first if start.clause == 0 else self._later
        stream = self._vocoder.stream(c.context_frames, self._chunk, first, self._max_chunk)
        audio = ClauseAudio(c, start, stream, self._at)
        self._at += len(start.symbols) * c.hop + int(round(start.utterance.pause_after * c.sample_rate))
        return audio


class ClauseAudio:
    """One clause: ``event(Frames | ClauseEnd)`` → the chunks now ready."""

    def __init__(self, config: VoiceConfig, start: ClauseStart, stream, start_sample: int):
        """``start_sample``: where the clause starts in the request's audio (for its marks)."""
        self._config = config
        self._clause = start.clause
        self._utt = start.utterance
        self._symbols = start.symbols
        self._stream = stream
        self._marks: List[Tuple[int, Mark]] = clause_marks(start.utterance, start.symbols, config.hop,
                                                           config.sample_rate, start_sample)
        self._done = 0  # frames whose audio was returned

    def event(self, event: Event) -> List[AudioChunk]:
        if isinstance(event, ClauseStart) or event.clause != self._clause:
            raise RuntimeError("%s of clause %d given to clause %d's audio"
                               % (type(event).__name__, event.clause, self._clause))
        c, utt = self._config, self._utt
        out = []
        audio = (self._stream.push(event.frames) if isinstance(event, Frames)
                 else self._stream.finish(event.frames))
        if audio.size:
            done, emitted = self._done, self._stream.frames_emitted
            chars = [utt.symbol_chars[s] for s in self._symbols[done:emitted] if utt.symbol_chars[s] >= 0]
            lo, hi = (min(chars), max(chars) + 1) if chars else (0, 0)
            audio = audio.astype(np.float32, copy=False)
            if utt.symbol_volume is not None:  # SSML prosody volume, per frame
                audio = audio * self._gain(done, emitted, len(audio))
            out.append(AudioChunk(audio, c.sample_rate, self._clause, utt.spoken, lo, hi,
                                  marks=self._take_marks(emitted)))
            self._done = emitted
        if isinstance(event, ClauseEnd):
            pause = np.zeros(int(round(utt.pause_after * c.sample_rate)), np.float32)
            out.append(AudioChunk(pause, c.sample_rate, self._clause, utt.spoken, len(utt.spoken),
                                  len(utt.spoken), event.last, marks=self._take_marks(None)))
        return out

    def _take_marks(self, before_frame: Optional[int]) -> Tuple[Mark, ...]:
        """The marks of characters that start before `before_frame` (None: all left)."""
        n = len(self._marks) if before_frame is None else \
            sum(1 for f, _ in self._marks if f < before_frame)
        taken, self._marks = self._marks[:n], self._marks[n:]
        return tuple(m for _, m in taken)

    def _gain(self, a: int, b: int, samples: int) -> np.ndarray:
        """Per-sample gain for frames a..b, from each frame's symbol volume."""
        vol = np.asarray(self._utt.symbol_volume or [], np.float32)[self._symbols[a:b]]
        per_sample = np.repeat(vol, self._config.hop)
        if len(per_sample) != samples:  # not one hop per frame: stretch to fit
            per_sample = np.interp(np.linspace(0, len(vol) - 1, samples), np.arange(len(vol)), vol)
        return per_sample.astype(np.float32)
