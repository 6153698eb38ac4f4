"""``edgetts bench``: speed and memory of every configuration this machine can run, side by side.

Each configuration runs in a fresh subprocess (so its peak RSS is its own), one after another in
one invocation, on the same fixed sentences: a warm-up pass, then ``repeats`` timed passes of
each sentence; figures are medians over the passes (step latencies: mean and P95 over every
step of every timed pass). Ratios compare each row's RTF and first-audio latency with the
baseline row (the PyTorch eager reference, which ``make bench`` adds from
``benchmarks/torch_baseline.py``, else the first row). This module never imports torch: the
reference runs in its own subprocess and reports through ``measure`` like every other row.

Definitions, all wall-clock, measured around ``synthesize()`` exactly as an application sees it:

- RTF: seconds to produce the whole WAV / seconds of audio (lower is faster).
- first audio: from the call to the first chunk with non-silent samples.
- step: one decoder step (``decoder_step.onnx`` run, r = 3 frames); also timed alone for a batch
  of 1, 4 and 16 requests decoded together (median of 48 steps), as the service batches them.
- vocoder RTF: time inside vocoder calls / seconds of audio (overlaps decoding when pipelined;
  summed over the threads where clauses are vocoded at once, so it can exceed the RTF).
- chars/s: characters of input text spoken per second of compute.
- peak RSS: the subprocess's maximum resident set (model, sessions, buffers, interpreter).
- start-up: opening the sessions plus the first synthesis, where TensorRT builds its engines
  (reported apart from the timed passes, which all run after a warm-up).
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

SENTENCES = {
    # 20 characters: the sentence the CPU targets are stated for.
    "short": "请注意，列车即将进站。",
    "medium": "前方五百米右转进入辅路，请注意减速慢行。",
    "long": "各位旅客请注意，由北京开往上海的列车即将到站，请您拿好随身物品，"
            "准备下车。下车时请注意列车与站台之间的空隙，感谢您的配合，祝您旅途愉快！",
}


@dataclass(frozen=True)
class Config:
    name: str
    kind: str                 # "onnx", or "torch" (the reference, run by its own worker)
    provider: str = "cpu"
    variant: str = "fp32"
    threads: int = 2          # cores the configuration may use
    pipeline: bool = True     # decoder worker thread beside the vocoder
    io_binding: bool = True   # GPU: caches stay on the device
    vocoder: str = "auto"     # "windowed": the overlapping-window vocoder even where a stateful one is
    parallel: int = 0         # clauses vocoded at once (0: the voice's default)
    note: str = ""
    worker: str = "edgetts.cli.bench"  # the module run as `python -m WORKER NAME` to measure it


CONFIGS = [
    Config("ort-fp32-t1", "onnx", variant="fp32", threads=1, pipeline=False,
           note="one thread: decode and vocode in turn"),
    Config("ort-fp32-t2", "onnx", variant="fp32", threads=2,
           note="default: decoder thread + vocoder thread"),
    Config("ort-fp32-t2-intraop", "onnx", variant="fp32", threads=2, pipeline=False,
           note="before the pipeline: every session 2 intra-op threads, one after another"),
    Config("ort-fp32-t2-serial", "onnx", variant="fp32", threads=2, parallel=1,
           note="stateful vocoder, one clause at a time"),
    Config("ort-fp32-t2-windowed", "onnx", variant="fp32", threads=2, parallel=1, vocoder="windowed",
           note="before the stateful vocoder: overlapping windows, one clause at a time"),
    Config("ort-int8-t1", "onnx", variant="int8", threads=1, pipeline=False),
    Config("ort-int8-t2", "onnx", variant="int8", threads=2),
    Config("ort-int8-t2-serial", "onnx", variant="int8", threads=2, parallel=1,
           note="stateful vocoder, one clause at a time"),
    Config("ort-int8-t2-windowed", "onnx", variant="int8", threads=2, parallel=1, vocoder="windowed",
           note="before the stateful vocoder: overlapping windows, one clause at a time"),
    Config("cuda-fp16", "onnx", provider="cuda", variant="fp16", io_binding=False,
           note="caches copied through the host every step"),
    Config("cuda-fp16-iobinding", "onnx", provider="cuda", variant="fp16",
           note="static cache kept on the device with IO binding"),
    Config("tensorrt-fp16", "onnx", provider="tensorrt", variant="fp16",
           note="engine build time reported separately"),
]
BY_NAME = {c.name: c for c in CONFIGS}


class _Timed:
    """A session whose ``run`` calls are timed (everything else passes through)."""

    def __init__(self, session, sink: List[float]):
        self._s = session
        self._sink = sink

    def _timed(self, fn, *a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            self._sink.append(time.perf_counter() - t)

    def run(self, *a, **k):
        return self._timed(self._s.run, *a, **k)

    def run_with_iobinding(self, *a, **k):
        return self._timed(self._s.run_with_iobinding, *a, **k)

    def __getattr__(self, name):
        return getattr(self._s, name)


def _peak_rss_mb() -> Optional[float]:
    try:
        import resource
    except ImportError:  # Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def _available(cfg: Config) -> Optional[str]:
    """None if the configuration can run here, else why not."""
    if cfg.kind == "torch":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return "torch is not installed (pip install 'edgetts[export]')"
        return None
    from ..engine.providers import probe

    r = probe(cfg.provider)
    return None if r.loads else "%s provider does not load here: %s" % (cfg.provider, r.detail)


def run_config(cfg: Config, voice_dir: Optional[str], repeats: int) -> dict:
    """Measure one ONNX configuration in this process (the worker side)."""
    from ..config import EngineOptions
    from ..engine.voice import Voice

    steps: List[float] = []
    voc: List[float] = []
    t0 = time.perf_counter()
    engine = EngineOptions(threads=1 if cfg.threads == 1 or cfg.pipeline else cfg.threads,
                           parallel_clauses=cfg.parallel,
                           io_binding=None if cfg.io_binding else False,  # False: numpy every step
                           windowed_vocoder=cfg.vocoder == "windowed")
    voice = Voice.load(voice_dir, provider=cfg.provider, variant=cfg.variant, engine=engine)
    if not cfg.pipeline and cfg.threads > 1:
        # the pre-pipeline layout: every session multi-threaded
        voice.reopen(lambda role, so: setattr(so, "intra_op_num_threads", cfg.threads))
    voice.decoder.session = _Timed(voice.decoder.session, steps)
    voice.vocoder.session = _Timed(voice.vocoder.session, voc)
    load_s = time.perf_counter() - t0
    row = measure(cfg, lambda text: voice.synthesize(text, pipeline=cfg.pipeline),
                  lambda: sum(voc), steps, repeats, load_s, voice.providers)
    row["step_ms_by_batch"] = _batched_steps(voice, steps)
    row["vocoder"] = type(voice.vocoder).__name__
    row["parallel_clauses"] = voice.parallel_clauses if cfg.pipeline else 1
    return row


def measure(cfg: Config, synth: Callable[[str], Iterable], vocoder_seconds: Callable[[], float],
            steps: List[float], repeats: int, load_s: float, providers: List[str]) -> dict:
    """Time `synth` on every sentence: a warm-up, then `repeats` timed passes. `steps` is the
    list the synthesizer appends each decoder step's seconds to; `vocoder_seconds()` the total
    time inside the vocoder so far."""
    from ..engine.audio import timed

    per: Dict[str, dict] = {}
    all_steps: List[float] = []
    voc_total, audio_total, compute_total, chars_total = 0.0, 0.0, 0.0, 0
    warmup_s = {}
    for key, text in SENTENCES.items():
        w = time.perf_counter()
        list(synth(text))  # warm-up (first-run allocations, TensorRT engine builds)
        warmup_s[key] = time.perf_counter() - w
        rtf, first = [], []
        for _ in range(repeats):
            del steps[:]
            v0 = vocoder_seconds()
            start = time.perf_counter()
            chunks, st = timed(synth(text), start)
            for _c in chunks:
                pass
            rtf.append(st["seconds"] / st["audio_s"])
            first.append(st["first_audio_s"])
            all_steps.extend(steps)
            voc_total += vocoder_seconds() - v0
            audio_total += st["audio_s"]
            compute_total += st["seconds"]
            chars_total += len(text)
        per[key] = {"chars": len(text), "audio_s": round(st["audio_s"], 3),
                    "rtf": statistics.median(rtf), "first_audio_ms": 1000 * statistics.median(first)}
    ms = np.asarray(all_steps) * 1000
    return {
        "step_ms_by_batch": {},
        "config": cfg.name, "note": cfg.note, "load_s": load_s, "warmup_s": warmup_s,
        "sentences": per,
        "step_ms_mean": float(ms.mean()) if ms.size else None,
        "step_ms_p95": float(np.percentile(ms, 95)) if ms.size else None,
        "vocoder_rtf": voc_total / audio_total,
        "chars_per_s": chars_total / compute_total,
        "peak_rss_mb": _peak_rss_mb(),
        "providers": providers,
    }


def _batched_steps(voice, steps: List[float]) -> Dict[str, float]:
    """One decoder step for B requests at once (the service's batching): median ms per step.
    B = 1, 4, 16, and 64 on a GPU, where a batch that size still costs little more than one."""
    dec = voice.decoder
    d = voice.config.d_model
    r = voice.config.reduction_factor
    rng = np.random.default_rng(0)
    out = {}
    gpu = voice.providers[0] != "CPUExecutionProvider"
    for b in (1, 4, 16, 64) if gpu else (1, 4, 16):
        ctx = rng.standard_normal((b, 48, r, d)).astype(np.float32)
        prog = np.zeros((b, 48, r, 2), np.float32)
        for _ in dec.batch_frames(ctx[:, :4], prog[:, :4]):
            pass
        del steps[:]
        for _ in dec.batch_frames(ctx, prog):
            pass
        out[str(b)] = 1000 * statistics.median(steps)
    return out


def run_all(names: List[str], voice_dir: Optional[str], repeats: int, echo=print,
            extra: Iterable[Config] = (), against: Optional[Tuple[str, str]] = None) -> List[dict]:
    """Run each configuration in its own subprocess, one after another. ``extra``: configs
    measured by other workers (the PyTorch reference in ``benchmarks/``). ``against``: (the
    ``runtime`` folder of another edgetts checkout, a voice bundle it exported): each ONNX
    configuration also runs on that build, just before this one, as the row "old: NAME"."""
    known = dict(BY_NAME, **{c.name: c for c in extra})
    rows = []
    for name in names:
        cfg = known[name]
        why = _available(cfg)
        if why:
            rows.append({"config": name, "skipped": why})
            echo("%-22s skipped: %s" % (name, why))
            continue
        if against is not None and cfg.kind == "onnx":
            old = cfg
            if os.path.exists(os.path.join(against[0], "edgetts", "bench.py")):
                old = replace(cfg, worker="edgetts.bench")  # a build from before the layered package
            rows.append(_run_worker(old, against[1], repeats, echo, "old: " + name,
                                    {"PYTHONPATH": os.path.abspath(against[0])}))
        rows.append(_run_worker(cfg, voice_dir, repeats, echo, name, {}))
    return rows


def _run_worker(cfg: Config, voice_dir: Optional[str], repeats: int, echo, label: str,
                env_extra: Dict[str, str]) -> dict:
    echo("%-22s running..." % label)
    cmd = [sys.executable, "-m", cfg.worker, cfg.name, "--repeats", str(repeats)]
    if voice_dir:
        cmd += ["--voice", voice_dir]
    env = dict(os.environ, OMP_NUM_THREADS=str(cfg.threads), **env_extra)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        tail = p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["exit %d" % p.returncode]
        echo("%-22s FAILED: %s" % (label, tail[0]))
        return {"config": label, "failed": tail[0]}
    row = json.loads(p.stdout.decode("utf-8").strip().splitlines()[-1])
    row["config"] = label
    return row


def machine() -> dict:
    import platform

    try:
        import onnxruntime as ort

        ort_version = ort.__version__
    except ImportError:
        ort_version = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": ort_version, "system": platform.system(),
            "memory_read_gb_s": memory_read_gb_s()}


@functools.lru_cache(maxsize=None)  # once per process
def memory_read_gb_s(megabytes: int = 15) -> float:
    """How fast one thread reads `megabytes` that it read just before (GB/s, best of 20): the
    FP32 decoder step reads its 15 MB of weights once per step, so its latency follows this
    figure, which can differ severalfold between machines of the same description (a cache
    that holds the weights, or memory shared with other tenants)."""
    a = np.ones(megabytes * 1024 * 1024 // 4, np.float32)
    a.sum()
    best = float("inf")
    for _ in range(20):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best / 1e9


def header(voice_dir: str) -> str:
    m = machine()
    return ("%s, %s cores, Python %s, ONNX Runtime %s, memory read %.1f GB/s (15 MB); voice %s; "
            "sentences: short %d, medium %d, long %d characters"
            % (m["cpu"], m["cores"], m["python"], m["onnxruntime"], m["memory_read_gb_s"], voice_dir,
               *(len(SENTENCES[k]) for k in ("short", "medium", "long"))))


def table(rows: List[dict], baseline: Optional[str] = None) -> str:
    """The main table; ratios are against the row named `baseline` (default: the PyTorch
    reference, else the first row)."""
    ok = [r for r in rows if "sentences" in r]
    base = next((r for r in ok if r["config"] == (baseline or "torch-eager")), ok[0] if ok else {})
    name = (base or {}).get("config", "-")
    head = ("| config | RTF short | RTF medium | RTF long | first audio (medium) | step mean / P95 "
            "| vocoder RTF | chars/s | peak RSS | start-up | RTF vs %s | first audio vs %s "
            "| chars/s vs %s |" % (name, name, name))
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        if "sentences" not in r:
            lines.append("| %s | %s |" % (r["config"], r.get("skipped") or "FAILED: " + r.get("failed", "")))
            continue
        s = r["sentences"]
        rss = "%.0f MB" % r["peak_rss_mb"] if r["peak_rss_mb"] else "-"
        step = ("%.2f / %.2f ms" % (r["step_ms_mean"], r["step_ms_p95"])) if r["step_ms_mean"] else "-"
        ratio = s["medium"]["rtf"] / base["sentences"]["medium"]["rtf"]
        fratio = s["medium"]["first_audio_ms"] / base["sentences"]["medium"]["first_audio_ms"]
        # sessions opened + the first synthesis (where TensorRT builds its engines)
        startup = r["load_s"] + r["warmup_s"]["short"]
        lines.append("| %s | %.3f | %.3f | %.3f | %.0f ms | %s | %.3f | %.0f | %s | %.1f s | %.2fx | %.2fx "
                     "| %.2fx |" % (
                         r["config"], s["short"]["rtf"], s["medium"]["rtf"], s["long"]["rtf"],
                         s["medium"]["first_audio_ms"], step, r["vocoder_rtf"], r["chars_per_s"], rss,
                         startup, ratio, fratio, r["chars_per_s"] / base["chars_per_s"]))
    return "\n".join(lines)


def batch_table(rows: List[dict]) -> str:
    lines = ["| config | decoder step, batch 1 | batch 4 | batch 16 | batch 64 (GPU) | per request at 16 |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        b = r.get("step_ms_by_batch")
        if b:
            lines.append("| %s | %.2f ms | %.2f ms | %.2f ms | %s | %.2f ms |"
                         % (r["config"], b["1"], b["4"], b["16"],
                            "%.2f ms" % b["64"] if "64" in b else "–", b["16"] / 16))
    return "\n".join(lines)


def report(rows: List[dict], voice_dir: str, repeats: int, json_path: Optional[str] = None,
           echo: Callable[[str], None] = print, note: Callable[[str], None] = print,
           baseline: Optional[str] = None) -> None:
    """The tables (and, with `json_path`, the raw rows with the machine) for `rows`."""
    echo(header(voice_dir))
    echo(table(rows, baseline))
    echo("")
    echo(batch_table(rows))
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"machine": machine(), "sentences": SENTENCES, "repeats": repeats,
                       "rows": rows}, f, ensure_ascii=False, indent=1)
        note("wrote %s" % json_path)


def main(argv=None) -> int:
    """Worker entry: ``python -m edgetts.cli.bench CONFIG`` prints one JSON line."""
    import argparse

    ap = argparse.ArgumentParser(description="measure one benchmark configuration")
    ap.add_argument("config", choices=sorted(BY_NAME))
    ap.add_argument("--voice", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    print(json.dumps(run_config(BY_NAME[a.config], a.voice, a.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
