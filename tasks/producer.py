"""Dispatch: turn a call into a payload and hand it to the backend, at once or in a ``bulk()`` block.

Arguments are encoded here, in the caller, so a value the serializer cannot encode raises
``SerializationError`` before anything reaches the datastore.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from .config import get_backend, settings
from .model import JobStatus, NewJob
from .observe import middleware
from .serialization import PayloadTemplate, get_serializer, sign

if TYPE_CHECKING:
    from .backends.base import Backend
    from .limits.options import FlowOptions


@dataclass
class _Batch:
    """The jobs dispatched inside the current ``bulk()`` block, and the secret in force when it began."""

    jobs: list[NewJob]
    secret: str | None


#: The current ``bulk()`` block's batch, sent when the block exits.
_bulk: ContextVar[_Batch | None] = ContextVar("tasks_bulk", default=None)

#: The backend in force, the ``TASKS_SECRET`` seen, and then where dispatches go (the backend, or in eager mode the
#: runner of ``tasks.testing``) with the secret in force. ``settings()`` reads the whole environment, which costs
#: more than the rest of a dispatch; what it depends on is ``configure()`` (which drops the backend) and
#: ``TASKS_SECRET`` (the URL, prefix and eager mode only matter when the backend is built).
_target: tuple[Backend, str | None, tuple[Destination, str | None]] | None = None


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
    #: Flow-control options (unique, debounce, concurrency, rate limits): ``tasks.limits``; ``None`` when unused.
    flow: FlowOptions | None = None


def new_job_id() -> str:
    """32 random hex digits (128 bits): the length and alphabet of a ``uuid4().hex``, at a third of its cost."""
    return os.urandom(16).hex()


def build(options: DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any], *, now: float) -> NewJob:
    """Encode one dispatch into a ``NewJob``; signs the payload when a secret is configured."""
    return _build(options, args, kwargs, now=now, secret=settings().secret)


def _build(
    options: DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any], *, now: float, secret: str | None
) -> NewJob:
    job_id = options.job_id or new_job_id()
    template = _template(
        options.name,
        options.queue,
        options.serializer,
        options.max_attempts,
        options.timeout_s,
        options.result_ttl_s,
        secret,
    )
    payload = template.fill(job_id, args, kwargs, enqueued_at=now, run_at=options.run_at)
    return NewJob(
        id=job_id,
        queue=options.queue,
        payload=payload,
        max_attempts=options.max_attempts,
        enqueued_at=now,
        run_at=options.run_at,
        signature=sign(secret, payload) if secret else "",
    )


@lru_cache(maxsize=1024)
def _template(
    name: str,
    queue: str,
    serializer: str,
    max_attempts: int,
    timeout_s: float | None,
    result_ttl_s: float,
    secret: str | None,
) -> PayloadTemplate:
    """The payload template of one kind of dispatch (the serializer depends on the secret, for dill)."""
    return PayloadTemplate(
        name=name,
        queue=queue,
        serializer=get_serializer(serializer, secret),
        max_attempts=max_attempts,
        timeout_s=timeout_s,
        result_ttl_s=result_ttl_s,
    )


def send(options: DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NewJob:
    """Build and enqueue (or buffer, inside ``bulk()``) one job; returns what was sent."""
    if middleware.installed:  # before_enqueue may change the dispatch, or refuse it by raising
        call = middleware.before_enqueue(middleware.Dispatch(options, args, kwargs))
        options, args, kwargs = call.options, call.args, call.kwargs
    now = time.time()
    batch = _bulk.get()
    if batch is not None:
        job = _build(options, args, kwargs, now=now, secret=batch.secret)
        batch.jobs.append(job)
        return job
    backend, secret = _backend_and_secret()
    job = _build(options, args, kwargs, now=now, secret=secret)
    backend.enqueue(job, now=now)
    return job


class Destination(Protocol):
    """Where dispatches go and where handles read a job's state: the backend, or its stand-in in tests."""

    def enqueue(self, job: NewJob, *, now: float) -> bool: ...

    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]: ...

    def status(self, queue: str, job_id: str) -> JobStatus | None: ...


#: What ``tasks.testing`` puts in the backend's place (``fake()`` records dispatches, ``eager()`` runs them);
#: ``None`` in production, where a dispatch pays one global read for it.
sink: Destination | None = None


def _backend_and_secret() -> tuple[Destination, str | None]:
    global _target
    if sink is not None:
        return sink, settings().secret
    backend = get_backend()
    env_secret = os.environ.get("TASKS_SECRET")
    target = _target
    if target is None or target[0] is not backend or target[1] != env_secret:
        current = settings()
        to = _eager_runner() if current.eager else backend
        target = _target = (backend, env_secret, (to, current.secret))
    return target[2]


def destination() -> Destination:
    """Where a dispatch goes now: the configured backend, or the stand-in ``tasks.testing`` put in its place."""
    return _backend_and_secret()[0]


def _eager_runner() -> Destination:
    """Eager mode (``configure(eager=True)``, ``TASKS_EAGER=1``): dispatches run here, through the executor."""
    from .testing.eager import shared_runner  # imported by processes in eager mode only

    return shared_runner()


@contextmanager
def bulk() -> Iterator[None]:
    """Buffer every dispatch in the block and send them together, in pipelined round trips, when it exits.

    Handles returned inside the block are valid after it exits (inside it, the jobs are not sent yet). If the
    block raises, nothing it dispatched is sent. A nested block joins the outermost one; if the nested block
    raises, its own dispatches are dropped, even when the outer block catches the error and goes on. The
    backend and the signing secret are those in force when the outermost block began.
    """
    outer = _bulk.get()
    if outer is not None:
        mark = len(outer.jobs)
        try:
            yield
        except BaseException:
            del outer.jobs[mark:]
            raise
        return
    backend, secret = _backend_and_secret()
    batch = _Batch([], secret)
    token = _bulk.set(batch)
    try:
        yield
    finally:
        _bulk.reset(token)
    if batch.jobs:
        backend.enqueue_many(batch.jobs, now=time.time())
