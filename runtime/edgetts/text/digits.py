"""Digit strings read by context, before the normalization grammars see them.

The grammars read a bare number as a quantity (384756 → 三十八万四千七百五十六). People read
codes and identifiers digit by digit, so these rewrites run first, on one sentence at a time:

1. **Thousands separators**: ``1,299`` and ``1,234,567.5`` lose their commas (groups of exactly
   three digits), so the number is read whole; ``1,2,3`` is a list and stays.
2. **Codes after a keyword**: the first run of digits (with letters, spaces and dashes glued to
   it) after 验证码, 卡号, 身份证, 订单号, 航班 … is read digit by digit, across linking words
   such as 是/为/号码 and a colon or a space: 验证码是384756 → 验证码是三八四七五六.
3. **Codes by shape**: digits glued to letters (SF1234567890, G1234), space-grouped digits
   (6217 0012 3456 7890, 139 1234 5678) and runs of 12 digits or more, which no one reads as
   a quantity. A mobile number (11 digits from 1) and the codes of spoken-radio habit (phone,
   flight, train, room) read 1 as 幺, as the grammars do for telephone numbers.
4. **Ranges**: ``8-10点`` → 8到10点 when a unit or measure word follows, ``3-5%`` → 3%到5%
   (the grammars read some as subtraction); dates (2024-11-25) and years (2024-2025年) are left to the grammars.
5. **Signed percentages**: ``-3.2%`` → 负3.2% (负百分之三点二, not 百分之负三点二), ``+3.2%`` → 正3.2%;
   per mille, which the grammars leave as a symbol: ``0.5‰`` → 千分之0.5.

Everything else (quantities, phone numbers, dates, times, units, ordinals) is left to the
grammars, which already read them as people do.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
DIGITS_YAO = "零幺二三四五六七八九"

# Keywords that mark the next digit run as a code. Those in _YAO_KEYWORDS read 1 as 幺.
_KEYWORDS = (
    "验证码", "校验码", "动态码", "取件码", "提货码", "取餐码", "邀请码", "激活码", "密码", "口令",
    "卡号", "账号", "帐号", "户号", "尾号", "单号", "订单号", "运单号", "快递单号", "流水号",
    "编号", "序列号", "工号", "学号", "证号", "证件号", "身份证", "车牌", "邮编",
    "车次", "航班", "房间号", "房号", "电话", "手机", "热线", "座机", "分机", "QQ", "微信号",
)
_YAO_KEYWORDS = ("车次", "航班", "房间号", "房号", "电话", "手机", "热线", "座机", "分机")

# What may stand between a keyword and its code: 号/号码, then 是/为, a colon, spaces.
_GAP = r"\s*(?:号码|号)?\s*(?:是|为|：|:)?\s*[：:]?\s*"
# A code: optional letters, then digits, with letters, spaces and dashes between digit groups.
_CODE = r"(?:[A-Za-z]+[ \-]?)?\d(?:[A-Za-z\d]|[ \-](?=[A-Za-z\d]))*"
_KEYWORD_CODE = re.compile(
    "(%s)(%s)(%s)" % ("|".join(sorted(map(re.escape, _KEYWORDS), key=len, reverse=True)), _GAP, _CODE))

# Thousands separators: 1,299 / 12,345,678.9; not 1,2,3 and not a comma list of long numbers.
_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?![\d,])")
# Letters glued to four or more digits (a tracking number, a train, a model number).
_LETTER_CODE = re.compile(r"(?<![A-Za-z\d])[A-Za-z]{1,4}\d{4,}(?![\d.])")
# Space-grouped digits: at least three groups of 3-4 digits, as cards and phones are printed.
_GROUPED = re.compile(r"(?<![\d.])\d{3,4}(?: \d{3,4}){2,}(?![\d.])")
# Twelve digits or more with no decimal point: an identifier, not a quantity.
_LONG = re.compile(r"(?<![\d.,])\d{12,}(?![\d.])")
# A range between two numbers, followed by a unit or measure word (not 年: years are the
# grammars' business, and not a date's month/day dashes).
_UNITS = "点时分秒天日周月个岁元块角人次件倍度米克斤层楼号位名家条张台辆本页期集章节届遍"
_RANGE = re.compile(
    r"(?<![\d.\-])(\d+(?:\.\d+)?)\s*[-–—~～]\s*(\d+(?:\.\d+)?)(?=\s*(?:[%s]|[万千百亿]|[a-zA-Z]))"
    % re.escape(_UNITS))
# Measure words that make a short number after a keyword a count (手机3台), not a code.
_COUNTERS = "部台只支份条位次架个万亿千百多余"
# A range of percentages, 3-5% or 3%-5%: both ends are percentages (百分之三到百分之五).
_PERCENT_RANGE = re.compile(r"(?<![\d.\-])(\d+(?:\.\d+)?)%?\s*[-–—~～]\s*(\d+(?:\.\d+)?)%")
# A sign before a percentage or per-mille, not after a digit (3-5% is a range).
_SIGNED_PERCENT = re.compile(r"(?<![\d.])([+\-−])(\d+(?:\.\d+)?)\s*([%％‰])")
# Per mille, which the grammars leave as a symbol: 0.5‰ → 千分之0.5.
_PER_MILLE = re.compile(r"(\d+(?:\.\d+)?)\s*‰")


def read_digits(code: str, yao: bool = False) -> str:
    """Digits one by one (letters kept for the front-end to spell, dashes become gaps)."""
    table = DIGITS_YAO if yao else DIGITS
    out = re.sub(r"\d", lambda m: table[int(m.group())], code)
    return out.replace("-", " ")


def _is_mobile(digits: str) -> bool:
    return len(digits) == 11 and digits[0] == "1"


def rewrite(sentence: str) -> str:
    """Apply the rules above to one sentence (ASCII digits, as ``normalize.clean`` leaves them).

    >>> rewrite("验证码是384756，售价1,299元，8-10点，涨幅-3.2%")
    '验证码是三八四七五六，售价1299元，8到10点，涨幅负3.2%'
    """
    s = _THOUSANDS.sub(lambda m: m.group().replace(",", ""), sentence)
    s = _KEYWORD_CODE.sub(_keyword_code, s)
    s = _LETTER_CODE.sub(lambda m: read_digits(m.group()), s)
    s = _GROUPED.sub(lambda m: read_digits(m.group(), _is_mobile(m.group().replace(" ", ""))), s)
    s = _LONG.sub(lambda m: read_digits(m.group()), s)
    s = _PERCENT_RANGE.sub(lambda m: "%s%%到%s%%" % (m.group(1), m.group(2)), s)
    s = _RANGE.sub(lambda m: "%s到%s" % (m.group(1), m.group(2)), s)
    s = _SIGNED_PERCENT.sub(lambda m: "%s%s%s" % ("正" if m.group(1) == "+" else "负",
                                                   m.group(2), m.group(3)), s)
    s = _PER_MILLE.sub(lambda m: "千分之" + m.group(1), s)
    return s


def _keyword_code(m: "re.Match") -> str:
    keyword, gap, code = m.group(1), m.group(2), m.group(3)
    after = m.string[m.end():m.end() + 1]
    if re.fullmatch(r"\d{1,4}(?:\.\d+)?", code) and after and after in _UNITS + _COUNTERS:
        return m.group()  # 验证码5分钟内有效, 密码6位, 电话47万多部: a quantity, not a code
    return keyword + gap + read_digits(code, keyword in _YAO_KEYWORDS)
