"""Chinese front-end: text → utterances of Baker symbol ids.

    text ─normalize─► spoken Chinese ─split─► clauses ─pinyin (phrase context)─► symbols ─► ids

Each utterance is ``sil, initial, final, #0, initial, final, …, sil, eos``, the sequence the
teacher's processor builds, so a voice distilled from it hears the same ids at run time.

Characters the voice cannot say follow one documented policy (``unknown``):

- ``"spell"`` (default): Latin letters are spelled the way Chinese speakers read acronyms
  (NBA → 恩比诶, 5G → 五记); anything else unsayable (emoji, other scripts, control characters)
  is skipped with a warning and listed in ``Utterance.skipped``.
- ``"skip"``: letters are skipped too, with the same warning.
- ``"strict"``: any unsayable character raises ``UnsupportedTextError`` naming each one.

Punctuation and whitespace are never "unsayable": they become pauses or word gaps. Text with
nothing sayable left raises ``EmptyTextError``: the front-end never returns silence.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from pypinyin import Style, lazy_pinyin

from . import normalize as tn
from .errors import EmptyTextError, FrontendError, UnsupportedTextError
from .sentences import Clause, split_clauses
from .symbols import EOS, SIL, SYMBOL_TO_ID, WORD_BREAK, syllable_to_symbols

log = logging.getLogger(__name__)

UNKNOWN_POLICIES = ("spell", "skip", "strict")

# A sentence and the marks that end it (no "." : it is a decimal point in 12.5).
_SENTENCE = re.compile(r"[^。！？!?\n]*(?:[。！？!?\n]+|$)")

# How Chinese speakers commonly read Latin letters, in TONE3 pinyin.
LETTER_PINYIN = {
    "A": ["ei1"], "B": ["bi4"], "C": ["xi1"], "D": ["di4"], "E": ["yi4"], "F": ["ai2", "fu5"],
    "G": ["ji4"], "H": ["ai1", "qi1"], "I": ["ai4"], "J": ["jie4"], "K": ["kai4"],
    "L": ["ai2", "le5"], "M": ["ai2", "mu5"], "N": ["en1"], "O": ["ou1"], "P": ["pi1"],
    "Q": ["qiu1"], "R": ["a4", "er5"], "S": ["ai1", "si1"], "T": ["ti4"], "U": ["you1"],
    "V": ["wei1"], "W": ["da2", "bu5", "liu5"], "X": ["ai2", "ke4", "si1"], "Y": ["wai4"],
    "Z": ["zei4"],
}

# Symbols with a plain spoken form that the normalization grammars leave alone.
SAYABLE_SYMBOLS = {"+": "加", "=": "等于", "&": "和", "×": "乘", "÷": "除以"}
# Symbols the normalization grammars turn into words (in context: 5%, ¥3, 3℃, 1/2, 3-5).
_NORMALIZED_SYMBOLS = set("%‰$¥€£℃°/-~.") | set(SAYABLE_SYMBOLS)


@dataclass(frozen=True)
class FrontendOptions:
    """How text is read. ``unknown`` is one of UNKNOWN_POLICIES; see the module docstring."""

    unknown: str = "spell"
    max_clause_chars: int = 40

    def __post_init__(self) -> None:
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(
                "unknown must be one of %s, got %r" % ("/".join(UNKNOWN_POLICIES), self.unknown)
            )
        if self.max_clause_chars < 1:
            raise ValueError("max_clause_chars must be at least 1, got %r" % self.max_clause_chars)


@dataclass(frozen=True)
class Utterance:
    """One clause ready for the acoustic model.

    ``symbol_chars[k]`` is the index in ``spoken`` of the character that symbol ``k`` voices,
    or -1 for sil/#0/eos; it lets the runtime say which characters each audio chunk carries.
    """

    spoken: str
    pinyin: List[str]
    symbols: List[str]
    ids: List[int]
    symbol_chars: List[int]
    pause_after: float
    skipped: List[str] = field(default_factory=list)


def _is_han(c: str) -> bool:
    o = ord(c)
    return (
        0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F or c == "〇"
    )


def _describe(c: str) -> str:
    return unicodedata.name(c, "U+%04X" % ord(c))


def _pinyin_or_none(run: str) -> List[Optional[str]]:
    # Unknown characters come back as "?" (pypinyin then styles it, e.g. "?5"); a None here
    # would crash pypinyin's tone handling on some rare ideographs.
    try:
        out = lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True,
                          errors=lambda s: ["?"] * len(s))
    except Exception:  # a dictionary entry pypinyin itself cannot style
        return [None] * len(run)
    return [p if p and not p.startswith("?") else None for p in out]


def _han_pinyin(run: str) -> List[Optional[str]]:
    """TONE3 pinyin per character, with pypinyin's phrase dictionary resolving polyphones."""
    out = _pinyin_or_none(run)
    if len(out) != len(run):
        # pypinyin merged a stretch into one item: fall back to one call per character
        out = [(_pinyin_or_none(c) or [None])[0] for c in run]
    return out


class Frontend:
    """Turns text into utterances. Stateless apart from the lazily loaded grammars."""

    def __init__(self, options: Optional[FrontendOptions] = None):
        self.options = options or FrontendOptions()

    def __call__(self, text: str) -> List[Utterance]:
        return list(self.iter_utterances(text))

    def iter_utterances(self, text: str) -> Iterator[Utterance]:
        """Yield utterances in reading order; raise EmptyTextError if none can be said."""
        if not isinstance(text, str):
            raise FrontendError("text must be a str, got %s" % type(text).__name__)
        if self.options.unknown == "strict":
            self._check_strict(text)
        produced = 0
        skipped_all: List[str] = []
        for clause in self._clauses(text):
            utt = self._utterance(clause.text, clause.pause_after)
            skipped_all.extend(utt.skipped)
            if len(utt.ids) > 3:  # more than sil, sil, eos
                produced += 1
                yield utt
        if skipped_all:
            log.warning("skipped characters the voice cannot say: %s",
                        ", ".join(sorted({"%r (%s)" % (c, _describe(c)) for c in skipped_all})))
        if not produced:
            if skipped_all:
                raise EmptyTextError(
                    "nothing sayable in the text: the voice cannot say %s"
                    % ", ".join(sorted({"%r (%s)" % (c, _describe(c)) for c in skipped_all}))
                )
            raise EmptyTextError("text is empty or only punctuation/whitespace: give some words to say")

    # -- internals -----------------------------------------------------------------------------

    def _clauses(self, text: str) -> Iterator[Clause]:
        """Normalize sentence by sentence, so the first utterance of a long text is ready after
        its own sentence, not after the whole text (a run of sentence marks stays with the
        sentence before it, so "好。。。" keeps its one long pause)."""
        for m in _SENTENCE.finditer(text):
            if m.group(0).strip():
                yield from split_clauses(tn.normalize(m.group(0)), self.options.max_clause_chars)

    def _check_strict(self, text: str) -> None:
        bad = []
        for i, c in enumerate(text):
            if c.isspace() or _is_han(c) or unicodedata.category(c)[0] == "P":
                continue
            if (c.isascii() and c.isalnum()) or c in tn.FULLWIDTH or c in _NORMALIZED_SYMBOLS:
                continue
            bad.append((i, c, _describe(c)))
        if bad:
            raise UnsupportedTextError(bad)

    def _utterance(self, spoken: str, pause: float) -> Utterance:
        """Build one utterance from a normalized clause."""
        units: List[Tuple[int, List[str]]] = []  # (char index in spoken, pinyin syllables)
        skipped: List[str] = []
        i = 0
        while i < len(spoken):
            c = spoken[i]
            if _is_han(c):
                j = i
                while j < len(spoken) and _is_han(spoken[j]):
                    j += 1
                for k, p in enumerate(_han_pinyin(spoken[i:j])):
                    syms = syllable_to_symbols(p) if p else None
                    if syms is None:
                        skipped.append(spoken[i + k])
                    else:
                        units.append((i + k, [p]))
                i = j
                continue
            up = c.upper() if c.isascii() else ""
            if up in LETTER_PINYIN and self.options.unknown == "spell":
                units.append((i, LETTER_PINYIN[up]))
            elif c in SAYABLE_SYMBOLS:
                for k, p in enumerate(_han_pinyin(SAYABLE_SYMBOLS[c])):
                    if p:
                        units.append((i, [p]))
            elif c.isspace() or unicodedata.category(c)[0] == "P":
                pass  # word gaps, quotes, brackets, dashes: nothing to say
            else:
                skipped.append(c)
            i += 1
        if skipped and self.options.unknown == "strict":
            # Strict mode checked the raw text; this catches what normalization itself produced.
            raise UnsupportedTextError([(-1, c, _describe(c)) for c in skipped])

        symbols = [SIL]
        chars = [-1]
        pinyin: List[str] = []
        for n, (ci, syllables) in enumerate(units):
            for p in syllables:
                syms = syllable_to_symbols(p)
                if syms is None:  # letter table entries are all valid; guard anyway
                    continue
                pinyin.append(p)
                symbols.extend(syms)
                chars.extend([ci] * len(syms))
            if n < len(units) - 1:
                symbols.append(WORD_BREAK)
                chars.append(-1)
        symbols += [SIL, EOS]
        chars += [-1, -1]
        ids = [SYMBOL_TO_ID[s] for s in symbols]
        return Utterance(spoken, pinyin, symbols, ids, chars, pause, skipped)
