"""``current_job()``: what a running job may know about itself, run by a worker or called directly."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .workflows.handles import BatchHandle, ChainHandle

R = TypeVar("R")

_current: ContextVar[JobContext | None] = ContextVar("tasks_current_job", default=None)


@dataclass(frozen=True)
class JobContext:
    """The job being run: identity, attempt (1-based) and timestamps (epoch seconds)."""

    id: str
    name: str
    queue: str
    attempt: int
    max_attempts: int
    enqueued_at: float
    started_at: float
    logger: logging.Logger = field(default=logging.getLogger("tasks.job"), repr=False)
    #: The job's payload, read only for what it tells of the job's workflow (``batch``, ``chain``).
    payload: str = field(default="", repr=False)

    def log(self, msg: str, *args: object, level: int = logging.INFO) -> None:
        """Log through the worker's logger, tagged with the job's id and name."""
        extra = {"job_id": self.id, "job_name": self.name, "queue": self.queue, "attempt": self.attempt}
        self.logger.log(level, f"[{self.name} {self.id}] {msg}", *args, extra=extra)

    def progress(self, fraction: float, note: str = "") -> bool:
        """Tell how far the job is (``fraction`` from 0 to 1, and a short ``note``): one write, which
        ``JobHandle.progress()``, ``python -m tasks job`` and the dashboard read. A datastore error is logged and
        the job goes on (``False``); a direct call (not run by a worker) stores nothing."""
        from .observe.progress import make_progress, report

        if self.id.startswith(DIRECT_ID_PREFIX):
            make_progress(fraction, note, time.time())  # the same checks as for a job run by a worker
            return False
        return report(self.queue, self.id, fraction, note)

    @property
    def batch(self) -> BatchHandle | None:
        """The batch this job belongs to (as a member, a member chain's step, or a callback), or ``None``."""
        from .workflows.handles import batch_of

        return batch_of(self.payload)

    @property
    def chain(self) -> ChainHandle | None:
        """The chain this job is a step (or the ``on_failure``) of, or ``None``."""
        from .workflows.handles import chain_of

        return chain_of(self.payload)

    def cancelled(self) -> bool:
        """``True`` once this job should stop: an abort was asked for it (``handle.cancel(abort=True)``; seen within
        a heartbeat), or its batch or chain was cancelled. A long job should look now and then and return early;
        an aborted one that does not is stopped after the worker's grace."""
        from .observe.progress import abort_asked

        if abort_asked(self.id):
            return True
        chain = self.chain
        if chain is not None and chain.cancelled():
            return True
        batch = self.batch
        return batch is not None and batch.cancelled()


def current_job() -> JobContext:
    """The context of the job running in this thread or task; ``RuntimeError`` outside a job.

    A job called directly (``send_email(...)``, a plain call) has a context too: see ``call_directly``.
    """
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_job() is only available inside a job (run by a worker, or called directly)")
    return ctx


#: How the id of a direct call's context starts: no datastore holds a record under it.
DIRECT_ID_PREFIX = "direct-"


def direct_context(name: str, queue: str, max_attempts: int) -> JobContext:
    """The context of a direct call: an id of its own (``direct-`` and 32 hex digits), attempt 1, times now."""
    now = time.time()
    return JobContext(
        id=DIRECT_ID_PREFIX + os.urandom(16).hex(),
        name=name,
        queue=queue,
        attempt=1,
        max_attempts=max_attempts,
        enqueued_at=now,
        started_at=now,
    )


def call_directly(func: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any], ctx: JobContext) -> R:
    """Call ``func`` with ``ctx`` as ``current_job()``, unless a job is running already (a worker's job calling
    another job directly): that call keeps the running job's context, as it always has."""
    if _current.get() is not None:
        return func(*args, **kwargs)
    token = _current.set(ctx)
    try:
        return func(*args, **kwargs)
    finally:
        _current.reset(token)


async def await_directly(coro: Coroutine[Any, Any, R], ctx: JobContext) -> R:
    """``call_directly`` for a coroutine: the context is set while it runs, in the task that awaits it."""
    if _current.get() is not None:
        return await coro
    token = _current.set(ctx)
    try:
        return await coro
    finally:
        _current.reset(token)


def set_current(ctx: JobContext | None) -> object:
    """Install ``ctx`` for the running code; returns a token for ``reset_current``."""
    return _current.set(ctx)


def reset_current(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
