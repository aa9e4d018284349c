"""Runs ONE leased job as a pipeline of small steps: decode, resolve, invoke, decide, then apply.

Each step returns a value (or a ``Dead`` outcome that ends the pipeline early); ``apply_outcome`` is the
one place an outcome becomes a backend transition. No loops, no threads here: the worker owns those.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .. import registry
from ..backends.base import Backend
from ..context import JobContext, reset_current, set_current
from ..errors import Fail, JobTimeout, Retry, SerializationError, SignatureError
from ..model import Aborted, Completed, Dead, Deferred, ErrorInfo, Lease, Outcome, RetryAt
from ..observe import middleware
from ..registry import JobDefinition
from ..retry import RetryPolicy, backoff_delay, has_attempts_left, unknown_job_run_at
from ..serialization import Envelope, PayloadError, Serializer, decode_envelope, get_serializer, verify
from ..workflows.records import WorkflowRef, workflow_member

log = logging.getLogger("tasks.worker")

#: The longest soft timeout the timer is set for (about 31 years): the system's timer takes no longer, and a
#: longer timeout is no limit in practice.
LONGEST_TIMER_S = 1e9


@dataclass(frozen=True)
class Attempt:
    """What ``invoke`` saw: the return value, or the exception with its traceback text."""

    value: Any = None
    error: BaseException | None = None
    traceback: str = ""


def decode(lease: Lease, secret: str | None, *, with_arguments: bool = True) -> Envelope | Dead:
    """Check the signature (when this worker has a secret) and parse the payload.

    A payload that cannot run is ``Dead`` at once, never retried: no later attempt could decode it better.
    """
    if secret and not verify(secret, lease.payload, lease.signature):
        return Dead(ErrorInfo("SignatureError", "bad signature: payload not signed with this deployment's secret"))
    try:
        return decode_envelope(lease.payload, secret, with_arguments=with_arguments)
    except SignatureError as exc:
        return Dead(ErrorInfo("SignatureError", str(exc)))
    except PayloadError as exc:
        return Dead(ErrorInfo("PayloadError", f"payload does not decode: {exc}"))


def resolve(envelope: Envelope, lease: Lease, *, now: float, unknown_grace_s: float) -> JobDefinition | Dead | Deferred:
    """The registered definition for the payload's name; never imports anything the payload names.

    A name this worker does not know is put back for a later look while ``unknown_grace_s`` lasts from when the
    job was due (a rolling deploy: a worker that knows it may come), then fails as ``UnknownJob``.
    """
    definition = registry.lookup(envelope.name)
    if definition is not None:
        return definition
    due_since = max(lease.enqueued_at, envelope.run_at or lease.enqueued_at)
    run_at = unknown_job_run_at(due_since=due_since, now=now, grace_s=unknown_grace_s) if unknown_grace_s > 0 else None
    if run_at is None:
        known = ", ".join(registry.names()) or "none"
        waited = f"; it waited {unknown_grace_s:g} s for a worker that knows it" if unknown_grace_s > 0 else ""
        message = f"no job named {envelope.name!r} is registered in this worker (known: {known}){waited}"
        return Dead(ErrorInfo("UnknownJob", message))
    deadline = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(due_since + unknown_grace_s))
    return Deferred(run_at, f"no job named {envelope.name!r} in this worker (it fails as UnknownJob from {deadline})")


def prepare(
    lease: Lease, secret: str | None, *, with_arguments: bool = True, now: float = 0.0, unknown_grace_s: float = 0.0
) -> tuple[Envelope, JobDefinition] | Dead | Deferred:
    """decode then resolve: what to call, or why the job cannot run (for good, or here for now: ``Deferred``)."""
    envelope = decode(lease, secret, with_arguments=with_arguments)
    if isinstance(envelope, Dead):
        return envelope
    definition = resolve(envelope, lease, now=now, unknown_grace_s=unknown_grace_s)
    if isinstance(definition, (Dead, Deferred)):
        return definition
    return envelope, definition


def _context(envelope: Envelope, lease: Lease) -> JobContext:
    return JobContext(
        id=lease.job_id,
        name=envelope.name,
        queue=lease.queue,
        attempt=lease.attempt,
        max_attempts=lease.max_attempts,
        enqueued_at=lease.enqueued_at,
        started_at=lease.started_at,
        payload=lease.payload,
    )


def invoke(definition: JobDefinition, envelope: Envelope, lease: Lease) -> Attempt:
    """Call the function with the payload's arguments under its timeout, with ``current_job()`` set.

    A sync job gets ``JobTimeout`` raised in it at its timeout (``soft_timeout``). An ``async def`` job called
    here runs on a loop of its own; workers with an ``AsyncRunner`` use ``invoke_async`` instead.
    """
    if definition.is_async:
        return asyncio.run(invoke_async(definition, envelope, lease))
    ctx = _context(envelope, lease)
    token = set_current(ctx)
    if middleware.installed:
        middleware.before_run(ctx)
    try:
        if envelope.timeout_s:
            with soft_timeout(envelope.timeout_s):
                value = definition.func(*envelope.args, **envelope.kwargs)
        else:  # most jobs: no timer to set (the call comes a little sooner after a worker wakes)
            value = definition.func(*envelope.args, **envelope.kwargs)
        return Attempt(value=value)
    except Exception as exc:  # the job's own failure: classified by ``decide``
        return Attempt(error=exc, traceback=traceback.format_exc())
    finally:
        reset_current(token)


async def invoke_async(definition: JobDefinition, envelope: Envelope, lease: Lease) -> Attempt:
    """Await an ``async def`` job, cancelled at its timeout (then ``JobTimeout``), with ``current_job()`` set.

    The context is set inside the coroutine, so it belongs to this job's task alone even when many jobs
    share one event loop.
    """
    ctx = _context(envelope, lease)
    token = set_current(ctx)
    if middleware.installed:
        middleware.before_run(ctx)
    try:
        value = await _with_async_timeout(definition.func(*envelope.args, **envelope.kwargs), envelope.timeout_s)
        return Attempt(value=value)
    except Exception as exc:  # the job's own failure: classified by ``decide``
        return Attempt(error=exc, traceback=traceback.format_exc())
    finally:
        reset_current(token)


def decide(
    attempt: Attempt,
    *,
    lease: Lease,
    envelope: Envelope,
    serializer: Serializer,
    policy: RetryPolicy,
    now: float,
    rand: Callable[[], float] | None = None,
) -> Completed | RetryAt | Dead:
    """Completed, retry at T, or dead: the retry policy applied to one attempt's result."""
    exc = attempt.error
    if exc is None:
        try:
            result = serializer.dumps(attempt.value)
        except SerializationError as err:
            return Dead(ErrorInfo("SerializationError", f"the return value cannot be stored: {err}"))
        return Completed(result, envelope.result_ttl_s)
    error = ErrorInfo(type(exc).__name__, str(exc), attempt.traceback)
    if isinstance(exc, Fail) or not has_attempts_left(lease.attempt, lease.max_attempts):
        return Dead(error)
    if isinstance(exc, Retry) and exc.delay_s is not None:
        return RetryAt(now + exc.delay_s, error)
    return RetryAt(now + _backoff(policy, lease.attempt, rand), error)


def _backoff(policy: RetryPolicy, attempt: int, rand: Callable[[], float] | None) -> float:
    """The policy's delay; a backoff callable that raises must not take the worker down: retry at once."""
    try:
        return backoff_delay(policy, attempt) if rand is None else backoff_delay(policy, attempt, rand)
    except Exception:  # a user's backoff function failed: the attempt budget still bounds the retries
        log.exception("the backoff function raised on attempt %d; retrying at once", attempt)
        return 0.0


def conclude(
    attempt: Attempt, *, lease: Lease, envelope: Envelope, definition: JobDefinition, secret: str | None, now: float
) -> Completed | RetryAt | Dead:
    """``decide`` with the job's own serializer and retry policy."""
    serializer = get_serializer(envelope.serializer, secret)
    return decide(attempt, lease=lease, envelope=envelope, serializer=serializer, policy=definition.policy, now=now)


def run(
    lease: Lease, *, secret: str | None, clock: Callable[[], float] = time.time, unknown_grace_s: float = 0.0
) -> Outcome:
    """decode -> resolve -> invoke -> decide for one lease; never raises for a job's own failure."""
    prepared = prepare(lease, secret, now=clock(), unknown_grace_s=unknown_grace_s)
    if isinstance(prepared, (Dead, Deferred)):
        return prepared
    envelope, definition = prepared
    attempt = invoke(definition, envelope, lease)
    return conclude(attempt, lease=lease, envelope=envelope, definition=definition, secret=secret, now=clock())


def apply_outcome(backend: Backend, lease: Lease, outcome: Outcome, *, now: float) -> bool:
    """The one transition ``outcome`` calls for; ``False`` when the lease was lost (the write is refused).
    A workflow member's success and failure go through the member transitions (they move its workflow too)."""
    workflow = workflow_member(lease.payload)
    if workflow is not None and isinstance(outcome, (Completed, Dead)):
        return apply_member_outcome(backend, lease, outcome, workflow, now=now)
    if isinstance(outcome, Completed):
        return backend.complete(lease, outcome.result, now=now, result_ttl_s=outcome.result_ttl_s)
    if isinstance(outcome, RetryAt):
        return backend.retry(lease, run_at=outcome.run_at, error=outcome.error, now=now)
    if isinstance(outcome, Deferred):
        return backend.defer(lease, run_at=outcome.run_at, now=now)
    if isinstance(outcome, Aborted):
        return backend.abort(lease, now=now)
    return backend.fail(lease, error=outcome.error, now=now)


def apply_member_outcome(
    backend: Backend, lease: Lease, outcome: Completed | Dead, workflow: WorkflowRef, *, now: float
) -> bool:
    if isinstance(outcome, Completed):
        ttl = outcome.result_ttl_s
        return backend.complete_member(lease, outcome.result, now=now, result_ttl_s=ttl, workflow=workflow)
    return backend.fail_member(lease, error=outcome.error, now=now, workflow=workflow)


def complete_members(backend: Backend, items: Sequence[tuple[Lease, Completed]], *, now: float) -> list[bool]:
    """The successes of workflow members, each through ``complete_member``, in as few round trips as the backend
    allows; ``False`` for a lease that was lost."""
    batch = []
    for lease, done in items:
        workflow = workflow_member(lease.payload)
        if workflow is None:
            raise ValueError(f"job {lease.job_id} is not a workflow member")
        batch.append((lease, done.result, done.result_ttl_s, workflow))
    return backend.complete_members(batch, now=now)


async def _with_async_timeout(coro: Any, timeout_s: float | None) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout_s)
    except asyncio.TimeoutError:
        raise JobTimeout(f"job ran past its timeout of {timeout_s} s") from None


@contextmanager
def soft_timeout(timeout_s: float | None) -> Iterator[None]:
    """Raise ``JobTimeout`` in the running code after ``timeout_s`` (SIGALRM; main thread only).

    Off the main thread this does nothing: the pool's supervisor enforces the hard limit there.
    """
    if not timeout_s or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise JobTimeout(f"job ran past its timeout of {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, min(timeout_s, LONGEST_TIMER_S))
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:  # give back a timer someone else had set, minus the time we used
            remaining = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, outer_interval)
