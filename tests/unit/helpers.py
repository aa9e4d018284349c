"""Helpers for the core specification tests: a clock a test moves by hand, and a burst worker to drain queues."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tasks.config import get_backend, settings
from tasks.worker import Worker, WorkerSettings


class ManualClock:
    """Epoch seconds that only move when the test says so (starts at the real time, so dispatches line up)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(queues: Sequence[str] = ("default",), *, clock: ManualClock | None = None, secret: str | None = None) -> int:
    """Run a burst worker on the configured backend until ``queues`` hold nothing ready; returns its exit status."""
    worker_settings = WorkerSettings(queues=list(queues), burst=True, secret=secret or settings().secret)
    worker = Worker(get_backend(), worker_settings, clock=clock) if clock else Worker(get_backend(), worker_settings)
    return worker.run()
