"""The supervisor's side of an abort (``cancel(abort=True)``): a job whose abort was asked and that still runs
``grace`` seconds after the supervisor first saw the request gets its process stopped (SIGKILL of its group, as
for a hard timeout) and replaced; the job then ends ``cancelled`` and every other job the process held goes back
to its queue, attempt uncounted. The request itself is read by the ``LeaseKeeper`` thread with each renewal; a
job that looks at ``current_job().cancelled()`` and returns ends sooner, by itself."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

log = logging.getLogger("tasks.pool")


class _Child(Protocol):
    process: Any
    killed_for: str
    aborted: set[str]

    def running(self) -> dict[str, float | None]: ...


class AbortWatch:
    """When each asked abort was first seen, and which processes' grace is over."""

    def __init__(self, grace_s: float, kill: Callable[[Any], None]) -> None:
        self.grace_s = grace_s
        self.kill = kill
        self._seen: dict[str, float] = {}

    def enforce(self, children: Iterable[_Child], asked: set[str], now: float) -> None:
        """Stop each child running a job whose abort was asked ``grace_s`` or more before ``now`` (monotonic)."""
        self._seen = {job_id: at for job_id, at in self._seen.items() if job_id in asked}
        if not asked:
            return
        for child in children:
            late = [job_id for job_id in child.running() if job_id in asked and self._late(job_id, now)]
            if late and not child.killed_for:
                child.killed_for = "abort"
                child.aborted.update(late)
                log.warning(
                    "job(s) %s still running %.1f s after an abort was asked: stopping worker process %s",
                    ", ".join(late),
                    self.grace_s,
                    child.process.pid,
                )
                self.kill(child.process)

    def _late(self, job_id: str, now: float) -> bool:
        return now >= self._seen.setdefault(job_id, now) + self.grace_s
