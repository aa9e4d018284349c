"""``fake().run_all()``: the recorded jobs run through the worker's executor, retries on a clock that skips."""

from __future__ import annotations

import asyncio
import time

import pytest

import tasks.testing
from tasks import JobFailed, dispatch
from tasks.testing import FinishedJob
from tests import jobs


@pytest.mark.timeout(10)
def test_recorded_jobs_run_with_their_own_context_and_return_their_values() -> None:
    # Given a job that reads current_job(), recorded by a fake
    with tasks.testing.fake() as fake:
        handle = jobs.echo_context.delay()
        jobs.add.delay(1, 2)

        # When the fake runs what it recorded
        finished = fake.run_all()

    # Then each job ran once, in order, seeing the id its handle has and its first attempt
    assert [(f.name, f.state, f.attempts) for f in finished] == [
        ("tests.echo_context", "succeeded", 1),
        ("tests.add", "succeeded", 1),
    ]
    seen = finished[0].value
    assert (seen["id"], seen["queue"], seen["attempt"], seen["max_attempts"]) == (handle.id, "default", 1, 3)
    assert finished[1].value == 3
    assert fake.pending() == 0
    assert fake.run_all() == []


@pytest.mark.timeout(10)
def test_a_retry_an_hour_later_runs_at_once_on_a_clock_that_skips_the_wait() -> None:
    # Given a job that asks for another attempt in an hour
    with tasks.testing.fake() as fake:
        handle = jobs.retry_in.delay(3600)

        # When the fake runs it
        began = time.monotonic()
        [finished] = fake.run_all()

        # Then its second attempt ran without waiting, an hour later by the fake's clock
        assert time.monotonic() - began < 5
        assert (finished.state, finished.attempts, finished.value) == ("succeeded", 2, 2)
        assert fake.clock.skipped_s == pytest.approx(3600, abs=5)
        assert handle.status() == "succeeded"


@pytest.mark.timeout(10)
def test_a_job_that_fails_for_good_raises_its_own_exception_after_its_attempts() -> None:
    # Given a job that always fails, allowed three attempts
    with tasks.testing.fake() as fake:
        jobs.fails_with_attempt.delay()

    # When the fake runs it, Then the last attempt's own exception is raised in the test
    with pytest.raises(ValueError, match="failed on attempt 3"):
        fake.run_all()


@pytest.mark.timeout(10)
def test_failures_can_be_read_instead_of_raised() -> None:
    with tasks.testing.fake() as fake:
        handle = jobs.fail_for_good.delay()
        jobs.add.delay(1, 2)

        finished = fake.run_all(raise_errors=False)

        failed = finished[0]
        assert (failed.state, failed.attempts) == ("failed", 1)  # Fail: no more attempts, whatever max_attempts says
        assert failed.error is not None and (failed.error.type, failed.error.message) == ("Fail", "card declined")
        assert finished[1].value == 3
        with pytest.raises(JobFailed, match="card declined"):
            handle.result(timeout=1)


@pytest.mark.timeout(10)
def test_jobs_dispatched_by_running_jobs_are_recorded_and_run_after_them() -> None:
    # Given a job that dispatches another
    with tasks.testing.fake() as fake:
        jobs.sign_up.delay(7)

    # When the fake runs, even after its block
    finished = fake.run_all()

    # Then the dispatched job was recorded, queued while its parent ran, and run after it
    fake.assert_dispatched(jobs.notify, user_id=7, message="welcome")
    [parent, notice] = finished
    assert (parent.name, parent.value) == ("tests.sign_up", [notice.id, "queued"])
    assert (notice.name, notice.value) == ("tests.notify", "email:7:welcome")


@pytest.mark.timeout(10)
def test_a_job_that_keeps_dispatching_itself_is_stopped() -> None:
    with tasks.testing.fake() as fake:
        jobs.again_and_again.delay(0)
    with pytest.raises(RuntimeError, match="50 attempts run and 1 job"):
        fake.run_all(max_attempts=50)
    assert len(fake.dispatched(jobs.again_and_again)) == 51


@pytest.mark.timeout(10)
def test_jobs_run_in_the_order_they_are_due() -> None:
    with tasks.testing.fake() as fake:
        jobs.add.later(120, 1, 0)
        jobs.add.later(60, 2, 0)
        jobs.add.delay(3, 0)
    assert [f.value for f in fake.run_all()] == [3, 2, 1]


@pytest.mark.timeout(10)
def test_a_job_no_worker_could_find_fails_as_it_would_in_a_worker() -> None:
    with tasks.testing.fake() as fake:
        dispatch("billing.charge", 42)
    with pytest.raises(JobFailed, match=r"UnknownJob: no job named 'billing\.charge'"):
        fake.run_all()


@pytest.mark.timeout(10)
def test_a_return_value_the_serializer_cannot_store_fails_the_job() -> None:
    with tasks.testing.fake() as fake:
        jobs.returns_a_set.delay()
    [finished] = fake.run_all(raise_errors=False)
    assert finished.state == "failed"
    assert finished.error is not None and finished.error.type == "SerializationError"


@pytest.mark.timeout(10)
def test_an_async_job_runs_even_from_code_already_inside_an_event_loop() -> None:
    # Given an async job recorded by a fake
    with tasks.testing.fake() as fake:
        handle = jobs.async_context.delay()

    # When an async test runs it (an event loop is running in this thread)
    async def test_body() -> list[FinishedJob]:
        return fake.run_all()

    [finished] = asyncio.run(test_body())

    # Then it ran on a loop of its own, with its context
    assert finished.value == [handle.id, "tests.async_context", 1]
