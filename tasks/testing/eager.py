"""Eager mode: every dispatch runs at once, in the caller, through the worker's executor.

Turned on for a block with ``tasks.testing.eager()``, or for the process with ``configure(eager=True)`` or
``TASKS_EAGER=1`` (read when the first job is dispatched, like ``TASKS_URL``). ``delay()`` returns once the job
has finished (retries included: their delays are skipped, not waited for) with an ordinary ``JobHandle`` whose
``status()`` and ``result()`` answer from this process. Nothing reaches a datastore.

What stays as in production, on purpose: the arguments make the serializer's round trip (a value JSON cannot
carry fails at ``delay()``, and the job receives lists where it was given tuples); the job's own retry policy,
timeout and ``current_job()``; ``delay()`` does not raise the job's error (``result()`` raises ``JobFailed``),
unless ``eager(raise_errors=True)`` asks for it. A job dispatched by a running job runs after that job's attempt
ends, not in the middle of it; ``later()`` runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..model import JobStatus, NewJob
from .runner import LocalRunner, diverted, inside_job


class EagerRunner:
    """A ``Destination`` that runs each job as it is dispatched (and keeps its state for its handle)."""

    def __init__(self, *, raise_errors: bool = False) -> None:
        self.raise_errors = raise_errors
        self.runner = LocalRunner()
        self._running = threading.Lock()  # one thread runs the jobs at a time; the others wait for theirs

    def enqueue(self, job: NewJob, *, now: float) -> bool:
        return self.enqueue_many([job], now=now)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]:
        """Run the jobs (and all they dispatch) before returning; inside a job, hold them until it ends."""
        accepted = [self.runner.add(job) for job in jobs]
        if not inside_job():
            with self._running:
                self.runner.run_due(raise_errors=self.raise_errors)
        return accepted

    def status(self, queue: str, job_id: str) -> JobStatus | None:
        return self.runner.status(queue, job_id)


_shared: EagerRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> EagerRunner:
    """The runner of eager mode turned on by the settings: one per process, so every handle finds its job."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EagerRunner()
        return _shared


@contextmanager
def eager(*, raise_errors: bool = False) -> Iterator[EagerRunner]:
    """Run every dispatch of the block at once, in this process; ``raise_errors`` makes ``delay()`` raise the
    error of a job that failed for good (its own exception), as a test usually wants."""
    runner = EagerRunner(raise_errors=raise_errors)
    with diverted(runner):
        yield runner
