"""The HTTP service under concurrent load, with and without batching, side by side; and the
phrase cache's speed-up.

    python -m benchmarks.serve_load [--voice voices/default] [--variant fp32] [--clients 1,4,16]

For each mode (batching on / off) the service runs in this process on a loopback port with the
phrase cache off; for each concurrency C, C client threads send streamed ``POST /v1/tts``
requests (distinct sentences; max(16, 2·C) timed requests after a warm-up round of C) and
time the first audio byte and the last byte of every response. Throughput is requests and
seconds of audio answered per wall-clock second. Then the cache: one sentence synthesized, then
the same request answered from memory, median of 20 each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edgetts.phrase_cache import PhraseCache
from edgetts.scheduler import Scheduler
from edgetts.server import Server, Service
from edgetts.voice import Voice

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


def request(port: int, text: str):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/v1/tts", body=json.dumps({"text": text, "stream": True, "format": "pcm"}).encode(),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    first_chunk = r.read1(65536) if hasattr(r, "read1") else r.read(2)
    t_first = time.perf_counter() - t0
    rest = r.read()
    total = time.perf_counter() - t0
    c.close()
    if r.status != 200:
        raise RuntimeError("HTTP %d: %s" % (r.status, (first_chunk + rest)[:200]))
    return t_first, total, (len(first_chunk) + len(rest)) / 2 / 24000


def run_mode(voice, batching: bool, clients, rounds: int):
    sched = Scheduler(voice, max_queue=256, batching=batching, max_batch=16)
    svc = Service(voice, "default", PhraseCache(memory_bytes=0), sched, request_timeout_s=600)
    httpd = Server(("127.0.0.1", 0), svc)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    svc.warm()
    port = httpd.server_address[1]
    rows = []
    try:
        for c in clients:
            n = max(16, c * rounds)
            texts = [SENTENCES[i % len(SENTENCES)] + ("" if i < len(SENTENCES) else "第%d遍。" % i)
                     for i in range(c + n)]
            with ThreadPoolExecutor(c) as ex:
                list(ex.map(lambda t: request(port, t), texts[:c]))  # warm-up round
                sched.batch_sizes.clear()
                t0 = time.perf_counter()
                res = list(ex.map(lambda t: request(port, t), texts[c:]))
                wall = time.perf_counter() - t0
            firsts = np.array([r[0] for r in res]) * 1000
            totals = np.array([r[1] for r in res]) * 1000
            audio = sum(r[2] for r in res)
            rows.append({"batching": batching, "clients": c, "requests": len(res),
                         "req_per_s": len(res) / wall, "audio_s_per_s": audio / wall,
                         "p50_ms": float(np.percentile(totals, 50)), "p95_ms": float(np.percentile(totals, 95)),
                         "first_audio_p50_ms": float(np.percentile(firsts, 50)),
                         "first_audio_p95_ms": float(np.percentile(firsts, 95)),
                         "mean_batch": statistics.mean(sched.batch_sizes) if sched.batch_sizes else 1.0})
    finally:
        httpd.shutdown()
        sched.close()
        httpd.server_close()
    return rows


def cache_speedup(voice, repeats: int = 20):
    sched = Scheduler(voice, batching=False)
    svc = Service(voice, "default", PhraseCache(), sched)
    httpd = Server(("127.0.0.1", 0), svc)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    svc.warm()
    port = httpd.server_address[1]
    try:
        miss, hit = [], []
        for i in range(repeats):
            text = SENTENCES[i % len(SENTENCES)] + "第%d次。" % i
            miss.append(request(port, text)[1])
            hit.append(request(port, text)[1])
        return statistics.median(miss) * 1000, statistics.median(hit) * 1000
    finally:
        httpd.shutdown()
        sched.close()
        httpd.server_close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--variant", default="fp32")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    voice = Voice.load(a.voice, provider="cpu", variant=a.variant)
    clients = [int(x) for x in a.clients.split(",")]
    rows = []
    for batching in (False, True):
        rows += run_mode(voice, batching, clients, a.rounds)
    miss_ms, hit_ms = cache_speedup(voice)
    print("voice %s (%s on %s)" % (a.voice, voice.variant, voice.providers[0]))
    print("| batching | clients | requests | req/s | audio s/s | P50 | P95 | first audio P50 / P95 | mean batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %.2f | %.1f | %.0f ms | %.0f ms | %.0f / %.0f ms | %.1f |" % (
            "on" if r["batching"] else "off", r["clients"], r["requests"], r["req_per_s"],
            r["audio_s_per_s"], r["p50_ms"], r["p95_ms"], r["first_audio_p50_ms"],
            r["first_audio_p95_ms"], r["mean_batch"]))
    print("phrase cache: miss %.0f ms, hit %.1f ms (median of 20): %.0fx faster" % (miss_ms, hit_ms, miss_ms / hit_ms))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "cache_miss_ms": miss_ms, "cache_hit_ms": hit_ms}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
