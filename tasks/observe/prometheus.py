"""The metrics in Prometheus's text format, through the official ``prometheus-client`` (``tasks[metrics]``).

A ``TasksCollector`` reads the backend at each scrape: the per-minute counters (``metric_series``) and the queues'
live counts. Prometheus counters must never go down, while the stored series is a sliding 24-hour window; so the
collector keeps running totals: at its first scrape they start from the window's sums, and each later scrape adds
what each minute grew by since it was last read. Two exporters each count from their own start, and Prometheus's
``rate()`` and ``increase()`` give the same answers from either.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from ..backends.base import Backend
from ..model import MetricPoint
from .series import BUCKETS_S, RETENTION_S

#: Outcome label values, in the order ``_Totals.outcomes`` keeps them.
OUTCOMES = ("succeeded", "failed", "retried", "cancelled")
#: Queue states of ``tasks_queue_jobs``.
QUEUE_STATES = ("ready", "scheduled", "running", "failed")


@dataclass
class _Totals:
    """Running totals of one queue and job name since this collector started."""

    outcomes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_S) + 1))
    run_s: float = 0.0
    wait_s: float = 0.0

    def add(self, point: MetricPoint, sign: int = 1) -> None:
        for i, value in enumerate((point.succeeded, point.failed, point.retried, point.cancelled)):
            self.outcomes[i] += sign * value
        for i, value in enumerate(point.run_buckets):
            self.buckets[i] += sign * value
        self.run_s += sign * point.run_s_sum
        self.wait_s += sign * point.wait_s_sum


class TasksCollector(Collector):
    """Collects ``tasks_*`` metrics from ``backend`` (or the one ``backend_of()`` returns) at each scrape."""

    def __init__(self, backend_of: Callable[[], Backend], *, clock: Callable[[], float] = time.time) -> None:
        self.backend_of = backend_of
        self.clock = clock
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], _Totals] = {}
        self._seen: dict[tuple[str, str, float], MetricPoint] = {}
        self._last: float | None = None

    def collect(self) -> Iterator[Metric]:
        backend = self.backend_of()
        with self._lock:
            self._advance(backend)
            yield from self._job_metrics()
        yield from _queue_metrics(backend, self.clock())

    def _advance(self, backend: Backend) -> None:
        """Add what each minute grew by since the last scrape (the whole window at the first)."""
        now = self.clock()
        since = now - RETENTION_S if self._last is None else self._last - 120
        for point in backend.metric_series(since=since, until=now + 60):
            key = (point.queue, point.job, point.minute)
            totals = self._totals.setdefault((point.queue, point.job), _Totals())
            before = self._seen.get(key)
            if before is not None:
                totals.add(before, -1)
            totals.add(point)
            self._seen[key] = point
        self._seen = {key: p for key, p in self._seen.items() if key[2] >= since - 60}
        self._last = now

    def _job_metrics(self) -> Iterator[Metric]:
        jobs = CounterMetricFamily(
            "tasks_jobs", "Jobs that ended an attempt, by outcome", labels=["queue", "job", "outcome"]
        )
        duration = HistogramMetricFamily(
            "tasks_job_duration_seconds", "Run time of each attempt", labels=["queue", "job"]
        )
        wait = SummaryMetricFamily(
            "tasks_job_wait_seconds", "Time from enqueue to the start of each attempt", labels=["queue", "job"]
        )
        for (queue, job), totals in sorted(self._totals.items()):
            for outcome, value in zip(OUTCOMES, totals.outcomes):
                jobs.add_metric([queue, job, outcome], value)
            cumulative, running = [], 0
            for bound, count in zip([*map(_bound, BUCKETS_S), "+Inf"], totals.buckets):
                running += count
                cumulative.append((bound, running))
            duration.add_metric([queue, job], cumulative, sum_value=totals.run_s)
            wait.add_metric([queue, job], count_value=running, sum_value=totals.wait_s)
        yield from (jobs, duration, wait)


def _bound(seconds: float) -> str:
    return repr(float(seconds))


def _queue_metrics(backend: Backend, now: float) -> Iterator[Metric]:
    """Live counts: jobs per queue and state, the oldest ready job's age, the live worker processes."""
    counts = GaugeMetricFamily("tasks_queue_jobs", "Jobs in each queue, by state", labels=["queue", "state"])
    oldest = GaugeMetricFamily(
        "tasks_queue_oldest_ready_age_seconds", "Age of the oldest job ready to run", labels=["queue"]
    )
    for queue in backend.known_queues():
        stats = backend.queue_stats(queue)
        for state, value in zip(QUEUE_STATES, (stats.ready, stats.scheduled, stats.running, stats.failed)):
            counts.add_metric([queue, state], value)
        oldest.add_metric([queue], _oldest_ready_age(backend, queue, now) if stats.ready else 0.0)
    workers = GaugeMetricFamily("tasks_workers", "Live worker processes")
    workers.add_metric([], len(backend.workers(now=now)))
    yield from (counts, oldest, workers)


def _oldest_ready_age(backend: Backend, queue: str, now: float) -> float:
    """Seconds since the first ready job of ``queue`` was enqueued (0 when none is ready)."""
    first = backend.oldest_ready_at([queue])
    return 0.0 if first is None else max(now - first, 0.0)


def registry_for(backend_of: Callable[[], Backend]) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding one ``TasksCollector``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TasksCollector(backend_of))
    return registry


def asgi_app(backend: Backend | None = None) -> Any:
    """An ASGI app answering every GET with the metrics (mount it at ``/metrics``); ``backend`` defaults to the
    configured one, looked up at each scrape."""
    from ..config import get_backend

    return make_asgi_app(registry_for((lambda: backend) if backend is not None else get_backend))


def wsgi_app(backend: Backend | None = None) -> Any:
    """The same as a WSGI app."""
    from ..config import get_backend

    return make_wsgi_app(registry_for((lambda: backend) if backend is not None else get_backend))


def serve(backend: Backend, *, host: str, port: int) -> None:
    """Serve the metrics over HTTP on ``host:port`` until interrupted (``python -m tasks metrics``)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # one line per scrape is noise
            pass

    with make_server(host, port, wsgi_app(backend), handler_class=Quiet) as server:
        print(f"serving metrics of {backend.description} on http://{host}:{port}/metrics", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
            server.serve_forever()
