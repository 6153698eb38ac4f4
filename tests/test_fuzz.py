"""Property tests over everything that reads untrusted input: SSML, the front-end, lexicon files,
HTTP request bodies and Wyoming events. Arbitrary Unicode (lone surrogates included), huge
numbers, deep nesting and random attribute values. The only allowed outcomes are a result or the
project's own typed error (``EdgeTTSError``, ``ServiceError``, ``BadEvent``), never another
exception.

Bounded for ``make test`` (the ``ci`` profile, conftest.py); ``make fuzz`` runs the ``deep`` one. Inputs
these properties once broke on are pinned with ``@example``, so they stay fixed.
"""

import asyncio
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edgetts.errors import EdgeTTSError
from edgetts.serving.schema import OpenAISpeechRequest, TtsRequest, parse
from edgetts.serving.service import ServiceError
from edgetts.serving.wyoming_server import BadEvent, read_event
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.lexicon import Lexicon

surrogate = st.integers(0xD800, 0xDFFF).map(chr)
unicode = st.one_of(st.characters(), surrogate)
text = st.text(alphabet=unicode, max_size=40)
digits = st.text(alphabet="0123456789", min_size=1, max_size=40)
number = st.one_of(digits, st.builds(lambda s, a, b: s + a + "." + b, st.sampled_from(["", "-", "+"]), digits, digits))
word = st.one_of(text, number, st.sampled_from(["slow", "x-fast", "loud", "medium", "500ms", "10s", "1e9s",
                                                "+6dB", "-99999dB", "inf", "nan", "120%", "-3%",
                                                "+2st", "-30st", "x-high", "strong", "+10%"]))

SSML_ELEMENTS = [
    ("break", ("time", "strength")),
    ("prosody", ("rate", "volume", "pitch", "range")),
    ("say-as", ("interpret-as", "format")),
    ("sub", ("alias",)),
    ("phoneme", ("alphabet", "ph")),
    ("emphasis", ("level",)),
    ("p", ()),
    ("s", ()),
]


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def ssml(draw, depth=0):
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if depth < 4 and draw(st.booleans()):
            tag, attrs = draw(st.sampled_from(SSML_ELEMENTS))
            chosen = draw(st.lists(st.sampled_from(attrs), unique=True)) if attrs else []
            values = {a: draw(word if a != "interpret-as" else
                              st.sampled_from(["cardinal", "digits", "characters", "telephone", "date", "time", "x"]))
                      for a in chosen}
            attr = "".join(' %s="%s"' % (a, _escape(v)) for a, v in values.items())
            parts.append("<%s%s>%s</%s>" % (tag, attr, draw(ssml(depth + 1)), tag))
        else:
            parts.append(_escape(draw(st.one_of(text, number))))
    return "".join(parts)


FRONTENDS = {p: Frontend(FrontendOptions(unknown=p)) for p in ("spell", "skip", "strict")}


def _read(frontend, source):
    try:
        utts = frontend(source)
    except EdgeTTSError:
        return
    for u in utts:  # a result is a usable one
        assert u.ids and len(u.symbol_chars) == len(u.ids)


@given(ssml(), st.sampled_from(sorted(FRONTENDS)))
@example('<say-as interpret-as="cardinal">12345678901234567</say-as>', "spell")
@example('<prosody volume="+99999dB">你好</prosody>', "spell")
@example("\ud800你好", "spell")
def test_ssml_gives_utterances_or_a_typed_error(body, policy):
    _read(FRONTENDS[policy], "<speak>%s</speak>" % body)


@given(st.one_of(text, number, st.builds(lambda a, b: a + b, number, text)), st.sampled_from(sorted(FRONTENDS)))
@example("1" * 5000, "spell")
@example("-" + "9" * 40 + "%", "spell")
def test_plain_text_gives_utterances_or_a_typed_error(source, policy):
    _read(FRONTENDS[policy], source)


@given(st.lists(st.one_of(st.builds(lambda w, p: w + "\t" + p, text, text), text), max_size=6))
@example(["行长\thang2 zhang3", "WiFi\twai1 fai1", "\ud800\t=x"])
def test_a_lexicon_file_loads_or_names_its_fault(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("lex") / "lex.tsv"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        lex = Lexicon.load(str(path))
    except EdgeTTSError:
        return
    lex.split("连上wifi了")


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text,
                      st.integers(min_value=10 ** 30, max_value=10 ** 40))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                             st.dictionaries(text, inner, max_size=3)), max_leaves=8)
field_names = st.one_of(st.sampled_from(sorted(set(TtsRequest.model_fields) | set(OpenAISpeechRequest.model_fields))),
                        text)


@given(st.one_of(json_value, st.dictionaries(field_names, json_value, max_size=6)),
       st.sampled_from([TtsRequest, OpenAISpeechRequest]))
@example({"text": "hi", "\ud800": 1}, TtsRequest)
@example({"text": "hi", "speed": 10 ** 40}, TtsRequest)
@example([1], OpenAISpeechRequest)
def test_a_request_body_parses_or_is_a_422_naming_the_field(body, model):
    try:
        parse(model, body)
    except ServiceError as exc:
        assert exc.status == 422 and exc.code and exc.message
        json.dumps({"error": {"code": exc.code, "message": exc.message}})  # the answer can be written


def _event_bytes(draw_value):
    return st.one_of(
        st.binary(max_size=200),
        st.builds(lambda v: (json.dumps(v) + "\n").encode(), json_value),
        st.builds(lambda t, d: (json.dumps({"type": t, "data": d}) + "\n").encode(), text, json_value),
        st.builds(lambda n, rest: (json.dumps({"type": "synthesize", "data_length": n}) + "\n").encode() + rest,
                  json_value, st.binary(max_size=50)),
    )


@given(st.lists(_event_bytes(json_value), min_size=1, max_size=4))
@example([b"[1]\n", b'{"data": {}}\n', b'{"type": "synthesize", "data_length": "x"}\n'])
def test_wyoming_events_parse_or_are_a_bad_event(chunks):
    async def read_all():
        reader = asyncio.StreamReader(limit=1 << 16)
        reader.feed_data(b"".join(chunks))
        reader.feed_eof()
        while True:
            try:
                event = await read_event(reader)
            except BadEvent as exc:
                if exc.fatal:
                    return
                continue
            except asyncio.IncompleteReadError:  # the stream ended inside an event: the client left
                return
            if event is None:
                return
            assert isinstance(event.type, str) and isinstance(event.data, dict)

    asyncio.run(read_all())


@pytest.mark.parametrize("line", [b"{" * 100000 + b"\n",
                                  b'{"type": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"])
def test_wyoming_deep_or_long_lines_are_bad_events(line):
    async def go():
        reader = asyncio.StreamReader(limit=1 << 16)
        reader.feed_data(line)
        reader.feed_eof()
        with pytest.raises(BadEvent):
            await read_event(reader)

    asyncio.run(go())
