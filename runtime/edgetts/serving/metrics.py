"""The service's Prometheus metrics, on ``prometheus_client`` (one registry per service).

- ``edgetts_requests_total{endpoint,status}``: every request; the endpoint is an HTTP path, or
  ``wyoming``, ``triton``, ``triton_stream``.
- ``edgetts_request_seconds{endpoint,outcome}``: request to last byte, by outcome: ``synthesized``,
  ``cache_hit``, ``error`` (any 4xx/5xx) or ``other`` (health, voices, metrics), so errors and
  cache hits do not hide synthesis latency. Buckets reach past the request timeout.
- ``edgetts_first_audio_seconds{outcome}``: request to the first audio byte (synthesized, cache_hit).
- ``edgetts_rtf``: synthesis seconds / audio seconds of synthesized requests.
- ``edgetts_cancelled_total``: speech requests whose client went away before the audio was
  complete; ``edgetts_jobs_stopped_total``: of their jobs, those the synthesizer stopped with work
  left (the rest had already finished their last step).
- ``edgetts_cache_hits_total``, ``edgetts_cache_misses_total``, ``edgetts_audio_seconds_total``.
- ``edgetts_decoder_waves_total`` and ``edgetts_decoder_wave_clauses_total`` (batching mode;
  their ratio is the mean batch size), counters because they only grow.
- Gauges read at scrape time: ``queue_length``, ``in_flight_requests``, ``ready``,
  ``cache_entries{tier}``, ``cache_hit_ratio``, ``provider_info{provider,variant,voice,batching}``.
- The process collector's ``process_resident_memory_bytes``, CPU seconds and open files.
- Where a GPU provider runs and NVML answers (``pip install 'edgetts[gpu]'``, i.e. nvidia-ml-py;
  not on a Jetson, which has no NVML): ``edgetts_gpu_memory_used_bytes``,
  ``edgetts_gpu_memory_total_bytes``, ``edgetts_gpu_process_memory_bytes`` (this process) and
  ``edgetts_gpu_utilization_ratio``.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
                   10.0, 20.0, 30.0, 60.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
OUTCOMES = ("synthesized", "cache_hit", "error", "other")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def latency_buckets(timeout_s: float) -> Tuple[float, ...]:
    """The latency buckets, with the top finite one at or past the request timeout."""
    top = max(LATENCY_BUCKETS[-1], float(timeout_s))
    extra = () if top in LATENCY_BUCKETS else (top,)
    return tuple(sorted(LATENCY_BUCKETS + extra))


class ServiceMetrics:
    """Everything ``/metrics`` shows. ``reads`` holds the scrape-time readers (see ``_Live``)."""

    def __init__(self, timeout_s: float, reads: "LiveReads", gpu_device: Optional[int] = None):
        r = self.registry = CollectorRegistry()
        ns = "edgetts"
        self.requests = Counter("requests", "Requests by endpoint (an HTTP path, wyoming, triton, "
                                "triton_stream) and HTTP-style status code.",
                                ["endpoint", "status"], namespace=ns, registry=r)
        self.request_seconds = Histogram(
            "request_seconds", "Time from request to last byte, by outcome (synthesized, cache_hit, "
            "error, other).", ["endpoint", "outcome"], namespace=ns, registry=r,
            buckets=latency_buckets(timeout_s))
        self.first_audio_seconds = Histogram(
            "first_audio_seconds", "Time from request to the first audio byte, by outcome.",
            ["outcome"], namespace=ns, registry=r, buckets=latency_buckets(timeout_s))
        self.rtf = Histogram("rtf", "Synthesis time / audio duration of synthesized requests.",
                             namespace=ns, registry=r, buckets=RTF_BUCKETS)
        self.cache_hits = Counter("cache_hits", "Requests answered from the phrase cache.",
                                  namespace=ns, registry=r)
        self.cache_misses = Counter("cache_misses", "Requests that had to be synthesized.",
                                    namespace=ns, registry=r)
        self.cancelled = Counter("cancelled", "Speech requests whose client went away before the audio "
                                 "was complete.", namespace=ns, registry=r)
        self.audio_seconds = Counter("audio_seconds", "Seconds of audio sent.", namespace=ns, registry=r)
        for name, doc, read in (("queue_length", "Jobs waiting for the synthesizer.", reads.queue_length),
                                ("in_flight_requests", "Requests being answered now.", reads.in_flight),
                                ("ready", "1 once sessions are warm and the service is not draining.",
                                 reads.ready)):
            Gauge(name, doc, namespace=ns, registry=r).set_function(read)
        r.register(_Live(reads))
        ProcessCollector(registry=r)
        self.gpu: Optional[GpuCollector] = None
        if gpu_device is not None:
            self.gpu = GpuCollector(gpu_device)
            r.register(self.gpu)

    def render(self) -> str:
        """The text exposition format, as ``/metrics`` sends it."""
        return generate_latest(self.registry).decode("utf-8")


class LiveReads(NamedTuple):
    """Scrape-time readers the service provides (plain callables, so tests can use fakes)."""

    queue_length: Callable[[], float]
    in_flight: Callable[[], float]
    ready: Callable[[], float]
    cache_stats: Callable[[], Dict[str, int]]
    waves: Callable[[], Tuple[int, int]]
    stopped: Callable[[], int]
    provider: Callable[[], Dict[str, str]]


class _Live:
    """The families that are read, not counted: cache entries and hit ratio, batching waves,
    the provider."""

    def __init__(self, reads: LiveReads):
        self.reads = reads

    def describe(self) -> List:
        return []  # read at scrape time only

    def collect(self) -> Iterable:
        s = self.reads.cache_stats()
        entries = GaugeMetricFamily("edgetts_cache_entries", "Phrase cache entries by tier.", labels=["tier"])
        entries.add_metric(["memory"], s["memory_entries"])
        entries.add_metric(["disk"], s["disk_entries"])
        yield entries
        n = s["hits"] + s["misses"]
        yield GaugeMetricFamily("edgetts_cache_hit_ratio", "Hits / (hits + misses) since start.",
                                value=s["hits"] / n if n else 0.0)
        waves, clauses = self.reads.waves()
        yield CounterMetricFamily("edgetts_decoder_waves", "Batched decoding waves run (batching mode).",
                                  value=waves)
        yield CounterMetricFamily("edgetts_decoder_wave_clauses", "Clauses decoded in those waves: "
                                  "clauses / waves is the mean batch size.", value=clauses)
        yield CounterMetricFamily("edgetts_jobs_stopped", "Jobs the synthesizer stopped with work left "
                                  "because their client went away.", value=self.reads.stopped())
        info = self.reads.provider()
        fam = GaugeMetricFamily("edgetts_provider_info", "The execution provider and graph variant in use.",
                                labels=sorted(info))
        fam.add_metric([info[k] for k in sorted(info)], 1)
        yield fam


class GpuCollector:
    """GPU memory and utilisation through NVML, read at scrape time. Without NVML (not
    installed, no driver, a Jetson) it yields nothing and ``reason`` says why, logged once."""

    def __init__(self, device: int):
        self.device = device
        self.reason: Optional[str] = None
        self._nvml = None
        self._handle = None
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(device)
            self._nvml = pynvml
        except ImportError:
            self.reason = "nvidia-ml-py is not installed (pip install 'edgetts[gpu]')"
        except Exception as exc:  # NVMLError: no library, no driver, no such device
            self.reason = "NVML is not available: %s" % exc
        if self.reason:
            logging.getLogger("edgetts.serving.metrics").info("no GPU metrics: %s", self.reason)

    def describe(self) -> List:
        return []

    def collect(self) -> Iterable:
        nv, h = self._nvml, self._handle
        if nv is None:
            return
        try:
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            util = nv.nvmlDeviceGetUtilizationRates(h)
            procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
        except Exception as exc:
            logging.getLogger("edgetts.serving.metrics").debug("NVML read failed: %s", exc)
            return
        label = [str(self.device)]
        for name, doc, value in (
                ("edgetts_gpu_memory_used_bytes", "GPU memory in use (all processes).", mem.used),
                ("edgetts_gpu_memory_total_bytes", "GPU memory in all.", mem.total),
                ("edgetts_gpu_process_memory_bytes", "GPU memory this process holds.",
                 sum(p.usedGpuMemory or 0 for p in procs if p.pid == os.getpid())),
                ("edgetts_gpu_utilization_ratio", "Share of the last sample period the GPU was busy.",
                 util.gpu / 100.0)):
            fam = GaugeMetricFamily(name, doc, labels=["device"])
            fam.add_metric(label, value)
            yield fam
