"""What an attempt's outcome does: complete (and its result TTL), retry, fail, and the failed set after."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, Lease
from tests.contract.conftest import Clock, new_job
from tests.support.waiting import wait_until

ERROR = ErrorInfo("ValueError", "boom", "Traceback (most recent call last): ...")


def lease_one(backend: Backend, clock: Clock, job_id: str = "a", queue: str = "q") -> Lease:
    backend.enqueue(new_job(queue, job_id, now=clock()), now=clock())
    [lease] = backend.reserve([queue], worker_id="w", now=clock(), lease_s=30)
    return lease


def test_complete_keeps_the_result_and_the_final_state(backend: Backend, clock: Clock) -> None:
    lease = lease_one(backend, clock)
    assert backend.complete(lease, '{"total": 5}', now=clock(), result_ttl_s=3600)
    status = backend.status("q", "a")
    assert status is not None
    assert (status.state, status.attempts, status.result, status.error) == ("succeeded", 1, '{"total": 5}', None)
    assert status.payload == '{"id":"a"}'
    assert backend.queue_stats("q").running == 0


def test_a_result_is_kept_for_its_ttl_and_then_forgotten(backend: Backend, clock: Clock) -> None:
    # Given one result kept for an hour and one for 50 ms (TTLs run on the datastore's clock)
    kept, brief = lease_one(backend, clock, "kept"), lease_one(backend, clock, "brief")
    backend.complete(kept, "1", now=clock(), result_ttl_s=3600)
    backend.complete(brief, "2", now=clock(), result_ttl_s=0.05)

    # Then the brief one is forgotten, with or without the workers' maintenance running, and the other stays
    def forgotten() -> bool:
        gone = backend.status("q", "brief") is None
        backend.requeue_expired(["q"], now=clock())
        return gone and backend.status("q", "brief") is None

    wait_until(forgotten, timeout=5, message="the 50 ms result to expire")
    assert backend.status("q", "kept").result == "1"  # type: ignore[union-attr]

    # And the forgotten id may be used again
    assert backend.enqueue(new_job("q", "brief", now=clock()), now=clock())
    assert backend.status("q", "brief").state == "queued"  # type: ignore[union-attr]


def test_complete_many_and_complete_and_reserve_acknowledge_each_job(backend: Backend, clock: Clock) -> None:
    # Given three running jobs on two queues, one of whose leases went stale
    backend.enqueue_many([new_job("a", "a1", now=clock()), new_job("a", "a2", now=clock())], now=clock())
    backend.enqueue_many([new_job("b", "b1", now=clock()), new_job("b", "b2", now=clock())], now=clock())
    a1, a2 = backend.reserve(["a"], worker_id="w", now=clock(), lease_s=30, count=2)
    b1 = backend.reserve(["b"], worker_id="w", now=clock(), lease_s=30)[0]
    stale = Lease(**{**a2.__dict__, "token": "stale"})

    # When one call acknowledges them and takes the next job
    done = backend.complete_many([(a1, "1", 60)], now=clock())
    done2, leases = backend.complete_and_reserve(
        [(b1, "2", 60), (stale, "x", 60)], ["a", "b"], worker_id="w", now=clock(), lease_s=30, count=5
    )

    # Then each acknowledgement says whether it held, and the reserve is unaffected by the stale one
    assert done == [True] and done2 == [True, False]
    assert [x.job_id for x in leases] == ["b2"]
    assert backend.status("b", "b1").state == "succeeded"  # type: ignore[union-attr]
    assert backend.status("a", "a2").state == "running"  # type: ignore[union-attr]
    nothing_done, nothing = backend.complete_and_reserve([], ["a"], worker_id="w", now=clock(), lease_s=30, count=0)
    assert nothing_done == [] and nothing == []


def test_retry_later_is_one_transition_to_a_waiting_job(backend: Backend, clock: Clock) -> None:
    # Given a running job
    lease = lease_one(backend, clock)

    # When its attempt fails and a retry is due in 30 s
    assert backend.retry(lease, run_at=clock() + 30, error=ERROR, now=clock())

    # Then it is retrying with the error kept, neither running nor ready, until due
    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts, status.error) == ("retrying", 1, ERROR)
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.scheduled, stats.running) == (0, 1, 0)
    assert backend.next_due(["q"]) == clock() + 30
    assert backend.reserve(["q"], worker_id="w", now=clock() + 29.9, lease_s=30) == []
    assert backend.reserve(["q"], worker_id="w", now=clock() + 30, lease_s=30)[0].attempt == 2


def test_retry_due_now_goes_straight_back_to_the_queue(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "first", now=clock()), now=clock())
    lease = lease_one(backend, clock, "a")  # enqueues "a" behind "first", and leases "first"
    assert lease.job_id == "first"
    assert backend.retry(lease, run_at=clock(), error=ERROR, now=clock())
    status = backend.status("q", "first")
    assert status is not None and (status.state, status.error) == ("queued", ERROR)
    assert [x.job_id for x in backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=2)] == [
        "a",
        "first",
    ]


def test_fail_is_one_transition_into_the_failed_set(backend: Backend, clock: Clock) -> None:
    # Given two running jobs that fail for good, one after the other
    first = lease_one(backend, clock, "first")
    second = lease_one(backend, clock, "second")
    assert backend.fail(first, error=ERROR, now=clock())
    assert backend.fail(second, error=ErrorInfo("Fail", "card declined"), now=clock() + 1)

    # Then both are in the failed set, newest first, with what is needed to understand them
    status = backend.status("q", "first")
    assert status is not None and (status.state, status.attempts, status.error) == ("failed", 1, ERROR)
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.running, stats.failed) == (0, 0, 2)
    entries = backend.failed("q")
    assert [(e.id, e.attempts, e.failed_at) for e in entries] == [("second", 1, clock() + 1), ("first", 1, clock())]
    assert entries[1].error == ERROR and entries[1].payload == '{"id":"first"}' and entries[1].queue == "q"
    assert [e.id for e in backend.failed("q", limit=1)] == ["second"]


def test_failed_jobs_can_be_retried_with_their_attempts_reset(backend: Backend, clock: Clock) -> None:
    # Given three failed jobs
    for job_id in ("x", "y", "z"):
        backend.fail(lease_one(backend, clock, job_id), error=ERROR, now=clock())

    # When one is retried by id (with unknown and running ids beside it), then the rest
    assert backend.retry_failed("q", [], now=clock()) == 0
    assert backend.retry_failed("q", ["y", "nope"], now=clock()) == 1
    assert backend.retry_failed("q", ["y"], now=clock()) == 0
    assert backend.queue_stats("q").failed == 2
    assert backend.retry_failed("q", now=clock()) == 2

    # Then all are ready again, in the order they were put back, and their next attempt is the first
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.failed) == (3, 0)
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=3)
    assert [x.job_id for x in leases] == ["y", "x", "z"]
    assert [x.attempt for x in leases] == [1, 1, 1]
    assert backend.retry_failed("q", now=clock()) == 0


def test_purge_deletes_the_failed_set_and_nothing_else(backend: Backend, clock: Clock) -> None:
    for job_id in ("x", "y"):
        backend.fail(lease_one(backend, clock, job_id), error=ERROR, now=clock())
    backend.enqueue(new_job("q", "waiting", now=clock()), now=clock())
    assert backend.purge_failed("q") == 2
    assert backend.purge_failed("q") == 0
    assert backend.failed("q") == []
    assert backend.status("q", "x") is None
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.failed) == (1, 0)


def test_clear_deletes_ready_and_waiting_jobs_but_not_running_or_failed_ones(backend: Backend, clock: Clock) -> None:
    # Given a running job, a failed job, a retrying job, a delayed job and two ready jobs
    running = lease_one(backend, clock, "running")
    backend.fail(lease_one(backend, clock, "failed"), error=ERROR, now=clock())
    backend.retry(lease_one(backend, clock, "retrying"), run_at=clock() + 60, error=ERROR, now=clock())
    backend.enqueue(new_job("q", "delayed", now=clock(), run_at=clock() + 60), now=clock())
    backend.enqueue_many([new_job("q", "r1", now=clock()), new_job("q", "r2", now=clock())], now=clock())
    backend.enqueue(new_job("other", "elsewhere", now=clock()), now=clock())

    # When the queue is cleared
    assert backend.clear("q") == 4

    # Then only the running and failed jobs remain, and other queues are untouched
    for job_id in ("delayed", "retrying", "r1", "r2"):
        assert backend.status("q", job_id) is None
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.scheduled, stats.running, stats.failed) == (0, 0, 1, 1)
    assert backend.queue_stats("other").ready == 1
    assert backend.reserve(["q"], worker_id="w", now=clock() + 120, lease_s=30) == []
    assert backend.complete(running, "1", now=clock(), result_ttl_s=60)
