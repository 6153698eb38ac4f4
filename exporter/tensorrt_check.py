"""A static check of ONNX graphs against TensorRT's ONNX parser (onnx-tensorrt), with no GPU: every
node's operator, its data type and the restrictions that can be read off the graph, compared with
the parser's published support matrix for a release.

The matrices are ``exporter/data/tensorrt_operators.json``: onnx-tensorrt's ``docs/operators.md``
at branches 8.2-GA (JetPack 4.6, the Jetson Nano) and 10.1-GA, turned into data (the file names
its source commit). A node passes when its operator is supported, the type of its data input (of
its output for ConstantOfShape and nodes without inputs) is one the matrix lists, and the
restrictions the matrix states that a graph shows are met:

- Conv and ConvTranspose: weights are an initializer. The matrix says "2D or 3D convolutions
  only", but the 8.2 parser's importer expands a 1-D convolution to 2-D itself
  (``builtin_op_importers.cpp`` at 8.2-GA: "Expand spatial dims from 1D to 2D"), so 1-D passes;
- Slice, Squeeze, Unsqueeze, Pad: ``axes`` is an initializer or a Constant;
- Range with floating-point inputs: all three are initializers or Constants;
- Constant: no sparse or string values; LayerNormalization: only its first output is used.

The 10.1 matrix spells INT64 "INF64" once (ConstantOfShape); read as INT64.

    python -m edgetts.exporter.tensorrt_check voices/default nano 8.2
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, List

import onnx
from onnx import TensorProto

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tensorrt_operators.json")

# ONNX element types under the names the matrix uses; TensorRT 8.2 casts INT64 down to INT32 and
# DOUBLE down to FLOAT ("limited support"), so those count as the type they become.
_NAMES = {TensorProto.FLOAT: "FP32", TensorProto.FLOAT16: "FP16", TensorProto.BFLOAT16: "BF16",
          TensorProto.INT32: "INT32", TensorProto.INT64: "INT64", TensorProto.INT8: "INT8",
          TensorProto.UINT8: "UINT8", TensorProto.BOOL: "BOOL", TensorProto.DOUBLE: "DOUBLE"}
_CAST_DOWN = {"8.2": {"INT64": "INT32", "DOUBLE": "FP32"}, "10.1": {"DOUBLE": "FP32"}}


def load_table(release: str) -> dict:
    with open(TABLE, encoding="utf-8") as f:
        table = json.load(f)
    if release not in table:
        raise ValueError("no support matrix for TensorRT %s (have: %s)" % (release, ", ".join(sorted(table))))
    return table[release]


def check(model: onnx.ModelProto, release: str) -> List[str]:
    """Every problem TensorRT `release`'s ONNX parser would have with `model`, one line each
    naming the node (empty: none found)."""
    table = load_table(release)
    ops = table["operators"]
    problems: List[str] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset > table["max_opset"]:
        problems.append("the graph is opset %d; TensorRT %s reads up to %d" % (opset, release, table["max_opset"]))
    inferred = onnx.shape_inference.infer_shapes(model)
    types: Dict[str, int] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    initializers = {t.name: t for t in model.graph.initializer}
    for t in initializers.values():
        types[t.name] = t.data_type
    constant = set(initializers) | {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for node in model.graph.node:
        where = "%s (%s)" % (node.name or "unnamed", node.op_type)
        if node.domain not in ("", "ai.onnx"):
            problems.append("%s: operator of domain %r, which TensorRT's ONNX parser does not read"
                            % (where, node.domain))
            continue
        spec = ops.get(node.op_type)
        if spec is None or not spec["supported"]:
            problems.append("%s: not supported by TensorRT %s" % (where, release))
            continue
        on_output = node.op_type == "ConstantOfShape" or not node.input
        data = (node.output[0] if node.output else None) if on_output else next((i for i in node.input if i), None)
        elem = types.get(data) if data else None
        allowed = ["INT64" if t == "INF64" else t for t in spec["types"]]
        if elem and allowed:
            name = _NAMES.get(elem, "type %d" % elem)
            name = _CAST_DOWN.get(release, {}).get(name, name)
            if name not in allowed:
                problems.append("%s: its %s %s is %s; TensorRT %s takes %s"
                                % (where, "output" if on_output else "input", data, name, release,
                                   ", ".join(allowed)))
        problems += ["%s: %s" % (where, p) for p in _restrictions(node, initializers, constant, types)]
    return problems


_AXES_INPUT = {"Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "Pad": 3}


def _restrictions(node, initializers, constant, types) -> List[str]:
    out = []
    op, ins = node.op_type, list(node.input)
    if op in ("Conv", "ConvTranspose"):
        w = ins[1] if len(ins) > 1 else ""
        if w not in initializers:
            out.append("weights %r are not an initializer" % w)
        elif len(initializers[w].dims) not in (3, 4, 5):
            out.append("a %d-D convolution; the parser takes 1-D to 3-D ones" % (len(initializers[w].dims) - 2))
    if op in _AXES_INPUT and len(ins) > _AXES_INPUT[op] and ins[_AXES_INPUT[op]]:
        if ins[_AXES_INPUT[op]] not in constant:
            out.append("`axes` (%s) is computed; it must be an initializer or a Constant" % ins[_AXES_INPUT[op]])
    if op == "Range" and types.get(ins[0]) in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
        if not all(i in constant for i in ins[:3]):
            out.append("floating-point inputs must be initializers or Constants")
    if op == "Constant" and any(a.name in ("sparse_value", "value_string", "value_strings") for a in node.attribute):
        out.append("sparse or string values are not supported")
    if op == "LayerNormalization" and any(node.output[1:]):
        out.append("only its first output may be used")
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: python -m edgetts.exporter.tensorrt_check BUNDLE VARIANT RELEASE", file=sys.stderr)
        return 2
    bundle, variant, release = argv
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
    from edgetts.engine import manifest

    config = manifest.load(bundle)
    bad = 0
    for role, g in sorted(config.graphs[variant].items()):
        problems = check(onnx.load(os.path.join(bundle, g.file)), release)
        print("%-16s %-34s %s" % (role, g.file, "ok" if not problems else "%d problems" % len(problems)))
        for p in problems:
            print("    " + p)
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
