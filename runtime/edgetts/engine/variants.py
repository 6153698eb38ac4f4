"""The variants of a voice, one table (as optimum's exporters keep theirs): what each is for, how its
graphs are written, and what the engine may do with it. The exporter writes the bundle from this
table, the manifest records it, and the runtime picks and drives a variant by it.

| variant | for | opset | decoder cache | encoder/decoder | batch-invariant |
|---|---|---|---|---|---|
| fp32 | CPU | 16 | dynamic (grows per step) | FP32 | yes |
| int8 | CPU | 16 | dynamic | dynamic INT8 MatMul | no: one activation scale per batch |
| fp16 | CUDA / TensorRT | 17 | static (fixed buffers) | FP16 | yes |
| nano | Jetson Nano (TensorRT 8.2, ORT 1.11) | 13 | static | FP16, no opset-14+ ops | yes |

CPU graphs are written at opset 16, the newest ONNX Runtime 1.11 (the Jetson Nano's) reads, so one
set serves old and new runtimes; the GPU graphs at 17, where LayerNormalization keeps its
statistics in FP32; the Nano profile at 13, the newest TensorRT 8.2 parses well.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class Variant(NamedTuple):
    name: str
    meant_for: Tuple[str, ...]  # providers, best first
    opset: int                  # ai.onnx opset its graphs are written at
    cache: str                  # the decoder's cache layout: "dynamic" or "static"
    precision: str              # of the text encoder and decoder step
    # whether a clause's frames are the same decoded alone or in a batch with others (dynamic
    # INT8 quantizes a whole batch's activations with one scale, which couples its rows)
    batch_invariant: bool


VARIANTS: Dict[str, Variant] = {v.name: v for v in (
    Variant("fp16", ("tensorrt", "cuda"), 17, "static", "fp16", True),
    Variant("nano", ("tensorrt", "cuda"), 13, "static", "fp16", True),
    Variant("fp32", ("cpu",), 16, "dynamic", "fp32", True),
    Variant("int8", ("cpu",), 16, "dynamic", "int8", False),
)}

# Which variant a device opens first: FP16 graphs on a GPU, the opset-13 Nano profile where the
# runtime is too old for them; ORT's CPU provider does not compute in FP16 (much slower), so FP16
# graphs come last there.
PREFERENCE: Dict[str, Tuple[str, ...]] = {
    "gpu": ("fp16", "nano", "fp32", "int8"),
    "cpu": ("fp32", "int8", "nano", "fp16"),
}

MEANT_FOR: Dict[str, Tuple[str, ...]] = {name: v.meant_for for name, v in VARIANTS.items()}
