"""Train the student on the teacher's mels and durations.

    python -m edgetts.distill.train --data data/distill --run runs/student [--config cpu]

Resumable: the run folder holds ``last.pt`` (model, optimizer, step, config), written every
``--save-every`` steps and on Ctrl-C; starting again with the same ``--run`` continues from it.
``--init`` starts from a committed FP16 checkpoint instead (fresh optimizer, short warm-up).

``--prosody`` trains the pitch and energy predictors and embeddings (``models.student.Prosody``)
on the teacher's per-symbol values, which ``distill/teacher_tf.py`` stores with varied ratios:
the embeddings are fed the values the teacher's decoder received, the predictors learn the values
at the teacher's own settings (the stored value divided by its ratio). Pitch is trained in
semitones above 100 Hz: ``--pitch-hz MEAN,STD`` (from ``distill/prosody.py calibrate``) turns the
teacher's normalized f0 into hertz. ``--init`` from a voice
without prosody adds them (embeddings at zero: the same voice at the first step).

Exposure bias (the decoder feeds on its own frames at run time, on the teacher's in training) is
fought two ways: Gaussian noise on the fed-back frames, and scheduled sampling, where a first
pass without gradients predicts every step and a growing share of steps is then fed those
predictions instead of the teacher's frames.
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
import dataclasses
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from edgetts.models.student import (Student, StudentConfig, group, load_student, previous_frames,
                                    regulate)


@dataclass
class TrainConfig:
    batch_frames: int = 6000      # frames per batch (about 32 utterances of 2.3 s)
    lr: float = 1e-3
    warmup: int = 500
    min_lr: float = 2e-4
    decay_steps: int = 20000
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    input_noise: float = 0.2      # std of noise on fed-back frames (mel std is 0.85)
    ss_start: int = 1500          # scheduled sampling starts here ...
    ss_ramp: int = 4000           # ... and reaches ss_max after this many more steps
    ss_max: float = 0.4
    dur_weight: float = 1.0
    prosody_weight: float = 0.1   # MSE of the pitch and energy predictors (normalized values)
    # the teacher's f0 scale in Hz, f0 = mean + std · z: the fit `distill/prosody.py calibrate`
    # made, recorded with its figures in models/student/prosody.json (pitch_hz)
    pitch_hz: tuple = (253.8, 61.6)
    threads: int = 2


CONFIGS = {
    "cpu": TrainConfig(),
    "gpu": TrainConfig(batch_frames=24000, lr=1.5e-3, warmup=1000, decay_steps=40000, threads=8),
}


def load_split(data: str, split: str, limit: int = 0):
    items = []
    with open(os.path.join(data, split + ".jsonl"), encoding="utf-8") as f:
        for line in f:
            it = json.loads(line)
            path = os.path.join(data, "mels", it["key"] + ".npz")
            if not os.path.exists(path):
                continue
            with np.load(path) as d:
                mel, dur = d["mel"], d["durations"].astype(np.int64)
                # data written before prosody: the teacher's own settings, values unknown (NaN)
                nan = np.full(len(dur), np.nan, np.float32)
                f0 = d["f0"] if "f0" in d else nan
                energy = d["energy"] if "energy" in d else nan
                ratios = d["ratios"] if "ratios" in d else np.ones(2, np.float32)
            if len(dur) != len(it["ids"]) or dur.sum() != len(mel) or len(mel) < 4:
                continue
            items.append((np.asarray(it["ids"], np.int64), dur, mel,
                          np.stack([f0, energy]).astype(np.float32), ratios.astype(np.float32)))
            if limit and len(items) >= limit:
                break
    return items


def batches(items, batch_frames: int, rng: random.Random):
    """Length-sorted buckets of about `batch_frames` frames, in random order."""
    order = sorted(range(len(items)), key=lambda i: len(items[i][2]))
    out, cur, longest = [], [], 0
    for i in order:
        n = len(items[i][2])
        if cur and max(longest, n) * (len(cur) + 1) > batch_frames:
            out.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(items, idx, r: int):
    b = len(idx)
    s = max(len(items[i][0]) for i in idx)
    t = max(len(items[i][2]) for i in idx)
    t = ((t + r - 1) // r) * r
    ids = torch.zeros(b, s, dtype=torch.long)
    dur = torch.zeros(b, s, dtype=torch.long)
    mel = torch.zeros(b, t, 80)
    lengths = torch.zeros(b, dtype=torch.long)
    frames = torch.zeros(b, dtype=torch.long)
    prosody = torch.zeros(b, 2, s)      # the values the teacher's decoder received
    ratios = torch.ones(b, 2)
    for k, i in enumerate(idx):
        x, d, m, p, q = items[i]
        ids[k, : len(x)] = torch.from_numpy(x)
        dur[k, : len(d)] = torch.from_numpy(d)
        mel[k, : len(m)] = torch.from_numpy(m.astype(np.float32))
        prosody[k, :, : len(x)] = torch.from_numpy(p)
        ratios[k] = torch.from_numpy(q)
        lengths[k] = len(x)
        frames[k] = len(m)
    return ids, lengths, dur, mel, frames, prosody, ratios


def tc_semitones(z: torch.Tensor, tc: TrainConfig) -> torch.Tensor:
    """The teacher's normalized f0 → semitones above 100 Hz (``TrainConfig.pitch_hz``)."""
    mean, std = tc.pitch_hz
    return 12.0 * torch.log2(torch.clamp(mean + std * z, min=50.0) / 100.0)


def lr_at(step: int, c: TrainConfig) -> float:
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    p = min(1.0, (step - c.warmup) / max(1, c.decay_steps - c.warmup))
    return c.min_lr + 0.5 * (c.lr - c.min_lr) * (1 + math.cos(math.pi * p))


def losses(model: Student, batch, tc: TrainConfig, step: int, gen: torch.Generator):
    ids, lengths, dur, mel, frames, prosody, ratios = batch
    c = model.config
    memory, log_dur = model.encoder(ids, lengths)
    valid_sym = (torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)).float()
    dur_loss = (((log_dur - torch.log1p(dur.float())) ** 2) * valid_sym).sum() / valid_sym.sum()
    prosody_loss = torch.zeros((), device=ids.device)
    if model.prosody is not None:
        if torch.isnan(prosody).any():
            raise ValueError("training with prosody needs teacher data with f0 and energy "
                             "(distill/teacher_tf.py writes them)")
        pitch, energy = model.prosody.predict(memory, lengths)
        pr = model.prosody
        for k, pred in enumerate((pitch, energy)):
            # the predictor learns the teacher's value at ratio 1 (stored = neutral · ratio);
            # a ratio near 0 (flat intonation) says nothing about it
            ratio = ratios[:, k:k + 1]
            usable = valid_sym * (ratio > 0.2).float()
            target = prosody[:, k] / ratio.clamp(min=0.2)
            if k == 0:  # compared on the model's inner scale, as energy is
                pred, target = (pred - pr.center) / pr.scale, (tc_semitones(target, tc) - pr.center) / pr.scale
            prosody_loss = prosody_loss + (((pred - target) ** 2) * usable).sum() / usable.sum().clamp(min=1)
        memory = pr.condition(memory, tc_semitones(prosody[:, 0], tc), prosody[:, 1])
    ctx, prog, _ = regulate(memory, dur, c.r)  # teacher durations in training
    t = mel.shape[1]
    ctx, prog = ctx[:, :t], prog[:, :t]
    target = group(mel, c.r)
    ctx, prog = group(ctx, c.r), group(prog, c.r)
    prev = previous_frames(target)
    share = 0.0
    if step >= tc.ss_start:
        share = tc.ss_max * min(1.0, (step - tc.ss_start) / max(1, tc.ss_ramp))
        with torch.no_grad():
            pred = model.decoder(prev, ctx, prog)
        # the generator lives on the CPU (reproducible on every device); its draws move over
        use = (torch.rand(prev.shape[:2], generator=gen) < share).float().to(prev.device)[..., None, None]
        prev = use * previous_frames(pred) + (1 - use) * prev
    if tc.input_noise:
        prev = prev + torch.randn(prev.shape, generator=gen).to(prev.device) * tc.input_noise
    out = model.decoder(prev, ctx, prog).reshape(mel.shape)
    post = model.postnet(out.transpose(1, 2)).transpose(1, 2)
    mask = (torch.arange(t, device=mel.device).unsqueeze(0) < frames.unsqueeze(1)).float().unsqueeze(-1)
    denom = mask.sum() * mel.shape[-1]
    mel_loss = (torch.abs(out - mel) * mask).sum() / denom
    post_loss = (torch.abs(post - mel) * mask).sum() / denom
    total = mel_loss + post_loss + tc.dur_weight * dur_loss + tc.prosody_weight * prosody_loss
    return total, {"mel": mel_loss.item(), "post": post_loss.item(), "dur": dur_loss.item(),
                   "prosody": prosody_loss.item(), "ss": share}


def save(path: str, model, opt, step: int, tc: TrainConfig, extra=None) -> None:
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optim": opt.state_dict() if opt else None,
                "step": step, "config": model.config.to_dict(), "train": tc.__dict__,
                **(extra or {})}, tmp)
    os.replace(tmp, path)


def export_fp16(model: Student, path: str, meta: dict) -> None:
    """The committed checkpoint: FP16 weights, the model config, and what made it."""
    # on the CPU: --keep-every writes these from a model that may be training on a GPU
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "config": model.config.to_dict(), **meta}, path)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/distill")
    ap.add_argument("--run", default="runs/student")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=0, help="stop (and save) after this long")
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--init", default=None, help="start from this FP16 checkpoint")
    ap.add_argument("--export", default=None, help="write the FP16 checkpoint here when done")
    ap.add_argument("--limit", type=int, default=0, help="use only this many utterances")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    ap.add_argument("--decay-steps", type=int, default=0, help="override the LR schedule length")
    ap.add_argument("--ss-start", type=int, default=-1, help="override when scheduled sampling starts")
    ap.add_argument("--ss-ramp", type=int, default=0, help="override its ramp length")
    ap.add_argument("--prosody", action="store_true",
                    help="pitch and energy predictors and embeddings (a new run, or --init)")
    ap.add_argument("--lr", type=float, default=0, help="override the peak learning rate")
    ap.add_argument("--min-lr", type=float, default=0, help="override the learning rate the decay ends at")
    ap.add_argument("--keep-every", type=int, default=0,
                    help="also keep an FP16 checkpoint every this many steps (stepNNNNNN.fp16.pt "
                         "in the run folder), to choose among by held-out CER (distill/select.py)")
    ap.add_argument("--pitch-hz", default="", help="MEAN,STD of the teacher's f0 in Hz")
    return ap.parse_args(argv)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The named configuration with the command line's overrides, as a copy (CONFIGS stays as
    written, so one run's overrides never leak into another in the same process)."""
    tc = dataclasses.replace(CONFIGS[args.config])
    if args.decay_steps:
        tc.decay_steps = args.decay_steps
    if args.ss_start >= 0:
        tc.ss_start = args.ss_start
    if args.ss_ramp:
        tc.ss_ramp = args.ss_ramp
    if args.lr:
        tc.lr = args.lr
    if args.min_lr:
        tc.min_lr = args.min_lr
    if args.pitch_hz:
        tc.pitch_hz = tuple(float(x) for x in args.pitch_hz.split(","))
    return tc


def optimizer_state_in_order(optim_state: dict, saved_order, model) -> dict:
    """The optimizer's per-parameter state keyed for this model's parameter order.

    torch keys that state by position in ``model.parameters()``, the order in which the modules
    were made. A checkpoint's ``model`` dict lists its parameters in the order of the code that
    saved it; when the code has since made its modules in another order (the prosody module moved
    after the decoder), the positions are remapped by name, or Adam's moments would land on
    parameters of another shape (or, worse, of the same shape)."""
    names = [n for n, _ in model.named_parameters()]
    where = {n: i for i, n in enumerate(names)}
    saved = [n for n in saved_order if n in where]
    if saved == names:
        return optim_state
    if sorted(saved) != sorted(names) or len(optim_state["param_groups"]) != 1:
        raise SystemExit("the run's optimizer state does not fit this model; start it again with --init")
    state = {where[saved[int(i)]]: v for i, v in optim_state["state"].items()}
    return dict(optim_state, state=state)


def restore(args: argparse.Namespace, tc: TrainConfig, last: str):
    """Model and optimizer on the device, resumed from `last` or initialised from --init;
    returns (model, optimizer, step, seconds trained so far)."""
    model = Student(StudentConfig(prosody=args.prosody))
    step, spent, optim_state = 0, 0.0, None
    if os.path.exists(last):
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model = Student(StudentConfig(**ck["config"]))
        model.load_state_dict(ck["model"])
        if ck["optim"] is not None:
            optim_state = optimizer_state_in_order(ck["optim"], list(ck["model"]), model)
        step, spent = ck["step"], ck.get("train_seconds", 0.0)
        print("resumed from %s at step %d" % (last, step), flush=True)
    elif args.init:
        init = load_student(args.init)
        model = Student(dataclasses.replace(init.config, prosody=args.prosody or init.config.prosody))
        missing, unexpected = model.load_state_dict(init.state_dict(), strict=False)
        if unexpected or any(not k.startswith("prosody.") for k in missing):
            raise SystemExit("--init %s does not fit this model: missing %s, unexpected %s"
                             % (args.init, missing, unexpected))
        if missing:
            print("added prosody to %s (embeddings at zero)" % args.init, flush=True)
        meta = torch.load(args.init, map_location="cpu", weights_only=False)
        step, spent = meta.get("step", 0), meta.get("train_seconds", 0.0)
        tc.warmup = step + 200  # a fresh optimizer needs a short warm-up again
        print("initialised from %s (step %d)" % (args.init, step), flush=True)
    model.to(args.device).train()  # before the optimizer, so that its state follows the weights
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=(0.9, 0.98),
                            weight_decay=tc.weight_decay)
    if optim_state is not None:
        opt.load_state_dict(optim_state)  # moves the moments to the parameters' device
    return model, opt, step, spent


def main(argv=None) -> int:
    args = parse_args(argv)
    tc = train_config(args)
    torch.set_num_threads(tc.threads)
    os.makedirs(args.run, exist_ok=True)
    last = os.path.join(args.run, "last.pt")
    t0 = time.time()
    items = load_split(args.data, "train", args.limit)
    print("loaded %d utterances (%.1f h) in %.0f s" % (
        len(items), sum(len(it[2]) for it in items) * 300 / 24000 / 3600, time.time() - t0), flush=True)
    model, opt, step, spent = restore(args, tc, last)
    print("student: %d parameters, config %s" % (model.num_parameters(), args.config), flush=True)
    step, elapsed = train_loop(args, tc, model, opt, items, step, spent, last)
    save(last, model, opt, step, tc, {"train_seconds": elapsed})
    print("saved %s at step %d (%.1f min of training)" % (last, step, elapsed / 60), flush=True)
    if args.export:
        export_fp16(model.cpu().eval(), args.export,
                    {"step": step, "train_seconds": elapsed, "train_config": args.config})
        print("wrote %s" % args.export, flush=True)
    return 0


def train_loop(args, tc: TrainConfig, model: Student, opt, items, step: int, spent: float, last: str):
    """Train until --steps, --minutes or SIGTERM/SIGINT, saving every --save-every steps;
    returns (step, seconds trained in all)."""
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *a: stop.update(now=True))
    rng = random.Random(step)
    gen = torch.Generator().manual_seed(step)
    session_start = time.time()
    avg: Dict[str, float] = {}
    while step < args.steps and not stop["now"]:
        for idx in batches(items, tc.batch_frames, rng):
            batch = tuple(x.to(args.device) for x in collate(items, idx, model.config.r))
            for g in opt.param_groups:
                g["lr"] = lr_at(step, tc)
            loss, parts = losses(model, batch, tc, step, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            step += 1
            for k, v in parts.items():
                avg[k] = 0.98 * avg.get(k, v) + 0.02 * v
            elapsed = spent + time.time() - session_start
            if step % 50 == 0:
                print("step %6d  %5.1f min  lr %.2e  mel %.4f  post %.4f  dur %.4f  prosody %.4f  "
                      "ss %.2f" % (step, elapsed / 60, lr_at(step, tc), avg["mel"], avg["post"],
                                   avg["dur"], avg["prosody"], avg["ss"]), flush=True)
            over = args.minutes and time.time() - session_start > args.minutes * 60
            if step % args.save_every == 0 or stop["now"] or over or step >= args.steps:
                save(last, model, opt, step, tc, {"train_seconds": elapsed})
            if args.keep_every and step % args.keep_every == 0:
                export_fp16(model, os.path.join(args.run, "step%06d.fp16.pt" % step),
                            {"step": step, "train_seconds": elapsed, "train_config": args.config})
            if stop["now"] or over or step >= args.steps:
                stop["now"] = True
                break
    return step, spent + time.time() - session_start


if __name__ == "__main__":
    sys.exit(main())
