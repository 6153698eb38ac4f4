"""``edgetts triton``: the voice as Triton Inference Server models, through PyTriton (the
``triton`` extra; PyTriton's wheel carries a ``tritonserver`` binary that also runs on the CPU).

Two models share one service core (``service.Service``: front-end, phrase cache, scheduler with
clause-level batching, limits):

- ``edgetts``: Triton's dynamic batcher forms batches (up to ``max_batch``, waiting at most
  ``queue_delay_us``); each batch's requests are submitted to the scheduler together, so they are
  decoded in the same waves through the decoder graph's batch dimension.
- ``edgetts_stream``: decoupled. Each request gets one response per audio chunk as it is vocoded
  (gRPC streaming), then the final flag. Its callable is an async generator, so many requests
  stream at once, their decoder steps batched by the same scheduler.

Contract. Inputs: ``TEXT`` (BYTES, one UTF-8 string per row), optional ``SPEED`` (FP32,
``config.SPEED_MIN``–``SPEED_MAX``), ``SSML`` (BOOL; absent = detect a leading ``<speak``), and
for voices with prosody controls optional ``PITCH`` (FP32, semitones), ``PITCH_RANGE`` and
``ENERGY`` (FP32 factors, 1 = the voice's own) and ``EMOTION`` (BYTES, a preset's name or alias).
Outputs: ``AUDIO`` (INT16 mono PCM; rows of one request padded to the longest), ``AUDIO_LENGTH``
(INT32, samples in each row) and ``SAMPLE_RATE`` (INT32). Errors carry the HTTP service's codes and messages, e.g.
``unsayable_text: nothing sayable is left in the text``.

What PyTriton cannot do (README): an error fails the whole batch the dynamic batcher formed, not
only the request at fault, because PyTriton returns one error per batch; and it prefixes the
message with the Python traceback of the raise.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import AsyncIterator, Dict, List

import numpy as np

from ..config import SPEED_MAX, SPEED_MIN
from .service import Service, ServiceError, SpeakRequest

log = logging.getLogger("edgetts.serving.triton")

MODEL = "edgetts"
STREAM_MODEL = "edgetts_stream"
_END = object()


class TritonError(Exception):
    """What the client reads: ``code: message`` (the HTTP service's code and message)."""


class Bridge:
    """Runs the async service core on its own loop thread for PyTriton's synchronous callables."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="edgetts-core", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    async def _whole(self, req: SpeakRequest) -> bytes:
        with self.svc.track("triton", speech=True) as t:
            data = await (await self.svc.speak(req, t)).read()
            t.status = 200
            return data

    async def synthesize_all(self, reqs: List[SpeakRequest]) -> List[bytes]:
        """All requests submitted at once (so the scheduler batches them); their PCM in order.
        Awaited from PyTriton's own loop; runs on the core's."""
        async def run():
            return await asyncio.gather(*(self._whole(r) for r in reqs), return_exceptions=True)

        results = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), self.loop))
        for r in results:
            if isinstance(r, ServiceError):
                raise TritonError("%s: %s" % (r.code, r.message))
            if isinstance(r, BaseException):
                raise r
        return results

    async def stream(self, req: SpeakRequest) -> AsyncIterator[bytes]:
        """PCM chunks as they are made, handed from the core's loop to the caller's."""
        here = asyncio.get_running_loop()
        q: "asyncio.Queue" = asyncio.Queue()

        def put(item) -> None:
            here.call_soon_threadsafe(q.put_nowait, item)

        async def run():
            try:
                with self.svc.track("triton_stream", speech=True) as t:
                    async for data in await self.svc.speak(req, t):
                        put(data)
                    t.status = 200
                put(_END)
            except ServiceError as e:
                put(TritonError("%s: %s" % (e.code, e.message)))
            except Exception as e:  # handed to the caller's loop
                put(e)

        fut = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            while True:
                item = await q.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            fut.cancel()  # the client went away: the Speech's cleanup cancels the job


def _input(request, name: str):
    """An input of a PyTriton request (a mapping without .get), or None when absent."""
    return request[name] if name in request.keys() else None


def parse_rows(request) -> List[SpeakRequest]:
    """One request's rows → SpeakRequests (TritonError naming the input at fault)."""
    text = _input(request, "TEXT")
    if text is None:
        raise TritonError("missing_field: input TEXT is required: the text to speak")
    texts = np.asarray(text).reshape(len(text), -1)
    speed = _input(request, "SPEED")
    ssml = _input(request, "SSML")
    controls = {k: _input(request, n) for k, n in CONTROL_INPUTS.items()}
    emotion = _input(request, "EMOTION")
    rows = []
    for i in range(len(texts)):
        raw = texts[i][0]
        if isinstance(raw, (bytes, np.bytes_)):
            try:
                s = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TritonError("invalid_utf8: TEXT is not UTF-8: byte %d %s" % (exc.start, exc.reason))
        else:
            s = str(raw)
        sp = None
        if speed is not None:
            sp = float(np.asarray(speed).reshape(len(texts), -1)[i][0])
            if not (SPEED_MIN <= sp <= SPEED_MAX):
                raise TritonError("bad_speed: SPEED must be a number from %s to %s, got %g"
                                  % (SPEED_MIN, SPEED_MAX, sp))
        ss = None if ssml is None else bool(np.asarray(ssml).reshape(len(texts), -1)[i][0])
        values = {k: None if v is None else float(np.asarray(v).reshape(len(texts), -1)[i][0])
                  for k, v in controls.items()}
        emo = None
        if emotion is not None:
            raw = np.asarray(emotion).reshape(len(texts), -1)[i][0]
            try:
                emo = bytes(raw).decode("utf-8") if isinstance(raw, (bytes, np.bytes_)) else str(raw)
            except UnicodeDecodeError as exc:
                raise TritonError("invalid_utf8: EMOTION is not UTF-8: byte %d %s" % (exc.start, exc.reason))
        rows.append(SpeakRequest(text=s, speed=sp, ssml=ss, emotion=emo or None, pitch=values["pitch"],
                                 pitch_range=values["pitch_range"], energy=values["energy"]))
    return rows


# optional FP32 inputs → SpeakRequest fields (checked by the service: bad_control)
CONTROL_INPUTS = {"pitch": "PITCH", "pitch_range": "PITCH_RANGE", "energy": "ENERGY"}


def _pcm_outputs(pcms: List[bytes], sample_rate: int) -> Dict[str, np.ndarray]:
    arrays = [np.frombuffer(p, "<i2") for p in pcms]
    n = max((len(a) for a in arrays), default=0)
    audio = np.zeros((len(arrays), n), np.int16)
    for i, a in enumerate(arrays):
        audio[i, :len(a)] = a
    return {"AUDIO": audio,
            "AUDIO_LENGTH": np.array([[len(a)] for a in arrays], np.int32),
            "SAMPLE_RATE": np.full((len(arrays), 1), sample_rate, np.int32)}


def make_infer(bridge: Bridge):
    sr = bridge.svc.voice.config.sample_rate

    async def infer(requests):
        """One batch from Triton's dynamic batcher: every row of every request at once."""
        per_request = [parse_rows(r) for r in requests]
        flat = [row for rows in per_request for row in rows]
        pcms = await bridge.synthesize_all(flat)
        out, k = [], 0
        for rows in per_request:
            out.append(_pcm_outputs(pcms[k:k + len(rows)], sr))
            k += len(rows)
        return out
    return infer


def make_stream_infer(bridge: Bridge):
    sr = bridge.svc.voice.config.sample_rate

    async def infer(requests):
        """Decoupled: one response per audio chunk. An async generator, so PyTriton runs
        many streams at once on its loop (their decoder steps batched by the scheduler)."""
        (request,) = requests
        rows = parse_rows(request)
        if len(rows) != 1:
            raise TritonError("wrong_type: %s takes one TEXT row per request, got %d" % (STREAM_MODEL, len(rows)))
        async for data in bridge.stream(rows[0]):
            yield [_pcm_outputs([data], sr)]
    return infer


def serve_triton(svc: Service, host: str = "127.0.0.1", http_port: int = 8000, grpc_port: int = 8001,
                 metrics_port: int = 8002, max_batch: int = 16, queue_delay_us: int = 2000,
                 on_ready=None, blocking: bool = True):
    """Bind both models and serve (blocking) until SIGINT/SIGTERM; or, with blocking=False,
    return the started ``Triton`` (call ``.stop()``; tests use this)."""
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    svc.warm()
    bridge = Bridge(svc)
    inputs = [Tensor(name="TEXT", dtype=bytes, shape=(1,)),
              Tensor(name="SPEED", dtype=np.float32, shape=(1,), optional=True),
              Tensor(name="SSML", dtype=np.bool_, shape=(1,), optional=True)]
    inputs += [Tensor(name=n, dtype=np.float32, shape=(1,), optional=True) for n in CONTROL_INPUTS.values()]
    inputs += [Tensor(name="EMOTION", dtype=bytes, shape=(1,), optional=True)]
    outputs = [Tensor(name="AUDIO", dtype=np.int16, shape=(-1,)),
               Tensor(name="AUDIO_LENGTH", dtype=np.int32, shape=(1,)),
               Tensor(name="SAMPLE_RATE", dtype=np.int32, shape=(1,))]
    config = TritonConfig(http_address=host, http_port=http_port, grpc_address=host, grpc_port=grpc_port,
                          metrics_port=metrics_port, allow_gpu_metrics=False, exit_timeout_secs=5)
    triton = Triton(config=config)
    triton.bind(model_name=MODEL, infer_func=make_infer(bridge), inputs=inputs, outputs=outputs,
                config=ModelConfig(max_batch_size=max_batch,
                                   batcher=DynamicBatcher(max_queue_delay_microseconds=queue_delay_us)),
                strict=True)
    # one instance each: PyTriton 0.7 fails to start a second instance of a model on this
    # machine (its handshake socket refuses the connection); the async callables give the
    # concurrency instead
    triton.bind(model_name=STREAM_MODEL, infer_func=make_stream_infer(bridge),
                inputs=inputs, outputs=outputs, config=ModelConfig(max_batch_size=1, decoupled=True), strict=True)
    if not blocking:
        triton.run()
        triton.bridge = bridge  # closed by the caller after stop()
        return triton
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        triton.run()
        if on_ready:
            on_ready()
        while triton.is_alive() and not stop.wait(1.0):
            pass
    finally:
        triton.stop()
        bridge.close()
        svc.scheduler.close()
    return None

