"""Pitch, intonation range and energy: the controls of a voice with explicit prosody.

A voice exported with prosody predicts a pitch (semitones above 100 Hz) and an energy value per
symbol in its text encoder; the runtime edits them here and its ``prosody`` graph embeds the
edited values into the states the decoder reads (``models/student.py``, class ``Prosody``).

Controls, in the units users know (the CLI, HTTP, SSML and the API all parse through here):

- ``pitch``: a shift in semitones: ``+2st``, ``-3st``, a percentage of frequency (``+10%``,
  1.1× = +1.65 st) or SSML's words (x-low -4, low -2, medium 0, high +2, x-high +4 st);
- ``pitch_range``: a factor on every symbol's distance from the utterance's mean pitch, in
  semitones (``130%``, ``+30%``, ``0%`` = flat; words x-low 0.3 … x-high 1.7): flat ↔ lively;
- ``energy``: a factor on the predicted energy values (``110%``, ``+10%``), the same
  quantity as the teacher's ``energy_ratios``; loudness itself is ``volume`` (a gain).

A preset (``emotion``) is a named set of controls in the voice manifest; explicit controls
compose with it: shifts add, factors multiply.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..config import PROSODY_LIMITS as LIMITS
from ..errors import BundleError, ControlError
NEUTRAL = (0.0, 1.0, 1.0)  # (pitch semitones, range factor, energy factor)

PITCH_WORDS = {"x-low": -4.0, "low": -2.0, "medium": 0.0, "default": 0.0, "high": 2.0, "x-high": 4.0}
RANGE_WORDS = {"x-low": 0.3, "low": 0.65, "medium": 1.0, "default": 1.0, "high": 1.35, "x-high": 1.7}
# <emphasis level>: (range factor, energy factor, rate), as a speaker stresses a word: wider
# intonation, a little more energy, a little slower
EMPHASIS = {"strong": (1.45, 1.2, 0.88), "moderate": (1.25, 1.1, 0.94), "none": (1.0, 1.0, 1.0),
            "reduced": (0.7, 0.9, 1.06)}


_VALUE = re.compile(r"\s*([+-]?)(\d+(?:\.\d+)?)\s*(st|%|hz)?\s*", re.I)


def parse_pitch(value: Any, name: str = "pitch") -> float:
    """``+2st`` / ``-3st`` / ``+10%`` / ``high`` / a number (semitones) → semitones."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bounded(float(value), "pitch", name)
    text = str(value).strip().lower()
    if text in PITCH_WORDS:
        return PITCH_WORDS[text]
    m = _VALUE.fullmatch(text)
    if m and (m.group(3) or "st") == "st" and (m.group(1) or m.group(3)):
        return bounded(float(m.group(1) + m.group(2)), "pitch", name)
    if m and m.group(3) == "%":
        ratio = _percent(m)
        if ratio <= 0:
            raise ControlError("%s=%r: a frequency cannot fall by 100%% or more" % (name, value))
        return bounded(12.0 * math.log2(ratio), "pitch", name)
    if m and not m.group(1) and not m.group(3):
        return bounded(float(m.group(2)), "pitch", name)
    raise ControlError("%s=%r: give semitones (+2st, -3st), a percentage (+10%%) or one of %s"
                       % (name, value, ", ".join(PITCH_WORDS)))


def parse_factor(value: Any, control: str, name: Optional[str] = None,
                 words: Optional[Dict[str, float]] = None) -> float:
    """``130%`` / ``+30%`` / ``-20%`` / a number (1.3) / a word → a factor (``control`` is
    pitch_range or energy, for its limits)."""
    name = name or control
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return bounded(float(value), control, name)
    text = str(value).strip().lower()
    if words and text in words:
        return words[text]
    m = _VALUE.fullmatch(text)
    if m and m.group(3) == "%":
        return bounded(_percent(m), control, name)
    if m and not m.group(1) and not m.group(3):
        return bounded(float(m.group(2)), control, name)
    raise ControlError("%s=%r: give a percentage (130%%, +30%%, -20%%), a factor (1.3)%s"
                       % (name, value, " or one of " + ", ".join(words) if words else ""))


def _percent(m) -> float:
    n = float(m.group(2)) / 100.0
    return 1.0 + n if m.group(1) == "+" else 1.0 - n if m.group(1) == "-" else n


def bounded(v: float, control: str, name: str) -> float:
    lo, hi = LIMITS[control]
    if not (lo <= v <= hi) or not math.isfinite(v):
        unit = " semitones" if control == "pitch" else ""
        raise ControlError("%s=%g is out of range: %g to %g%s" % (name, v, lo, hi, unit))
    return v


@dataclass(frozen=True)
class Preset:
    """A named prosodic style: controls and a speaking rate."""

    name: str
    pitch: float = 0.0
    pitch_range: float = 1.0
    energy: float = 1.0
    speed: float = 1.0
    aliases: Tuple[str, ...] = ()
    description: str = ""

    def to_dict(self) -> dict:
        return {"pitch": self.pitch, "pitch_range": self.pitch_range, "energy": self.energy,
                "speed": self.speed, "aliases": list(self.aliases), "description": self.description}


@dataclass(frozen=True)
class ProsodySpec:
    """What a voice's manifest says about prosody: its controls (name → (min, max)), presets,
    and how its pitch scale was measured."""

    controls: Dict[str, Tuple[float, float]]
    presets: Dict[str, Preset] = field(default_factory=dict)
    pitch_hz: Dict[str, Any] = field(default_factory=dict)
    # the voice's measured pitch response: shifts given to the model ("given") and the median
    # shifts measured in its audio ("heard"), increasing; the runtime gives the model the shift
    # that is heard as the one asked for (None: given as asked)
    pitch_response: Optional[Dict[str, Any]] = None

    def to_dict(self) -> dict:
        out = {"controls": {k: {"min": lo, "max": hi, "unit": UNITS[k]}
                            for k, (lo, hi) in self.controls.items()},
               "presets": {n: p.to_dict() for n, p in self.presets.items()},
               "pitch_hz": self.pitch_hz}
        if self.pitch_response is not None:
            out["pitch_response"] = self.pitch_response
        return out

    def given_shift(self, asked: np.ndarray) -> np.ndarray:
        """Semitone shifts asked for → the shifts to give the model (``pitch_response``)."""
        r = self.pitch_response
        if not r:
            return asked
        return np.interp(asked, r["heard"], r["given"]).astype(np.float32)

    @classmethod
    def from_dict(cls, m: Any, where: str = "voice.json") -> "ProsodySpec":
        try:
            controls = {}
            for k, v in m["controls"].items():
                if k not in LIMITS:
                    continue  # a control a later edgetts knows: not offered here
                controls[k] = (float(v["min"]), float(v["max"]))
            presets = {}
            for n, p in (m.get("presets") or {}).items():
                presets[str(n)] = Preset(str(n), float(p.get("pitch", 0.0)),
                                         float(p.get("pitch_range", 1.0)), float(p.get("energy", 1.0)),
                                         float(p.get("speed", 1.0)),
                                         tuple(str(a) for a in p.get("aliases", ())),
                                         str(p.get("description", "")))
            response = m.get("pitch_response")
            if response is not None:
                given = [float(x) for x in response["given"]]
                heard = [float(x) for x in response["heard"]]
                if len(given) != len(heard) or len(given) < 2 or any(
                        b <= a for a, b in zip(heard, heard[1:])):
                    raise ValueError("pitch_response needs as many given as heard shifts, "
                                     "heard increasing")
                response = dict(response, given=given, heard=heard)
            return cls(controls, presets, dict(m.get("pitch_hz") or {}), response)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError("%s has an unusable prosody section (%s); re-export the voice"
                              % (where, exc))

    def preset(self, name: str) -> Preset:
        """A preset by name or alias (case-insensitive), or ControlError listing them."""
        key = name.strip().lower()
        for p in self.presets.values():
            if key == p.name.lower() or key in (a.lower() for a in p.aliases):
                return p
        raise ControlError("emotion %r is not a preset of this voice; it has: %s"
                           % (name, describe_presets(self.presets.values()) or "none"))


def preset_in(spec: Optional["ProsodySpec"], instructions: str) -> Optional[str]:
    """The preset free-form instructions ask for (OpenAI's ``instructions``): the whole text if
    it is a preset's name or alias, else the one preset named in it ("Speak in a cheerful
    tone", "用开心的语气"); None when it names none or several, or the voice has no presets."""
    if spec is None or not spec.presets:
        return None
    text = instructions.strip().lower()
    found = set()
    for p in spec.presets.values():
        for name in (p.name,) + p.aliases:
            n = name.lower()
            if text == n:
                return p.name
            latin = n.isascii()
            if (re.search(r"(?<![a-z])%s(?![a-z])" % re.escape(n), text) if latin else n in text):
                found.add(p.name)
    return found.pop() if len(found) == 1 else None


UNITS = {"pitch": "semitones", "pitch_range": "factor", "energy": "factor"}


def describe_presets(presets: Iterable[Preset]) -> str:
    return ", ".join("%s (%s)" % (p.name, "/".join(p.aliases)) if p.aliases else p.name
                     for p in presets)


@dataclass(frozen=True)
class Controls:
    """A request's resolved controls (its own and its preset's) and the speed its preset adds."""

    pitch: float = 0.0
    pitch_range: float = 1.0
    energy: float = 1.0
    speed: float = 1.0

    @property
    def neutral(self) -> bool:
        return (self.pitch, self.pitch_range, self.energy) == NEUTRAL


def resolve(spec: Optional[ProsodySpec], pitch: Optional[float], pitch_range: Optional[float],
            energy: Optional[float], emotion: Optional[str]) -> Controls:
    """The controls a request asks for, checked against what the voice has (raises
    ControlError naming the control the voice lacks or the value out of its range)."""
    asked = {k: v for k, v in (("pitch", pitch), ("pitch_range", pitch_range), ("energy", energy))
             if v is not None}
    if spec is None:
        named = sorted(asked) + (["emotion"] if emotion else [])
        if named:
            raise ControlError("this voice has no prosody controls (asked for %s): it was exported "
                               "without them; use a voice that has them (edgetts voices lists "
                               "each voice's controls)" % ", ".join(named))
        return Controls()
    base = spec.preset(emotion) if emotion else Preset("none")
    out = {"pitch": base.pitch, "pitch_range": base.pitch_range, "energy": base.energy}
    for k, v in asked.items():
        if k not in spec.controls:
            raise ControlError("this voice has no %s control (it has: %s)"
                               % (k, ", ".join(sorted(spec.controls)) or "none"))
        out[k] = out[k] + v if k == "pitch" else out[k] * v
    for k, v in out.items():
        if k in spec.controls and v != Controls.__dataclass_fields__[k].default:
            lo, hi = spec.controls[k]
            if not lo <= v <= hi:
                raise ControlError("%s %g is outside this voice's range %g to %g" % (k, v, lo, hi))
    return Controls(out["pitch"], out["pitch_range"], out["energy"], base.speed)


def edit(pitch: np.ndarray, energy: np.ndarray, controls: Controls,
         per_symbol: Optional[Sequence[Tuple[float, float, float]]] = None,
         spec: Optional[ProsodySpec] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Predicted per-symbol pitch (semitones) and energy → the values to embed.

    The range scales each symbol's distance from the utterance's mean pitch; the shift moves
    them all (through the voice's measured ``pitch_response``, where `spec` has one); SSML spans
    (``per_symbol``: shift, range, energy per symbol) compose with the request's controls.
    Energy is scaled as the teacher's ``energy_ratios`` scale it."""
    p = pitch.astype(np.float32).copy()
    e = energy.astype(np.float32).copy()
    shift = np.full(len(p), controls.pitch, np.float32)
    spread = np.full(len(p), controls.pitch_range, np.float32)
    gain = np.full(len(p), controls.energy, np.float32)
    if per_symbol is not None:
        extra = np.asarray(per_symbol, np.float32).reshape(len(p), 3)
        shift += extra[:, 0]
        spread *= extra[:, 1]
        gain *= extra[:, 2]
    if spec is not None:
        shift = spec.given_shift(shift)
    mean = float(np.mean(p)) if len(p) else 0.0
    p = mean + (p - mean) * spread + shift
    return p, e * gain


def per_symbol_neutral(values: Optional[List[Tuple[float, float, float]]]) -> bool:
    return values is None or all(tuple(v) == NEUTRAL for v in values)
