"""Codes, account numbers, separators, ranges, signed percentages and traditional characters:
each rule read the way a Mandarin speaker reads it, and the quantities around them unchanged."""

import pytest

from edgetts.text import digits, script
from edgetts.text.frontend import Frontend
from edgetts.text.normalize import normalize

# The misreadings a user reported, and what a speaker says.
REPORTED = [
    ("验证码是384756", "验证码是三八四七五六"),
    ("短信验证码：902113", "短信验证码：九零二一一三"),
    ("身份证号110101199003071234", "身份证号一一零一零一一九九零零三零七一二三四"),
    ("卡号6222021234567890", "卡号六二二二零二一二三四五六七八九零"),
    ("订单号2024112512345678", "订单号二零二四一一二五一二三四五六七八"),
    ("售价￥1,299", "售价一千二百九十九元"),
    ("1,234,567", "一百二十三万四千五百六十七"),
    ("8-10点", "八到十点"),
    ("涨幅-3.2%", "涨幅负百分之三点二"),
]


@pytest.mark.parametrize("written, spoken", REPORTED, ids=[r[0] for r in REPORTED])
def test_reported_misreadings_are_read_as_a_speaker_says(written, spoken):
    assert normalize(written) == spoken


RULES = [
    # keyword codes: across a colon, a space, 是/为/号码; letters and dashes inside the code
    ("keyword across a space", "验证码 384756，请在5分钟内输入", "验证码 三八四七五六，请在五分钟内输入"),
    ("keyword with 号码是", "您的手机号码是13912345678", "您的手机号码是幺三九幺二三四五六七八"),
    ("account", "账号为62170012", "账号为六二一七零零一二"),
    ("tail number", "尾号1234的银行卡", "尾号一二三四的银行卡"),
    ("room reads 1 as yao", "房间号1203", "房间号幺二零三"),
    ("train", "车次G1234", "车次G幺二三四"),
    ("flight then a time", "航班CA1234于8:30起飞", "航班CA幺二三四于八点三十分起飞"),
    ("order with letters and dashes", "订单号：ABC-2024-0001", "订单号：ABC 二零二四 零零零一"),
    ("postcode", "邮编100081", "邮编一零零零八一"),
    # a short number after a keyword that counts something stays a quantity
    ("code validity", "验证码10分钟内有效", "验证码十分钟内有效"),
    ("password length", "密码6位", "密码六位"),
    ("phones counted", "手机3台", "手机三台"),
    ("phones counted in 万", "移动电话47万多部", "移动电话四十七万多部"),
    ("telephones counted", "拥有电话47架", "拥有电话四十七架"),
    ("extension", "拨打分机16", "拨打分机幺六"),
    # shape: grouped digits, letters glued to digits, very long runs
    ("grouped card", "6217 0012 3456 7890", "六二一七 零零一二 三四五六 七八九零"),
    ("grouped mobile", "139 1234 5678", "幺三九 幺二三四 五六七八"),
    ("tracking number", "SF1234567890", "SF一二三四五六七八九零"),
    ("model number", "RTX4090显卡", "RTX四零九零显卡"),
    ("long run", "流水202411250001号", "流水二零二四一一二五零零零一号"),
    # separators, ranges, signs
    ("separator with 万", "3,500万", "三千五百万"),
    ("separator with decimals", "共1,299.50元", "共一千二百九十九点五零元"),
    ("list stays a list", "1,2,3", "一,二,三"),
    ("range of days", "2-3个工作日", "两到三个工作日"),
    ("range en dash", "3–5天", "三到五天"),
    ("range of pages", "第8-10页", "第八到十页"),
    ("range of decimals", "2.5-3.5米", "二点五到三点五米"),
    ("range of percentages", "3-5%", "百分之三到百分之五"),
    ("positive percentage", "涨幅+3.2%", "涨幅正百分之三点二"),
    ("per mille", "下降-0.5‰", "下降负千分之零点五"),
    # what was right stays right: quantities, years, dates, phones, times, temperatures
    ("quantity", "共有1234人", "共有一千二百三十四人"),
    ("price", "价格是12345元", "价格是一万二千三百四十五元"),
    ("year", "2024年", "二零二四年"),
    ("year range", "2024-2025年", "二零二四到二零二五年"),
    ("iso date", "2024-11-25", "二零二四年十一月二十五日"),
    ("phone keyword", "电话13912345678", "电话幺三九幺二三四五六七八"),
    ("temperature", "温度-5℃", "温度负五摄氏度"),
    ("time", "12:30", "十二点三十分"),
    ("ordinal", "第3名", "第三名"),
    ("eleven digits are not long", "12345678901", None),
]


@pytest.mark.parametrize("cls, written, spoken", RULES, ids=[r[0] for r in RULES])
def test_reading_rule(cls, written, spoken):
    if spoken is None:  # a mobile-shaped number: the grammars' telephone reading, untouched
        assert digits.rewrite(written) == written
    else:
        assert normalize(written) == spoken


def test_a_keyword_reaches_only_the_first_number_after_it():
    assert normalize("验证码384756，有效期5分钟，共3次机会") == "验证码三八四七五六，有效期五分钟，共三次机会"


def test_a_keyword_does_not_reach_across_other_words():
    assert normalize("手机价格2999元") == "手机价格两千九百九十九元"


# -- traditional characters --------------------------------------------------------------------

@pytest.mark.parametrize("traditional, simplified", [
    ("我去銀行取錢", "我去银行取钱"), ("長江", "长江"), ("長頸鹿", "长颈鹿"), ("重新開始", "重新开始"),
])
def test_traditional_reads_as_simplified(traditional, simplified):
    fe = Frontend()
    assert [u.pinyin for u in fe(traditional)] == [u.pinyin for u in fe(simplified)]
    assert normalize(traditional) == simplified


def test_traditional_fixes_the_polyphones_reported():
    fe = Frontend()
    assert fe("我去銀行取錢")[0].pinyin[2:4] == ["yin2", "hang2"]
    assert fe("長江")[0].pinyin[0] == "chang2"
    assert fe("長頸鹿")[0].pinyin[0] == "chang2"


@pytest.mark.parametrize("text", ["著名的乾隆皇帝", "皇后", "我们于是出发", "头发"])
def test_simplified_text_passes_untouched(text):
    # characters both scripts use (著名, 乾隆) keep the reading they have in simplified text
    assert not script.is_traditional(text)
    assert script.to_simplified(text) == text


def test_a_traditional_character_keeps_its_own_readings():
    fe = Frontend()
    # 髒 (dirty, zāng) and 臟 (organ, zàng) both become 脏: the model alone says zang4 here
    assert fe("牆壁非常髒")[0].pinyin[-1] == "zang1"
    assert fe("心臟")[0].pinyin[-1] == "zang4"
    # only the characters that were converted: the written 了 stays le5 beside 瞭 → 了
    assert fe("在瞭解了中國")[0].pinyin[1:4] == ["liao3", "jie3", "le5"]
