"""``current_job()``: what a running job may know about itself."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field

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

    def log(self, msg: str, *args: object, level: int = logging.INFO) -> None:
        """Log through the worker's logger, tagged with the job's id and name."""
        self.logger.log(level, f"[{self.name} {self.id}] {msg}", *args)


def current_job() -> JobContext:
    """The context of the job running in this thread or task; ``RuntimeError`` outside a job."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_job() is only available inside a job run by a worker")
    return ctx


def set_current(ctx: JobContext | None) -> object:
    """Install ``ctx`` for the running code; returns a token for ``reset_current``."""
    return _current.set(ctx)


def reset_current(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
