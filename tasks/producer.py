"""Dispatch: turn a call into a payload and hand it to the backend, at once or in a ``bulk()`` block.

Arguments are encoded here, in the caller, so a value the serializer cannot encode raises
``SerializationError`` before anything reaches the datastore.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .config import get_backend, settings
from .model import NewJob
from .serialization import Envelope, encode_envelope, get_serializer, sign

#: Jobs dispatched inside the current ``bulk()`` block, sent when it exits.
_bulk: ContextVar[list[NewJob] | None] = ContextVar("tasks_bulk", default=None)


@dataclass(frozen=True)
class DispatchOptions:
    """Everything about one dispatch that is not the job's own arguments."""

    name: str
    queue: str
    max_attempts: int
    timeout_s: float | None
    result_ttl_s: float
    serializer: str
    run_at: float | None = None
    job_id: str | None = None


def new_job_id() -> str:
    return uuid.uuid4().hex


def build(options: DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any], *, now: float) -> NewJob:
    """Encode one dispatch into a ``NewJob``; signs the payload when a secret is configured."""
    secret = settings().secret
    job_id = options.job_id or new_job_id()
    envelope = Envelope(
        id=job_id,
        name=options.name,
        queue=options.queue,
        args=args,
        kwargs=kwargs,
        serializer=options.serializer,
        max_attempts=options.max_attempts,
        timeout_s=options.timeout_s,
        result_ttl_s=options.result_ttl_s,
        enqueued_at=now,
        run_at=options.run_at,
    )
    payload = encode_envelope(envelope, get_serializer(options.serializer, secret))
    return NewJob(
        id=job_id,
        queue=options.queue,
        payload=payload,
        max_attempts=options.max_attempts,
        enqueued_at=now,
        run_at=options.run_at,
        signature=sign(secret, payload) if secret else "",
    )


def send(options: DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NewJob:
    """Build and enqueue (or buffer, inside ``bulk()``) one job; returns what was sent."""
    now = time.time()
    job = build(options, args, kwargs, now=now)
    pending = _bulk.get()
    if pending is not None:
        pending.append(job)
    else:
        get_backend().enqueue(job, now=now)
    return job


@contextmanager
def bulk() -> Iterator[None]:
    """Buffer every dispatch in the block and send them together, in pipelined round trips, when it exits.

    Handles returned inside the block are valid after it exits. If the block raises, nothing is sent.
    Nested blocks join the outermost one.
    """
    if _bulk.get() is not None:
        yield
        return
    pending: list[NewJob] = []
    token = _bulk.set(pending)
    try:
        yield
    finally:
        _bulk.reset(token)
    if pending:
        get_backend().enqueue_many(pending, now=time.time())
