"""ONNX writing, precision conversion and validation shared by every graph of a voice.

Graphs are written with torch's TorchScript-based exporter (``dynamo=False``): it honours the
opset asked for (13 for the Jetson Nano profile; the torch.export-based exporter starts at 18 and
converts down) and writes one self-contained file. The opset actually written is checked after
every export, and so is the absence of external ``.onnx.data`` files.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch

# TensorRT 8.2 (JetPack 4.6) parses opset 13 operators well; ORT 1.11 reads up to opset 16.
NANO_MAX_OPSET = 16
DEFAULT_OPSET = 17
STANDARD_DOMAINS = ("", "ai.onnx")


class ExportError(RuntimeError):
    """An exported graph failed a check; the message lists every failure found."""


def export(module: torch.nn.Module, args: tuple, path: str, input_names: List[str],
           output_names: List[str], dynamic_axes: Dict[str, Dict[int, str]],
           opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Trace `module` on `args` into a single-file ONNX graph at `path` and check its opset."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy-exporter deprecation and tracer notes
        with torch.no_grad():
            torch.onnx.export(
                module, args, path, dynamo=False, opset_version=opset,
                input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    model = onnx.load(path)
    check_written(model, path, opset)
    return model


def check_written(model: onnx.ModelProto, path: str, max_opset: int) -> None:
    problems = []
    for imp in model.opset_import:
        if imp.domain in STANDARD_DOMAINS and imp.version > max_opset:
            problems.append("opset %d written, at most %d asked for" % (imp.version, max_opset))
    stray = [f for f in os.listdir(os.path.dirname(os.path.abspath(path)))
             if f.startswith(os.path.basename(path)) and f != os.path.basename(path)]
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            problems.append("initializer %s stored outside the file" % init.name)
            break
    if stray:
        problems.append("stray files beside the graph: %s" % ", ".join(stray))
    onnx.checker.check_model(model)
    if problems:
        raise ExportError("%s: %s" % (path, "; ".join(problems)))


def fold_identities(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop Identity nodes that only alias an initializer (the tracer emits them for weights used
    twice); consumers read the initializer directly. The FP16 converter mistypes such aliases."""
    inits = {i.name for i in model.graph.initializer}
    graph_outputs = {o.name for o in model.graph.output}
    alias = {}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] not in graph_outputs:
            alias[node.output[0]] = node.input[0]
        else:
            keep.append(node)
    for node in keep:
        for k, name in enumerate(node.input):
            if name in alias:
                node.input[k] = alias[name]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model


def to_fp16(model: onnx.ModelProto, keep_fp32_ops: Sequence[str] = (),
            keep_fp32_nodes: Sequence[str] = ()) -> onnx.ModelProto:
    """FP16 weights and activations, FP32 inputs/outputs, with FP32 islands for the op types and
    node names given (where FP16's 65504 range or 11-bit mantissa is not enough)."""
    from onnxconverter_common import float16

    model = fold_identities(model)
    # Stale intermediate types from the tracer confuse the converter; it re-infers what it needs.
    del model.graph.value_info[:]
    model = float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=list(keep_fp32_ops),
        node_block_list=list(keep_fp32_nodes),
    )
    return fix_float_casts(model)


def fix_float_casts(model: onnx.ModelProto) -> onnx.ModelProto:
    """Casts written by the tracer (bool/int → FLOAT, for masks and positions) must produce
    FLOAT16 in an FP16 graph; the converter leaves their ``to`` alone. Only the converter's own
    casts back to FP32 at the graph outputs keep ``to=FLOAT``."""
    outputs = {o.name for o in model.graph.output}
    # A graph output that is also used inside the graph: the converter casts it back to FP32 for
    # the output, so inner consumers must read the FP16 tensor before that cast.
    fp16_source = {n.output[0]: n.input[0] for n in model.graph.node
                   if n.op_type == "Cast" and n.output[0] in outputs}
    for node in model.graph.node:
        if node.op_type == "Cast" and node.output[0] in outputs:
            continue
        for k, name in enumerate(node.input):
            if name in fp16_source:
                node.input[k] = fp16_source[name]
    for node in model.graph.node:
        if node.op_type != "Cast" or node.output[0] in outputs or "graph_output_cast" in node.name:
            continue
        for a in node.attribute:
            if a.name == "to" and a.i == onnx.TensorProto.FLOAT:
                a.i = onnx.TensorProto.FLOAT16
    return model


def quantize_int8(src: str, dst: str, op_types: Sequence[str] = ("MatMul", "Gemm")) -> None:
    """Dynamic INT8 (weights int8, activations quantized per call) for ORT's CPU provider.

    ``reduce_range``: 7-bit weights. On x86 CPUs without VNNI (AVX2-only, e.g. AMD Zen 3) ORT's
    u8×s8 kernels add pairs of products in int16 and saturate with 8-bit weights; the tiny test
    student's frames then differ from FP32 by 0.31 relative RMS instead of a few hundredths.
    With 7 bits the sums cannot overflow on any CPU, at a small cost in weight precision."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=list(op_types),
                     reduce_range=True)


def op_types(model: onnx.ModelProto) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for node in model.graph.node:
        key = node.op_type if node.domain in STANDARD_DOMAINS else node.domain + "." + node.op_type
        counts[key] = counts.get(key, 0) + 1
    return counts


def nano_violations(model: onnx.ModelProto, forbidden: Iterable[str] = ("LayerNormalization",)) -> List[str]:
    """What keeps a graph from the Jetson Nano profile: opset > 16, contrib ops, listed op types."""
    out = []
    for imp in model.opset_import:
        if imp.domain in STANDARD_DOMAINS and imp.version > NANO_MAX_OPSET:
            out.append("opset %d > %d" % (imp.version, NANO_MAX_OPSET))
        elif imp.domain not in STANDARD_DOMAINS:
            out.append("non-standard operator domain %r" % imp.domain)
    for node in model.graph.node:
        if node.domain not in STANDARD_DOMAINS:
            out.append("contrib operator %s.%s (%s)" % (node.domain, node.op_type, node.name))
        elif node.op_type in forbidden:
            out.append("operator %s (%s)" % (node.op_type, node.name))
        elif node.op_type == "Pad":
            for a in node.attribute:
                if a.name == "mode" and a.s not in (b"constant",):
                    out.append("Pad mode %s (%s)" % (a.s.decode(), node.name))
    return out


@dataclass
class Check:
    """Per-output tolerance: |onnx - torch| <= atol + rtol·|torch| everywhere, or max error <= atol."""

    atol: float
    rtol: float = 0.0
    why: str = ""
    min_snr_db: Optional[float] = None  # for audio: 10·log10(signal power / error power)


@dataclass
class Report:
    graph: str
    max_abs: Dict[str, float] = field(default_factory=dict)
    snr_db: Dict[str, float] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)

    def raise_if_failed(self) -> None:
        if self.failures:
            raise ExportError("%s failed validation:\n  - %s" % (self.graph, "\n  - ".join(self.failures)))


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.mean((got.astype(np.float64) - ref.astype(np.float64)) ** 2))
    signal = float(np.mean(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(max(signal, 1e-30) / noise)


def validate(graph_path: str, reference: Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]],
             feeds: List[Dict[str, np.ndarray]], checks: Dict[str, Check],
             report: Optional[Report] = None) -> Report:
    """Run the graph with ORT's CPU provider on each feed and compare with `reference` (PyTorch).

    Names, shapes, dtypes and values are all checked; every failure is collected, not just the first.
    """
    import onnxruntime as ort

    report = report or Report(os.path.basename(graph_path))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(graph_path, so, providers=["CPUExecutionProvider"])
    in_names = [i.name for i in sess.get_inputs()]
    out_names = [o.name for o in sess.get_outputs()]
    for feed in feeds:
        if sorted(in_names) != sorted(feed):
            report.failures.append("inputs are %s, expected %s" % (in_names, sorted(feed)))
            return report
        want = reference(feed)
        if sorted(out_names) != sorted(want):
            report.failures.append("outputs are %s, expected %s" % (out_names, sorted(want)))
            return report
        got = dict(zip(out_names, sess.run(out_names, feed)))
        for name, ref in want.items():
            g = got[name]
            if g.shape != ref.shape:
                report.failures.append("%s: shape %s, PyTorch gives %s" % (name, g.shape, ref.shape))
                continue
            if not np.all(np.isfinite(g)):
                report.failures.append("%s: NaN or Inf in the output" % name)
                continue
            err = np.abs(g.astype(np.float64) - ref.astype(np.float64))
            report.max_abs[name] = max(report.max_abs.get(name, 0.0), float(err.max(initial=0.0)))
            problems, snr = check_output(name, ref, g, checks[name])
            report.failures += problems
            if snr is not None:
                report.snr_db[name] = min(report.snr_db.get(name, np.inf), snr)
    return report


def check_output(name: str, ref: np.ndarray, got: np.ndarray, c: Check) -> Tuple[List[str], Optional[float]]:
    """One output against its reference under `c`: the problems found, and the SNR where the
    check asks for one. The one definition of a check, for ONNX-vs-PyTorch and graph-vs-graph
    comparisons alike."""
    problems = []
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bound = c.atol + c.rtol * np.abs(ref)
    if np.any(err > bound):
        problems.append("%s: max error %.3g exceeds tolerance (atol %.3g, rtol %.3g: %s)"
                        % (name, err.max(), c.atol, c.rtol, c.why))
    snr = None
    # SNR is meaningless for near-silence (rms below -60 dBFS): there atol alone applies.
    if c.min_snr_db is not None and np.sqrt(np.mean(ref.astype(np.float64) ** 2)) > 1e-3:
        snr = snr_db(ref, got)
        if snr < c.min_snr_db:
            problems.append("%s: SNR %.1f dB below %.1f dB (%s)" % (name, snr, c.min_snr_db, c.why))
    return problems, snr
