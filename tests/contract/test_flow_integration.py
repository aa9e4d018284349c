"""Flow control meets job control: a cancelled job lets go of what it holds, on every backend."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.limits import JobFlow
from tests.contract.conftest import Clock, new_job

UNIQUE = JobFlow(unique="invoice:7", unique_for_s=3600)


def test_cancelling_a_unique_job_frees_its_key(backend: Backend, clock: Clock) -> None:
    # Given a unique job waiting in its queue, and a duplicate refused because of it
    assert backend.enqueue_flow(new_job("q", "first", now=clock()), UNIQUE, now=clock()) == ("first", True)
    assert backend.enqueue_flow(new_job("q", "again", now=clock()), UNIQUE, now=clock()) == ("first", False)

    # When it is cancelled
    assert backend.cancel("q", "first", now=clock()) == "cancelled"

    # Then the key is free: the next dispatch is stored
    assert backend.enqueue_flow(new_job("q", "next", now=clock()), UNIQUE, now=clock()) == ("next", True)


def test_aborting_a_running_unique_job_frees_its_key(backend: Backend, clock: Clock) -> None:
    # Given a unique job held until it finishes, running
    flow = JobFlow(unique="invoice:8", unique_for_s=3600, unique_until="finish")
    backend.enqueue_flow(new_job("q", "first", now=clock()), flow, now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)

    # When it is aborted and its worker reports it stopped
    assert backend.cancel("q", "first", now=clock(), abort=True) == "abort_requested"
    assert backend.abort(lease, now=clock())

    # Then the key is free
    assert backend.enqueue_flow(new_job("q", "next", now=clock()), flow, now=clock()) == ("next", True)
