"""Paused queues: ``pause``/``resume``/``paused_queues`` on every backend."""

from __future__ import annotations

from tasks.backends.base import Backend
from tests.contract.conftest import Clock, Target, new_job


def test_a_paused_queue_is_not_served_while_others_are(backend: Backend, clock: Clock) -> None:
    # Given jobs in two queues, one of them paused
    backend.enqueue(new_job("emails", "e1", now=clock()), now=clock())
    backend.enqueue(new_job("reports", "r1", now=clock()), now=clock())
    backend.pause("emails")

    # When a worker of both queues reserves
    taken = backend.reserve(["emails", "reports"], worker_id="w", now=clock(), lease_s=30, count=10)

    # Then only the other queue's job is leased; the paused one waits, queued, its attempt untouched
    assert [x.job_id for x in taken] == ["r1"]
    status = backend.status("emails", "e1")
    assert status is not None and (status.state, status.attempts) == ("queued", 0)
    assert backend.paused_queues() == {"emails"}


def test_dispatching_to_a_paused_queue_still_works_and_resume_drains_it(backend: Backend, clock: Clock) -> None:
    # Given a paused queue that receives jobs, now and delayed
    backend.pause("emails")
    assert backend.enqueue(new_job("emails", "now", now=clock()), now=clock())
    assert backend.enqueue(new_job("emails", "later", now=clock(), run_at=clock() + 5), now=clock())
    clock.advance(10)
    assert backend.reserve(["emails"], worker_id="w", now=clock(), lease_s=30, count=10) == []

    # When it is resumed
    backend.resume("emails")

    # Then both are served, and nothing is listed as paused
    taken = backend.reserve(["emails"], worker_id="w", now=clock(), lease_s=30, count=10)
    assert sorted(x.job_id for x in taken) == ["later", "now"]
    assert backend.paused_queues() == set()


def test_pause_and_resume_are_idempotent(backend: Backend, clock: Clock) -> None:
    backend.resume("never-paused")
    backend.pause("q")
    backend.pause("q")
    assert backend.paused_queues() == {"q"}
    backend.resume("q")
    backend.resume("q")
    assert backend.paused_queues() == set()


def test_a_pause_is_seen_by_every_client_of_the_datastore(target: Target, clock: Clock) -> None:
    # Given two clients of one datastore (two processes, say)
    first, second = target.open(), target.open()
    try:
        first.enqueue(new_job("q", "a", now=clock()), now=clock())
        # When one pauses the queue
        first.pause("q")
        # Then the other neither serves it nor fails to see it
        assert second.paused_queues() == {"q"}
        assert second.reserve(["q"], worker_id="w", now=clock(), lease_s=30) == []
        second.resume("q")
        assert [x.job_id for x in first.reserve(["q"], worker_id="w", now=clock(), lease_s=30)] == ["a"]
    finally:
        first.close()
        second.close()


def test_waiting_on_a_paused_queue_does_not_return_at_once_for_its_jobs(backend: Backend, clock: Clock) -> None:
    # An idle worker must not spin on ready jobs it may not take: its wait blocks as on an empty queue
    import time

    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    backend.pause("q")
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)  # what a worker's loop runs before it waits
    started = time.monotonic()
    backend.wait_for_jobs(["q"], timeout_s=0.3)
    assert time.monotonic() - started >= 0.25
