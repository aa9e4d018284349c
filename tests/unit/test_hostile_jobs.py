"""A worker meets jobs that cannot run, or that fail loudly: each ends in the failed set at once, with a reason a
user understands, nothing crashes, and the jobs around them run as usual."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from tasks import JobHandle, queue
from tasks.config import get_backend
from tasks.model import ERROR_TEXT_LIMIT, Lease
from tasks.serialization import sign, verify
from tasks.worker import Worker, WorkerSettings
from tasks.worker.loop import _name
from tests import jobs
from tests.unit.helpers import drain
from tests.unit.test_worker_core import envelope, failure_of, inject


@pytest.mark.parametrize("ttl", ["NaN", "Infinity", "-Infinity", -1, "1 day"])
def test_a_payload_with_a_result_ttl_that_is_not_a_finite_duration_fails_at_once_without_running(
    ttl: Any, app: str
) -> None:
    # Given a payload (JSON as Python reads it: NaN and Infinity included) whose result_ttl is no duration
    payload = envelope(name="tests.record", args=["ran"]).replace(
        '"result_ttl": 60', f'"result_ttl": {json.dumps(ttl)}'
    )
    broken = inject("default", payload.replace('"NaN"', "NaN").replace('"Infinity"', "Infinity"))
    good = jobs.add.delay(1, 1)

    # When a worker drains the queue
    assert drain() == 0

    # Then it failed on its first attempt, naming the field, without running; the next job ran
    error_type, message = failure_of(broken)
    assert (error_type, "field result_ttl is" in message) == ("PayloadError", True)
    assert queue("default").failed()[0].attempts == 1
    assert good.result(timeout=5) == 2


@pytest.mark.parametrize("timeout", [9_223_372_037, 1e300])
def test_a_timeout_longer_than_any_timer_is_no_limit(timeout: float, app: str) -> None:
    # Given a payload whose timeout is longer than the system's timer can be set for
    handle = inject("default", envelope(timeout=timeout))

    # When a worker runs it, Then it runs as a job with no limit
    assert drain() == 0
    assert JobHandle(handle, "default").result(timeout=5) == 3


@pytest.mark.parametrize(
    ("signature", "kind", "reason", "attempts"),
    [
        ("\u00e9\u00e9", "MalformedJob", "field sig is '????', not hexadecimal", 0),  # refused by the reserve
        ("00" * 32, "SignatureError", "bad signature", 1),
        ("", "SignatureError", "bad signature", 1),
    ],
    ids=["not-ascii", "wrong", "missing"],
)
def test_a_bad_signature_fails_at_once_and_is_never_retried(
    signature: str, kind: str, reason: str, attempts: int, app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment with a secret, and a job whose signature is forged (non-ASCII, wrong, or missing)
    monkeypatch.setenv("TASKS_SECRET", "s3cret")
    forged = inject("default", envelope(), max_attempts=5)
    raw: Any = get_backend()
    raw.client.hset(raw.keys.queue("default").job(forged), "sig", signature)
    good = jobs.add.delay(2, 3)

    # When a worker with the secret drains the queue
    assert drain(secret="s3cret") == 0

    # Then the forged job failed at once (of five attempts allowed, at most one was counted), and the worker went on
    error_type, message = failure_of(forged)
    assert (error_type, message.startswith(reason)) == (kind, True)
    assert queue("default").failed()[0].attempts == attempts
    assert good.result(timeout=5) == 5


@pytest.mark.parametrize("signature", ["\u00e9\u00e9", "\udcff", None, 7, "ab" * 32])
def test_a_signature_that_is_not_ours_never_verifies_and_never_raises(signature: object) -> None:
    assert verify("s3cret", '{"v":1}', signature) is False
    assert verify("s3cret", "\udcff", sign("s3cret", "\udcff")) is True  # undecodable bytes sign as stored


def test_a_huge_error_is_stored_and_logged_capped(app: str, caplog: pytest.LogCaptureFixture) -> None:
    # Given a job that fails with a 10 MB message
    handle = jobs.raises_huge.delay(10_000_000)

    # When it runs
    with caplog.at_level(logging.ERROR, logger="tasks.worker"):
        assert drain() == 0

    # Then the stored message and traceback are each capped, saying how much was cut
    [record] = queue("default").failed()
    assert record.id == handle.id
    assert ERROR_TEXT_LIMIT < len(record.message) < ERROR_TEXT_LIMIT + 100
    assert record.message.endswith("more characters cut]")
    assert len(record.traceback) < ERROR_TEXT_LIMIT + 100
    # And the log line shows only its start
    [line] = [r.getMessage() for r in caplog.records if handle.id in r.getMessage()]
    assert len(line) < 1000


def test_the_log_names_a_job_whose_payload_was_written_with_other_json_spacing() -> None:
    lease = Lease("j", "default", "t", '{"v": 1, "name" : "billing.charge", "id": "j"}', 1, 1, 0.0, 0.0)
    assert _name(lease) == "billing.charge"
    assert _name(Lease("j", "default", "t", '{"name":"tests.add","v":1}', 1, 1, 0.0, 0.0)) == "tests.add"
    assert _name(Lease("j", "default", "t", "not json", 1, 1, 0.0, 0.0)) == "?"


class FaultyBackend:
    """Delegates to a real backend; ``complete_and_reserve`` raises an unexpected error while ``poisoned`` names
    a job among the completions, or while ``errors`` > 0 (any call)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.poisoned = ""
        self.errors = 0
        self.raised = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete_and_reserve(self, completions: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            poisoned = any(lease.job_id == self.poisoned for lease, _, _ in completions)
            if poisoned or self.errors > 0:
                self.errors = max(0, self.errors - 1)
                self.raised += 1
                raise RuntimeError("the datastore refused the write")
        return self.inner.complete_and_reserve(completions, *args, **kwargs)

    def complete_many(self, items: Any, **kwargs: Any) -> Any:
        if any(lease.job_id == self.poisoned for lease, _, _ in items):
            raise RuntimeError("the datastore refused the write")
        return self.inner.complete_many(items, **kwargs)

    def complete(self, lease: Lease, *args: Any, **kwargs: Any) -> Any:
        if lease.job_id == self.poisoned:
            raise RuntimeError("the datastore refused the write")
        return self.inner.complete(lease, *args, **kwargs)


@pytest.mark.timeout(30)
def test_the_worker_loop_survives_unexpected_errors_and_writes_the_outcomes_afterwards(
    app: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two jobs, and a datastore that refuses the next two writes with an unexpected error
    handles = [jobs.add.delay(1, 1), jobs.add.delay(2, 2)]
    faulty = FaultyBackend(get_backend())
    faulty.errors = 2
    worker = Worker(faulty, WorkerSettings(queues=["default"], burst=True))  # type: ignore[arg-type]

    # When a worker drains the queue
    with caplog.at_level(logging.ERROR, logger="tasks.worker"):
        assert worker.run() == 0

    # Then it logged the errors, carried on, and every outcome was written once
    assert faulty.raised == 2
    assert sum("unexpected error in the worker loop" in r.getMessage() for r in caplog.records) == 2
    assert [h.result(timeout=1) for h in handles] == [2, 4]


@pytest.mark.timeout(30)
def test_an_outcome_the_datastore_keeps_refusing_is_given_up_to_its_lease_and_the_others_are_written(
    app: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given three jobs, and a datastore that always refuses to store the outcome of the middle one
    handles = [jobs.add.delay(n, n) for n in range(3)]
    faulty = FaultyBackend(get_backend())
    faulty.poisoned = handles[1].id
    worker = Worker(faulty, WorkerSettings(queues=["default"], burst=True))  # type: ignore[arg-type]

    # When a worker drains the queue
    with caplog.at_level(logging.ERROR, logger="tasks.worker"):
        assert worker.run() == 0

    # Then the other outcomes were written, and the refused one was given up: its lease will bring it back
    assert handles[0].result(timeout=1) == 0 and handles[2].result(timeout=1) == 4
    assert handles[1].status() == "running"
    assert any("its outcome cannot be written" in r.getMessage() for r in caplog.records)
