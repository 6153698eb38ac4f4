"""Audio chunks and where they go: ``AudioChunk`` (what ``Voice.synthesize`` yields), WAV files
and streams, raw 16-bit PCM, and the timing of a chunk stream."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import BinaryIO, Dict, Iterable, Iterator, Optional, Protocol, Tuple, Union

import numpy as np

from .marks import Mark


@dataclass(frozen=True)
class AudioChunk:
    """A piece of the utterance ``utterance`` (index) whose spoken text is ``text``.

    ``audio`` is float32 mono in [-1, 1]; ``text[char_start:char_end]`` are the characters whose
    sounds it carries (for captions and lip-sync; empty for pauses); ``final`` marks the last
    chunk of the whole request. ``marks``: the characters that start in this chunk, with their
    start and end times from the start of the request's audio (``marks.Mark``).
    """

    audio: np.ndarray
    sample_rate: int
    utterance: int
    text: str
    char_start: int
    char_end: int
    final: bool = False
    marks: Tuple[Mark, ...] = ()


class AudioStream(Protocol):
    """What ``Voice.synthesize`` returns: the chunks as they are made; ``close()`` stops the
    synthesis (its threads) early."""

    def __iter__(self) -> Iterator[AudioChunk]: ...

    def __next__(self) -> AudioChunk: ...

    def close(self) -> None: ...


def write_wav(target: Union[str, BinaryIO], chunks: Iterable[AudioChunk], sample_rate: int) -> float:
    """Write chunks as 16-bit PCM WAV to a path or a seekable binary file, each as it comes
    (memory stays at one chunk, however long the text); return seconds written."""
    import soundfile as sf

    samples = 0
    with sf.SoundFile(target, "w", sample_rate, 1, subtype="PCM_16", format="WAV") as f:
        for c in chunks:
            f.write(np.clip(c.audio, -1.0, 1.0))
            samples += len(c.audio)
    return samples / float(sample_rate)


def write_wav_stream(out: BinaryIO, chunks: Iterable[AudioChunk], sample_rate: int) -> float:
    """16-bit WAV to a stream that cannot seek back (a pipe), chunk by chunk: the header says
    "until the end of the stream", as for HTTP streaming."""
    out.write(wav_header(sample_rate, None))
    samples = 0
    for c in chunks:
        out.write(pcm16(c.audio))
        out.flush()
        samples += len(c.audio)
    return samples / float(sample_rate)


def wav_header(sample_rate: int, data_bytes: Optional[int]) -> bytes:
    """16-bit mono WAV header; ``data_bytes=None`` (streaming) writes the maximum sizes, which
    players read as "until the end of the stream"."""
    import struct

    size = 0xFFFFFFFF - 36 if data_bytes is None else data_bytes
    return (b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 36 + size)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", size))


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def timed(chunks: Iterable[AudioChunk], start: Optional[float] = None):
    """Wrap a chunk stream, recording first-audio latency and total time (for `say -v`) from
    `start` (a ``time.perf_counter()`` taken before ``synthesize`` was called), or from now."""
    start = time.perf_counter() if start is None else start
    stats: Dict[str, Optional[float]] = {"first_audio_s": None, "seconds": 0.0, "audio_s": 0.0}

    def gen():
        for ch in chunks:
            if stats["first_audio_s"] is None and ch.audio.size and np.any(ch.audio):
                stats["first_audio_s"] = time.perf_counter() - start
            stats["audio_s"] = (stats["audio_s"] or 0.0) + len(ch.audio) / float(ch.sample_rate)
            yield ch
        stats["seconds"] = time.perf_counter() - start

    return gen(), stats
