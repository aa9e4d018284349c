"""current_job(): what a running job knows about itself, and a clear error anywhere else."""

from __future__ import annotations

import logging
import time

import pytest

from tasks import current_job
from tests import jobs
from tests.unit.helpers import ManualClock, drain


def test_current_job_describes_the_running_job(app: str) -> None:
    # Given a job dispatched now, run by a worker whose clock reads a known time
    before = time.time()
    handle = jobs.echo_context.delay()
    after = time.time()
    clock = ManualClock()
    clock.advance(5)

    # When a worker runs it
    drain(clock=clock)

    # Then the job saw its own identity, attempt and timestamps
    seen = handle.result(timeout=5)
    assert seen["id"] == handle.id
    assert seen["name"] == "tests.echo_context"
    assert seen["queue"] == "default"
    assert (seen["attempt"], seen["max_attempts"]) == (1, 3)
    assert before <= seen["enqueued_at"] <= after
    assert seen["started_at"] == clock.now


def test_current_job_counts_attempts_and_sees_the_dispatch_queue(app: str) -> None:
    # Given a job that asks for one retry and then returns its attempt number, sent to another queue
    handle = jobs.retry_then_succeed.on("other").delay()

    # When a worker runs it
    drain(["other"])

    # Then the second attempt knew it was the second
    assert handle.result(timeout=5) == 2


def test_current_job_names_the_queue_it_was_sent_to(app: str) -> None:
    handle = jobs.echo_context.on("elsewhere").delay()
    drain(["elsewhere"])
    assert handle.result(timeout=5)["queue"] == "elsewhere"


def test_log_is_tagged_with_the_job_name_and_id(memory_app: str, caplog: pytest.LogCaptureFixture) -> None:
    # Given a job that logs through its context
    handle = jobs.echo_context.delay()

    # When it runs
    with caplog.at_level(logging.INFO, logger="tasks.job"):
        drain()

    # Then the line went through the job logger, tagged with its name and id
    lines = [r.getMessage() for r in caplog.records if r.name == "tasks.job"]
    assert f"[tests.echo_context {handle.id}] echoing context" in lines


def test_current_job_outside_a_job_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="only available inside a job"):
        current_job()


def test_a_job_called_inline_has_a_context_of_its_own() -> None:
    # A plain call runs the function here, as the first attempt of a job no datastore holds (tests/testing)
    seen = jobs.echo_context()
    assert seen["id"].startswith("direct-") and seen["attempt"] == 1


def test_the_context_is_gone_once_the_job_ends(memory_app: str) -> None:
    jobs.echo_context.delay()
    drain()
    with pytest.raises(RuntimeError):
        current_job()


def test_an_async_job_sees_its_context_too(app: str) -> None:
    # Given an async job that reads its context after an await
    handle = jobs.async_context.delay()

    # When a worker runs it
    drain()

    # Then the context was there
    assert handle.result(timeout=5) == [handle.id, "tests.async_context", 1]
