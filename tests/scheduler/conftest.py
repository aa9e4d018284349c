"""Fixtures of the scheduler tests: a backend of each kind, a fake clock, a clean schedule registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks import registry, scheduler
from tasks.backends.base import Backend
from tasks.config import backend_from_url


@pytest.fixture(params=["memory_backend", "redis_backend", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[Backend]:
    """The same tests over fakeredis, a real Redis (under the test's own key prefix) and a SQLite file."""
    if request.param != "sqlite":
        yield request.getfixturevalue(request.param)
        return
    sqlite = backend_from_url(f"sqlite:///{tmp_path / 'tasks.db'}", prefix=prefix)
    yield sqlite
    sqlite.close()


class FakeClock:
    """Epoch seconds that move only when a test moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now


@pytest.fixture
def clean_registries() -> Iterator[None]:
    """Schedules and jobs registered by a test are forgotten afterwards, so no other test's scheduler sees them."""
    schedules = {s.name for s in scheduler.registered_schedules()}
    jobs = set(registry.names())
    yield
    for s in scheduler.registered_schedules():
        if s.name not in schedules:
            scheduler.unregister_schedule(s.name)
    for name in registry.names():
        if name not in jobs:
            registry.unregister(name)
