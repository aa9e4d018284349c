"""Job control as a user sees it, on every backend: ``JobHandle.cancel/progress/info``, ``current_job().progress``
in sync and async jobs, and ``python -m tasks job`` and ``cancel``."""

from __future__ import annotations

import logging

import pytest

from tasks import JobCancelled, cli, configure
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.contract.conftest import Target


def burst() -> int:
    return Worker(get_backend(), WorkerSettings(queues=["default"], burst=True)).run()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, status: int = 0) -> str:
    assert cli.main(list(args)) == status
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_sync_and_async_jobs_report_progress_that_the_handle_reads(app: Target) -> None:
    # Given a sync and an async job that each report four steps
    sync, coro = jobs.reports_progress.delay(4), jobs.async_reports_progress.delay(4)
    assert sync.progress() is None

    # When a worker runs them
    burst()

    # Then each handle reads the last report, with its note and time
    assert sync.result(timeout=5) == sync.id and coro.result(timeout=5) == coro.id
    for handle in (sync, coro):
        progress = handle.progress()
        assert progress is not None
        assert (progress.fraction, progress.note) == (1.0, "step 4 of 4")
        assert progress.updated_at > 0


def test_info_shows_a_finished_job_whole(app: Target) -> None:
    handle = jobs.always_fails.delay("no luck")
    burst()

    info = handle.info()

    assert (info.state, info.attempts, info.max_attempts) == ("failed", 3, 3)
    assert info.error is not None and (info.error.type, info.error.message) == ("ValueError", "no luck")
    assert info.enqueued_at is not None and info.finished_at is not None and info.worker


def test_a_cancelled_job_never_runs_and_its_result_raises(app: Target) -> None:
    # Given two queued jobs, one of them cancelled
    cancelled, kept = jobs.add.delay(1, 2), jobs.add.delay(3, 4)
    assert cancelled.cancel() == "cancelled"

    # When a worker drains the queue
    burst()

    # Then the other ran, and the cancelled one reports its state and raises on result()
    assert kept.result(timeout=5) == 7
    assert cancelled.status() == "cancelled"
    with pytest.raises(JobCancelled, match=cancelled.id):
        cancelled.result(timeout=5)
    assert cancelled.info().attempts == 0
    assert cancelled.cancel() == "finished"


def test_an_unknown_job_is_a_lookup_error(app: Target) -> None:
    handle = jobs.add.delay(1, 1)
    ghost = type(handle)("no-such-id", "default")
    with pytest.raises(LookupError, match="no-such-id"):
        ghost.info()
    assert ghost.cancel() == "unknown"


def test_the_job_and_cancel_commands(app: Target, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a finished job with progress and a queued one
    done = jobs.reports_progress.delay(2)
    burst()
    waiting = jobs.add.delay(40, 2)

    # Then `job` shows the finished one whole
    shown = run_cli(capsys, "job", done.id, "--url", app.url)
    assert f"id:          {done.id}" in shown
    assert "name:        tests.reports_progress" in shown
    assert "state:       succeeded" in shown and "attempts:    1 of " in shown
    assert "progress:    100% (step 2 of 2)" in shown

    # And `cancel` cancels the queued one, once; an unknown id is an error that changes nothing
    assert "cancelled: it will not run" in run_cli(capsys, "cancel", waiting.id, "--url", app.url)
    assert "already ended (cancelled)" in run_cli(capsys, "cancel", waiting.id, "--url", app.url, status=1)
    assert "no job with id 'nope'" in run_cli(capsys, "cancel", "nope", "--url", app.url, status=1)
    assert "state:       cancelled" in run_cli(capsys, "job", waiting.id, "--queue", "default", "--url", app.url)


def test_a_progress_report_that_cannot_be_stored_is_logged_and_the_job_goes_on(
    app: Target, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backend whose progress writes fail
    handle = jobs.reports_progress.delay(3)

    def broken(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("datastore away")

    monkeypatch.setattr(type(get_backend()), "set_progress", broken)

    # When the job runs, Then it succeeds anyway and each failed report is logged
    with caplog.at_level(logging.WARNING, logger="tasks.job"):
        burst()
    assert handle.result(timeout=5) == handle.id
    assert sum("progress 100 % not stored: datastore away" in r.getMessage() for r in caplog.records) == 1


def test_progress_checks_its_fraction_and_a_direct_call_stores_nothing(app: Target) -> None:
    # A direct call runs with a context of its own, which keeps nothing
    assert jobs.reports_progress(2).startswith("direct-")
    with pytest.raises(ValueError, match="from 0 to 1"):
        _progress(1.5)
    configure(url=app.url, prefix=app.prefix)


def _progress(fraction: float) -> None:
    from tasks.context import direct_context

    direct_context("x", "default", 1).progress(fraction)
