"""Text normalization: written Chinese with numbers, units and symbols → spoken Chinese.

The heavy lifting is done by WeTextProcessing's runtime (`wetext`), a maintained set of weighted
finite-state grammars for Chinese text normalization that ships its compiled FSTs in the wheel:
integers, decimals, negatives, percentages, money, dates, times, phone numbers and digit strings
(read digit by digit, 1 as 幺), ordinals, units (km, kg, ℃), years, fractions and ranges.
Where `wetext` cannot be installed (its `kaldifst` dependency has no wheel for a platform), `cn2an`
is used instead, which covers numbers, percentages, dates and fractions only; `backend()` says which.

Before the grammars run, the text is cleaned (full-width letters and digits become ASCII,
whitespace runs collapse), traditional characters become simplified (`script`), and digit
strings that people read digit by digit are rewritten by context (`digits`: codes, account
numbers, thousands separators, ranges, signed percentages). After the grammars, any digit they
left is read digit by digit.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from typing import Callable, Optional

from . import digits, units
from .script import is_han, to_simplified

log = logging.getLogger(__name__)

# Full-width ASCII block (！ to ～) → ASCII, only for letters, digits and a few symbols
# whose meaning the grammars know; full-width punctuation is kept for sentence splitting.
FULLWIDTH = {
    chr(c): chr(c - 0xFEE0)
    for c in range(0xFF01, 0xFF5F)
    if chr(c - 0xFEE0).isalnum() or chr(c - 0xFEE0) in "%.+-/$"
}
FULLWIDTH["\u3000"] = " "
# RATIO, which older GB text uses as the colon of times and scores (10∶30, 3∶1)
FULLWIDTH["\u2236"] = ":"

# Grammars are run on pieces at most this long: WFST composition cost grows with length, and a
# megabyte without punctuation must not stall a request.
MAX_PIECE = 200

_normalizer: Optional[Callable[[str], str]] = None
_backend = ""
_load_lock = threading.Lock()  # the service's threads may all ask for it on their first request


def _load() -> Callable[[str], str]:
    global _normalizer, _backend
    if _normalizer is not None:
        return _normalizer
    with _load_lock:
        if _normalizer is not None:
            return _normalizer
        try:
            _backport_resources_files()
            from wetext import Normalizer

            tn = Normalizer(lang="zh", operator="tn")
            _normalizer, _backend = tn.normalize, "wetext"
        except Exception as exc:  # ImportError, or a wheel whose native part will not load
            import cn2an

            log.warning("wetext unavailable (%s); falling back to cn2an for numbers", exc)
            _normalizer = lambda s: cn2an.transform(s, "an2cn")  # noqa: E731
            _backend = "cn2an"
        return _normalizer


def _backport_resources_files() -> None:
    """wetext finds its grammars with ``importlib.resources.files`` on a namespace package
    (``wetext.fsts``), which Python 3.8 (the Jetson Nano's JetPack 4.6 interpreter) lacks and
    Python 3.9 (Debian bullseye, the oldest with onnxruntime 1.11's aarch64 wheels) gets wrong:
    it fails on a package without ``__init__.py``. The ``importlib_resources`` backport does
    both right, so such devices normalize exactly as a PC does instead of falling back to cn2an."""
    import importlib.resources
    import sys

    if sys.version_info < (3, 10):
        import importlib_resources

        # setattr: vermin reads a plain assignment as a use of the 3.9 API
        setattr(importlib.resources, "files", importlib_resources.files)  # noqa: B010


def backend() -> str:
    """Name of the normalization library in use: 'wetext' or 'cn2an'."""
    _load()
    return _backend


def clean(text: str) -> str:
    """Map full-width letters/digits to ASCII and collapse whitespace (newlines are kept)."""
    text = "".join(FULLWIDTH.get(c, c) for c in text)
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r" *\r?\n[\s]*", "\n", text)
    return text.strip(" ")


def _split_for_grammar(text: str):
    """Cut text longer than MAX_PIECE between two Han characters (never inside a number)."""
    start = 0
    while len(text) - start > MAX_PIECE:
        cut = -1
        for i in range(start + MAX_PIECE, start + MAX_PIECE // 4, -1):
            if is_han(text[i - 1]) and is_han(text[i]):
                cut = i
                break
        if cut < 0:
            cut = start + MAX_PIECE
        yield text[start:cut]
        start = cut
    yield text[start:]


def read_digits(text: str) -> str:
    """Read any remaining ASCII digit as a Chinese digit, one by one."""
    return re.sub(r"[0-9]", lambda m: digits.DIGITS[int(m.group())], text)


def normalize(text: str) -> str:
    """Return `text` with numbers, dates, units and symbols written as spoken Chinese.

    >>> normalize("会议于2026年11月22日下午3点开始，票价128.5元。")
    '会议于二零二六年十一月二十二日下午三点开始，票价一百二十八点五元。'
    """
    return normalize_prepared(to_simplified(clean(text)))


def normalize_prepared(text: str) -> str:
    """``normalize`` for text already cleaned and simplified (the front-end's sentences, which
    it cleans and converts itself to find lexicon words first)."""
    out = []
    for piece in _split_for_grammar(digits.rewrite(units.rewrite(text))):
        if not re.search(r"[0-9%℃°$¥€£:/.+\-~]", piece):
            out.append(piece)  # nothing for the grammars to do (and no need to load them)
            continue
        try:
            # the grammars strip the spaces at either end, which joined two English words where
            # a long text was cut between them ("did |not" → didnot): they are put back
            core = piece.strip()
            said = piece[:len(piece) - len(piece.lstrip())] + _load()(core) + piece[len(piece.rstrip()):]
        except Exception as exc:  # a grammar failure must not lose the sentence
            log.warning("text normalization failed on %r (%s); reading digits one by one", piece, exc)
            said = piece
        lost = lost_content(piece, said)
        if lost:
            log.warning("the normalization grammars dropped %s from %r; reading it without them",
                        ", ".join(map(repr, lost)), piece)
            said = piece
        out.append(said)
    return read_digits("".join(out))


_LATIN_WORD = re.compile(r"[A-Za-z]+")
_NONZERO_DIGITS = re.compile(r"\d*[1-9]\d*")
_NUMERALS = re.compile(r"[零〇一二两三四五六七八九十百千万亿幺]+")


def lost_content(before: str, after: str) -> list:
    """What the grammars lost going from ``before`` to ``after``.

    - **Numbers**: ``after`` must have at least as many runs of Chinese numerals as ``before``
      has runs of digits (a run of zeros does not count: 10:00 is 十点). Otherwise every digit
      run is reported.
    - **Words cut apart**: a Latin word that is gone while a piece of it is left (the grammars
      read the s of "4 star" as 秒 and leave "tar"). A word gone whole is a unit the grammars
      translated (km → 公里, PM → 下午) and is not reported.
    """
    lost = []
    was, now = Counter(_LATIN_WORD.findall(before)), Counter(_LATIN_WORD.findall(after))
    pieces = [x for x in now if now[x] > was[x]]  # Latin runs the grammars made
    for w in was:
        if now[w] < was[w] and any(x in w and x != w for x in pieces):
            lost.append(w)
    if len(_NUMERALS.findall(after)) < len(_NONZERO_DIGITS.findall(before)):
        lost.extend(_NONZERO_DIGITS.findall(before))
    return lost
