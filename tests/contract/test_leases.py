"""Leases: one holder per job, heartbeats, expiry with its attempt accounting, stale writes refused."""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.backends.base import Backend
from tasks.model import ErrorInfo
from tests.contract import procs
from tests.contract.conftest import Clock, Target, new_job
from tests.contract.contention import in_processes, in_threads, with_own_backends

ERROR = ErrorInfo("ValueError", "boom", "Traceback ...")


@pytest.mark.timeout(60)
def test_concurrent_reservers_in_threads_never_share_a_job(target: Target, backend: Backend, clock: Clock) -> None:
    # Given 300 jobs
    ids = [f"j{i}" for i in range(300)]
    backend.enqueue_many([new_job("q", j, now=clock()) for j in ids], now=clock())

    # When four threads, each with its own backend handle, reserve until the queue is empty (each reading
    # whatever it reads before its first write ahead of any thread's first write)
    def drain(mine: Backend) -> list[str]:
        taken: list[str] = []
        while leases := mine.reserve(["q"], worker_id="t", now=clock(), lease_s=60, count=1 + len(taken) % 3):
            taken += [lease.job_id for lease in leases]
        return taken

    results = with_own_backends(4, target, drain)

    # Then every job was taken exactly once
    taken = [job_id for result in results for job_id in result]
    assert sorted(taken) == sorted(ids)
    assert len(set(taken)) == len(taken)


def test_concurrent_reservers_in_processes_never_share_a_job(shared_target: Target, clock: Clock) -> None:
    # Given 300 jobs
    backend = shared_target.open()
    ids = [f"j{i}" for i in range(300)]
    backend.enqueue_many([new_job("q", j, now=clock()) for j in ids], now=clock())

    # When three processes reserve until the queue is empty
    results = in_processes(3, procs.reserve_until_empty, shared_target.url, shared_target.prefix, "q", clock())

    # Then every job was taken exactly once, and all are running
    taken = [job_id for result in results for job_id in result]
    assert Counter(taken) == Counter(ids)
    assert backend.queue_stats("q").running == 300
    backend.close()


def test_reserve_counts_the_attempt_and_hands_out_a_fresh_token(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock() - 5, max_attempts=4), now=clock())
    lease = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)[0]
    assert (lease.attempt, lease.max_attempts, lease.started_at, lease.enqueued_at) == (1, 4, clock(), clock() - 5)
    assert lease.payload == '{"id":"a"}'
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("running", 1)
    assert backend.retry(lease, run_at=clock(), error=ERROR, now=clock())
    again = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)[0]
    assert again.attempt == 2 and again.token != lease.token


def test_an_expired_lease_is_requeued_with_its_attempt_spent(backend: Backend, clock: Clock) -> None:
    # Given a job leased for 10 s
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10)

    # Then it is not expired a moment before, and is at the instant of expiry
    assert backend.requeue_expired(["q"], now=clock() + 9.999) == (0, 0)
    assert backend.requeue_expired(["q"], now=clock() + 10) == (1, 0)

    # And it is queued again with the attempt counted: the next lease is attempt 2
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("queued", 1)
    assert backend.requeue_expired(["q"], now=clock() + 100) == (0, 0)
    assert backend.reserve(["q"], worker_id="w2", now=clock() + 10, lease_s=10)[0].attempt == 2


@pytest.mark.timeout(60)
def test_only_leases_expired_by_now_are_requeued(backend: Backend, clock: Clock) -> None:
    # Given two jobs leased at once, one for 10 s and one for 10.5 s
    backend.enqueue_many([new_job("q", "a", now=clock()), new_job("q", "b", now=clock())], now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10)
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10.5)

    # When the first has expired and the second is about to
    assert backend.requeue_expired(["q"], now=clock() + 10) == (1, 0)

    # Then only the first went back; the second goes at its own expiry, not a moment before
    assert backend.status("q", "a").state == "queued"  # type: ignore[union-attr]
    assert backend.status("q", "b").state == "running"  # type: ignore[union-attr]
    assert backend.requeue_expired(["q"], now=clock() + 10.499) == (0, 0)
    assert backend.requeue_expired(["q"], now=clock() + 10.5) == (1, 0)


def test_a_job_that_keeps_losing_its_worker_is_buried_when_attempts_are_spent(backend: Backend, clock: Clock) -> None:
    # Given a job with two attempts whose workers both vanish
    backend.enqueue(new_job("q", "a", now=clock(), max_attempts=2), now=clock())
    for _ in range(2):
        backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10)
        clock.advance(10)
        requeued, failed = backend.requeue_expired(["q"], now=clock())

    # Then the second expiry moved it to the failed set, saying why
    assert (requeued, failed) == (0, 1)
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.running, stats.failed) == (0, 0, 1)
    [entry] = backend.failed("q")
    assert (entry.id, entry.attempts, entry.failed_at) == ("a", 2, clock())
    assert entry.error is not None and entry.error.type == "LeaseExpired"
    assert "attempt 2 of 2" in entry.error.message
    assert backend.status("q", "a").state == "failed"  # type: ignore[union-attr]


@pytest.mark.timeout(60)
def test_requeue_expired_respects_its_limit_and_is_safe_from_many_callers(
    target: Target, backend: Backend, clock: Clock
) -> None:
    backend.enqueue_many([new_job("q", f"j{i}", now=clock()) for i in range(40)], now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10, count=40)
    clock.advance(10)
    assert backend.requeue_expired(["q"], now=clock(), limit=5) == (5, 0)

    results = with_own_backends(4, target, lambda mine: mine.requeue_expired(["q"], now=clock(), limit=100))
    assert sum(r[0] for r in results) == 35
    assert backend.queue_stats("q").ready == 40


def test_a_heartbeat_extends_only_leases_still_held(backend: Backend, clock: Clock) -> None:
    # Given two leased jobs
    backend.enqueue_many([new_job("q", "a", now=clock()), new_job("q", "b", now=clock())], now=clock())
    a, b = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10, count=2)

    # When a's lease is extended at t+8, and b's expires
    assert backend.extend([a], now=clock() + 8, lease_s=10) == [True]
    assert backend.requeue_expired(["q"], now=clock() + 12) == (1, 0)

    # Then a is still held until t+18; b's lease can no longer be extended
    assert backend.extend([b, a], now=clock() + 12, lease_s=10) == [False, True]
    assert backend.requeue_expired(["q"], now=clock() + 21) == (0, 0)
    assert backend.requeue_expired(["q"], now=clock() + 22) == (1, 0)


def test_writes_with_a_stale_token_change_nothing(backend: Backend, clock: Clock) -> None:
    # Given a lease that expired, and the job leased again to another worker
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    stale = backend.reserve(["q"], worker_id="old", now=clock(), lease_s=10)[0]
    clock.advance(10)
    backend.requeue_expired(["q"], now=clock())
    fresh = backend.reserve(["q"], worker_id="new", now=clock(), lease_s=10)[0]

    # When the first worker writes late, every transition is refused
    assert not backend.complete(stale, '"late"', now=clock(), result_ttl_s=60)
    assert not backend.retry(stale, run_at=clock(), error=ERROR, now=clock())
    assert not backend.fail(stale, error=ERROR, now=clock())
    assert not backend.release(stale, now=clock())
    assert backend.extend([stale], now=clock(), lease_s=10) == [False]
    assert backend.complete_many([(stale, '"late"', 60)], now=clock()) == [False]

    # Then the job is still running under the new lease, which completes it
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts, status.result) == ("running", 2, None)
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.running, stats.failed) == (0, 1, 0)
    assert backend.complete(fresh, '"done"', now=clock(), result_ttl_s=60)

    # And a finished job refuses a second write with its own, now spent, token
    assert not backend.complete(fresh, '"twice"', now=clock(), result_ttl_s=60)
    assert not backend.fail(fresh, error=ERROR, now=clock())
    assert backend.status("q", "a").result == '"done"'  # type: ignore[union-attr]


def test_release_gives_the_attempt_back_and_puts_the_job_at_the_head(backend: Backend, clock: Clock) -> None:
    # Given two jobs and the first leased
    backend.enqueue_many([new_job("q", "a", now=clock()), new_job("q", "b", now=clock())], now=clock())
    lease = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10)[0]

    # When the worker releases it without running it
    assert backend.release(lease, now=clock())

    # Then it is queued with no attempt spent, ahead of b, and its lease no longer expires
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("queued", 0)
    assert backend.requeue_expired(["q"], now=clock() + 60) == (0, 0)
    again = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=10, count=2)
    assert [x.job_id for x in again] == ["a", "b"]
    assert again[0].attempt == 1


@pytest.mark.timeout(60)
def test_one_backend_object_is_safe_to_share_between_threads(backend: Backend, clock: Clock) -> None:
    # Given one backend object used by producer and reserver threads at once (as a worker and its heartbeat do)
    def produce_then_take() -> list[str]:
        mine = [new_job("q", now=clock()) for _ in range(50)]
        for job in mine:
            assert backend.enqueue(job, now=clock())
        taken: list[str] = []
        while leases := backend.reserve(["q"], worker_id="t", now=clock(), lease_s=60, count=2):
            assert backend.extend(leases, now=clock(), lease_s=60) == [True] * len(leases)
            taken += [lease.job_id for lease in leases]
        return taken

    # Then every job is taken exactly once
    backend.ping()  # the store exists before the threads contend
    taken = [job_id for result in in_threads(4, produce_then_take) for job_id in result]
    assert len(taken) == len(set(taken)) == 200
    assert backend.queue_stats("q").running == 200
