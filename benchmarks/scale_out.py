"""`edgetts serve` and `edgetts triton` side by side in one run: requests/s, P50/P95 latency and
first audio at 1, 4 and 16 concurrent clients (`make bench-scale`, in the Triton venv).

    python -m benchmarks.scale_out [--voice voices/default] [--variant fp32] [--clients 1,4,16]

Both engines run as real processes on loopback with the phrase cache off, the same voice and
variant, batching on (serve: clause-level batching, up to 16; Triton: its dynamic batcher up to
16 feeding the same scheduler). Three ways in:

- ``serve``: streamed ``POST /v1/tts`` (first audio = first body byte);
- ``triton grpc stream``: the decoupled ``edgetts_stream`` model over gRPC streaming (first
  audio = first response);
- ``triton http``: the ``edgetts`` model through the dynamic batcher, one whole answer (first
  audio = the answer).

Each concurrency level sends max(16, rounds·C) timed requests of distinct sentences after a
warm-up round of C; the engines alternate level by level.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks.serve_load import load_texts, request as serve_request, summarize


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def edgetts(*args) -> subprocess.Popen:
    exe = os.path.join(os.path.dirname(sys.executable), "edgetts")
    return subprocess.Popen([exe, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def wait_line(p: subprocess.Popen, needle: str, timeout: float = 300) -> str:
    t0 = time.time()
    assert p.stderr is not None
    for line in p.stderr:
        if needle in line:
            threading.Thread(target=p.stderr.read, daemon=True).start()
            return line
        if time.time() - t0 > timeout:
            break
    raise RuntimeError("did not start (exit %s)" % p.poll())


def text_input(module, text: str):
    inp = module.InferInput("TEXT", [1, 1], "BYTES")
    inp.set_data_from_numpy(np.array([[text.encode("utf-8")]], dtype=object))
    return [inp]


def triton_http(url: str, text: str):
    import tritonclient.http as th

    t0 = time.perf_counter()
    r = th.InferenceServerClient(url).infer("edgetts", text_input(th, text))
    total = time.perf_counter() - t0
    n = int(r.as_numpy("AUDIO_LENGTH").reshape(-1)[0])
    return total, total, n / 24000


def triton_stream(url: str, text: str):
    import tritonclient.grpc as tg

    got: "queue.Queue" = queue.Queue()
    c = tg.InferenceServerClient(url)
    c.start_stream(callback=lambda result, error: got.put((result, error, time.perf_counter())))
    t0 = time.perf_counter()
    first, samples = None, 0
    try:
        c.async_stream_infer("edgetts_stream", text_input(tg, text), enable_empty_final_response=True)
        while True:
            result, error, t = got.get(timeout=300)
            if error is not None:
                raise RuntimeError(str(error))
            audio = result.as_numpy("AUDIO")
            if audio is not None and audio.size:
                first = first or t - t0
                samples += int(result.as_numpy("AUDIO_LENGTH").reshape(-1)[0])
            final = result.get_response().parameters.get("triton_final_response")
            if final is not None and final.bool_param:
                return first, t - t0, samples / 24000
    finally:
        c.stop_stream()
        c.close()


def triton_counts(metrics_port: int):
    """(requests, executions) of the batched model, from Triton's own metrics."""
    import urllib.request

    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=10).read().decode()
    vals = {}
    for line in text.splitlines():
        for key in ("nv_inference_request_success", "nv_inference_exec_count"):
            if line.startswith(key + "{") and 'model="edgetts"' in line:
                vals[key] = float(line.rsplit(" ", 1)[1])
    return vals.get("nv_inference_request_success", 0.0), vals.get("nv_inference_exec_count", 0.0)


def run_level(name: str, call, clients: int, rounds: int, metrics_port: int = 0) -> dict:
    texts = load_texts(clients, rounds)
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(call, texts[:clients]))  # warm-up round
        before = triton_counts(metrics_port) if metrics_port else (0.0, 0.0)
        t0 = time.perf_counter()
        res = list(ex.map(call, texts[clients:]))
        wall = time.perf_counter() - t0
        after = triton_counts(metrics_port) if metrics_port else (0.0, 0.0)
    batch = (after[0] - before[0]) / (after[1] - before[1]) if after[1] > before[1] else None
    return {"engine": name, "clients": clients, **summarize(res, wall), "triton_mean_batch": batch}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    common = ["--voice", a.voice, "--variant", a.variant, "--provider", "cpu", "--cache-mb", "0",
              "--max-batch", "16"]
    sport = free_port()
    serve = edgetts("serve", "--port", str(sport), "--max-queue", "256", *common)
    hp, gp, mp = free_port(), free_port(), free_port()
    triton = edgetts("triton", "--http-port", str(hp), "--grpc-port", str(gp), "--metrics-port", str(mp),
                     "--max-queue", "256", *common)
    rows = []
    try:
        wait_line(serve, "serving")
        wait_line(triton, "Triton serving")
        engines = [("serve (HTTP stream)", lambda t: serve_request(sport, t), 0),
                   ("triton (gRPC stream)", lambda t: triton_stream("127.0.0.1:%d" % gp, t), 0),
                   ("triton (HTTP, batcher)", lambda t: triton_http("127.0.0.1:%d" % hp, t), mp)]
        for c in [int(x) for x in a.clients.split(",")]:
            for name, call, port in engines:
                rows.append(run_level(name, call, c, a.rounds, port))
    finally:
        for p in (serve, triton):
            p.terminate()
        for p in (serve, triton):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    print("voice %s (%s on CPU), phrase cache off, batching on" % (a.voice, a.variant))
    print("| engine | clients | requests | req/s | audio s/s | P50 | P95 | first audio P50 / P95 "
          "| Triton batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["triton_mean_batch"]
        print("| %s | %d | %d | %.2f | %.1f | %.0f ms | %.0f ms | %.0f / %.0f ms | %s |" % (
            r["engine"], r["clients"], r["requests"], r["req_per_s"], r["audio_s_per_s"], r["p50_ms"],
            r["p95_ms"], r["first_audio_p50_ms"], r["first_audio_p95_ms"], "%.1f" % b if b else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
