"""Chinese front-end: text → utterances of Baker symbol ids.

    text or SSML ─► spans ─traditional→simplified, lexicon, normalize─► spoken Chinese
         ─split─► clauses ─pinyin (phrase context; fixed readings win)─► symbols ─► ids

Text whose first non-blank characters are ``<speak`` is SSML (``ssml.py``; ``ssml=True/False``
forces the choice); it becomes spans with a fixed reading, a rate, a volume or a pause. A user
lexicon (``lexicon.py``) gives words a fixed reading or an alias before the polyphone model and
the normalization grammars see them.

Each utterance is ``sil, initial, final, #0, initial, final, …, sil, eos``, the sequence the
teacher's processor builds, so a voice distilled from it hears the same ids at run time.

Characters the voice cannot say follow one documented policy (``unknown``):

- ``"spell"`` (default): Latin letters are spelled the way Chinese speakers read acronyms
  (NBA → 恩比诶, 5G → 五记); anything else unsayable (emoji, other scripts, control characters)
  is skipped with a warning and listed in ``Utterance.skipped``.
- ``"read"``: as ``"spell"``, but Latin words are read the way Mandarin speakers say them
  (``english.py``: a built-in table, acronyms, the CMU dictionary, rules), each word one unit.
- ``"skip"``: letters are skipped too, with the same warning.
- ``"strict"``: any unsayable character raises ``UnsupportedTextError`` naming each one.

Punctuation and whitespace are never "unsayable": they become pauses or word gaps. Text with
nothing sayable left raises ``EmptyTextError``: the front-end never returns silence.
"""

from __future__ import annotations

import dataclasses

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from . import normalize as tn
from . import script
from . import english, ssml
from .english import LETTER_PINYIN, Reading
from .script import is_han
from ..config import UNKNOWN_POLICIES
from ..errors import EmptyTextError, FrontendError, UnsupportedTextError
from .lexicon import Lexicon
from .sentences import SENTENCE_MARKS, Clause, split_clauses
from .ssml import Span
from .symbols import EOS, SIL, SYMBOL_TO_ID, WORD_BREAK, syllable_to_symbols

log = logging.getLogger(__name__)


# A sentence and the marks that end it (sentences.SENTENCE_MARKS or a line break).
_ENDS = re.escape(SENTENCE_MARKS) + r"\n"
_SENTENCE = re.compile(r"[^%s]*(?:[%s]+|$)" % (_ENDS, _ENDS))
_SENTENCE_END = re.compile(r"[%s]\s*$" % _ENDS)

# Symbols with a plain spoken form that the normalization grammars leave alone.
SAYABLE_SYMBOLS = {"+": "加", "=": "等于", "&": "和", "×": "乘", "÷": "除以"}
# Symbols the normalization grammars turn into words (in context: 5%, ¥3, 3℃, 1/2, 3-5).
_NORMALIZED_SYMBOLS = set("%‰$¥€£℃°/-~.") | set(SAYABLE_SYMBOLS)


@dataclass(frozen=True)
class FrontendOptions:
    """How text is read. ``unknown`` is one of UNKNOWN_POLICIES; see the module docstring.
    ``ssml``: None detects SSML by its ``<speak`` start, True/False forces it. ``lexicon``: the
    user's fixed readings and aliases."""

    unknown: str = "spell"
    max_clause_chars: int = 40
    ssml: Optional[bool] = None
    lexicon: Optional[Lexicon] = None

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
    ``unit_ends`` maps the index of a word read as one unit (a lexicon or SSML reading of a
    Latin word) to its end. ``symbol_rate`` and ``symbol_volume`` (None: all 1) come from SSML
    prosody: the rate divides each symbol's duration, the volume scales its audio.
    ``symbol_prosody`` (None: all neutral) is SSML's pitch shift (semitones), range factor and
    energy factor per symbol, from ``<prosody pitch/range>`` and ``<emphasis>``.
    """

    spoken: str
    pinyin: List[str]
    symbols: List[str]
    ids: List[int]
    symbol_chars: List[int]
    pause_after: float
    skipped: List[str] = field(default_factory=list)
    unit_ends: Dict[int, int] = field(default_factory=dict)
    symbol_rate: Optional[List[float]] = None
    symbol_volume: Optional[List[float]] = None
    symbol_prosody: Optional[List[Tuple[float, float, float]]] = None
    # False while more clauses of the same, already normalized, sentence follow: the decoder may
    # take them together without running the front-end on the next sentence
    ends_sentence: bool = True
    # the words read with a fixed reading (Latin words, lexicon entries, SSML readings), in order,
    # with where each reading came from
    words: List[Reading] = field(default_factory=list)

    def char_end(self, i: int) -> int:
        """End (exclusive) in ``spoken`` of the unit that starts at index ``i``."""
        return self.unit_ends.get(i, i + 1)


@dataclass
class _Piece:
    """Spoken text with how every character of it is read."""

    text: str
    pinyin: Optional[Tuple[str, ...]] = None
    rate: float = 1.0
    volume: float = 1.0
    source: Optional[str] = None  # where a fixed reading came from (english.SOURCES, "ssml")
    prosody: Tuple[float, float, float] = (0.0, 1.0, 1.0)  # SSML pitch shift, range, energy


def _describe(c: str) -> str:
    return unicodedata.name(c, "U+%04X" % ord(c))


def _pinyin_or_none(run: str) -> List[Optional[str]]:
    # Unknown characters come back as "?" (pypinyin then styles it, e.g. "?5"); a None here
    # would crash pypinyin's tone handling on some rare ideographs.
    # imported on the first text: its dictionaries take a noticeable time to load, which tools that
    # never read text need not pay (the import system loads it once, whichever thread asks)
    import pypinyin

    try:
        out = pypinyin.lazy_pinyin(run, style=pypinyin.Style.TONE3, neutral_tone_with_five=True,
                                   errors=lambda s: ["?"] * len(s))  # type: ignore[arg-type,return-value]
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
        use_ssml = ssml.is_ssml(text) if self.options.ssml is None else self.options.ssml
        spans = ssml.parse(text) if use_ssml else [Span(text)]
        if self.options.unknown == "strict":
            for sp in spans:
                if sp.pinyin is None:
                    self._check_strict(sp.text)
        produced = 0
        skipped_all: List[str] = []
        for utt in self._utterances(spans):
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

    def _utterances(self, spans: Sequence[Span]) -> Iterator[Utterance]:
        """Normalize sentence by sentence, so the first utterance of a long text is ready after
        its own sentence, not after the whole text (a run of sentence marks stays with the
        sentence before it, so "好。。。" keeps its one long pause). A pause span (an SSML break,
        the end of <s>/<p>) ends the clause before it with that pause; adjacent ones merge into
        the longest, except that explicit breaks replace the structural pauses beside them."""
        buf: List[_Piece] = []
        hints: Dict[str, Tuple[str, ...]] = {}
        i = 0
        while i < len(spans):
            sp = spans[i]
            if sp.pause is not None:
                run = []
                while i < len(spans) and spans[i].pause is not None:
                    run.append(spans[i])
                    i += 1
                # an explicit <break> replaces the pauses of the </s> and </p> beside it, as it
                # replaces the punctuation's; structural pauses alone merge into the longest
                chosen = [p for p in run if p.explicit] or run
                pause = max(p.pause or 0.0 for p in chosen)
                yield from self._flush(buf, hints, pause)
                buf, hints = [], {}
                continue
            next_is_pause = i + 1 < len(spans) and spans[i + 1].pause is not None
            if sp.pinyin is not None:
                buf.append(_Piece(tn.clean(sp.text), sp.pinyin, sp.rate, sp.volume, "ssml", sp.prosody))
            else:
                sentences = [m.group(0) for m in _SENTENCE.finditer(sp.text) if m.group(0).strip()]
                for k, sentence in enumerate(sentences):
                    self._read(sentence, sp, buf, hints)
                    # the last sentence before a pause waits for it (the pause replaces its own)
                    if _SENTENCE_END.search(sentence) and not (next_is_pause and k == len(sentences) - 1):
                        yield from self._flush(buf, hints, None)
                        buf, hints = [], {}
            i += 1
        yield from self._flush(buf, hints, None)

    def _read(self, sentence: str, sp: Span, buf: List[_Piece], hints: dict) -> None:
        """One sentence of plain text → pieces: traditional → simplified, lexicon entries cut
        out (aliases replace their word), the rest normalized."""
        simplified, h = script.with_hints(tn.clean(sentence))
        hints.update(h)
        lex = self.options.lexicon
        pending = ""
        for piece, entry in (lex.split(simplified) if lex else [(simplified, None)]):
            if entry is None or entry.pinyin is None:
                # the sentence is cleaned and simplified already; an alias is the user's text
                pending += piece if entry is None else script.to_simplified(tn.clean(entry.alias or ""))
                continue
            if pending:
                self._words(tn.normalize_prepared(pending), sp, buf)
                pending = ""
            buf.append(_Piece(piece, entry.pinyin, sp.rate, sp.volume, "lexicon", sp.prosody))
        if pending:
            self._words(tn.normalize_prepared(pending), sp, buf)

    def _words(self, text: str, sp: Span, buf: List[_Piece]) -> None:
        """Normalized text → pieces, each Latin word one piece with its reading (``english``)."""
        if self.options.unknown != "read":
            # letters spelled, skipped or refused
            buf.append(_Piece(text, None, sp.rate, sp.volume, prosody=sp.prosody))
            return
        last = 0
        for m in english.WORD.finditer(text):
            if m.start() > last:
                buf.append(_Piece(text[last:m.start()], None, sp.rate, sp.volume, prosody=sp.prosody))
            r = english.read(m.group())
            buf.append(_Piece(m.group(), r.pinyin, sp.rate, sp.volume, r.source, sp.prosody))
            last = m.end()
        if last < len(text):
            buf.append(_Piece(text[last:], None, sp.rate, sp.volume, prosody=sp.prosody))

    def _flush(self, buf: List[_Piece], hints: dict, pause: Optional[float]) -> Iterator[Utterance]:
        """Pieces → clauses → utterances; ``pause`` replaces the last clause's own pause."""
        if not buf:
            return
        text = "".join(p.text for p in buf)
        fixed: Dict[int, Tuple[int, Tuple[str, ...], Optional[str]]] = {}
        rate: List[float] = []
        volume: List[float] = []
        style: List[Tuple[float, float, float]] = []
        pos = 0
        for p in buf:
            if p.pinyin is not None and p.text:
                fixed[pos] = (pos + len(p.text), p.pinyin, p.source)
            rate += [p.rate] * len(p.text)
            volume += [p.volume] * len(p.text)
            style += [p.prosody] * len(p.text)
            pos += len(p.text)
        clauses = _split_outside(text, fixed, self.options.max_clause_chars)
        for n, clause in enumerate(clauses):
            a, b = clause.start, clause.start + len(clause.text)
            after = pause if (pause is not None and n == len(clauses) - 1) else clause.pause_after
            local = {k - a: (e - a, syl, src) for k, (e, syl, src) in fixed.items() if a <= k < b}
            utt = self._utterance(clause.text, after, local, rate[a:b], volume[a:b], hints, style[a:b])
            yield utt if n == len(clauses) - 1 else dataclasses.replace(utt, ends_sentence=False)

    def _check_strict(self, text: str) -> None:
        bad = []
        for i, c in enumerate(text):
            if c.isspace() or is_han(c) or unicodedata.category(c)[0] == "P":
                continue
            if (c.isascii() and c.isalnum()) or c in tn.FULLWIDTH or c in _NORMALIZED_SYMBOLS:
                continue
            bad.append((i, c, _describe(c)))
        if bad:
            raise UnsupportedTextError(bad)

    def _utterance(self, spoken: str, pause: float,
                   fixed: Optional[Dict[int, Tuple[int, Tuple[str, ...], Optional[str]]]] = None,
                   rate: Optional[List[float]] = None, volume: Optional[List[float]] = None,
                   hints: Optional[Dict[str, Tuple[str, ...]]] = None,
                   style: Optional[List[Tuple[float, float, float]]] = None) -> Utterance:
        """Build one utterance from a normalized clause; ``fixed`` readings (index → end,
        syllables, source) win over the polyphone model, ``hints`` correct it where a traditional
        character allowed fewer readings than its simplified form."""
        fixed = fixed or {}
        units: List[Tuple[int, List[str]]] = []  # (char index in spoken, pinyin syllables)
        unit_ends: Dict[int, int] = {}
        skipped: List[str] = []
        words: List[Reading] = []
        split: Dict[int, set] = {}  # Latin words read by ``english``: where #0 goes inside them
        i = 0
        while i < len(spoken):
            c = spoken[i]
            if i in fixed:
                end, syllables, source = fixed[i]
                if source:
                    words.append(Reading(spoken[i:end], tuple(syllables), source))
                if is_han(c):  # one syllable per character: marks stay per character
                    units.extend((i + k, [syl]) for k, syl in enumerate(syllables))
                else:
                    units.append((i, list(syllables)))
                    unit_ends[i] = end
                    if source in english.SOURCES[1:]:
                        split[i] = _syllable_breaks(spoken[i:end], len(syllables), source)
                i = end
                continue
            if is_han(c):
                j = i
                while j < len(spoken) and is_han(spoken[j]) and j not in fixed:
                    j += 1
                # the phrase model sees the fixed characters too, for context
                k_end = j
                while k_end < len(spoken) and is_han(spoken[k_end]):
                    k_end += 1
                readings = _han_pinyin(spoken[i:k_end])[: j - i]
                for k, p in enumerate(readings):
                    ch = spoken[i + k]
                    if hints and ch in hints and p not in hints[ch]:
                        p = hints[ch][0]
                    syms = syllable_to_symbols(p) if p else None
                    if p is None or syms is None:
                        skipped.append(ch)
                    else:
                        units.append((i + k, [p]))
                i = j
                continue
            up = c.upper() if c.isascii() else ""
            if up in LETTER_PINYIN and self.options.unknown in ("spell", "read"):
                units.append((i, LETTER_PINYIN[up]))
            elif c in SAYABLE_SYMBOLS:
                for p in _han_pinyin(SAYABLE_SYMBOLS[c]):
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
        # #0 between units; inside a Latin word read by ``english`` too: the voice learned it after
        # every syllable, and such a word without it comes out garbled (docs/frontend.md)
        for ci, unit in units:
            for k, p in enumerate(unit):
                syms = syllable_to_symbols(p)
                if syms is None:  # letter table entries are all valid; guard anyway
                    continue
                if pinyin and (k == 0 or k in split.get(ci, ())):
                    symbols.append(WORD_BREAK)
                    chars.append(-1)
                pinyin.append(p)
                symbols.extend(syms)
                chars.extend([ci] * len(syms))
        symbols += [SIL, EOS]
        chars += [-1, -1]
        ids = [SYMBOL_TO_ID[s] for s in symbols]
        return Utterance(spoken, pinyin, symbols, ids, chars, pause, skipped, unit_ends,
                         _per_symbol(rate, chars), _per_symbol(volume, chars), words=words,
                         symbol_prosody=_per_symbol(style, chars, (0.0, 1.0, 1.0)))


def _syllable_breaks(word: str, n: int, source: str) -> set:
    """Where a #0 goes inside a word read by ``english`` (indices of the syllables it precedes):
    before every syllable of a word read whole, as the voice learned it after every character;
    between the letters of a spelled one, exactly as ``"spell"`` says them (S is ai1 si1 with
    no #0 inside), and before a plural's si5."""
    if source not in ("acronym", "spelled"):
        return set(range(1, n))
    out, k = set(), 0
    for c in word.upper():
        if c in LETTER_PINYIN:
            if k:
                out.add(k)
            k += len(LETTER_PINYIN[c])
    if k < n:
        out.add(k)
    return out


def _per_symbol(per_char: Optional[list], chars: List[int], neutral: Any = 1.0) -> Optional[list]:
    """A per-character value → per symbol (sil and #0 take the value of the character before
    them, the first sil that of the first character); None where every value is `neutral`."""
    if not per_char or all(v == neutral for v in per_char):
        return None
    first = next((per_char[c] for c in chars if c >= 0), per_char[0])
    out, last = [], first
    for c in chars:
        last = per_char[c] if c >= 0 else last
        out.append(last)
    return out


def _split_outside(text: str, fixed: dict, max_chars: int) -> List[Clause]:
    """``split_clauses``, but a fixed-reading word is never cut (its text may hold a mark)."""
    if not fixed:
        return split_clauses(text, max_chars)
    masked = list(text)
    for start, (end, *_) in fixed.items():
        masked[start:end] = ["\uE000"] * (end - start)
    out: List[Clause] = []
    inside = [(start, end) for start, (end, *_) in fixed.items()]
    for cl in split_clauses("".join(masked), max_chars):
        if out:
            prev = out[-1]
            cut = prev.start + len(prev.text)
            if any(a < cut < b for a, b in inside):
                # a length cut fell inside a long word (FordhamUniversity): keep the word whole
                out[-1] = Clause(text[prev.start:cl.start + len(cl.text)], cl.pause_after, prev.start)
                continue
        out.append(Clause(text[cl.start:cl.start + len(cl.text)], cl.pause_after, cl.start))
    return out
