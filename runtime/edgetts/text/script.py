"""Traditional Chinese → simplified, so that 銀行/長江/重新 get the pinyin of 银行/长江/重新.

The polyphone dictionary and the normalization grammars are built for simplified text. OpenCC's
phrase-aware ``t2s`` tables (``opencc-python-reimplemented``, pure Python) do the conversion.

Only sentences that really are traditional are converted: one that holds at least one character
outside GB 2312 (the simplified character set) which the tables change. Simplified text passes
untouched, so characters that both scripts use, such as 著 in 著名 or 乾 in 乾隆, keep the
reading the polyphone model gives them there.
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, Optional, Tuple

_convert: Optional[Callable[[str], str]] = None
_lock = threading.Lock()


def _converter() -> Callable[[str], str]:
    global _convert
    with _lock:
        if _convert is None:
            import opencc

            _convert = opencc.OpenCC("t2s").convert
    return _convert


def is_han(c: str) -> bool:
    """A Chinese character: the CJK unified ideograph blocks (A to G extensions), the
    compatibility ideographs, and 〇."""
    o = ord(c)
    return (
        0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F or c == "〇"
    )


def _simplified_charset(c: str) -> bool:
    try:
        c.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


def is_traditional(text: str) -> bool:
    """True when `text` holds a traditional-only character (one the t2s tables change and
    GB 2312 lacks)."""
    candidates = [c for c in text if ord(c) >= 0x3400 and not _simplified_charset(c)]
    if not candidates:
        return False
    convert = _converter()
    return any(convert(c) != c for c in candidates)


def with_hints(text: str) -> Tuple[str, Dict[str, Tuple[str, ...]]]:
    """`to_simplified(text)` and, per simplified character that one traditional character of
    the text became, that character's readings (TONE3): 髒 (zāng) and 臟 (zàng) both become 脏,
    and the polyphone model, seeing only 脏, may pick the wrong one. The front-end keeps the
    model's reading where the traditional character allows it, else takes the traditional one.
    """
    out = to_simplified(text)
    if out == text or len(out) != len(text):
        return out, {}
    from pypinyin import Style, pinyin

    sources: Dict[str, set] = {}
    for a, b in zip(text, out):
        if a != b:
            sources.setdefault(b, set()).add(a)
    hints = {}
    for simple, trad in sources.items():
        # 髒 and 臟 in one sentence, or 了 both written and converted from 瞭: no hint
        if len(trad) == 1 and simple not in text:
            readings = pinyin(next(iter(trad)), style=Style.TONE3, heteronym=True,
                              neutral_tone_with_five=True)[0]
            hints[simple] = tuple(readings)
    return out, hints


def to_simplified(text: str) -> str:
    """`text` converted with the phrase-aware t2s tables if it is traditional, else unchanged.

    >>> to_simplified("我去銀行取錢")
    '我去银行取钱'
    >>> to_simplified("著名的乾隆")
    '著名的乾隆'
    """
    return _converter()(text) if is_traditional(text) else text
