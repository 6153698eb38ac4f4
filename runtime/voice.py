"""``Voice``: a voice bundle loaded into ONNX Runtime sessions; ``synthesize()`` streams audio.

    voice = Voice.load("voices/default")            # provider="auto": TensorRT → CUDA → CPU
    for chunk in voice.synthesize("今天天气很好。"):
        play(chunk.audio)                             # float32 at voice.config.sample_rate
    write_wav("out.wav", voice.synthesize("你好"), voice.config.sample_rate)

Per utterance (a clause of the text): the text encoder runs once, the numpy length regulator
turns its durations into every frame's text context, the decoder step runs once per r frames,
and the streaming vocoder turns frames into audio as soon as they have enough right context, so
the first chunk arrives long before the clause is decoded. The pause that ended the clause
follows as silence.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, List, Optional, Union

import numpy as np

from . import manifest as manifest_io
from .bundle import locate
from .config import SynthesisOptions, VoiceConfig
from .decoder import StepDecoder, device_of
from .errors import BundleError, ProviderError
from .frontend import Frontend, FrontendOptions
from .providers import PROVIDERS, resolve
from .regulator import durations, regulate
from .vocoder import OnnxVocoder, StreamingVocoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioChunk:
    """A piece of the utterance ``utterance`` (index) whose spoken text is ``text``.

    ``audio`` is float32 mono in [-1, 1]; ``text[char_start:char_end]`` are the characters whose
    sounds it carries (for captions and lip-sync; empty for pauses); ``final`` marks the last
    chunk of the whole request.
    """

    audio: np.ndarray
    sample_rate: int
    utterance: int
    text: str
    char_start: int
    char_end: int
    final: bool = False


class Voice:
    def __init__(self, bundle: str, config: VoiceConfig, sessions: dict, variant: str,
                 providers: List[str]):
        self.bundle = bundle
        self.config = config
        self.variant = variant
        self.providers = providers  # what the sessions really run on, best first
        self._sessions = sessions
        info = config.graphs[variant]["decoder_step"]
        self._decoder = StepDecoder(sessions["decoder_step"], config.cache, info.cache == "static",
                                    config.mel_bins, config.reduction_factor, device_of(providers))
        self._vocode = OnnxVocoder(session=sessions["vocoder"], hop=config.hop,
                                   min_frames=config.min_frames)

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Optional[str] = None, provider: str = "auto", variant: Optional[str] = None,
             threads: int = 0) -> "Voice":
        """Verify the bundle, pick providers and the matching variant, open the sessions.

        ``variant``: fp32 / int8 (CPU), fp16 / nano (GPU); default fp16 on a GPU, fp32 otherwise.
        An explicitly requested provider that does not really run raises ProviderError.
        """
        import onnxruntime as ort

        bundle = locate(path)
        config = manifest_io.load(bundle)
        chosen = resolve(provider)
        on_gpu = chosen[0] != PROVIDERS["cpu"]
        if variant is None:
            variant = "fp16" if on_gpu and "fp16" in config.graphs else "fp32"
        if variant not in config.graphs:
            raise BundleError("voice %r has no %r graphs (it has: %s)"
                              % (bundle, variant, ", ".join(sorted(config.graphs))))
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3
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
        sessions = {}
        for role, info in config.graphs[variant].items():
            try:
                sessions[role] = ort.InferenceSession(os.path.join(bundle, info.file), so,
                                                      providers=provider_list)
            except Exception as exc:
                raise BundleError("cannot open %s: %s" % (info.file, str(exc).splitlines()[0]))
        from . import normalize

        normalize.backend()  # load the grammars now, not inside the first request
        really = sessions["decoder_step"].get_providers()
        if really[0] != chosen[0]:
            msg = "asked for %s, the session runs on %s" % (chosen[0], really[0])
            if provider != "auto":
                raise ProviderError(msg)
            log.warning(msg)
        return cls(bundle, config, sessions, variant, really)

    # -- synthesis -------------------------------------------------------------------------------

    def synthesize(self, text: str, options: Optional[SynthesisOptions] = None) -> Iterator[AudioChunk]:
        """Yield audio chunks for `text` as they are ready (raises FrontendError on bad text)."""
        o = options or SynthesisOptions()
        c = self.config
        speed = o.speed or c.speed
        max_per = o.max_frames_per_symbol or c.max_frames_per_symbol
        first = o.first_chunk_frames or c.first_chunk_frames
        chunk = o.chunk_frames or c.chunk_frames
        utts = Frontend(FrontendOptions(unknown=o.unknown))(text)
        enc = self._sessions["text_encoder"]
        for ui, utt in enumerate(utts):
            last_utt = ui == len(utts) - 1
            ids = np.asarray([utt.ids], np.int64)
            memory, log_dur = enc.run(["memory", "log_durations"],
                                      {"phoneme_ids": ids, "phoneme_lengths": np.array([ids.shape[1]], np.int64)})
            dur = durations(log_dur[0], speed, max_per)
            context, progress, sym = regulate(memory[0], dur, c.reduction_factor)
            total = len(sym)
            stream = StreamingVocoder(self._vocode, c.context_frames, c.hop, chunk, first)
            done = 0  # frames whose audio was yielded
            pushed = 0
            for frames in self._decoder.frames(context, progress):
                take = frames[: max(0, total - pushed)]
                pushed += len(take)
                audio = stream.push(take) if len(take) else np.zeros(0, np.float32)
                if audio.size:
                    yield self._chunk(audio, ui, utt, sym, done, stream.frames_emitted, False)
                    done = stream.frames_emitted
            audio = stream.finish()
            if audio.size:
                yield self._chunk(audio, ui, utt, sym, done, stream.frames_emitted, False)
            pause = np.zeros(int(round(utt.pause_after * c.sample_rate)), np.float32)
            yield AudioChunk(pause, c.sample_rate, ui, utt.spoken, len(utt.spoken),
                             len(utt.spoken), last_utt)

    def _chunk(self, audio, ui, utt, sym, a, b, final) -> AudioChunk:
        chars = [utt.symbol_chars[s] for s in sym[a:b] if utt.symbol_chars[s] >= 0]
        lo, hi = (min(chars), max(chars) + 1) if chars else (0, 0)
        return AudioChunk(audio.astype(np.float32, copy=False), self.config.sample_rate, ui,
                          utt.spoken, lo, hi, final)

    def synthesize_array(self, text: str, options: Optional[SynthesisOptions] = None) -> np.ndarray:
        parts = [c.audio for c in self.synthesize(text, options)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def write_wav(target: Union[str, BinaryIO], chunks: Iterable[AudioChunk], sample_rate: int) -> float:
    """Write chunks as 16-bit PCM WAV to a path or binary file object; return seconds written."""
    import soundfile as sf

    audio = [c.audio for c in chunks]
    data = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    sf.write(target, np.clip(data, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return len(data) / float(sample_rate)


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def timed(chunks: Iterable[AudioChunk]):
    """Wrap a chunk stream, recording first-audio latency and total time (for `say -v`)."""
    start = time.perf_counter()
    stats = {"first_audio_s": None, "seconds": 0.0, "audio_s": 0.0}

    def gen():
        for ch in chunks:
            if stats["first_audio_s"] is None and ch.audio.size and np.any(ch.audio):
                stats["first_audio_s"] = time.perf_counter() - start
            stats["audio_s"] += len(ch.audio) / float(ch.sample_rate)
            yield ch
        stats["seconds"] = time.perf_counter() - start

    return gen(), stats
