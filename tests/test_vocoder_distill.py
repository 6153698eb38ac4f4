"""Distilling a smaller MB-MelGAN (distill/vocoder.py): pruning, the loss, checkpoints, and a
bundle that carries the distilled vocoder."""

import json
import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgetts.distill import vocoder as V  # noqa: E402
from edgetts.models.melgan import min_frames, receptive_field_frames  # noqa: E402


@pytest.fixture(scope="module")
def mels(real_mel):
    return [real_mel]


def _batch(real_mel, n=4, frames=48, seed=0):
    return V.segment_batch([real_mel], n, frames, random.Random(seed))


def test_pruning_to_the_teachers_own_shape_is_the_teacher(tflite_vocoder, mels, real_mel):
    """Every index kept, in order: the pruned copy computes exactly what the teacher does. This
    pins the bookkeeping of which input channels each kept output reads."""
    same = V.prune(tflite_vocoder, 384, (1, 3, 9, 27), mels).eval()
    x = torch.from_numpy(np.ascontiguousarray(real_mel.T[None]))
    with torch.no_grad():
        assert torch.equal(same(x), tflite_vocoder(x))


def test_pruned_weights_are_the_teachers(tflite_vocoder, mels):
    """A narrower student holds sub-tensors of the teacher's weights: every kept conv_in filter is
    one of the teacher's, and its blocks are the teacher's blocks of the dilations asked for."""
    small = V.prune(tflite_vocoder, 128, (1, 9), mels)
    g, t = small.generator, tflite_vocoder.generator
    assert g.channels == 128 and g.dilations == (1, 9)
    assert [b.dilation for b in g.blocks[0]] == [1, 9]
    assert g.conv_in.weight.shape == (128, 80, 7)
    teacher_rows = {tuple(r.flatten().tolist()) for r in t.conv_in.weight}
    assert all(tuple(r.flatten().tolist()) in teacher_rows for r in g.conv_in.weight)
    assert torch.equal(small.pqmf.synthesis, tflite_vocoder.pqmf.synthesis)
    with pytest.raises(ValueError, match="subset"):
        V.prune(tflite_vocoder, 128, (1, 2), mels)


def test_loss_is_zero_for_the_teacher_and_training_lowers_it(tflite_vocoder, mels, real_mel):
    batch = _batch(real_mel)
    same = V.prune(tflite_vocoder, 384, (1, 3, 9, 27), mels)
    with torch.no_grad():
        zero = V.losses(same, tflite_vocoder, batch, 10.0)
    assert float(zero["total"]) == pytest.approx(0.0, abs=1e-5)

    torch.manual_seed(0)
    small = V.prune(tflite_vocoder, 64, (1, 9), mels)
    opt = torch.optim.Adam(small.generator.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        loss = V.losses(small, tflite_vocoder, batch, 10.0)["total"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = float(V.losses(small, tflite_vocoder, batch, 10.0)["total"])
    assert np.isfinite(first) and last < 0.8 * first


def test_loss_leaves_the_segment_edges_out(tflite_vocoder, mels, real_mel):
    """A student that differs from the teacher only in the EDGE frames at each end of a segment
    has no loss: the edges are where a segment's padding differs from the utterance's."""
    batch = _batch(real_mel, n=2)

    class EdgesOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pqmf = tflite_vocoder.pqmf

        def generator(self, mel):
            sub = tflite_vocoder.generator(mel).clone()
            per = 75
            sub[..., :V.EDGE * per - 40] += 0.3
            sub[..., -(V.EDGE * per - 40):] -= 0.3
            return sub

    with torch.no_grad():
        out = V.losses(EdgesOnly(), tflite_vocoder, batch, 10.0)
    assert float(out["sub_l1"]) == 0.0
    # the change stops 160 samples before the cut, and the PQMF filter reaches 31 samples
    assert float(out["full_stft"]) < 1e-5


def test_checkpoint_round_trip_is_fp16(tflite_vocoder, mels, real_mel, tmp_path):
    small = V.prune(tflite_vocoder, 64, (1, 9), mels).eval()
    path = str(tmp_path / "voc.pt")
    V.save_student(small, path, {"step": 7})
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 7 and raw["channels"] == 64 and raw["dilations"] == [1, 9]
    assert all(v.dtype == torch.float16 for v in raw["generator"].values())
    back = V.load_student(path)
    x = torch.from_numpy(np.ascontiguousarray(real_mel.T[None]))
    with torch.no_grad():
        a, b = small(x), back(x)
    # FP16 weights: relative error ~1e-3 per weight, amplified a little through 9 layers
    assert float((a - b).abs().max()) < 0.02 * float(a.abs().max())
    assert "64 channels and dilations 1,9" in V.describe(back, path)


def test_bundle_records_and_sizes_for_the_vocoder_it_carries(tflite_vocoder, mels, tmp_path):
    """A bundle exported with a distilled vocoder says which vocoder it carries, and its stream
    context and shortest input are that vocoder's (a smaller receptive field than the teacher's),
    while the builder's own checks (ONNX against PyTorch, stateful stream against the whole
    pass) pass on it."""
    from build_bundles import build_tiny

    small = V.prune(tflite_vocoder, 64, (1, 9), mels).eval()
    out = build_tiny(str(tmp_path / "voice"), vocoder=small, variants=("fp32",))
    with open(os.path.join(out, "voice.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert m["provenance"]["vocoder_shape"] == {"channels": 64, "dilations": [1, 9]}
    assert m["vocoder"]["min_frames"] == min_frames((1, 9)) < min_frames()
    assert m["vocoder"]["context_frames"] < receptive_field_frames()
    from edgetts.engine.voice import Voice

    audio = Voice.load(out, provider="cpu", variant="fp32").synthesize_array("你好")
    assert audio.size > 0 and np.isfinite(audio).all()


@pytest.fixture(scope="module")
def two_tiny_voices(tflite_vocoder, mels, tmp_path_factory):
    """The same tiny student exported twice: with the teacher vocoder and with a pruned one."""
    from build_bundles import build_tiny

    root = tmp_path_factory.mktemp("ab")
    small = V.prune(tflite_vocoder, 64, (1, 9), mels).eval()
    base = build_tiny(str(root / "base"), variants=("fp32",))
    cand = build_tiny(str(root / "cand"), vocoder=small, variants=("fp32",))
    return base, cand, root


def test_vocoder_ab_compares_the_same_mels(two_tiny_voices, tmp_path):
    """benchmarks/vocoder_ab.py: both voices decode to the same frames (same acoustic graphs),
    so their audio has the same length and only the vocoder separates them."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import vocoder_ab

    base, cand, _ = two_tiny_voices
    sentences = tmp_path / "s.txt"
    sentences.write_text("你好。\n今天天气很好。\n", encoding="utf-8")
    out = tmp_path / "ab.json"
    assert vocoder_ab.main(["--base", base, "--candidate", cand, "--sentences", str(sentences),
                            "--no-judge", "--out", str(tmp_path / "wav"), "--json", str(out)]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["gates"] == {}  # nothing judged, nothing passed
    assert res["log_mel_db"] > 1.0  # a pruned, untrained vocoder is audibly another
    assert sorted(os.listdir(tmp_path / "wav" / "candidate")) == ["00.wav", "01.wav"]


def test_vocoder_ab_refuses_voices_whose_acoustic_graphs_differ(two_tiny_voices, tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import vocoder_ab
    from build_bundles import build_tiny

    base, _, root = two_tiny_voices
    other = build_tiny(str(root / "old"), prosody=False, variants=("fp32",))
    with pytest.raises(SystemExit, match="acoustic graphs"):
        vocoder_ab.main(["--base", base, "--candidate", other, "--no-judge",
                         "--out", str(tmp_path / "wav")])


def test_hints_are_zero_for_the_teacher_and_train_the_maps(tflite_vocoder, mels, real_mel):
    """The hint term compares activations after conv_in and each stage through 1x1 maps: for the
    teacher itself with identity maps it is zero; for a narrow student it is positive and falls
    as the maps and the student train."""
    batch = _batch(real_mel, n=2)
    same = V.prune(tflite_vocoder, 384, (1, 3, 9, 27), mels)
    hints = V.Hints(same, tflite_vocoder)
    with torch.no_grad():
        for conv in hints.maps:
            conv.weight.copy_(torch.eye(conv.out_channels)[..., None])
            conv.bias.zero_()
        assert float(V.losses(same, tflite_vocoder, batch, 10.0, hints)["hint"]) < 1e-10

    torch.manual_seed(0)
    small = V.prune(tflite_vocoder, 64, (1, 9), mels)
    hints = V.Hints(small, tflite_vocoder)
    assert [c.out_channels for c in hints.maps] == [384, 192, 96, 48]
    assert [c.in_channels for c in hints.maps] == [64, 32, 16, 8]
    opt = torch.optim.Adam(list(small.generator.parameters()) + list(hints.parameters()), lr=3e-3)
    values = []
    for _ in range(20):
        h = V.losses(small, tflite_vocoder, batch, 10.0, hints)["hint"]
        values.append(float(h.detach()))
        opt.zero_grad()
        h.backward()
        opt.step()
    assert values[-1] < 0.5 * values[0]


def test_adversarial_stage_trains_the_discriminator_on_teacher_against_student(tflite_vocoder, mels, real_mel):
    """--gan: the discriminator scores every scale; a few of its steps on the teacher's audio
    (real) against a pruned student's (fake) lower its loss, and the student's adversarial and
    feature-matching terms are finite and carry gradients to the student only through its audio."""
    torch.manual_seed(0)
    small = V.prune(tflite_vocoder, 64, (1, 9), mels)
    audio = []
    V.losses(small, tflite_vocoder, _batch(real_mel, n=2), 10.0, audio=audio)
    fake, real = audio
    assert fake.shape == real.shape and fake.requires_grad and not real.requires_grad
    disc = V.Discriminator()
    scores = disc(real)
    assert len(scores) == 2 and all(s[-1].shape[1] == 1 for s in scores)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.9))
    first = last = None
    for _ in range(8):
        loss = V.discriminator_loss(disc, fake, real)
        first = float(loss.detach()) if first is None else first
        last = float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert last < first
    adv, fm = V.generator_adversarial(disc, fake, real)
    (adv + fm).backward()
    assert np.isfinite(float(adv)) and float(fm) > 0
    assert small.generator.conv_out.weight.grad is not None
