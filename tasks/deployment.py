"""What the live workers announce with each heartbeat: the queues they listen to and the jobs they run.

A producer that cannot import a job learns from it the job's own queue and options (``dispatch("name")``); the
CLI (``python -m tasks queues``) and ``JobHandle.result()`` use it to tell a queue that no live worker listens to.
Everything here reads ``Backend.workers``: no other structure is kept in the datastore.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .backends.base import Backend
from .model import PublishedJob, WorkerInfo

#: How long a producer keeps what it read of the live workers' jobs before reading it again.
JOBS_CACHE_S = 10.0

_lock = threading.Lock()
#: The backend read, when, and the jobs found, by name.
_jobs_read: tuple[Backend, float, dict[str, PublishedJob]] | None = None


def published_jobs(workers: Sequence[WorkerInfo]) -> dict[str, PublishedJob]:
    """The jobs ``workers`` run, by name. Where two workers disagree on a job's options (a deploy under way), the
    most recently started one wins: it runs the newest code."""
    found: dict[str, PublishedJob] = {}
    for worker in sorted(workers, key=lambda w: w.started_at):
        found.update((job.name, job) for job in worker.jobs)
    return found


def published_job(name: str, backend: Backend, *, now: float | None = None) -> PublishedJob | None:
    """The job ``name`` as the live workers announce it, or ``None`` when none runs it.

    What was read is kept ``JOBS_CACHE_S`` seconds, so that dispatching by name many times costs one read of
    the worker list now and then, not one per dispatch.
    """
    global _jobs_read
    now = time.time() if now is None else now
    with _lock:
        cached = _jobs_read
    if cached is None or cached[0] is not backend or not cached[1] <= now < cached[1] + JOBS_CACHE_S:
        cached = (backend, now, published_jobs(backend.workers(now=now)))
        with _lock:
            _jobs_read = cached
    return cached[2].get(name)


def forget() -> None:
    """Drop what was read of the live workers (tests, and a process that changed its backend)."""
    global _jobs_read
    with _lock:
        _jobs_read = None


def listeners(workers: Sequence[WorkerInfo], queue: str) -> list[WorkerInfo]:
    """The workers among ``workers`` that take jobs from ``queue``."""
    return [worker for worker in workers if queue in worker.queues]


def no_listener_note(queue: str, workers: Sequence[WorkerInfo]) -> str | None:
    """Why jobs of ``queue`` wait for good, when no live worker listens to it; ``None`` when one does.

    Said as what follows "no live worker listens to it": which queues the live workers do listen to, and how
    to start one that listens to ``queue``.
    """
    if listeners(workers, queue):
        return None
    if not workers:
        return "no worker is running at all"
    served = sorted({q for worker in workers for q in worker.queues})
    return f"live workers listen to {', '.join(served)}; start one with --queues {queue},..."
