"""JobHandle: a job followed through its states, its result waited for, its record expiring."""

from __future__ import annotations

import threading
import time

import pytest

from tasks import JobFailed, JobHandle, queue
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.support.waiting import wait_until
from tests.unit.helpers import ManualClock, drain


def test_status_walks_queued_running_succeeded(app: str) -> None:
    # Given a queued job that reports its own state while it runs
    handle = jobs.own_status.delay()
    assert handle.status() == "queued"

    # When a worker runs it
    drain()

    # Then it saw itself running, and is now succeeded
    assert handle.result(timeout=5) == "running"
    assert handle.status() == "succeeded"


def test_status_walks_scheduled_queued_succeeded(app: str) -> None:
    # Given a job scheduled a minute out
    clock = ManualClock()
    handle = jobs.add.later(60, 1, 1)
    assert handle.status() == "scheduled"

    # When its time comes and a worker runs it
    clock.advance(61)
    drain(clock=clock)

    # Then it succeeded
    assert handle.status() == "succeeded"


def test_status_walks_retrying_then_failed(app: str) -> None:
    # Given a job that always fails, retried after its backoff (2 s, then 4 s)
    clock = ManualClock()
    handle = jobs.exponential.delay()

    # When the first attempt fails, Then the job is retrying, not failed
    drain(clock=clock)
    assert handle.status() == "retrying"

    # When its backoff has passed, Then a worker promotes it and it is back to retrying after the next failure
    clock.advance(2)
    drain(clock=clock)
    assert handle.status() == "retrying"

    # When every attempt is spent, Then it is failed
    for _ in range(3):
        clock.advance(5)
        drain(clock=clock)
    assert handle.status() == "failed"


def test_result_returns_the_value(app: str) -> None:
    handle = jobs.add.delay(40, 2)
    drain()
    assert handle.result(timeout=5) == 42
    assert handle.result() == 42  # a finished job answers without a timeout too


def test_result_waits_for_a_worker_that_comes_later(app: str) -> None:
    # Given a queued job, and a worker that starts only once someone waits
    handle = jobs.add.delay(1, 2)
    waiting = threading.Event()
    worker = threading.Thread(target=lambda: (waiting.wait(10), drain()))
    worker.start()

    # When the caller waits for the result
    waiting.set()
    value = handle.result(timeout=30)
    worker.join(10)

    # Then it gets the value once the worker ran the job
    assert value == 3


def test_result_raises_job_failed_with_type_message_and_traceback(app: str) -> None:
    # Given a job that failed for good
    handle = jobs.always_fails.delay("the printer is on fire")
    drain()

    # When its result is asked for
    with pytest.raises(JobFailed) as caught:
        handle.result(timeout=5)

    # Then the error carries what the job raised
    failure = caught.value
    assert failure.job_id == handle.id
    assert failure.error_type == "ValueError"
    assert failure.message == "the printer is on fire"
    assert "Traceback (most recent call last)" in failure.traceback
    assert "in always_fails" in failure.traceback
    assert "ValueError: the printer is on fire" in failure.traceback
    assert "ValueError: the printer is on fire" in str(failure)


def test_result_raises_job_failed_for_fail(app: str) -> None:
    handle = jobs.fail_for_good.delay()
    drain()
    with pytest.raises(JobFailed) as caught:
        handle.result(timeout=5)
    assert (caught.value.error_type, caught.value.message) == ("Fail", "card declined")


def test_result_times_out_while_nobody_runs_the_job(app: str) -> None:
    # Given a queued job and no worker
    handle = jobs.add.delay(1, 2)

    # When the caller waits a little, Then TimeoutError says how the job stands
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still queued"):
        handle.result(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2

    # And the job is untouched
    assert handle.status() == "queued"


def test_the_timeout_says_when_no_live_worker_listens_to_the_jobs_queue(app: str) -> None:
    # Given a live worker that listens to default only, and a job sent to the high queue
    worker = Worker(get_backend(), WorkerSettings(queues=["default"]))
    worker.heartbeat()
    handle = jobs.add.on("high").delay(1, 2)

    # When the caller waits, Then the TimeoutError says that nobody will take it, and what the workers listen to
    with pytest.raises(TimeoutError) as caught:
        handle.result(timeout=0.05)
    assert str(caught.value) == (
        f"job {handle.id} is still queued after 0.05 s, and no live worker listens to queue 'high' "
        "(live workers listen to default; start one with --queues high,...)"
    )

    # And a job on a queue the worker listens to times out with no such note
    with pytest.raises(TimeoutError) as caught:
        jobs.add.delay(1, 2).result(timeout=0.05)
    assert str(caught.value).endswith("is still queued after 0.05 s")


def test_an_unknown_job_raises_lookup_error(app: str) -> None:
    handle: JobHandle[int] = JobHandle("no-such-id", "default")
    with pytest.raises(LookupError, match="no-such-id"):
        handle.status()
    with pytest.raises(LookupError):
        handle.result(timeout=1)


def test_handle_repr_names_id_and_queue() -> None:
    assert repr(JobHandle("abc", "emails")) == "JobHandle(id='abc', queue='emails')"


@pytest.mark.timeout(30)
def test_result_ttl_expires_the_record_on_the_real_redis(redis_app: str) -> None:
    # Given a job whose result is kept for 0.3 s
    handle = jobs.add.with_options(result_ttl=0.3).delay(1, 2)
    drain()
    assert handle.result(timeout=5) == 3

    # When that time passes, Then the record is gone
    def expired() -> bool:
        try:
            handle.status()
        except LookupError:
            return True
        return False

    wait_until(expired, timeout=10, message="the succeeded job's record expired")
    with pytest.raises(LookupError, match="expired"):
        handle.result(timeout=1)


def test_result_ttl_is_set_on_the_record(app: str) -> None:
    # Given jobs kept for a minute and for the default day
    short = jobs.add.with_options(result_ttl=60).delay(1, 2)
    default = jobs.add.delay(1, 2)
    drain()
    client = get_backend().client  # type: ignore[attr-defined]
    keys = get_backend().keys  # type: ignore[attr-defined]

    # Then each record expires after its own ttl
    assert 55_000 < client.pttl(keys.queue("default").job(short.id)) <= 60_000
    assert 86_000_000 < client.pttl(keys.queue("default").job(default.id)) <= 86_400_000


def test_a_failed_job_is_kept_until_retried_or_purged(app: str) -> None:
    # Given a job that failed for good
    handle = jobs.fail_for_good.delay()
    drain()

    # Then its record has no expiry (dead letters are never dropped by a timer)
    client = get_backend().client  # type: ignore[attr-defined]
    assert client.pttl(get_backend().keys.queue("default").job(handle.id)) == -1  # type: ignore[attr-defined]
    assert queue("default").failed_size() == 1
