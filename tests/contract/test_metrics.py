"""Metrics kept by the outcome transitions: per minute, per queue and per job name, exact, bounded to 24 hours."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, Lease, MetricPoint
from tasks.observe.series import BUCKETS_S, RETENTION_S, minute_of
from tests.contract.conftest import Clock, new_job

ERROR = ErrorInfo("ValueError", "boom")


def named(name: str, job_id: str) -> str:
    return f'{{"v":1,"id":"{job_id}","name":"{name}","queue":"q"}}'


def start(backend: Backend, clock: Clock, name: str, job_id: str, queue: str = "q", waited: float = 0.0) -> Lease:
    """Enqueue a job ``waited`` seconds before now and lease it now."""
    job = new_job(queue, job_id, now=clock() - waited, payload=named(name, job_id))
    backend.enqueue(job, now=clock())
    [lease] = backend.reserve([queue], worker_id="w", now=clock(), lease_s=300)
    return lease


def series(backend: Backend, clock: Clock) -> dict[tuple[float, str, str], MetricPoint]:
    found = backend.metric_series(since=clock() - 2 * RETENTION_S, until=clock() + 60)
    return {(p.minute, p.queue, p.job): p for p in found}


def test_each_outcome_is_counted_with_its_run_and_wait_times(backend: Backend, clock: Clock) -> None:
    clock.now = minute_of(clock()) + 1.0  # the minute's start: every outcome below falls in this minute
    # Given jobs of one name that succeed, retry, fail, or are cancelled, each having waited 2 s and run 0.5 s
    ok = start(backend, clock, "app.resize", "ok", waited=2)
    again = start(backend, clock, "app.resize", "again", waited=2)
    bad = start(backend, clock, "app.resize", "bad", waited=2)
    backend.enqueue(new_job("q", "dropped", now=clock(), payload=named("app.resize", "dropped")), now=clock())
    clock.advance(0.5)

    # When each outcome is written
    assert backend.complete(ok, "1", now=clock(), result_ttl_s=60)
    assert backend.retry(again, run_at=clock() + 30, error=ERROR, now=clock())
    assert backend.fail(bad, error=ERROR, now=clock())
    assert backend.cancel("q", "dropped", now=clock()) == "cancelled"

    # Then one point holds them all, with the times summed and each run in the 0.5 s bucket
    [point] = backend.metric_series(since=clock() - 60, until=clock())
    assert (point.minute, point.queue, point.job) == (minute_of(clock()), "q", "app.resize")
    assert (point.succeeded, point.retried, point.failed, point.cancelled) == (1, 1, 1, 1)
    assert point.run_s_sum == 1.5 and point.wait_s_sum == 6.0
    assert point.run_buckets[BUCKETS_S.index(0.5)] == 3 and sum(point.run_buckets) == 3
    assert len(point.run_buckets) == len(BUCKETS_S) + 1


def test_points_are_split_by_minute_queue_and_name(backend: Backend, clock: Clock) -> None:
    clock.now = minute_of(clock()) + 1.0
    first = minute_of(clock())
    for i, (queue, name) in enumerate([("q", "a.one"), ("q", "a.two"), ("other", "a.one"), ("q", "a.one")]):
        lease = start(backend, clock, name, f"j{i}", queue=queue)
        backend.complete_many([(lease, "1", 60)], now=clock())
    clock.advance(60)  # the next minute
    lease = start(backend, clock, "a.one", "late")
    backend.complete_and_reserve([(lease, "1", 60)], ["q"], worker_id="w", now=clock(), lease_s=30, count=1)

    points = series(backend, clock)

    assert {key: p.succeeded for key, p in points.items()} == {
        (first, "q", "a.one"): 2,
        (first, "q", "a.two"): 1,
        (first, "other", "a.one"): 1,
        (first + 60, "q", "a.one"): 1,
    }
    # A window selects whole minutes
    assert [p.minute for p in backend.metric_series(since=first + 61, until=first + 200)] == [first + 60]
    assert len(backend.metric_series(since=first - 600, until=first)) == 3


def test_a_write_refused_for_a_stale_lease_counts_nothing(backend: Backend, clock: Clock) -> None:
    lease = start(backend, clock, "app.x", "a")
    stale = Lease(**{**lease.__dict__, "token": "stale"})

    assert backend.complete_many([(stale, "1", 60)], now=clock()) == [False]
    assert not backend.retry(stale, run_at=clock(), error=ERROR, now=clock())
    assert not backend.fail(stale, error=ERROR, now=clock())

    assert backend.metric_series(since=clock() - 60, until=clock() + 60) == []


def test_minutes_older_than_the_retention_are_dropped(backend: Backend, clock: Clock) -> None:
    # Given counters of a minute long ago
    backend.complete(start(backend, clock, "app.x", "old"), "1", now=clock(), result_ttl_s=60)
    old = minute_of(clock())

    # When a day and more has passed and another job ends
    clock.advance(RETENTION_S + 120)
    backend.complete(start(backend, clock, "app.x", "new"), "1", now=clock(), result_ttl_s=60)

    # Then only the recent minute is left
    assert [p.minute for p in series(backend, clock).values()] == [minute_of(clock())]
    assert old not in {p.minute for p in backend.metric_series(since=old - 60, until=old + 60)}


def test_metrics_can_be_turned_off(backend: Backend, clock: Clock) -> None:
    backend.record_metrics = False
    lease = start(backend, clock, "app.x", "a")
    assert backend.complete(lease, "1", now=clock(), result_ttl_s=60)
    failing = start(backend, clock, "app.x", "b")
    assert backend.fail(failing, error=ERROR, now=clock())
    backend.enqueue(new_job("q", "c", now=clock(), payload=named("app.x", "c")), now=clock())
    assert backend.cancel("q", "c", now=clock()) == "cancelled"

    assert backend.metric_series(since=clock() - 60, until=clock() + 60) == []
