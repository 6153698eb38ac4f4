"""Prometheus metrics of the service, rendered in the text exposition format (no client library).

Counters and histograms are cumulative since start-up; histograms have the usual ``_bucket``
(with ``le``), ``_sum`` and ``_count`` series, so P50/P95/P99 can be read with
``histogram_quantile()``. Gauges are read from callables at scrape time.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable, Dict, List, Sequence, Tuple

LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
                   10.0, 30.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)


def _labels(pairs: Tuple[Tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    esc = [(k, str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')) for k, v in pairs]
    return "{" + ",".join('%s="%s"' % kv for kv in esc) + "}"


class Histogram:
    def __init__(self, buckets: Sequence[float]):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # last = +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, v)] += 1
        self.sum += v
        self.count += 1


class Metrics:
    def __init__(self, prefix: str = "edgetts"):
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: Dict[str, Dict[tuple, float]] = {}
        self._hists: Dict[str, Dict[tuple, Histogram]] = {}
        self._buckets: Dict[str, Sequence[float]] = {}
        self._help: Dict[str, str] = {}
        self._gauges: List[Tuple[str, str, Callable[[], List[Tuple[dict, float]]]]] = []

    def counter(self, name: str, help: str) -> None:
        self._counters[name] = {}
        self._help[name] = help

    def histogram(self, name: str, help: str, buckets: Sequence[float]) -> None:
        self._hists[name] = {}
        self._buckets[name] = buckets
        self._help[name] = help

    def gauge(self, name: str, help: str, read: Callable[[], List[Tuple[dict, float]]]) -> None:
        self._gauges.append((name, help, read))

    def inc(self, name: str, value: float = 1.0, **labels) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, value: float, **labels) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._hists[name]
            if key not in series:
                series[key] = Histogram(self._buckets[name])
            series[key].observe(value)

    def render(self) -> str:
        p = self.prefix
        out: List[str] = []
        with self._lock:
            for name, series in self._counters.items():
                out += ["# HELP %s_%s %s" % (p, name, self._help[name]), "# TYPE %s_%s counter" % (p, name)]
                for key, v in sorted(series.items()):
                    out.append("%s_%s%s %s" % (p, name, _labels(key), _num(v)))
            for name, hists in self._hists.items():
                out += ["# HELP %s_%s %s" % (p, name, self._help[name]), "# TYPE %s_%s histogram" % (p, name)]
                for key, h in sorted(hists.items()):
                    acc = 0
                    for le, n in zip(list(h.buckets) + [float("inf")], h.counts):
                        acc += n
                        lab = _labels(key + (("le", "+Inf" if le == float("inf") else _num(le)),))
                        out.append("%s_%s_bucket%s %d" % (p, name, lab, acc))
                    out.append("%s_%s_sum%s %s" % (p, name, _labels(key), _num(h.sum)))
                    out.append("%s_%s_count%s %d" % (p, name, _labels(key), h.count))
        for name, help, read in self._gauges:
            out += ["# HELP %s_%s %s" % (p, name, help), "# TYPE %s_%s gauge" % (p, name)]
            for labels, v in read():
                out.append("%s_%s%s %s" % (p, name, _labels(tuple(sorted(labels.items()))), _num(v)))
        return "\n".join(out) + "\n"


def _num(v: float) -> str:
    return repr(float(v)) if v != int(v) else str(int(v))
