"""``Voice``: a voice bundle loaded into ONNX Runtime sessions; ``synthesize()`` streams audio.

    voice = Voice.load("voices/default")            # provider="auto": TensorRT → CUDA → CPU
    for chunk in voice.synthesize("今天天气很好。"):
        play(chunk.audio)                             # float32 at voice.config.sample_rate
    write_wav("out.wav", voice.synthesize("你好"), voice.config.sample_rate)

Per utterance (a clause of the text): the text encoder runs once, the numpy length regulator
turns its durations into every frame's text context, the decoder step runs once per r frames,
and the streaming vocoder turns frames into audio as soon as they have enough right context, so
the first chunk arrives long before the clause is decoded. The pause that ended the clause
follows as silence. Encoder and decoder run in a worker thread ahead of the vocoder, so the two
overlap on a multi-core CPU and the next clause of long text is decoded while the caller is
still consuming the last one.
"""

from __future__ import annotations

import logging
import itertools
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import graphs
from . import manifest as manifest_io
from .bundle import locate
from .compat import candidates
from .config import GraphInfo, SynthesisOptions, VoiceConfig
from .decoder import StepDecoder, device_of
from .errors import BundleError, ProviderError
from .events import ClauseEnd, ClauseStart, Event, Frames, merge
from .parallel import ParallelClauses
from .frontend import Frontend, FrontendOptions, Utterance
from .lexicon import Lexicon
from .marks import Mark, clause_marks
from .providers import PROVIDERS, resolve
from .regulator import durations, regulate
from .vocoder import OnnxVocoder, StatefulVocoder, StreamingVocoder, VocoderStream

log = logging.getLogger(__name__)


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


class Voice:
    def __init__(self, bundle: str, config: VoiceConfig, sessions: dict, variant: str,
                 providers: List[str]):
        self.lexicon: Optional[Lexicon] = None  # the default for requests that give none
        self.bundle = bundle
        self.config = config
        self.variant = variant
        self.providers = providers  # what the sessions really run on, best first
        self.sessions = sessions    # role → ONNX Runtime session (profilers read them)
        info = config.graphs[variant]["decoder_step"]
        # the stages (the service's batched scheduler and the benchmarks use them as synthesize does)
        self.decoder = StepDecoder(sessions["decoder_step"], config.cache, info.cache == "static",
                                    config.mel_bins, config.reduction_factor, device_of(providers))
        self.vocoder = _vocoder(sessions, config)
        # Dynamic INT8 quantizes each call's activations with one scale for the whole batch, so
        # a clause's frames would depend on the clause batched with it: INT8 decodes alone. So
        # do GPUs: a batch of two is a new input shape, for which TensorRT would build an engine
        # inside a request (warmup() covers the shapes of one clause at a time).
        self.decode_group = (1 if info.precision == "int8" or device_of(providers) != "cpu"
                             else Voice.decode_group)

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Optional[str] = None, provider: str = "auto", variant: Optional[str] = None,
             threads: int = 0) -> "Voice":
        """Verify the bundle, pick providers and the matching variant, open the sessions.

        ``threads``: intra-op threads of the vocoder (0 = the cores beside the decoder's one).
        ``variant``: fp32 / int8 (CPU), fp16 / nano (GPU). By default the best variant that the
        installed ONNX Runtime can open on the chosen provider (``compat.PREFERENCE``): fp16 on
        a GPU, nano where the runtime is too old for fp16 (Jetson Nano, ORT 1.11), fp32 on the
        CPU; a variant whose sessions still fail to open is skipped with a warning. An explicit
        variant that this runtime cannot open, or an explicitly requested provider that does not
        really run, raises with the reason and what would work instead.
        """
        import onnxruntime as ort

        bundle = locate(path)
        # every file must exist; the checksums of the graphs opened are checked before opening
        config = manifest_io.load(bundle, checksums=False)
        chosen = resolve(provider)
        device = "cpu" if chosen[0] == PROVIDERS["cpu"] else "gpu"
        order, status = candidates(config.graphs, device, ort.__version__)
        if variant is not None:
            if variant not in config.graphs:
                raise BundleError("voice %r has no %r graphs (it has: %s)"
                                  % (bundle, variant, ", ".join(sorted(config.graphs))))
            st = next(s for s in status if s.variant == variant)
            if not st.loads:
                raise BundleError(
                    "variant %r of voice %r cannot be opened here: it %s. Upgrade onnxruntime, or "
                    "%s" % (variant, bundle, st.reason,
                            "use --variant %s (loads here)" % order[0] if order
                            else "re-export the voice (no variant loads here)"))
            order = [variant]
        elif not order:
            raise BundleError("no variant of voice %r can be opened by onnxruntime %s:\n  - %s"
                              % (bundle, ort.__version__,
                                 "\n  - ".join("%s: %s" % (s.variant, s.reason) for s in status)))
        failed: List[str] = []
        for v in order:
            manifest_io.verify(bundle, _roles(config.graphs[v]).values())  # corrupt: no fallback
            try:
                sessions = _open_sessions(bundle, config, v, chosen, threads)
            except BundleError as exc:
                if variant is not None or v == order[-1]:
                    if failed:
                        raise BundleError("%s (also tried: %s)" % (exc, "; ".join(failed))) from None
                    raise
                failed.append("%s: %s" % (v, exc))
                log.warning("variant %s does not open (%s); trying %s", v, exc,
                            order[order.index(v) + 1])
                continue
            break
        # the normalizer's grammars (0.3 s) load on the first text that needs them, or in
        # warmup() for a service: a one-shot `say` of plain Han text never pays for them
        really = sessions["decoder_step"].get_providers()
        if really[0] != chosen[0]:
            msg = "asked for %s, the session runs on %s" % (chosen[0], really[0])
            if provider != "auto":
                raise ProviderError(msg)
            log.warning(msg)
        return cls(bundle, config, sessions, v, really)

    def reopen(self, configure: Callable[[str, object], None]) -> None:
        """Reopen every session on the same providers with its options changed by
        ``configure(role, session_options)``: for tools that profile the sessions or try
        another thread layout."""
        import onnxruntime as ort

        for role, info in _roles(self.config.graphs[self.variant]).items():
            old = self.sessions[role]
            so = old.get_session_options()
            configure(role, so)
            opts = old.get_provider_options()
            self.sessions[role] = ort.InferenceSession(
                os.path.join(self.bundle, info.file), so,
                providers=[(p, opts.get(p, {})) for p in old.get_providers()])
        self.decoder.session = self.sessions["decoder_step"]
        self.vocoder = _vocoder(self.sessions, self.config)

    # -- synthesis -------------------------------------------------------------------------------

    def frontend(self, options: Optional[SynthesisOptions] = None) -> Frontend:
        """The front-end a request with `options` reads its text with (SSML, lexicon, policy)."""
        o = options or SynthesisOptions()
        return Frontend(FrontendOptions(unknown=o.unknown, ssml=o.ssml,
                                        lexicon=o.lexicon if o.lexicon is not None else self.lexicon))

    def prepare(self, text: str, options: Optional[SynthesisOptions] = None) -> List[Utterance]:
        """Run the front-end only: the utterances `synthesize` would speak (raises FrontendError)."""
        return self.frontend(options)(text)

    def synthesize(self, text: Union[str, List[Utterance]], options: Optional[SynthesisOptions] = None,
                   pipeline: bool = True) -> Iterator[AudioChunk]:
        """Yield audio chunks for `text` (or prepared utterances) as they are ready.

        The front-end runs now, so bad text raises FrontendError here, before any audio. With
        `pipeline` a worker thread runs the encoder and the decoder steps of every clause while
        the vocoder runs beside it: the two overlap (ONNX Runtime releases the GIL), and the next
        clause decodes while the last one is still being vocoded and consumed. With
        ``parallel_clauses`` > 1 (the default on multi-core CPUs) that many clauses are vocoded
        at once in threads of their own, their chunks handed out in order (edgetts.parallel);
        otherwise this thread vocodes, and the worker runs at most ``lookahead_frames`` ahead.
        Either way memory stays bounded on long text. Closing the iterator early stops the
        threads.
        """
        o = options or SynthesisOptions()
        if isinstance(text, str):
            rest = self.frontend(o).iter_utterances(text)
            utts: Iterable[Utterance] = itertools.chain([next(rest)], rest)  # raises on bad text
        else:
            utts = list(text)
            if not utts:
                raise ValueError("no utterances to synthesize")
        if pipeline and self.parallel_clauses > 1:
            events: Iterable[Event] = self.decode(utts, o, self.decode_group)
            return iter(ParallelClauses(events, self._clause_vocoders(o), self.parallel_clauses))
        events = self.decode(utts, o)
        if pipeline:
            events = _ahead(events, self.lookahead_frames // self.config.reduction_factor)
        return self._vocode_events(events, o)

    lookahead_frames = 1536  # about 19 s of speech decoded ahead of the vocoder at most
    # Clauses vocoded at once by a pipelined synthesize (edgetts.parallel): on 2 cores the
    # decoder thread leaves most of a core idle, which the next clause's vocoding fills.
    parallel_clauses = 4 if (os.cpu_count() or 1) >= 2 else 1
    # Clauses of a sentence decoded together as one batch where clauses are vocoded at once
    # (the FP32 CPU decoder: a clause's frames are bit-identical batched or alone).
    decode_group = 2

    def _clause_vocoders(self, o: SynthesisOptions) -> Callable[[ClauseStart], Callable]:
        """A fresh ``ClauseAudio`` per clause, placed in the request's audio by the lengths of the
        clauses before it (known from their durations, so it needs none of their audio). Called
        in clause order. Clauses after the first are not latency-bound (they play after it), so
        they need no small first call; where vocoder calls overlap (the windowed vocoder), they
        start with the largest calls, and where they do not (the stateful one), with the usual
        ones, so that they follow the decoder closely."""
        c = self.config
        at = [0]  # samples of the request before the next clause
        later = None if isinstance(self.vocoder, StatefulVocoder) else StreamingVocoder.MAX_CHUNK

        def make(start: ClauseStart) -> Callable:
            audio = ClauseAudio(self, o, start_sample=at[0], wait=None if start.clause == 0 else later)
            at[0] += len(start.symbols) * c.hop + int(round(start.utterance.pause_after * c.sample_rate))
            return audio.event

        return make

    def encode(self, utt: Utterance, o: SynthesisOptions):
        """One clause through the text encoder and the length regulator → (text context
        ``[N, r, D]``, progress ``[N, r, 2]``, symbol index of every frame)."""
        c = self.config
        ids = np.asarray([utt.ids], np.int64)
        memory, log_dur = self.sessions["text_encoder"].run(
            graphs.ENCODER_OUTPUTS, dict(zip(graphs.ENCODER_INPUTS,
                                             (ids, np.array([ids.shape[1]], np.int64)))))
        speed: Union[float, np.ndarray] = o.speed or c.speed
        if utt.symbol_rate is not None:  # SSML prosody rate, per symbol
            speed = speed * np.asarray(utt.symbol_rate, np.float64)
        dur = durations(log_dur[0], speed, o.max_frames_per_symbol or c.max_frames_per_symbol)
        return regulate(memory[0], dur, c.reduction_factor)

    def decode(self, utts: Iterable[Utterance], o: SynthesisOptions, group: int = 1) -> Iterator[Event]:
        """The decoder stage: per clause a ClauseStart, Frames per decoder step, a ClauseEnd.
        Sentences after the first are normalized here, in the worker, while earlier ones are
        being spoken.

        With ``group`` > 1, up to that many clauses of one sentence (the front-end has read the
        whole sentence already) are decoded together as one batch: a step's cost is mostly
        reading the decoder's weights, which a batch reads once, so two clauses decode in little
        more than the time of one. Their events then interleave (every event names its clause);
        each clause's frames are what it decodes alone, to float32 rounding.
        """
        it = iter(utts)
        nxt: Optional[Utterance] = next(it, None)
        ui = 0
        while nxt is not None:
            batch = [nxt]
            while len(batch) < group and not batch[-1].ends_sentence:
                more = next(it, None)
                if more is None:
                    break
                batch.append(more)
            nxt = None
            encoded = [self.encode(u, o) for u in batch]
            for j, (u, (_, _, sym)) in enumerate(zip(batch, encoded)):
                yield ClauseStart(ui + j, u, sym)
            steps = [len(ctx) for ctx, _, _ in encoded]
            totals = [len(sym) for _, _, sym in encoded]
            pushed = [0] * len(batch)
            n = max(steps)
            ctx = np.zeros((len(batch), n) + encoded[0][0].shape[1:], np.float32)
            prog = np.zeros((len(batch), n) + encoded[0][1].shape[1:], np.float32)
            for j, (c, p, _) in enumerate(encoded):  # shorter clauses padded at their end
                ctx[j, :len(c)], prog[j, :len(p)] = c, p
            ended = [False] * len(batch)
            for step, frames in enumerate(self.decoder.batch_frames(ctx, prog)):
                for j in range(len(batch)):
                    if ended[j]:
                        continue
                    take = frames[j][: max(0, totals[j] - pushed[j])]  # the last step's padding frames go
                    pushed[j] += len(take)
                    if len(take):
                        yield Frames(ui + j, take)
                    if step >= steps[j] - 1:
                        ended[j] = True
                        if j == len(batch) - 1:  # is this the request's last clause?
                            nxt = next(it, None)
                        yield ClauseEnd(ui + j, j == len(batch) - 1 and nxt is None)
            ui += len(batch)

    def _vocode_events(self, events: Iterable[Event], o: SynthesisOptions) -> Iterator[AudioChunk]:
        audio = ClauseAudio(self, o)
        try:
            for event in events:
                yield from audio.event(event)
        finally:
            close = getattr(events, "close", None)
            if close:
                close()

    # a one-character clause and one of 40 characters, the longest the front-end makes
    WARMUP_TEXT = "好。前方五百米右转进入辅路请注意减速慢行保持安全车距不要占用应急车道谢谢配合一路平安。"

    def warmup(self) -> float:
        """Run every graph at the smallest and largest shapes requests use; returns seconds.

        Allocations happen here instead of in the first request, and with TensorRT, whose ONNX
        Runtime provider (re)builds an engine whenever an input shape falls outside the range
        seen so far, the engines built (and cached on disk) now cover the whole range: a one-
        character clause and a full 40-character one through the encoder and decoder, and the
        vocoder from its minimum window up to its largest (first window + context on the left
        and right, up to 256 kept frames + twice the context).
        """
        from . import normalize

        t = time.perf_counter()
        normalize.backend()  # load the grammars now, not inside the first request
        for _ in self.synthesize(self.WARMUP_TEXT):
            pass
        c = self.config
        for frames in (c.min_frames, StreamingVocoder.MAX_CHUNK + 2 * c.context_frames):
            self.vocoder(np.zeros((frames, c.mel_bins), np.float32))
        return time.perf_counter() - t

    def synthesize_array(self, text: Union[str, List[Utterance]], options: Optional[SynthesisOptions] = None,
                         pipeline: bool = True) -> np.ndarray:
        parts = [c.audio for c in self.synthesize(text, options, pipeline)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _roles(graphs: Dict[str, GraphInfo]) -> Dict[str, GraphInfo]:
    """The graphs of a variant that get a session: where a streaming vocoder is there, it is
    the vocoder (it also vocodes whole utterances), and the windowed one is not opened."""
    if "vocoder_stream" in graphs:
        return {r: g for r, g in graphs.items() if r != "vocoder"}
    return dict(graphs)


def _vocoder(sessions: dict, config: VoiceConfig) -> Union[OnnxVocoder, StatefulVocoder]:
    if "vocoder_stream" in sessions:
        return StatefulVocoder(sessions["vocoder_stream"], config.hop, config.min_frames,
                               config.stream_first_frames)
    return OnnxVocoder(session=sessions["vocoder"], hop=config.hop, min_frames=config.min_frames)


def _open_sessions(bundle: str, config: VoiceConfig, variant: str, chosen: List[str],
                   threads: int) -> dict:
    """One ONNX Runtime session per graph of ``variant`` on the providers ``chosen``."""
    import onnxruntime as ort

    # The encoder and decoder step are small graphs run once per clause / per 3 frames: one
    # thread each is fastest (a thread pool's hand-offs cost more than the tiny matmuls
    # gain; measured 2.5 vs 4.0 ms per FP32 step on 2 cores). The vocoder gets the cores
    # left beside the pipelined decoder thread, or `threads`.
    cores = os.cpu_count() or 1
    voc_threads = threads or max(1, cores - 1)
    per_role = {"text_encoder": 1, "decoder_step": 1, "vocoder": voc_threads,
                "vocoder_stream": voc_threads}
    provider_list: list = []
    for p in chosen:
        if p == PROVIDERS["tensorrt"]:
            cache_dir = os.path.join(bundle, "trt_cache")
            if not os.access(bundle, os.W_OK):
                cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "edgetts", "trt")
            provider_list.append((p, {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                      "trt_engine_cache_path": cache_dir}))
        else:
            provider_list.append(p)
    def open_one(item):
        role, info = item
        so = ort.SessionOptions()
        so.intra_op_num_threads = per_role.get(role, threads)
        so.log_severity_level = 3
        try:
            return ort.InferenceSession(os.path.join(bundle, info.file), so, providers=provider_list)
        except Exception as exc:
            raise BundleError("cannot open %s: %s" % (info.file, str(exc).splitlines()[0]))

    # in parallel: ONNX Runtime releases the GIL while it builds a session (0.1-0.2 s each)
    from concurrent.futures import ThreadPoolExecutor

    roles = list(_roles(config.graphs[variant]).items())
    with ThreadPoolExecutor(max_workers=len(roles)) as pool:
        opened = list(pool.map(open_one, roles))
    return {role: s for (role, _), s in zip(roles, opened)}


class ClauseAudio:
    """One request's decoder events → its ``AudioChunk``s: a vocoder stream per clause,
    the characters each chunk voices, their timestamps, the SSML volume, and the pause after
    each clause. ``Voice.synthesize`` feeds it from its decoder thread; the service's batched
    scheduler keeps one per request."""

    def __init__(self, voice: Voice, o: SynthesisOptions, start_sample: int = 0,
                 wait: Optional[int] = None):
        """``start_sample``: where the first clause it is given starts in the request's audio;
        ``wait``: frames the first call of a clause after the first waits for (default: as the
        clause before it ended; edgetts.parallel starts clauses before that is known)."""
        c = self._config = voice.config
        self._vocoder = voice.vocoder
        self._first = o.first_chunk_frames or c.first_chunk_frames
        self._chunk = o.chunk_frames or c.chunk_frames
        self._max_chunk = max(self._chunk, o.max_chunk_frames or StreamingVocoder.MAX_CHUNK)
        self._clause: Optional[_Clause] = None
        self._samples = start_sample  # samples of the request before what comes next
        self._wait = max(self._chunk, min(self._max_chunk, wait or self._chunk))  # the next clause's first call

    def event(self, event: Event) -> List[AudioChunk]:
        """One decoder event → the chunks that are now ready."""
        c = self._config
        if isinstance(event, ClauseStart):
            # Only the first clause needs a small first window (first-audio latency); later
            # ones start while earlier audio is still playing, so they go on with the grown,
            # cheaper windows of the clause before (often the whole clause in one window).
            stream = self._vocoder.stream(c.context_frames, self._chunk,
                                          self._first if event.clause == 0 else self._wait, self._max_chunk)
            self._clause = _Clause(event.utterance, event.symbols, stream,
                                   clause_marks(event.utterance, event.symbols, c.hop, c.sample_rate,
                                                self._samples))
            return []
        cl = self._clause
        if cl is None:
            raise RuntimeError("%s before the ClauseStart of its clause" % type(event).__name__)
        out = []
        audio = cl.stream.push(event.frames) if isinstance(event, Frames) else cl.stream.finish(event.frames)
        utt = cl.utterance
        if audio.size:
            done, emitted = cl.done, cl.stream.frames_emitted
            chars = [utt.symbol_chars[s] for s in cl.symbols[done:emitted] if utt.symbol_chars[s] >= 0]
            lo, hi = (min(chars), max(chars) + 1) if chars else (0, 0)
            audio = audio.astype(np.float32, copy=False)
            if utt.symbol_volume is not None:  # SSML prosody volume, per frame
                audio = audio * cl.gain(done, emitted, len(audio), c.hop)
            out.append(AudioChunk(audio, c.sample_rate, event.clause, utt.spoken, lo, hi,
                                  marks=cl.take_marks(emitted)))
            cl.done = emitted
            self._samples += len(audio)
        if isinstance(event, ClauseEnd):
            self._wait = cl.stream.next_wait
            pause = np.zeros(int(round(utt.pause_after * c.sample_rate)), np.float32)
            out.append(AudioChunk(pause, c.sample_rate, event.clause, utt.spoken, len(utt.spoken),
                                  len(utt.spoken), event.last, marks=cl.take_marks(None)))
            self._samples += len(pause)
        return out


class _Clause:
    """The clause ClauseAudio is vocoding: its stream, the frames whose audio was returned, and
    the marks not yet handed out."""

    def __init__(self, utterance: Utterance, symbols: np.ndarray, stream: VocoderStream,
                 marks: List[Tuple[int, Mark]]):
        self.utterance = utterance
        self.symbols = symbols
        self.stream = stream
        self.marks = marks  # (first frame, mark)
        self.done = 0

    def take_marks(self, before_frame: Optional[int]) -> Tuple[Mark, ...]:
        """The marks of characters that start before `before_frame` (None: all left)."""
        n = len(self.marks) if before_frame is None else \
            sum(1 for f, _ in self.marks if f < before_frame)
        taken, self.marks = self.marks[:n], self.marks[n:]
        return tuple(m for _, m in taken)

    def gain(self, a: int, b: int, samples: int, hop: int) -> np.ndarray:
        """Per-sample gain for frames a..b, from each frame's symbol volume."""
        volume = self.utterance.symbol_volume or []
        vol = np.asarray(volume, np.float32)[self.symbols[a:b]]
        per_sample = np.repeat(vol, hop)
        if len(per_sample) != samples:  # not one hop per frame: stretch to fit
            per_sample = np.interp(np.linspace(0, len(vol) - 1, samples), np.arange(len(vol)), vol)
        return per_sample.astype(np.float32)


class _Done(NamedTuple):
    pass


class _Failed(NamedTuple):
    error: BaseException


class _ahead:
    """Run a generator of decoder events in a worker thread, at most `limit` events ahead.

    Several ready Frames of one clause are handed over at once where the consumer fell behind,
    so the vocoder sees them as one longer push. Errors in the worker are raised in the
    consumer; ``close()`` (or garbage collection of the consumer) stops the worker at its next
    event.
    """

    def __init__(self, gen: Iterable[Event], limit: int):
        self._q: "queue.Queue[Union[Event, _Done, _Failed]]" = queue.Queue(maxsize=max(2, limit))
        self._stop = threading.Event()
        self._gen = gen
        self._thread = threading.Thread(target=self._run, name="edgetts-decoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._gen:
                if not self._put(item):
                    return
            self._put(_Done())
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failed(exc))
        finally:
            close = getattr(self._gen, "close", None)
            if close:
                close()

    def _put(self, item: "Union[Event, _Done, _Failed]") -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Event]:
        pending: list = []
        while True:
            item = self._q.get()
            # Merge the frames of one clause that are already waiting into one push.
            while isinstance(item, Frames):
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, Frames) and nxt.clause == item.clause:
                    item = merge(item, nxt)
                else:
                    pending.append(nxt)
                    break
            for it in [item] + pending:
                if isinstance(it, _Done):
                    return
                if isinstance(it, _Failed):
                    raise it.error
                yield it
            pending = []

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


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
