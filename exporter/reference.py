"""The PyTorch reference voice: the student and the vocoder run eagerly, the way a research
codebase would run them. It is the baseline row of ``edgetts bench`` (what the ONNX runtime is
measured against), speaks through the same front-end, and yields the same ``AudioChunk``s, one
per clause once the clause is fully decoded (no streaming).
"""

from __future__ import annotations

import time
from typing import Iterator, List, Optional

import numpy as np
import torch

from edgetts.config import SynthesisOptions
from edgetts.frontend import Frontend, FrontendOptions
from edgetts.voice import AudioChunk
from edgetts.models.student import Student, durations_from_log, group, regulate


class TorchVoice:
    sample_rate = 24000

    def __init__(self, student: Student, vocoder, threads: int = 0):
        if threads:
            torch.set_num_threads(threads)
        self.student = student.eval()
        self.vocoder = vocoder.eval()
        self.step_seconds: List[float] = []     # every decoder step's latency
        self.vocoder_seconds = 0.0              # time in postnet + vocoder

    @classmethod
    def load(cls, checkpoint: str = "models/student/student.fp16.pt", threads: int = 0) -> "TorchVoice":
        from edgetts.distill.train import load_student
        from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

        return cls(load_student(checkpoint), load_tflite_vocoder(), threads)

    @torch.inference_mode()
    def synthesize(self, text: str, options: Optional[SynthesisOptions] = None) -> Iterator[AudioChunk]:
        o = options or SynthesisOptions()
        utts = Frontend(FrontendOptions(unknown=o.unknown))(text)
        m, c = self.student, self.student.config
        for ui, utt in enumerate(utts):
            ids = torch.tensor([utt.ids])
            memory, log_dur = m.encoder(ids, torch.tensor([ids.shape[1]]))
            dur = torch.clamp(durations_from_log(log_dur, o.speed or 1.0), max=o.max_frames_per_symbol or 60)
            ctx, prog, frames = regulate(memory, dur, c.r)
            ctx, prog = group(ctx, c.r), group(prog, c.r)
            past = [torch.zeros(1, c.heads, 0, c.head_dim) for _ in range(2 * c.dec_layers)]
            prev = torch.zeros(1, c.r, c.n_mels)
            out = []
            for t in range(ctx.shape[1]):
                s = time.perf_counter()
                prev, past = m.decoder.step(prev, ctx[:, t], prog[:, t], torch.tensor([t]), past)
                self.step_seconds.append(time.perf_counter() - s)
                out.append(prev)
            mel = torch.cat(out, dim=1)[:, : int(frames[0])]
            s = time.perf_counter()
            audio = self.vocoder(m.postnet(mel.transpose(1, 2)))[0].numpy().astype(np.float32)
            self.vocoder_seconds += time.perf_counter() - s
            yield AudioChunk(audio, self.sample_rate, ui, utt.spoken, 0, len(utt.spoken))
            pause = np.zeros(int(round(utt.pause_after * self.sample_rate)), np.float32)
            yield AudioChunk(pause, self.sample_rate, ui, utt.spoken, len(utt.spoken), len(utt.spoken),
                             ui == len(utts) - 1)
