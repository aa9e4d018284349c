"""``job_info``: everything known of one job, in every state, and tolerant of a damaged record."""

from __future__ import annotations

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, Progress
from tests.contract.conftest import Clock, new_job
from tests.contract.damage import set_field

ERROR = ErrorInfo("ValueError", "boom", "Traceback (most recent call last): ...")


def test_a_queued_job_shows_its_payload_attempts_and_enqueue_time(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock(), max_attempts=4), now=clock())

    info = backend.job_info("q", "a")

    assert info is not None
    assert (info.id, info.queue, info.state, info.attempts, info.max_attempts) == ("a", "q", "queued", 0, 4)
    assert info.payload == '{"id":"a"}'
    assert info.enqueued_at == clock()
    assert (info.started_at, info.finished_at, info.run_at, info.result, info.error, info.progress) == (
        None, None, None, None, None, None,
    )  # fmt: skip


def test_a_scheduled_job_shows_when_it_is_due(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "later", now=clock(), run_at=clock() + 90), now=clock())

    info = backend.job_info("q", "later")

    assert info is not None and info.state == "scheduled"
    assert info.run_at == clock() + 90


def test_a_running_job_shows_its_worker_and_start(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    clock.advance(5)
    backend.reserve(["q"], worker_id="w-1", now=clock(), lease_s=30)

    info = backend.job_info("q", "a")

    assert info is not None
    assert (info.state, info.attempts, info.worker, info.started_at) == ("running", 1, "w-1", clock())


def test_finished_jobs_show_their_result_or_error_and_end(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "ok", now=clock()), now=clock())
    backend.enqueue(new_job("q", "bad", now=clock()), now=clock())
    ok, bad = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=2)
    clock.advance(2)
    backend.complete(ok, '"done"', now=clock(), result_ttl_s=3600)
    backend.fail(bad, error=ERROR, now=clock())

    succeeded, failed = backend.job_info("q", "ok"), backend.job_info("q", "bad")

    assert succeeded is not None and failed is not None
    assert (succeeded.state, succeeded.result, succeeded.finished_at) == ("succeeded", '"done"', clock())
    assert (failed.state, failed.error) == ("failed", ERROR)


def test_progress_is_read_from_the_record(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    set_field(backend, "q", "a", "progress", Progress(0.4, "4 of 10", clock()).to_json())

    info = backend.job_info("q", "a")

    assert info is not None and info.progress == Progress(0.4, "4 of 10", clock())


def test_a_damaged_record_reads_as_unknown_values_not_an_error(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    set_field(backend, "q", "a", "progress", "{not json")
    set_field(backend, "q", "a", "enqueued_at", "yesterday")
    set_field(backend, "q", "a", "attempts", "many")

    info = backend.job_info("q", "a")

    assert info is not None
    assert (info.state, info.progress, info.enqueued_at, info.attempts) == ("queued", None, None, 0)


def test_an_unknown_job_has_no_info(backend: Backend) -> None:
    assert backend.job_info("q", "never-sent") is None
