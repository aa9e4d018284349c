"""Fixtures of the dashboard's tests: a backend on Redis, SQLite or memory, fakes of the wave-2 capabilities a
backend may not have yet, and an HTTP client on the app (Starlette's TestClient, no server)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import tasks.config
from tasks.backends.base import Backend
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend
from tasks.dashboard import app
from tasks.model import ErrorInfo, MetricPoint, NewJob, Progress
from tests.contract.conftest import Target, make_target

#: What a failing test job's error looks like; markup in it must reach the page escaped.
ERROR = ErrorInfo("ValueError", "bad <b>input</b>", 'Traceback (most recent call last):\n  File "x.py"\nValueError')
TOKEN = "a-dashboard-token-of-24-chars"


class Fakes:
    """Metric points the test chooses (the charts' test draws exact figures), over a real backend."""

    points: list[MetricPoint]

    def metric_series(self, *, since: float, until: float) -> list[MetricPoint]:
        return [p for p in self.points if since - 60 <= p.minute <= until]


class FakeRedis(Fakes, RedisBackend):
    pass


class FakeSQLite(Fakes, SQLiteBackend):
    pass


def open_fake(target: Target) -> Backend:
    if target.kind == "sqlite":
        backend: Fakes = FakeSQLite.from_url(target.url, prefix=target.prefix)
    elif target.kind == "redis":
        backend = FakeRedis.from_url(target.url, prefix=target.prefix)
    else:
        backend = FakeRedis.in_memory(target.url, prefix=target.prefix)
    backend.points = []
    assert isinstance(backend, Backend)
    return backend


@pytest.fixture(params=("redis", "sqlite", "memory"))
def target(request: pytest.FixtureRequest, prefix: str, tmp_path: Path) -> Target:
    return make_target(request.param, prefix, tmp_path)


@pytest.fixture
def backend(target: Target) -> Iterator[Backend]:
    """The real backend, configured for the process too (so ``dispatch`` and the app agree)."""
    tasks.config.configure(url=target.url, prefix=target.prefix)
    opened = target.open()
    yield opened
    opened.close()


@pytest.fixture
def fake(target: Target) -> Iterator[Backend]:
    """The backend with metric points the test sets."""
    tasks.config.configure(url=target.url, prefix=target.prefix)
    opened = open_fake(target)
    yield opened
    opened.close()


@pytest.fixture
def client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(app(backend)) as http:
        yield http


def payload(job_id: str, name: str, queue: str, *args: object) -> str:
    import json

    return json.dumps({"v": 1, "id": job_id, "name": name, "queue": queue, "args": list(args), "kwargs": {}})


def enqueue(backend: Backend, queue: str, job_id: str, name: str = "tests.add", *args: object) -> None:
    now = time.time()
    assert backend.enqueue(NewJob(job_id, queue, payload(job_id, name, queue, *args), 3, now), now=now)


def make_failed(backend: Backend, queue: str, *ids: str) -> None:
    """Jobs ``ids`` of ``queue``, each run once and failed with ``ERROR`` (``queue`` must hold no other ready job)."""
    for job_id in ids:
        enqueue(backend, queue, job_id, "tests.always_fails", f"arg-of-{job_id}")
        now = time.time()
        [lease] = backend.reserve([queue], worker_id="w", now=now, lease_s=30)
        assert backend.fail(lease, error=ERROR, now=now)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def set_progress(backend: Backend, queue: str, job_id: str, fraction: float, note: str) -> None:
    """Write a running job's progress record as the worker's progress reporting will."""
    from tests.contract.damage import set_field

    set_field(backend, queue, job_id, "progress", Progress(fraction, note, time.time()).to_json())
