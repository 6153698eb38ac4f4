"""The autoregressive loop over ``decoder_step.onnx``.

Two cache layouts, chosen by the graph the manifest names, and two implementations of the loop
behind one interface (``open_decoder`` chooses when the voice loads):

- *dynamic* (CPU): the cache grows by one step per call; numpy in, numpy out.
- *static* (CUDA/TensorRT): fixed ``[B, H, T_max, Dh]`` buffers written at ``position``. On a GPU
  the caches are bound with IO binding to two device buffers used in turn (read one, write the
  other), so they never cross to the host; only the r new frames come back each step.
"""

from __future__ import annotations

from typing import Iterator, List, Optional

import numpy as np

from ..config import CacheLayout
from .graphs import STEP_INPUTS, STEP_OUTPUTS


class StepDecoder:
    """The decode loop over ``decoder_step.onnx`` for a batch of utterances. Two
    implementations share this interface, and ``open_decoder`` picks one when the voice loads:
    ``NumpyCache`` (caches as numpy arrays fed and fetched every step) and ``BoundCache``
    (static caches bound to the session with IO binding)."""

    def __init__(self, session, cache: CacheLayout, static: bool, mel_bins: int, r: int,
                 device: str = "cpu"):
        self.session = session
        self.cache = cache
        self.static = static
        self.mel_bins = mel_bins
        self.r = r
        self.device = device
        self.past = cache.past_names()
        self.present = cache.present_names()

    def frames(self, context: np.ndarray, progress: np.ndarray) -> Iterator[np.ndarray]:
        """context ``[N, r, D]``, progress ``[N, r, 2]`` → yields N arrays of frames ``[r, mel]``
        (one utterance through ``batch_frames``)."""
        rows = self.batch_frames(context[None], progress[None])  # checks the length now
        return (frames[0] for frames in rows)

    def batch_frames(self, context: np.ndarray, progress: np.ndarray,
                     teacher: Optional[np.ndarray] = None) -> Iterator[np.ndarray]:
        """Decode B utterances in lock-step: context ``[B, N, r, D]``, progress ``[B, N, r, 2]``
        → yields N arrays ``[B, r, mel]``. All rows share the step index, so their caches have
        the same length and attention needs no mask; an utterance shorter than N is padded at
        its end with zero context, and because decoding is causal the padding cannot change
        its earlier frames (the caller drops the padded steps' output).

        ``teacher`` ``[B, N, r, mel]``: the previous frames to feed at each step instead of the
        decoder's own (teacher forcing), which the exporter uses to check step-by-step decoding
        against the PyTorch model's full causal pass through this same loop."""
        if self.static and context.shape[1] > self.cache.max_steps:
            raise ValueError("utterance needs %d decoder steps, the static cache holds %d; "
                             "split the text further" % (context.shape[1], self.cache.max_steps))
        return self._loop(context, progress, teacher)

    def _loop(self, context, progress, teacher) -> Iterator[np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def _step_inputs(prev, context, progress, step: int, b: int):
        """The step's inputs in STEP_INPUTS order: previous frames, text context, progress,
        position."""
        return (prev, np.ascontiguousarray(context[:, step]), np.ascontiguousarray(progress[:, step]),
                np.full((b,), step, np.int64))


class NumpyCache(StepDecoder):
    """Caches as numpy arrays: grown by one step per call (dynamic layout), or fixed
    ``[B, H, T_max, Dh]`` buffers the graph writes at ``position`` (static layout)."""

    def _loop(self, context, progress, teacher=None):
        c = self.cache
        b, n = context.shape[:2]
        t = c.max_steps if self.static else 0
        past = [np.zeros((b, c.heads, t, c.head_dim), np.float32) for _ in self.past]
        prev = np.zeros((b, self.r, self.mel_bins), np.float32)
        for step in range(n):
            if teacher is not None:
                prev = np.ascontiguousarray(teacher[:, step], np.float32)
            feed = dict(zip(STEP_INPUTS, self._step_inputs(prev, context, progress, step, b)))
            feed.update(zip(self.past, past))
            out = self.session.run(STEP_OUTPUTS + self.present, feed)
            prev, past = out[0], out[1:]
            yield prev


class BoundCache(StepDecoder):
    """The static-cache loop with IO binding: the caches live in two ORT buffers per name, read
    one and write the other in turn, and stay on the device; only the r new frames of each row
    cross to the host."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.static:
            raise ValueError("IO binding needs the static cache layout")

    def _loop(self, context, progress, teacher=None):
        import onnxruntime as ort

        c = self.cache
        b, n = context.shape[:2]
        shape = (b, c.heads, c.max_steps, c.head_dim)
        # one array per buffer: on the CPU an OrtValue wraps the numpy memory without copying
        bufs = [[ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, np.float32), self.device, 0)
                 for _ in self.past] for _ in range(2)]
        prev = np.zeros((b, self.r, self.mel_bins), np.float32)
        binding = self.session.io_binding()
        for step in range(n):
            read, write = bufs[step % 2], bufs[(step + 1) % 2]
            if teacher is not None:
                prev = np.ascontiguousarray(teacher[:, step], np.float32)
            binding.clear_binding_inputs()
            binding.clear_binding_outputs()
            for name, value in zip(STEP_INPUTS, self._step_inputs(prev, context, progress, step, b)):
                binding.bind_cpu_input(name, value)
            for name, v in zip(self.past, read):
                binding.bind_ortvalue_input(name, v)
            binding.bind_output(STEP_OUTPUTS[0], "cpu")  # bound first: outputs come back in bind order
            for name, v in zip(self.present, write):
                binding.bind_ortvalue_output(name, v)
            self.session.run_with_iobinding(binding)
            prev = binding.get_outputs()[0].numpy()  # only the frames cross to the host
            yield prev


def open_decoder(session, cache: CacheLayout, static: bool, mel_bins: int, r: int,
                 device: str = "cpu", io_binding: Optional[bool] = None) -> StepDecoder:
    """The decode loop for this graph and device, chosen once: static caches on a GPU stay there
    through IO binding; everything else feeds numpy. ``io_binding`` overrides the choice (on the
    CPU it works too, which tests the bound path there)."""
    bound = static and (device != "cpu" if io_binding is None else io_binding)
    return (BoundCache if bound else NumpyCache)(session, cache, static, mel_bins, r, device)


def device_of(providers: List[str]) -> str:
    return "cuda" if providers and providers[0] in ("TensorrtExecutionProvider",
                                                    "CUDAExecutionProvider") else "cpu"
