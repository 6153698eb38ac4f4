"""Memory under attack: the service's peak RSS while hostile request shapes are replayed against a
real ``edgetts serve --wyoming`` process on loopback (``make bench-attack``).

    python -m benchmarks.attack_memory --voice voices/default [--limit-mb 1536]

Shapes, each after the last (the peak RSS is the process's high-water mark, VmHWM):

- ``idle``: the service warm, no request (the baseline);
- ``wyoming-stream``: 8 connections streaming 500-character chunks with no sentence end (each
  stopped at the text limit);
- ``wyoming-idle``: 300 idle Wyoming connections held open (at most 64 are kept);
- ``long-breaks``: 8 concurrent SSML requests of 10-second breaks just under the audio limit;
- ``http-stream``: 16 concurrent streamed requests of about the longest text the service takes.

The limit defaults to the Kubernetes manifest's memory limit (1.5 GiB): the peak must stay under
it with a margin.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from typing import List


def _status_mb(pid: int, key: str) -> float:
    """A memory line of /proc/PID/status in MB (VmRSS: now; VmHWM: the high-water mark)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: dict, read: bool = True) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/v1/tts", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if read:
        while r.read(1 << 16):
            pass
    c.close()
    return r.status


def _wyoming_line(event: dict) -> bytes:
    data = event.pop("data", None)
    if data:
        raw = json.dumps(data).encode()
        event["data_length"] = len(raw)
        return (json.dumps(event) + "\n").encode() + raw
    return (json.dumps(event) + "\n").encode()


def _in_threads(n: int, fn) -> None:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voice", default="voices/default")
    ap.add_argument("--limit-mb", type=float, default=1536.0, help="the memory limit to stay under")
    a = ap.parse_args(argv)
    http_port, wy_port = _free_port(), _free_port()
    p = subprocess.Popen([sys.executable, "-m", "edgetts.cli", "serve", "--voice", a.voice, "--port", str(http_port),
                          "--wyoming", "tcp://127.0.0.1:%d" % wy_port, "--provider", "cpu"],
                         stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    for line in p.stderr:
        if "serving" in line:
            break
    threading.Thread(target=p.stderr.read, daemon=True).start()
    rows: List[str] = []

    def row(shape: str, note: str) -> None:
        rows.append("| %s | %.0f MB | %.0f MB | %s |"
                    % (shape, _status_mb(p.pid, "VmRSS"), _status_mb(p.pid, "VmHWM"), note))
        print(rows[-1], file=sys.stderr)

    try:
        row("idle", "warm, no request")

        def stream(i: int) -> None:
            with socket.create_connection(("127.0.0.1", wy_port), timeout=60) as s:
                s.sendall(_wyoming_line({"type": "synthesize-start", "data": {}}))
                for _ in range(2000):
                    try:
                        s.sendall(_wyoming_line({"type": "synthesize-chunk", "data": {"text": "好" * 500}}))
                    except OSError:
                        break

        _in_threads(8, stream)
        row("wyoming-stream", "8 connections x 2000 chunks of 500 characters, no sentence end")

        held = []
        for _ in range(300):
            try:
                held.append(socket.create_connection(("127.0.0.1", wy_port), timeout=10))
            except OSError:
                break
        time.sleep(1.0)
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        c.request("GET", "/readyz")
        ready = c.getresponse().status
        row("wyoming-idle", "300 idle connections opened; /readyz answered %d" % ready)
        for s in held:
            s.close()

        ssml = "<speak>" + '你<break time="10s"/>' * 85 + "</speak>"
        statuses: List[int] = []
        _in_threads(8, lambda i: statuses.append(_post(http_port, {"text": ssml})))
        row("long-breaks", "8 x 85 ten-second breaks at once (%s)" % ", ".join(str(s) for s in sorted(statuses)))

        text = ("前方五百米右转，请注意减速慢行，保持安全车距。" * 100)[:1990]  # + the request number
        statuses = []
        _in_threads(16, lambda i: statuses.append(_post(http_port, {"text": text + str(i), "stream": True,
                                                                      "format": "pcm"})))
        row("http-stream", "16 x 1990 characters streamed at once (%s)" % ", ".join(sorted(set(map(str, statuses)))))
        peak = _status_mb(p.pid, "VmHWM")
    finally:
        p.terminate()
        p.wait(timeout=60)
    print("| shape | RSS after | peak RSS so far | what |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    verdict = "under" if peak < a.limit_mb else "OVER"
    print("\npeak RSS %.0f MB: %s the %.0f MB limit (%.0f %% of it)" % (peak, verdict, a.limit_mb,
                                                                     100 * peak / a.limit_mb))
    return 0 if peak < a.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
