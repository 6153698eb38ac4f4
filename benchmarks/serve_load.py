"""The HTTP service under concurrent load, with and without batching, while idle connections are
held open; optionally an older build beside this one in the same run; and the phrase cache's
speed-up.

    python -m benchmarks.serve_load [--voice voices/default] [--variant fp32] [--clients 1,4,16]
                                    [--idle 32] [--against OLD_SRC]

Each stack runs as a real ``edgetts serve`` process on a loopback port (phrase cache off, queue
256, batch up to 16). ``--against OLD_SRC`` adds the same rows for another build: OLD_SRC is a
folder holding its ``edgetts`` package (e.g. ``git worktree add /tmp/old <commit>``, then
``/tmp/old/runtime``), run by this Python through ``PYTHONPATH``; the two stacks alternate per
row so that machine noise hits both alike.

For each concurrency C, C client threads send streamed ``POST /v1/tts`` requests (distinct
sentences; max(16, rounds·C) timed requests after a warm-up round of C) and time the first
audio byte and the last byte of every response, while ``--idle`` other connections stay open
doing nothing (reopened whenever the server closes one, as a pool of keep-alive clients would).
Refused requests (503) count as errors. Throughput is requests and seconds of audio answered per
wall-clock second; the mean batch comes from the service's own batching counters. Then the
flood check: 64 idle connections and 64 that send a header byte every 0.5 s, and whether
``/readyz`` still answers 200 within 2 s. Then the cache: one sentence synthesized, then the
same request answered from memory, median of 20 each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import numpy as np

SENTENCES = [
    "前方五百米右转进入辅路，请注意减速慢行。", "请系好安全带，我们即将起飞。", "电梯正在上行，请稍候。",
    "今天天气很好，我们一起去公园散步吧。", "您的订单已发货，预计三天内送达。", "空气质量良好，适合户外运动。",
    "请注意，列车即将进站。", "谢谢你的帮助，我们下次再见。", "本店营业时间为早上九点到晚上十点。",
    "银行卡余额不足，请充值。", "请重新启动设备后再试一次。", "距离目的地还有十二公里。",
    "孩子们正在教室里认真读书。", "明天有小雨，出门记得带伞。", "现在是上午十点十五分。",
    "请把音乐的声音调小一点。", "火车站在地铁二号线的终点。", "这个问题我需要再想一想。",
    "山上的风景非常美丽。", "我们的会议改到了周五下午。", "手机电量剩余百分之十五。",
    "请输入六位数字密码。", "路边的树叶都变黄了。", "妈妈做的红烧肉特别好吃。",
]


class Stack:
    """One `edgetts serve` process (this build, or another through PYTHONPATH)."""

    def __init__(self, name: str, src: Optional[str], voice: str, variant: str, batching: bool,
                 cache_mb: int = 0):
        self.name = name
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = os.path.abspath(src)
        cmd = [sys.executable, "-m", "edgetts.cli", "serve", "--voice", voice, "--variant", variant,
               "--provider", "cpu", "--port", "0", "--cache-mb", str(cache_mb), "--max-queue", "256",
               "--max-batch", "16", "--timeout", "600", "--batching" if batching else "--no-batching"]
        self.p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        assert self.p.stderr is not None
        for line in self.p.stderr:
            if "serving" in line:
                self.port = int(line.rsplit(":", 1)[1].split()[0])
                threading.Thread(target=self.p.stderr.read, daemon=True).start()
                return
        raise RuntimeError("%s: serve did not start (exit %s)" % (name, self.p.wait()))

    def metric(self, name: str) -> float:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def close(self) -> None:
        self.p.terminate()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()


class IdlePool:
    """`n` connections that send nothing, reopened when the server closes them."""

    def __init__(self, port: int, n: int):
        self.port, self.n = port, n
        self.socks: List[socket.socket] = []
        self.reopened = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            alive = []
            for s in self.socks:
                try:
                    s.setblocking(False)
                    gone = s.recv(1, socket.MSG_PEEK) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    s.close()
                else:
                    alive.append(s)
            self.reopened += len(self.socks) - len(alive)
            while len(alive) < self.n:
                try:
                    alive.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
                except OSError:
                    break
            self.socks = alive
            self._stop.wait(0.2)

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        for s in self.socks:
            s.close()


def request(port: int, text: str):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        c.request("POST", "/v1/tts", body=json.dumps({"text": text, "stream": True, "format": "pcm"}).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        first_chunk = r.read1(65536) if hasattr(r, "read1") else r.read(2)
        t_first = time.perf_counter() - t0
        rest = r.read()
    except OSError:
        return None
    finally:
        c.close()
    if r.status != 200:
        return None
    return t_first, time.perf_counter() - t0, (len(first_chunk) + len(rest)) / 2 / 24000


def load_texts(clients: int, rounds: int):
    """A warm-up round of `clients` texts, then max(16, rounds·clients) timed ones, all distinct."""
    n = max(16, clients * rounds)
    return [SENTENCES[i % len(SENTENCES)] + ("" if i < len(SENTENCES) else "第%d遍。" % i)
            for i in range(clients + n)]


def summarize(res, wall: float) -> dict:
    """Rate and latency figures of one timed round: `res` holds (first audio s, total s, audio s)
    per request, or None for a refused one."""
    ok = [r for r in res if r is not None]
    firsts = np.array([r[0] for r in ok] or [np.nan]) * 1000
    totals = np.array([r[1] for r in ok] or [np.nan]) * 1000
    return {"requests": len(res), "errors": len(res) - len(ok),
            "req_per_s": len(ok) / wall, "audio_s_per_s": sum(r[2] for r in ok) / wall,
            "p50_ms": float(np.percentile(totals, 50)), "p95_ms": float(np.percentile(totals, 95)),
            "first_audio_p50_ms": float(np.percentile(firsts, 50)),
            "first_audio_p95_ms": float(np.percentile(firsts, 95))}


def measure(stack: Stack, clients: int, rounds: int, idle: int, batching: bool) -> dict:
    texts = load_texts(clients, rounds)
    pool = IdlePool(stack.port, idle) if idle else None
    try:
        with ThreadPoolExecutor(clients) as ex:
            list(ex.map(lambda t: request(stack.port, t), texts[:clients]))  # warm-up round
            waves0 = stack.metric("edgetts_decoder_waves_total")
            clauses0 = stack.metric("edgetts_decoder_wave_clauses_total")
            t0 = time.perf_counter()
            res = list(ex.map(lambda t: request(stack.port, t), texts[clients:]))
            wall = time.perf_counter() - t0
    finally:
        if pool:
            pool.close()
    waves = stack.metric("edgetts_decoder_waves_total") - waves0
    clauses = stack.metric("edgetts_decoder_wave_clauses_total") - clauses0
    return {"stack": stack.name, "batching": batching, "clients": clients, "idle": idle,
            **summarize(res, wall), "mean_batch": clauses / waves if waves else 1.0}


def flood(stack: Stack, idle: int = 64, slow: int = 64) -> dict:
    """Open `idle` silent and `slow` trickling connections; does /readyz answer? (old stacks
    answered 503 "too many connections" to everyone once 64 were open)."""
    socks = []
    try:
        for _ in range(idle):
            socks.append(socket.create_connection(("127.0.0.1", stack.port), timeout=5))
        trickle = []
        for _ in range(slow):
            s = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
            s.sendall(b"GET /readyz HTTP/1.1\r\nH")
            trickle.append(s)
        socks += trickle
        results = []
        for _ in range(6):
            time.sleep(0.5)
            for s in trickle:
                try:
                    s.sendall(b"o")
                except OSError:
                    pass
            c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=2)
            try:
                c.request("GET", "/readyz")
                results.append(c.getresponse().status)
            except OSError:
                results.append(0)  # no answer within 2 s
            finally:
                c.close()
        return {"stack": stack.name, "readyz": results}
    finally:
        for s in socks:
            s.close()


def cache_speedup(src: Optional[str], voice: str, variant: str, repeats: int = 20):
    stack = Stack("cache", src, voice, variant, batching=False, cache_mb=64)
    try:
        miss, hit = [], []
        for i in range(repeats):
            text = SENTENCES[i % len(SENTENCES)] + "第%d次。" % i
            miss.append(request(stack.port, text)[1])
            hit.append(request(stack.port, text)[1])
        return statistics.median(miss) * 1000, statistics.median(hit) * 1000
    finally:
        stack.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--idle", type=int, default=32, help="idle connections held open during the load")
    ap.add_argument("--against", default=None, metavar="OLD_SRC",
                    help="folder holding another build's edgetts package, measured beside this one")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    clients = [int(x) for x in a.clients.split(",")]
    builds = [("this", None)] + ([("old", a.against)] if a.against else [])
    rows, floods = [], []
    for batching in (False, True):
        stacks = [Stack(name, src, a.voice, a.variant, batching) for name, src in builds]
        try:
            for c in clients:
                for s in stacks:
                    rows.append(measure(s, c, a.rounds, a.idle, batching))
            if batching:
                floods = [flood(s) for s in stacks]
        finally:
            for s in stacks:
                s.close()
    miss_ms, hit_ms = cache_speedup(None, a.voice, a.variant)
    print("voice %s (%s on CPU), %d idle connections held open during the load" % (a.voice, a.variant, a.idle))
    print("| stack | batching | clients | requests | errors | req/s | audio s/s | P50 | P95 "
          "| first audio P50 / P95 | mean batch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %d | %d | %d | %.2f | %.1f | %.0f ms | %.0f ms | %.0f / %.0f ms | %.1f |" % (
            r["stack"], "on" if r["batching"] else "off", r["clients"], r["requests"], r["errors"],
            r["req_per_s"], r["audio_s_per_s"], r["p50_ms"], r["p95_ms"], r["first_audio_p50_ms"],
            r["first_audio_p95_ms"], r["mean_batch"]))
    for f in floods:
        print("flood (64 idle + 64 slow-header connections), %s: /readyz every 0.5 s answered %s"
              % (f["stack"], " ".join(str(x) if x else "timeout" for x in f["readyz"])))
    print("phrase cache: miss %.0f ms, hit %.1f ms (median of 20): %.0fx faster" % (miss_ms, hit_ms, miss_ms / hit_ms))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "floods": floods, "cache_miss_ms": miss_ms, "cache_hit_ms": hit_ms}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
