"""The student's graphs: text encoder, decoder step (growing or fixed-size cache), postnet+vocoder.

Tensor names are the runtime's (``edgetts.engine.graphs``): the exporter writes what the runtime reads.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from edgetts.config import CacheLayout
from edgetts.engine.decoder import open_decoder
from edgetts.models.melgan import MBMelGAN
from edgetts.models.student import Student, group, previous_frames, regulate

# The names live on the runtime side (torch-free), so both sides read one definition.
from edgetts.engine.graphs import (  # noqa: E402,F401
    ENCODER_AXES, ENCODER_INPUTS, ENCODER_OUTPUTS, PROSODY_AXES, PROSODY_INPUTS, PROSODY_OUTPUTS,
    PROSODY_STATES, PAST_KEY, PAST_VALUE, PRESENT_KEY, PRESENT_VALUE,
    STEP_INPUTS, STEP_OUTPUTS, VOCODER_AXES, VOCODER_INPUTS, VOCODER_OUTPUTS,
    VOCODER_STREAM_INPUTS, VOCODER_STREAM_OUTPUTS, cache_names, step_axes, stream_state_names,
    vocoder_stream_axes)


class EncoderGraph(nn.Module):
    """ids → memory, log durations; with prosody also the predicted pitch and energy (the states
    are not yet conditioned on them: ``ProsodyGraph`` does that with the edited values)."""

    def __init__(self, student: Student):
        super().__init__()
        self.encoder = student.encoder
        self.prosody = student.prosody

    def forward(self, phoneme_ids, phoneme_lengths):
        memory, log_dur = self.encoder(phoneme_ids, phoneme_lengths)
        if self.prosody is None:
            return memory, log_dur
        pitch, energy = self.prosody.predict(memory, phoneme_lengths)
        return memory, log_dur, pitch, energy


class ProsodyGraph(nn.Module):
    """memory, pitch, energy (edited or not) → the states the length regulator spreads."""

    def __init__(self, student: Student):
        super().__init__()
        self.prosody = student.prosody

    def forward(self, memory, pitch, energy):
        return self.prosody.condition(memory, pitch, energy)


def encoder_outputs(student: Student):
    return ENCODER_OUTPUTS + (PROSODY_OUTPUTS if student.prosody is not None else [])


class DecoderStepGraph(nn.Module):
    """One decoder step; ``static`` selects the fixed-size cache layout."""

    def __init__(self, student: Student, static: bool):
        super().__init__()
        self.decoder = student.decoder
        self.static = static

    def forward(self, prev_frames, text_context, phone_progress, position, *past):
        step = self.decoder.step_static if self.static else self.decoder.step
        frames, present = step(prev_frames, text_context, phone_progress, position, list(past))
        return (frames, *present)


class VocoderGraph(nn.Module):
    """Decoder frames ``mel [B,80,F]`` → postnet → MB-MelGAN → ``audio [B, 300·F]``.

    ``layout="2d"`` computes the same function with every 1-D convolution written as a 2-D one
    over ``[B, C, 1, T]``: ONNX Runtime's CPU provider runs 2-D convolutions in its blocked
    (NCHWc) layout with faster kernels, which it does not do for 1-D ones (measured: the vocoder
    20-30 % faster on one x86 thread). The inputs and outputs are the same.
    """

    def __init__(self, student: Student, vocoder: MBMelGAN, layout: str = "1d"):
        super().__init__()
        if layout not in ("1d", "2d"):
            raise ValueError("layout must be '1d' or '2d', got %r" % (layout,))
        self.layout = layout
        self.postnet = student.postnet if layout == "1d" else conv_as_2d(student.postnet)
        self.vocoder = vocoder if layout == "1d" else conv_as_2d(vocoder)

    def forward(self, mel):
        if self.layout == "2d":
            mel = mel.unsqueeze(2)
        return self.vocoder(self.postnet(mel))


def conv_as_2d(module: nn.Module) -> nn.Module:
    """A copy of `module` with every Conv1d / ConvTranspose1d replaced by the equivalent 2-D
    convolution with a ``(1, k)`` kernel (same weights, strides, dilations, paddings), for
    inputs ``[B, C, 1, T]``. Other layers must accept 4-D input (reflection pads and the PQMF
    synthesis do)."""
    import copy

    out = copy.deepcopy(module)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv1d):
                new = nn.Conv2d(child.in_channels, child.out_channels, (1, child.kernel_size[0]),
                                stride=(1, child.stride[0]), padding=(0, child.padding[0]),
                                dilation=(1, child.dilation[0]), groups=child.groups,
                                bias=child.bias is not None)
            elif isinstance(child, nn.ConvTranspose1d):
                new = nn.ConvTranspose2d(child.in_channels, child.out_channels, (1, child.kernel_size[0]),
                                         stride=(1, child.stride[0]), padding=(0, child.padding[0]),
                                         output_padding=(0, child.output_padding[0]),
                                         dilation=(1, child.dilation[0]), groups=child.groups,
                                         bias=child.bias is not None)
            else:
                continue
            with torch.no_grad():
                new.weight.copy_(child.weight.unsqueeze(2))
                if child.bias is not None:
                    new.bias.copy_(child.bias)
            setattr(parent, name, new.train(child.training))
    return out


def example_inputs(student: Student, batch: int = 1, symbols: int = 12, past_len: int = 3,
                   static: bool = False, seed: int = 0):
    c = student.config
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, 218, (batch, symbols), generator=g)
    lengths = torch.full((batch,), symbols, dtype=torch.long)
    t = c.max_steps if static else past_len
    past = [torch.randn(batch, c.heads, t, c.head_dim, generator=g) * 0.5
            for _ in range(2 * c.dec_layers)]
    step = (torch.randn(batch, c.r, c.n_mels, generator=g), torch.randn(batch, c.r, c.d_model, generator=g),
            torch.rand(batch, c.r, 2, generator=g), torch.full((batch,), past_len, dtype=torch.long))
    return (ids, lengths), step + tuple(past)


@torch.no_grad()
def teacher_forced_case(student: Student, symbols: int = 15, seed: int = 3):
    """A whole utterance's decoder inputs (random ids, durations and target frames) and PyTorch's
    full causal pass over them: the reference for step-by-step decoding through ONNX."""
    c = student.config
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, 218, (1, symbols), generator=g)
    memory, _ = student.encoder(ids, torch.tensor([symbols]))
    dur = torch.randint(1, 6, (1, symbols), generator=g)
    ctx, prog, _ = regulate(memory, dur, c.r)
    mel = torch.randn(1, ctx.shape[1], c.n_mels, generator=g)
    ctx, prog = group(ctx, c.r), group(prog, c.r)
    prev = previous_frames(group(mel, c.r))
    full = student.decoder(prev, ctx, prog)
    return prev.numpy(), ctx.numpy(), prog.numpy(), full.numpy()


def decode_through_onnx(session, prev, ctx, prog, layers: int, heads: int, head_dim: int,
                        static: bool, max_steps: int) -> np.ndarray:
    """Every step of a teacher-forced utterance through a decoder_step session, by the runtime's
    own decode loop (``open_decoder``, teacher forcing on; a static cache through IO binding, the
    path GPUs take) → frames ``[1, N, r, mel]``."""
    layout = CacheLayout(layers, heads, head_dim, max_steps, PAST_KEY, PAST_VALUE, PRESENT_KEY,
                         PRESENT_VALUE)
    dec = open_decoder(session, layout, static, prev.shape[3], prev.shape[2], "cpu", io_binding=static)
    return np.stack(list(dec.batch_frames(ctx, prog, teacher=prev)), axis=1)


def stream_vocoder_export_args(graph: nn.Module, frames: int = 40) -> tuple:
    """Inputs to trace the streaming vocoder with: a call after the first (full states), so
    that no length of a first call is baked into the graph."""
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(1, graph.postnet.convs[0].in_channels, graph.first_call_min_frames() + frames,
                      generator=g)
    with torch.no_grad():
        first = graph(mel[..., :graph.first_call_min_frames()], torch.tensor([0]), *graph.initial_states())
    return (mel[..., graph.first_call_min_frames():], torch.tensor([0])) + tuple(first[1:])


def stream_vocoder_io(graph: nn.Module):
    """(input names, output names, dynamic axes) of the streaming vocoder graph."""
    count = len(graph.state_channels())
    ins, outs = stream_state_names(count)
    return (VOCODER_STREAM_INPUTS + ins, VOCODER_STREAM_OUTPUTS + outs,
            vocoder_stream_axes(count, graph.initial_states()[0].dim()))


# Splits of an utterance into streaming calls that the exporter checks against one whole pass:
# one call; the shortest first call; first calls of the runtime's size followed by small and
# large ones; an empty final call (the decoder's frames all fed before the end is known).
def stream_splits(frames: int, first_min: int):
    """Call ends (the last one final) for an utterance of `frames` frames; only splits whose
    first call may be a first call (`first_min` frames or all of them) are kept."""
    splits = [[frames], [first_min, frames], [44, 47, 60, 61, frames], [44, frames - 5, frames],
              [first_min + 3, frames, frames]]
    return [e for e in splits
            if all(a <= b for a, b in zip(e, e[1:])) and e[-1] == frames and e[0] >= first_min
            or e == [frames]]


def stream_through_onnx(vocoder, mel: np.ndarray, ends) -> np.ndarray:
    """mel ``[frames, 80]`` through a runtime ``StatefulVocoder`` in calls ending at ``ends``
    (the last one final) → the audio of all calls, concatenated."""
    state, out, a = vocoder.initial_state(), [], 0
    for i, b in enumerate(ends):
        audio, state = vocoder.run(mel[a:b], state, i == len(ends) - 1)
        out.append(audio)
        a = b
    return np.concatenate(out)
