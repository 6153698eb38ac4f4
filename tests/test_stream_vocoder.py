"""The stateful streaming vocoder (``vocoder_stream.onnx``) through the runtime, torch-free (the
Jetson Nano job runs it on ONNX Runtime 1.11): streamed in any call sizes it equals the windowed
graph's whole-utterance pass, at the utterance edges too; chunks are whole frames; bundles
without it still speak.

Tolerance 3e-5, one step of the 16-bit PCM the audio is written as, throughout: both graphs
compute the same float32 convolutions over the same samples in another order (measured up to
1.05e-5 on a real mel pushed frame by frame); a missed state, a wrong edge pad or a seam would
be of the order of the signal (1e-2 and up).
"""

import json
import os
import shutil

import numpy as np
import pytest

from edgetts.config import EngineOptions, SynthesisOptions
from edgetts.errors import BundleError
from edgetts.engine.vocoder import OnnxVocoder, StatefulStream, StatefulVocoder
from edgetts.engine.voice import Voice

TOL = 1.0 / 32768  # one 16-bit PCM step


@pytest.fixture(scope="module", params=["tiny", "default"])
def voice(request, tiny_bundle, default_bundle):
    """fp32 on the CPU: a tiny random student's postnet and the real voice's."""
    return Voice.load(tiny_bundle if request.param == "tiny" else default_bundle, provider="cpu",
                      variant="fp32")


@pytest.fixture(scope="module")
def windowed(voice):
    """The same voice's windowed graph, the independent reference (another ONNX graph)."""
    info = voice.config.graphs["fp32"]["vocoder"]
    return OnnxVocoder(os.path.join(voice.bundle, info.file), min_frames=voice.config.min_frames)


def _stream(voice, mel, pieces, first_chunk=8, chunk=24, max_chunk=256):
    stream = voice.vocoder.stream(voice.config.context_frames, chunk, first_chunk, max_chunk)
    out, pos = [], 0
    for n in pieces:
        out.append(stream.push(mel[pos:pos + n]))
        pos += n
    assert pos == len(mel)
    out.append(stream.finish())
    return out, stream


def _rng_pieces(seed, total):
    rng = np.random.default_rng(seed)
    pieces = []
    while sum(pieces) < total:
        pieces.append(int(min(total - sum(pieces), rng.integers(0, 40))))
    return pieces


def test_voice_opens_the_streaming_graph_and_not_the_windowed_one(voice):
    assert isinstance(voice.vocoder, StatefulVocoder)
    assert "vocoder_stream" in voice.sessions and "vocoder" not in voice.sessions
    assert voice.config.stream_first_frames > 0


@pytest.mark.parametrize("pattern", ["ones", "threes", "one_push", "random1", "random2", "all_then_empty"])
def test_streamed_audio_equals_the_whole_utterance_pass(voice, windowed, real_mel, pattern):
    n = len(real_mel)
    pieces = {"ones": [1] * n, "threes": [3] * 30 + [1] * 10 + [n - 100], "one_push": [n],
              "random1": _rng_pieces(1, n), "random2": _rng_pieces(2, n),
              "all_then_empty": [n, 0, 0]}[pattern]
    parts, stream = _stream(voice, real_mel, pieces)
    got, whole = np.concatenate(parts), windowed(real_mel)
    assert got.shape == whole.shape == (n * 300,)
    assert np.abs(got - whole).max() < TOL
    # the utterance edges on their own: the left pad of the first call, the right of the last
    edge = 2 * voice.config.context_frames * 300
    assert np.abs(got[:edge] - whole[:edge]).max() < TOL
    assert np.abs(got[-edge:] - whole[-edge:]).max() < TOL
    assert stream.frames_emitted == n
    # every chunk before the last is whole frames, so captions and volume stay per frame
    assert all(len(p) % 300 == 0 for p in parts[:-1])


@pytest.mark.parametrize("frames", [1, 7, 10, 25, 40])
def test_short_utterances_equal_the_windowed_graph(voice, windowed, real_mel, frames):
    """Clauses shorter than a first call (or than the graph's reflection pads, which both
    graphs pad with silence) are vocoded in one call, pushed whole or frame by frame."""
    mel = real_mel[100:100 + frames]
    for pieces in ([frames], [1] * frames):
        got = np.concatenate(_stream(voice, mel, pieces)[0])
        assert got.shape == (frames * 300,)
        assert np.abs(got - windowed(mel)).max() < TOL


def test_first_call_waits_for_first_chunk_plus_context(voice, real_mel):
    ctx = voice.config.context_frames
    stream = voice.vocoder.stream(ctx, 24, 8, 256)
    assert stream.push(real_mel[:8 + ctx - 1]).size == 0
    first = stream.push(real_mel[8 + ctx - 1:8 + ctx])
    assert 8 * 300 <= first.size <= (8 + ctx) * 300 and first.size % 300 == 0
    assert stream.frames_emitted == first.size // 300
    assert stream.push(np.zeros((0, 80), np.float32)).size == 0


def test_the_graph_itself_takes_any_call_sizes(voice, windowed, real_mel):
    """StatefulVocoder.run directly: the shortest first call the manifest allows, calls of one
    frame, an empty final call; the samples add up to frames · hop."""
    voc = voice.vocoder
    first = voice.config.stream_first_frames
    ends = [first, first + 1, first + 2, 100, len(real_mel), len(real_mel)]
    state, out, a = voc.initial_state(), [], 0
    for i, b in enumerate(ends):
        audio, state = voc.run(real_mel[a:b], state, i == len(ends) - 1)
        out.append(audio)
        a = b
    got = np.concatenate(out)
    assert got.shape == (len(real_mel) * 300,)
    assert np.abs(got - windowed(real_mel)).max() < TOL


def test_misuse_is_an_error(voice, real_mel):
    stream = voice.vocoder.stream(voice.config.context_frames, 24, 8, 256)
    with pytest.raises(ValueError, match=r"frames must be \[n, mel_bins\]"):
        stream.push(real_mel[0])
    stream.finish()
    with pytest.raises(RuntimeError, match="push\\(\\) after finish\\(\\)"):
        stream.push(real_mel[:3])
    with pytest.raises(ValueError, match="chunk sizes"):
        StatefulStream(voice.vocoder, 32, chunk=0)


def test_synthesis_equals_the_windowed_path_of_a_bundle_without_the_stream_graph(voice, tmp_path):
    """A bundle from before the streaming graph (no vocoder_stream role) still loads and speaks
    through the windowed graph, and the audio is the same."""
    old = str(tmp_path / "old")
    shutil.copytree(voice.bundle, old)
    path = os.path.join(old, "voice.json")
    m = json.load(open(path, encoding="utf-8"))
    for roles in m["graphs"].values():
        roles.pop("vocoder_stream", None)
    m["vocoder"].pop("stream_first_frames", None)
    json.dump(m, open(path, "w", encoding="utf-8"))
    legacy = Voice.load(old, provider="cpu", variant="fp32")
    assert isinstance(legacy.vocoder, OnnxVocoder) and "vocoder" in legacy.sessions
    text = "你好，世界。今天天气很好，我们一起去公园散步吧！"
    for opts in (SynthesisOptions(), SynthesisOptions(first_chunk_frames=4, chunk_frames=5)):
        a = voice.synthesize_array(text, opts)
        b = legacy.synthesize_array(text, opts)
        assert a.shape == b.shape and np.abs(a - b).max() < TOL


def test_corrupt_stream_graph_is_named(voice, tmp_path):
    bad = str(tmp_path / "bad")
    shutil.copytree(voice.bundle, bad)
    f = voice.config.graphs["fp32"]["vocoder_stream"].file
    with open(os.path.join(bad, f), "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    with pytest.raises(BundleError, match=f.replace(".", r"\.")):
        Voice.load(bad, provider="cpu")


def test_finish_takes_the_last_frames_with_it(voice, windowed, real_mel):
    """finish(frames) equals push(frames) then finish(), in one call fewer."""
    stream = voice.vocoder.stream(voice.config.context_frames, 24, 8, 256)
    a = stream.push(real_mel[:100])
    b = stream.finish(real_mel[100:])
    got = np.concatenate([a, b])
    assert got.shape == (len(real_mel) * 300,) and np.abs(got - windowed(real_mel)).max() < TOL
    with pytest.raises(RuntimeError, match="finish\\(\\) twice"):
        stream.finish()


def _decoded(voice, text, group):
    import collections

    from edgetts.engine.events import ClauseEnd, Frames

    v = Voice(voice.bundle, voice.config, voice.sessions, voice.variant, voice.providers,
              EngineOptions(decode_group=group, parallel_clauses=4))
    assert v.decode_group == group
    frames, ends, order = collections.defaultdict(list), [], []
    for e in v.decode(v.prepare(text), SynthesisOptions()):
        order.append((type(e).__name__, e.clause))
        if isinstance(e, (Frames, ClauseEnd)):  # an end carries its clause's last frames
            frames[e.clause].append(e.frames)
        if isinstance(e, ClauseEnd):
            ends.append((e.clause, e.last))
    return {k: np.concatenate(v) for k, v in frames.items()}, ends, order


@pytest.mark.parametrize("group", [2, 3])
def test_clauses_decoded_together_equal_clauses_decoded_alone(voice, group):
    """The FP32 decoder reads a batch's weights once; each clause's frames are bit-identical to
    decoding it alone (no quantization couples the rows), and each clause's events keep their
    order: its start, its frames, its end (last only for the request's last clause)."""
    text = "你好，世界。今天天气很好，我们一起去公园散步吧，好不好？欢迎使用。"
    alone, ends_alone, _ = _decoded(voice, text, 1)
    together, ends, order = _decoded(voice, text, group)
    assert sorted(ends) == ends_alone and sum(last for _, last in ends) == 1
    assert sorted(together) == sorted(alone)
    for k in alone:
        assert np.array_equal(together[k], alone[k])
        mine = [kind for kind, c in order if c == k]
        assert mine[0] == "ClauseStart" and mine[-1] == "ClauseEnd" and set(mine[1:-1]) <= {"Frames"}
    # some clauses really were decoded together (their events interleave)
    assert any(a[1] != b[1] and a[0] == b[0] == "Frames" for a, b in zip(order, order[1:]))


def test_int8_and_gpu_variants_decode_one_clause_at_a_time(voice):
    """Dynamic INT8 quantizes a whole batch with one scale (batching would couple clauses); on a
    GPU a batch of two is a shape TensorRT would build an engine for mid-request. The FP32 CPU
    voice batches."""
    int8 = Voice.load(voice.bundle, provider="cpu", variant="int8")
    assert int8.decode_group == 1 and voice.decode_group > 1
    gpu = Voice(voice.bundle, voice.config, voice.sessions, "fp32", ["CUDAExecutionProvider"])
    assert gpu.decode_group == 1
