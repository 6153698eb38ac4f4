"""SSML: every supported element read as it says, bad SSML named, unsupported elements read
as text with a warning; and the user lexicon from a file."""

import logging

import pytest

from edgetts.errors import LexiconError, SSMLError
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.lexicon import Lexicon, make_entry
from edgetts.text.ssml import PARAGRAPH_PAUSE, SENTENCE_PAUSE, is_ssml, parse


def read(text, **kw):
    return Frontend(FrontendOptions(**kw))(text)


def spoken(text, **kw):
    return "|".join(u.spoken for u in read(text, **kw))


def test_detection_by_the_speak_start():
    assert is_ssml('  <speak>你好</speak>')
    assert is_ssml('<?xml version="1.0"?>\n<speak>你好</speak>')
    assert not is_ssml("你好<speak>")
    assert not is_ssml("1<2")


def test_ssml_can_be_forced_off_and_on():
    plain = read("<speak>你好</speak>", ssml=False, unknown="skip")
    assert plain[0].spoken.startswith("<speak>")  # read as text: the tags are not spoken
    assert spoken("<speak>你好</speak>") == "你好"
    with pytest.raises(SSMLError, match="malformed"):
        read("你好", ssml=True)


def test_break_time_and_strength():
    utts = read('<speak>你好<break time="800ms"/>再见<break strength="x-strong"/>好的</speak>')
    assert [u.spoken for u in utts] == ["你好", "再见", "好的"]
    assert utts[0].pause_after == pytest.approx(0.8)
    assert utts[1].pause_after == pytest.approx(0.7)


def test_break_after_a_full_stop_replaces_its_pause():
    utts = read('<speak>你好。<break time="1.5s"/>再见。</speak>')
    assert [u.pause_after for u in utts] == [pytest.approx(1.5), pytest.approx(SENTENCE_PAUSE)]


@pytest.mark.parametrize("ssml, first", [
    ('<p>你好</p><break time="500ms"/>再见', 0.5),     # shorter than the paragraph's 0.6 s: it wins
    ('<s>你好</s><break time="1s"/>再见', 1.0),
    ('<p><s>你好</s></p>再见', 0.6),                   # structural pauses alone: the longest
])
def test_a_break_beside_an_end_of_paragraph_replaces_its_pause(ssml, first):
    """It acted as a minimum: </p> then a 500 ms break paused 0.6 s."""
    utts = read("<speak>%s</speak>" % ssml)
    assert utts[0].pause_after == pytest.approx(first)


@pytest.mark.parametrize("kind, text, expected", [
    ("digits", "384756", "三八四七五六"),
    ("characters", "AB12", "A B 一 二"),
    ("telephone", "010-12345678", "零幺零 幺二三四五六七八"),
    ("cardinal", "12,345", "一万二千三百四十五"),
    ("date", "2024-11-25", "二零二四年十一月二十五日"),
    ("time", "8:05", "八点零五分"),
    ("time", "14:30:15", "十四点三十分十五秒"),
])
def test_say_as(kind, text, expected):
    assert spoken('<speak><say-as interpret-as="%s">%s</say-as></speak>' % (kind, text)) == expected


def test_say_as_date_formats():
    ssml = '<speak><say-as interpret-as="date" format="mdy">11/25/2024</say-as></speak>'
    assert spoken(ssml) == "二零二四年十一月二十五日"


def test_sub_reads_the_alias():
    utts = read('<speak>请用<sub alias="微信">WeChat</sub>支付</speak>')
    assert utts[0].spoken == "请用微信支付"
    assert utts[0].pinyin[2:4] == ["wei1", "xin4"]


def test_phoneme_fixes_a_reading_and_keeps_context():
    default = read("<speak>一行</speak>")[0].pinyin
    fixed = read('<speak>一<phoneme alphabet="pinyin" ph="hang2">行</phoneme></speak>')[0].pinyin
    assert default[1] != "hang2" and fixed[1] == "hang2"
    marks = read('<speak><phoneme alphabet="pinyin" ph="yín háng">银行</phoneme></speak>')[0].pinyin
    assert marks == ["yin2", "hang2"]  # tone marks are accepted too


def test_prosody_rate_and_volume_per_symbol():
    (u,) = read('<speak>快<prosody rate="slow" volume="+6dB">慢</prosody></speak>')
    assert u.symbol_rate is not None and u.symbol_volume is not None
    slow = [r for r, c in zip(u.symbol_rate, u.symbol_chars) if c == 1]
    fast = [r for r, c in zip(u.symbol_rate, u.symbol_chars) if c == 0]
    assert set(slow) == {0.75} and set(fast) == {1.0}
    loud = [v for v, c in zip(u.symbol_volume, u.symbol_chars) if c == 1]
    assert loud[0] == pytest.approx(10 ** (6 / 20))


def test_nested_prosody_multiplies():
    (u,) = read('<speak><prosody rate="200%"><prosody rate="50%">好</prosody></prosody></speak>')
    assert u.symbol_rate is None  # 2 x 0.5 = 1: nothing to change


def test_p_and_s_end_with_their_pauses():
    utts = read("<speak><p><s>第一句</s><s>第二句</s></p><p>第三段</p></speak>")
    assert [u.spoken for u in utts] == ["第一句", "第二句", "第三段"]
    assert utts[0].pause_after == SENTENCE_PAUSE
    assert utts[1].pause_after == PARAGRAPH_PAUSE  # </s></p>: the longer of the two


def test_namespaced_ssml_with_declaration():
    ssml = ('<?xml version="1.0" encoding="UTF-8"?><speak version="1.0" '
            'xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="zh-CN">你好<break time="300ms"/>世界</speak>')
    utts = read(ssml)
    assert [u.spoken for u in utts] == ["你好", "世界"] and utts[0].pause_after == pytest.approx(0.3)


def test_unsupported_element_is_read_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert spoken("<speak>这是<voice>重点</voice>内容</speak>") == "这是重点内容"
    assert "<voice> is not supported" in caplog.text


def test_pitch_and_emphasis_keep_the_text(caplog):
    """What they do to the voice is tests/test_prosody.py's; the words stay the same."""
    with caplog.at_level(logging.WARNING):
        assert spoken('<speak><prosody pitch="high" range="+20%">你好</prosody></speak>') == "你好"
        assert spoken("<speak>这是<emphasis>重点</emphasis>内容</speak>") == "这是重点内容"
    assert "not supported" not in caplog.text


@pytest.mark.parametrize("ssml, message", [
    ("<speak>你好", "malformed SSML at line 1"),
    ("<speak><b>你好</speak>", "malformed SSML"),
    ("<speak/>", "empty"),
    ('<!DOCTYPE speak [<!ENTITY x "好">]><speak>&x;</speak>', "DTD, entities"),
    ('<speak><break time="20s"/></speak>', "longer than the 10 s limit"),
    ('<speak><break time="soon"/></speak>', "break time='soon'"),
    ('<speak><break strength="huge"/></speak>', "break strength='huge'"),
    ('<speak><say-as interpret-as="ordinal">3</say-as></speak>', "interpret-as='ordinal'"),
    ('<speak><say-as interpret-as="cardinal">abc</say-as></speak>', "'abc' is not a number"),
    ('<speak><say-as interpret-as="date">2024-13-01</say-as></speak>', "no month 13"),
    ('<speak><say-as interpret-as="time">25:00</say-as></speak>', "not a valid time"),
    ('<speak><sub>WeChat</sub></speak>', "<sub> needs a non-empty alias"),
    ('<speak><phoneme ph="hang9">行</phoneme></speak>', "'hang9' is not a pinyin syllable"),
    ('<speak><phoneme ph="hang2 zhang3">行</phoneme></speak>', "1 characters but 2 pinyin"),
    ('<speak><phoneme alphabet="ipa" ph="xɑŋ">行</phoneme></speak>', "only pinyin"),
    ('<speak><prosody rate="weird">好</prosody></speak>', "prosody rate='weird'"),
    ('<speak><prosody rate="x-slow"><prosody rate="10%">好</prosody></prosody></speak>', "within 0.25-4"),
    ('<speak><prosody volume="loudest">好</prosody></speak>', "prosody volume='loudest'"),
    ("<speak>" + "<p>" * 40 + "好" + "</p>" * 40 + "</speak>", "nested deeper"),
])
def test_bad_ssml_names_the_element_and_problem(ssml, message):
    with pytest.raises(Exception) as info:
        read(ssml)
    assert message in str(info.value)


def test_root_must_be_speak():
    with pytest.raises(SSMLError, match="root element must be <speak>"):
        parse("<voice>你好</voice>")


def test_billion_laughs_is_refused_quickly():
    bomb = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            "<speak>&lol2;</speak>")
    with pytest.raises(SSMLError, match="DTD"):
        read(bomb)


# -- the user lexicon -----------------------------------------------------------------------------

def _lexicon(tmp_path, text):
    p = tmp_path / "lexicon.tsv"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_lexicon_pinyin_and_alias_entries(tmp_path):
    lex = Lexicon.load(_lexicon(tmp_path, "# brands\nWiFi\twai1 fai1\niPhone\t=爱疯\n行长\thang2 zhang3\n\n"))
    assert len(lex) == 3
    utts = read("连上wifi，用iPhone找行长", lexicon=lex)
    assert utts[0].pinyin == ["lian2", "shang4", "wai1", "fai1"]
    assert utts[0].unit_ends == {2: 6}  # WiFi is one unit: one mark for the word
    assert utts[1].spoken == "用爱疯找行长"
    assert utts[1].pinyin[-2:] == ["hang2", "zhang3"]


def test_lexicon_takes_precedence_over_polyphones_and_grammars(tmp_path):
    without = read("银行行长")[0].pinyin
    lex = Lexicon([make_entry("银行", "yin2 xing2")])
    assert read("银行行长", lexicon=lex)[0].pinyin[:2] == ["yin2", "xing2"] != without[:2]
    lex = Lexicon([make_entry("3M", "=三M")])
    assert read("3M公司", lexicon=lex)[0].spoken == "三M公司"


def test_latin_entries_match_whole_words_only():
    lex = Lexicon([make_entry("AI", "=人工智能")])
    assert read("AI和MAIL", lexicon=lex)[0].spoken == "人工智能和MAIL"


@pytest.mark.parametrize("line, message", [
    ("WiFi wai1 fai1", "expected word<TAB>pinyin"),
    ("行长\thang2", "2 characters but 1 pinyin"),
    ("行长\thang9 zhang3", "'hang9' is not a pinyin syllable"),
    ("iPhone\t=", "alias of 'iPhone' is empty"),
    ("\thang2", "the word is empty"),
    ("A股\ta1 gu3", "mixes Chinese characters"),
])
def test_bad_lexicon_line_names_file_and_line(tmp_path, line, message):
    path = _lexicon(tmp_path, "# ok\n行\thang2\n" + line + "\n")
    with pytest.raises(LexiconError) as info:
        Lexicon.load(path)
    assert "%s:3:" % path in str(info.value) and message in str(info.value)


def test_missing_or_binary_lexicon_is_named(tmp_path):
    with pytest.raises(LexiconError, match="cannot read lexicon"):
        Lexicon.load(str(tmp_path / "nope.tsv"))
    p = tmp_path / "bin.tsv"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(LexiconError, match="not UTF-8"):
        Lexicon.load(str(p))
