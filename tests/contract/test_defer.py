"""``defer``: a job this worker cannot run yet goes back, uncharged, for a later look; and ``failed_job``."""

from __future__ import annotations

import math

import pytest

from tasks.backends.base import Backend
from tasks.model import ErrorInfo
from tests.contract.conftest import Clock, new_job
from tests.contract.test_outcomes import lease_one

ERROR = ErrorInfo("ValueError", "boom", "Traceback (most recent call last): ...")


def test_defer_puts_the_job_back_for_later_with_the_attempt_given_back(backend: Backend, clock: Clock) -> None:
    # Given a job whose first attempt failed, now running its second attempt
    first = lease_one(backend, clock)
    backend.retry(first, run_at=clock(), error=ERROR, now=clock())
    [second] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert second.attempt == 2

    # When the worker defers it for 5 s
    assert backend.defer(second, run_at=clock() + 5, now=clock())

    # Then it waits, scheduled, with the second attempt given back and its last error kept
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts, status.error) == ("scheduled", 1, ERROR)
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.scheduled, stats.running) == (0, 1, 0)
    assert backend.next_due(["q"]) == clock() + 5
    assert backend.requeue_expired(["q"], now=clock() + 60) == (0, 0)  # no lease left to expire

    # And it is taken again once due, as attempt 2 once more
    assert backend.reserve(["q"], worker_id="w", now=clock() + 4.9, lease_s=30) == []
    [again] = backend.reserve(["q"], worker_id="w", now=clock() + 5, lease_s=30)
    assert (again.job_id, again.attempt) == ("a", 2)


def test_defer_due_now_goes_to_the_back_of_the_queue(backend: Backend, clock: Clock) -> None:
    # Given a running job and another one queued behind it
    lease = lease_one(backend, clock, "a")
    backend.enqueue(new_job("q", "b", now=clock()), now=clock())

    # When it is deferred to a time already come
    assert backend.defer(lease, run_at=clock(), now=clock())

    # Then it is queued at once, behind b, uncharged
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("queued", 0)
    taken = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=2)
    assert [(x.job_id, x.attempt) for x in taken] == [("b", 1), ("a", 1)]


def test_defer_with_a_stale_token_changes_nothing(backend: Backend, clock: Clock) -> None:
    # Given a lease that expired, and the job leased again to another worker
    stale = lease_one(backend, clock)
    clock.advance(30)
    backend.requeue_expired(["q"], now=clock())
    fresh = backend.reserve(["q"], worker_id="new", now=clock(), lease_s=30)[0]

    # When the first worker defers it late, the write is refused
    assert not backend.defer(stale, run_at=clock() + 5, now=clock())

    # Then the job still runs under the new lease
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("running", 2)
    assert backend.complete(fresh, "1", now=clock(), result_ttl_s=60)
    assert not backend.defer(fresh, run_at=clock() + 5, now=clock())


@pytest.mark.parametrize("run_at", [math.nan, math.inf])
def test_defer_refuses_a_time_that_is_not_finite_and_writes_nothing(
    backend: Backend, clock: Clock, run_at: float
) -> None:
    lease = lease_one(backend, clock)
    with pytest.raises(Exception, match="finite"):
        backend.defer(lease, run_at=run_at, now=clock())
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("running", 1)
    assert backend.complete(lease, "1", now=clock(), result_ttl_s=60)


def test_failed_job_reads_one_entry_of_the_failed_set(backend: Backend, clock: Clock) -> None:
    # Given a failed job, a running one and a job on another queue
    backend.fail(lease_one(backend, clock, "dead"), error=ERROR, now=clock() + 1)
    lease_one(backend, clock, "alive")
    backend.enqueue(new_job("other", "elsewhere", now=clock()), now=clock())

    # Then the failed one reads as its entry of the failed set, and the others as None
    entry = backend.failed_job("q", "dead")
    assert entry is not None
    assert (entry.id, entry.queue, entry.attempts, entry.error, entry.failed_at) == ("dead", "q", 1, ERROR, clock() + 1)
    assert entry.payload == '{"id":"dead"}'
    assert entry == backend.failed("q")[0]
    assert backend.failed_job("q", "alive") is None
    assert backend.failed_job("q", "never-was") is None
    assert backend.failed_job("other", "dead") is None
