"""queue(name): sizes, and the failed set (the dead letters) read, retried, purged; clear drops waiting jobs."""

from __future__ import annotations

import time
from datetime import timezone
from pathlib import Path

import pytest

from tasks import FailedRecord, Queue, queue
from tasks.config import get_backend
from tests import jobs
from tests.unit.helpers import drain


def test_sizes_count_ready_scheduled_and_failed_jobs(app: str) -> None:
    # Given two ready jobs, three scheduled ones and one that failed for good, on one queue
    emails = queue("emails")
    jobs.fail_for_good.on("emails").delay()
    drain(["emails"])
    jobs.add.on("emails").delay(1, 1)
    jobs.add.on("emails").delay(2, 2)
    for seconds in (60, 120, 180):
        jobs.add.on("emails").later(seconds, 0, 0)

    # Then each count says so, and other queues are untouched
    assert (emails.size(), emails.scheduled_size(), emails.failed_size()) == (2, 3, 1)
    stats = emails.stats()
    assert (stats.queue, stats.ready, stats.scheduled, stats.running, stats.failed) == ("emails", 2, 3, 0, 1)
    assert (queue().size(), queue().scheduled_size(), queue().failed_size()) == (0, 0, 0)


def test_an_empty_queue_has_zero_everywhere(app: str) -> None:
    never_used = queue("never-used")
    assert (never_used.size(), never_used.scheduled_size(), never_used.failed_size()) == (0, 0, 0)
    assert never_used.failed() == []


def test_queue_defaults_to_default_and_validates_its_name() -> None:
    assert queue().name == "default"
    assert repr(queue("emails")) == "Queue('emails')"
    with pytest.raises(ValueError, match="not valid"):
        Queue("bad name")


def test_failed_records_say_what_ran_with_what_how_often_and_why(app: str) -> None:
    # Given a job that spent its attempts
    before = time.time()
    handle = jobs.always_fails.delay(message="disk full")
    drain()
    after = time.time()

    # When the failed set is read
    [record] = queue("default").failed()

    # Then the record carries the call, the attempts and the last error
    assert isinstance(record, FailedRecord)
    assert record.id == handle.id
    assert record.name == "tests.always_fails"
    assert (record.args, record.kwargs) == ([], {"message": "disk full"})
    assert record.attempts == 3
    assert (record.error_type, record.message) == ("ValueError", "disk full")
    assert "Traceback" in record.traceback and "raise ValueError(message)" in record.traceback
    assert record.failed_at.tzinfo is timezone.utc
    assert before <= record.failed_at.timestamp() <= after


def test_failed_lists_the_newest_first_up_to_the_limit(app: str) -> None:
    # Given five jobs that failed one after the other
    handles = []
    for n in range(5):
        handles.append(jobs.always_fails.with_options(max_attempts=1).delay(f"failure {n}"))
        drain()

    # When the newest three are asked for
    records = queue("default").failed(limit=3)

    # Then they are the last three, newest first
    assert [r.message for r in records] == ["failure 4", "failure 3", "failure 2"]
    assert [r.id for r in records] == [h.id for h in reversed(handles[2:])]
    assert len(queue("default").failed()) == 5


def test_retry_failed_puts_every_failed_job_back_with_attempts_reset(app: str) -> None:
    # Given two jobs in the failed set
    first = jobs.fails_with_attempt.delay()
    second = jobs.fail_for_good.delay()
    drain()
    assert queue("default").failed_size() == 2

    # When the failed set is retried
    moved = queue("default").retry_failed()

    # Then both are ready again, their attempts reset, and the failed set is empty
    assert moved == 2
    assert queue("default").failed_size() == 0
    assert queue("default").size() == 2
    assert first.status() == second.status() == "queued"
    for handle in (first, second):
        status = get_backend().status("default", handle.id)
        assert status is not None and status.attempts == 0


def test_retry_failed_with_ids_moves_only_those(app: str) -> None:
    # Given three failed jobs
    handles = [jobs.fail_for_good.delay() for _ in range(3)]
    drain()

    # When one of them, and an id that is not in the failed set, are retried
    moved = queue("default").retry_failed(ids=[handles[1].id, "not-there"])

    # Then only that one moved
    assert moved == 1
    assert handles[1].status() == "queued"
    assert handles[0].status() == handles[2].status() == "failed"
    assert {r.id for r in queue("default").failed()} == {handles[0].id, handles[2].id}


def test_retry_failed_with_no_ids_moves_nothing(app: str) -> None:
    jobs.fail_for_good.delay()
    drain()
    assert queue("default").retry_failed(ids=[]) == 0
    assert queue("default").failed_size() == 1


def test_a_retried_job_runs_again_as_a_first_attempt(
    app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job that failed for good because its environment was missing (no TASKS_TEST_RECORD)
    monkeypatch.delenv("TASKS_TEST_RECORD", raising=False)
    handle = jobs.record.with_options(max_attempts=1).delay("hello")
    drain()
    [record] = queue("default").failed()
    assert record.error_type == "KeyError"

    # When the environment is fixed and the job is retried from the failed set
    monkeypatch.setenv("TASKS_TEST_RECORD", str(tmp_path / "record.txt"))
    assert queue("default").retry_failed() == 1
    drain()

    # Then it ran again, within its single allowed attempt, and succeeded
    assert handle.result(timeout=5) == "hello"
    assert (tmp_path / "record.txt").read_text() == "hello\n"


def test_purge_failed_deletes_the_dead_letters(app: str) -> None:
    # Given two failed jobs and one ready job
    failed = [jobs.fail_for_good.delay() for _ in range(2)]
    drain()
    ready = jobs.add.delay(1, 1)

    # When the failed set is purged
    purged = queue("default").purge_failed()

    # Then they are gone for good, and the ready job is untouched
    assert purged == 2
    assert queue("default").failed_size() == 0
    for handle in failed:
        with pytest.raises(LookupError):
            handle.status()
    assert ready.status() == "queued"
    assert queue("default").purge_failed() == 0


def test_clear_drops_ready_and_scheduled_jobs_only(app: str) -> None:
    # Given ready, scheduled and failed jobs
    dead = jobs.fail_for_good.delay()
    drain()
    ready = [jobs.add.delay(n, n) for n in range(3)]
    scheduled = jobs.add.later(3600, 1, 1)

    # When the queue is cleared
    cleared = queue("default").clear()

    # Then the waiting jobs are deleted and the failed one stays
    assert cleared == 4
    assert (queue().size(), queue().scheduled_size(), queue().failed_size()) == (0, 0, 1)
    for handle in [*ready, scheduled]:
        with pytest.raises(LookupError):
            handle.status()
    assert dead.status() == "failed"

    # And a worker finds nothing to run
    drain()
    assert queue().failed_size() == 1


def test_clear_touches_only_its_own_queue(app: str) -> None:
    jobs.add.on("emails").delay(1, 1)
    kept = jobs.add.delay(1, 1)
    assert queue("emails").clear() == 1
    assert kept.status() == "queued"
    assert queue("emails").clear() == 0
