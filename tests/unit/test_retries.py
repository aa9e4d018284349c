"""Retries end to end through a burst worker: Retry, Fail, the backoff schedules, attempts, the failed set.

The worker runs on a clock the test moves by hand, so a retry due in an hour is checked without waiting.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks import JobHandle, job, queue
from tasks.config import get_backend
from tests import jobs
from tests.unit.helpers import ManualClock, drain


def attempts(handle: JobHandle[Any]) -> int:
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None
    return status.attempts


def scheduled_run_ats(queue_name: str) -> list[float]:
    backend: Any = get_backend()
    entries = backend.client.zrange(backend.keys.queue(queue_name).scheduled, 0, -1, withscores=True)
    return [float(score) for _, score in entries]


def retry_delays(handle: JobHandle[Any], clock: ManualClock, *, failures: int) -> list[float]:
    """Run the job ``failures`` times, each time once it is due; return the delay the worker chose after each."""
    seen = []
    for _ in range(failures):
        drain(clock=clock)
        due = get_backend().next_due([handle.queue])
        assert due is not None, f"job is {handle.status()}, not waiting for a retry"
        seen.append(due - clock.now)
        clock.now = due
    return seen


def test_retry_with_a_delay_runs_again_after_exactly_that_delay(app: str) -> None:
    # Given a job that asks to be retried in 90 s on its first attempt
    clock = ManualClock()
    handle = jobs.retry_in.delay(90)

    # When the first attempt runs
    drain(clock=clock)

    # Then it waits 90 s in the scheduled set, with its first attempt counted
    assert handle.status() == "retrying"
    assert get_backend().next_due(["default"]) == pytest.approx(clock.now + 90)
    assert queue("default").scheduled_size() == 1
    assert attempts(handle) == 1

    # When a worker looks 89 s later, Then it is not due yet
    clock.advance(89)
    drain(clock=clock)
    assert handle.status() == "retrying"

    # When the delay has passed, Then the second attempt runs and succeeds
    clock.advance(1)
    drain(clock=clock)
    assert handle.result(timeout=5) == 2
    assert attempts(handle) == 2


def test_retry_with_zero_delay_runs_again_in_the_same_drain(app: str) -> None:
    handle = jobs.retry_then_succeed.delay()
    drain()
    assert handle.result(timeout=5) == 2
    assert attempts(handle) == 2


def test_fail_goes_straight_to_the_failed_set(app: str) -> None:
    # Given a job allowed 5 attempts that raises Fail
    handle = jobs.fail_for_good.delay()

    # When it runs
    drain()

    # Then it is failed after one attempt, with its reason
    assert handle.status() == "failed"
    [record] = queue("default").failed()
    assert (record.attempts, record.error_type, record.message) == (1, "Fail", "card declined")
    assert queue("default").scheduled_size() == 0


def test_exponential_backoff_doubles_up_to_its_cap(app: str) -> None:
    # Given a job with backoff=2, max_backoff=5 and 5 attempts
    clock = ManualClock()
    handle = jobs.exponential.delay()

    # When its first four attempts fail, Then the waits are 2, 4, then capped at 5
    assert retry_delays(handle, clock, failures=4) == pytest.approx([2, 4, 5, 5])

    # And the fifth failure is final
    drain(clock=clock)
    assert handle.status() == "failed"
    assert attempts(handle) == 5


def test_a_list_backoff_uses_its_steps_then_repeats_the_last(app: str) -> None:
    clock = ManualClock()
    handle = jobs.stepped.delay()
    assert retry_delays(handle, clock, failures=3) == pytest.approx([1, 7, 7])
    drain(clock=clock)
    assert handle.status() == "failed"


def test_a_callable_backoff_is_asked_each_time(app: str) -> None:
    clock = ManualClock()
    handle = jobs.computed.delay()
    assert retry_delays(handle, clock, failures=2) == pytest.approx([10, 20])


def test_jitter_keeps_the_wait_within_twenty_percent(app: str) -> None:
    # Given five jobs with backoff=10 and jitter
    clock = ManualClock()
    handles = [jobs.jittered.delay() for _ in range(5)]

    # When their first attempts fail
    drain(clock=clock)

    # Then each waits between 8 and 12 s for its retry
    waits = [run_at - clock.now for run_at in scheduled_run_ats("default")]
    assert [h.status() for h in handles] == ["retrying"] * 5
    assert len(waits) == 5
    assert all(8 <= w <= 12 for w in waits), waits


def test_backoff_zero_spends_every_attempt_in_one_drain(app: str) -> None:
    # Given a job with backoff=0 and 3 attempts that always fails
    handle = jobs.fails_with_attempt.delay()

    # When one burst worker drains the queue
    drain()

    # Then all three attempts ran, and the failed set holds the last error
    assert handle.status() == "failed"
    assert attempts(handle) == 3
    [record] = queue("default").failed()
    assert record.attempts == 3
    assert record.error_type == "ValueError"
    assert record.message == "failed on attempt 3"
    assert "failed on attempt 3" in record.traceback


def test_the_last_error_is_kept_while_retrying(app: str) -> None:
    # Given a job that failed once and waits for its retry
    clock = ManualClock()
    handle = jobs.exponential.delay()
    drain(clock=clock)

    # Then its status carries the error of that attempt
    status = get_backend().status("default", handle.id)
    assert status is not None and status.state == "retrying"
    assert status.error is not None
    assert (status.error.type, status.error.message) == ("RuntimeError", "again")


def test_a_return_value_that_cannot_be_stored_fails_the_job(app: str) -> None:
    # Given a JSON job that returns a set
    handle = jobs.returns_a_set.delay()

    # When it runs, Then it fails for good with the reason, instead of losing the result silently
    drain()
    assert handle.status() == "failed"
    [record] = queue("default").failed()
    assert record.error_type == "SerializationError"
    assert "return value cannot be stored" in record.message


def test_a_job_that_failed_and_was_retried_from_the_failed_set_starts_counting_again(app: str) -> None:
    # Given a job that spent its three attempts
    handle = jobs.fails_with_attempt.delay()
    drain()
    assert attempts(handle) == 3

    # When it is put back, Then its attempts are reset and it gets three fresh ones
    assert queue("default").retry_failed() == 1
    assert attempts(handle) == 0
    drain()
    [record] = queue("default").failed()
    assert record.message == "failed on attempt 3"
    assert attempts(handle) == 3


def test_a_backoff_callable_returning_nan_neither_crashes_the_worker_nor_loses_the_job(
    app: str, forget_jobs: list[str]
) -> None:
    # Given a job whose backoff callable returns NaN
    def broken() -> None:
        raise RuntimeError("again")

    flaky = job(name="tests.nan_backoff", backoff=lambda attempt: float("nan"))(broken)
    forget_jobs.append(flaky.name)
    handle = flaky.delay()

    # When a worker runs it, Then each retry comes at once and the job ends in the failed set
    assert drain() == 0
    assert handle.status() == "failed"
    assert attempts(handle) == 3
