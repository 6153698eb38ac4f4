"""A user lexicon: fix how any word is read, without code.

One entry per line, a word, a tab, then either its pinyin or ``=`` and an alias to read instead::

    # brands and names
    行长	hang2 zhang3
    WiFi	wai1 fai1
    iPhone	=爱疯
    WeChat	=微信

Pinyin is TONE3 (``hang2``, neutral tone 5) or tone marks (``háng``), one syllable per Chinese
character of the word; a word with no Chinese characters (WiFi) takes any number of syllables.
An alias is ordinary text: it is normalized and read by the polyphone model like the rest.
Blank lines and lines starting with ``#`` are ignored. Latin letters match regardless of case;
the longest entry wins where two overlap. Entries take precedence over the polyphone model and
the normalization grammars. A bad line raises ``LexiconError`` naming the file and line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import LexiconError
from .script import is_han
from .symbols import syllable_to_symbols


@dataclass(frozen=True)
class Entry:
    word: str
    pinyin: Optional[Tuple[str, ...]] = None  # fixed pronunciation, or
    alias: Optional[str] = None                # text read instead of the word


def parse_pinyin(text: str) -> Tuple[str, ...]:
    """Space-separated pinyin (TONE3 or tone marks) → TONE3 syllables the voice can say.

    Raises ValueError naming the first syllable that is not valid pinyin with a tone.
    """
    from pypinyin.contrib.tone_convert import to_tone3

    out = []
    for raw in text.split():
        s = to_tone3(raw.lower().replace("ü", "v").replace("u:", "v"), neutral_tone_with_five=True)
        if syllable_to_symbols(s) is None:
            raise ValueError("%r is not a pinyin syllable with a tone (like hang2 or háng)" % raw)
        out.append(s)
    if not out:
        raise ValueError("no pinyin given")
    return tuple(out)


def _han_count(word: str) -> int:
    return sum(1 for c in word if is_han(c))


def make_entry(word: str, value: str) -> Entry:
    """One entry from a word and its pinyin or ``=alias`` (raises ValueError with the reason)."""
    word = word.strip()
    value = value.strip()
    if not word:
        raise ValueError("the word is empty")
    if not value:
        raise ValueError("no pinyin or =alias after the word %r" % word)
    if value.startswith("="):
        alias = value[1:].strip()
        if not alias:
            raise ValueError("the alias of %r is empty" % word)
        return Entry(word, alias=alias)
    pinyin = parse_pinyin(value)
    han = _han_count(word)
    if han and han != len(word):
        raise ValueError("%r mixes Chinese characters with other characters; give the Chinese "
                         "part its own entry, or use =alias" % word)
    if han and len(pinyin) != han:
        raise ValueError("%r has %d characters but %d pinyin syllables (%s)"
                         % (word, han, len(pinyin), " ".join(pinyin)))
    return Entry(word, pinyin=pinyin)


MAX_LEXICON_BYTES = 8 << 20  # a lexicon is a word list: far larger is the wrong file (/dev/zero)
MAX_LINE_CHARS = 1000


class Lexicon:
    """Entries by word; ``split(text)`` cuts text at the entries it contains."""

    def __init__(self, entries: Iterable[Entry] = (), source: str = "<lexicon>"):
        self.source = source
        self._entries: Dict[str, Entry] = {}
        for e in entries:
            self._entries[_key(e.word)] = e
        self._pattern: Optional["re.Pattern"] = None
        if self._entries:
            words = sorted(self._entries, key=len, reverse=True)  # longest first wins
            self._pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    @classmethod
    def load(cls, path: str) -> "Lexicon":
        """Read a lexicon file (UTF-8); raises LexiconError naming the file and line."""
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_LEXICON_BYTES + 1)
            if len(raw) > MAX_LEXICON_BYTES:
                raise LexiconError("lexicon %s is larger than %d MiB; is it the right file?"
                                   % (path, MAX_LEXICON_BYTES >> 20))
            lines = raw.decode("utf-8-sig").splitlines()
        except OSError as exc:
            raise LexiconError("cannot read lexicon %s: %s" % (path, exc.strerror or exc))
        except UnicodeDecodeError as exc:
            raise LexiconError("lexicon %s is not UTF-8 text (%s)" % (path, exc.reason))
        entries = []
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if len(line) > MAX_LINE_CHARS:
                raise LexiconError("%s:%d: the line has %d characters; an entry is a word and its reading "
                                   "(at most %d)" % (path, n, len(line), MAX_LINE_CHARS))
            if "\t" not in line:
                raise LexiconError("%s:%d: expected word<TAB>pinyin or word<TAB>=alias, got %r"
                                   % (path, n, line))
            word, value = line.split("\t", 1)
            try:
                entries.append(make_entry(word, value))
            except ValueError as exc:
                raise LexiconError("%s:%d: %s" % (path, n, exc))
        return cls(entries, source=os.path.abspath(path))

    def split(self, text: str) -> List[Tuple[str, Optional[Entry]]]:
        """`text` cut into (piece, entry) with entry None for text between entries.

        >>> Lexicon([make_entry("WiFi", "wai1 fai1")]).split("连上wifi了")
        [('连上', None), ('wifi', Entry(word='WiFi', pinyin=('wai1', 'fai1'), alias=None)), ('了', None)]
        """
        if self._pattern is None:
            return [(text, None)]
        out: List[Tuple[str, Optional[Entry]]] = []
        pos = 0
        for m in self._pattern.finditer(text):
            if not _whole_word(text, m.start(), m.end()):
                continue
            if m.start() > pos:
                out.append((text[pos:m.start()], None))
            out.append((m.group(), self._entries[_key(m.group())]))
            pos = m.end()
        if pos < len(text):
            out.append((text[pos:], None))
        return out


def _key(word: str) -> str:
    return word.lower()


def _whole_word(text: str, a: int, b: int) -> bool:
    """A Latin word matches only as a whole word (WiFi, not the 'wifi' inside 'wifis')."""
    def latin(c: str) -> bool:
        return c.isascii() and c.isalnum()

    left = a > 0 and latin(text[a]) and latin(text[a - 1])
    right = b < len(text) and latin(text[b - 1]) and latin(text[b])
    return not (left or right)
