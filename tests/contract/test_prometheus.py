"""The Prometheus exposition, parsed back with ``prometheus_client.parser``: job counters that only grow, the
run-time histogram, wait times, queue counts, workers; served by ``asgi_app()`` and ``python -m tasks metrics``."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import tasks.metrics
from tasks.backends.base import Backend
from tasks.model import ErrorInfo, WorkerInfo
from tests.contract.conftest import Clock, Target, new_job
from tests.contract.test_metrics import named, start
from tests.support.processes import kill_session, start_tasks
from tests.support.waiting import wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def scrape(collector: tasks.metrics.TasksCollector) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return parse(generate_latest(registry).decode())


def test_outcomes_histogram_wait_and_queue_counts_are_exposed(backend: Backend, clock: Clock) -> None:
    # Given a job that ran 0.2 s after waiting 1 s, one that failed, one left ready, and a live worker
    ok = start(backend, clock, "app.resize", "ok", waited=1)
    bad = start(backend, clock, "app.resize", "bad", waited=1)
    clock.advance(0.2)
    backend.complete(ok, "1", now=clock(), result_ttl_s=60)
    backend.fail(bad, error=ErrorInfo("E", "m"), now=clock())
    backend.enqueue(new_job("q", "waiting", now=clock(), payload=named("app.resize", "waiting")), now=clock())
    clock.advance(30)  # it has waited 30 s when Prometheus looks
    backend.register_worker(WorkerInfo("w1", "host", 1, ("q",), clock()), ttl_s=60, now=clock())
    collector = tasks.metrics.TasksCollector(lambda: backend, clock=clock)

    # When Prometheus scrapes
    samples = scrape(collector)

    # Then it reads each outcome, the histogram (cumulative buckets), the wait summary and the queue's state
    labels = {"queue": "q", "job": "app.resize"}
    assert value(samples, "tasks_jobs_total", outcome="succeeded", **labels) == 1
    assert value(samples, "tasks_jobs_total", outcome="failed", **labels) == 1
    assert value(samples, "tasks_jobs_total", outcome="retried", **labels) == 0
    assert value(samples, "tasks_job_duration_seconds_bucket", le="0.1", **labels) == 0
    assert value(samples, "tasks_job_duration_seconds_bucket", le="0.25", **labels) == 2
    assert value(samples, "tasks_job_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert value(samples, "tasks_job_duration_seconds_count", **labels) == 2
    assert value(samples, "tasks_job_duration_seconds_sum", **labels) == pytest.approx(0.4)
    assert value(samples, "tasks_job_wait_seconds_sum", **labels) == pytest.approx(2.0)
    assert value(samples, "tasks_job_wait_seconds_count", **labels) == 2
    assert value(samples, "tasks_queue_jobs", queue="q", state="ready") == 1
    assert value(samples, "tasks_queue_jobs", queue="q", state="failed") == 1
    assert value(samples, "tasks_queue_oldest_ready_age_seconds", queue="q") == pytest.approx(30, abs=1)
    assert value(samples, "tasks_workers") == 1


def test_counters_only_grow_as_minutes_fill_and_slide_out(backend: Backend, clock: Clock) -> None:
    # Given a first scrape after one success
    collector = tasks.metrics.TasksCollector(lambda: backend, clock=clock)
    backend.complete(start(backend, clock, "app.x", "a"), "1", now=clock(), result_ttl_s=60)
    first = value(scrape(collector), "tasks_jobs_total", queue="q", job="app.x", outcome="succeeded")

    # When more jobs end in the same minute and in later ones, scraped as they come
    for i in range(3):
        backend.complete(start(backend, clock, "app.x", f"b{i}"), "1", now=clock(), result_ttl_s=60)
        scrape(collector)
        clock.advance(45)
    backend.complete(start(backend, clock, "app.x", "c"), "1", now=clock(), result_ttl_s=60)
    last = value(scrape(collector), "tasks_jobs_total", queue="q", job="app.x", outcome="succeeded")

    # Then the counter added each exactly once
    assert (first, last) == (1, 5)


def test_the_asgi_app_serves_the_same_text(backend: Backend, clock: Clock) -> None:
    backend.complete(start(backend, clock, "app.x", "a"), "1", now=clock(), result_ttl_s=60)
    app = tasks.metrics.asgi_app(backend)

    status, body = asyncio.run(_get(app))

    assert status == 200
    assert value(parse(body), "tasks_jobs_total", queue="q", job="app.x", outcome="succeeded") == 1


async def _get(app: Any) -> tuple[int, str]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("starts a server process on a free port, which another process may take first")
def test_the_metrics_command_serves_prometheus_text(shared_target: Target, clock: Clock, tmp_path: Path) -> None:
    # Given a finished job
    backend = shared_target.open()
    backend.complete(start(backend, clock, "app.x", "a"), "1", now=clock(), result_ttl_s=60)
    port = free_port()

    # When `python -m tasks metrics --port` runs
    server = start_tasks(
        ["metrics", "--port", str(port), "--host", "127.0.0.1"],
        url=shared_target.url,
        prefix=shared_target.prefix,
        log=tmp_path / "metrics.log",
    )
    try:
        body = wait_until(lambda: _fetch(port), timeout=30, interval=0.1, message="the metrics server answers")
    finally:
        kill_session(server.pid)
        server.wait(10)
        backend.close()

    # Then a scrape parses, and holds the job's count
    assert value(parse(body), "tasks_jobs_total", queue="q", job="app.x", outcome="succeeded") == 1


def _fetch(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None
