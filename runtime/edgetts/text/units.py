"""Written forms the normalization grammars misread: units in Latin letters, currency signs before
an amount in 元, versions, model numbers with hyphens, and "No.".

These rewrites run on one sentence before ``digits`` and the grammars (``normalize``):

1. **Currency**: a yuan sign before an amount that 元/块 already follows is dropped, since the
   grammars read ``¥5999元`` as 五元九百九十九元: ``￥5,999元`` → 5999元 → 五千九百九十九元.
2. **Units after a number** become the words Mandarin speakers say: data sizes and rates (KB K,
   MB/Mbps 兆, GB/Gbps G, TB T), frequencies (Hz 赫兹, kHz 千赫, MHz 兆赫, GHz G赫兹), battery and
   power (mAh 毫安时, Ah 安时, kWh 千瓦时, Wh 瓦时, kW 千瓦, W 瓦, V 伏, mA 毫安), frame rate (fps 帧每秒)
   and speeds (km/h 公里每小时, m/s 米每秒, mph 英里每小时). Matching is case-sensitive: 5G stays
   the network, 5g the grams the grammars know.
3. **Versions and dotted numbers**: ``v2.3.1`` → V二点三点一, ``10.15.7`` → 十点十五点七; a part of
   three or more digits is read digit by digit (192.168.1.1 → 一九二点一六八点一点一).
4. **Model numbers**: a hyphen between letters and digits joins, it is not a minus
   (COVID-19 → COVID 19, USB-C → USB C, Wi-Fi → WiFi); ``No.1`` → 第1; x86/x64 read digit by digit.
"""

from __future__ import annotations

import re

from .digits import read_digits

# Currency: the sign is dropped where 元/块/圆 after the amount says the same.
_YUAN_SIGN = re.compile(r"[¥￥]\s*(\d[\d,]*(?:\.\d+)?)(?=\s*(?:元|块|圆))")

# Units, longest first; case-sensitive. After a digit (and an optional space), not before a letter.
_UNIT_WORDS = {
    "km/h": "公里每小时", "m/s": "米每秒", "mph": "英里每小时",
    "Kbps": "K", "kbps": "K", "Mbps": "兆", "Gbps": "G", "MB/s": "兆每秒", "GB/s": "G每秒",
    "KB": "K", "kB": "K", "MB": "兆", "GB": "G", "TB": "T", "PB": "P",
    "GHz": "G赫兹", "MHz": "兆赫", "kHz": "千赫", "Hz": "赫兹",
    "mAh": "毫安时", "Ah": "安时", "kWh": "千瓦时", "Wh": "瓦时", "kW": "千瓦", "mA": "毫安",
    "W": "瓦", "V": "伏", "fps": "帧每秒",
}
_UNIT = re.compile(r"(?<=\d)\s?(%s)(?![A-Za-z/])" % "|".join(
    re.escape(u) for u in sorted(_UNIT_WORDS, key=len, reverse=True)))

# v2.3.1, V1.0 and dotted numbers with two dots or more (versions, addresses), not dates
# written with dots (2024.11.25, which the grammars read as a date)
_DOTTED_DATE = r"(?:19|20)\d\d\.\d{1,2}\.\d{1,2}(?![.\d])"
_VERSION = re.compile(r"(?<![A-Za-z\d.])(?:([vV]) ?(\d+(?:\.\d+)+)|(?!%s)(\d+(?:\.\d+){2,}))(?![.\d])"
                      % _DOTTED_DATE)
# No.1, NO. 12, no.3: an ordinal (long numbers after it are codes, read digit by digit).
_NUMERO = re.compile(r"(?<![A-Za-z])[Nn][Oo]\.\s?(\d+)")
# Hyphens inside a token of letters and digits.
_LETTER_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=\d)|(?<=\d)-(?=[A-Za-z])|(?<=[A-Za-z])-(?=[A-Za-z])")
_WIFI = re.compile(r"(?<![A-Za-z])[Ww][Ii]-[Ff][Ii](?![A-Za-z])")
_ARCH = re.compile(r"(?<![A-Za-z\d])[xX](86|64)(?![\d])")

def _small(part: str) -> str:
    """A part of a dotted number: up to two digits as a number, longer digit by digit."""
    if len(part) <= 2 and not (len(part) == 2 and part[0] == "0"):
        import cn2an  # imported on the first version number: most text has none

        return cn2an.an2cn(part)
    return read_digits(part)


def _dotted(m: "re.Match") -> str:
    number = m.group(2) or m.group(3)
    return ("V" if m.group(1) else "") + "点".join(_small(p) for p in number.split("."))


def rewrite(sentence: str) -> str:
    """Apply the rules above to one sentence.

    >>> rewrite("售价￥5,999元，网速100Mbps，COVID-19，No.1，v2.3.1")
    '售价5,999元，网速100兆，COVID 19，第1，V二点三点一'
    """
    s = _YUAN_SIGN.sub(lambda m: m.group(1), sentence)
    s = _UNIT.sub(lambda m: _UNIT_WORDS[m.group(1)], s)
    s = _VERSION.sub(_dotted, s)
    s = _NUMERO.sub(lambda m: ("第" + m.group(1)) if len(m.group(1)) <= 3 else ("编号" + read_digits(m.group(1))), s)
    s = _ARCH.sub(lambda m: "X" + read_digits(m.group(1)), s)
    s = _WIFI.sub("WiFi", s)
    s = _LETTER_HYPHEN.sub(" ", s)
    return s
