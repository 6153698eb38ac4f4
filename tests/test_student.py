"""The student acoustic model: size, and the three decoder paths computing one function."""

import pytest

torch = pytest.importorskip("torch")

from edgetts.models.student import (Student, StudentConfig, durations_from_log, group,  # noqa: E402
                                    previous_frames, regulate, synthesize)

TINY = StudentConfig(d_model=64, heads=2, enc_layers=1, enc_ffn=64, dec_layers=2, dec_ffn=64,
                     prenet=32, postnet_channels=32, postnet_layers=3, max_steps=64)


def test_default_size_fits_the_budget():
    assert Student().num_parameters() <= 10_000_000


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    m = Student(TINY).eval()
    ids = torch.randint(6, 218, (2, 9))
    lengths = torch.tensor([9, 6])
    memory, _ = m.encoder(ids, lengths)
    dur = torch.randint(1, 5, (2, 9))
    dur[1, 6:] = 0
    ctx, prog, frames = regulate(memory, dur, TINY.r)
    mel = torch.randn(2, ctx.shape[1], 80)
    return m, group(ctx, TINY.r), group(prog, TINY.r), previous_frames(group(mel, TINY.r))


def test_step_by_step_with_cache_equals_full_causal_pass(setup):
    """Incremental decoding must be the same function as the parallel pass it is trained with;
    1e-5 is float32 summation-order noise (measured ~1e-6)."""
    m, ctx, prog, prev = setup
    c = m.config
    with torch.no_grad():
        full = m.decoder(prev, ctx, prog)
        past = [torch.zeros(2, c.heads, 0, c.head_dim) for _ in range(2 * c.dec_layers)]
        for t in range(prev.shape[1]):
            y, past = m.decoder.step(prev[:, t], ctx[:, t], prog[:, t], torch.tensor([t, t]), past)
            assert torch.allclose(y, full[:, t], atol=1e-5)
            assert past[0].shape == (2, c.heads, t + 1, c.head_dim)


def test_static_cache_equals_dynamic_cache(setup):
    m, ctx, prog, prev = setup
    c = m.config
    with torch.no_grad():
        full = m.decoder(prev, ctx, prog)
        past = [torch.zeros(2, c.heads, c.max_steps, c.head_dim) for _ in range(2 * c.dec_layers)]
        for t in range(prev.shape[1]):
            y, past = m.decoder.step_static(prev[:, t], ctx[:, t], prog[:, t], torch.tensor([t, t]), past)
            assert torch.allclose(y, full[:, t], atol=1e-5)
            assert past[0].shape == (2, c.heads, c.max_steps, c.head_dim)
        assert torch.count_nonzero(past[0][:, :, prev.shape[1]:]) == 0


def test_regulator_repeats_symbols_and_marks_progress():
    memory = torch.arange(3, dtype=torch.float32).reshape(1, 3, 1).expand(1, 3, 4)
    dur = torch.tensor([[2, 0, 3]])
    ctx, prog, frames = regulate(memory, dur, r=3)
    assert frames.tolist() == [5] and ctx.shape == (1, 6, 4)
    assert ctx[0, :, 0].tolist() == [0, 0, 2, 2, 2, 0]  # last frame is padding
    assert (prog[0, :5] * 10).tolist() == [[0, 1], [1, 0], [0, 2], [1, 1], [2, 0]]


def test_speed_scales_durations():
    log_dur = torch.log1p(torch.tensor([[4.0, 10.0, 0.0]]))
    assert durations_from_log(log_dur).tolist() == [[4, 10, 0]]
    assert durations_from_log(log_dur, speed=2.0).tolist() == [[2, 5, 0]]


def test_synthesize_length_follows_durations():
    torch.manual_seed(1)
    m = Student(TINY).eval()
    mel, dur = synthesize(m, torch.randint(6, 218, (1, 7)))
    assert mel.shape == (int(dur.sum()), 80)


def test_vocoder_graph_in_the_2d_layout_computes_the_same_function(tflite_vocoder):
    """The CPU bundles' vocoder is written with 2-D convolutions (faster ONNX Runtime kernels);
    it must equal the 1-D module to float rounding (1e-5 on audio in [-1, 1])."""
    from edgetts.exporter.student_graphs import VocoderGraph

    torch.manual_seed(3)
    student = Student(StudentConfig(d_model=64, heads=2, enc_layers=1, enc_ffn=64, dec_layers=1,
                                    dec_ffn=64, prenet=32, postnet_channels=32, postnet_layers=3)).eval()
    mel = torch.randn(2, 80, 37) * 0.8
    with torch.no_grad():
        one = VocoderGraph(student, tflite_vocoder, "1d")(mel)
        two_graph = VocoderGraph(student, tflite_vocoder, "2d")
        two = two_graph(mel)
    assert one.shape == two.shape == (2, 37 * 300)
    assert (one - two).abs().max().item() < 1e-5
    assert not any(isinstance(m, torch.nn.Conv1d) for m in two_graph.modules())


def _tiny_distill_data(root, n=3):
    """A train split in the distillation format: ids, teacher durations, teacher mels."""
    import json
    import os

    import numpy as np

    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, "mels"))
    with open(os.path.join(root, "train.jsonl"), "w", encoding="utf-8") as f:
        for k in range(n):
            ids = rng.integers(6, 218, 5)
            dur = rng.integers(1, 4, 5)
            mel = rng.standard_normal((int(dur.sum()), 80)).astype(np.float16)
            np.savez(os.path.join(root, "mels", "u%d.npz" % k), mel=mel, durations=dur)
            f.write(json.dumps({"key": "u%d" % k, "ids": ids.tolist()}) + "\n")


def test_training_runs_resumes_and_leaves_the_named_configs_alone(tmp_path):
    """Two steps on the CPU, then a resume to four: batches go to --device, the run's
    overrides apply to a copy (CONFIGS stays as written), the checkpoint carries the step."""
    torch = pytest.importorskip("torch")
    from edgetts.distill import train

    data, run = str(tmp_path / "data"), str(tmp_path / "run")
    _tiny_distill_data(data)
    before = dict(train.CONFIGS["cpu"].__dict__)
    args = ["--data", data, "--run", run, "--device", "cpu", "--decay-steps", "7", "--ss-start", "0"]
    assert train.main(args + ["--steps", "2"]) == 0
    assert train.CONFIGS["cpu"].__dict__ == before
    ck = torch.load(run + "/last.pt", map_location="cpu", weights_only=False)
    assert ck["step"] == 2 and ck["train"]["decay_steps"] == 7 and ck["train"]["ss_start"] == 0
    assert train.main(args + ["--steps", "4"]) == 0
    assert torch.load(run + "/last.pt", map_location="cpu", weights_only=False)["step"] == 4


def test_resume_maps_the_optimizer_state_by_parameter_name():
    """A run saved by code that made its modules in another order: Adam's moments follow each
    parameter by name, not by position."""
    torch = pytest.importorskip("torch")
    from edgetts.distill.train import optimizer_state_in_order

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    names = [n for n, _ in model.named_parameters()]
    state = opt.state_dict()
    # the same state as saved by a model that made its second layer first
    older = names[2:] + names[:2]
    saved = dict(state, state={older.index(names[i]): v for i, v in state["state"].items()})
    mapped = optimizer_state_in_order(saved, older, model)
    for i, p in enumerate(model.parameters()):
        assert mapped["state"][i]["exp_avg"].shape == p.shape
        assert torch.equal(mapped["state"][i]["exp_avg"], state["state"][i]["exp_avg"])
    assert optimizer_state_in_order(state, names, model) is state
    with pytest.raises(SystemExit, match="does not fit"):
        optimizer_state_in_order(state, names[:2] + ["other.weight", "other.bias"], model)


def test_training_adds_prosody_to_a_voice_without_it_and_starts_from_the_same_voice(tmp_path):
    """--init from a checkpoint without prosody: the embeddings start at zero, so the first
    model speaks exactly as the old one; two steps train on teacher data with f0 and energy."""
    torch = pytest.importorskip("torch")
    import json
    import os

    import numpy as np
    from edgetts.distill import train
    from edgetts.distill.train import export_fp16
    from edgetts.models.student import Student, StudentConfig, load_student, synthesize

    small = dict(d_model=32, heads=2, enc_layers=1, enc_ffn=32, dec_layers=1, dec_ffn=32, prenet=16,
                 postnet_channels=16, postnet_layers=2, max_steps=64)
    torch.manual_seed(0)
    old = Student(StudentConfig(**small)).eval()
    export_fp16(old, str(tmp_path / "old.pt"), {"step": 0})
    data = tmp_path / "data"
    os.makedirs(data / "mels")
    rng = np.random.default_rng(0)
    with open(data / "train.jsonl", "w") as f:
        for k in range(3):
            ids, dur = rng.integers(6, 218, 6), rng.integers(1, 4, 6)
            np.savez(data / "mels" / ("%d.npz" % k), mel=rng.standard_normal((int(dur.sum()), 80)).astype(np.float16),
                     durations=dur, f0=rng.standard_normal(6).astype(np.float32),
                     energy=rng.standard_normal(6).astype(np.float32), ratios=np.array([1.2, 1.0], np.float32))
            f.write(json.dumps({"key": str(k), "ids": ids.tolist()}) + "\n")
    base = ["--data", str(data), "--prosody", "--init", str(tmp_path / "old.pt"), "--device", "cpu"]
    # --steps 0: initialised and exported without training
    assert train.main(base + ["--run", str(tmp_path / "r0"), "--steps", "0", "--export", str(tmp_path / "new.pt")]) == 0
    new, before = load_student(str(tmp_path / "new.pt")), load_student(str(tmp_path / "old.pt"))
    assert new.prosody is not None and before.prosody is None
    ids = torch.from_numpy(rng.integers(6, 218, (1, 9)))
    a, _ = synthesize(before, ids)
    b, _ = synthesize(new, ids)
    assert torch.equal(a, b)
    assert train.main(base + ["--run", str(tmp_path / "r1"), "--steps", "2"]) == 0
    ck = torch.load(str(tmp_path / "r1" / "last.pt"), weights_only=False)
    assert ck["step"] == 2 and ck["config"]["prosody"]
    assert float(ck["model"]["prosody.pitch_embed.weight"].abs().sum()) > 0  # it learned
