"""An idle worker's wait: it returns soon after a job is enqueued elsewhere, and not before its timeout otherwise."""

from __future__ import annotations

import threading
import time

from tasks.backends.base import Backend
from tests.contract.conftest import Clock, Target, new_job


def test_an_idle_wait_returns_soon_after_a_job_is_enqueued_elsewhere(
    target: Target, backend: Backend, clock: Clock
) -> None:
    # Given a waiter on two queues, and another connection that enqueues on the second after 200 ms
    producer = target.open()
    timer = threading.Timer(0.2, lambda: producer.enqueue(new_job("b", now=clock()), now=clock()))
    started = time.monotonic()
    timer.start()

    # When the waiter waits up to 5 s
    backend.wait_for_jobs(["a", "b"], timeout_s=5)

    # Then it returned once the job was there, well before its timeout
    waited = time.monotonic() - started
    timer.join()
    producer.close()
    assert 0.15 <= waited < 1.0, waited
    assert backend.reserve(["a", "b"], worker_id="w", now=clock(), lease_s=30) != []


def test_an_idle_wait_lasts_its_timeout_when_nothing_comes(backend: Backend) -> None:
    started = time.monotonic()
    backend.wait_for_jobs(["a"], timeout_s=0.3)
    assert 0.25 <= time.monotonic() - started < 1.0
    started = time.monotonic()
    backend.wait_for_jobs(["a"], timeout_s=0)
    assert time.monotonic() - started < 0.1


def test_a_wait_returns_at_once_when_a_job_is_already_ready(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("a", now=clock()), now=clock())
    started = time.monotonic()
    backend.wait_for_jobs(["a"], timeout_s=5)
    assert time.monotonic() - started < 0.5
