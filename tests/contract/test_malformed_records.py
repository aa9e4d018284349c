"""Hostile records: a transition checks what it reads before its first write, and a record that cannot be run
goes to the failed set at once, with a reason naming the field, while every other job carries on."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from tasks.backends.base import Backend
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend
from tasks.model import ErrorInfo
from tests.contract.conftest import Clock, new_job
from tests.contract.damage import InvalidText, delete_field, orphan, orphan_id, raw_enqueue, set_field

DAMAGE = {
    "attempts-not-a-number": ("attempts", "x", "field attempts is 'x', not an integer >= 0"),
    "attempts-negative": ("attempts", "-2", "field attempts is '-2', not an integer >= 0"),
    "max-attempts-not-a-number": ("max_attempts", "abc", "field max_attempts is 'abc', not an integer >= 1"),
    "max-attempts-zero": ("max_attempts", "0", "field max_attempts is '0', not an integer >= 1"),
    "enqueued-at-not-a-number": ("enqueued_at", "soon", "field enqueued_at is 'soon', not a number"),
    "enqueued-at-hex": ("enqueued_at", "0x10", "field enqueued_at is '0x10', not a number"),
    "payload-not-utf8": ("payload", InvalidText(b'{"v":1,"id":"\xff\xfe"}'), "field payload is not valid UTF-8"),
    "sig-not-hex": ("sig", "zz", "field sig is 'zz', not hexadecimal"),
    "sig-not-ascii": ("sig", "\u00e9t\u00e9", "field sig is '"),
}


def three_jobs(backend: Backend, clock: Clock) -> tuple[str, str, str]:
    backend.enqueue_many([new_job("q", job_id, now=clock()) for job_id in ("a", "bad", "c")], now=clock())
    return "a", "bad", "c"


def failure(backend: Backend, job_id: str) -> ErrorInfo:
    [entry] = [e for e in backend.failed("q") if e.id == job_id]
    assert entry.error is not None
    return entry.error


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_record_goes_to_the_failed_set_with_its_reason_and_the_batch_goes_on(
    case: str, backend: Backend, clock: Clock
) -> None:
    field, value, reason = DAMAGE[case]
    # Given three ready jobs, the middle one damaged in one field
    first, bad, last = three_jobs(backend, clock)
    set_field(backend, "q", bad, field, value)

    # When a worker reserves all it can
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)

    # Then the other two are leased, and the damaged one failed at once, its reason naming the field
    assert [lease.job_id for lease in leases] == [first, last]
    error = failure(backend, bad)
    assert error.type == "MalformedJob"
    assert reason in error.message
    assert backend.status("q", bad).state == "failed"  # type: ignore[union-attr]
    stats = backend.queue_stats("q")
    assert (stats.ready, stats.running, stats.failed) == (0, 2, 1)


def test_an_id_whose_bytes_are_not_utf8_is_failed_and_listed(backend: Backend, clock: Clock) -> None:
    # Given a job whose id is not UTF-8, ahead of a good one
    raw_enqueue(backend, "q", b"id-\xff", {"payload": '{"v":1}', "state": "queued", "max_attempts": 1})
    backend.enqueue(new_job("q", "good", now=clock()), now=clock())

    # When a worker reserves
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)

    # Then the good job is leased, and the other is in the failed set, listed without error
    assert [lease.job_id for lease in leases] == ["good"]
    [entry] = backend.failed("q")
    assert entry.error is not None and entry.error.type == "MalformedJob"
    assert "id is not valid UTF-8" in entry.error.message
    assert entry.id.encode("utf-8", "surrogateescape") == b"id-\xff"


def test_an_id_in_the_ready_list_with_no_job_hash_is_recorded_as_failed(backend: Backend, clock: Clock) -> None:
    if isinstance(backend, SQLiteBackend):
        pytest.skip("a SQLite row is the job: no id can stand without one")
    # Given an id pushed to the ready list with no job hash, and a good job behind it
    orphan_id(backend, "q", "ghost")
    backend.enqueue(new_job("q", "good", now=clock()), now=clock())

    # When a worker reserves
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)

    # Then the good job is leased, and the ghost is not dropped silently: it is in the failed set, with why
    assert [lease.job_id for lease in leases] == ["good"]
    error = failure(backend, "ghost")
    assert (error.type, "no payload" in error.message) == ("MalformedJob", True)


def test_a_job_hash_without_max_attempts_or_enqueued_at_reads_them_as_their_defaults(
    backend: Backend, clock: Clock
) -> None:
    if isinstance(backend, SQLiteBackend):
        pytest.skip("a SQLite row has every column")
    backend.enqueue(new_job("q", "a", now=clock(), max_attempts=4), now=clock())
    delete_field(backend, "q", "a", "max_attempts")
    delete_field(backend, "q", "a", "enqueued_at")
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert (lease.max_attempts, lease.enqueued_at, lease.attempt) == (1, 0.0, 1)


@pytest.mark.parametrize(("field", "value"), [("attempts", "x"), ("max_attempts", "abc")])
def test_an_expired_lease_on_a_damaged_record_is_failed_not_stuck(
    field: str, value: str, backend: Backend, clock: Clock
) -> None:
    # Given a running job whose counters were damaged while it ran, and whose lease then expired
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=1)
    set_field(backend, "q", "a", field, value)

    # When maintenance requeues expired leases
    requeued, failed = backend.requeue_expired(["q"], now=clock.advance(2))

    # Then the job is in the failed set, naming the field, and no longer leased (not stuck "running" in no set)
    assert (requeued, failed) == (0, 1)
    error = failure(backend, "a")
    assert error.type == "MalformedJob" and f"field {field} is '{value}'" in error.message
    assert backend.queue_stats("q").running == 0


def test_release_of_a_job_whose_attempts_were_damaged_puts_it_back_with_none_counted(
    backend: Backend, clock: Clock
) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    set_field(backend, "q", "a", "attempts", "x")

    assert backend.release(lease, now=clock())

    status = backend.status("q", "a")
    assert status is not None and (status.state, status.attempts) == ("queued", 0)


@pytest.mark.parametrize("ttl", [1e300, float("inf"), float("nan")])
def test_a_result_ttl_too_long_to_store_is_kept_as_long_as_the_datastore_can(
    ttl: float, backend: Backend, clock: Clock
) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)

    assert backend.complete(lease, "1", now=clock(), result_ttl_s=ttl)

    assert backend.status("q", "a").state == "succeeded"  # type: ignore[union-attr]


def test_reading_damaged_counters_and_errors_never_fails(backend: Backend, clock: Clock) -> None:
    # Given a failed job whose attempts and error were overwritten by hand
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    backend.fail(lease, error=ErrorInfo("ValueError", "boom"), now=clock())
    set_field(backend, "q", "a", "attempts", "many")
    _set_error(backend, "not json {")

    # Then status and the failed listing still read it: the counter as 0, the error text as its message
    status = backend.status("q", "a")
    assert status is not None and status.attempts == 0
    assert status.error == ErrorInfo("?", "not json {")
    [entry] = backend.failed("q")
    assert entry.attempts == 0 and entry.error == ErrorInfo("?", "not json {")


def _set_error(backend: Backend, text: str) -> None:
    if isinstance(backend, SQLiteBackend):
        with backend.db.write() as conn:
            conn.execute("UPDATE jobs SET error = ? WHERE ns = ?", (text, backend.ns))
    else:
        assert isinstance(backend, RedisBackend)
        backend.client.hset(backend.keys.queue("q").job("a"), "error", text)


# --- Redis only: queue structures and the public enqueue script ---------------------------------------------------


def redis_only(backend: Backend) -> RedisBackend:
    if not isinstance(backend, RedisBackend):
        pytest.skip("the key layout is Redis's")
    return backend


def test_a_queue_whose_key_holds_the_wrong_type_is_skipped_and_reported(
    backend: Backend, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    rb = redis_only(backend)
    # Given a queue whose ready list was overwritten with a string, and a healthy queue
    backend.enqueue(new_job("broken", "b1", now=clock()), now=clock())
    backend.enqueue(new_job("fine", "f1", now=clock()), now=clock())
    rb.client.set(rb.keys.queue("broken").ready, "oops")

    # When a worker of both queues reserves and runs its maintenance
    leases = backend.reserve(["broken", "fine"], worker_id="w", now=clock(), lease_s=30, count=10)
    with caplog.at_level(logging.ERROR, logger="tasks.backends"):
        backend.requeue_expired(["broken", "fine"], now=clock())
        backend.requeue_expired(["broken", "fine"], now=clock.advance(1))

    # Then the healthy queue is served, the broken one is left untouched, and the damage is reported once
    assert [lease.job_id for lease in leases] == ["f1"]
    assert rb.client.get(rb.keys.queue("broken").ready) == "oops"
    reports = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(reports) == 1 and "queue broken" in reports[0]


@pytest.mark.parametrize(
    ("max_attempts", "run_at", "reason"),
    [("0", "", "max_attempts must be an integer >= 1"), ("3", "soon", "run_at must be")],
)
def test_the_public_enqueue_script_refuses_bad_arguments_and_stores_nothing(
    max_attempts: str, run_at: str, reason: str, backend: Backend, clock: Clock
) -> None:
    rb = redis_only(backend)
    qk = rb.keys.queue("q")
    good = ["good", '{"v":1}', "3", "0", "", ""]
    bad = ["bad", '{"v":1}', max_attempts, "0", run_at, ""]
    keys: list[Any] = [qk.ready, qk.scheduled, qk.wake, qk.job("good"), qk.job("bad")]
    with pytest.raises(redis.ResponseError, match=reason):
        rb.scripts.run("enqueue", keys, [clock(), *good, *bad])
    assert rb.client.exists(qk.job("good"), qk.job("bad"), qk.ready) == 0


def test_the_packed_enqueue_refuses_a_bad_run_at_and_stores_nothing(backend: Backend, clock: Clock) -> None:
    rb = redis_only(backend)
    qk = rb.keys.queue("q")
    packed = '[["good","{}","3","0","",""],["bad","{}","3","0","later",""]]'
    with pytest.raises(redis.ResponseError, match="run_at must be a finite number"):
        rb.scripts.run("enqueue_packed", [qk.ready, qk.scheduled, qk.wake], [clock(), qk.job_prefix, packed])
    assert rb.client.exists(qk.job("good"), qk.ready) == 0


def test_complete_refuses_a_malformed_batch_before_writing_any_of_it(backend: Backend, clock: Clock) -> None:
    rb = redis_only(backend)
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    qk = rb.keys.queue("q")
    batch = f'[["a","{lease.token}","1","60000"],["b","t","1","forever"]]'
    with pytest.raises(redis.ResponseError, match="job 2 of the batch is malformed"):
        rb.scripts.run("complete", [qk.leases], [clock(), qk.job_prefix, batch])
    assert backend.status("q", "a").state == "running"  # type: ignore[union-attr]


# --- SQLite only: a row's position, due time and lease expiry ----------------------------------------------------


@pytest.mark.parametrize("position", ["X", 2**63 - 1, -(2**63), 5.5, None])
def test_a_damaged_position_in_the_queue_stops_no_enqueue_nor_reserve(
    position: Any, backend: Backend, clock: Clock
) -> None:
    if not isinstance(backend, SQLiteBackend):
        pytest.skip("a Redis list has no positions to damage")
    # Given a ready row whose position was damaged (text, the limits of an integer, a fraction, none)
    orphan(backend, "q", "ready", b"odd", position)

    # When jobs are enqueued behind it, and one is released to the head
    backend.enqueue_many([new_job("q", job_id, now=clock()) for job_id in ("a", "b")], now=clock())
    [first] = [
        lease
        for lease in backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)
        if lease.job_id == "a"
    ]
    assert backend.release(first, now=clock())

    # Then every job is still served, the released one first among the good ones
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)
    assert next(lease.job_id for lease in leases if lease.job_id != "odd") == "a"


@pytest.mark.parametrize(("where", "value"), [("scheduled", "tomorrow"), ("leases", "never")])
def test_a_due_time_or_lease_expiry_that_is_not_a_number_does_not_hold_a_job_for_good(
    where: str, value: str, backend: Backend, clock: Clock
) -> None:
    if not isinstance(backend, SQLiteBackend):
        pytest.skip("Redis scores are always numbers")
    orphan(backend, "q", where, b"odd", value)
    backend.requeue_expired(["q"], now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)
    assert lease.job_id == "odd"
