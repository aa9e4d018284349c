"""The worker loop of one process: reserve, run, acknowledge, heartbeat, stop cleanly.

Jobs are reserved in batches whose size adapts to how long jobs take (one at a time for slow jobs, up to
``prefetch`` for fast ones), and acknowledgements of finished jobs ride in the same round trip as the next
reserve. Every job held, started or not, stays leased and its lease is renewed by a heartbeat thread until
it is acknowledged; a job not started when the worker stops is released at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import executor, registry
from .backends.base import Backend
from .errors import BackendUnavailable
from .model import Completed, Dead, Lease, Outcome, RetryAt, WorkerInfo

log = logging.getLogger("tasks.worker")

#: Seconds of work one reserve should bring: the batch size is this divided by the mean job duration.
BATCH_TARGET_S = 0.02
#: How long an idle worker blocks before it looks at delayed jobs and expired leases again.
IDLE_WAIT_S = 1.0
#: How often expired leases are requeued (every worker does it; the script makes that safe).
MAINTENANCE_EVERY_S = 1.0
#: Reconnection backoff when the datastore is away: first and largest pause.
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.1, 5.0


@dataclass
class WorkerSettings:
    """How one worker process behaves (the CLI fills these from its flags)."""

    queues: Sequence[str]
    lease_s: float = 30.0
    prefetch: int = 100
    burst: bool = False
    secret: str | None = None
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")


class Worker:
    """Runs jobs from ``settings.queues`` (strict priority order) until stopped, or drained in burst mode."""

    def __init__(self, backend: Backend, settings: WorkerSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.jobs_done = 0
        self.started_at = clock()
        self._stop = threading.Event()
        self._held: dict[str, Lease] = {}  # every lease not yet acknowledged, started or not
        self._held_lock = threading.Lock()
        self._current: Lease | None = None
        self._acks: list[tuple[Lease, str, float]] = []
        self._mean_job_s = 1.0  # start cautious: one job per reserve until we know jobs are fast
        self._next_maintenance = 0.0

    # --- public ----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Work until ``stop()`` (or, in burst mode, until the queues are drained); returns the exit status."""
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="tasks-heartbeat", daemon=True)
        heartbeat.start()
        pause = RECONNECT_FIRST_S
        try:
            while not self._stop.is_set():
                try:
                    if not self._step():
                        break
                    pause = RECONNECT_FIRST_S
                except BackendUnavailable as exc:
                    log.warning("backend unavailable (%s); retrying in %.1f s", exc, pause)
                    self._stop.wait(pause)
                    pause = min(pause * 2, RECONNECT_MAX_S)
        finally:
            self._shutdown()
            self._stop.set()
            heartbeat.join(timeout=5)
        return 0

    def stop(self) -> None:
        """Finish the job running now, release the ones not started, and return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop --------------------------------------------------------------------------------------------

    def _step(self) -> bool:
        """One turn: maintenance when due, acknowledge and reserve, then run or wait. False ends the loop."""
        now = self.clock()
        if now >= self._next_maintenance:
            self._maintain(now)
        leases = self._acknowledge_and_reserve()
        if leases:
            self._run_batch(leases)
            return True
        if self.settings.burst:
            return False
        self.backend.wait_for_jobs(self.settings.queues, timeout_s=self._idle_wait())
        return True

    def _acknowledge_and_reserve(self) -> list[Lease]:
        acks, self._acks = self._acks, []
        try:
            done, leases = self.backend.complete_and_reserve(
                acks,
                self.settings.queues,
                worker_id=self.settings.worker_id,
                now=self.clock(),
                lease_s=self.settings.lease_s,
                count=0 if self.stopping else self._batch_size(),
            )
        except BackendUnavailable:
            self._acks = acks + self._acks  # keep them: they are sent again once the backend is back
            raise
        self._forget([lease for lease, _, _ in acks], done)
        with self._held_lock:
            self._held.update((lease.job_id, lease) for lease in leases)
        return leases

    def _run_batch(self, leases: list[Lease]) -> None:
        for index, lease in enumerate(leases):
            if self.stopping:
                self._release(leases[index:])
                return
            self._run_one(lease)

    def _run_one(self, lease: Lease) -> None:
        self._current = lease
        started = time.perf_counter()
        outcome = executor.run(lease, secret=self.settings.secret, clock=self.clock)
        elapsed = time.perf_counter() - started
        self._current = None
        self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * elapsed
        self.jobs_done += 1
        self._log_outcome(lease, outcome, elapsed)
        if isinstance(outcome, Completed):
            self._acks.append((lease, outcome.result, outcome.result_ttl_s))
        else:
            self._apply(lease, outcome)

    def _apply(self, lease: Lease, outcome: Outcome) -> None:
        """Retry and fail are rare: applied at once, each one atomic transition."""
        held = executor.apply_outcome(self.backend, lease, outcome, now=self.clock())
        self._forget([lease], [held])

    def _forget(self, leases: Sequence[Lease], written: Sequence[bool]) -> None:
        with self._held_lock:
            for lease, ok in zip(leases, written):
                self._held.pop(lease.job_id, None)
                if not ok:
                    log.warning(
                        "job %s: lease lost before its outcome was written; the late write was refused "
                        "and the job will run again",
                        lease.job_id,
                    )

    def _release(self, leases: Sequence[Lease]) -> None:
        for lease in leases:
            try:
                self.backend.release(lease, now=self.clock())
            except BackendUnavailable:
                log.warning("job %s not released (backend away); its lease will bring it back", lease.job_id)
            self._forget([lease], [True])

    def _batch_size(self) -> int:
        return max(1, min(self.settings.prefetch, int(BATCH_TARGET_S / max(self._mean_job_s, 1e-6))))

    def _idle_wait(self) -> float:
        due = self.backend.next_due(self.settings.queues)
        wait = IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, due - self.clock())
        return max(wait, 0.0)

    def _maintain(self, now: float) -> None:
        requeued, failed = self.backend.requeue_expired(self.settings.queues, now=now)
        if requeued or failed:
            log.warning("expired leases: %d job(s) requeued, %d moved to the failed set", requeued, failed)
        self._next_maintenance = now + MAINTENANCE_EVERY_S

    def _shutdown(self) -> None:
        """Send pending acknowledgements, release what was never started, and leave the worker list."""
        try:
            if self._acks:
                acks, self._acks = self._acks, []
                self._forget([lease for lease, _, _ in acks], self.backend.complete_many(acks, now=self.clock()))
            with self._held_lock:
                unstarted = [lease for lease in self._held.values() if lease is not self._current]
            self._release(unstarted)
            self.backend.unregister_worker(self.settings.worker_id)
        except BackendUnavailable as exc:
            log.warning("backend unavailable at shutdown (%s): leases will bring held jobs back", exc)

    # --- heartbeat -------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        """Renew the leases of every held job and announce this worker, every third of a lease."""
        interval = max(self.settings.lease_s / 3, 0.05)
        while not self._stop.wait(interval):
            self.heartbeat()

    def heartbeat(self) -> None:
        now = self.clock()
        with self._held_lock:
            held = list(self._held.values())
        try:
            if held:
                for lease, ok in zip(held, self.backend.extend(held, now=now, lease_s=self.settings.lease_s)):
                    if not ok:
                        log.warning("job %s: lease lost (expired and taken back)", lease.job_id)
            self.backend.register_worker(self.info(), ttl_s=self.settings.lease_s, now=now)
        except BackendUnavailable as exc:
            log.warning("heartbeat failed: %s", exc)

    def info(self) -> WorkerInfo:
        current = self._current
        return WorkerInfo(
            id=self.settings.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(self.settings.queues),
            started_at=self.started_at,
            jobs_done=self.jobs_done,
            current_jobs=(current.job_id,) if current else (),
        )

    def _log_outcome(self, lease: Lease, outcome: Outcome, elapsed: float) -> None:
        if isinstance(outcome, Completed):
            if log.isEnabledFor(logging.INFO):
                log.info("job %s %s succeeded in %.1f ms", lease.job_id, _name(lease), elapsed * 1000)
        elif isinstance(outcome, RetryAt):
            log.warning(
                "job %s %s failed on attempt %d/%d (%s: %s); retry in %.1f s",
                lease.job_id,
                _name(lease),
                lease.attempt,
                lease.max_attempts,
                outcome.error.type,
                outcome.error.message,
                max(0.0, outcome.run_at - self.clock()),
            )
        elif isinstance(outcome, Dead):
            log.error(
                "job %s %s failed for good on attempt %d/%d: %s: %s",
                lease.job_id,
                _name(lease),
                lease.attempt,
                lease.max_attempts,
                outcome.error.type,
                outcome.error.message,
            )


def _name(lease: Lease) -> str:
    """The job's name for a log line, read cheaply from the payload without decoding it twice."""
    marker = '"name":"'
    start = lease.payload.find(marker)
    if start < 0:
        return "?"
    start += len(marker)
    return lease.payload[start : lease.payload.find('"', start)]


def default_queues() -> list[str]:
    """Every queue the registry names, ``default`` last (the worker's order when ``--queues`` is not given)."""
    queues = sorted({d.queue for d in registry.definitions()} - {"default"})
    return [*queues, "default"]
