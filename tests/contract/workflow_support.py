"""Helpers of the workflow contract tests: run jobs through the worker's own steps (decode, resolve, invoke,
decide, apply) in this process, one reserve at a time, on whichever backend the test runs on."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.backends.base import Backend
from tasks.config import get_backend
from tasks.model import Lease
from tasks.worker import executor
from tests import jobs  # noqa: F401 - registers the jobs

QUEUES = ("default", "other")


def backend() -> Backend:
    found = get_backend()
    assert isinstance(found, Backend)
    return found


def take(queues: Sequence[str] = QUEUES, count: int = 1) -> list[Lease]:
    return backend().reserve(list(queues), worker_id="w", now=_now(), lease_s=60, count=count)


def run(lease: Lease) -> bool:
    """Run one leased job as a worker would, and write its outcome."""
    outcome = executor.run(lease, secret=None)
    return executor.apply_outcome(backend(), lease, outcome, now=_now())


def drain(queues: Sequence[str] = QUEUES, limit: int = 1000) -> list[str]:
    """Run every job ready in ``queues`` (and those they enqueue) until none is left; the names run, in order."""
    names = []
    for _ in range(limit):
        leases = take(queues)
        if not leases:
            return names
        names.append(executor.decode(leases[0], None).name)  # type: ignore[union-attr]
        run(leases[0])
    raise AssertionError(f"still jobs after {limit}")


def _now() -> float:
    import time

    return time.time()
