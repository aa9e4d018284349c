"""THE backend contract: every state change of a job is one atomic transition.

Policy lives in Python (when to retry, what a lease is worth); a backend only moves jobs between states and
refuses writes that do not hold the current lease token. Every method takes ``now`` (epoch seconds) from the
caller, so one clock drives every backend and tests move time without sleeping.

States and the transitions between them::

    enqueue --------> queued  (or scheduled, when run_at > now)
    reserve:          queued -> running           (attempt += 1, lease with a fresh token)
    complete:         running -> succeeded        (result kept for result_ttl)
    retry:            running -> retrying         (due at run_at; queued at once when run_at <= now)
    fail:             running -> failed           (into the queue's failed set, the dead letters)
    release:          running -> queued           (attempt given back: shutdown of a job never started)
    defer:            running -> scheduled        (due at run_at, attempt given back: a job this worker cannot run yet)
    requeue_expired:  running, lease expired -> queued, or failed once attempts are spent
    retry_failed:     failed -> queued            (attempts reset)
    delete_failed:    failed -> (deleted)         (the named jobs only)

A write that carries a stale token (its lease expired and the job moved on) changes nothing and returns
``False``. Job ids are unique per queue: enqueueing an id that still exists is refused (idempotent enqueue).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from ..limits.options import JobFlow
from ..model import (
    CancelResult,
    ErrorInfo,
    FailedJob,
    JobInfo,
    JobState,
    JobStatus,
    Lease,
    MetricPoint,
    NewJob,
    Progress,
    QueueStats,
    WorkerInfo,
)
from ..workflows.records import WorkflowInfo, WorkflowRef, WorkflowSpec


class Backend(ABC):
    """The datastore operations a producer, a worker and the CLI need; each one atomic."""

    #: Human-readable description for logs (URL with the password masked, or the file path).
    description: str = ""
    #: ``wait_and_reserve`` leases its jobs past ``lease_s``, by as long as the wait could last: a worker then
    #: renews them from the moment it holds them (so a dead worker's job comes back one lease after it began).
    pads_wait_leases: bool = False
    #: The datastore spreads queues over several servers (Redis Cluster): one transition may touch the keys of one
    #: queue's slot only, so what spans queues (a workflow, say) is refused there with a clear error.
    cluster: bool = False

    # --- producing -------------------------------------------------------------------------------------------

    @abstractmethod
    def enqueue(self, job: NewJob, *, now: float) -> bool:
        """Store ``job`` as queued (or scheduled when ``job.run_at > now``); ``False`` if its id already exists."""

    @abstractmethod
    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]:
        """``enqueue`` for each job, in as few round trips as the datastore allows."""

    # --- working ---------------------------------------------------------------------------------------------

    @abstractmethod
    def reserve(
        self, queues: Sequence[str], *, worker_id: str, now: float, lease_s: float, count: int = 1
    ) -> list[Lease]:
        """Take up to ``count`` ready jobs, ``queues`` in strict priority order, without blocking.

        Due scheduled jobs are promoted first. Each job taken has its attempt counted and a lease until
        ``now + lease_s`` with a fresh token.
        """

    def wait_and_reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        clock: Callable[[], float],
        lease_s: float,
        count: int,
        timeout_s: float,
    ) -> list[Lease]:
        """Block up to ``timeout_s`` for a job, then ``reserve``: an idle worker's path from wake-up to start.

        ``clock`` is read for the reserve's ``now``. Backends that can run the reserve the moment the wait
        ends (Redis, in the same round trip) override this, and set ``pads_wait_leases`` if they must lease
        before knowing when the wait ended.
        """
        self.wait_for_jobs(queues, timeout_s=timeout_s)
        return self.reserve(queues, worker_id=worker_id, now=clock(), lease_s=lease_s, count=count)

    @abstractmethod
    def wait_for_jobs(self, queues: Sequence[str], *, timeout_s: float) -> None:
        """Block up to ``timeout_s`` until a job may be ready in ``queues`` (a hint: ``reserve`` decides)."""

    @abstractmethod
    def next_due(self, queues: Sequence[str]) -> float | None:
        """The earliest ``run_at`` among scheduled jobs of ``queues``, or ``None``."""

    def next_wake(self, queues: Sequence[str]) -> float | None:
        """When an idle worker of ``queues`` next has work without being woken: the earliest ``run_at`` of a
        scheduled job or expiry of a lease (maintenance then requeues its job), or ``None``.

        This default knows only ``next_due``; backends that can read lease expiries cheaply add them, so a
        dead worker's job comes back the moment its lease expires.
        """
        return self.next_due(queues)

    def oldest_ready_at(self, queues: Sequence[str]) -> float | None:
        """The ``enqueued_at`` of the job longest in line among the ready jobs of ``queues`` (the head of each
        queue), or ``None`` when none is ready: how far behind the workers of ``queues`` are (the autoscaler's
        signal). A delayed or retried job counts from its dispatch. This default knows nothing (``None``):
        a pool on a backend without it never grows.
        """
        return None

    @abstractmethod
    def extend(self, leases: Sequence[Lease], *, now: float, lease_s: float) -> list[bool]:
        """Push each lease's expiry to ``now + lease_s``; ``False`` for a lease no longer held."""

    @abstractmethod
    def complete(self, lease: Lease, result: str, *, now: float, result_ttl_s: float) -> bool:
        """running -> succeeded, keeping ``result`` for ``result_ttl_s``.

        The TTL runs on the datastore's clock from this write (a Redis key TTL; the SQLite backend's
        ``clock``), not on ``now``: a worker with an injected clock still keeps results for real.
        """

    def complete_many(self, items: Sequence[tuple[Lease, str, float]], *, now: float) -> list[bool]:
        """``complete`` for each ``(lease, result, result_ttl_s)``; backends fold it into fewer round trips."""
        return [self.complete(lease, result, now=now, result_ttl_s=ttl) for lease, result, ttl in items]

    def complete_and_reserve(
        self,
        completions: Sequence[tuple[Lease, str, float]],
        queues: Sequence[str],
        *,
        worker_id: str,
        now: float,
        lease_s: float,
        count: int,
    ) -> tuple[list[bool], list[Lease]]:
        """Acknowledge finished jobs and take the next ones; Redis folds both into one round trip."""
        done = self.complete_many(completions, now=now) if completions else []
        return done, self.reserve(queues, worker_id=worker_id, now=now, lease_s=lease_s, count=count)

    @abstractmethod
    def retry(self, lease: Lease, *, run_at: float, error: ErrorInfo, now: float) -> bool:
        """running -> retrying (due at ``run_at``), keeping ``error`` as the last one."""

    @abstractmethod
    def fail(self, lease: Lease, *, error: ErrorInfo, now: float) -> bool:
        """running -> failed: into the queue's failed set with ``error``."""

    @abstractmethod
    def release(self, lease: Lease, *, now: float) -> bool:
        """running -> queued at the head of its queue, the attempt given back (it never ran)."""

    @abstractmethod
    def defer(self, lease: Lease, *, run_at: float, now: float) -> bool:
        """running -> scheduled (due at ``run_at``; queued at once when ``run_at <= now``), the attempt given back.

        For a job this worker cannot run yet but another may (its name is unknown here: a rolling deploy whose
        new code has not reached this worker): it never ran, so nothing is charged, and its last error is kept.
        """

    @abstractmethod
    def requeue_expired(self, queues: Sequence[str], *, now: float, limit: int = 100) -> tuple[int, int]:
        """Bring back jobs whose lease expired before ``now``: ``(requeued, failed)``.

        A job whose attempts are spent goes to the failed set instead, so a job that keeps killing its
        worker still ends. Safe to run from many workers at once.
        """

    # --- inspecting and managing -----------------------------------------------------------------------------

    @abstractmethod
    def status(self, queue: str, job_id: str) -> JobStatus | None:
        """What is known of a job, or ``None`` once it (and its result) expired or never existed."""

    @abstractmethod
    def queue_stats(self, queue: str) -> QueueStats: ...

    @abstractmethod
    def known_queues(self) -> list[str]:
        """Names of every queue that ever held a job (for listings)."""

    @abstractmethod
    def failed(self, queue: str, *, limit: int = 50) -> list[FailedJob]:
        """The newest ``limit`` entries of the failed set, newest first."""

    @abstractmethod
    def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        """One entry of the failed set, or ``None`` when ``job_id`` is not a failed job of ``queue``."""

    @abstractmethod
    def retry_failed(self, queue: str, ids: Sequence[str] | None = None, *, now: float) -> int:
        """Move failed jobs (all, or those ``ids``) back to ready with their attempts reset; returns how many."""

    @abstractmethod
    def purge_failed(self, queue: str) -> int:
        """Delete every job in the failed set; returns how many."""

    def delete_failed(self, queue: str, ids: Sequence[str]) -> int:
        """Delete the failed jobs ``ids`` of ``queue`` (an id that is not a failed job of it is left alone);
        returns how many were deleted. One atomic step: a job retried meanwhile is not deleted."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete single failed jobs")

    @abstractmethod
    def clear(self, queue: str) -> int:
        """Delete the ready and scheduled jobs of ``queue``; returns how many."""

    # --- wave 2: each backend implements these with its feature (until then they raise NotImplementedError) --

    def job_info(self, queue: str, job_id: str) -> JobInfo | None:
        """Everything known of one job (progress included), or ``None`` once it expired or never existed."""
        raise NotImplementedError(f"{type(self).__name__} does not keep job info yet")

    def jobs(self, queue: str, state: JobState, *, limit: int = 50, offset: int = 0) -> list[JobInfo]:
        """A page of the jobs of ``queue`` in ``state``, in the order the queue keeps them (oldest first for
        ready, soonest first for scheduled, newest first for failed). Reads an index, never scans the keyspace."""
        raise NotImplementedError(f"{type(self).__name__} does not list jobs yet")

    def metric_series(self, *, since: float, until: float) -> list[MetricPoint]:
        """Per-minute outcome counts and times of every queue and job name between ``since`` and ``until``."""
        raise NotImplementedError(f"{type(self).__name__} does not keep metrics yet")

    def pause(self, queue: str) -> None:
        """Stop every worker from serving ``queue`` until ``resume``; dispatching to it still works."""
        raise NotImplementedError(f"{type(self).__name__} does not pause queues yet")

    def resume(self, queue: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not pause queues yet")

    def paused_queues(self) -> set[str]:
        """The names of the queues paused now."""
        raise NotImplementedError(f"{type(self).__name__} does not pause queues yet")

    # --- observe: cancel, abort, progress (tasks/observe; docs/observability.md) ------------------------------

    #: Outcome transitions (complete, retry, fail, cancel) add to the per-minute metrics; ``False`` turns that off
    #: (``TASKS_METRICS=0`` in the environment when tasks is imported), for the benchmark that measures their cost.
    record_metrics: bool = os.environ.get("TASKS_METRICS", "1").strip().lower() not in ("0", "false", "no", "off")

    def cancel(self, queue: str, job_id: str, *, now: float, abort: bool = False) -> CancelResult:
        """queued, scheduled or retrying -> cancelled: it never runs, spends no attempt and is kept as long as its
        result would be. Atomic against ``reserve``: a job is either cancelled before any worker takes it, or it is
        running; then ``abort=True`` sets its abort flag (``abort_requested``), which its worker's heartbeat reads."""
        raise NotImplementedError(f"{type(self).__name__} does not cancel jobs yet")

    def set_progress(self, queue: str, job_id: str, progress: Progress) -> bool:
        """Store what a running job says of its progress, in one write; ``False`` when the job is not running."""
        raise NotImplementedError(f"{type(self).__name__} does not keep progress yet")

    def aborts_requested(self, leases: Sequence[Lease]) -> list[bool]:
        """For each lease: whether an abort was asked for its job (``cancel(abort=True)``) while it runs."""
        raise NotImplementedError(f"{type(self).__name__} does not abort jobs yet")

    def abort(self, lease: Lease, *, now: float) -> bool:
        """running -> cancelled, for a job whose abort was asked and was stopped; ``False`` for a stale lease."""
        raise NotImplementedError(f"{type(self).__name__} does not abort jobs yet")

    # --- flow control (tasks.limits) -------------------------------------------------------------------------

    def enqueue_flow(self, job: NewJob, flow: JobFlow, *, now: float) -> tuple[str, bool]:
        """``enqueue`` for a job with flow-control options, storing them in its record for the reserve to apply.

        A unique job (``flow.unique``) whose lock is held by a job not finished yet is not stored: the answer
        is that job's id and ``False``. With ``flow.debounce_s`` such a job, if it has not started, takes this
        dispatch's payload and runs at ``job.run_at`` instead. Otherwise the job is stored (taking the lock,
        for ``flow.unique_for_s`` at most): ``(job.id, True)``; an id that exists already gives ``(job.id, False)``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not apply flow control yet")

    def limit_use(
        self, queue: str, *, rates: Sequence[tuple[str, float]], slots: Sequence[str], now: float
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """How much of some limits of ``queue`` is in use (for listings): per ``(bucket, per_s)`` of ``rates`` the
        starts counted in the last ``per_s`` seconds; per concurrency key of ``slots``, ``(running, waiting)``."""
        raise NotImplementedError(f"{type(self).__name__} does not apply flow control yet")

    # --- cron and workers ------------------------------------------------------------------------------------

    @abstractmethod
    def claim_tick(self, schedule: str, tick: float) -> bool:
        """Claim ``tick`` of ``schedule``: ``True`` for exactly one caller, and only if no later tick was claimed."""

    @abstractmethod
    def last_tick(self, schedule: str) -> float | None:
        """The latest tick claimed for ``schedule``, or ``None``."""

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, float | None]:
        """``last_tick`` of each of ``schedules``, for a listing of many (the dashboard's Schedules page); backends
        read them all in one round trip."""
        return {name: self.last_tick(name) for name in schedules}

    @abstractmethod
    def register_worker(self, info: WorkerInfo, *, ttl_s: float, now: float) -> None:
        """Announce (or refresh) a live worker; it disappears ``ttl_s`` after its last refresh."""

    @abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    def workers(self, *, now: float) -> list[WorkerInfo]:
        """Workers whose last heartbeat has not expired."""

    # --- lifecycle -------------------------------------------------------------------------------------------

    @abstractmethod
    def ping(self) -> None:
        """Raise ``BackendUnavailable`` when the datastore cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional hook: most backends have nothing to release
        """Release connections; the backend may not be used afterwards."""

    # --- workflows (tasks/workflows): chains and batches, each outcome one atomic transition -------------------

    def enqueue_workflow(self, specs: Sequence[WorkflowSpec], jobs: Sequence[NewJob], *, now: float) -> bool:
        """Write the records ``specs`` (a batch and its chains, or one chain; one home queue) and enqueue ``jobs``
        (their first members) in one step; ``False``, with nothing written, when the first record exists."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def complete_member(
        self, lease: Lease, result: str, *, now: float, result_ttl_s: float, workflow: WorkflowRef
    ) -> bool:
        """``complete`` of a workflow member and, in the same transition, what its workflow does next: a chain's
        next step enqueued, a batch's counters moved and its callbacks enqueued once nothing is pending.
        A stale token changes nothing (no step, no counter, no callback)."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def complete_members(self, items: Sequence[tuple[Lease, str, float, WorkflowRef]], *, now: float) -> list[bool]:
        """``complete_member`` for each ``(lease, result, result_ttl_s, workflow)``; backends fold it into fewer
        round trips (each member still one atomic transition)."""
        return [
            self.complete_member(lease, result, now=now, result_ttl_s=ttl, workflow=workflow)
            for lease, result, ttl, workflow in items
        ]

    def fail_member(self, lease: Lease, *, error: ErrorInfo, now: float, workflow: WorkflowRef) -> bool:
        """``fail`` of a workflow member and, in the same transition: a chain ends and its ``on_failure`` is
        enqueued; a batch counts the failure, fires ``catch`` on the first, and (unless failures are allowed)
        cancels its members not yet started."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def cancel_workflow(self, workflow: WorkflowRef, *, now: float) -> bool:
        """A running batch -> cancelled, its members not yet started -> ``cancelled`` (they never run); a running
        chain -> cancelled, its step not yet started -> ``cancelled``. ``False`` when it was not running."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def add_members(
        self,
        batch: WorkflowRef,
        specs: Sequence[WorkflowSpec],
        jobs: Sequence[NewJob],
        members: Sequence[tuple[str, str]],
        *,
        now: float,
    ) -> bool:
        """Add ``members`` (their chains' records ``specs``, their first jobs ``jobs``) to a running batch;
        ``False``, with nothing written, when it is not running."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def workflow_info(self, workflow: WorkflowRef) -> WorkflowInfo | None:
        """A batch's or chain's counters and state, or ``None`` once its record expired or never existed."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def workflow_members(self, workflow: WorkflowRef) -> list[tuple[str, str]]:
        """What a batch waits for: ``(queue, job id)`` of its jobs, ``("", chain id)`` of its chains."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")

    def workflows(self, *, limit: int = 50) -> list[WorkflowInfo]:
        """The newest batches and lone chains whose records have not expired, newest first."""
        raise NotImplementedError(f"{type(self).__name__} does not run workflows")
