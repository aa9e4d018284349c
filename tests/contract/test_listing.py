"""``Backend.jobs``: a page of one queue's jobs per indexed state, in the queue's own order, read from indexes."""

from __future__ import annotations

import pytest

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, Progress
from tests.contract.conftest import Clock, new_job
from tests.contract.damage import set_field

ERROR = ErrorInfo("ValueError", "boom", "Traceback (most recent call last): ...")


def ids(backend: Backend, state: str, **page: int) -> list[str]:
    return [info.id for info in backend.jobs("q", state, **page)]  # type: ignore[arg-type]


def test_ready_jobs_are_listed_oldest_first_a_page_at_a_time(backend: Backend, clock: Clock) -> None:
    # Given five ready jobs and one on another queue
    backend.enqueue_many([new_job("q", f"j{i}", now=clock()) for i in range(5)], now=clock())
    backend.enqueue(new_job("other", "x", now=clock()), now=clock())

    # Then pages of the ready list come in queue order, and an offset past the end gives nothing
    assert ids(backend, "queued") == ["j0", "j1", "j2", "j3", "j4"]
    assert ids(backend, "queued", limit=2, offset=1) == ["j1", "j2"]
    assert ids(backend, "queued", limit=2, offset=9) == []
    assert ids(backend, "queued", limit=0) == []
    [first] = backend.jobs("q", "queued", limit=1)
    assert (first.queue, first.state, first.attempts, first.max_attempts) == ("q", "queued", 0, 3)
    assert first.payload == '{"id":"j0"}' and first.enqueued_at == clock()


def test_scheduled_and_retrying_jobs_are_listed_soonest_first_with_their_time(backend: Backend, clock: Clock) -> None:
    # Given a job due in an hour, one due in a minute, and a running job that is retried in ten minutes
    backend.enqueue(new_job("q", "later", now=clock(), run_at=clock() + 3600), now=clock())
    backend.enqueue(new_job("q", "soon", now=clock(), run_at=clock() + 60), now=clock())
    backend.enqueue(new_job("q", "r", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert backend.retry(lease, run_at=clock() + 600, error=ERROR, now=clock())

    # Then both states list the jobs waiting for a time, soonest first, each with its own state and due time
    waiting = backend.jobs("q", "scheduled")
    assert [(i.id, i.state, i.run_at) for i in waiting] == [
        ("soon", "scheduled", clock() + 60),
        ("r", "retrying", clock() + 600),
        ("later", "scheduled", clock() + 3600),
    ]
    assert [i.id for i in backend.jobs("q", "retrying")] == ["soon", "r", "later"]
    assert waiting[1].error == ERROR and waiting[1].attempts == 1


def test_running_jobs_are_listed_with_their_worker_and_start(backend: Backend, clock: Clock) -> None:
    backend.enqueue_many([new_job("q", "a", now=clock()), new_job("q", "b", now=clock())], now=clock())
    backend.reserve(["q"], worker_id="w1", now=clock(), lease_s=30)
    clock.advance(5)
    backend.reserve(["q"], worker_id="w2", now=clock(), lease_s=30)

    running = backend.jobs("q", "running")
    assert [(i.id, i.state, i.worker, i.started_at, i.attempts) for i in running] == [
        ("a", "running", "w1", clock() - 5, 1),
        ("b", "running", "w2", clock(), 1),
    ]
    assert ids(backend, "queued") == []


def test_failed_jobs_are_listed_newest_first_with_their_error(backend: Backend, clock: Clock) -> None:
    # Given three jobs that failed one after another
    for job_id in ("f1", "f2", "f3"):
        backend.enqueue(new_job("q", job_id, now=clock()), now=clock())
        [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
        assert backend.fail(lease, error=ERROR, now=clock())
        clock.advance(1)

    failed = backend.jobs("q", "failed", limit=2)
    assert [(i.id, i.state, i.finished_at, i.error) for i in failed] == [
        ("f3", "failed", clock() - 1, ERROR),
        ("f2", "failed", clock() - 2, ERROR),
    ]
    assert ids(backend, "failed", offset=2) == ["f1"]

    # And a retried one leaves the failed listing for the ready one
    assert backend.retry_failed("q", ["f2"], now=clock()) == 1
    assert ids(backend, "failed") == ["f3", "f1"]
    assert ids(backend, "queued") == ["f2"]


def test_states_that_no_index_holds_list_nothing(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "done", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    backend.complete(lease, "1", now=clock(), result_ttl_s=60)
    assert backend.jobs("q", "succeeded") == []
    assert backend.jobs("q", "cancelled") == []
    assert backend.jobs("never-used", "queued") == []


@pytest.mark.parametrize(
    ("state", "page", "message"),
    [
        ("done", {}, "state 'done' is not one of"),
        ("queued", {"limit": -1}, "limit must be between 0 and 1000"),
        ("queued", {"limit": 1001}, "limit must be between 0 and 1000"),
        ("queued", {"offset": -1}, "offset must be >= 0"),
    ],
)
def test_a_bad_page_is_refused_with_the_argument_named(
    backend: Backend, state: str, page: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        backend.jobs("q", state, **page)  # type: ignore[arg-type]


def test_a_damaged_record_is_listed_rather_than_failing_the_page(backend: Backend, clock: Clock) -> None:
    backend.enqueue_many([new_job("q", "ok", now=clock()), new_job("q", "bad", now=clock())], now=clock())
    set_field(backend, "q", "bad", "attempts", "many")
    set_field(backend, "q", "bad", "enqueued_at", "yesterday")

    ok, bad = backend.jobs("q", "queued")
    assert ok.id == "ok" and (bad.id, bad.state, bad.attempts, bad.enqueued_at) == ("bad", "queued", 0, None)


def test_last_ticks_reads_the_last_tick_of_many_schedules_at_once(backend: Backend) -> None:
    assert backend.claim_tick("a", 100.0) and backend.claim_tick("a", 160.0) and backend.claim_tick("c", 50.5)
    names = ["a", "b", "c", *(f"many-{i}" for i in range(1200))]  # more than one SQL statement's worth
    ticks = backend.last_ticks(names)
    assert list(ticks) == names
    assert (ticks["a"], ticks["b"], ticks["c"], ticks["many-1199"]) == (160.0, None, 50.5, None)
    assert ticks == {name: backend.last_tick(name) for name in names}
    assert backend.last_ticks([]) == {}


def test_a_listed_job_is_what_job_info_says_of_it_progress_included(backend: Backend, clock: Clock) -> None:
    # Given a job in each listed state, the running one with a progress record
    backend.enqueue(new_job("q", "run", now=clock()), now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    set_field(backend, "q", "run", "progress", Progress(0.5, "half", clock()).to_json())
    backend.enqueue(new_job("q", "bad", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    backend.fail(lease, error=ERROR, now=clock())
    backend.enqueue(new_job("q", "ready", now=clock()), now=clock())
    backend.enqueue(new_job("q", "later", now=clock(), run_at=clock() + 60), now=clock())

    # Then each listing's entry is the job's whole info
    for state in ("queued", "scheduled", "running", "failed"):
        [listed] = backend.jobs("q", state)  # type: ignore[arg-type]
        assert listed == backend.job_info("q", listed.id), state
    assert backend.jobs("q", "running")[0].progress == Progress(0.5, "half", clock())


def test_delete_failed_deletes_only_the_named_failed_jobs(backend: Backend, clock: Clock) -> None:
    # Given three failed jobs and a queued one
    for job_id in ("f1", "f2", "f3"):
        backend.enqueue(new_job("q", job_id, now=clock()), now=clock())
        [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
        backend.fail(lease, error=ERROR, now=clock())
    backend.enqueue(new_job("q", "ready", now=clock()), now=clock())

    # When two of them are deleted, with an id named twice, a queued one and one that does not exist
    deleted = backend.delete_failed("q", ["f1", "f3", "f1", "ready", "nope"])

    # Then exactly those two are gone, record and all; the rest is untouched
    assert deleted == 2
    assert ids(backend, "failed") == ["f2"]
    assert backend.status("q", "f1") is None and backend.failed_job("q", "f3") is None
    assert ids(backend, "queued") == ["ready"] and backend.queue_stats("q").failed == 1
    assert backend.delete_failed("q", []) == 0
    assert backend.delete_failed("other", ["f2"]) == 0 and backend.failed_job("q", "f2") is not None
