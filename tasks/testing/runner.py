"""Runs dispatched jobs in this process through the worker's executor, with no datastore and no waiting.

The stand-in for a queue and a worker that ``fake().run_all()`` and eager mode share. Each job goes through
``tasks.worker.executor`` as a worker would take it: the payload the producer built is decoded (so the arguments
make the serializer's round trip, and a signed payload is verified), the job is looked up in the registry, invoked
with ``current_job()`` set, and its attempt decided by its own retry policy. A retry, or a job dispatched with
``later()``, does not make anyone wait: the runner's clock jumps to the moment it is due. Jobs dispatched by the
jobs it runs are held and run too, after the one that dispatched them, as they would be in production.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from typing import Any, Literal

from .. import producer
from ..config import settings
from ..errors import JobFailed
from ..model import Completed, Dead, ErrorInfo, JobState, JobStatus, Lease, NewJob, Outcome, RetryAt
from ..registry import JobDefinition
from ..serialization import Envelope, get_serializer
from ..worker import executor

log = logging.getLogger("tasks.testing")

#: Attempts one ``run_due`` makes before it gives up: a job that keeps dispatching itself would never end.
MAX_ATTEMPTS_PER_RUN = 10_000
#: Finished jobs whose state a runner keeps for their handles, the oldest forgotten first: the memory of a
#: long-lived process in eager mode stays bounded.
KEEP_FINISHED = 10_000

#: The lease token of a local run (no datastore checks it; a worker's tokens are random).
LOCAL_TOKEN = "local"

#: True while a runner runs a job, in the job's own thread or task: dispatches made there are held, not run inline.
_inside_job: ContextVar[bool] = ContextVar("tasks_testing_inside_job", default=False)


def inside_job() -> bool:
    """Whether the calling code runs inside a job that a ``LocalRunner`` is running."""
    return _inside_job.get()


class SkippingClock:
    """Epoch seconds that follow the real clock, plus every jump made to reach a job due later: nothing waits."""

    def __init__(self) -> None:
        self.skipped_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.skipped_s

    def skip_to(self, when: float) -> None:
        """Move the clock forward to ``when`` if it is ahead; the clock never goes back."""
        ahead = when - self()
        if ahead > 0:
            self.skipped_s += ahead


@dataclass(frozen=True)
class FinishedJob:
    """A job taken to its end: its final state, the attempts made, and the value (or the error) it ended with.

    ``value`` is the return value after the serializer's round trip (what ``JobHandle.result()`` gives);
    ``exception`` is the last attempt's own exception, ``None`` for a job that could not run at all (an unknown
    name, a return value the serializer refuses): ``error`` says why.
    """

    id: str
    name: str
    queue: str
    state: Literal["succeeded", "failed"]
    attempts: int
    value: Any = None
    error: ErrorInfo | None = None
    exception: BaseException | None = None

    def reraise(self) -> None:
        """Raise what made the job fail: its own exception, or ``JobFailed`` when it could not run at all."""
        if self.state != "failed":
            return
        if self.exception is not None:
            raise self.exception
        error = self.error or ErrorInfo("?", "")
        raise JobFailed(self.id, error.type, error.message, error.traceback)


@dataclass
class _Held:
    """A job the runner holds, and what the datastore would say of it."""

    job: NewJob
    name: str
    state: JobState
    attempts: int = 0
    result: str | None = None
    error: ErrorInfo | None = None


class LocalRunner:
    """Holds dispatched jobs and runs them on demand, the earliest due first; thread-safe."""

    def __init__(self, clock: SkippingClock | None = None, *, keep_finished: int = KEEP_FINISHED) -> None:
        self.clock = clock or SkippingClock()
        self._keep_finished = keep_finished
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], _Held] = {}
        self._due: list[tuple[float, int, tuple[str, str]]] = []
        self._order = itertools.count()
        self._finished: deque[tuple[str, str]] = deque()

    def add(self, job: NewJob) -> bool:
        """Hold ``job`` until it runs; ``False`` when its id is taken on its queue (a datastore refuses it too)."""
        key = (job.queue, job.id)
        scheduled = job.run_at is not None and job.run_at > job.enqueued_at
        with self._lock:
            if key in self._held:
                return False
            self._held[key] = _Held(job, _name(job.payload), "scheduled" if scheduled else "queued")
            due = job.run_at if job.run_at is not None else job.enqueued_at
            heapq.heappush(self._due, (due, next(self._order), key))
        return True

    def pending(self) -> int:
        """Jobs held and not finished (queued, scheduled or waiting for a retry)."""
        with self._lock:
            return len(self._due)

    def status(self, queue: str, job_id: str) -> JobStatus | None:
        """The job's state as a datastore would report it; ``None`` for a job never held (or long forgotten)."""
        with self._lock:
            held = self._held.get((queue, job_id))
            if held is None:
                return None
            return JobStatus(held.state, held.attempts, held.result, held.error, held.job.payload)

    def run_due(self, *, raise_errors: bool, max_attempts: int = MAX_ATTEMPTS_PER_RUN) -> list[FinishedJob]:
        """Run every job held, and every job they dispatch, until none is left; returns those that finished.

        With ``raise_errors``, the first job to fail for good stops the run and its error is raised here (the
        jobs not run yet stay held). More than ``max_attempts`` attempts raise ``RuntimeError``.
        """
        finished: list[FinishedJob] = []
        for _ in range(max_attempts):
            key = self._take_next()
            if key is None:
                return finished
            done = self._attempt(key)
            if done is not None:
                finished.append(done)
                if raise_errors:
                    done.reraise()
        raise RuntimeError(
            f"{max_attempts} attempts run and {self.pending()} job(s) still due: a job that keeps dispatching "
            "itself (or another)? If this many is expected, pass a larger max_attempts"
        )

    def _take_next(self) -> tuple[str, str] | None:
        """The earliest job due, marked running, with the clock moved to its time; ``None`` when none is left."""
        with self._lock:
            if not self._due:
                return None
            due, _, key = heapq.heappop(self._due)
            self._held[key].state = "running"
        self.clock.skip_to(due)
        return key

    def _attempt(self, key: tuple[str, str]) -> FinishedJob | None:
        """One attempt, through the executor; the finished job, or ``None`` when a retry is due."""
        held = self._held[key]
        job = held.job
        lease = Lease(
            job_id=job.id,
            queue=job.queue,
            token=LOCAL_TOKEN,
            payload=job.payload,
            attempt=held.attempts + 1,
            max_attempts=job.max_attempts,
            enqueued_at=job.enqueued_at,
            started_at=self.clock(),
            signature=job.signature,
        )
        secret = settings().secret
        prepared = executor.prepare(lease, secret)  # no grace for an unknown name: it fails at once, as Dead
        if not isinstance(prepared, tuple):
            assert isinstance(prepared, Dead), "an unknown job is put back only with a grace"
            return self._settle(key, lease, prepared, None, None)
        envelope, definition = prepared
        attempt = _invoke(definition, envelope, lease)
        outcome = executor.conclude(
            attempt, lease=lease, envelope=envelope, definition=definition, secret=secret, now=self.clock()
        )
        return self._settle(key, lease, outcome, envelope, attempt.error)

    def _settle(
        self,
        key: tuple[str, str],
        lease: Lease,
        outcome: Completed | RetryAt | Dead,
        envelope: Envelope | None,
        exc: BaseException | None,
    ) -> FinishedJob | None:
        """Record what the attempt decided, as the datastore would; queue the retry, or report the end."""
        with self._lock:
            held = self._held[key]
            held.attempts = lease.attempt
            if isinstance(outcome, RetryAt):
                held.state, held.error = "retrying", outcome.error
                heapq.heappush(self._due, (outcome.run_at, next(self._order), key))
            elif isinstance(outcome, Completed):
                held.state, held.result, held.error = "succeeded", outcome.result, None
            else:
                held.state, held.error = "failed", outcome.error
            if held.state in ("succeeded", "failed"):
                self._forget_oldest(key)
        _log_outcome(held, lease, outcome, self.clock())
        if isinstance(outcome, RetryAt):
            return None
        if isinstance(outcome, Completed):
            value = _decode_result(outcome.result, envelope)
            return FinishedJob(lease.job_id, held.name, lease.queue, "succeeded", lease.attempt, value)
        return FinishedJob(lease.job_id, held.name, lease.queue, "failed", lease.attempt, None, outcome.error, exc)

    def _forget_oldest(self, key: tuple[str, str]) -> None:
        """Note ``key`` as finished; past ``keep_finished`` finished jobs, forget the oldest (lock held)."""
        self._finished.append(key)
        while len(self._finished) > self._keep_finished:
            self._held.pop(self._finished.popleft(), None)


def _invoke(definition: JobDefinition, envelope: Envelope, lease: Lease) -> executor.Attempt:
    """``executor.invoke``, marked as inside a job; an ``async def`` job called where an event loop already runs
    (an async test, an ASGI app under test) runs on a loop of its own in a helper thread, as it cannot nest."""
    token = _inside_job.set(True)
    try:
        if definition.is_async and _loop_running():
            context = copy_context()  # the helper thread sees the same context (inside_job, anything else set)
            with ThreadPoolExecutor(1, thread_name_prefix="tasks-testing") as pool:
                return pool.submit(context.run, executor.invoke, definition, envelope, lease).result()
        return executor.invoke(definition, envelope, lease)
    finally:
        _inside_job.reset(token)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _decode_result(result: str, envelope: Envelope | None) -> Any:
    serializer = get_serializer(envelope.serializer if envelope else "json", settings().secret)
    return serializer.loads(result)


def _name(payload: str) -> str:
    """The job's name in a payload this process built (``?`` should it not say)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return "?"
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else "?"


def _log_outcome(held: _Held, lease: Lease, outcome: Outcome, now: float) -> None:
    """The lines a worker would log for a retry or a failure, so a job failing in a test is not silent."""
    where = f"job {lease.job_id} {held.name}"
    tried = f"attempt {lease.attempt}/{lease.max_attempts}"
    if isinstance(outcome, RetryAt):
        wait = max(0.0, outcome.run_at - now)
        error = outcome.error
        log.warning(
            "%s failed on %s (%s: %s); retry in %.1f s (not waited for)", where, tried, error.type, error.message, wait
        )
    elif isinstance(outcome, Dead):
        error = outcome.error
        log.error("%s failed for good on %s: %s: %s\n%s", where, tried, error.type, error.message, error.traceback)


@contextmanager
def diverted(destination: producer.Destination) -> Iterator[None]:
    """Send every dispatch of this process to ``destination`` for the block, then put back what was there."""
    previous = producer.sink
    producer.sink = destination
    try:
        yield
    finally:
        producer.sink = previous
