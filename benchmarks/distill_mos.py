"""Distill-MOS (PyPI ``distillmos``) of WAV files, printed as JSON ``{path: score}``.

Runs in a venv of its own with torch and distillmos (``make .venv-mos/.installed``); the
weights ship in the wheel. distillmos imports torchaudio only for its command line, so a stand-in
module is put in its place (the wheel of torchaudio on PyPI may not match torch's ABI).

    .venv-mos/bin/python benchmarks/distill_mos.py a.wav b.wav ...
"""

import json
import sys
import types
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
import torch  # noqa: E402
import distillmos  # noqa: E402


def load_16k(path: str) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x[:, 0]
    if sr != 16000:
        g = gcd(sr, 16000)
        x = resample_poly(x, 16000 // g, sr // g).astype(np.float32)
    return x


def main(paths) -> int:
    torch.set_num_threads(2)
    model = distillmos.ConvTransformerSQAModel().eval()
    out = {}
    with torch.no_grad():
        for p in paths:
            out[p] = float(model(torch.from_numpy(load_16k(p))[None]).item())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
