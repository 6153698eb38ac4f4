"""Variant choice by what the installed ONNX Runtime really opens (the Jetson Nano's 1.11 reads
opset 16 at most). These run on every interpreter CI has: 3.11 with the current ONNX Runtime and
3.8 with 1.11.1, where the fp16 graphs (opset 17) must be predicted, and found, not to load."""

import json
import os
import shutil

import onnxruntime as ort
import pytest
from click.testing import CliRunner

from edgetts.engine import manifest
from edgetts.cli import main
from edgetts.engine.compat import candidates, min_onnxruntime, parse_version, statuses
from edgetts.errors import BundleError
from edgetts.engine.voice import Voice

OLD_ORT = parse_version(ort.__version__) < (1, 12)


@pytest.mark.parametrize("opset, ir, want", [(13, 7, "1.6"), (16, 8, "1.11"), (17, 8, "1.12"),
                                             (19, 9, "1.15"), (21, 10, "1.18")])
def test_oldest_runtime_for_an_opset(opset, ir, want):
    assert min_onnxruntime(opset, ir) == want


def test_an_opset_beyond_the_table_is_an_error():
    with pytest.raises(ValueError, match="extend compat.ORT_RELEASES"):
        min_onnxruntime(99, 8)


def test_prediction_matches_what_this_onnxruntime_really_opens(tiny_bundle):
    """For every graph of every variant: the manifest's min_onnxruntime against the installed
    release says 'loads' exactly when ONNX Runtime really opens the file."""
    config = manifest.load(tiny_bundle)
    for st in statuses(config.graphs, ort.__version__):
        opened = []
        for info in config.graphs[st.variant].values():
            try:
                ort.InferenceSession(os.path.join(tiny_bundle, info.file),
                                     providers=["CPUExecutionProvider"])
                opened.append(True)
            except Exception as exc:  # ORT's own refusal: "... till opset 16"
                assert "opset" in str(exc), exc
                opened.append(False)
        assert st.loads == all(opened), (st, opened)
    by = {s.variant: s for s in statuses(config.graphs, ort.__version__)}
    assert by["fp32"].loads and by["int8"].loads and by["nano"].loads  # opset 16 / 13: everywhere
    assert by["fp16"].loads == (not OLD_ORT)


def test_cpu_graphs_open_on_the_jetson_nanos_onnxruntime(tiny_bundle):
    config = manifest.load(tiny_bundle)
    for variant in ("fp32", "int8", "nano"):
        for info in config.graphs[variant].values():
            assert parse_version(info.min_onnxruntime) <= (1, 11), (variant, info)
    assert config.graphs["fp16"]["decoder_step"].providers == ("tensorrt", "cuda")
    assert config.graphs["fp32"]["decoder_step"].providers == ("cpu",)


def test_default_variant_is_the_best_that_loads(tiny_bundle):
    order, _ = candidates(manifest.load(tiny_bundle).graphs, "gpu", ort.__version__)
    assert order[0] == ("nano" if OLD_ORT else "fp16")
    assert Voice.load(tiny_bundle, provider="cpu").variant == "fp32"


@pytest.fixture
def fp32_needs_newer_runtime(tiny_bundle, tmp_path):
    """A copy of the bundle whose fp32 graphs claim to need a release that does not exist yet."""
    out = tmp_path / "voice"
    shutil.copytree(tiny_bundle, str(out))
    m = json.loads((out / "voice.json").read_text())
    for g in m["graphs"]["fp32"].values():
        g["min_onnxruntime"] = "9.0"
    (out / "voice.json").write_text(json.dumps(m))
    return str(out)


def test_a_variant_this_runtime_cannot_open_is_passed_over(fp32_needs_newer_runtime):
    v = Voice.load(fp32_needs_newer_runtime, provider="cpu")
    assert v.variant == "int8"


def test_an_explicit_variant_that_cannot_open_names_the_version_and_an_alternative(
        fp32_needs_newer_runtime):
    with pytest.raises(BundleError) as e:
        Voice.load(fp32_needs_newer_runtime, provider="cpu", variant="fp32")
    msg = str(e.value)
    assert "needs onnxruntime >= 9.0" in msg and ort.__version__ in msg
    assert "--variant int8" in msg


def test_doctor_lists_every_variant_with_loads_or_the_reason(fp32_needs_newer_runtime):
    r = CliRunner().invoke(main, ["doctor", "--voice", fp32_needs_newer_runtime])
    assert r.exit_code == 0, r.output
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.startswith("  ")
             and ln.split()[0] in ("fp32", "int8", "fp16", "nano")}
    assert sorted(lines) == ["fp16", "fp32", "int8", "nano"]
    assert "no: needs onnxruntime >= 9.0" in lines["fp32"] and lines["int8"].endswith("loads")
    # fp16 is read by a new runtime (not by 1.11); where no GPU provider works it says so
    # instead of "loads" beside "cuda no"
    from edgetts.engine.providers import probe

    gpu = probe("cuda").loads or probe("tensorrt").loads
    assert ("needs onnxruntime" in lines["fp16"]) == OLD_ORT
    if not OLD_ORT:
        assert lines["fp16"].endswith("loads") == gpu
        assert ("none of its providers works here" in lines["fp16"]) == (not gpu)


def test_manifest_schema_round_trips(tiny_bundle):
    """The exporter writes voice.json through the runtime's schema: parsing and writing it back
    gives the same document, and the same config."""
    with open(os.path.join(tiny_bundle, "voice.json"), encoding="utf-8") as f:
        doc = json.load(f)
    config = manifest.from_dict(doc)
    assert manifest.to_dict(config) == doc
    assert manifest.from_dict(manifest.to_dict(config)) == config
    assert doc["format_version"] == manifest.FORMAT_VERSION
