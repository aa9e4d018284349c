"""The worker, in process: what it does with jobs it cannot run, queue priority, burst mode, timeouts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tasks import queue
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings, default_queues
from tasks.worker.heartbeat import Heartbeat
from tests import jobs
from tests.unit.helpers import drain


def inject(queue_name: str, payload: str, *, max_attempts: int = 3) -> str:
    """Put a job on ``queue_name`` with raw Redis commands, as a foreign or broken producer would."""
    backend: Any = get_backend()
    job_id = uuid.uuid4().hex
    qk = backend.keys.queue(queue_name)
    backend.client.hset(
        qk.job(job_id),
        mapping={
            "payload": payload,
            "sig": "",
            "state": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "enqueued_at": time.time(),
        },
    )
    backend.client.rpush(qk.ready, job_id)
    return job_id


def envelope(**fields: Any) -> str:
    body = {"v": 1, "id": "x", "name": "tests.add", "queue": "default", "serializer": "json", "args": [1, 2],
            "kwargs": {}, "max_attempts": 3, "timeout": None, "result_ttl": 60, "enqueued_at": 0, "run_at": None}
    body.update(fields)
    return json.dumps(body)


def failure_of(job_id: str, queue_name: str = "default") -> tuple[str, str]:
    [record] = [r for r in queue(queue_name).failed() if r.id == job_id]
    return record.error_type, record.message


# --- jobs the worker cannot run ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("{this is not json", "payload is not JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        (envelope(v=99), "unsupported protocol version 99"),
        (json.dumps({"v": 1, "queue": "default", "args": [], "kwargs": {}}), "field id is None, not a string"),
        (envelope(serializer="yaml"), "field serializer is 'yaml', not 'json' or 'dill'"),
        (envelope(args={"a": 1}), "field args is {'a': 1}, not an array"),
    ],
    ids=["not-json", "not-an-object", "future-version", "fields-missing", "unknown-serializer", "bad-args"],
)
def test_an_undecodable_payload_lands_in_the_failed_set_and_the_worker_goes_on(
    payload: str, reason: str, app: str
) -> None:
    # Given a broken payload written with raw commands, queued before a good job
    broken = inject("default", payload)
    good = jobs.add.delay(2, 2)

    # When a worker drains the queue
    assert drain() == 0

    # Then the broken job failed with the reason, and the good one ran
    error_type, message = failure_of(broken)
    assert error_type == "PayloadError"
    assert "payload does not decode" in message
    assert reason in message
    assert good.result(timeout=5) == 4


def test_a_foreign_job_in_the_protocol_runs(app: str) -> None:
    # Given a well-formed payload written with raw commands (the wire protocol, not the library)
    job_id = inject("default", envelope(args=[20, 22]))

    # When a worker drains the queue, Then it ran like any other
    drain()
    status = get_backend().status("default", job_id)
    assert status is not None and status.state == "succeeded" and status.result == "42"


# --- priority and burst ----------------------------------------------------------------------------------------


def test_queues_are_served_in_strict_priority_order(
    app: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given low-priority jobs queued first, then high-priority ones
    record = tmp_path / "record.txt"
    monkeypatch.setenv("TASKS_TEST_RECORD", str(record))
    for n in range(5):
        jobs.record.delay(f"default-{n}")
    for n in range(5):
        jobs.record.on("high").delay(f"high-{n}")

    # When a worker serves high before default
    assert drain(["high", "default"]) == 0

    # Then every high job ran before any default one, each queue in its own order
    assert record.read_text().split() == [f"high-{n}" for n in range(5)] + [f"default-{n}" for n in range(5)]


def test_a_worker_only_serves_its_own_queues(app: str) -> None:
    elsewhere = jobs.add.on("elsewhere").delay(1, 1)
    drain(["default"])
    assert elsewhere.status() == "queued"


def test_burst_returns_zero_once_the_queues_are_drained(app: str) -> None:
    # Given a mix of ready and future jobs
    ready = [jobs.add.delay(n, n) for n in range(20)]
    later = jobs.add.later(3600, 1, 1)

    # When a burst worker runs
    started = time.monotonic()
    status = Worker(get_backend(), WorkerSettings(queues=["default"], burst=True)).run()

    # Then it ran every ready job, left the future one, and returned 0 without waiting for it
    assert status == 0
    assert time.monotonic() - started < 10
    assert [h.result(timeout=5) for h in ready] == [2 * n for n in range(20)]
    assert later.status() == "scheduled"
    assert get_backend().workers(now=time.time()) == []


def test_burst_on_empty_queues_returns_at_once(app: str) -> None:
    started = time.monotonic()
    assert drain(["default", "high"]) == 0
    assert time.monotonic() - started < 5


def test_default_queues_are_the_registry_queues_with_default_last() -> None:
    queues = default_queues()
    assert queues[-1] == "default"
    assert queues == [*sorted(queues[:-1]), "default"]


# --- timeouts ---------------------------------------------------------------------------------------------------


@pytest.mark.timeout(30, method="thread")  # the job timeout uses SIGALRM: keep pytest-timeout off it
def test_a_job_past_its_timeout_fails_with_job_timeout(app: str) -> None:
    # Given a job limited to 1 s, with one attempt, that would sleep a minute
    handle = jobs.sleeper.delay(60)

    # When a worker runs it
    started = time.monotonic()
    drain()

    # Then the attempt was stopped at its timeout and the job failed with JobTimeout
    assert time.monotonic() - started < 10
    assert handle.status() == "failed"
    error_type, message = failure_of(handle.id)
    assert error_type == "JobTimeout"
    assert "timeout of 1" in message


@pytest.mark.timeout(30, method="thread")
def test_a_timed_out_attempt_follows_the_retry_policy(app: str) -> None:
    # Given a job that overruns its 0.5 s timeout on the first attempt only (2 attempts, backoff 0)
    handle = jobs.slow_then_fast.delay()

    # When a worker drains the queue
    drain()

    # Then the timeout counted as a failed attempt, and the retry succeeded
    assert handle.result(timeout=5) == 2
    status = get_backend().status("default", handle.id)
    assert status is not None and status.attempts == 2


@pytest.mark.timeout(30, method="thread")
def test_an_async_job_past_its_timeout_fails_with_job_timeout(app: str) -> None:
    handle = jobs.async_sleeper.delay(60)
    started = time.monotonic()
    drain()
    assert time.monotonic() - started < 10
    assert failure_of(handle.id)[0] == "JobTimeout"


@pytest.mark.timeout(30, method="thread")
def test_a_job_within_its_timeout_is_not_disturbed(app: str) -> None:
    handle = jobs.sleeper.delay(0.01)
    drain()
    assert handle.status() == "succeeded"


def test_a_worker_that_stops_before_its_first_heartbeat_leaves_the_worker_list(
    app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker whose heartbeat thread beats for the first time only once the worker is shutting down
    shut = threading.Event()
    first_beat, shutdown = Heartbeat._loop, Worker._shutdown

    def late_first_beat(self: Heartbeat) -> None:
        shut.wait(5)
        first_beat(self)

    def shutdown_then_let_it_beat(self: Worker) -> None:
        shutdown(self)
        shut.set()

    monkeypatch.setattr(Heartbeat, "_loop", late_first_beat)
    monkeypatch.setattr(Worker, "_shutdown", shutdown_then_let_it_beat)

    # When a burst worker runs and exits
    assert Worker(get_backend(), WorkerSettings(queues=["default"], burst=True)).run() == 0

    # Then it is not listed: its entry went after its last beat, not before
    assert get_backend().workers(now=time.time()) == []
