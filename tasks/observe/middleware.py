"""Lifecycle middleware: hooks around a dispatch and around each attempt a worker runs.

``configure(middleware=[...])`` installs them, in order, for this process (a worker process installs them when it
imports the module that calls ``configure``). With none installed a dispatch and an attempt pay one check of an
empty tuple. ``before_enqueue`` runs in the caller and may change the dispatch (return a new ``Dispatch``) or refuse
it (raise: the caller gets that exception and nothing is sent). ``before_run`` runs where the job runs, just
before it, with ``current_job()`` set; ``after_run`` runs once its outcome is known. A ``before_run`` or
``after_run`` that raises is logged and the worker goes on: a hook never fails a job nor stops a worker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..context import JobContext
from ..errors import ConfigurationError
from ..model import Aborted, Completed, Dead, Deferred, ErrorInfo, Lease, Outcome, RetryAt
from .series import job_name

if TYPE_CHECKING:
    from ..producer import DispatchOptions

log = logging.getLogger("tasks.middleware")

#: What an attempt came to, as ``after_run`` sees it.
RunStatus = Literal["succeeded", "retrying", "failed", "cancelled", "deferred"]


@dataclass(frozen=True)
class Dispatch:
    """One dispatch on its way to the datastore: the job's name and options, and its arguments."""

    options: DispatchOptions
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def queue(self) -> str:
        return self.options.queue

    def with_options(self, **changes: Any) -> Dispatch:
        """The same dispatch with some of its options changed (``queue``, ``max_attempts``, ``run_at``, ...)."""
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **changes))


@dataclass(frozen=True)
class RunOutcome:
    """What one attempt came to: its status, run time, the error (when it failed) and when it runs again."""

    status: RunStatus
    runtime_s: float
    error: ErrorInfo | None = None
    retry_at: float | None = None


class Middleware:
    """Base class of lifecycle hooks; override any of them, each is optional."""

    def before_enqueue(self, call: Dispatch) -> Dispatch | None:
        """Called in the caller before a dispatch is sent: return a changed ``Dispatch``, or ``None`` to keep it;
        raise to refuse it."""
        return None

    def before_run(self, ctx: JobContext) -> None:
        """Called where the job runs, just before it, with ``current_job()`` set."""

    def after_run(self, ctx: JobContext, outcome: RunOutcome) -> None:
        """Called once the attempt's outcome is known (before it is written to the datastore)."""


#: The middleware installed in this process, in the order they run.
installed: tuple[Middleware, ...] = ()


def install(middleware: Sequence[Middleware]) -> None:
    """Replace the installed middleware (``configure(middleware=...)``); each must be a ``Middleware``."""
    global installed
    for item in middleware:
        if not isinstance(item, Middleware):
            raise ConfigurationError(f"middleware must be tasks.Middleware instances, got {item!r}")
    installed = tuple(middleware)


def before_enqueue(call: Dispatch) -> Dispatch:
    """Every ``before_enqueue`` in order, each seeing what the one before returned; an exception propagates."""
    for item in installed:
        changed = item.before_enqueue(call)
        if changed is not None:
            call = changed
    return call


def before_run(ctx: JobContext) -> None:
    for item in installed:
        try:
            item.before_run(ctx)
        except Exception:  # a hook never fails the job
            log.exception("middleware %s.before_run raised on job %s; the job runs", type(item).__name__, ctx.id)


def after_run(lease: Lease, outcome: Outcome, runtime_s: float) -> None:
    """Every ``after_run`` in order, with the context of ``lease`` and what ``outcome`` means."""
    if not installed:
        return
    ctx = context_of(lease)
    result = run_outcome(outcome, runtime_s)
    for item in installed:
        try:
            item.after_run(ctx, result)
        except Exception:  # a hook never stops the worker
            log.exception("middleware %s.after_run raised on job %s; the worker goes on", type(item).__name__, ctx.id)


def context_of(lease: Lease) -> JobContext:
    return JobContext(
        id=lease.job_id,
        name=job_name(lease.payload),
        queue=lease.queue,
        attempt=lease.attempt,
        max_attempts=lease.max_attempts,
        enqueued_at=lease.enqueued_at,
        started_at=lease.started_at,
    )


def run_outcome(outcome: Outcome | None, runtime_s: float) -> RunOutcome:
    """The ``RunOutcome`` of an executor outcome (``None``: an attempt whose process was stopped by an abort)."""
    if outcome is None or isinstance(outcome, Aborted):
        return RunOutcome("cancelled", runtime_s)
    if isinstance(outcome, Completed):
        return RunOutcome("succeeded", runtime_s)
    if isinstance(outcome, RetryAt):
        return RunOutcome("retrying", runtime_s, outcome.error, outcome.run_at)
    if isinstance(outcome, Deferred):
        return RunOutcome("deferred", runtime_s, None, outcome.run_at)
    assert isinstance(outcome, Dead)
    return RunOutcome("failed", runtime_s, outcome.error)


def job_extra(ctx: JobContext | Lease) -> dict[str, Any]:
    """The ``extra`` fields of a log record about a job: id, name, queue and attempt (a JSON formatter shows them)."""
    if isinstance(ctx, Lease):
        return {"job_id": ctx.job_id, "job_name": job_name(ctx.payload), "queue": ctx.queue, "attempt": ctx.attempt}
    return {"job_id": ctx.id, "job_name": ctx.name, "queue": ctx.queue, "attempt": ctx.attempt}


class JobContextFilter(logging.Filter):
    """A logging filter that adds the running job's id, name, queue and attempt to every record logged inside a
    job (from any logger), so a JSON formatter shows them; records outside a job pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ..context import _current

        ctx = _current.get()
        if ctx is not None:
            for key, value in job_extra(ctx).items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True
