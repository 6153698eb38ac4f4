"""The GPU path of the default voice: the FP16 graphs on the CUDA provider against FP32 on the CPU.

Every test here is marked ``gpu`` and is skipped where no CUDA provider really loads, except in
the dry run (``EDGETTS_GPU_DRY=1``, ``make gpu-check-dry``): there the same tests run with the
device provider forced to the CPU. The FP16 graphs, the static cache bound through IO binding and
the service still run, so the harness itself is tested on every CI run and the first GPU lease
does not fail on a typo; only the assertions that CUDA is in use become assertions that it is not.

The voice is ``EDGETTS_TEST_DEFAULT_BUNDLE`` or ``voices/default`` (``make export``), with its
fp16 and fp32 graphs. Tolerances, for FP16 (10-bit mantissa, relative rounding 2^-11 ≈ 5e-4 per
operation) on a GPU, whose kernels also differ from the CPU's in summation order:

- text encoder: relative RMS 1e-2 (a dozen layers of rounding on the GPU stay far below 1 %);
- decoder: relative RMS 5e-2 over a whole clause decoded step by step. The decoder feeds its
  own frames back, so differences grow along the clause;
- vocoder: SNR 30 dB (the exporter requires 40 dB for the graphs alone on the CPU; 10 dB of
  margin for the GPU's kernels).

What the dry run measures against these is in deploy/gpu/README.md.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from edgetts import EngineOptions, SynthesisOptions, Voice

pytestmark = pytest.mark.gpu

DRY = os.environ.get("EDGETTS_GPU_DRY") == "1"
PROVIDER = "cpu" if DRY else "cuda"
DEVICE_EP = "CPUExecutionProvider" if DRY else "CUDAExecutionProvider"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTS = ["今天天气真好，我们一起去公园散步吧。", "欢迎使用边缘设备上的中文语音合成。"]
BATCH_TEXTS = [
    "请系好安全带。", "列车即将进站。", "欢迎光临。", "今天天气很好。", "会议三点开始。",
    "请注意安全。", "谢谢您的耐心等待。", "我们一起去公园散步吧。",
]


def _rel(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / max(np.sqrt(np.mean(b ** 2)), 1e-9))


@pytest.fixture(scope="module")
def bundle():
    path = os.environ.get("EDGETTS_TEST_DEFAULT_BUNDLE") or os.path.join(ROOT, "voices", "default")
    if not os.path.exists(os.path.join(path, "text_encoder.fp16.onnx")):
        pytest.fail("the GPU checks need the default voice with its fp16 graphs at %s: run `make export`" % path)
    return path


@pytest.fixture(scope="module")
def cpu32(bundle):
    return Voice.load(bundle, provider="cpu", variant="fp32")


@pytest.fixture(scope="module")
def gpu16(bundle):
    """FP16 on the device, the static cache bound to it through IO binding (forced on in the dry
    run, where the device is the CPU)."""
    return Voice.load(bundle, provider=PROVIDER, variant="fp16", engine=EngineOptions(io_binding=True))


def test_the_device_provider_is_really_used(bundle, gpu16):
    """`edgetts doctor` says whether CUDA really runs (a probe session, not the build list), and
    the voice's sessions run on it."""
    out = subprocess.run([sys.executable, "-m", "edgetts.cli", "doctor", "--voice", bundle, "--open",
                          "--provider", PROVIDER], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    cuda = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("cuda")]
    assert cuda, out.stdout
    if DRY:  # whatever this machine has, the line says it, with the reason when it is no
        assert cuda[0].split()[1] == "loads" or (cuda[0].split()[1] == "no:" and len(cuda[0]) > 20), cuda
    else:
        assert cuda[0].split()[1] == "loads", out.stdout
    # the variant `serve` would open here by default: fp16 on a GPU, fp32 on the CPU
    assert "opens         %s on %s" % ("fp32" if DRY else "fp16", DEVICE_EP) in out.stdout, out.stdout
    assert gpu16.providers[0] == DEVICE_EP and gpu16.variant == "fp16"
    assert type(gpu16.decoder).__name__ == "BoundCache"


def test_text_encoder_fp16_matches_fp32_cpu(cpu32, gpu16):
    for text in TEXTS:
        u = cpu32.prepare(text)[0]
        feed = {"phoneme_ids": np.asarray([u.ids], np.int64), "phoneme_lengths": np.array([len(u.ids)], np.int64)}
        names = ["memory", "log_durations"] + (["pitch", "energy"] if "prosody" in cpu32.sessions else [])
        out32 = dict(zip(names, cpu32.sessions["text_encoder"].run(names, feed)))
        out16 = dict(zip(names, gpu16.sessions["text_encoder"].run(names, feed)))
        assert _rel(out16["memory"], out32["memory"]) < 1e-2
        # log-durations: 5 % of a symbol's length
        assert np.abs(out16["log_durations"] - out32["log_durations"]).max() < 0.05
        if "pitch" in names:  # semitones: a tenth of one is far below what is heard
            assert np.abs(out16["pitch"] - out32["pitch"]).max() < 0.1
            assert np.abs(out16["energy"] - out32["energy"]).max() < 0.05


def _frames(voice, contexts, progresses):
    """Decode a batch step by step; frames per row, padding steps dropped."""
    n = max(len(c) for c in contexts)
    ctx = np.zeros((len(contexts), n) + contexts[0].shape[1:], np.float32)
    prog = np.zeros((len(contexts), n) + progresses[0].shape[1:], np.float32)
    for j, (c, p) in enumerate(zip(contexts, progresses)):
        ctx[j, :len(c)], prog[j, :len(p)] = c, p
    steps = np.concatenate(list(voice.decoder.batch_frames(ctx, prog)), axis=1)
    return [steps[j, : len(c) * steps.shape[1] // n] for j, c in enumerate(contexts)]


def test_decoder_fp16_bound_cache_batch_1_matches_fp32_cpu_loop(cpu32, gpu16):
    """Batch 1: the device's static cache through IO binding against the CPU's numpy loop."""
    o = SynthesisOptions()
    for text in TEXTS:
        ctx, prog, _ = cpu32.encode(cpu32.prepare(text)[0], o)
        (ref,) = _frames(cpu32, [ctx], [prog])
        (got,) = _frames(gpu16, [ctx], [prog])
        assert got.shape == ref.shape and np.all(np.isfinite(got))
        assert _rel(got, ref) < 5e-2


def test_decoder_fp16_bound_cache_batch_8_matches_each_row_alone(cpu32, gpu16):
    """Batch 8 of clauses of different lengths: each row against the same clause alone on the
    device (padding at the end of shorter rows must not reach them) and against the CPU loop."""
    o = SynthesisOptions()
    enc = [cpu32.encode(cpu32.prepare(t)[0], o) for t in BATCH_TEXTS]
    ctxs, progs = [e[0] for e in enc], [e[1] for e in enc]
    together = _frames(gpu16, ctxs, progs)
    for j, (c, p) in enumerate(zip(ctxs, progs)):
        (alone,) = _frames(gpu16, [c], [p])
        (ref,) = _frames(cpu32, [c], [p])
        assert together[j].shape == alone.shape == ref.shape
        assert _rel(together[j], alone) < 1e-2  # batched GEMMs may sum in another order
        assert _rel(together[j], ref) < 5e-2


def test_vocoder_fp16_matches_fp32_cpu(bundle, cpu32, gpu16):
    import onnxruntime as ort

    whole32 = ort.InferenceSession(os.path.join(bundle, "vocoder.fp32.onnx"), providers=["CPUExecutionProvider"])
    ctx, prog, _ = cpu32.encode(cpu32.prepare(TEXTS[0])[0], SynthesisOptions())
    (frames,) = _frames(cpu32, [ctx], [prog])
    mel = frames.reshape(-1, frames.shape[-1]).T[None].astype(np.float32)
    ref = whole32.run(None, {"mel": mel})[0]
    got = gpu16.sessions["vocoder"].run(None, {"mel": mel})[0]
    assert got.shape == ref.shape
    snr = 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((got - ref).astype(np.float64) ** 2))
    assert snr > 30, snr


def test_streaming_equals_whole_on_the_device(gpu16):
    """Small chunks stream the samples of one window over the whole clause. The FP16 vocoder
    rounds differently at each window's edge even on the CPU (where the FP32 graph is exact to
    1e-5), and on a GPU each window size may also pick another convolution algorithm: 5e-3,
    about 20 FP16 steps at full scale."""
    text = "今天天气很好我们一起去公园散步吧"
    small = gpu16.synthesize_array(text, SynthesisOptions(first_chunk_frames=4, chunk_frames=7))
    whole = gpu16.synthesize_array(text, SynthesisOptions(first_chunk_frames=10_000, chunk_frames=10_000))
    assert small.shape == whole.shape
    assert np.abs(small - whole).max() < 5e-3


def test_fp16_on_the_device_says_the_same_as_fp32_on_the_cpu(cpu32, gpu16):
    """End to end: same length (durations agree), finite, close in level."""
    for text in TEXTS:
        ref = cpu32.synthesize_array(text)
        got = gpu16.synthesize_array(text)
        assert got.shape == ref.shape and np.all(np.isfinite(got))
        assert abs(np.sqrt(np.mean(got ** 2)) / np.sqrt(np.mean(ref ** 2)) - 1) < 0.1


@pytest.fixture(scope="module")
def served(bundle):
    p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "serve", "--voice", bundle, "--port", "0",
                          "--provider", PROVIDER, "--variant", "fp16"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    port = None
    for line in p.stderr:
        if "serving" in line:
            port = int(line.rsplit(":", 1)[1].strip())
            threading.Thread(target=p.stderr.read, daemon=True).start()
            break
        if time.time() > deadline:
            break
    if port is None:
        p.kill()
        pytest.fail("edgetts serve --provider %s did not start: exit %s" % (PROVIDER, p.wait()))
    yield "http://127.0.0.1:%d" % port
    p.terminate()
    p.wait(timeout=30)


def test_service_answers_with_the_device_provider(served):
    req = urllib.request.Request(served + "/v1/tts", data=json.dumps({"text": TEXTS[0]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
        assert r.status == 200 and body[:4] == b"RIFF" and len(body) > 24000
    with urllib.request.urlopen(served + "/readyz", timeout=30) as r:
        ready = r.read().decode()
    assert DEVICE_EP in ready or PROVIDER in ready.lower(), ready


def test_metrics_report_gpu_memory_where_nvml_answers(served):
    """On a GPU with NVML (nvidia-ml-py), /metrics carries the GPU memory gauge; in the dry run
    there is no GPU, and the gauge must not pretend there is one."""
    with urllib.request.urlopen(served + "/metrics", timeout=30) as r:
        text = r.read().decode()
    has_gauge = any(ln.startswith("edgetts_gpu_memory_used_bytes") for ln in text.splitlines())
    if DRY:
        assert not has_gauge
    else:
        pytest.importorskip("pynvml")
        assert has_gauge, "NVML is installed but /metrics has no GPU memory gauge"
