"""A job called directly (a plain call) gets a ``current_job()`` of its own; inside a worker nothing changes."""

from __future__ import annotations

import asyncio
import time

import pytest

from tasks import current_job
from tests import jobs
from tests.unit.helpers import drain


@pytest.mark.timeout(10)
def test_a_job_called_directly_sees_a_first_attempt_that_no_datastore_holds() -> None:
    # When a job that reads current_job() is called directly
    before = time.time()
    seen = jobs.echo_context()

    # Then it saw a context of its own: an id no datastore gave, attempt 1, its own name, queue and attempts
    assert seen["id"].startswith("direct-") and len(seen["id"]) == len("direct-") + 32
    assert (seen["name"], seen["queue"]) == ("tests.echo_context", "default")
    assert (seen["attempt"], seen["max_attempts"]) == (1, 3)
    assert before <= seen["enqueued_at"] == seen["started_at"] <= time.time()

    # And each call is a run of its own; the context ends with the call
    assert jobs.echo_context()["id"] != seen["id"]
    with pytest.raises(RuntimeError, match="only available inside a job"):
        current_job()


@pytest.mark.timeout(10)
def test_a_view_called_directly_sees_the_views_queue_and_attempts() -> None:
    seen = jobs.echo_context.with_options(queue="elsewhere", max_attempts=7)()
    assert (seen["queue"], seen["max_attempts"]) == ("elsewhere", 7)


@pytest.mark.timeout(10)
def test_an_async_job_called_directly_sees_its_context_when_awaited() -> None:
    job_id, name, attempt = asyncio.run(jobs.async_context())
    assert (str(job_id).startswith("direct-"), name, attempt) == (True, "tests.async_context", 1)


@pytest.mark.timeout(10)
def test_a_job_called_directly_by_a_job_a_worker_runs_keeps_the_running_jobs_context(memory_app: str) -> None:
    # Given a job that calls another job directly, run by a worker
    handle = jobs.calls_echo_context_directly.delay()
    drain()

    # Then the job it called saw the running job's context, as before: nothing changes inside a worker
    assert handle.result(timeout=5) == [handle.id, handle.id]
