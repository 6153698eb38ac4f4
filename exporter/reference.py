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
from edgetts.text.frontend import Frontend, FrontendOptions
from edgetts.engine.audio import AudioChunk
from edgetts.models.student import Student, decode


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
        from edgetts.models.student import load_student
        from edgetts.exporter.tflite_vocoder import load_tflite_vocoder

        return cls(load_student(checkpoint), load_tflite_vocoder(), threads)

    def _timed_step(self, *args):
        s = time.perf_counter()
        try:
            return self.student.decoder.step(*args)
        finally:
            self.step_seconds.append(time.perf_counter() - s)

    @torch.inference_mode()
    def synthesize(self, text: str, options: Optional[SynthesisOptions] = None) -> Iterator[AudioChunk]:
        o = options or SynthesisOptions()
        utts = Frontend(FrontendOptions(unknown=o.unknown))(text)
        m = self.student
        for ui, utt in enumerate(utts):
            mel, _ = decode(m, torch.tensor([utt.ids]), o.speed or 1.0, o.max_frames_per_symbol or 60,
                            step=self._timed_step)
            s = time.perf_counter()
            audio = self.vocoder(m.postnet(mel.transpose(1, 2)))[0].numpy().astype(np.float32)
            self.vocoder_seconds += time.perf_counter() - s
            yield AudioChunk(audio, self.sample_rate, ui, utt.spoken, 0, len(utt.spoken))
            pause = np.zeros(int(round(utt.pause_after * self.sample_rate)), np.float32)
            yield AudioChunk(pause, self.sample_rate, ui, utt.spoken, len(utt.spoken), len(utt.spoken),
                             ui == len(utts) - 1)
