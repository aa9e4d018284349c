"""Edge cases found in review: a broken backoff function, outer timers, empty listings, scheduled queues."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tasks import job, queue
from tasks.scheduler import make_schedule, register_schedule, unregister_schedule
from tasks.worker import default_queues
from tasks.worker.executor import soft_timeout
from tests.unit.helpers import drain


def test_a_backoff_function_that_raises_retries_at_once_and_the_worker_goes_on(
    app: str, forget_jobs: list[str]
) -> None:
    # Given a job whose backoff function is broken
    def broken_backoff(attempt: int) -> float:
        raise ZeroDivisionError("bad maths")

    @job(name="tests.edge.broken_backoff", max_attempts=2, backoff=broken_backoff)
    def fails() -> None:
        raise ValueError("boom")

    forget_jobs.append("tests.edge.broken_backoff")
    handle = fails.delay()

    # When a burst worker drains the queue
    assert drain() == 0

    # Then both attempts ran (the retry came at once) and the job failed for good with its own error
    assert handle.status() == "failed"
    assert queue("default").failed()[0].error_type == "ValueError"
    assert queue("default").failed()[0].attempts == 2


@pytest.mark.timeout(10, method="thread")
def test_a_soft_timeout_gives_back_a_timer_that_was_already_set() -> None:
    # Given a timer someone else set, 5 s away
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    try:
        # When a job with a timeout runs briefly
        with soft_timeout(1.0):
            time.sleep(0.01)

        # Then the outer timer is still armed, with about what was left
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 4.0 < remaining <= 5.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_failed_with_a_limit_of_zero_lists_nothing(app: str) -> None:
    from tests import jobs

    jobs.fail_for_good.delay()
    drain()
    assert queue("default").failed_size() == 1
    assert queue("default").failed(limit=0) == []


@pytest.fixture
def reports_schedule() -> Iterator[None]:
    from dataclasses import replace

    from tests import jobs

    options = replace(jobs.add.options, queue="reports-edge")
    register_schedule(
        make_schedule("*/10 * * * * *", "tests.edge.reports", options, jobs.add.definition.func, args=(1, 2))
    )
    yield
    unregister_schedule("tests.edge.reports")


def test_a_worker_without_queues_listens_to_the_queues_schedules_send_to(reports_schedule: None) -> None:
    assert "reports-edge" in default_queues()
    assert default_queues()[-1] == "default"
