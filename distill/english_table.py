"""Choose the built-in English table's readings by ear: the Whisper judge's.

    python -m edgetts.distill.english_table [--words distill/data/english_candidates.tsv]
        [--voice voices/default] [--work build/english_table] [--out runtime/edgetts/text/data/english_words.tsv]

For each word of the candidate file, the readings to try are its hand-written ones followed by
the dictionary mapping's (``english.mapped``, with two tone patterns); an acronym's only
candidate is its spelling. A word with one candidate only is not judged. Each is synthesized by
the default voice inside two carrier sentences (an SSML ``<phoneme>``, so the table itself is not
involved), and the judge transcribes them. The reading with the lowest summed CER wins; a tie
goes to the earlier candidate, so a hand-written reading wins over the mapping's when the judge
cannot tell them apart. The carriers are not sentences of the dev sets.

Results are appended to ``WORK/scores.jsonl`` as they come, so an interrupted run resumes. The
table is written with each judged word's CER in a comment; ``--write-only`` writes it from the
scores so far, a word not judged yet taking its first candidate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARRIERS = ("我每天都用{}工作。", "他说{}真的很不错。")
# the mapping's default tones (stressed, other), and the runner-up on the mixed dev sentences
TONE_PATTERNS = (("1", "1"), ("4", "1"))


def candidates(path: str) -> Dict[str, List[Tuple[str, ...]]]:
    from edgetts.text import english
    from edgetts.text.lexicon import parse_pinyin

    out: Dict[str, List[Tuple[str, ...]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            word, _, hand = line.partition("\t")
            word = word.strip()
            tries = out.setdefault(word, [])
            for alt in hand.split("|"):
                try:
                    p = parse_pinyin(alt)
                except ValueError:
                    continue  # a hand reading with a syllable Mandarin lacks
                if p not in tries:
                    tries.append(p)
            letters = word.replace("'", "")
            if letters.isupper() and len(letters) <= 5:
                more = [english.spell(letters)]
            else:
                # never the word spelled: letter by letter is what this table is there to replace,
                # even where the judge, which writes letters as letters, would score it better
                more = [english.mapped(word, t).pinyin for t in TONE_PATTERNS]
            for p in more:
                if p and p not in tries:
                    tries.append(p)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", default=os.path.join(ROOT, "distill", "data", "english_candidates.tsv"))
    ap.add_argument("--voice", default=os.path.join(ROOT, "voices", "default"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "english_table"))
    ap.add_argument("--out", default=os.path.join(ROOT, "runtime", "edgetts", "text", "data", "english_words.tsv"))
    ap.add_argument("--write-only", action="store_true",
                    help="write the table from the scores so far; words not yet judged take their first candidate")
    a = ap.parse_args(argv)

    os.makedirs(a.work, exist_ok=True)
    scores_path = os.path.join(a.work, "scores.jsonl")
    done = {}
    if os.path.exists(scores_path):
        with open(scores_path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                done[(r["word"], r["pinyin"])] = r["cer"]
    table = candidates(a.words)
    if not a.write_only:
        _judge_all(table, done, scores_path, a)
    _write(table, done, a.out)
    return 0


def _judge_all(table, done, scores_path, a) -> None:
    import numpy as np
    import soundfile as sf
    from edgetts import Voice
    from edgetts.distill.judge import Judge, cer

    voice = Voice.load(a.voice, provider="cpu", variant="fp32")
    judge = Judge()
    wav = os.path.join(a.work, "try.wav")
    with open(scores_path, "a", encoding="utf-8") as log:
        for word, tries in table.items():
            for p in tries:
                key = (word, " ".join(p))
                if key in done or len(tries) == 1:
                    continue
                total = 0.0
                for carrier in CARRIERS:
                    ssml = "<speak>%s</speak>" % carrier.format(
                        '<phoneme alphabet="pinyin" ph="%s">%s</phoneme>' % (" ".join(p), word))
                    audio = np.concatenate([c.audio for c in voice.synthesize(ssml)])
                    sf.write(wav, audio, voice.config.sample_rate)
                    total += cer(carrier.format(word), judge.transcribe(wav))
                done[key] = round(total / len(CARRIERS), 4)
                log.write(json.dumps({"word": word, "pinyin": key[1], "cer": done[key]},
                                     ensure_ascii=False) + "\n")
                log.flush()
                print("%-12s %-36s %.3f" % (word, key[1], done[key]), flush=True)


def _write(table, done, out) -> None:
    with open(out, "w", encoding="utf-8") as f:
        f.write("# Built-in readings of English words in Chinese text (edgetts.text.english), in the\n"
                "# user lexicon's format: word<TAB>TONE3 pinyin. Chosen among hand-written and\n"
                "# dictionary-mapped readings by python -m edgetts.distill.english_table; the comment\n"
                "# is the judge's mean CER on two carrier sentences with that reading.\n")
        for word, tries in table.items():
            if any((word, " ".join(p)) not in done for p in tries):
                f.write("%s\t%s\n" % (word, " ".join(tries[0])))  # not judged (yet)
                continue
            best = min(tries, key=lambda p: (done[(word, " ".join(p))], tries.index(p)))
            f.write("%s\t%s\t# %.3f\n" % (word, " ".join(best), done[(word, " ".join(best))]))
    print("wrote %s (%d words)" % (out, len(table)))


if __name__ == "__main__":
    sys.exit(main())
