"""Producing and taking jobs: order, priority, delays, idempotent ids, and the counts after each step."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, QueueStats
from tests.contract.conftest import Clock, new_job

LEASE_S = 30.0


def take(backend: Backend, clock: Clock, queues: list[str], count: int = 1, worker: str = "w1") -> list[str]:
    leases = backend.reserve(queues, worker_id=worker, now=clock(), lease_s=LEASE_S, count=count)
    return [lease.job_id for lease in leases]


def test_jobs_of_one_queue_come_out_in_the_order_they_went_in(backend: Backend, clock: Clock) -> None:
    # Given ten jobs enqueued one by one and ten more in one batch
    ids = [f"j{i:02d}" for i in range(20)]
    for job_id in ids[:10]:
        assert backend.enqueue(new_job("q", job_id, now=clock()), now=clock())
    assert backend.enqueue_many([new_job("q", j, now=clock()) for j in ids[10:]], now=clock()) == [True] * 10

    # When they are taken one at a time, then in batches
    taken = [take(backend, clock, ["q"])[0] for _ in range(5)]
    taken += take(backend, clock, ["q"], count=7)
    taken += take(backend, clock, ["q"], count=100)

    # Then the order is the order of enqueueing
    assert taken == ids
    assert take(backend, clock, ["q"]) == []


def test_a_higher_priority_queue_is_always_emptied_first(backend: Backend, clock: Clock) -> None:
    # Given low-priority jobs enqueued before high-priority ones
    backend.enqueue_many([new_job("low", f"low{i}", now=clock()) for i in range(3)], now=clock())
    backend.enqueue_many([new_job("high", f"high{i}", now=clock()) for i in range(2)], now=clock())

    # When a worker listening to high then low takes them
    first = take(backend, clock, ["high", "low"])
    batch = take(backend, clock, ["high", "low"], count=3)
    rest = take(backend, clock, ["high", "low"], count=10)

    # Then every high job came before any low job, each queue in FIFO order
    assert first == ["high0"]
    assert batch == ["high1", "low0", "low1"]
    assert rest == ["low2"]


def test_a_delayed_job_is_invisible_until_its_time(backend: Backend, clock: Clock) -> None:
    # Given two delayed jobs, the later one enqueued first
    t0 = clock()
    backend.enqueue(new_job("q", "late", now=t0, run_at=t0 + 20), now=t0)
    backend.enqueue(new_job("q", "soon", now=t0, run_at=t0 + 10), now=t0)

    # Then nothing can be taken before the first is due
    assert backend.queue_stats("q") == QueueStats("q", ready=0, scheduled=2, running=0, failed=0)
    assert backend.status("q", "soon").state == "scheduled"  # type: ignore[union-attr]
    assert backend.next_due(["q"]) == t0 + 10
    clock.advance(9.999)
    assert take(backend, clock, ["q"]) == []

    # When its time comes (inclusive) it is ready, and the later one still waits
    clock.advance(0.001)
    assert take(backend, clock, ["q"], count=5) == ["soon"]
    assert backend.next_due(["q"]) == t0 + 20
    clock.advance(10)
    assert take(backend, clock, ["q"], count=5) == ["late"]
    assert backend.next_due(["q"]) is None


def test_a_job_due_at_enqueue_time_is_ready_at_once(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "now", now=clock(), run_at=clock()), now=clock())
    backend.enqueue(new_job("q", "past", now=clock(), run_at=clock() - 5), now=clock())
    assert backend.queue_stats("q").ready == 2
    assert backend.status("q", "now").state == "queued"  # type: ignore[union-attr]
    assert take(backend, clock, ["q"], count=2) == ["now", "past"]


def test_due_jobs_join_the_tail_of_the_ready_queue_in_due_order(backend: Backend, clock: Clock) -> None:
    t0 = clock()
    backend.enqueue(new_job("q", "first", now=t0), now=t0)
    backend.enqueue(new_job("q", "due2", now=t0, run_at=t0 + 2), now=t0)
    backend.enqueue(new_job("q", "due1", now=t0, run_at=t0 + 1), now=t0)
    clock.advance(5)
    assert take(backend, clock, ["q"], count=3) == ["first", "due1", "due2"]


def test_enqueueing_an_id_that_exists_is_refused_and_changes_nothing(backend: Backend, clock: Clock) -> None:
    # Given a job with a chosen id
    assert backend.enqueue(new_job("q", "once", now=clock(), payload='{"v":1}'), now=clock())

    # When the same id is sent again, alone or in a batch (twice in the same batch too)
    assert not backend.enqueue(new_job("q", "once", now=clock(), payload='{"v":2}'), now=clock())
    again = [new_job("q", "once", now=clock()), new_job("q", "twice", now=clock()), new_job("q", "twice", now=clock())]
    assert backend.enqueue_many(again, now=clock()) == [False, True, False]

    # Then one job of each id exists, with the first payload
    assert backend.queue_stats("q").ready == 2
    assert backend.status("q", "once").payload == '{"v":1}'  # type: ignore[union-attr]

    # And the id stays taken while the job runs and while its result is kept
    lease = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=LEASE_S)[0]
    assert not backend.enqueue(new_job("q", "once", now=clock()), now=clock())
    backend.complete(lease, "1", now=clock(), result_ttl_s=3600)
    assert not backend.enqueue(new_job("q", "once", now=clock()), now=clock())
    assert backend.status("q", "once").state == "succeeded"  # type: ignore[union-attr]


def test_the_same_id_on_two_queues_is_two_jobs(backend: Backend, clock: Clock) -> None:
    assert backend.enqueue(new_job("a", "same", now=clock()), now=clock())
    assert backend.enqueue(new_job("b", "same", now=clock()), now=clock())
    assert backend.queue_stats("a").ready == backend.queue_stats("b").ready == 1


def test_queue_statistics_follow_every_transition(backend: Backend, clock: Clock) -> None:
    def stats() -> tuple[int, int, int, int]:
        s = backend.queue_stats("q")
        return s.ready, s.scheduled, s.running, s.failed

    error = ErrorInfo("ValueError", "boom")
    t0 = clock()
    assert stats() == (0, 0, 0, 0)
    backend.enqueue_many([new_job("q", f"r{i}", now=t0, max_attempts=2) for i in range(3)], now=t0)
    assert stats() == (3, 0, 0, 0)
    backend.enqueue(new_job("q", "later", now=t0, run_at=t0 + 60), now=t0)
    assert stats() == (3, 1, 0, 0)
    first, second, third = backend.reserve(["q"], worker_id="w", now=t0, lease_s=LEASE_S, count=3)
    assert stats() == (0, 1, 3, 0)
    assert backend.retry(first, run_at=t0 + 5, error=error, now=t0)
    assert stats() == (0, 2, 2, 0)
    assert backend.retry(second, run_at=t0, error=error, now=t0)
    assert stats() == (1, 2, 1, 0)
    assert backend.fail(third, error=error, now=t0)
    assert stats() == (1, 2, 0, 1)
    again = backend.reserve(["q"], worker_id="w", now=t0, lease_s=LEASE_S)[0]
    assert stats() == (0, 2, 1, 1)
    assert backend.release(again, now=t0)
    assert stats() == (1, 2, 0, 1)
    again = backend.reserve(["q"], worker_id="w", now=t0, lease_s=LEASE_S)[0]
    assert backend.complete(again, "null", now=t0, result_ttl_s=60)
    assert stats() == (0, 2, 0, 1)
    clock.advance(LEASE_S + 60)
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=LEASE_S, count=5)
    assert stats() == (0, 0, 2, 1)
    clock.advance(LEASE_S)
    assert backend.requeue_expired(["q"], now=clock()) == (1, 1)  # "later" has attempts left, "r0" does not
    assert stats() == (1, 0, 0, 2)
    assert {lease.job_id for lease in leases} == {"r0", "later"}
    assert backend.retry_failed("q", now=clock()) == 2
    assert stats() == (3, 0, 0, 0)
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=LEASE_S)
    assert backend.clear("q") == 2
    assert stats() == (0, 0, 1, 0)


def test_every_queue_that_held_a_job_is_known(backend: Backend, clock: Clock) -> None:
    assert backend.known_queues() == []
    backend.enqueue(new_job("beta", now=clock()), now=clock())
    backend.enqueue_many([new_job("alpha", now=clock()), new_job("beta", now=clock())], now=clock())
    assert backend.known_queues() == ["alpha", "beta"]


def test_an_unknown_job_has_no_status(backend: Backend) -> None:
    assert backend.status("q", "never-sent") is None
    assert backend.next_due(["q"]) is None
    assert backend.queue_stats("q") == QueueStats("q", 0, 0, 0, 0)
