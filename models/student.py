"""The student acoustic model: duration-informed autoregression with a KV-cached causal decoder.

    ids [B,S] ─TextEncoder─► memory [B,S,D], log_durations [B,S]
    durations ─length regulator─► per frame: memory of its symbol + (frames since / until the
                                  symbol's edge) / 10                 ("progress", [B,T,2])
    frames grouped in steps of r:
    step t: previous r frames [B,r,80] + text context of its r frames [B,r,D] + progress [B,r,2]
            ─Decoder (causal self-attention over steps 0..t, KV cache)─► next r frames [B,r,80]
    all frames ─Postnet (5 convs, residual)─► refined mel, the vocoder's input

A voice trained with ``prosody`` (FastPitch-style, Łańcucki 2021) also predicts a pitch and an
energy value per symbol from ``memory`` and adds their embeddings to it before the length
regulator; the runtime may edit the predicted values in between (shift, range, spans):

    memory ─Prosody.predict─► pitch [B,S], energy [B,S]   (the teacher's normalized values)
    memory, pitch, energy ─Prosody.condition─► memory + embed(pitch) + embed(energy)

Length comes from the durations, so there is no learned text alignment: no skips, no loops, an
exact stop, and ``speed`` is a scale on the durations. The decoder has three entry points that
compute the same function: ``forward`` (all steps at once, causal mask; training), ``step``
(one step with a growing cache; the CPU graph) and ``step_static`` (one step with fixed-size cache
buffers written at ``position``; the CUDA/TensorRT graph). Tests check all three agree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

NEG = -1e4  # additive mask value: large enough to zero a softmax, small enough for FP16


@dataclass(frozen=True)
class StudentConfig:
    n_symbols: int = 219
    n_mels: int = 80
    d_model: int = 256
    heads: int = 4
    enc_layers: int = 3
    enc_ffn: int = 512
    enc_kernel: int = 3
    dec_layers: int = 4
    dec_ffn: int = 1024
    prenet: int = 256
    r: int = 3
    postnet_channels: int = 256
    postnet_layers: int = 5
    postnet_kernel: int = 5
    dropout: float = 0.1
    prenet_dropout: float = 0.5
    max_steps: int = 1024  # static cache length T_max, in decoder steps (r frames each)
    prosody: bool = False  # pitch and energy predictors and embeddings (class Prosody)
    # pitch is in semitones above 100 Hz; the model works on (pitch - center) / scale inside
    pitch_center: float = 16.1
    pitch_scale: float = 3.75

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal encoding of float positions ``[...]`` → ``[..., dim]``."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float32, device=positions.device)
                     * (-math.log(10000.0) / half))
    angle = positions.to(torch.float32).unsqueeze(-1) * freq
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def split(self, x: torch.Tensor, one_step: bool = False) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B,T,D] → q, k, v [B,H,T,Dh]. ``one_step`` (T = 1, a decoder step): reshapes by
        constants, so an exported step graph computes no shapes (fewer, cheaper nodes)."""
        qkv = self.qkv(x)
        d = self.heads * self.dh
        q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]  # constant slices
        if one_step:
            # with one time step [B,1,H,Dh] transposed to [B,H,1,Dh] keeps its memory order:
            # one reshape does both
            shape: Tuple[int, ...] = (-1, self.heads, 1, self.dh)
            return q.reshape(shape), k.reshape(shape), v.reshape(shape)
        b, t, _ = x.shape
        shape = (b, t, self.heads, self.dh)
        return (q.reshape(shape).transpose(1, 2), k.reshape(shape).transpose(1, 2),
                v.reshape(shape).transpose(1, 2))

    def attend(self, q, k, v, mask, one_step: bool = False):
        """q [B,H,Tq,Dh], k/v [B,H,Tk,Dh], mask additive, broadcastable to [B,H,Tq,Tk]."""
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh)) + mask
        w = torch.softmax(scores, dim=-1)
        y = torch.matmul(w, v)
        if one_step:  # [B,H,1,Dh] → [B,1,H·Dh]: the same memory order, one reshape
            return self.out(y.reshape(-1, 1, self.heads * self.dh))
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + convolutional feed-forward (as in FastSpeech)."""

    def __init__(self, c: StudentConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.d_model)
        self.attn = Attention(c.d_model, c.heads)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.conv1 = nn.Conv1d(c.d_model, c.enc_ffn, c.enc_kernel, padding=c.enc_kernel // 2)
        self.conv2 = nn.Conv1d(c.enc_ffn, c.d_model, c.enc_kernel, padding=c.enc_kernel // 2)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, mask, keep):
        q, k, v = self.attn.split(self.norm1(x))
        x = x + self.drop(self.attn.attend(q, k, v, mask))
        y = self.norm2(x).transpose(1, 2) * keep
        y = self.conv2(self.drop(F.relu(self.conv1(y)))) * keep
        return x + self.drop(y.transpose(1, 2))


class TextEncoder(nn.Module):
    """ids ``[B,S]``, lengths ``[B]`` → memory ``[B,S,D]``, log_durations ``[B,S]``.

    The duration target is ``log(1 + frames)``; padding positions are zeroed.
    """

    def __init__(self, c: StudentConfig):
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c.n_symbols, c.d_model)
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.enc_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.dur = nn.Sequential(
            nn.Conv1d(c.d_model, c.d_model, 3, padding=1), nn.ReLU(),
            nn.Conv1d(c.d_model, c.d_model, 3, padding=1), nn.ReLU(),
        )
        self.dur_out = nn.Linear(c.d_model, 1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor):
        s = ids.shape[1]
        pos = torch.arange(s, device=ids.device)
        valid = pos.unsqueeze(0) < lengths.unsqueeze(1)                   # [B,S]
        keep = valid.unsqueeze(1).to(torch.float32)                        # [B,1,S]
        mask = (1.0 - keep.unsqueeze(1)) * NEG                             # [B,1,1,S]
        x = self.embed(ids) * math.sqrt(self.c.d_model) + sinusoid(pos, self.c.d_model)
        for layer in self.layers:
            x = layer(x, mask, keep)
        memory = self.norm(x) * keep.transpose(1, 2)
        d = self.dur(memory.transpose(1, 2) * keep).transpose(1, 2)
        log_dur = self.dur_out(d).squeeze(-1) * valid.to(torch.float32)
        return memory, log_dur


class Prosody(nn.Module):
    """Per-symbol pitch and energy: two predictors (as the duration predictor: 2 convs + linear)
    and two embeddings (a kernel-3 convolution from the value to ``d_model``, as FastPitch).
    The embeddings start at zero, so a voice trained without prosody continues unchanged."""

    def __init__(self, c: StudentConfig):
        super().__init__()
        self.center, self.scale = c.pitch_center, c.pitch_scale
        self.pitch_pred, self.energy_pred = self._predictor(c), self._predictor(c)
        self.pitch_embed = nn.Conv1d(1, c.d_model, 3, padding=1)
        self.energy_embed = nn.Conv1d(1, c.d_model, 3, padding=1)
        for conv in (self.pitch_embed, self.energy_embed):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    @staticmethod
    def _predictor(c: StudentConfig) -> nn.Module:
        return nn.ModuleDict({
            "convs": nn.Sequential(nn.Conv1d(c.d_model, c.d_model, 3, padding=1), nn.ReLU(),
                                   nn.Dropout(c.dropout),
                                   nn.Conv1d(c.d_model, c.d_model, 3, padding=1), nn.ReLU(),
                                   nn.Dropout(c.dropout)),
            "out": nn.Linear(c.d_model, 1)})

    @staticmethod
    def _run(pred: nn.Module, memory: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = pred["convs"](memory.transpose(1, 2) * keep).transpose(1, 2)
        return pred["out"](h).squeeze(-1) * keep[:, 0]

    def predict(self, memory: torch.Tensor, lengths: torch.Tensor):
        """memory [B,S,D] → pitch [B,S] in semitones above 100 Hz, energy [B,S] (the teacher's
        normalized scale); zero at padding."""
        keep = (torch.arange(memory.shape[1], device=memory.device).unsqueeze(0)
                < lengths.unsqueeze(1)).to(torch.float32).unsqueeze(1)
        pitch = (self._run(self.pitch_pred, memory, keep) * self.scale + self.center) * keep[:, 0]
        return pitch, self._run(self.energy_pred, memory, keep)

    def condition(self, memory: torch.Tensor, pitch: torch.Tensor, energy: torch.Tensor):
        """memory [B,S,D] + the embeddings of pitch and energy [B,S] → [B,S,D]."""
        p = (pitch - self.center) * (1.0 / self.scale)
        e = self.pitch_embed(p.unsqueeze(1)) + self.energy_embed(energy.unsqueeze(1))
        return memory + e.transpose(1, 2)


class DecoderLayer(nn.Module):
    def __init__(self, c: StudentConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.d_model)
        self.attn = Attention(c.d_model, c.heads)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.ff1 = nn.Linear(c.d_model, c.dec_ffn)
        self.ff2 = nn.Linear(c.dec_ffn, c.d_model)
        self.drop = nn.Dropout(c.dropout)

    def ffn(self, x):
        return x + self.drop(self.ff2(self.drop(F.relu(self.ff1(self.norm2(x))))))


class Decoder(nn.Module):
    def __init__(self, c: StudentConfig):
        super().__init__()
        self.c = c
        self.prenet1 = nn.Linear(c.n_mels, c.prenet)
        self.prenet2 = nn.Linear(c.prenet, c.prenet)
        self.inp = nn.Linear(c.r * (c.prenet + c.d_model + 2), c.d_model)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.dec_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.proj = nn.Linear(c.d_model, c.r * c.n_mels)

    def embed(self, prev, context, progress, steps, one_step: bool = False):
        """prev [B,N,r,80], context [B,N,r,D], progress [B,N,r,2], steps [N] or [B,1] → [B,N,D]."""
        p = F.dropout(F.relu(self.prenet1(prev)), self.c.prenet_dropout, self.training)
        p = F.dropout(F.relu(self.prenet2(p)), self.c.prenet_dropout, self.training)
        x = torch.cat([p, context, progress], dim=-1)
        if one_step:
            x = x.reshape(-1, 1, self.inp.in_features)
        else:
            b, n = x.shape[0], x.shape[1]
            x = x.reshape(b, n, -1)
        return self.inp(x) + sinusoid(steps, self.c.d_model)

    def output(self, x, one_step: bool = False):
        if one_step:
            return self.proj(self.norm(x)).reshape(-1, 1, self.c.r, self.c.n_mels)
        b, n, _ = x.shape
        return self.proj(self.norm(x)).reshape(b, n, self.c.r, self.c.n_mels)

    def forward(self, prev, context, progress):
        """All N steps at once with a causal mask (teacher forcing) → frames [B,N,r,80]."""
        n = prev.shape[1]
        steps = torch.arange(n, device=prev.device)
        x = self.embed(prev, context, progress, steps)
        causal = torch.triu(torch.full((n, n), NEG, device=prev.device), diagonal=1)
        for layer in self.layers:
            q, k, v = layer.attn.split(layer.norm1(x))
            x = x + layer.drop(layer.attn.attend(q, k, v, causal))
            x = layer.ffn(x)
        return self.output(x)

    def step(self, prev, context, progress, position, past: List[torch.Tensor]):
        """One step with a growing cache.

        prev [B,r,80], context [B,r,D], progress [B,r,2], position int64 [B] (= P, the number of
        steps already in the cache); past = [key_0, value_0, key_1, ...] each [B,H,P,Dh].
        Returns frames [B,r,80] and present = [..] each [B,H,P+1,Dh].
        """
        x = self.embed(prev.unsqueeze(1), context.unsqueeze(1), progress.unsqueeze(1),
                       position.unsqueeze(1), one_step=True)
        present = []
        for i, layer in enumerate(self.layers):
            q, k, v = layer.attn.split(layer.norm1(x), one_step=True)
            k = torch.cat([past[2 * i], k], dim=2)
            v = torch.cat([past[2 * i + 1], v], dim=2)
            x = x + layer.attn.attend(q, k, v, 0.0, one_step=True)
            x = layer.ffn(x)
            present += [k, v]
        return self.output(x, one_step=True)[:, 0], present

    def step_static(self, prev, context, progress, position, past: List[torch.Tensor]):
        """One step with fixed-size caches [B,H,T_max,Dh] written at ``position`` (Equal/Where,
        no ScatterND), so every shape is constant. Same arguments and results as ``step`` except
        that present has T_max slots, of which 0..position are filled."""
        x = self.embed(prev.unsqueeze(1), context.unsqueeze(1), progress.unsqueeze(1),
                       position.unsqueeze(1), one_step=True)
        t_max = past[0].shape[2]
        slots = torch.arange(t_max, device=prev.device).unsqueeze(0)            # [1,T]
        here = (slots == position.unsqueeze(1)).unsqueeze(1).unsqueeze(-1)      # [B,1,T,1]
        seen = (slots <= position.unsqueeze(1)).to(torch.float32)               # [B,T]
        mask = ((1.0 - seen) * NEG).unsqueeze(1).unsqueeze(1)                   # [B,1,1,T]
        present = []
        for i, layer in enumerate(self.layers):
            q, k, v = layer.attn.split(layer.norm1(x), one_step=True)
            k = torch.where(here, k, past[2 * i])
            v = torch.where(here, v, past[2 * i + 1])
            x = x + layer.attn.attend(q, k, v, mask, one_step=True)
            x = layer.ffn(x)
            present += [k, v]
        return self.output(x, one_step=True)[:, 0], present


class Postnet(nn.Module):
    """mel ``[B,80,T]`` → refined mel ``[B,80,T]`` (residual). Zero 'same' padding: its output at a
    frame depends on ``receptive_field()`` frames either side, which streaming adds to the
    vocoder's context."""

    def __init__(self, c: StudentConfig):
        super().__init__()
        k, ch = c.postnet_kernel, c.postnet_channels
        dims = [c.n_mels] + [ch] * (c.postnet_layers - 1) + [c.n_mels]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, k, padding=k // 2) for a, b in zip(dims, dims[1:]))
        self.drop = nn.Dropout(c.dropout)
        self.k = k

    def receptive_field(self) -> int:
        return len(self.convs) * (self.k // 2)

    def forward(self, mel):
        x = mel
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = self.drop(torch.tanh(x))
        return mel + x


class Student(nn.Module):
    def __init__(self, c: StudentConfig = StudentConfig()):
        super().__init__()
        self.config = c
        self.encoder = TextEncoder(c)
        self.decoder = Decoder(c)
        self.postnet = Postnet(c)
        # made last, so that a seeded model's other weights are those it had before prosody
        self.prosody = Prosody(c) if c.prosody else None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def text_states(self, ids: torch.Tensor, lengths: torch.Tensor, edit=None):
        """ids → (states the length regulator spreads, log durations, pitch, energy). With
        prosody, ``edit(pitch, energy) → (pitch, energy)`` may change the predicted values
        before they are embedded; without it, pitch and energy are None."""
        memory, log_dur = self.encoder(ids, lengths)
        if self.prosody is None:
            return memory, log_dur, None, None
        pitch, energy = self.prosody.predict(memory, lengths)
        if edit is not None:
            pitch, energy = edit(pitch, energy)
        return self.prosody.condition(memory, pitch, energy), log_dur, pitch, energy


# -- length regulation (torch, for training; the runtime has the same in numpy) -----------------

def durations_from_log(log_dur: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
    """Predicted ``log(1 + frames)`` → integer frames, scaled by 1/speed."""
    return torch.clamp(torch.round((torch.exp(log_dur) - 1.0) / speed), min=0).long()


def regulate(memory: torch.Tensor, durations: torch.Tensor, r: int):
    """Repeat each symbol's state for its frames, padded to a multiple of r.

    memory [B,S,D], durations [B,S] int → context [B,T,D], progress [B,T,2], frames [B]
    (T = max frames rounded up to r; padding frames get zeros).
    progress = (frames since the symbol started, frames until it ends) / 10.
    """
    b, s, d = memory.shape
    frames = durations.sum(1)
    t = int(frames.max().item()) if b else 0
    t = max(r, ((t + r - 1) // r) * r)
    ends = torch.cumsum(durations, 1)                                  # [B,S]
    idx = torch.arange(t, device=memory.device).unsqueeze(0)           # [1,T]
    sym = torch.searchsorted(ends, idx.expand(b, t).contiguous(), right=True)  # [B,T]
    valid = idx < frames.unsqueeze(1)
    sym = torch.clamp(sym, max=s - 1)
    ctx = torch.gather(memory, 1, sym.unsqueeze(-1).expand(b, t, d)) * valid.unsqueeze(-1)
    end = torch.gather(ends, 1, sym).to(torch.float32)
    start = end - torch.gather(durations, 1, sym).to(torch.float32)
    pos = idx.to(torch.float32)
    progress = torch.stack([pos - start, end - 1 - pos], dim=-1) / 10.0 * valid.unsqueeze(-1)
    return ctx, progress, frames


def group(x: torch.Tensor, r: int) -> torch.Tensor:
    """[B,T,C] with T = N·r → [B,N,r,C]."""
    b, t, c = x.shape
    return x.reshape(b, t // r, r, c)


def previous_frames(mel_steps: torch.Tensor) -> torch.Tensor:
    """Teacher forcing input: step t sees the frames of step t-1; step 0 sees zeros."""
    return F.pad(mel_steps[:, :-1], (0, 0, 0, 0, 1, 0))


@torch.no_grad()
def decode(model: Student, ids: torch.Tensor, speed: float = 1.0, max_frames_per_symbol: int = 50,
           step=None, edit=None):
    """Autoregressive decoding with the growing cache, batch 1: ids [1,S] → (decoder frames
    [1,T,80] before the postnet, durations [S]). ``step`` replaces ``model.decoder.step`` (same
    signature), e.g. to time each step; ``edit`` as in ``Student.text_states``."""
    model.eval()
    c = model.config
    step = step or model.decoder.step
    memory, log_dur, _, _ = model.text_states(ids, torch.tensor([ids.shape[1]]), edit)
    dur = torch.clamp(durations_from_log(log_dur, speed), max=max_frames_per_symbol)
    ctx, prog, frames = regulate(memory, dur, c.r)
    ctx, prog = group(ctx, c.r), group(prog, c.r)
    past = [torch.zeros(1, c.heads, 0, c.head_dim) for _ in range(2 * c.dec_layers)]
    prev = torch.zeros(1, c.r, c.n_mels)
    out = []
    for t in range(ctx.shape[1]):
        prev, past = step(prev, ctx[:, t], prog[:, t], torch.tensor([t]), past)
        out.append(prev)
    mel = torch.cat(out, dim=1)[:, : int(frames[0])] if out else torch.zeros(1, 0, c.n_mels)
    return mel, dur[0]


@torch.no_grad()
def synthesize(model: Student, ids: torch.Tensor, speed: float = 1.0, max_frames_per_symbol: int = 50,
               edit=None):
    """Autoregressive inference, batch 1: ids [1,S] → mel [T,80] (postnet), durations [S]."""
    mel, dur = decode(model, ids, speed, max_frames_per_symbol, edit=edit)
    if mel.shape[1] == 0:
        return mel[0], dur
    return model.postnet(mel.transpose(1, 2))[0].transpose(0, 1), dur


def load_student(path: str) -> Student:
    """A student checkpoint (the committed FP16 one, or a training export) as an FP32 model in
    eval mode."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = Student(StudentConfig(**ck["config"]))  # an older checkpoint: prosody False
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    return model.eval()
