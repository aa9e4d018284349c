"""Concurrency per key: at most N running per key, checked in the reserve; the slot is tied to the lease."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.limits import JobFlow
from tasks.model import ErrorInfo, Lease
from tests.contract.conftest import Clock, new_job

ERROR = ErrorInfo("ValueError", "boom")


def per_user(user: str, n: int = 1) -> JobFlow:
    return JobFlow(concurrency=n, concurrency_key=f"rebuild:{user}")


def enqueue(backend: Backend, clock: Clock, job_id: str, flow: JobFlow) -> None:
    assert backend.enqueue_flow(new_job("q", job_id, now=clock()), flow, now=clock()) == (job_id, True)


def take(backend: Backend, clock: Clock, count: int = 10) -> list[Lease]:
    return backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=count)


def test_a_key_runs_at_most_n_at_once_and_other_keys_are_not_held_up(backend: Backend, clock: Clock) -> None:
    # Given three jobs of one user (2 at once allowed), then one of another user, then a plain job
    for job_id in ("a1", "a2", "a3"):
        enqueue(backend, clock, job_id, per_user("ann", 2))
    enqueue(backend, clock, "b1", per_user("bob", 2))
    backend.enqueue(new_job("q", "plain", now=clock()), now=clock())

    # When a worker takes all it can
    taken = take(backend, clock)

    # Then the third of ann's waits, scheduled, its attempt untouched; the others run
    assert sorted(x.job_id for x in taken) == ["a1", "a2", "b1", "plain"]
    status = backend.status("q", "a3")
    assert status is not None and (status.state, status.attempts) == ("scheduled", 0)
    assert take(backend, clock) == []  # and it is not polled: nothing due
    assert (backend.next_due(["q"]) or 0) > clock() + 86400 * 365


def test_the_end_of_a_run_makes_the_next_held_job_due(backend: Backend, clock: Clock) -> None:
    for job_id in ("a1", "a2", "a3"):
        enqueue(backend, clock, job_id, per_user("ann"))
    [first] = take(backend, clock)
    assert take(backend, clock) == []

    # When the running one completes, the oldest held one runs next; then the last
    assert backend.complete(first, "null", now=clock(), result_ttl_s=60)
    [second] = take(backend, clock)
    assert second.job_id == "a2" and second.attempt == 1
    assert backend.fail(second, error=ERROR, now=clock())
    assert [x.job_id for x in take(backend, clock)] == ["a3"]


def test_every_way_out_of_running_gives_the_slot_back(backend: Backend, clock: Clock) -> None:
    # Given one slot, its holder and a job held behind it: retry, release and defer each let the held one run
    for job_id in ("a1", "a2"):
        enqueue(backend, clock, job_id, per_user("ann"))
    [holder] = take(backend, clock)
    assert backend.retry(holder, run_at=clock() + 60, error=ERROR, now=clock())
    [holder] = take(backend, clock)
    assert holder.job_id == "a2"
    enqueue(backend, clock, "a3", per_user("ann"))
    assert take(backend, clock) == []
    assert backend.release(holder, now=clock())
    taken = take(backend, clock)
    assert len(taken) == 1  # a2 (released) or a3 (made due): one, never two
    assert backend.defer(taken[0], run_at=clock() + 5, now=clock())
    assert len(take(backend, clock)) == 1


def test_a_dead_workers_slot_comes_back_when_its_lease_expires(backend: Backend, clock: Clock) -> None:
    # Given a job of a key holding its only slot, and one held behind it
    enqueue(backend, clock, "a1", per_user("ann"))
    enqueue(backend, clock, "a2", per_user("ann"))
    [lease] = take(backend, clock)
    assert lease.job_id == "a1"

    # When its worker dies: the lease runs out, and maintenance requeues it
    clock.advance(31)
    assert backend.requeue_expired(["q"], now=clock()) == (1, 0)

    # Then the slot is free again: one of the two runs, not both
    taken = take(backend, clock)
    assert len(taken) == 1


def test_a_slot_whose_lease_expired_is_free_even_before_maintenance_runs(backend: Backend, clock: Clock) -> None:
    enqueue(backend, clock, "a1", per_user("ann"))
    take(backend, clock)
    clock.advance(31)
    enqueue(backend, clock, "a2", per_user("ann"))
    assert [x.job_id for x in take(backend, clock)] == ["a2"]


def test_heartbeats_keep_the_slot(backend: Backend, clock: Clock) -> None:
    enqueue(backend, clock, "a1", per_user("ann"))
    [lease] = take(backend, clock)
    for _ in range(3):
        clock.advance(20)
        assert backend.extend([lease], now=clock(), lease_s=30) == [True]
    enqueue(backend, clock, "a2", per_user("ann"))
    assert take(backend, clock) == []
