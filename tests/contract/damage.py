"""Damage a stored job as a hand-written record, a foreign producer or a bad disk would: raw writes, per backend.

The conformance suite speaks only the ``Backend`` contract; these helpers are the one place it writes beneath it,
so that a test can put a hostile record in front of a transition and watch what the transition does with it.
"""

from __future__ import annotations

from typing import Any

from tasks.backends.base import Backend
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend

#: A job hash field (Redis) and the column of the ``jobs`` row (SQLite) holding the same value.
COLUMNS = {
    "payload": "payload",
    "sig": "signature",
    "attempts": "attempts",
    "max_attempts": "max_attempts",
    "enqueued_at": "enqueued_at",
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


def raw_job(backend: Backend, queue: str, job_id: bytes, payload: bytes) -> None:
    """A ready job whose id is raw bytes (Redis: a hash and a ready-list entry; SQLite: a row, id as TEXT)."""
    if isinstance(backend, SQLiteBackend):
        with backend.db.write() as conn:
            conn.execute(
                "INSERT INTO jobs (ns, queue, id, state, payload, max_attempts, enqueued_at, seq) "
                "VALUES (?, ?, CAST(? AS TEXT), 'queued', ?, 1, 0, -1)",
                (backend.ns, queue, job_id, payload.decode()),
            )
        return
    assert isinstance(backend, RedisBackend)
    qk = backend.keys.queue(queue)
    key = qk.job_prefix.encode() + job_id
    backend.client.hset(key, mapping={"payload": payload, "state": "queued", "max_attempts": 1, "enqueued_at": 0})
    backend.client.lpush(qk.ready, job_id)
