"""Arbitrary Unicode never crashes the front-end: valid ids, or the documented error."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetts.errors import EmptyTextError, UnsupportedTextError
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.symbols import EOS_ID, NUM_SYMBOLS, SIL_ID

FE = {p: Frontend(FrontendOptions(unknown=p)) for p in ("spell", "skip", "strict")}

# Mix fully arbitrary code points with text that looks like real prompts.
chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=30)
promptish = st.text(alphabet=st.sampled_from(list("0123456789.,-%:/年月日元号℃kmgAZaz，。！？ \n"
                                                  "你好我们的是一二三😀")), max_size=40)
anything = st.text(max_size=60)
texts = st.one_of(anything, chinese, promptish, st.builds(lambda a, b: a + b, chinese, anything))


def _check(policy, text):
    try:
        utts = FE[policy](text)
    except EmptyTextError:
        return
    except UnsupportedTextError as exc:
        assert policy == "strict" and exc.characters
        return
    assert utts
    for u in utts:
        assert all(0 <= i < NUM_SYMBOLS for i in u.ids)
        assert u.ids[0] == SIL_ID and u.ids[-1] == EOS_ID and len(u.ids) > 3
        assert len(u.symbol_chars) == len(u.ids)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(["spell", "skip", "strict"]))
def test_arbitrary_unicode(text, policy):
    _check(policy, text)
