"""A static check of the GPU graphs against TensorRT's ONNX parser, with no GPU: the nano graphs
(Jetson Nano, JetPack 4.6) against TensorRT 8.2's support matrix, the FP16 graphs against
TensorRT 10.1's (exporter/tensorrt_check.py; the matrices are onnx-tensorrt's docs/operators.md
as data, source named in the file). A node TensorRT would refuse fails with its name."""

import os

import onnx
import pytest
from onnx import TensorProto, helper

from edgetts.engine import manifest
from edgetts.exporter.tensorrt_check import check, load_table


@pytest.mark.parametrize("variant,release", [("nano", "8.2"), ("fp16", "10.1")])
def test_the_gpu_graphs_pass_tensorrt_s_parser_matrix(tiny_bundle, variant, release):
    config = manifest.load(tiny_bundle)
    for role, g in config.graphs[variant].items():
        problems = check(onnx.load(os.path.join(tiny_bundle, g.file)), release)
        assert problems == [], "%s (%s):\n  %s" % (g.file, role, "\n  ".join(problems))


def test_the_matrices_name_their_source_and_read_as_published():
    for release, opset in (("8.2", 13), ("10.1", 20)):
        t = load_table(release)
        assert "onnx/onnx-tensorrt" in t["source"] and "docs/operators.md" in t["source"]
        assert t["max_opset"] == opset and t["operators"]["Conv"]["supported"]
    assert not load_table("8.2")["operators"]["BitShift"]["supported"]


def _model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_the_check_names_what_tensorrt_8_2_would_refuse():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    i = helper.make_tensor_value_info("i", TensorProto.INT64, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [4])
    model = _model(
        [helper.make_node("Shape", ["x"], ["s"], name="shape_of_x"),
         helper.make_node("Unsqueeze", ["x", "s"], ["u"], name="computed_axes"),
         helper.make_node("ConstantOfShape", ["shape"], ["c"], name="int_zeros",
                          value=helper.make_tensor("v", TensorProto.INT64, [1], [0])),
         helper.make_node("BitShift", ["i", "i"], ["b"], name="shift", direction="LEFT"),
         helper.make_node("Identity", ["x"], ["y"], name="fine")],
        [x, i], [y], [shape], opset=14)
    problems = check(model, "8.2")
    text = "\n".join(problems)
    assert "opset 14" in text and "computed_axes (Unsqueeze)" in text
    assert "int_zeros (ConstantOfShape)" in text and "shift (BitShift): not supported" in text
    assert "fine" not in text
