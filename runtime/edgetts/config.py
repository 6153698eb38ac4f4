"""The configurations: the voice (read from its manifest), the request (None = voice default) and
the engine (how a loaded voice runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


# What the front-end does with characters the voice cannot say (frontend.py explains each).
# spell: Latin letters spelled one by one (the default); read: Latin words read as Mandarin speakers
# say them (text/english.py); skip, strict: see text/frontend.py
UNKNOWN_POLICIES = ("spell", "read", "skip", "strict")

# The speaking rate a request may ask for (1 = the voice's own; durations are divided by it), on
# every interface: SynthesisOptions, the CLI, the HTTP schema, SSML <prosody rate>, Triton.
SPEED_MIN, SPEED_MAX = 0.25, 4.0

# What a prosody control may ask for (edgetts.engine.prosody; a voice's manifest may narrow it):
# pitch in semitones, pitch_range and energy as factors (1 = the voice's own).
PROSODY_LIMITS = {"pitch": (-8.0, 8.0), "pitch_range": (0.0, 2.5), "energy": (0.25, 3.0)}


@dataclass(frozen=True)
class CacheLayout:
    """KV cache of the decoder step: per layer a key and a value ``[B, heads, T, head_dim]``."""

    layers: int
    heads: int
    head_dim: int
    max_steps: int
    past_key: str
    past_value: str
    present_key: str
    present_value: str

    def past_names(self) -> List[str]:
        out = []
        for i in range(self.layers):
            out += [self.past_key.format(i=i), self.past_value.format(i=i)]
        return out

    def present_names(self) -> List[str]:
        out = []
        for i in range(self.layers):
            out += [self.present_key.format(i=i), self.present_value.format(i=i)]
        return out


@dataclass(frozen=True)
class GraphInfo:
    file: str
    sha256: str
    precision: str
    opset: int
    cache: Optional[str] = None  # "dynamic" or "static" for the decoder step
    ir_version: int = 8
    min_onnxruntime: str = "1.11"  # the oldest ONNX Runtime release that opens it (compat.py)
    providers: Tuple[str, ...] = ()  # what it is meant for: tensorrt, cuda, cpu
    inputs: Dict[str, list] = field(default_factory=dict)   # name → dims (ints or axis names)
    outputs: Dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class VoiceConfig:
    name: str
    language: str
    sample_rate: int
    hop: int
    mel_bins: int
    reduction_factor: int
    d_model: int
    symbols: List[str]
    graphs: Dict[str, Dict[str, GraphInfo]]   # variant → role → graph
    cache: CacheLayout
    context_frames: int      # vocoder (postnet + MB-MelGAN) receptive field, frames either side
    min_frames: int          # shortest mel the vocoder graph accepts
    speed: float
    max_frames_per_symbol: int
    first_chunk_frames: int
    chunk_frames: int
    validation: Dict[str, Any] = field(default_factory=dict)  # the exporter's parity figures
    provenance: Dict[str, Any] = field(default_factory=dict)  # where the weights came from
    # fewest frames the first call of the streaming vocoder (role vocoder_stream) may take
    stream_first_frames: int = 0
    # pitch/energy controls and presets (edgetts.engine.prosody.ProsodySpec); None: the voice
    # has none (exported without prosody)
    prosody: Optional[Any] = None


@dataclass(frozen=True)
class SynthesisOptions:
    """Per-request options; None takes the voice's default.

    ``speed`` > 1 speaks faster (durations are divided by it). ``unknown`` is the front-end's
    policy for characters the voice cannot say: spell, read, skip or strict. ``ssml`` forces SSML on
    or off; ``lexicon`` gives words fixed readings or aliases. ``pitch`` (semitones),
    ``pitch_range`` and ``energy`` (factors, 1 = the voice's own) and ``emotion`` (a preset of the
    voice) need a voice with prosody controls (``edgetts.engine.prosody``).
    """

    speed: Optional[float] = None
    max_frames_per_symbol: Optional[int] = None
    first_chunk_frames: Optional[int] = None
    chunk_frames: Optional[int] = None
    max_chunk_frames: Optional[int] = None
    unknown: str = "spell"
    ssml: Optional[bool] = None     # None: SSML when the text starts with <speak
    lexicon: Optional[Any] = None   # a lexicon.Lexicon; None: the voice's (Voice.lexicon)
    pitch: Optional[float] = None        # semitones, + is higher
    pitch_range: Optional[float] = None  # 0 flat, 1 the voice's own, 1.5 livelier
    energy: Optional[float] = None       # factor on the predicted energy
    emotion: Optional[str] = None        # a preset of the voice (edgetts voices lists them)

    def __post_init__(self) -> None:
        if self.speed is not None and not (SPEED_MIN <= self.speed <= SPEED_MAX):
            raise ValueError("speed must be between %s and %s, got %r" % (SPEED_MIN, SPEED_MAX, self.speed))
        for name in ("max_frames_per_symbol", "first_chunk_frames", "chunk_frames", "max_chunk_frames"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError("%s must be at least 1, got %r" % (name, v))
        for name, (lo, hi) in PROSODY_LIMITS.items():
            v = getattr(self, name)
            if v is not None and not (lo <= v <= hi):
                raise ValueError("%s must be between %s and %s, got %r" % (name, lo, hi, v))


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs a voice (never what it says): fixed when the voice loads.

    ``threads``: intra-op threads of the vocoder (0: the cores beside the decoder's one).
    ``parallel_clauses``: clauses of a request vocoded at once by a pipelined ``synthesize``
    (0: 4 on a multi-core machine, 1 on one core). ``decode_group``: clauses of one sentence
    decoded together as one batch where that leaves every clause's frames as they are alone
    (the FP32 and FP16 CPU decoders; INT8 and GPU voices decode one at a time); at most
    ``parallel_clauses``. ``io_binding``: keep the static caches bound to the session (None: on
    a GPU). ``windowed_vocoder``: vocode overlapping windows with the whole-utterance graph
    even where the voice has a stateful streaming one (for comparisons).
    """

    threads: int = 0
    parallel_clauses: int = 0
    decode_group: int = 2
    io_binding: Optional[bool] = None
    windowed_vocoder: bool = False

    def __post_init__(self) -> None:
        for name in ("threads", "parallel_clauses"):
            if getattr(self, name) < 0:
                raise ValueError("%s must be >= 0, got %r" % (name, getattr(self, name)))
        if self.decode_group < 1:
            raise ValueError("decode_group must be >= 1, got %r" % (self.decode_group,))

    def clauses_at_once(self, cores: int) -> int:
        """``parallel_clauses``, or its default for a machine with `cores` cores."""
        return self.parallel_clauses or (4 if cores >= 2 else 1)
