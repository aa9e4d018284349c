"""Dispatching: delay, later, on, with_options, dispatch by name, and plain calls that run inline."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tasks import BackendUnavailable, JobHandle, SerializationError, dispatch, queue
from tasks.config import configure, get_backend
from tasks.job import run_at_from
from tests import jobs
from tests.support.redis_server import free_port
from tests.unit.helpers import ManualClock, drain


def payload_of(handle: JobHandle[Any]) -> dict[str, Any]:
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None and status.payload is not None
    body: dict[str, Any] = json.loads(status.payload)
    return body


def scheduled_at(handle: JobHandle[Any]) -> float:
    """The run_at the backend holds for a scheduled job."""
    due = get_backend().next_due([handle.queue])
    assert due is not None
    return due


# --- delay ----------------------------------------------------------------------------------------------------


def test_delay_enqueues_the_call_with_its_arguments(app: str) -> None:
    # When a job is dispatched with positional and keyword arguments
    handle = jobs.add.delay(2, b=3)

    # Then it is queued on the job's queue with exactly those arguments
    assert handle.queue == "default"
    assert handle.status() == "queued"
    assert queue("default").size() == 1
    body = payload_of(handle)
    assert (body["name"], body["args"], body["kwargs"]) == ("tests.add", [2], {"b": 3})

    # And a worker runs it with them
    drain()
    assert handle.result(timeout=5) == 5


def test_every_dispatch_gets_its_own_id(memory_app: str) -> None:
    first, second = jobs.add.delay(1, 1), jobs.add.delay(1, 1)
    assert first.id != second.id
    assert queue("default").size() == 2


def test_a_plain_call_runs_inline_and_sends_nothing(memory_app: str) -> None:
    # When the job is called like the function it is
    value = jobs.add(2, 3)

    # Then it ran here and now, and nothing was enqueued
    assert value == 5
    assert queue("default").size() == 0


def test_a_plain_call_needs_no_backend_at_all() -> None:
    # Given a backend URL nothing answers on
    configure(url=f"redis://127.0.0.1:{free_port()}/0")

    # When the job is called directly, Then it runs without touching the backend
    assert jobs.add(20, 22) == 42
    assert jobs.named_like_options(1, 2, "q", "w") == [1, 2, "q", "w"]


# --- options never steal the job's keyword arguments ---------------------------------------------------------


def test_delay_passes_parameters_named_like_options_through(app: str) -> None:
    # When a job whose parameters are called delay, timeout, queue and when is dispatched with them
    handle = jobs.named_like_options.delay(delay=1, timeout=2, queue="not-a-queue", when="now")

    # Then they are the job's arguments, not dispatch options
    assert handle.queue == "default"
    assert handle.status() == "queued"
    assert payload_of(handle)["kwargs"] == {"delay": 1, "timeout": 2, "queue": "not-a-queue", "when": "now"}
    assert payload_of(handle)["timeout"] is None

    drain()
    assert handle.result(timeout=5) == [1, 2, "not-a-queue", "now"]


def test_later_takes_when_positionally_and_leaves_a_when_argument_to_the_job(app: str) -> None:
    # When later() is given its own `when` positionally and the job's `when` by keyword
    before = time.time()
    handle = jobs.named_like_options.later(60, delay=1, timeout=2, queue="q", when="at noon")

    # Then the job is scheduled 60 s out and the job's arguments are intact
    assert handle.status() == "scheduled"
    assert before + 60 <= scheduled_at(handle) <= time.time() + 60
    assert payload_of(handle)["kwargs"] == {"delay": 1, "timeout": 2, "queue": "q", "when": "at noon"}


# --- later ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [30, 30.5, timedelta(seconds=30), timedelta(minutes=2)],
    ids=["int", "float", "timedelta", "timedelta-minutes"],
)
def test_later_schedules_relative_to_now(when: int | float | timedelta, app: str) -> None:
    # When a job is dispatched some time from now
    seconds = when.total_seconds() if isinstance(when, timedelta) else float(when)
    before = time.time()
    handle = jobs.add.later(when, 1, 2)
    after = time.time()

    # Then it is scheduled, not ready, for that time
    assert handle.status() == "scheduled"
    assert queue("default").size() == 0
    assert queue("default").scheduled_size() == 1
    assert before + seconds <= scheduled_at(handle) <= after + seconds
    assert payload_of(handle)["run_at"] == pytest.approx(scheduled_at(handle))


def test_later_with_an_aware_datetime_schedules_at_that_instant(app: str) -> None:
    # Given an aware datetime in a zone that is not UTC
    at = datetime.now(timezone(timedelta(hours=5, minutes=30))) + timedelta(hours=1)

    # When a job is dispatched for it
    handle = jobs.add.later(at, 1, 2)

    # Then it is due at exactly that instant
    assert handle.status() == "scheduled"
    assert scheduled_at(handle) == pytest.approx(at.timestamp())


def test_later_refuses_a_naive_datetime(memory_app: str) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        jobs.add.later(datetime.now() + timedelta(hours=1), 1, 2)
    assert queue("default").scheduled_size() == 0


@pytest.mark.parametrize(
    ("when", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (timedelta(seconds=-5), ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("10", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
    ids=["negative", "negative-float", "negative-timedelta", "nan", "inf", "str", "bool", "none"],
)
def test_later_refuses_what_is_not_a_time(when: Any, error: type[Exception], memory_app: str) -> None:
    with pytest.raises(error, match="later"):
        jobs.add.later(when, 1, 2)
    assert queue("default").scheduled_size() == 0


def test_a_time_already_past_is_ready_at_once(app: str) -> None:
    # When a job is dispatched for an instant already gone
    handle = jobs.add.later(datetime.now(timezone.utc) - timedelta(minutes=5), 1, 2)

    # Then it is queued, not scheduled, and runs on the next drain
    assert handle.status() == "queued"
    drain()
    assert handle.result(timeout=5) == 3


def test_later_zero_is_now(memory_app: str) -> None:
    assert jobs.add.later(0, 1, 2).status() == "queued"


def test_run_at_from_is_pure() -> None:
    assert run_at_from(10, now=1000.0) == 1010.0
    assert run_at_from(timedelta(milliseconds=250), now=1000.0) == 1000.25
    assert run_at_from(datetime(2030, 1, 1, tzinfo=timezone.utc), now=0.0) == 1893456000.0


def test_a_scheduled_job_runs_only_once_due(memory_app: str) -> None:
    # Given a job scheduled 30 s from now
    clock = ManualClock()
    handle = jobs.add.later(30, 4, 5)

    # When a worker looks before it is due, Then nothing runs
    drain(clock=clock)
    assert handle.status() == "scheduled"

    # When the worker's clock passes the due time, Then it runs
    clock.advance(31)
    drain(clock=clock)
    assert handle.result(timeout=5) == 9


# --- on and with_options --------------------------------------------------------------------------------------


def test_on_sends_the_same_job_to_another_queue(app: str) -> None:
    # When the job is dispatched on another queue
    handle = jobs.add.on("high").delay(1, 2)

    # Then it waits there, and the job itself still defaults to its own queue
    assert handle.queue == "high"
    assert queue("high").size() == 1
    assert queue("default").size() == 0
    assert jobs.add.options.queue == "default"
    assert jobs.add.delay(1, 1).queue == "default"

    # And a worker of that queue runs it
    drain(["high"])
    assert handle.result(timeout=5) == 3


def test_on_refuses_a_bad_queue_name() -> None:
    with pytest.raises(ValueError, match="not valid"):
        jobs.add.on("two words")


def test_with_options_job_id_makes_enqueue_idempotent(app: str) -> None:
    # When the same job id is dispatched twice
    first = jobs.add.with_options(job_id="welcome-42").delay(1, 2)
    second = jobs.add.with_options(job_id="welcome-42").delay(100, 200)

    # Then one job exists, the first one
    assert first.id == second.id == "welcome-42"
    assert queue("default").size() == 1
    drain()
    assert first.result(timeout=5) == 3


def test_with_options_overrides_attempts_timeout_and_result_ttl(memory_app: str) -> None:
    # When options are given through a view
    view = jobs.add.with_options(queue="emails", max_attempts=9, timeout=4, result_ttl=60)
    handle = view.delay(1, 2)

    # Then the dispatch carries them, and the job itself is unchanged
    body = payload_of(handle)
    assert (handle.queue, body["max_attempts"], body["timeout"], body["result_ttl"]) == ("emails", 9, 4.0, 60.0)
    assert jobs.add.options.max_attempts == 3
    assert view.name == jobs.add.name


def test_with_options_max_attempts_governs_the_retries(memory_app: str) -> None:
    # Given a job that always fails, allowed a single attempt for this dispatch
    handle = jobs.always_fails.with_options(max_attempts=1).delay("once")

    # When a worker runs it
    drain()

    # Then it failed for good after one attempt
    assert handle.status() == "failed"
    assert queue("default").failed()[0].attempts == 1


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"queue": "a b"}, "not valid"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"result_ttl": 0}, "result_ttl"),
    ],
)
def test_with_options_validates_like_the_decorator(options: dict[str, Any], fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        jobs.add.with_options(**options)


# --- dispatch by name -----------------------------------------------------------------------------------------


def test_dispatch_by_name_of_a_job_unknown_here(app: str) -> None:
    # When code that cannot import a job dispatches it by name
    handle = dispatch("billing.charge", 42, currency="EUR", queue="billing")

    # Then it is queued on the named queue with the documented defaults
    assert handle.queue == "billing"
    assert handle.status() == "queued"
    assert queue("billing").size() == 1
    body = payload_of(handle)
    assert (body["name"], body["args"], body["kwargs"]) == ("billing.charge", [42], {"currency": "EUR"})
    assert (body["serializer"], body["max_attempts"]) == ("json", 3)


def test_dispatch_by_name_without_a_queue_uses_default(memory_app: str) -> None:
    assert dispatch("somewhere.else").queue == "default"


def test_dispatch_by_name_of_a_known_job_uses_its_definition(app: str) -> None:
    # When a job known here is dispatched by name
    handle = dispatch("tests.always_fails", "by name")

    # Then it carries the job's own options, and a worker runs it as that job
    assert payload_of(handle)["max_attempts"] == 3
    drain()
    assert handle.status() == "failed"
    assert queue("default").failed()[0].message == "by name"


def test_dispatch_refuses_a_bad_queue_name() -> None:
    with pytest.raises(ValueError, match="not valid"):
        dispatch("x.y", queue="no spaces please")


# --- arguments are encoded in the caller ------------------------------------------------------------------------

#: A list that holds itself: JSON cannot encode it, and must not loop forever trying.
CIRCULAR: list[Any] = []
CIRCULAR.append(CIRCULAR)


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((object(), 1), {}, "positional argument 0"),
        ((1,), {"b": {1, 2}}, "argument 'b'"),
        ((1, float("nan")), {}, "positional argument 1"),
        ((1,), {"b": b"bytes"}, "argument 'b'"),
        ((CIRCULAR, 1), {}, "positional argument 0"),
    ],
    ids=["object", "set", "nan", "bytes", "circular"],
)
def test_an_argument_json_cannot_encode_raises_before_anything_is_sent(
    args: tuple[Any, ...], kwargs: dict[str, Any], named: str, app: str
) -> None:
    # When a job is dispatched with a value JSON cannot carry
    with pytest.raises(SerializationError) as caught:
        jobs.add.delay(*args, **kwargs)

    # Then the error names the argument and the serializer, and the queue is untouched
    assert named in str(caught.value)
    assert "'json' serializer" in str(caught.value)
    assert queue("default").size() == 0
    assert queue("default").scheduled_size() == 0
    assert isinstance(caught.value, TypeError)


def test_later_also_encodes_in_the_caller(app: str) -> None:
    with pytest.raises(SerializationError, match="argument 'b'"):
        jobs.add.later(10, 1, b=object())
    assert queue("default").scheduled_size() == 0


# --- a backend that cannot be reached ---------------------------------------------------------------------------


def test_dispatch_to_a_backend_that_cannot_be_reached_raises_backend_unavailable() -> None:
    # Given a URL nothing listens on
    url = f"redis://127.0.0.1:{free_port()}/0"
    configure(url=url)

    # When a job is dispatched, Then the error names the backend (a ConnectionError, so callers may catch either)
    with pytest.raises(BackendUnavailable, match=f"cannot reach {url}") as caught:
        jobs.add.delay(1, 2)
    assert isinstance(caught.value, ConnectionError)
    with pytest.raises(BackendUnavailable):
        JobHandle("some-id", "default").status()
