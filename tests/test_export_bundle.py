"""The exported graphs themselves (names, operator profile) and the PyTorch side of the runtime's
numpy code: these need torch and onnx, which the runtime alone does not have."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgetts.exporter import onnx_tools as T  # noqa: E402
from edgetts.models.student import regulate as torch_regulate  # noqa: E402
from edgetts.engine.regulator import regulate  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return tiny_bundle


def test_decoder_tensor_names_follow_the_templates(bundle):
    import onnx

    m = onnx.load(os.path.join(bundle, "decoder_step.fp32.onnx"))
    names = [i.name for i in m.graph.input]
    assert names[:4] == ["prev_frames", "text_context", "phone_progress", "position"]
    assert names[4:] == ["past_key_values.0.key", "past_key_values.0.value",
                         "past_key_values.1.key", "past_key_values.1.value"]
    assert [o.name for o in m.graph.output][1:3] == ["present.0.key", "present.0.value"]


def test_nano_graphs_keep_to_the_nano_profile(bundle):
    import onnx

    for f in ("text_encoder.nano.onnx", "decoder_step_static.nano.onnx", "vocoder.nano.onnx"):
        m = onnx.load(os.path.join(bundle, f))
        assert T.nano_violations(m) == [], f
        assert "LayerNormalization" not in T.op_types(m)


def test_numpy_regulator_equals_training_regulator():
    g = np.random.default_rng(0)
    memory = g.standard_normal((7, 16)).astype(np.float32)
    dur = np.array([2, 0, 5, 1, 3, 0, 4])
    ctx, prog, sym = regulate(memory, dur, r=3)
    tctx, tprog, _ = torch_regulate(torch.from_numpy(memory)[None], torch.from_numpy(dur)[None], 3)
    assert np.allclose(ctx.reshape(-1, 16), tctx[0].numpy()) and np.allclose(prog.reshape(-1, 2), tprog[0].numpy())
    assert sym.tolist() == [0, 0, 2, 2, 2, 2, 2, 3, 4, 4, 4, 6, 6, 6, 6]


def test_edgetts_export_runs_the_exporter_in_its_own_process(tmp_path):
    """`edgetts export` hands over to `python -m edgetts.exporter` (the runtime never imports
    torch) and passes its failure back as one line."""
    from click.testing import CliRunner

    from edgetts.cli import main

    r = CliRunner().invoke(main, ["export", "--student", str(tmp_path / "none.pt"), "--out",
                                  str(tmp_path / "voice")])
    assert r.exit_code == 1 and "export failed (exit 1)" in r.output
