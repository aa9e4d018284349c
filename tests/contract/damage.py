"""Damage a stored job as a hand-written record, a foreign producer or a bad disk would: raw writes, per backend.

The conformance suite speaks only the ``Backend`` contract; these helpers are the one place it writes beneath it,
so that a test can put a hostile record in front of a transition and watch what the transition does with it.
"""

from __future__ import annotations

import json
from typing import Any

from tasks.backends.base import Backend
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend
from tasks.model import ErrorInfo

#: A job hash field (Redis) and the column of the ``jobs`` row (SQLite) holding the same value.
COLUMNS = {
    "payload": "payload",
    "sig": "signature",
    "attempts": "attempts",
    "max_attempts": "max_attempts",
    "enqueued_at": "enqueued_at",
    "progress": "progress",
}


class InvalidText(bytes):
    """Bytes to store as TEXT that is not UTF-8 (in Redis every value is bytes; SQLite gets a TEXT, not a BLOB)."""


def set_field(backend: Backend, queue: str, job_id: str, field: str, value: Any) -> None:
    """Overwrite one stored field of a job with ``value`` (a str, bytes, a number; ``InvalidText``)."""
    if isinstance(backend, SQLiteBackend):
        cast = "CAST(? AS TEXT)" if isinstance(value, InvalidText) else "?"
        with backend.db.write() as conn:
            conn.execute(
                f"UPDATE jobs SET {COLUMNS[field]} = {cast} WHERE ns = ? AND queue = ? AND id = ?",
                (bytes(value) if isinstance(value, InvalidText) else value, backend.ns, queue, job_id),
            )
    else:
        assert isinstance(backend, RedisBackend)
        backend.client.hset(
            backend.keys.queue(queue).job(job_id), field, bytes(value) if isinstance(value, bytes) else value
        )


def delete_field(backend: Backend, queue: str, job_id: str, field: str) -> None:
    """Remove a field from a job hash (Redis only: a SQLite row has every column)."""
    assert isinstance(backend, RedisBackend)
    backend.client.hdel(backend.keys.queue(queue).job(job_id), field)


def orphan_id(backend: Backend, queue: str, job_id: str) -> None:
    """An id in the ready list with no job hash behind it (Redis only: a SQLite row is the job)."""
    assert isinstance(backend, RedisBackend)
    backend.client.rpush(backend.keys.queue(queue).ready, job_id)


#: What ``raw_enqueue`` stores: a field's value, ``None`` to leave a Redis hash field out.
Value = bytes | str | int | float | None


def raw_enqueue(backend: Backend, queue: str, job_id: bytes | str, fields: dict[str, Value]) -> None:
    """Store a ready job with exactly ``fields`` (hash fields in Redis, columns in SQLite), values of any type,
    as a producer that ignores every rule would; it joins the tail of the queue. ``bytes`` are stored as they
    are (SQLite: as TEXT, whatever they hold)."""
    if isinstance(backend, SQLiteBackend):
        columns = {
            COLUMNS[name]: _cell(value) for name, value in fields.items() if name in COLUMNS and value is not None
        }
        values = {"payload": "", "signature": "", "max_attempts": 1, "enqueued_at": 0.0, **columns}
        names = list(values)
        cells = ", ".join("CAST(? AS TEXT)" if isinstance(values[n], bytes) else "?" for n in names)
        with backend.db.write() as conn:
            (tail,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs WHERE ns = ? AND queue = ? AND state = 'queued'",
                (backend.ns, queue),
            ).fetchone()
            conn.execute(
                f"INSERT INTO jobs (ns, queue, id, state, seq, {', '.join(names)}) "
                f"VALUES (?, ?, CAST(? AS TEXT), 'queued', ?, {cells})",
                (backend.ns, queue, _bytes(job_id), tail, *(values[n] for n in names)),
            )
        return
    assert isinstance(backend, RedisBackend)
    qk = backend.keys.queue(queue)
    key = qk.job_prefix.encode() + _bytes(job_id)
    stored = {name: value for name, value in fields.items() if value is not None}
    pipe = backend.client.pipeline(transaction=True)
    if stored:
        pipe.hset(key, mapping=stored)  # type: ignore[arg-type]
    pipe.rpush(qk.ready, _bytes(job_id)).lpush(qk.wake, 1).ltrim(qk.wake, 0, 0).execute()


def orphan(backend: Backend, queue: str, where: str, job_id: bytes, value: float | str) -> None:
    """A job id in a queue structure with no usable record behind it.

    Redis: ``job_id`` in the ``where`` structure (ready, scheduled or leases, scored ``value``) with no job hash.
    SQLite, where a row is the job: a row of ``tests.record`` in the state ``where`` names, whose position,
    due time or lease expiry is ``value`` (of any type).
    """
    if isinstance(backend, RedisBackend):
        qk = backend.keys.queue(queue)
        if where == "ready":
            backend.client.rpush(qk.ready, job_id)
        else:
            score = value if isinstance(value, float) and value == value else 0.0
            backend.client.zadd(qk.scheduled if where == "scheduled" else qk.leases, {job_id: score})
        return
    assert isinstance(backend, SQLiteBackend)
    body = {"v": 1, "id": "o", "name": "tests.record", "queue": queue, "args": [job_id.hex()], "max_attempts": 1}
    payload = json.dumps(body)
    column, state = {"ready": ("seq", "queued"), "scheduled": ("run_at", "scheduled")}.get(
        where, ("lease_expires_at", "running")
    )
    with backend.db.write() as conn:
        conn.execute(
            f"INSERT INTO jobs (ns, queue, id, state, payload, max_attempts, enqueued_at, attempts, {column}) "
            "VALUES (?, ?, CAST(? AS TEXT), ?, ?, 1, 0, 0, ?)",
            (backend.ns, queue, job_id, state, payload, _cell(value)),
        )


def raw_state(backend: Backend, queue: str, job_id: bytes | str) -> tuple[str, str]:
    """``(state, error type)`` of a stored job whose id may be any bytes (``("", "")`` when there is none)."""
    if isinstance(backend, SQLiteBackend):
        with backend.db.read() as conn:
            row = conn.execute(
                "SELECT state, error FROM jobs WHERE ns = ? AND queue = ? AND id = CAST(? AS TEXT)",
                (backend.ns, queue, _bytes(job_id)),
            ).fetchone()
        state, error = row if row else ("", None)
    else:
        assert isinstance(backend, RedisBackend)
        key = backend.keys.queue(queue).job_prefix.encode() + _bytes(job_id)
        state, error = backend.client.hmget(key, ["state", "error"])
    info = ErrorInfo.from_json(error)
    return state or "", info.type if info else ""


def _cell(value: Value) -> Value:
    """A value SQLite can hold: it has no NaN (it would store NULL), so NaN is kept as the text ``NaN``."""
    return "NaN" if isinstance(value, float) and value != value else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
