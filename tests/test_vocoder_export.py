"""Vocoder ONNX graphs: parity with PyTorch, precisions, Nano profile, streaming, speech."""

import os

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from edgetts.exporter import onnx_tools as T  # noqa: E402
from edgetts.exporter.vocoder import export_vocoder  # noqa: E402
from edgetts.models.melgan import HOP, min_frames, receptive_field_frames  # noqa: E402
from edgetts.engine.vocoder import OnnxVocoder, StreamingVocoder  # noqa: E402


@pytest.fixture(scope="module")
def model(tflite_vocoder):
    return tflite_vocoder


@pytest.fixture(scope="module", params=["teacher", "narrow"])
def any_shape(request, tflite_vocoder):
    """The teacher, and a random MB-MelGAN of the shape a distilled vocoder may take (fewer
    channels, fewer residual blocks): the receptive field and the streaming graph follow the
    generator's own shape."""
    if request.param == "teacher":
        return tflite_vocoder
    from edgetts.models.melgan import MBMelGAN

    torch.manual_seed(3)
    small = MBMelGAN(channels=64, dilations=(1, 9)).eval()
    small.pqmf.load_state_dict(tflite_vocoder.pqmf.state_dict())
    return small


@pytest.fixture(scope="module")
def bundle(model, real_mel, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("vocoder"))
    facts = export_vocoder(model, out, real_mel=real_mel, log=lambda *a: None)
    return out, facts


def test_export_writes_validated_single_file_graphs(bundle):
    out, facts = bundle
    assert sorted(os.listdir(out)) == ["vocoder.fp16.onnx", "vocoder.fp32.onnx", "vocoder.nano.onnx"]
    assert facts["fp32"]["max_abs_error"] < 1e-4
    assert facts["fp16"]["snr_db"] > 40 and facts["nano"]["snr_db"] > 40
    for _v, f in facts.items():
        m = onnx.load(os.path.join(out, f["file"]))
        assert [i.name for i in m.graph.input] == ["mel"]
        assert [o.name for o in m.graph.output] == ["audio"]
        assert max(i.version for i in m.opset_import if i.domain in ("", "ai.onnx")) == f["opset"]


def test_fp16_keeps_fp32_interface_and_halves_size(bundle):
    out, _ = bundle
    m = onnx.load(os.path.join(out, "vocoder.fp16.onnx"))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights16 = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert sum(np.prod(i.dims) for i in weights16) > 1_800_000
    assert os.path.getsize(os.path.join(out, "vocoder.fp16.onnx")) < 0.55 * os.path.getsize(
        os.path.join(out, "vocoder.fp32.onnx"))


def test_nano_profile_stays_inside_what_tensorrt_8_2_parses(bundle):
    out, _ = bundle
    m = onnx.load(os.path.join(out, "vocoder.nano.onnx"))
    assert T.nano_violations(m) == []
    assert "Pad" not in T.op_types(m) or all(
        a.s == b"constant" for n in m.graph.node if n.op_type == "Pad" for a in n.attribute
        if a.name == "mode")


def test_nano_check_catches_reflect_pad_and_contrib_ops(bundle):
    out, _ = bundle
    bad = T.nano_violations(onnx.load(os.path.join(out, "vocoder.fp32.onnx")))
    assert any("opset 17" in b for b in bad) and any("reflect" in b for b in bad)


@pytest.mark.parametrize("variant", ["fp32", "fp16", "nano"])
def test_no_nan_or_inf_on_loud_and_silent_input(bundle, variant):
    out, _ = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.%s.onnx" % variant))
    for value in (8.0, 4.0, -4.0, -8.0):
        audio = voc(np.full((40, 80), value, np.float32))
        assert audio.shape == (40 * HOP,) and np.all(np.isfinite(audio))
        assert np.abs(audio).max() <= 1.0 * 4 + 1e-3  # tanh sub-bands through unit-gain PQMF


@pytest.mark.parametrize("frames", [1, 7, 10, 100])
def test_dynamic_frame_count(bundle, frames):
    """Any length works: below min_frames() the runtime pads with silence and trims."""
    out, _ = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.fp32.onnx"), min_frames=min_frames())
    assert voc(np.zeros((frames, 80), np.float32) + 0.2).shape == (frames * HOP,)


def test_min_frames_is_the_graph_limit(bundle):
    import onnxruntime as ort

    out, _ = bundle
    sess = ort.InferenceSession(os.path.join(out, "vocoder.fp32.onnx"), providers=["CPUExecutionProvider"])
    n = min_frames()
    assert sess.run(None, {"mel": np.zeros((1, 80, n), np.float32)})[0].shape == (1, n * HOP)
    with pytest.raises(Exception, match="[Pp]ad"):
        sess.run(None, {"mel": np.zeros((1, 80, n - 1), np.float32)})


def test_validation_reports_every_failure(bundle, model):
    """A graph that disagrees with PyTorch fails with all its problems listed together."""
    out, _ = bundle
    def wrong(feed):
        return {"audio": np.zeros((feed["mel"].shape[0], feed["mel"].shape[2] * HOP + 1))}
    feeds = [{"mel": np.zeros((1, 80, 12), np.float32)}, {"mel": np.ones((1, 80, 16), np.float32)}]
    rep = T.validate(os.path.join(out, "vocoder.fp32.onnx"), wrong, feeds,
                     {"audio": T.Check(atol=1e-4)})
    assert len(rep.failures) == 2 and all("shape" in f for f in rep.failures)
    with pytest.raises(T.ExportError, match="shape"):
        rep.raise_if_failed()


def test_receptive_field_is_computed_not_guessed(any_shape):
    """Perturb one frame: every changed sample lies within the computed context, and the bound
    is tight (the measured reach is within 2 frames of it)."""
    model = any_shape
    ctx = receptive_field_frames(model.generator.dilations)
    mel = torch.randn(1, 80, 120) * 0.85 + 0.2
    j = 60
    bumped = mel.clone()
    bumped[..., j] += 1.0
    with torch.no_grad():
        diff = (model(bumped) - model(mel)).abs()[0].numpy()
    changed = np.nonzero(diff > 0)[0]
    left = j - changed.min() / HOP
    right = (changed.max() + 1) / HOP - (j + 1)
    assert left <= ctx and right <= ctx
    assert max(left, right) > ctx - 2


@pytest.mark.parametrize("pieces", [[1] * 90, [3] * 30 + [1] * 10 + [50], [257]])
def test_streaming_equals_whole_utterance(bundle, real_mel, pieces):
    """Frames pushed in any sizes give the same samples as one pass over the utterance: equal to
    1e-5 (ORT float32 on windows vs the whole; same math, measured ~1e-6), so there is no seam or
    click at any chunk join."""
    out, facts = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.fp32.onnx"))
    whole = voc(real_mel)
    stream = StreamingVocoder(voc, context=facts["fp32"]["context_frames"], chunk=24, first_chunk=8)
    parts, pos = [], 0
    sizes = list(pieces) + [len(real_mel)]
    for n in sizes:
        if pos >= len(real_mel):
            break
        parts.append(stream.push(real_mel[pos:pos + n]))
        pos += n
    parts.append(stream.finish())
    got = np.concatenate(parts)
    assert got.shape == whole.shape
    assert np.abs(got - whole).max() < 1e-5


def test_streaming_emits_first_audio_before_the_end(bundle, real_mel):
    out, facts = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.fp32.onnx"))
    ctx = facts["fp32"]["context_frames"]
    stream = StreamingVocoder(voc, context=ctx, chunk=24, first_chunk=8)
    first = stream.push(real_mel[:8 + ctx])
    assert first.shape == (8 * HOP,)
    assert stream.push(np.zeros((0, 80), np.float32)).size == 0


def test_too_little_context_is_not_exact(bundle, real_mel):
    """The context is needed: with a quarter of it, chunk joins differ from the whole pass."""
    out, facts = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.fp32.onnx"))
    whole = voc(real_mel)
    stream = StreamingVocoder(voc, context=facts["fp32"]["context_frames"] // 4, chunk=24)
    got = np.concatenate([stream.push(real_mel), stream.finish()])
    assert np.abs(got - whole).max() > 1e-3


def test_teacher_mel_through_onnx_sounds_like_speech(bundle, real_mel):
    """Spectral sanity of a real sentence: not silent, energy where speech has it, voiced frames
    with a pitch in the human range, far from white noise. (The transcription check with the
    Whisper judge is `make eval`; this one needs nothing but numpy.)"""
    out, _ = bundle
    audio = OnnxVocoder(os.path.join(out, "vocoder.fp16.onnx"))(real_mel)
    sr = 24000
    assert audio.shape == (len(real_mel) * HOP,)
    rms = np.sqrt(np.mean(audio ** 2))
    assert 0.01 < rms < 0.5 and np.abs(audio).max() < 1.0
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    band = spec[(freqs > 80) & (freqs < 4000)].sum() / spec.sum()
    assert band > 0.8  # speech energy sits below 4 kHz
    frames = audio[: len(audio) // 1200 * 1200].reshape(-1, 1200)  # 50 ms frames
    voiced = 0
    for f in frames[np.sqrt((frames ** 2).mean(1)) > rms]:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[len(f) - 1:]
        lag = np.argmax(ac[sr // 400: sr // 70]) + sr // 400  # pitch 70-400 Hz
        if ac[lag] > 0.5 * ac[0]:
            voiced += 1
    assert voiced >= 5
    flatness = np.exp(np.mean(np.log(spec[1:] + 1e-20))) / np.mean(spec[1:])
    assert flatness < 0.05  # white noise is ~0.56


def test_fp16_vocoder_check_requires_the_snr():
    """The bundle's FP16 vocoder comparison uses vocoder.py's check, SNR included: an output
    within the 0.05 amplitude bound but only 20 dB above its error fails; one at 60 dB passes."""
    from edgetts.exporter import onnx_tools as T
    from edgetts.exporter.vocoder import FP16_CHECK

    rng = np.random.default_rng(0)
    ref = (0.1 * np.sin(np.linspace(0, 400, 24000))).astype(np.float32)
    rms = float(np.sqrt(np.mean(ref ** 2)))
    for snr, ok in ((20.0, False), (60.0, True)):
        noise = rng.standard_normal(ref.shape) * rms * 10 ** (-snr / 20)
        got = (ref + np.clip(noise, -0.04, 0.04)).astype(np.float32)
        problems, measured = T.check_output("audio", ref, got, FP16_CHECK)
        assert measured is not None and abs(measured - snr) < 1.0
        assert (problems == []) == ok, problems


def test_streaming_windows_grow_and_carry_over(bundle, real_mel):
    """Fed one frame at a time, the windows double from the steady size up to the largest
    (the overlap's share shrinks while each window stays ready before the last one has played),
    the output still equals one pass, and the last size is handed to the next clause."""
    out, facts = bundle
    voc = OnnxVocoder(os.path.join(out, "vocoder.fp32.onnx"))
    mel = np.concatenate([real_mel] * 4)[:700]
    stream = StreamingVocoder(voc, context=facts["fp32"]["context_frames"], chunk=24, first_chunk=8,
                              max_chunk=128)
    parts, kept = [], []
    for i in range(len(mel)):
        audio = stream.push(mel[i:i + 1])
        if audio.size:
            kept.append(len(audio) // 300)
            parts.append(audio)
    parts.append(stream.finish())
    assert kept[:6] == [8, 24, 48, 96, 128, 128]
    assert stream.next_wait == 128
    assert np.abs(np.concatenate(parts) - voc(mel)).max() < 1e-5


# -- the stateful streaming graph (postnet + vocoder) in PyTorch --------------------------------

def _stream_case(model, layout):
    from edgetts.models.stream_vocoder import StreamingVocoderGraph
    from edgetts.models.student import Student, StudentConfig

    torch.manual_seed(0)
    student = Student(StudentConfig(postnet_channels=32, postnet_layers=3)).eval()
    return student, StreamingVocoderGraph(student.postnet, model, layout).eval()


def _through(graph, mel, ends):
    states, out, a = graph.initial_states(), [], 0
    with torch.no_grad():
        for i, b in enumerate(ends):
            res = graph(mel[..., a:b], torch.tensor([int(i == len(ends) - 1)]), *states)
            out.append(res[0][0])
            states = res[1:]
            a = b
    return torch.cat(out).numpy()


@pytest.mark.parametrize("layout", ["1d", "2d"])
def test_stream_graph_equals_the_whole_pass_in_torch(any_shape, real_mel, layout):
    """The module itself, before any export: every split of a real mel into calls (first,
    one-frame, large, empty final) returns exactly frames · hop samples, equal to the whole
    postnet + vocoder pass to 1e-5 (float32 in another order; measured ~1e-6)."""
    from edgetts.exporter.student_graphs import VocoderGraph, stream_splits

    model = any_shape
    student, graph = _stream_case(model, layout)
    mel = torch.from_numpy(np.ascontiguousarray(real_mel.T[None]))
    with torch.no_grad():
        whole = VocoderGraph(student, model, "1d")(mel)[0].numpy()
    first, n = graph.first_call_min_frames(), mel.shape[-1]
    splits = stream_splits(n, first) + [[first] + list(range(first + 1, first + 6)) + [n]]
    assert len(splits) >= 5
    for ends in splits:
        got = _through(graph, mel, ends)
        assert got.shape == whole.shape, ends
        assert np.abs(got - whole).max() < 1e-5, ends


def test_first_call_min_frames_is_the_shortest_that_works(any_shape, real_mel):
    """One frame fewer in the first call breaks it (a state does not fill, or a reflection pad
    is longer than its signal): the bound the runtime relies on is tight."""
    from edgetts.exporter.student_graphs import VocoderGraph

    model = any_shape
    student, graph = _stream_case(model, "1d")
    mel = torch.from_numpy(np.ascontiguousarray(real_mel.T[None]))
    with torch.no_grad():
        whole = VocoderGraph(student, model, "1d")(mel)[0].numpy()
    first = graph.first_call_min_frames()
    assert np.abs(_through(graph, mel, [first, 257]) - whole).max() < 1e-5
    try:
        got = _through(graph, mel, [first - 1, 257])
        broken = got.shape != whole.shape or np.abs(got - whole).max() > 1e-3
    except RuntimeError:
        broken = True
    assert broken
