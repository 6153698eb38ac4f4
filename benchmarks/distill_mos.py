"""Distill-MOS (PyPI ``distillmos``) of WAV files, printed as JSON ``{path: score}``.

Runs in a venv of its own with torch and distillmos (``make .venv-mos/.installed``); the
weights ship in the wheel. With ``--dnsmos`` each value is ``[distill_mos, dnsmos_ovrl]``, the
second from DNSMOS P.835 (PyPI ``speechmos``, its ONNX weights in the wheel) on the audio scaled
to a peak of 1. distillmos imports torchaudio only for its command line, so a stand-in
module is put in its place (the wheel of torchaudio on PyPI may not match torch's ABI).

    .venv-mos/bin/python benchmarks/distill_mos.py [--dnsmos] a.wav b.wav ...
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
    dnsmos = None
    if paths[:1] == ["--dnsmos"]:
        from speechmos import dnsmos
        paths = paths[1:]
    model = distillmos.ConvTransformerSQAModel().eval()
    out = {}
    with torch.no_grad():
        for p in paths:
            x = load_16k(p)
            out[p] = float(model(torch.from_numpy(x)[None]).item())
            if dnsmos is not None:
                peak = max(1e-6, float(np.abs(x).max()))
                out[p] = [out[p], float(dnsmos.run(x / peak, 16000)["ovrl_mos"])]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
