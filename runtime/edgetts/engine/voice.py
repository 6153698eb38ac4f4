"""``Voice``: a voice bundle loaded into ONNX Runtime sessions; ``synthesize()`` streams audio.

    voice = Voice.load("voices/default")            # provider="auto": TensorRT → CUDA → CPU
    for chunk in voice.synthesize("今天天气很好。"):
        play(chunk.audio)                             # float32 at voice.config.sample_rate
    write_wav("out.wav", voice.synthesize("你好"), voice.config.sample_rate)

The one engine, whatever drives it (``synthesize``, the service's batched scheduler, Triton, the
benchmarks). Text → audio goes through one path:

1. the front-end turns text into utterances (clauses), sentence by sentence;
2. ``encode``: per clause, the text encoder runs once and the numpy length regulator turns its
   durations into every frame's text context;
3. ``decode_batch``: the decoder step runs once per r frames over a batch of clauses (of one
   request, or of several requests in the service), yielding ``ClauseStart`` / ``Frames`` /
   ``ClauseEnd`` events per clause;
4. the vocoding pipeline (``edgetts.engine.pipeline``) hands each clause's events to its
   ``ClauseAudio`` (``edgetts.engine.clause_audio``), in a thread per clause, and yields the chunks in
   clause order: the first chunk arrives long before the clause is decoded.

The same text, options and variant give the same samples, streamed or whole, batched or alone,
idle or under load: vocoder calls are sized from frame counts, and a clause's frames are the same
in a batch (see ``decode_batch`` for the tolerance where they are not bit-identical).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Callable, Dict, Generator, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import graphs, prosody
from . import manifest as manifest_io
from .audio import AudioChunk, AudioStream
from .bundle import locate
from .clause_audio import ClauseAudio, ClauseAudios
from .compat import candidates
from ..config import EngineOptions, GraphInfo, SynthesisOptions, VoiceConfig
from .decoder import StepDecoder, device_of, open_decoder
from ..errors import BundleError, ProviderError
from .events import ClauseEnd, ClauseStart, Event, Frames
from ..text.frontend import Frontend, FrontendOptions, Utterance
from ..text.lexicon import Lexicon
from .pipeline import ClausePipeline, Cores
from .providers import PROVIDERS, resolve
from .regulator import durations, regulate
from .variants import VARIANTS
from .vocoder import OnnxVocoder, StatefulVocoder, StreamingVocoder, Vocoder

log = logging.getLogger(__name__)


class ClauseTask(NamedTuple):
    """One row of a decoder batch: clause `clause` of its request, and whether it is the last."""

    clause: int
    utterance: Utterance
    options: SynthesisOptions
    last: bool


class RowEvent(NamedTuple):
    """An event of row `row` of a decoder batch."""

    row: int
    event: Event


class Voice:
    def __init__(self, bundle: str, config: VoiceConfig, sessions: dict, variant: str,
                 providers: List[str], engine: Optional[EngineOptions] = None):
        self.lexicon: Optional[Lexicon] = None  # the default for requests that give none
        self.bundle = bundle
        self.config = config
        self.variant = variant
        self.providers = providers  # what the sessions really run on, best first
        self.sessions = sessions    # role → ONNX Runtime session (profilers read them)
        self.engine = engine or EngineOptions()
        info = config.graphs[variant]["decoder_step"]
        cores = os.cpu_count() or 1
        self.parallel_clauses = self.engine.clauses_at_once(cores)
        # A variant that is not batch-invariant (dynamic INT8) decodes alone: a clause's frames
        # would depend on the clause batched with it. So do GPUs: a batch of two is a new input
        # shape, for which TensorRT would build an engine inside a request (warmup() covers the
        # shapes of one clause at a time). A group is at most the clauses in hand at once (the
        # pipeline opens a group's clauses together).
        known = VARIANTS.get(variant)
        self.batch_invariant = known.batch_invariant if known else info.precision != "int8"
        single = not self.batch_invariant or device_of(providers) != "cpu"
        self.decode_group = 1 if single else min(self.engine.decode_group, self.parallel_clauses)
        # every pipeline of this voice shares the cores (edgetts.engine.pipeline.ClausePipeline)
        self.cores = Cores(cores)
        self._warned: set = set()
        self._open_stages()

    def _open_stages(self) -> None:
        c, info = self.config, self.config.graphs[self.variant]["decoder_step"]
        self.decoder: StepDecoder = open_decoder(self.sessions["decoder_step"], c.cache, info.cache == "static",
                                                 c.mel_bins, c.reduction_factor, device_of(self.providers),
                                                 self.engine.io_binding)
        self.vocoder: Vocoder = _vocoder(self.sessions, c)

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Optional[str] = None, provider: str = "auto", variant: Optional[str] = None,
             engine: Optional[EngineOptions] = None) -> "Voice":
        """Verify the bundle, pick providers and the matching variant, open the sessions.

        ``engine``: how the voice runs (threads, clauses at once; ``EngineOptions``).
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
        engine = engine or EngineOptions()
        failed: List[str] = []
        for v in order:
            roles = _roles(config.graphs[v], engine.windowed_vocoder)
            manifest_io.verify(bundle, roles.values())  # corrupt: no fallback
            try:
                sessions = _open_sessions(bundle, roles, chosen, engine.threads)
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
        # the normalizer's grammars load on the first text that needs them, or in
        # warmup() for a service: a one-shot `say` of plain Han text never pays for them
        really = sessions["decoder_step"].get_providers()
        if really[0] != chosen[0]:
            msg = "asked for %s, the session runs on %s" % (chosen[0], really[0])
            if provider != "auto":
                raise ProviderError(msg)
            log.warning(msg)
        return cls(bundle, config, sessions, v, really, engine)

    def reopen(self, configure: Callable[[str, object], None]) -> None:
        """Reopen every session on the same providers with its options changed by
        ``configure(role, session_options)``: for tools that profile the sessions or try
        another thread layout."""
        import onnxruntime as ort

        for role, info in _roles(self.config.graphs[self.variant], self.engine.windowed_vocoder).items():
            old = self.sessions[role]
            so = old.get_session_options()
            configure(role, so)
            opts = old.get_provider_options()
            self.sessions[role] = ort.InferenceSession(
                os.path.join(self.bundle, info.file), so,
                providers=[(p, opts.get(p, {})) for p in old.get_providers()])
        self._open_stages()

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
                   pipeline: bool = True) -> AudioStream:
        """Yield audio chunks for `text` (or prepared utterances) as they are ready.

        The front-end runs now, so bad text raises FrontendError here, before any audio. With
        `pipeline` a decoder thread runs the encoder and the decoder steps of every clause while
        up to ``parallel_clauses`` clauses are vocoded at once in threads of their own
        (``edgetts.engine.pipeline``), their chunks handed out in order; memory stays bounded on long
        text, and closing the iterator early stops the threads. Without it, this thread decodes
        and vocodes in turn. Both give the same samples.
        """
        o = options or SynthesisOptions()
        self.controls(o)  # a control the voice lacks fails now, before any audio
        if isinstance(text, str):
            rest = self.frontend(o).iter_utterances(text)
            utts: Iterable[Utterance] = itertools.chain([next(rest)], rest)  # raises on bad text
        else:
            utts = list(text)
            if not utts:
                raise ValueError("no utterances to synthesize")
        events = self.decode(utts, o)
        if not pipeline:
            return self._in_turn(events, o)
        return self.pipeline(o).feed(events).chunks()

    def pipeline(self, options: SynthesisOptions, width: Optional[int] = None) -> ClausePipeline:
        """A vocoding pipeline for one request (up to `width` clauses at once, by default
        ``parallel_clauses``), to be fed that request's decoder events in clause order."""
        return ClausePipeline(self.clause_audios(options), width or self.parallel_clauses, self.cores)

    def clause_audios(self, options: SynthesisOptions) -> Callable[[ClauseStart], Callable]:
        """A request's per-clause vocoders: ``ClauseStart`` → the ``event`` of a fresh
        ``ClauseAudio`` (call in clause order)."""
        make = ClauseAudios(self.config, self.vocoder, options)
        return lambda start: make(start).event

    def _in_turn(self, events: Iterable[Event], o: SynthesisOptions) -> Generator[AudioChunk, None, None]:
        """Decode and vocode in this thread; a later clause's chunks wait for the clauses before
        it (the clauses of a group interleave)."""
        make = ClauseAudios(self.config, self.vocoder, o)
        clauses: Dict[int, ClauseAudio] = {}
        held: Dict[int, List[AudioChunk]] = {}
        ended: set = set()
        nxt = 0  # the clause whose chunks are handed out now
        for event in events:
            if isinstance(event, ClauseStart):
                clauses[event.clause] = make(event)
                held[event.clause] = []
                continue
            held[event.clause] += clauses[event.clause].event(event)
            if isinstance(event, ClauseEnd):
                ended.add(event.clause)
                del clauses[event.clause]
            while nxt in held:
                yield from held[nxt]
                held[nxt] = []
                if nxt not in ended:
                    break
                del held[nxt]
                nxt += 1

    # Seconds per character the estimate below assumes at speed 1: above the default voice's own
    # pace (docs/service.md), so an estimate is an upper bound for ordinary text.
    SECONDS_PER_CHAR = 0.3

    def estimate_seconds(self, utts: Sequence[Utterance], options: Optional[SynthesisOptions] = None) -> float:
        """The audio `utts` will make, estimated before synthesis: every pause exactly (SSML
        breaks included), speech at ``SECONDS_PER_CHAR`` divided by the speed and SSML rate."""
        speed = (options.speed if options and options.speed else None) or self.config.speed
        speed *= self.controls(options).speed
        total = 0.0
        for u in utts:
            rate = (sum(u.symbol_rate) / len(u.symbol_rate)) if u.symbol_rate else 1.0
            total += len(u.spoken) * self.SECONDS_PER_CHAR / (rate * speed) + u.pause_after
        return total

    def encode(self, utt: Utterance, o: SynthesisOptions):
        """One clause through the text encoder and the length regulator → (text context
        ``[N, r, D]``, progress ``[N, r, 2]``, symbol index of every frame)."""
        c = self.config
        ids = np.asarray([utt.ids], np.int64)
        feed = dict(zip(graphs.ENCODER_INPUTS, (ids, np.array([ids.shape[1]], np.int64))))
        controls = self.controls(o)
        if "prosody" in self.sessions:
            memory, log_dur, pitch, energy = self.sessions["text_encoder"].run(
                graphs.ENCODER_OUTPUTS + graphs.PROSODY_OUTPUTS, feed)
            pitch, energy = prosody.edit(pitch[0], energy[0], controls, utt.symbol_prosody, c.prosody)
            memory = self.sessions["prosody"].run(graphs.PROSODY_STATES, dict(zip(
                graphs.PROSODY_INPUTS, (memory, pitch[None], energy[None]))))[0]
        else:
            if not prosody.per_symbol_neutral(utt.symbol_prosody):
                self._warn_once("ssml", "SSML pitch, range and emphasis are ignored: voice %s has "
                                "no prosody controls" % c.name)
            memory, log_dur = self.sessions["text_encoder"].run(graphs.ENCODER_OUTPUTS, feed)
        speed: Union[float, np.ndarray] = (o.speed or c.speed) * controls.speed
        if utt.symbol_rate is not None:  # SSML prosody rate, per symbol
            speed = speed * np.asarray(utt.symbol_rate, np.float64)
        dur = durations(log_dur[0], speed, o.max_frames_per_symbol or c.max_frames_per_symbol)
        return regulate(memory[0], dur, c.reduction_factor)

    def controls(self, options: Optional[SynthesisOptions]) -> prosody.Controls:
        """The prosody controls `options` ask for, with their preset's (raises ControlError
        naming a control this voice lacks or a value outside its range)."""
        o = options or SynthesisOptions()
        return prosody.resolve(self.config.prosody, o.pitch, o.pitch_range, o.energy, o.emotion)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def decode_batch(self, tasks: Sequence[ClauseTask],
                     keep: Optional[Callable[[int], bool]] = None) -> Iterator[RowEvent]:
        """The decoder stage for a batch of clauses, of one request or of several: per row a
        ``ClauseStart``, its ``Frames`` step by step, and a ``ClauseEnd`` carrying its last
        step's frames, rows interleaved step by step.

        A step's cost is mostly reading the decoder's weights, which a batch reads once, so
        clauses decode together in little more than the time of one. Shorter clauses are padded
        at their end and their padded steps dropped; decoding is causal, so the padding cannot
        change their frames. With the FP32 and FP16 graphs on ONNX Runtime's CPU provider, every
        row's frames are bit-identical to that clause decoded alone (tests/test_determinism.py
        checks it); dynamic INT8 is not batch-invariant (one activation scale for the batch), so
        INT8 voices never batch (``batch_invariant``).

        ``keep(row)``, asked before each of a row's events after its start: False drops the row
        from then on (its client went away); the loop stops when no row is left.
        """
        encoded = [self.encode(t.utterance, t.options) for t in tasks]
        for j, (t, (_, _, sym)) in enumerate(zip(tasks, encoded)):
            yield RowEvent(j, ClauseStart(t.clause, t.utterance, sym))
        steps = [len(ctx) for ctx, _, _ in encoded]
        totals = [len(sym) for _, _, sym in encoded]
        n = max(steps)
        ctx = np.zeros((len(tasks), n) + encoded[0][0].shape[1:], np.float32)
        prog = np.zeros((len(tasks), n) + encoded[0][1].shape[1:], np.float32)
        for j, (c, p, _) in enumerate(encoded):  # shorter clauses padded at their end
            ctx[j, :len(c)], prog[j, :len(p)] = c, p
        live = [True] * len(tasks)
        pushed = [0] * len(tasks)
        for step, frames in enumerate(self.decoder.batch_frames(ctx, prog)):
            for j, t in enumerate(tasks):
                if not live[j] or step >= steps[j]:
                    continue
                if keep is not None and not keep(j):
                    live[j] = False
                    continue
                take = frames[j][: totals[j] - pushed[j]]  # the last step's padding frames go
                pushed[j] += len(take)
                if step == steps[j] - 1:
                    yield RowEvent(j, ClauseEnd(t.clause, t.last, take))
                else:
                    yield RowEvent(j, Frames(t.clause, take))
            if not any(live[j] and step < steps[j] - 1 for j in range(len(tasks))):
                break

    def decode(self, utts: Iterable[Utterance], o: SynthesisOptions) -> Iterator[Event]:
        """One request's decoder stage: its clauses through ``decode_batch``, up to
        ``decode_group`` clauses of one sentence at a time (the front-end has read the whole
        sentence by then). Sentences after the first are normalized here, in the decoder
        thread, while earlier ones are being spoken."""
        it = iter(utts)
        nxt: Optional[Utterance] = next(it, None)
        ui = 0
        while nxt is not None:
            batch = [nxt]
            while len(batch) < self.decode_group and not batch[-1].ends_sentence:
                more = next(it, None)
                if more is None:
                    break
                batch.append(more)
            nxt = None
            tasks = [ClauseTask(ui + j, u, o, False) for j, u in enumerate(batch)]
            for row, event in self.decode_batch(tasks):
                if isinstance(event, ClauseEnd) and row == len(batch) - 1:
                    nxt = next(it, None)  # is this the request's last clause?
                    event = event._replace(last=nxt is None)
                yield event
            ui += len(batch)

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
        from ..text import normalize

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


def _roles(graphs: Dict[str, GraphInfo], windowed: bool = False) -> Dict[str, GraphInfo]:
    """The graphs of a variant that get a session: where a streaming vocoder is there, it is
    the vocoder (it also vocodes whole utterances), and the windowed one is not opened (unless
    `windowed` asks for it instead)."""
    if "vocoder_stream" in graphs:
        drop = "vocoder_stream" if windowed else "vocoder"
        return {r: g for r, g in graphs.items() if r != drop}
    return dict(graphs)


def _vocoder(sessions: dict, config: VoiceConfig) -> Union[OnnxVocoder, StatefulVocoder]:
    if "vocoder_stream" in sessions:
        try:
            return StatefulVocoder(sessions["vocoder_stream"], config.hop, config.min_frames,
                                   config.stream_first_frames)
        except (ValueError, StopIteration) as exc:  # a graph of another kind in the slot
            raise BundleError("the vocoder_stream graph is not a streaming vocoder (%s); re-export the "
                              "voice with `make export`" % (str(exc) or "it has no mel input"))
    return OnnxVocoder(session=sessions["vocoder"], hop=config.hop, min_frames=config.min_frames)


def _open_sessions(bundle: str, roles: Dict[str, GraphInfo], chosen: List[str], threads: int) -> dict:
    """One ONNX Runtime session per graph in `roles` on the providers ``chosen``."""
    import onnxruntime as ort

    # The encoder and decoder step are small graphs run once per clause / per 3 frames: one
    # thread each is fastest (a thread pool's hand-offs cost more than the tiny matmuls gain;
    # docs/design.md has the figures). The vocoder gets the cores left beside the pipelined
    # decoder thread, or `threads`.
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

    # in parallel: ONNX Runtime releases the GIL while it builds a session
    from concurrent.futures import ThreadPoolExecutor

    items = list(roles.items())
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        opened = list(pool.map(open_one, items))
    return {role: s for (role, _), s in zip(items, opened)}
