"""Every read and write the dashboard makes, in one place, through the ``Backend`` contract only.

Pages call these functions, never the backend themselves: what a page shows and what an action does can be read
(and tested) here, apart from the HTML.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import registry, scheduler
from ..backends.base import Backend
from ..model import CancelResult, FailedJob, JobInfo, JobState, MetricPoint, QueueStats, WorkerInfo
from ..workflows.handles import BatchProgress, parse_id, public_id
from ..workflows.records import WorkflowInfo

#: The states the Jobs page lists: those an index holds (succeeded and cancelled jobs are found by id).
LISTED_STATES: tuple[JobState, ...] = ("queued", "scheduled", "running", "failed")
#: A name-filtered listing reads the index this many jobs at a time, and looks at no more than the limit per page.
NAME_SCAN_PAGE, NAME_SCAN_LIMIT = 200, 2000
#: How far back the Overview's charts reach.
CHART_WINDOW_S = 3600.0


@dataclass(frozen=True)
class QueueRow:
    """One queue as the Queues and Overview pages show it."""

    stats: QueueStats
    oldest_ready_age_s: float | None
    paused: bool


@dataclass(frozen=True)
class Overview:
    queues: list[QueueRow]
    workers: int
    metrics: list[MetricPoint] | None  # None: no metrics yet
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def longest_wait(self) -> QueueRow | None:
        """The queue whose oldest ready job has waited longest, or ``None`` when nothing is ready."""
        waiting = [q for q in self.queues if q.oldest_ready_age_s is not None]
        return max(waiting, key=lambda q: q.oldest_ready_age_s or 0.0, default=None)


def queue_names(backend: Backend, workers: Sequence[WorkerInfo] = ()) -> list[str]:
    """Every queue worth showing: those that ever held a job, those of loaded jobs, those workers listen to."""
    named = {d.queue for d in registry.definitions()} | {q for w in workers for q in w.queues}
    return sorted(set(backend.known_queues()) | named)


def queue_rows(backend: Backend, *, now: float, workers: Sequence[WorkerInfo] = ()) -> list[QueueRow]:
    paused = backend.paused_queues()
    rows = []
    for name in queue_names(backend, workers):
        oldest = backend.oldest_ready_at([name])
        rows.append(
            QueueRow(backend.queue_stats(name), None if oldest is None else max(now - oldest, 0.0), name in paused)
        )
    return rows


def metric_series(backend: Backend, *, now: float) -> list[MetricPoint] | None:
    """The last hour's per-minute points, or ``None`` when there are none (metrics off, or nothing ran)."""
    return backend.metric_series(since=now - CHART_WINDOW_S, until=now) or None


def overview(backend: Backend, *, now: float) -> Overview:
    workers = backend.workers(now=now)
    rows = queue_rows(backend, now=now, workers=workers)
    totals = {
        state: sum(getattr(row.stats, state) for row in rows) for state in ("ready", "scheduled", "running", "failed")
    }
    return Overview(rows, len(workers), metric_series(backend, now=now), totals)


def list_jobs(
    backend: Backend, queue: str, state: JobState, *, limit: int, offset: int, name: str
) -> tuple[list[JobInfo], int | None]:
    """Up to ``limit`` of ``queue``'s jobs in ``state`` from ``offset``, and the offset of the next page (``None``
    at the end). With ``name``, only the jobs whose name contains it: the indexes know ids, not names, so
    pages of the index are read until ``limit`` match or ``NAME_SCAN_LIMIT`` jobs were looked at."""
    from .payload import job_name

    if not name:
        found = backend.jobs(queue, state, limit=limit, offset=offset)
        return found, offset + limit if len(found) == limit else None
    matched: list[JobInfo] = []
    looked = 0
    while len(matched) < limit and looked < NAME_SCAN_LIMIT:
        page = backend.jobs(queue, state, limit=NAME_SCAN_PAGE, offset=offset + looked)
        for info in page:
            looked += 1
            if name in job_name(info.payload):
                matched.append(info)
                if len(matched) == limit:
                    break
        if len(page) < NAME_SCAN_PAGE:
            return matched, offset + looked if len(matched) == limit else None
    return matched, offset + looked


def find_job(backend: Backend, job_id: str, queues: Sequence[str]) -> JobInfo | None:
    """The job ``job_id`` in the first of ``queues`` that has it (search by id when the queue is not known)."""
    for queue in queues:
        info = backend.job_info(queue, job_id)
        if info is not None:
            return info
    return None


def failed_page(backend: Backend, queue: str, *, limit: int, offset: int) -> list[FailedJob]:
    """A page of ``queue``'s dead letters, newest first."""
    return [
        FailedJob(i.id, i.queue, i.payload or "", i.attempts, i.error, i.finished_at or 0.0)
        for i in backend.jobs(queue, "failed", limit=limit, offset=offset)
    ]


# --- actions -----------------------------------------------------------------------------------------------------


def retry_failed(backend: Backend, queue: str, ids: Sequence[str] | None) -> int:
    """Move failed jobs (``ids``, or all of ``queue`` when ``None``) back to ready; returns how many moved."""
    return backend.retry_failed(queue, ids, now=time.time())


def delete_failed(backend: Backend, queue: str, ids: Sequence[str] | None) -> int:
    """Delete failed jobs (``ids``, or all of ``queue`` when ``None``); returns how many."""
    return backend.purge_failed(queue) if ids is None else backend.delete_failed(queue, ids)


def set_paused(backend: Backend, queue: str, paused: bool) -> None:
    backend.pause(queue) if paused else backend.resume(queue)


def cancel(backend: Backend, queue: str, job_id: str) -> CancelResult:
    """Cancel one job: a queued or waiting one never runs; a running one is asked to stop (an abort)."""
    return backend.cancel(queue, job_id, now=time.time(), abort=True)


@dataclass(frozen=True)
class BatchRow:
    """One batch or lone chain of the Batches page: its record, its progress, and the id users know it by."""

    info: WorkflowInfo
    progress: BatchProgress
    public_id: str


def batches(backend: Backend, *, limit: int) -> list[BatchRow]:
    """The newest ``limit`` batches and lone chains (a batch's chains show in it), newest first."""
    return [BatchRow(info, BatchProgress.of(info), public_id(info.ref)) for info in backend.workflows(limit=limit)]


def cancel_batch(backend: Backend, workflow_id: str) -> bool:
    """Cancel a batch or chain by the id users know it by: its members not yet started never run. ``False`` when
    it had ended already; ``ValueError`` for an id that names none."""
    ref = parse_id(workflow_id)
    if ref is None:
        raise ValueError(f"{workflow_id!r} is not a batch or chain id")
    return backend.cancel_workflow(ref, now=time.time())


def schedules() -> list[scheduler.Schedule]:
    """The cron schedules this process knows (those of the modules the dashboard was started with)."""
    return scheduler.registered_schedules()
