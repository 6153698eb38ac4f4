"""The same text, options and variant give the same samples: streamed or whole, decoded and
vocoded in turn or pipelined, one clause or four at once, alone or batched with other requests in
the service's scheduler, idle or with every core busy with another process.

Equality is exact (``np.array_equal``), not a tolerance: vocoder calls are sized from frame counts
alone, and with the FP32 and INT8 graphs on ONNX Runtime's CPU provider a clause's frames do not
depend on what it is decoded with (FP32 batches are bit-identical row by row; INT8 never batches).

One stated exception: ONNX Runtime 1.11 (the Jetson Nano's) computes a row of an FP32 decoder batch
of 4 or more clauses (12+ matrix rows) with other kernels than the same clause alone: frames within
6.4e-6, audio within 1.8 steps of 16-bit PCM on these texts (batches of 2 and 3 are exact, so
``synthesize``, which decodes at most 2 clauses together, stays exact). On 1.31 every batch size
is exact. So the service's batched scheduler is held to 3 steps on runtimes older than 1.31.
"""

import queue
import subprocess
import sys
import threading

import numpy as np
import pytest

from edgetts.config import EngineOptions, SynthesisOptions
from edgetts.serving.scheduler import Job, Scheduler
from edgetts.engine.voice import Voice

# five clauses in three sentences: groups of two, a clause alone, pauses between
TEXT = "今天天气很好，我们一起去公园散步吧。前方五百米右转，请注意减速慢行。谢谢配合！"
OTHERS = ["请系好安全带，我们即将起飞。", "欢迎光临，请问您需要什么帮助？", "明天有小雨，出门记得带伞。"]


@pytest.fixture(scope="module", params=["fp32", "int8"])
def voice(request, default_bundle):
    return Voice.load(default_bundle, provider="cpu", variant=request.param)


@pytest.fixture
def busy_cores():
    """Every core busy with another process while the test runs."""
    import os

    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _same_voice(voice, **engine):
    """The same sessions under other engine options."""
    return Voice(voice.bundle, voice.config, voice.sessions, voice.variant, voice.providers,
                 EngineOptions(**engine))


def _through_scheduler(voice, texts, batching):
    """Every text as a job of one scheduler, all submitted at once; → the audio of each."""
    sched = Scheduler(voice, max_queue=16, batching=batching, max_batch=8)
    try:
        sched.pause()  # all jobs queued before the first wave, so they are decoded together
        jobs = [Job(voice.prepare(t), SynthesisOptions(), 120) for t in texts]
        for job in jobs:
            sched.submit(job)
        sched.resume()
        out = []
        for job in jobs:
            parts = []
            while True:
                item = job.out.get(timeout=120)
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                parts.append(item.audio)
            out.append(np.concatenate(parts))
        return out, list(sched.batch_sizes)
    finally:
        sched.close()


def test_every_way_through_the_engine_gives_the_same_samples(voice, busy_cores):
    ref = voice.synthesize_array(TEXT, pipeline=False)  # this thread, in turn
    assert ref.size > 24000
    streamed = [c.audio for c in voice.synthesize(TEXT)]
    assert len(streamed) > 5 and np.array_equal(np.concatenate(streamed), ref)
    for engine in ({"parallel_clauses": 1}, {"parallel_clauses": 4, "decode_group": 1},
                   {"parallel_clauses": 4, "decode_group": 3}):
        v = _same_voice(voice, **engine)
        for _ in range(2):
            assert np.array_equal(v.synthesize_array(TEXT), ref), engine


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "single"])
def test_the_service_scheduler_gives_the_same_samples_as_synthesize(voice, batching):
    alone = [voice.synthesize_array(t) for t in [TEXT] + OTHERS]
    got, sizes = _through_scheduler(voice, [TEXT] + OTHERS, batching)
    if batching and voice.batch_invariant:
        assert max(sizes) > 1  # the requests really were decoded together
    if not voice.batch_invariant:
        assert set(sizes) <= {1}  # INT8: one clause per wave
    import onnxruntime as ort

    older = tuple(int(x) for x in ort.__version__.split(".")[:2]) < (1, 31)
    steps = 3.0 if batching and older and max(sizes) >= 4 else 0.0  # see the module's docstring
    for a, b in zip(got, alone):
        assert a.shape == b.shape and np.abs(a - b).max() * 32768 <= steps


def test_the_same_samples_from_threads_sharing_the_voice(voice):
    """Requests synthesized at once on one voice from several threads (an application's own
    concurrency): each gets exactly its audio alone."""
    texts = [TEXT] + OTHERS
    alone = [voice.synthesize_array(t) for t in texts]
    got: "queue.Queue" = queue.Queue()

    def run(i):
        got.put((i, voice.synthesize_array(texts[i])))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    results = dict(got.get_nowait() for _ in texts)
    for i, a in enumerate(alone):
        assert np.array_equal(results[i], a)
