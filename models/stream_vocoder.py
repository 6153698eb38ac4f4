"""The postnet + MB-MelGAN vocoder as a stateful streaming graph: each call takes the mel frames
that are new since the last call and the state it returned, and returns every audio sample that
is now final.

    mel [B, 80, n], final [1], state.0 … state.K  ──►  audio [B, samples], next_state.0 … next_state.K

Every convolution keeps the last ``2·pad`` samples of its input (for a transposed convolution:
the last input sample) as its state, so no frame is computed twice: each layer outputs the
samples whose whole receptive field it has seen, which puts a fixed lag (about 30 frames) between
the frames fed in and the audio coming out. The utterance edges are the whole-utterance pass's:

- the **first call** passes every state with length 0; each layer then pads its left edge as the
  whole-utterance graph does (reflection, or zeros in the postnet and the PQMF filter) instead of
  reading a state, and drops what lies before the utterance;
- the **final call** (``final = 1``, its ``mel`` possibly empty) pads every layer's right edge the
  same way and flushes the lag, so the calls together return exactly ``frames · hop`` samples.

So the audio of any split of an utterance into calls equals one whole-utterance pass (to float32
rounding). The first call needs ``first_call_min_frames()`` frames (every reflection needs a
signal longer than its pad, and every state must fill); later calls any number, zero included.
All slicing is by constant offsets from the ends or by lengths the graph reads off its own
tensors, so the graph has no control flow and runs on any ONNX Runtime that reads its opset.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .melgan import SLOPE, SUBBANDS, TAPS, MBMelGAN


def _reflection_before(x: torch.Tensor, p: int) -> torch.Tensor:
    """The p samples a reflection pad puts before `x`: x[p], …, x[1]."""
    return x[..., 1:p + 1].flip(-1)


def _reflection_after(c: torch.Tensor, p: int) -> torch.Tensor:
    """The p samples a reflection pad puts after `c`: c[-2], …, c[-p-1]."""
    return c[..., -p - 1:-1].flip(-1)


def _valid(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`conv` (Conv1d, or Conv2d with (1, k) kernels in the 2-D layout) without its padding."""
    if isinstance(conv, nn.Conv2d):
        return F.conv2d(x, conv.weight, conv.bias, dilation=conv.dilation)
    return F.conv1d(x, conv.weight, conv.bias, dilation=conv.dilation)


def _pad_amount(conv: nn.Module) -> int:
    k, d = conv.kernel_size[-1], conv.dilation[-1]
    return (k - 1) * d // 2


class _Edges:
    """What one call knows about where it lies in the utterance."""

    def __init__(self, final: torch.Tensor):
        self.final = final  # int64 [1]: 1 on the call that ends the utterance


def _extend(x: torch.Tensor, state: torch.Tensor, p: int, reflect: bool, edges: _Edges):
    """[left context | x | right pad on the final call] for a symmetric conv with pad `p`, and
    the next state (the last 2p input samples).

    The left context is the state, or on the first call (empty state) the utterance's own left
    pad of p samples: ``cat(pad, state)[-2p:]`` is one or the other, with no branch. The big
    activation is copied once (one Concat); the state and the right pad are read off its last
    samples.
    """
    head = _reflection_before(x, p) if reflect else x[..., :p] * 0.0
    left = torch.cat([head, state], -1)[..., -2 * p:]
    recent = torch.cat([left, x[..., -2 * p:]], -1)[..., -2 * p:]
    tail = _reflection_after(recent, p) if reflect else recent[..., :p] * 0.0
    return torch.cat([left, x, tail[..., :p * edges.final[0]]], -1), recent


class StreamingVocoderGraph(nn.Module):
    """Stateful streaming ``postnet → MB-MelGAN → PQMF``, with the weights of `postnet` and
    `vocoder` (layout ``"2d"``: every conv as a (1, k) 2-D conv over ``[B, C, 1, T]``, the
    faster CPU kernels; see ``exporter.student_graphs.VocoderGraph``)."""

    def __init__(self, postnet: nn.Module, vocoder: MBMelGAN, layout: str = "1d"):
        super().__init__()
        from edgetts.exporter.student_graphs import conv_as_2d

        if layout not in ("1d", "2d"):
            raise ValueError("layout must be '1d' or '2d', got %r" % (layout,))
        self.layout = layout
        self.postnet = postnet if layout == "1d" else conv_as_2d(postnet)
        self.vocoder = vocoder if layout == "1d" else conv_as_2d(vocoder)

    # -- the state layout ------------------------------------------------------------------------

    def state_channels(self) -> List[int]:
        """Channels of every state, in input order (the lengths follow from the layers)."""
        return [c for c, _ in self._states()]

    def _states(self) -> List[Tuple[int, int]]:
        """(channels, full length) of every state, in the order forward() takes them."""
        g = self.vocoder.generator
        out = [(self.postnet.convs[0].in_channels, self.postnet.receptive_field())]  # skip delay
        out += [(conv.in_channels, 2 * _pad_amount(conv)) for conv in self.postnet.convs]
        out.append((g.conv_in.in_channels, 2 * _pad_amount(g.conv_in)))
        for up, stage in zip(g.upsamples, g.blocks):
            out.append((up.conv.in_channels, 1))
            out += [(b.conv1.in_channels, 2 * b.dilation) for b in stage]
        out.append((g.conv_out.in_channels, 2 * _pad_amount(g.conv_out)))
        out.append((SUBBANDS, 2 * (TAPS // 2)))  # the PQMF filter's input
        return out

    def initial_states(self, batch: int = 1) -> List[torch.Tensor]:
        """The states of a first call: every one of length 0."""
        shape = (lambda c: (batch, c, 0)) if self.layout == "1d" else (lambda c: (batch, c, 1, 0))
        return [torch.zeros(shape(c)) for c in self.state_channels()]

    def first_call_min_frames(self) -> int:
        """Fewest frames a first (non-final) call may take: on a first call every layer drops
        its left pad, and each must still see more samples than its reflection pad and fill its
        state. Walks a first call's layer lengths from the mel to the audio."""
        g = self.vocoder.generator
        for n in range(1, 1000):
            ok, x = True, n
            for conv in self.postnet.convs:             # zero pads: the state must fill
                p = _pad_amount(conv)
                ok &= x >= p
                x -= p
            p = _pad_amount(g.conv_in)                  # reflection: more samples than the pad
            ok &= x >= p + 1
            x -= p
            for up, stage in zip(g.upsamples, g.blocks):
                x = x * up.scale - up.scale // 2
                for block in stage:
                    ok &= x >= block.dilation + 1
                    x -= block.dilation
            p = _pad_amount(g.conv_out)
            ok &= x >= p + 1
            x = (x - p) * SUBBANDS                      # zero insertion
            ok &= x >= TAPS // 2                        # the PQMF filter's state fills
            if ok and x - TAPS // 2 >= 0:
                return n
        raise AssertionError("no first-call length works for this vocoder")

    # -- one call --------------------------------------------------------------------------------

    def forward(self, mel: torch.Tensor, final: torch.Tensor, *states: torch.Tensor):
        """mel ``[B, 80, n]`` (either layout), final int64 ``[1]``, the states the last call
        returned (or ``initial_states()``) → (audio ``[B, samples]``, next states)."""
        if self.layout == "2d":
            mel = mel.unsqueeze(2)
        edges = _Edges(final)
        st = list(states)
        nxt: List[torch.Tensor] = []

        # postnet: 5 zero-padded convs with tanh between them, then the residual mel + convs(mel)
        skip_src = torch.cat([st.pop(0), mel], -1)
        nxt.append(skip_src[..., -self.postnet.receptive_field():])
        x = mel
        convs = self.postnet.convs
        for i, conv in enumerate(convs):
            c, s = _extend(x, st.pop(0), _pad_amount(conv), False, edges)
            nxt.append(s)
            x = _valid(conv, c)
            if i < len(convs) - 1:
                x = torch.tanh(x)
        x = skip_src[..., :x.shape[-1]] + x

        g = self.vocoder.generator
        c, s = _extend(x, st.pop(0), _pad_amount(g.conv_in), True, edges)
        nxt.append(s)
        x = _valid(g.conv_in, c)
        for up, stage in zip(g.upsamples, g.blocks):
            x, s = self._upsample(up, x, st.pop(0), edges)
            nxt.append(s)
            for block in stage:
                d = block.dilation
                c, s = _extend(x, st.pop(0), d, True, edges)
                nxt.append(s)
                y = _valid(block.conv2, F.leaky_relu(_valid(block.conv1, F.leaky_relu(c, SLOPE)), SLOPE))
                x = _valid(block.shortcut, c[..., d:c.shape[-1] - d]) + y
        c, s = _extend(x, st.pop(0), _pad_amount(g.conv_out), True, edges)
        nxt.append(s)
        sub = torch.tanh(_valid(g.conv_out, F.leaky_relu(c, SLOPE)))

        # PQMF synthesis: zero insertion (no overlap between input samples: no state), then the
        # 63-tap filter bank with zero padding at the utterance edges
        pq = self.vocoder.pqmf
        if self.layout == "2d":
            up4 = F.conv_transpose2d(sub, pq.updown.unsqueeze(2), stride=(1, SUBBANDS))
            c, s = _extend(up4, st.pop(0), TAPS // 2, False, edges)
            audio = F.conv2d(c, pq.synthesis.unsqueeze(2))[:, 0, 0]
        else:
            up4 = F.conv_transpose1d(sub, pq.updown, stride=SUBBANDS)
            c, s = _extend(up4, st.pop(0), TAPS // 2, False, edges)
            audio = F.conv1d(c, pq.synthesis)[:, 0]
        nxt.append(s)
        return (audio, *nxt)

    @staticmethod
    def _upsample(up: nn.Module, x: torch.Tensor, state: torch.Tensor, edges: _Edges):
        """ConvTranspose(k=2s, stride s), cropped as TensorFlow's SAME crops the whole
        utterance (drop s//2 samples at its start, keep T·s): output sample m' (uncropped) sums
        input samples floor(m'/s) and floor(m'/s) - 1, so a call outputs the samples whose two
        inputs it has, with the last input sample as state. Before the utterance and after it
        the input is zero. (Written as a 2-tap convolution into s·C channels, interleaved, it
        measured no faster on ONNX Runtime's CPU kernels.)"""
        s = up.scale
        left = torch.cat([x[..., :1] * 0.0, state], -1)[..., -1:]  # input sample J0 - 1
        nxt = torch.cat([left, x[..., -1:]], -1)[..., -1:]
        c = torch.cat([left, x, (nxt * 0.0)[..., :edges.final[0]]], -1)
        conv = up.conv
        if isinstance(conv, nn.ConvTranspose2d):
            y = F.conv_transpose2d(F.leaky_relu(c, SLOPE), conv.weight, conv.bias, stride=conv.stride)
        else:
            y = F.conv_transpose1d(F.leaky_relu(c, SLOPE), conv.weight, conv.bias, stride=conv.stride)
        # y[q] is uncropped sample (J0 - 1)·s + q. Keep from J0·s (the first call: from s//2, the
        # crop) to (J0 + n)·s (the final call: to T·s + s//2, the end of the crop).
        first = 1 - state.shape[-1]
        final = edges.final[0]
        start = s + first * (s // 2)
        end = y.shape[-1] - s - final * (s - s // 2)
        return y[..., start:end], nxt
