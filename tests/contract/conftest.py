"""The conformance suite's fixtures: one backend per parameter, and a clock the test moves by hand.

Every test of ``tests/contract/`` runs on ``memory`` (the Redis backend over fakeredis), ``redis`` (a real
server, isolated by a key prefix; fails in CI when absent), ``sqlite`` (a file in the test's tmp_path) and
``cluster`` (a Redis Cluster of 3 masters and 3 replicas the session starts), and speaks only the ``Backend``
contract.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import tasks.config
from tasks.backends.base import Backend
from tasks.config import backend_from_url
from tasks.model import NewJob
from tests.conftest import REDIS_URL, require_redis

#: Every backend the suite runs on; ``SHARED`` are the ones other processes can open too.
BACKENDS = ("memory", "redis", "sqlite", "cluster")
SHARED = ("redis", "sqlite", "cluster")


@dataclass(frozen=True)
class Target:
    """Where one backend lives: enough for this process, or another one, to open it."""

    kind: str
    url: str
    prefix: str

    def open(self) -> Backend:
        return backend_from_url(self.url, prefix=self.prefix)


def make_target(kind: str, prefix: str, tmp_path: Path, request: pytest.FixtureRequest | None = None) -> Target:
    if kind == "cluster":  # the session's Redis Cluster (tests/conftest.py), started on first use
        assert request is not None
        return Target(kind, request.getfixturevalue("redis_cluster").url, prefix)
    if kind == "redis":
        require_redis()
        return Target(kind, REDIS_URL, prefix)
    if kind == "sqlite":
        return Target(kind, f"sqlite:///{tmp_path / 'tasks.db'}", prefix)
    return Target(kind, f"memory://{prefix}", prefix)


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, prefix: str, tmp_path: Path) -> Target:
    return make_target(request.param, prefix, tmp_path, request)


@pytest.fixture(params=SHARED)
def shared_target(request: pytest.FixtureRequest, prefix: str, tmp_path: Path) -> Target:
    """A backend that several processes can open at once."""
    return make_target(request.param, prefix, tmp_path, request)


@pytest.fixture
def backend(target: Target) -> Iterator[Backend]:
    opened = target.open()
    yield opened
    opened.close()


@pytest.fixture
def app(target: Target) -> Target:
    """Configure this process (``dispatch``, ``queue()``, the CLI) for the target backend."""
    tasks.config.configure(url=target.url, prefix=target.prefix)
    return target


class Clock:
    """The caller's clock: starts near real time (Redis TTLs run on the server's clock) and moves on demand."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_job(
    queue: str = "default",
    job_id: str | None = None,
    *,
    now: float,
    run_at: float | None = None,
    max_attempts: int = 3,
    payload: str | None = None,
) -> NewJob:
    """A job as the contract sees it: the payload is opaque to every backend."""
    job_id = job_id or uuid.uuid4().hex
    return NewJob(
        id=job_id,
        queue=queue,
        payload=payload if payload is not None else f'{{"id":"{job_id}"}}',
        max_attempts=max_attempts,
        enqueued_at=now,
        run_at=run_at,
    )
