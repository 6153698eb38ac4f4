"""SSML → spans of text with a fixed reading, a speaking rate, a volume, or a pause.

Text whose first non-blank characters are ``<speak`` is SSML (``is_ssml``). Supported, as
Chinese voice applications use them::

    <speak>
      <p><s>您的验证码是<say-as interpret-as="digits">384756</say-as>。</s></p>
      <break time="500ms"/>  <break strength="strong"/>
      <sub alias="微信">WeChat</sub>  <phoneme alphabet="pinyin" ph="hang2">行</phoneme>
      <prosody rate="slow" volume="+6dB">请注意安全</prosody>
    </speak>

- ``say-as interpret-as``: digits, characters, telephone, cardinal, date (``format`` ymd, mdy,
  dmy, ym, md), time.
- ``break``: ``time`` (``500ms``, ``1.5s``, at most 10 s) or ``strength`` (none … x-strong).
- ``prosody``: ``rate`` (x-slow … x-fast, ``80%``, ``+20%``, ``1.2``), ``volume`` (silent …
  x-loud, ``+6dB``, ``50%``, ``+10%``), ``pitch`` (x-low … x-high, ``+2st``, ``-10%``) and
  ``range`` (x-low … x-high, ``130%``, ``+30%``); nested prosody composes (rates, volumes and
  ranges multiply, pitch shifts add). Pitch and range need a voice with prosody controls
  (``edgetts.engine.prosody``); other voices ignore them with a warning.
- ``emphasis level``: strong, moderate (the default), none, reduced: a wider or narrower
  intonation range, more or less energy and a little more or less time.
- ``p`` and ``s`` end with a paragraph or sentence pause.

Parsing is safe: ``defusedxml`` refuses DTDs, entities and external references, the input is
bounded in size and nesting depth. Malformed SSML or an attribute value that cannot be used
raises ``SSMLError`` naming the element and the problem; an element we do not support is read
as its text, with a warning naming it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from ..config import SPEED_MAX, SPEED_MIN
from ..errors import SSMLError

log = logging.getLogger(__name__)

MAX_SSML_CHARS = 1 << 20
MAX_DEPTH = 32
MAX_BREAK_S = 10.0
SENTENCE_PAUSE = 0.35   # as a full stop (sentences.LONG_PAUSE)
PARAGRAPH_PAUSE = 0.6

BREAK_STRENGTH = {"none": 0.0, "x-weak": 0.05, "weak": 0.1, "medium": 0.15, "strong": 0.35,
                  "x-strong": 0.7}
RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.3, "x-fast": 1.6}
VOLUME_WORDS = {"silent": 0.0, "x-soft": 0.3, "soft": 0.6, "medium": 1.0, "default": 1.0,
                "loud": 1.5, "x-loud": 2.0}
SAY_AS = ("digits", "characters", "telephone", "cardinal", "date", "time")
IGNORED_QUIETLY = {"speak", "mark"}  # containers with nothing to say themselves


@dataclass(frozen=True)
class Span:
    """A piece of the text and how to read it. ``pause`` spans carry no text: silence."""

    text: str = ""
    pinyin: Optional[Tuple[str, ...]] = None  # a fixed reading (phoneme, lexicon)
    rate: float = 1.0                         # speaking rate, multiplies the request's speed
    volume: float = 1.0                       # gain on the audio
    pitch: float = 0.0                        # semitones (prosody pitch), nested spans add
    range: float = 1.0                        # intonation range factor (prosody range, emphasis)
    energy: float = 1.0                       # energy factor (emphasis)
    pause: Optional[float] = None             # seconds of silence (break, end of s/p)
    explicit: bool = False                    # a <break>: its pause replaces the ones beside it

    @property
    def prosody(self) -> Tuple[float, float, float]:
        return (self.pitch, self.range, self.energy)


_PROLOG = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!DOCTYPE|<speak)")


def is_ssml(text: str) -> bool:
    """SSML starts with ``<speak`` (after an optional XML declaration; a DOCTYPE counts too,
    so that it is refused as SSML rather than read out)."""
    return _PROLOG.match(text) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")

# dB a <prosody volume> may give, either way: +40 dB is 100x the amplitude, far past clipping
MAX_VOLUME_DB = 40.0


def parse(text: str) -> List[Span]:
    """SSML text → spans in reading order (raises SSMLError)."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as safe_et
    from defusedxml import DefusedXmlException

    if len(text) > MAX_SSML_CHARS:
        raise SSMLError("SSML is %d characters, the limit is %d" % (len(text), MAX_SSML_CHARS))
    bad = _SURROGATE.search(text)
    if bad:  # XML is Unicode text: a lone surrogate half is not a character
        raise SSMLError("SSML holds a lone surrogate %s at character %d, which is not a Unicode character"
                        % (ascii(bad.group(0)), bad.start()))
    try:
        root = safe_et.fromstring(text.strip(), forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True)
    except ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise SSMLError("malformed SSML at line %d, column %d: %s"
                        % (line, col + 1, str(exc).split(":")[0]))
    except DefusedXmlException as exc:
        raise SSMLError("SSML may not contain a DTD, entities or external references (%s)"
                        % type(exc).__name__)
    _check_depth(root)
    if _tag(root) != "speak":
        raise SSMLError("the root element must be <speak>, got <%s>" % _tag(root))
    out: List[Span] = []
    _walk(root, Span(), out)
    return out


def _tag(el) -> str:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else str(el.tag)


def _check_depth(root) -> None:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SSMLError("SSML is nested deeper than %d elements (at <%s>)" % (MAX_DEPTH, _tag(el)))
        stack.extend((c, depth + 1) for c in el)


def _text(el) -> str:
    return "".join(el.itertext())


def _walk(el, style: Span, out: List[Span]) -> None:
    tag = _tag(el)
    handler = _HANDLERS.get(tag)
    if handler is None:
        if tag not in IGNORED_QUIETLY:
            log.warning("SSML element <%s> is not supported; reading its text", tag)
        _children(el, style, out)
    else:
        handler(el, style, out)
    if el.tail:
        out.append(replace(style, text=el.tail, pinyin=None, pause=None))


def _children(el, style: Span, out: List[Span]) -> None:
    if el.text:
        out.append(replace(style, text=el.text, pinyin=None, pause=None))
    for child in el:
        _walk(child, style, out)


def _attr(el, name: str, allowed: Tuple[str, ...]) -> Optional[str]:
    """Attribute value, with a warning for attributes the element does not know."""
    for key in el.attrib:
        local = key.rsplit("}", 1)[-1]
        if local not in allowed and not key.startswith("{http://www.w3.org/XML/1998/namespace}"):
            log.warning("SSML <%s> attribute %r is not supported; ignored", _tag(el), local)
    v = el.attrib.get(name)
    return v.strip() if v is not None else None


def _break(el, style: Span, out: List[Span]) -> None:
    t = _attr(el, "time", ("time", "strength"))
    strength = el.attrib.get("strength")
    if t is not None:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s)", t)
        if not m:
            raise SSMLError("<break time=%r>: give a duration like 500ms or 1.5s" % t)
        secs = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
        if secs > MAX_BREAK_S:
            raise SSMLError("<break time=%r> is longer than the %g s limit" % (t, MAX_BREAK_S))
    elif strength is not None:
        if strength.strip() not in BREAK_STRENGTH:
            raise SSMLError("<break strength=%r>: use one of %s" % (strength, ", ".join(BREAK_STRENGTH)))
        secs = BREAK_STRENGTH[strength.strip()]
    else:
        secs = BREAK_STRENGTH["medium"]
    out.append(Span(pause=secs, explicit=True))


def _boundary(pause: float):
    def handle(el, style: Span, out: List[Span]) -> None:
        _attr(el, "", ())
        _children(el, style, out)
        out.append(Span(pause=pause))
    return handle


def _sub(el, style: Span, out: List[Span]) -> None:
    alias = _attr(el, "alias", ("alias",))
    if not alias:
        raise SSMLError("<sub> needs a non-empty alias attribute (the text to read instead of %r)"
                        % _text(el))
    out.append(replace(style, text=alias, pinyin=None, pause=None))


def _phoneme(el, style: Span, out: List[Span]) -> None:
    from .lexicon import make_entry

    alphabet = (_attr(el, "alphabet", ("alphabet", "ph")) or "pinyin").lower()
    if alphabet not in ("pinyin", "x-pinyin"):
        raise SSMLError("<phoneme alphabet=%r>: only pinyin is supported" % alphabet)
    ph = el.attrib.get("ph")
    word = _text(el).strip()
    if not ph:
        raise SSMLError("<phoneme> around %r needs a ph attribute with its pinyin" % word)
    try:
        entry = make_entry(word, ph)
    except ValueError as exc:
        raise SSMLError("<phoneme ph=%r>: %s" % (ph, exc))
    out.append(replace(style, text=word, pinyin=entry.pinyin, pause=None))


def _prosody(el, style: Span, out: List[Span]) -> None:
    from ..engine import prosody as controls
    from ..errors import ControlError

    rate = _attr(el, "rate", ("rate", "volume", "pitch", "range"))
    volume = el.attrib.get("volume")
    new = style
    try:
        if el.attrib.get("pitch") is not None:
            shift = controls.parse_pitch(el.attrib["pitch"], "<prosody pitch>")
            new = replace(new, pitch=controls.bounded(style.pitch + shift, "pitch", "<prosody pitch>"))
        if el.attrib.get("range") is not None:
            f = controls.parse_factor(el.attrib["range"], "pitch_range", "<prosody range>",
                                      controls.RANGE_WORDS)
            new = replace(new, range=controls.bounded(style.range * f, "pitch_range", "<prosody range>"))
    except ControlError as exc:
        raise SSMLError(str(exc))
    if rate is not None:
        r = style.rate * _relative(rate, RATE_WORDS, "rate", allow_db=False)
        if not SPEED_MIN <= r <= SPEED_MAX:
            raise SSMLError("<prosody rate=%r> gives a rate of %.2f; it must stay within %g-%g"
                            % (rate, r, SPEED_MIN, SPEED_MAX))
        new = replace(new, rate=r)
    if volume is not None:
        v = style.volume * _relative(volume.strip(), VOLUME_WORDS, "volume", allow_db=True)
        new = replace(new, volume=min(v, 4.0))
    _children(el, new, out)


def _emphasis(el, style: Span, out: List[Span]) -> None:
    from ..engine.prosody import EMPHASIS

    level = (_attr(el, "level", ("level",)) or "moderate").lower()
    if level not in EMPHASIS:
        raise SSMLError("<emphasis level=%r>: use one of %s" % (level, ", ".join(EMPHASIS)))
    spread, energy, rate = EMPHASIS[level]
    _children(el, replace(style, range=style.range * spread, energy=style.energy * energy,
                          rate=min(max(style.rate * rate, SPEED_MIN), SPEED_MAX)), out)


def _relative(value: str, words: dict, name: str, allow_db: bool) -> float:
    if value in words:
        return words[value]
    m = re.fullmatch(r"([+-]?)(\d+(?:\.\d+)?)\s*(%|dB)?", value)
    if m and m.group(3) == "dB" and allow_db:
        db = float(m.group(1) + m.group(2))
        if abs(db) > MAX_VOLUME_DB:
            raise SSMLError("<prosody %s=%r>: at most %g dB either way" % (name, value, MAX_VOLUME_DB))
        return 10.0 ** (db / 20.0)
    if m and m.group(3) == "%":
        n = float(m.group(2)) / 100.0
        return 1.0 + n if m.group(1) == "+" else 1.0 - n if m.group(1) == "-" else n
    if m and m.group(3) is None and not m.group(1) and name == "rate":
        return float(m.group(2))
    forms = "a word (%s), a percentage (80%%, +20%%)%s" % (
        ", ".join(words), ", +6dB" if allow_db else ", or a multiplier (1.2)")
    raise SSMLError("<prosody %s=%r>: use %s" % (name, value, forms))


def _say_as(el, style: Span, out: List[Span]) -> None:
    kind = _attr(el, "interpret-as", ("interpret-as", "format", "detail"))
    text = _text(el).strip()
    if kind not in SAY_AS:
        raise SSMLError("<say-as interpret-as=%r>: use one of %s" % (kind, ", ".join(SAY_AS)))
    spoken = say_as(kind, text, el.attrib.get("format"))
    out.append(replace(style, text=spoken, pinyin=None, pause=None))


def say_as(kind: str, text: str, fmt: Optional[str] = None) -> str:
    """The spoken form of `text` read as `kind` (raises SSMLError if it is not one)."""
    from . import digits

    if kind in ("digits", "characters"):
        return " ".join(digits.read_digits(text).split()) if kind == "digits" else \
            " ".join(digits.read_digits(c) for c in text if not c.isspace())
    if kind == "telephone":
        return digits.read_digits(text, yao=True)
    if kind == "cardinal":
        return _cardinal(text.replace(",", ""), "cardinal")
    if kind == "date":
        return _date(text, fmt or "ymd")
    return _time(text)


def _cardinal(text: str, what: str) -> str:
    import cn2an

    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        raise SSMLError("<say-as interpret-as=%r>: %r is not a number" % (what, text))
    whole = len(text.lstrip("+-").split(".")[0].lstrip("0"))
    if whole > MAX_CARDINAL_DIGITS:  # past 千万亿 Chinese has no common unit to read it with
        raise SSMLError("<say-as interpret-as=%r>: %r has %d digits before the point; numbers are read "
                        "up to %d (use interpret-as='digits' for longer ones)"
                        % (what, text, whole, MAX_CARDINAL_DIGITS))
    return cn2an.an2cn(text.lstrip("+"), "low")


MAX_CARDINAL_DIGITS = 16


_DATE_FORMATS = {"ymd": "ymd", "mdy": "mdy", "dmy": "dmy", "ym": "ym", "md": "md", "y": "y"}


def _date(text: str, fmt: str) -> str:
    from . import digits

    if fmt not in _DATE_FORMATS:
        raise SSMLError("<say-as interpret-as='date' format=%r>: use one of %s"
                        % (fmt, ", ".join(_DATE_FORMATS)))
    parts = re.findall(r"\d+", text)
    if len(parts) != len(fmt) or re.sub(r"[\d\s/.\-年月日号]", "", text):
        raise SSMLError("<say-as interpret-as='date' format=%r>: %r is not a date in that order "
                        "(like 2024-11-25 for ymd)" % (fmt, text))
    value = dict(zip(fmt, (int(p) for p in parts)))
    raw = dict(zip(fmt, parts))
    if not 1 <= value.get("m", 1) <= 12 or not 1 <= value.get("d", 1) <= 31:
        raise SSMLError("<say-as interpret-as='date'>: %r has no month %s or day %s"
                        % (text, value.get("m", "-"), value.get("d", "-")))
    out = ""
    if "y" in value:
        out += digits.read_digits(raw["y"]) + "年"
    if "m" in value:
        out += _cardinal(str(value["m"]), "date") + "月"
    if "d" in value:
        out += _cardinal(str(value["d"]), "date") + "日"
    return out


def _time(text: str) -> str:
    m = re.fullmatch(r"(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?", text)
    if not m:
        raise SSMLError("<say-as interpret-as='time'>: %r is not a time like 8:30 or 08:30:15" % text)
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 24 or mi > 59 or s > 59:
        raise SSMLError("<say-as interpret-as='time'>: %r is not a valid time" % text)
    out = ("两" if h == 2 else _cardinal(str(h), "time")) + "点"
    if mi or s:
        out += ("零" if mi < 10 else "") + _cardinal(str(mi), "time") + "分"
    if s:
        out += _cardinal(str(s), "time") + "秒"
    return out


_HANDLERS = {
    "break": _break,
    "p": _boundary(PARAGRAPH_PAUSE),
    "s": _boundary(SENTENCE_PAUSE),
    "sub": _sub,
    "phoneme": _phoneme,
    "prosody": _prosody,
    "say-as": _say_as,
    "emphasis": _emphasis,
}
