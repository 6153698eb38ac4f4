"""The Baker (CSMSC) symbol table and the pinyin → initial/final rules.

The table has 219 symbols and is the vocabulary every graph of a voice is trained on:

    0       pad
    1       sil
    2-5     #0 #1 #2 #3          (prosodic breaks; only #0, between characters, is used)
    6-27    22 initials, ``^`` is the zero initial
    28-217  38 finals x 5 tones  (tone 5 is the neutral tone)
    218     eos

The order is fixed: a voice's manifest repeats it and the runtime refuses a voice whose table differs.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

PAD = "pad"
SIL = "sil"
EOS = "eos"
BREAKS = ["#0", "#1", "#2", "#3"]
WORD_BREAK = "#0"

INITIALS = [
    "^", "b", "c", "ch", "d", "f", "g", "h", "j", "k", "l",
    "m", "n", "p", "q", "r", "s", "sh", "t", "x", "z", "zh",
]

FINALS = [
    "a", "ai", "an", "ang", "ao", "e", "ei", "en", "eng", "er", "i", "ia", "ian", "iang",
    "iao", "ie", "ii", "iii", "in", "ing", "iong", "iou", "o", "ong", "ou", "u", "ua",
    "uai", "uan", "uang", "uei", "uen", "ueng", "uo", "v", "van", "ve", "vn",
]

TONES = ["1", "2", "3", "4", "5"]

SYMBOLS: List[str] = (
    [PAD, SIL] + BREAKS + INITIALS + [f + t for f in FINALS for t in TONES] + [EOS]
)
SYMBOL_TO_ID: Dict[str, int] = {s: i for i, s in enumerate(SYMBOLS)}

PAD_ID = SYMBOL_TO_ID[PAD]
SIL_ID = SYMBOL_TO_ID[SIL]
EOS_ID = SYMBOL_TO_ID[EOS]
WORD_BREAK_ID = SYMBOL_TO_ID[WORD_BREAK]
NUM_SYMBOLS = len(SYMBOLS)
assert NUM_SYMBOLS == 219

# Initials tried longest first so that "zh" wins over "z".
_INITIALS_BY_LENGTH = sorted((i for i in INITIALS if i != "^"), key=len, reverse=True)

# Syllables written without an initial letter: y/w spellings and bare vowels.
_ZERO_INITIAL: Dict[str, str] = {
    "yi": "i", "ya": "ia", "yan": "ian", "yang": "iang", "yao": "iao", "ye": "ie",
    "yin": "in", "ying": "ing", "yong": "iong", "you": "iou", "yo": "iou",
    "yu": "v", "yuan": "van", "yue": "ve", "yun": "vn",
    "wu": "u", "wa": "ua", "wai": "uai", "wan": "uan", "wang": "uang", "wei": "uei",
    "wen": "uen", "weng": "ueng", "wo": "uo",
    # Interjections whose pinyin has no vowel letter; the corpus voices them as "en".
    "n": "en", "ng": "en",
}

# Abbreviated finals of standard pinyin spelled out as the corpus writes them.
_FINAL_SPELLING: Dict[str, str] = {"iu": "iou", "ui": "uei", "un": "uen", "ue": "ve"}


def split_syllable(syllable: str) -> Optional[Tuple[str, str]]:
    """Split a toneless pinyin syllable ("zhong", "yu", "nv") into (initial, final).

    Returns None when the syllable cannot be written with the Baker symbols.
    """
    s = syllable.lower().replace("ü", "v").replace("u:", "v")
    if not s:
        return None
    if s in _ZERO_INITIAL:
        return "^", _ZERO_INITIAL[s]
    initial = ""
    for cand in _INITIALS_BY_LENGTH:
        if s.startswith(cand):
            initial = cand
            break
    final = s[len(initial):]
    if not initial:
        initial = "^"
    elif initial in ("j", "q", "x") and final.startswith("u"):
        # ju, quan, xue: the written "u" is the rounded "ü".
        final = "v" + final[1:]
    if initial in ("zh", "ch", "sh", "r") and final == "i":
        final = "iii"
    elif initial in ("z", "c", "s") and final == "i":
        final = "ii"
    elif final in _FINAL_SPELLING:
        final = _FINAL_SPELLING[final]
    if final not in FINALS:
        return None
    return initial, final


def syllable_to_symbols(pinyin_tone3: str) -> Optional[List[str]]:
    """Turn a TONE3 syllable ("zhong1", "ma5", "huar1") into Baker symbols.

    An r-suffixed (erhua) syllable that is not itself "er" becomes the syllable plus "er5",
    the way the corpus annotates it. Returns None for anything that is not a syllable.
    """
    if len(pinyin_tone3) < 2 or pinyin_tone3[-1] not in TONES:
        return None
    tone = pinyin_tone3[-1]
    base = pinyin_tone3[:-1]
    parts = split_syllable(base)
    if parts is not None:
        return [parts[0], parts[1] + tone]
    if base.endswith("r") and len(base) > 1:
        parts = split_syllable(base[:-1])
        if parts is not None:
            return [parts[0], parts[1] + tone, "er5"]
    return None
