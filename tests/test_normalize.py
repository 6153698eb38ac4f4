"""Each normalization class real prompts contain, read the way a Mandarin speaker reads it."""

import pytest

from edgetts.text.normalize import clean, normalize, read_digits

CASES = [
    # class, written, spoken
    ("integer", "我有12个苹果", "我有十二个苹果"),
    ("decimal", "长3.14米", "长三点一四米"),
    ("negative", "气温-5度", "气温负五度"),
    ("percent", "涨了15%", "涨了百分之十五"),
    ("percent decimal", "利率0.5%", "利率百分之零点五"),
    ("money yuan", "花了¥36.5", "花了三十六点五元"),
    ("money dollar", "价格$20", "价格二十美元"),
    ("money with 元", "票价128.5元", "票价一百二十八点五元"),
    ("date", "2026年11月22日", "二零二六年十一月二十二日"),
    ("iso date", "2026-11-22", "二零二六年十一月二十二日"),
    ("time", "下午3:15", "下午三点十五分"),
    ("phone", "电话13812345678", "电话幺三八幺二三四五六七八"),
    ("digit string", "编号007", "编号零零七"),
    ("ordinal", "第3名", "第三名"),
    ("unit km", "跑了5km", "跑了五公里"),
    ("unit kg", "重2kg", "重两千克"),
    ("unit celsius", "气温25℃", "气温二十五摄氏度"),
    ("year", "1998年", "一九九八年"),
    ("fraction", "3/4", "四分之三"),
    ("range", "10~20人", "十到二十人"),
    ("range hyphen", "1-2天", "一到两天"),
    ("thousands separator", "1,000人", "一千人"),
    ("full-width digits", "１２３元", "一百二十三元"),
    ("large unit", "5.5亿", "五点五亿"),
]


@pytest.mark.parametrize("cls, written, spoken", CASES, ids=[c[0] for c in CASES])
def test_normalization_class(cls, written, spoken):
    assert normalize(written) == spoken


def test_issue_example():
    assert normalize("会议于2026年11月22日下午3点开始，票价128.5元。") == (
        "会议于二零二六年十一月二十二日下午三点开始，票价一百二十八点五元。"
    )


def test_clean_collapses_whitespace_and_keeps_lines():
    assert clean("你好\u3000 世界\r\n\n再见  ") == "你好 世界\n再见"


def test_left_over_digits_read_one_by_one():
    assert read_digits("版本3") == "版本三"


def test_huge_text_without_punctuation_is_normalized_in_pieces():
    text = "数字123" * 2000  # 12,000 characters, no punctuation
    out = normalize(text)
    assert "一百二十三" in out and not any(c.isdigit() for c in out)
    assert out.count("数字") == 2000


# -- the same front-end on every interpreter -------------------------------------------------------
# tests/data/frontend_golden.json holds the front-end's whole output (spoken form, pinyin, ids)
# for every class above and a few polyphones, written under Python 3.11. CI runs this test under
# 3.11 and under 3.8 (the Jetson Nano's interpreter), so a device reads text exactly as a PC does.
# After an intended front-end change: python tests/test_normalize.py --write-golden

GOLDEN = __import__("os").path.join(__import__("os").path.dirname(__file__), "data",
                                    "frontend_golden.json")
POLYPHONES = ["我去银行取钱", "他长大了", "重新开始", "音乐很好听", "会议于2026年11月22日下午3点开始，票价128.5元。"]


def _frontend_output():
    from edgetts.text.frontend import Frontend

    fe = Frontend()
    out = {}
    for text in [c[1] for c in CASES] + POLYPHONES:
        out[text] = [{"spoken": u.spoken, "pinyin": u.pinyin, "ids": u.ids} for u in fe(text)]
    return out


def test_normalizer_is_wetext_on_this_interpreter():
    from edgetts.text.normalize import backend

    assert backend() == "wetext"  # never the cn2an fallback, Python 3.8 included


def test_front_end_output_equals_the_golden_file():
    import json

    with open(GOLDEN, encoding="utf-8") as f:
        want = json.load(f)
    got = _frontend_output()
    assert sorted(got) == sorted(want)
    diff = {t: (got[t], want[t]) for t in want if got[t] != want[t]}
    assert not diff


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:] != ["--write-golden"]:
        sys.exit("usage: python tests/test_normalize.py --write-golden")
    with open(GOLDEN, "w", encoding="utf-8") as f:
        json.dump(_frontend_output(), f, ensure_ascii=False, indent=1)
    print("wrote", GOLDEN)


def test_grammars_load_once_when_threads_race(monkeypatch):
    """The service's handler threads may all normalize their first request at once: the
    grammars are built once, and every thread gets them."""
    import threading
    import time

    import wetext

    from edgetts.text import normalize as tn

    built = []
    real = wetext.Normalizer

    def counting(*a, **k):
        built.append(1)
        time.sleep(0.05)  # loading the FSTs takes time; let the other threads run meanwhile
        return real(*a, **k)

    monkeypatch.setattr(wetext, "Normalizer", counting)
    monkeypatch.setattr(tn, "_normalizer", None)
    start = threading.Barrier(8)
    got = []

    def first_request():
        start.wait()
        got.append(tn.normalize("票价128.5元"))

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and got == ["票价一百二十八点五元"] * 8


def test_grammars_load_only_for_text_that_needs_them(tiny_bundle):
    """A one-shot `say` of plain Han text does not pay the 0.3 s grammar load; text with digits
    loads them, and a service's warm-up loads them before the first request."""
    import subprocess
    import sys

    code = """
import edgetts.text.normalize as n
from edgetts.engine.voice import Voice
v = Voice.load(%r, provider="cpu")
v.synthesize_array("请注意，列车即将进站。")
print(n._normalizer is None)
v.synthesize_array("票价128元。")
print(n._normalizer is None)
w = Voice.load(%r, provider="cpu")
n._normalizer = None
w.warmup()
print(n._normalizer is None)
""" % (tiny_bundle, tiny_bundle)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]
