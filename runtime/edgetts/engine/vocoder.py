"""The vocoder at run time: mel frames → 24 kHz audio, whole or streamed.

Two graphs can do it. On the CPU a voice carries ``vocoder_stream.onnx``, a stateful graph that
every convolution's state passes through from call to call (``StatefulVocoder``): each frame is
vocoded once, and the calls of an utterance together equal one whole-utterance pass. Elsewhere
(the FP16 GPU graphs) ``vocoder.onnx`` vocodes overlapping windows (``StreamingVocoder``); the
two streams have one interface (``push``, ``finish``, ``frames_emitted``, ``next_wait``).

Windowed streaming vocodes overlapping windows. Every sample of the vocoder's output depends only on the
mel frames within its receptive field (``context`` frames either side, computed from the
architecture at export time and stored in the voice manifest), and every padding in the graph is
a reflection at the *utterance* edges. So a window that reaches ``context`` frames past the
samples it keeps, or that stops at the utterance edge itself, produces exactly the samples of the
whole-utterance pass: chunks join without seams or clicks, and nothing needs cross-fading.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Union

import numpy as np

from .graphs import VOCODER_STREAM_INPUTS, VOCODER_STREAM_OUTPUTS

MelToAudio = Callable[[np.ndarray], np.ndarray]  # [frames, 80] float32 → [frames·hop] float32


class OnnxVocoder:
    """``vocoder.onnx`` (``mel [B, 80, F]`` → ``audio [B, F·hop]``) behind a numpy call."""

    # Reflection pads inside the graph need at least this many frames (manifest: min_frames).
    # Shorter mels are padded on the right with silence and the extra audio is cut off.
    SILENCE = -4.0  # normalized log-mel of silence, below anything the teacher produces

    def __init__(self, path: Optional[str] = None, providers: Optional[List[str]] = None,
                 session_options=None, hop: int = 300, min_frames: int = 10, session=None):
        """Open `path`, or wrap an already open `session` (as the runtime's Voice does)."""
        if session is None:
            import onnxruntime as ort

            session = ort.InferenceSession(path, sess_options=session_options,
                                           providers=providers or ["CPUExecutionProvider"])
        self.hop = hop
        self.min_frames = min_frames
        self.session = session
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        """``mel [frames, 80]`` → ``audio [frames · hop]`` float32."""
        n = len(mel)
        x = np.ascontiguousarray(_padded(mel, self.min_frames).T[None], dtype=np.float32)
        return self.session.run([self.output], {self.input: x})[0][0][: n * self.hop]

    def stream(self, context: int, chunk: int, first_chunk: int, max_chunk: int) -> "StreamingVocoder":
        """A stream of one utterance through overlapping windows."""
        return StreamingVocoder(self, context, self.hop, chunk, first_chunk, max_chunk)


def _padded(mel: np.ndarray, min_frames: int) -> np.ndarray:
    """``mel [frames, 80]`` padded on the right with silence to the `min_frames` the graphs'
    reflection pads need (the caller cuts the extra audio off)."""
    n = len(mel)
    if n >= min_frames:
        return mel
    pad = np.full((min_frames - n, mel.shape[1]), OnnxVocoder.SILENCE, np.float32)
    return np.concatenate([np.asarray(mel, np.float32), pad])


def _pushed(frames: np.ndarray, finished: bool) -> np.ndarray:
    """A stream's ``push`` argument as float32 ``[n, mel_bins]``, or the error that says why not."""
    if finished:
        raise RuntimeError("push() after finish()")
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 2:
        raise ValueError("frames must be [n, mel_bins], got shape %s" % (frames.shape,))
    return frames


class CallSizes:
    """How large a stream's vocoder calls are (both streams size them alike): the first call
    returns ``first_chunk`` frames once they have ``context`` frames of right context; each
    later one waits for ``wait`` frames, which grows ``grow``-fold with each call, from
    ``chunk`` up to ``max_chunk``."""

    def __init__(self, context: int, chunk: int, first_chunk: int, max_chunk: int, grow: float):
        if context < 0 or chunk < 1 or first_chunk < 1 or max_chunk < chunk or grow < 1:
            raise ValueError("context must be >= 0, chunk sizes >= 1, max_chunk >= chunk and grow >= 1")
        self.context = context
        self.chunk = chunk
        self.first_chunk = first_chunk
        self.max_chunk = max_chunk
        self.grow = grow
        self.wait = chunk  # frames the next call waits for (after the first)

    def called(self, kept: int) -> None:
        """A call returned `kept` frames: the next one waits for `grow` times as many."""
        self.wait = min(self.max_chunk, max(self.chunk, int(kept * self.grow)))

    def finished(self, kept: int) -> None:
        """The last call returned `kept` frames: a short tail does not shrink the wait (the
        call before it is still playing), a long one grows it."""
        self.wait = max(self.wait, min(self.max_chunk, int(kept * self.grow)))


class StreamingVocoder:
    """Feed frames as the decoder makes them; get back audio as soon as it is final.

    ``push(frames)`` returns the audio of the windows whose frames now have ``context`` frames
    of right context (possibly none); ``finish()`` returns the rest, using the utterance end as
    the right edge. The first window keeps ``first_chunk`` frames (fast first audio), the later
    ones the sizes ``CallSizes`` schedules. The sizes depend only on how many frames have been
    pushed, never on how they were split into pushes or how far the decoder ran ahead, so the
    same frames always give the same windows and the same samples. The concatenated output
    equals ``vocode(all frames)`` whatever the window sizes, to float rounding.

    Windows grow: each one waits for at least ``grow`` times the frames of the one before (from
    ``chunk`` up to ``max_chunk``), so the overlap's share shrinks as the clause goes on while
    the audio stays ahead of playback: a window of n frames plays for n hops, and the next one
    of ``grow · n`` frames is ready in time wherever synthesis runs faster than real time by
    more than ``grow`` (RTF below 1/grow: 0.5 by default).
    """

    MAX_CHUNK = 256  # default largest window (kept frames) when the decoder has run ahead

    def __init__(self, vocode: MelToAudio, context: int, hop: int = 300,
                 chunk: int = 40, first_chunk: int = 10, max_chunk: Optional[int] = None,
                 grow: float = 2.0):
        max_chunk = max(chunk, self.MAX_CHUNK) if max_chunk is None else max_chunk
        self.sizes = CallSizes(context, chunk, first_chunk, max_chunk, grow)
        self.vocode = vocode
        self.context = context
        self.hop = hop
        self._frames = np.zeros((0, 0), np.float32)
        self._offset = 0      # utterance index of self._frames[0]
        self._emitted = 0     # frames whose audio has been returned
        self._finished = False

    @property
    def frames_emitted(self) -> int:
        return self._emitted

    def _total(self) -> int:
        return self._offset + len(self._frames)

    def push(self, frames: np.ndarray) -> np.ndarray:
        frames = _pushed(frames, self._finished)
        self._frames = frames if self._frames.size == 0 else np.concatenate([self._frames, frames])
        out = []
        while True:
            ready = self._total() - self.context - self._emitted  # frames with full right context
            z = self.sizes
            if ready < (z.first_chunk if self._emitted == 0 else z.wait):
                break
            # exactly the scheduled size, however many frames are ready: the windows depend
            # only on frame counts, so the audio does not depend on timing
            size = z.first_chunk if self._emitted == 0 else z.wait
            out.append(self._window(self._emitted, self._emitted + size, at_end=False))
            z.called(size)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def finish(self, frames: Optional[np.ndarray] = None) -> np.ndarray:
        """Audio of every frame not yet returned (and of `frames`, the utterance's last ones),
        vocoded with the utterance end as right edge."""
        if frames is not None and len(frames):
            frames = np.asarray(frames, np.float32)
            self._frames = frames if self._frames.size == 0 else np.concatenate([self._frames, frames])
        self._finished = True
        out = []
        while self._emitted < self._total():
            size = self.sizes.first_chunk if self._emitted == 0 else self.sizes.max_chunk
            start = self._emitted
            out.append(self._window(start, min(start + size, self._total()), True))
            self.sizes.finished(self._emitted - start)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    @property
    def next_wait(self) -> int:
        """Frames the window after the last one waits for: where the next clause of the same
        request starts, so windows keep growing across clauses (the audio already made covers
        the wait, by the same argument as within a clause)."""
        return self.sizes.wait

    def _window(self, a: int, b: int, at_end: bool) -> np.ndarray:
        lo = max(self._offset, a - self.context)
        hi = self._total() if at_end else b + self.context
        hi = min(hi, self._total())
        audio = self.vocode(self._frames[lo - self._offset:hi - self._offset])
        keep = audio[(a - lo) * self.hop:(b - lo) * self.hop]
        self._emitted = b
        # Frames more than `context` behind the next window are never needed again.
        drop = max(0, (self._emitted - self.context) - self._offset)
        if drop:
            self._frames = self._frames[drop:]
            self._offset += drop
        return keep


class StatefulVocoder:
    """``vocoder_stream.onnx`` behind numpy: ``mel [1, 80, n]``, ``final [1]`` and the states
    (``state.{i}``, length 0 on a first call) → ``audio [1, samples]`` and ``next_state.{i}``.

    ``first_frames``: the fewest frames a first call that does not end the utterance may take
    (manifest: vocoder.stream_first_frames). Calling the object vocodes a whole utterance in one
    call, so it stands in for ``OnnxVocoder``.
    """

    SILENCE = OnnxVocoder.SILENCE

    def __init__(self, session, hop: int = 300, min_frames: int = 10, first_frames: int = 31):
        self.session = session
        self.hop = hop
        self.min_frames = min_frames
        self.first_frames = first_frames
        ins = [i for i in session.get_inputs() if i.name not in VOCODER_STREAM_INPUTS]
        outs = [o.name for o in session.get_outputs() if o.name not in VOCODER_STREAM_OUTPUTS]
        if len(ins) != len(outs) or not ins:
            raise ValueError("%d state inputs and %d state outputs: not a streaming vocoder graph"
                             % (len(ins), len(outs)))
        self.state_names = [i.name for i in ins]
        self.outputs = VOCODER_STREAM_OUTPUTS + outs
        self.mel_bins = next(i.shape[1] for i in session.get_inputs() if i.name == "mel")
        # every state starts empty: [batch 1, channels, (1,) 0]
        self._empty = [np.zeros([1] + [d if isinstance(d, int) else 0 for d in i.shape[1:]], np.float32)
                       for i in ins]

    def initial_state(self) -> List[np.ndarray]:
        return list(self._empty)

    def run(self, mel: np.ndarray, state: List[np.ndarray], final: bool):
        """``mel [n, 80]`` → (audio ``[samples]``, next state)."""
        feed = {"mel": np.ascontiguousarray(np.asarray(mel, np.float32).T[None]),
                "final": np.array([1 if final else 0], np.int64)}
        feed.update(zip(self.state_names, state))
        out = self.session.run(self.outputs, feed)
        return out[0][0], out[1:]

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        """A whole utterance, ``mel [frames, 80]`` → ``audio [frames · hop]`` (one first and final
        call; mels shorter than the graph's reflection pads are padded with silence and cut)."""
        return self.run(_padded(mel, self.min_frames), self.initial_state(), True)[0][: len(mel) * self.hop]

    def stream(self, context: int, chunk: int, first_chunk: int, max_chunk: int) -> "StatefulStream":
        """A stream of one utterance: the first call waits for `first_chunk` + `context` frames
        (``context`` covers the graph's lag, so that call returns about `first_chunk` frames of
        audio); later calls as ``StreamingVocoder`` sizes its windows."""
        return StatefulStream(self, context, chunk, first_chunk, max_chunk)


class StatefulStream:
    """One utterance through a ``StatefulVocoder``: the same interface and call sizes as
    ``StreamingVocoder``, with no frame vocoded twice.

    The graph lags its input by a fixed number of samples (not whole frames), so the stream
    holds back the part of a frame it has not finished and returns whole frames until
    ``finish()``: chunks stay frame-aligned for captions and volume, and all of them together
    are exactly ``frames · hop`` samples.
    """

    def __init__(self, vocoder: StatefulVocoder, context: int, chunk: int = 40, first_chunk: int = 10,
                 max_chunk: int = StreamingVocoder.MAX_CHUNK, grow: float = 2.0):
        self.sizes = CallSizes(context, chunk, first_chunk, max_chunk, grow)
        self.vocoder = vocoder
        self.hop = vocoder.hop
        self._pending: List[np.ndarray] = []  # frames not yet fed to the graph
        self._state: Optional[List[np.ndarray]] = None  # None: no call yet
        self._audio = np.zeros(0, np.float32)           # returned by the graph, not yet by us
        self._emitted = 0                               # frames whose audio was returned
        self._fed = 0                                   # frames fed to the graph
        self._finished = False

    @property
    def frames_emitted(self) -> int:
        return self._emitted

    @property
    def next_wait(self) -> int:
        """As ``StreamingVocoder.next_wait``: where the next clause's first call waits."""
        return self.sizes.wait

    @property
    def _npending(self) -> int:
        return sum(len(p) for p in self._pending)

    def _add(self, frames: np.ndarray) -> None:
        if len(frames):
            self._pending.append(frames)

    def _take(self, n: int) -> np.ndarray:
        frames = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        taken, rest = frames[:n], frames[n:]
        self._pending = [rest] if len(rest) else []
        return taken

    def _call(self, n: int, final: bool) -> None:
        mel = self._take(n) if n else np.zeros((0, self.vocoder.mel_bins), np.float32)
        self._fed += n
        if final and self._state is None:        # the whole utterance in one call
            audio = self.vocoder(mel)
        else:
            state = self._state if self._state is not None else self.vocoder.initial_state()
            audio, self._state = self.vocoder.run(mel, state, final)
        self._audio = audio if not self._audio.size else np.concatenate([self._audio, audio])

    def _release(self) -> np.ndarray:
        """The whole frames of audio the graph has returned (all of it once finished)."""
        n = len(self._audio) if self._finished else len(self._audio) // self.hop * self.hop
        out, self._audio = self._audio[:n], self._audio[n:]
        self._emitted = self._fed if self._finished else self._emitted + n // self.hop
        return out

    def push(self, frames: np.ndarray) -> np.ndarray:
        self._add(_pushed(frames, self._finished))
        z = self.sizes
        while True:
            if self._state is None:
                # exactly the scheduled sizes, whatever is pending: the calls depend only on
                # frame counts, so the audio does not depend on timing
                size = max(self.vocoder.first_frames, z.first_chunk + z.context)
                if self._npending < size:
                    break
                self._call(size, False)
                kept = size - z.context
            else:
                if self._npending < z.wait:
                    break
                kept = size = z.wait
                self._call(size, False)
            z.called(kept)
        return self._release()

    def finish(self, frames: Optional[np.ndarray] = None) -> np.ndarray:
        """The rest of the utterance's audio (with `frames`, its last frames), its right edge the
        utterance end."""
        if self._finished:
            raise RuntimeError("finish() twice")
        if frames is not None:
            self._add(np.asarray(frames, np.float32))
        self._finished = True
        before = self._emitted
        while self._npending > self.sizes.max_chunk and self._state is not None:
            self._call(self.sizes.max_chunk, False)
        self._call(self._npending, True)
        out = self._release()
        self.sizes.finished(self._emitted - before)
        return out


VocoderStream = Union[StreamingVocoder, StatefulStream]  # what ``stream()`` of either vocoder opens
Vocoder = Union[OnnxVocoder, StatefulVocoder]  # what a voice vocodes with
