"""The command line's shared options, declared once: every command that opens a voice takes the
same ``--voice/--provider/--variant``, every server the same limits, with their defaults read from
the modules that use them."""

from __future__ import annotations

import click

from ..config import SPEED_MAX, SPEED_MIN, UNKNOWN_POLICIES
from ..engine.variants import VARIANTS
from ..engine.providers import PROVIDERS
from ..serving.limits import CACHE_MB, MAX_AUDIO_SECONDS, MAX_QUEUE, MAX_TEXT_CHARS, REQUEST_TIMEOUT_S

PROVIDER_CHOICES = ("auto",) + tuple(PROVIDERS)
VARIANT_CHOICES = tuple(VARIANTS)


def _stack(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


voice = click.option("--voice", "voice", default=None, metavar="FOLDER",
                     help="Voice bundle folder (default: $EDGETTS_VOICE, ./voices/default, "
                          "~/.local/share/edgetts/voices/default).")
provider = click.option("--provider", type=click.Choice(PROVIDER_CHOICES), default="auto", show_default=True,
                        help="ONNX Runtime execution provider (auto: TensorRT, CUDA, then the CPU).")
variant = click.option("--variant", type=click.Choice(VARIANT_CHOICES), default=None,
                       help="Graph precision (default: fp16 on a GPU, nano where the runtime is too old "
                            "for it, fp32 on the CPU).")
# the voice a command opens
voice_options = _stack(voice, provider, variant)

threads = click.option("--threads", type=click.IntRange(0, 256), default=0,
                       help="Vocoder threads (0 = the cores beside the decoder's one).")
speed = click.option("--speed", type=click.FloatRange(SPEED_MIN, SPEED_MAX), default=None,
                     help="Speaking rate, 1 = normal.")
unknown = click.option("--unknown", type=click.Choice(UNKNOWN_POLICIES), default="spell", show_default=True,
                       help="What to do with characters the voice cannot say.")
ssml = click.option("--ssml/--no-ssml", default=None,
                    help="Read the text as SSML, or as plain text (default: SSML when it starts with <speak).")
lexicon = click.option("--lexicon", type=click.Path(dir_okay=False), default=None,
                       envvar="EDGETTS_LEXICON", show_envvar=True,
                       help="User lexicon: word<TAB>pinyin or word<TAB>=alias lines.")


def _control(parse):
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc))
    return convert


def _prosody_parsers():
    from ..engine import prosody as p

    return (lambda v: p.parse_pitch(v, "--pitch"),
            lambda v: p.parse_factor(v, "pitch_range", "--pitch-range", p.RANGE_WORDS),
            lambda v: p.parse_factor(v, "energy", "--energy"))


_PITCH, _RANGE, _ENERGY = _prosody_parsers()
# the prosody controls of a voice that has them (edgetts.engine.prosody has the units)
prosody = _stack(
    click.option("--pitch", default=None, metavar="SHIFT", callback=_control(_PITCH),
                 help="Pitch shift: +2st, -3st, +10%, or x-low/low/medium/high/x-high."),
    click.option("--pitch-range", default=None, metavar="FACTOR", callback=_control(_RANGE),
                 help="Intonation range: 130%, +30%, 0% (flat), 1.3, or x-low ... x-high."),
    click.option("--energy", default=None, metavar="FACTOR", callback=_control(_ENERGY),
                 help="Energy: 110%, +10%, 0.9."),
    click.option("--emotion", default=None, metavar="PRESET",
                 help="A prosodic style of the voice (edgetts voices lists them), e.g. cheerful, "
                      "calm, 开心; the options above compose with it."),
)


def service_limits(f):
    """The limits both servers (``serve``, ``triton``) take, defaults from the service core."""
    return _stack(
        click.option("--max-queue", type=click.IntRange(1, 10000), default=MAX_QUEUE, show_default=True,
                     help="Requests that may wait; more get 503 with Retry-After."),
        click.option("--max-text", type=click.IntRange(1, 1 << 20), default=MAX_TEXT_CHARS, show_default=True,
                     help="Characters per request (more gets 413)."),
        click.option("--max-audio-seconds", "max_audio_s", type=click.FloatRange(1, 86400),
                     default=MAX_AUDIO_SECONDS, show_default=True,
                     help="Seconds of speech a request may ask for, estimated before synthesis "
                          "(pauses and rate included; more gets 413)."),
        click.option("--timeout", "timeout_s", type=click.FloatRange(1, 3600), default=REQUEST_TIMEOUT_S,
                     show_default=True, help="Seconds a request may take (504 after that)."),
        click.option("--cache-mb", type=click.IntRange(0, 1 << 20), default=CACHE_MB, show_default=True,
                     help="Memory phrase cache size."),
    )(f)
