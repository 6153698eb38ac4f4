"""Execution providers: which ones ONNX Runtime offers, and which ones really run here.

``onnxruntime.get_available_providers()`` lists what a wheel was *built* with; the CUDA and
TensorRT providers still need their shared libraries at session creation, and when they are
missing ONNX Runtime logs a warning and silently runs on the CPU. ``probe()`` opens a one-node
session per provider and reports what the session actually got, so a fallback is never taken
for success.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional

from ..errors import ProviderError

PROBE_MODEL = os.path.join(os.path.dirname(__file__), "data", "probe.onnx")

# Short names users type, in the order `auto` tries them.
PROVIDERS: Dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ["tensorrt", "cuda", "cpu"]


@dataclass(frozen=True)
class ProbeResult:
    name: str            # short name: tensorrt, cuda, cpu
    built_in: bool       # listed by get_available_providers()
    loads: bool          # a session asked for it really runs on it
    detail: str          # why not, or the device it runs on


def _quiet_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4  # the fallback warning is reported by us, not printed by ORT
    return so


@contextlib.contextmanager
def _without_ort_notices():
    """Hold back ONNX Runtime's own lines on the process's stderr (file descriptor 2, where its
    native logger writes) while a probe session opens; anything else written there meanwhile is
    passed on afterwards, so nothing of the application's is lost."""
    fd = 2  # ORT's native logger writes here, whatever sys.stderr is
    try:
        os.fstat(fd)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            keep = [ln for ln in tmp.read().splitlines(keepends=True)
                    if b"onnxruntime" not in ln and re.sub(rb"\x1b\[[0-9;]*m|\s", b"", ln)]
            if keep:
                os.write(fd, b"".join(keep))


_preloaded = False


def _preload_gpu_libraries(ort) -> None:
    """Load the CUDA and cuDNN libraries of the ``nvidia-*`` pip packages (nvidia-cublas,
    nvidia-cudnn-cu13, ...) where ONNX Runtime can (1.21+): a GPU machine whose CUDA came with
    pip has them in site-packages, off the linker's path, and CUDA would not load without this.
    Older runtimes (the Jetson's 1.11, which uses JetPack's CUDA) lack the call; nothing to do."""
    global _preloaded
    if _preloaded or not hasattr(ort, "preload_dlls"):
        return
    _preloaded = True
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ort.preload_dlls()
    except Exception:  # nothing to preload, or a partial install: the probe says what fails
        pass


def probe(name: str) -> ProbeResult:
    """Open the probe model with provider `name` alone and report whether it really ran there."""
    import onnxruntime as ort

    if name not in PROVIDERS:
        raise ProviderError(
            "unknown provider %r: choose one of %s or auto" % (name, ", ".join(PROVIDERS))
        )
    full = PROVIDERS[name]
    built = full in ort.get_available_providers()
    if not built:
        return ProbeResult(name, False, False, "this onnxruntime build has no %s" % full)
    if name in ("cuda", "tensorrt"):
        _preload_gpu_libraries(ort)
    try:
        # ORT prints its own fallback notice; we report the outcome ourselves instead. Its
        # process-wide log level is left alone (ORT cannot tell us what the application set).
        with contextlib.redirect_stdout(io.StringIO()), _without_ort_notices():
            sess = ort.InferenceSession(PROBE_MODEL, sess_options=_quiet_options(), providers=[full])
    except Exception as exc:  # library missing, driver too old, ...
        return ProbeResult(name, True, False, str(exc).strip().splitlines()[0][:200])
    got = sess.get_providers()
    if not got or got[0] != full:
        return ProbeResult(
            name, True, False,
            "session fell back to %s (shared libraries for %s missing or no GPU)"
            % (got[0] if got else "nothing", full),
        )
    return ProbeResult(name, True, True, "ok")


def resolve(requested: str = "auto") -> List[str]:
    """Turn a user's provider choice into the list of full provider names to open sessions with.

    ``auto`` keeps every provider that really loads, best first, ending with the CPU; an explicit
    name that cannot run here raises ProviderError with the reason instead of falling back.
    """
    if requested == "auto":
        chosen = [PROVIDERS[n] for n in AUTO_ORDER if n == "cpu" or probe(n).loads]
        return chosen
    result = probe(requested)
    if not result.loads:
        raise ProviderError(
            "provider %r cannot run here: %s. Use --provider auto (or cpu), or see `edgetts doctor`"
            % (requested, result.detail)
        )
    return [PROVIDERS[requested]] + ([] if requested == "cpu" else [PROVIDERS["cpu"]])


def onnxruntime_version() -> Optional[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    return ort.__version__
