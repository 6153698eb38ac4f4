"""Export on a tiny random student with the real tensor names, and the runtime on that bundle."""

import io
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from click.testing import CliRunner

from edgetts.cli import main
from edgetts.config import SynthesisOptions
from edgetts.engine.decoder import open_decoder
from edgetts.errors import BundleError, EmptyTextError, ProviderError
from edgetts.engine.audio import write_wav
from edgetts.engine.voice import Voice


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return tiny_bundle


def load_variant(bundle, variant):
    """Voice.load on the CPU; where this ONNX Runtime is older than the variant needs (fp16 is
    opset 17, ONNX Runtime 1.11 reads 16), the refusal must name the version, and None returns."""
    import onnxruntime as ort

    from edgetts.engine.compat import parse_version

    if variant == "fp16" and parse_version(ort.__version__) < (1, 12):
        with pytest.raises(BundleError, match=r"needs onnxruntime >= 1\.12"):
            Voice.load(bundle, provider="cpu", variant=variant)
        return None
    return Voice.load(bundle, provider="cpu", variant=variant)


def test_bundle_has_every_variant_with_checksums(bundle):
    m = json.load(open(os.path.join(bundle, "voice.json")))
    assert m["format_version"] == 1 and len(m["symbols"]) == 219
    assert sorted(m["graphs"]) == ["fp16", "fp32", "int8", "nano"]
    for variant, roles in m["graphs"].items():
        # the CPU variants add the stateful streaming vocoder; every variant of a voice with
        # prosody controls the graph that embeds the edited pitch and energy
        extra = ["vocoder_stream"] if variant in ("fp32", "int8") else []
        assert sorted(roles) == ["decoder_step", "prosody", "text_encoder", "vocoder"] + extra
        for g in roles.values():
            assert len(g["sha256"]) == 64 and os.path.exists(os.path.join(bundle, g["file"]))
    assert m["graphs"]["fp16"]["decoder_step"]["cache"] == "static"
    assert m["graphs"]["fp32"]["decoder_step"]["cache"] == "dynamic"
    assert not [f for f in os.listdir(bundle) if f.endswith(".data") or "tmp" in f]
    assert m["validation"]["step_by_step_vs_full_pass"] < 1e-4
    assert m["validation"]["streamed_vs_whole_vocoder"] < 1e-4
    assert m["vocoder"]["stream_first_frames"] > 0


@pytest.fixture(scope="module")
def voice(bundle):
    return Voice.load(bundle, provider="cpu")


def test_synthesize_yields_typed_chunks_of_the_right_length(voice):
    chunks = list(voice.synthesize("你好，世界。"))
    assert chunks[-1].final and not any(c.final for c in chunks[:-1])
    assert {c.utterance for c in chunks} == {0, 1}
    # 2 clauses of 2 characters: sil ^... every symbol lasts 3 frames (see the fixture)
    speech = [c for c in chunks if c.char_end > c.char_start]
    assert speech and all(c.audio.dtype == np.float32 for c in chunks)
    total = sum(len(c.audio) for c in chunks)
    n_symbols = [len(u) for u in (voice_ids("你好"), voice_ids("世界"))]
    pauses = int(round(0.15 * 24000)) + int(round(0.35 * 24000))
    assert total == sum(n * 3 * 300 for n in n_symbols) + pauses
    for c in speech:
        assert 0 <= c.char_start < c.char_end <= len(c.text)


def voice_ids(text):
    from edgetts.text.frontend import Frontend

    return Frontend()(text)[0].ids


def test_streaming_equals_one_window(voice):
    """Small chunks stream the same samples as one window over the whole clause (1e-5)."""
    text = "今天天气很好我们一起去公园散步吧"
    small = voice.synthesize_array(text, SynthesisOptions(first_chunk_frames=4, chunk_frames=7))
    whole = voice.synthesize_array(text, SynthesisOptions(first_chunk_frames=10_000, chunk_frames=10_000))
    assert small.shape == whole.shape and np.abs(small - whole).max() < 1e-5


def test_first_chunk_comes_before_the_clause_is_decoded(voice):
    """Without the worker thread the order is deterministic: after the first call the vocoder
    runs every `chunk_frames` decoded frames, not once at the end of the clause. The first
    call waits for `first_chunk_frames` + the context and returns at least that many frames
    (the streaming graph's lag is a little under the context), in whole frames."""
    text = "今天天气很好我们一起去公园散步吧"
    opts = SynthesisOptions(first_chunk_frames=6, chunk_frames=12)
    chunks = list(voice.synthesize(text, opts, pipeline=False))
    speech = [c for c in chunks if c.char_end > c.char_start]
    assert len(speech) >= 3 and 6 * 300 <= len(speech[0].audio) <= 9 * 300
    assert all(len(c.audio) % 300 == 0 for c in speech[:-1])
    assert speech[0].char_start == 0 and speech[-1].char_end == len(text)


def test_pipelined_synthesis_equals_sequential(voice):
    """The decoder worker thread changes when frames are vocoded (window sizes), not the audio:
    equal to 1e-5 (float32 rounding of windows with a different left edge), same chunk order."""
    text = "你好，世界。今天天气很好，我们一起去公园散步吧！欢迎使用。"
    opts = SynthesisOptions(first_chunk_frames=4, chunk_frames=5)
    a = list(voice.synthesize(text, opts, pipeline=True))
    b = list(voice.synthesize(text, opts, pipeline=False))
    whole_a, whole_b = np.concatenate([c.audio for c in a]), np.concatenate([c.audio for c in b])
    assert whole_a.shape == whole_b.shape and np.abs(whole_a - whole_b).max() < 1e-5
    assert [c.utterance for c in a if c.char_start == c.char_end == len(c.text)] == list(range(5))
    assert a[-1].final and sum(c.final for c in a) == 1


def test_closing_the_stream_early_stops_the_decoder_thread(voice):
    import threading

    before = {t for t in threading.enumerate() if t.name == "edgetts-decoder"}
    stream = voice.synthesize("今天天气很好。" * 40)
    next(stream)
    stream.close()
    left = [t for t in threading.enumerate() if t.name == "edgetts-decoder" and t not in before]
    assert not any(t.is_alive() for t in left)


def test_decoder_errors_reach_the_caller(bundle):
    """The static cache holds 64 steps in the tiny bundle; a longer clause fails in the worker
    thread and the error comes out of the caller's loop, naming the limit."""
    v = Voice.load(bundle, provider="cpu", variant="nano")
    with pytest.raises(ValueError, match="static cache holds 64"):
        list(v.synthesize("今天天气很好我们一起去公园散步吧今天天气很好我们一起去公园散步吧"))


def test_bad_text_fails_before_any_audio(voice):
    with pytest.raises(EmptyTextError):
        voice.synthesize("  。")  # raised by the call itself, not on first iteration


def test_speed_scales_length(voice):
    a = voice.synthesize_array("今天天气很好", SynthesisOptions(speed=1.0))
    b = voice.synthesize_array("今天天气很好", SynthesisOptions(speed=3.0))
    assert len(b) < len(a)


@pytest.mark.parametrize("variant", ["int8", "fp16", "nano"])
def test_every_variant_runs_on_the_cpu(bundle, voice, variant):
    """INT8 is made for the CPU; FP16/Nano are GPU graphs, run here through the static-cache
    numpy path. Same length as FP32, finite, and close to it (relative RMS <= 0.3 on random
    weights; the real voice's agreement is measured by `make eval`)."""
    ref = voice.synthesize_array("你好世界")
    v = load_variant(bundle, variant)
    if v is None:
        return
    got = v.synthesize_array("你好世界")
    assert got.shape == ref.shape and np.all(np.isfinite(got))
    rel = np.sqrt(np.mean((got - ref) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-9)
    assert rel < 0.3


def _plain_and_bound(method, dec, ctx, prog):
    """The same decode loop run with numpy feeds, then with IO-bound caches (both
    implementations of the loop over the voice's decoder session)."""
    out = []
    for binding in (False, True):
        d = open_decoder(dec.session, dec.cache, dec.static, dec.mel_bins, dec.r, "cpu", io_binding=binding)
        assert type(d).__name__ == ("BoundCache" if binding else "NumpyCache")
        out.append(np.stack(list(getattr(d, method)(ctx, prog))))
    return out


@pytest.mark.parametrize("variant", ["fp16", "nano"])
def test_io_binding_path_equals_numpy_path(bundle, variant):
    """The GPU loop (static caches in two bound ORT buffers used in turn, only frames fetched)
    runs on the CPU too: it must give exactly the frames of the plain numpy loop (same graph,
    same inputs; 1e-6 allows for nothing but float noise)."""
    v = load_variant(bundle, variant)
    if v is None:
        return
    dec = v.decoder
    rng = np.random.default_rng(1)
    c = v.config
    ctx = rng.standard_normal((20, c.reduction_factor, c.d_model)).astype(np.float32)
    prog = rng.random((20, c.reduction_factor, 2)).astype(np.float32)
    plain, bound = _plain_and_bound("frames", dec, ctx, prog)
    assert bound.shape == plain.shape == (20, c.reduction_factor, c.mel_bins)
    assert np.abs(bound - plain).max() < 1e-6


@pytest.mark.parametrize("variant", ["fp16", "nano"])
def test_batched_io_binding_path_equals_numpy_path(bundle, variant):
    """The service decodes concurrent clauses as one batch; on a GPU that loop keeps the static
    caches bound on the device too. Forced on the CPU, every row of a batch of 3 must equal the
    plain numpy loop's (1e-6: float noise only), and equal that row decoded alone."""
    v = load_variant(bundle, variant)
    if v is None:
        return
    dec = v.decoder
    rng = np.random.default_rng(2)
    c = v.config
    ctx = rng.standard_normal((3, 16, c.reduction_factor, c.d_model)).astype(np.float32)
    prog = rng.random((3, 16, c.reduction_factor, 2)).astype(np.float32)
    plain, bound = _plain_and_bound("batch_frames", dec, ctx, prog)
    alone = np.stack(list(dec.frames(ctx[1], prog[1])))
    assert bound.shape == plain.shape == (16, 3, c.reduction_factor, c.mel_bins)
    assert np.abs(bound - plain).max() < 1e-6
    assert np.abs(bound[:, 1] - alone).max() < 1e-5


def test_write_wav_round_trips(voice, tmp_path):
    path = str(tmp_path / "x.wav")
    secs = write_wav(path, voice.synthesize("你好"), 24000)
    data, sr = sf.read(path)
    assert sr == 24000 and abs(len(data) / sr - secs) < 1e-6


def test_empty_text_is_an_error(voice):
    with pytest.raises(EmptyTextError):
        list(voice.synthesize("  。"))


def _copy(bundle, tmp_path):
    dst = str(tmp_path / "copy")
    shutil.copytree(bundle, dst)
    return dst


def test_corrupt_graph_is_named(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    with open(os.path.join(b, "text_encoder.fp32.onnx"), "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(BundleError, match="text_encoder.fp32.onnx does not match its sha256"):
        Voice.load(b, provider="cpu")
    # no silent fallback to another variant: the corrupt file is the error
    with pytest.raises(BundleError, match="text_encoder.fp32.onnx"):
        Voice.load(b, provider="cpu", variant="fp32")


def test_graphs_are_hashed_when_opened(bundle, tmp_path):
    """Voice.load hashes the graphs it opens (hashing a whole bundle costs more than opening a
    variant): a corrupt graph of another variant is named when that variant is opened, and by
    a full manifest check (edgetts doctor)."""
    from edgetts.engine import manifest

    b = _copy(bundle, tmp_path)
    with open(os.path.join(b, "decoder_step.int8.onnx"), "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    assert Voice.load(b, provider="cpu", variant="fp32").variant == "fp32"
    with pytest.raises(BundleError, match="decoder_step.int8.onnx does not match its sha256"):
        Voice.load(b, provider="cpu", variant="int8")
    with pytest.raises(BundleError, match="decoder_step.int8.onnx does not match its sha256"):
        manifest.load(b)


def test_missing_graph_is_named(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    os.remove(os.path.join(b, "decoder_step.int8.onnx"))
    with pytest.raises(BundleError, match="decoder_step.int8.onnx .* is missing"):
        Voice.load(b, provider="cpu")


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ('{"format_version": 99}', "upgrade edgetts"),
    ('{"format_version": 0}', "re-export"),
    ('{"format_version": 1, "name": "x"}', "lacks"),
])
def test_bad_manifest(bundle, tmp_path, content, match):
    b = _copy(bundle, tmp_path)
    with open(os.path.join(b, "voice.json"), "w") as f:
        f.write(content)
    with pytest.raises(BundleError, match=match):
        Voice.load(b, provider="cpu")


def test_mismatched_symbol_table(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    m = json.load(open(os.path.join(b, "voice.json")))
    m["symbols"] = m["symbols"][::-1]
    json.dump(m, open(os.path.join(b, "voice.json"), "w"))
    with pytest.raises(BundleError, match="symbol table differs"):
        Voice.load(b, provider="cpu")


def test_unknown_variant(bundle):
    with pytest.raises(BundleError, match="has no 'fp8' graphs"):
        Voice.load(bundle, provider="cpu", variant="fp8")


def test_explicit_gpu_provider_that_cannot_run_is_an_error(bundle):
    from edgetts.engine.providers import probe

    if probe("cuda").loads:
        pytest.skip("CUDA really works here")
    with pytest.raises(ProviderError, match="cannot run here"):
        Voice.load(bundle, provider="cuda")
    with pytest.raises(ProviderError, match="unknown provider"):
        Voice.load(bundle, provider="npu")


def test_auto_provider_falls_back_to_cpu_and_says_so(bundle):
    v = Voice.load(bundle, provider="auto")
    assert v.providers[0] in ("CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider")
    if v.providers[0] == "CPUExecutionProvider":
        assert v.variant == "fp32"


def test_cli_say_to_file_stdout_and_raw(bundle, tmp_path):
    r = CliRunner()
    out = tmp_path / "a.wav"
    res = r.invoke(main, ["say", "你好", "--voice", bundle, "--provider", "cpu", "-o", str(out), "-v"])
    assert res.exit_code == 0, res.output
    assert "RTF" in res.output
    data, sr = sf.read(str(out))
    assert sr == 24000 and len(data) > 0
    res = r.invoke(main, ["say", "你好", "--voice", bundle, "--provider", "cpu", "-o", "-"])
    assert res.exit_code == 0
    data2, _ = sf.read(io.BytesIO(res.stdout_bytes))
    assert len(data2) == len(data)
    res = r.invoke(main, ["say", "--voice", bundle, "--provider", "cpu", "--raw"],
                   input="你好".encode("utf-8"))
    assert res.exit_code == 0 and len(res.stdout_bytes) == 2 * len(data)


def test_cli_say_reports_bad_bundle(tmp_path):
    (tmp_path / "voice.json").write_text("{oops")
    res = CliRunner().invoke(main, ["say", "你好", "--voice", str(tmp_path), "-o", str(tmp_path / "x.wav")])
    assert res.exit_code == 1 and "not valid JSON" in res.output


@pytest.mark.gpu
def test_gpu_fp16_static_cache_with_io_binding_matches_cpu(bundle, voice):
    """On a GPU: the FP16 graphs with the fixed-size cache kept on the device through IO binding
    give the CPU FP32 audio's length, finite, within the FP16 tolerance (relative RMS 0.3 on
    random weights)."""
    v = Voice.load(bundle, provider="cuda", variant="fp16")
    assert v.providers[0] == "CUDAExecutionProvider"
    ref = voice.synthesize_array("你好世界")
    got = v.synthesize_array("你好世界")
    assert got.shape == ref.shape and np.all(np.isfinite(got))
    rel = np.sqrt(np.mean((got - ref) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-9)
    assert rel < 0.3


def test_bench_measures_a_configuration_in_a_subprocess(bundle):
    """`edgetts bench` mechanics on the tiny bundle: a real subprocess per configuration, figures
    that are consistent with each other, and unavailable providers listed as skipped."""
    from edgetts.cli import bench

    rows = bench.run_all(["ort-fp32-t1", "tensorrt-fp16"], bundle, repeats=1, echo=lambda m: None)
    ok, trt = rows
    assert set(ok["sentences"]) == {"short", "medium", "long"}
    for s in ok["sentences"].values():
        assert s["rtf"] > 0 and 0 < s["first_audio_ms"] < 1000 * s["rtf"] * s["audio_s"] + 1e-6
    assert 0 < ok["step_ms_mean"] <= ok["step_ms_p95"] and ok["vocoder_rtf"] > 0
    assert all(ok["step_ms_by_batch"][b] > 0 for b in ("1", "4", "16"))
    assert ok["peak_rss_mb"] > 50 and ok["providers"][0] == "CPUExecutionProvider"
    assert "skipped" in trt and "tensorrt" in trt["skipped"]
    text = bench.table(rows)
    assert "| ort-fp32-t1 |" in text and "1.00x" in text and "tensorrt-fp16 | tensorrt" in text
    # the header says how fast this machine reads the FP32 decoder's 15 MB of weights
    m = bench.machine()
    assert 0.1 < m["memory_read_gb_s"] < 10000 and "GB/s (15 MB)" in bench.header(bundle)


def test_bench_cli_rejects_unknown_configurations(bundle):
    r = CliRunner().invoke(main, ["bench", "--voice", bundle, "--configs", "ort-fp64"])
    assert r.exit_code == 2 and "unknown configuration(s) ort-fp64" in r.output
    r = CliRunner().invoke(main, ["bench", "--voice", bundle, "--configs", "ort-fp32-t1",
                                  "--baseline", "ort-int8-t1"])
    assert r.exit_code == 2 and "'ort-int8-t1' is not among the configurations run" in r.output


def test_bench_side_by_side_against_another_build(bundle, root):
    """--against runs each configuration on another checkout's runtime too (here this one, by
    its folder), just before this build's row, and the ratios are against the baseline named;
    the windowed-vocoder row really runs the windowed vocoder."""
    from edgetts.cli import bench

    rows = bench.run_all(["ort-fp32-t2-windowed"], bundle, repeats=1, echo=lambda m: None,
                         against=(os.path.join(root, "runtime"), bundle))
    assert [r["config"] for r in rows] == ["old: ort-fp32-t2-windowed", "ort-fp32-t2-windowed"]
    assert all(r["chars_per_s"] > 0 for r in rows)
    assert rows[1]["vocoder"] == "OnnxVocoder" and rows[1]["parallel_clauses"] == 1
    text = bench.table(rows, baseline="ort-fp32-t2-windowed")
    assert "chars/s vs ort-fp32-t2-windowed" in text
    assert text.splitlines()[-1].endswith("| 1.00x | 1.00x | 1.00x |")


def test_probe_keeps_ort_log_level_and_its_notices_off_stderr(monkeypatch, capfd):
    """Probing a provider that fails to load here (CUDA without its libraries, or a build
    without it) reports the reason itself: ONNX Runtime's own error lines do not reach stderr,
    its process-wide log level is never touched, and other stderr output passes through."""
    import os

    import onnxruntime as ort

    from edgetts.engine import providers

    calls = []
    monkeypatch.setattr(ort, "set_default_logger_severity", lambda level: calls.append(level))
    with providers._without_ort_notices():
        os.write(2, b"application line\n")
        os.write(2, b"\x1b[1;31m2026 [E:onnxruntime:Default, x.cc:1] failed\n\x1b[m\n")
    r = providers.probe("cuda")
    err = capfd.readouterr().err
    assert calls == []
    assert "application line" in err and "onnxruntime" not in err
    if not r.loads:
        assert r.detail
