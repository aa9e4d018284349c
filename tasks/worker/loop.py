"""The worker loop of one process: reserve, run, acknowledge, heartbeat, stop cleanly.

Jobs are reserved in batches whose size adapts to how long jobs take (one at a time for slow jobs, up to
``prefetch`` for fast ones), and acknowledgements of finished jobs ride in the same round trip as the next
reserve. Sync jobs run on the main thread (where the SIGALRM soft timeout works); ``async def`` jobs run on
an ``AsyncRunner`` loop, up to ``async_concurrency`` at once.

Every job held, started or not, stays leased and its lease is renewed by a heartbeat thread until its
outcome is written; a job not started when the worker stops is released at once. When the datastore goes
away, outcomes (success, retry, failure) are kept in memory and written when it is back; held jobs are
neither run twice nor dropped by this worker. Any other error (a bug, a datastore that refuses a write) is
logged and the loop carries on after a pause: no record, and no error, ends the process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import registry
from ..backends.base import Backend
from ..errors import BackendUnavailable
from ..model import Aborted, Completed, Dead, Deferred, ErrorInfo, Lease, Outcome, RetryAt, WorkerInfo, cap_text
from ..observe import middleware
from ..observe import progress as aborts
from ..observe.middleware import job_extra
from ..registry import JobDefinition
from ..retry import UNKNOWN_JOB_GRACE_S
from ..serialization import Envelope
from ..workflows.records import workflow_member
from . import executor
from .async_runner import AsyncRunner
from .heartbeat import Heartbeat
from .ledger import Ledger, NoEvents, WorkerEvents

log = logging.getLogger("tasks.worker")

#: Seconds of work one reserve should bring: the batch size is this divided by the mean job duration.
BATCH_TARGET_S = 0.02
#: How long an idle worker blocks before it looks at delayed jobs and expired leases again.
IDLE_WAIT_S = 1.0
#: Longest an acknowledgement of a finished async job waits while other async jobs are in flight.
ASYNC_POLL_S = 0.05
#: How often expired leases are requeued (every worker does it; the script makes that safe).
MAINTENANCE_EVERY_S = 1.0
#: Reconnection backoff when the datastore is away: first and largest pause.
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.1, 5.0
#: Unexpected errors in a row after which outcomes waiting to be written are written one by one, and any the
#: datastore keeps refusing are given up (their leases bring those jobs back, the attempt counted).
SALVAGE_AFTER_ERRORS = 3
#: Longest error message a log line shows (the stored error keeps more: ``model.ERROR_TEXT_LIMIT``).
LOG_MESSAGE_CHARS = 500


@dataclass
class WorkerSettings:
    """How one worker process behaves (the CLI fills these from its flags)."""

    queues: Sequence[str]
    lease_s: float = 30.0
    prefetch: int = 400
    burst: bool = False
    secret: str | None = field(default=None, repr=False)
    #: ``async def`` jobs in flight at once in this process; 0 runs them one at a time on the main thread.
    async_concurrency: int = 32
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    #: Shown by ``python -m tasks workers`` (the pool puts its supervisor's pid here).
    extra: dict[str, Any] = field(default_factory=dict)
    #: How long a job whose name this worker does not know is put back (uncharged) before it fails as
    #: ``UnknownJob``, from when it was due: a rolling deploy loses nothing. 0 fails it at once.
    unknown_job_grace_s: float = UNKNOWN_JOB_GRACE_S


class Worker:
    """Runs jobs from ``settings.queues`` (strict priority order) until stopped, or drained in burst mode."""

    def __init__(
        self,
        backend: Backend,
        settings: WorkerSettings,
        *,
        clock: Callable[[], float] = time.time,
        events: WorkerEvents | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.events: WorkerEvents = events or NoEvents()
        self.started_at = clock()
        self._stop = threading.Event()  # stop taking jobs
        self._ledger = Ledger(self.events)  # every lease held, by phase; shared by this worker's threads
        self._heartbeat = Heartbeat(backend, self._ledger, lease_s=settings.lease_s, clock=clock, announce=self.info)
        self._todo: deque[Lease] = deque()  # reserved, not started (the main thread's own queue)
        self._aio = AsyncRunner(settings.async_concurrency) if settings.async_concurrency > 0 else None
        self._mean_job_s = 1.0  # start cautious: one job per reserve until we know jobs are fast
        self._next_maintenance = 0.0
        self._wake_at = float("inf")  # when an idle wait ended for a delayed job or a lease expiry
        self._outage = False
        self._published = registry.published()  # the registry is complete once the app's modules are imported

    # --- public ----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Work until ``stop()`` (or, in burst mode, until the queues are drained); returns the exit status."""
        self._heartbeat.start()
        pause, errors = RECONNECT_FIRST_S, 0
        try:
            while not self._stop.is_set():
                try:
                    if not self._step():
                        break
                    pause, errors = RECONNECT_FIRST_S, 0
                    continue
                except BackendUnavailable as exc:
                    self._outage = True
                    log.warning("backend unavailable (%s); retrying in %.1f s", exc, pause)
                except Exception:  # a bug, or a write the datastore refused: never the end of the process
                    errors += 1
                    log.exception("unexpected error in the worker loop (%d in a row); again in %.1f s", errors, pause)
                    if errors >= SALVAGE_AFTER_ERRORS:
                        self._salvage_pending()
                self._stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_S)
        finally:
            self._shutdown()
            self._stop.set()
            self._heartbeat.stop()  # everything is written or released: nothing left to keep alive
            with contextlib.suppress(BackendUnavailable):  # after the last beat, which would list it again
                self.backend.unregister_worker(self.settings.worker_id)  # else it expires with its heartbeat
        return 0

    def stop(self) -> None:
        """Stop taking jobs: finish the ones running, release the ones not started, and return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def abandon(self) -> None:
        """Write the outcomes not yet written and put back every job reserved or running here, attempt given
        back, from any thread.

        For a process about to exit with a job stuck in it (its supervisor is gone and the grace is over):
        the jobs go back at once instead of when their leases expire, and only the stuck job runs again.
        """
        self.stop()
        try:
            self._write_pending()
        except Exception as exc:  # their leases bring them back
            log.warning("outcomes not written before exiting (%s)", exc)
        self._release(self._ledger.unfinished())

    @property
    def jobs_done(self) -> int:
        return self._ledger.jobs_done

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            id=self.settings.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(self.settings.queues),
            started_at=self.started_at,
            jobs_done=self.jobs_done,
            current_jobs=self._ledger.running(),
            extra=dict(self.settings.extra),
            jobs=self._published,
        )

    # --- the loop --------------------------------------------------------------------------------------------

    def _step(self) -> bool:
        """One turn: maintenance when due, acknowledge and reserve, then run or wait. False ends the loop."""
        if self._outage:
            self._recover(self.clock())
        self._todo.extend(self._acknowledge_and_reserve())
        if not self._todo:
            if self.settings.burst and not self._ledger.busy():
                return False
            self._wait()
        if self._todo:
            self._run_todo()
        now = self.clock()
        if now >= min(self._next_maintenance, self._wake_at):  # after the jobs: a woken worker starts its job first
            self._maintain(now)
        return True

    def _recover(self, now: float) -> None:
        """Back after an outage: renew our leases first, and let every other worker renew theirs (one lease)
        before this one requeues expired leases, so live workers' jobs are not taken from them."""
        self.heartbeat(raise_errors=True)
        self._outage = False
        self._next_maintenance = now + self.settings.lease_s
        log.info("backend reachable again; renewed %d lease(s)", len(self._ledger))

    def _acknowledge_and_reserve(self) -> list[Lease]:
        """Write pending outcomes (retries and failures one by one, successes batched with the reserve)."""
        acks = self._write_rare(self._ledger.take_pending())
        count = 0 if self.stopping or self._todo else self._batch_size()
        try:
            done, leases = self.backend.complete_and_reserve(
                [(lease, outcome.result, outcome.result_ttl_s) for lease, outcome in acks],
                self.settings.queues,
                worker_id=self.settings.worker_id,
                now=self.clock(),
                lease_s=self.settings.lease_s,
                count=count,
            )
        except Exception:
            self._ledger.restore_pending(list(acks))  # kept: sent again once the backend takes them
            raise
        self._ledger.settle([lease for lease, _ in acks], done)
        if leases:
            self._ledger.reserved(leases)
        return leases

    def _write_rare(self, pending: list[tuple[Lease, Outcome]]) -> list[tuple[Lease, Completed]]:
        """Apply retry and fail outcomes (each one atomic transition); returns the successes to acknowledge."""
        acks: list[tuple[Lease, Completed]] = []
        members: list[tuple[Lease, Completed]] = []  # workflow members' successes: one round trip for all
        for index, (lease, outcome) in enumerate(pending):
            if isinstance(outcome, Completed):
                (acks if workflow_member(lease.payload) is None else members).append((lease, outcome))
                continue
            try:
                written = executor.apply_outcome(self.backend, lease, outcome, now=self.clock())
            except Exception:
                self._ledger.restore_pending([*acks, *members, *pending[index:]])
                raise
            self._ledger.settle([lease], [written])
        if members:
            try:
                written_members = executor.complete_members(self.backend, members, now=self.clock())
            except Exception:
                self._ledger.restore_pending([*acks, *members])
                raise
            self._ledger.settle([lease for lease, _ in members], written_members)
        return acks

    def _write_pending(self) -> None:
        """Write every outcome waiting, now (retries and failures, then the successes in one call)."""
        acks = self._write_rare(self._ledger.take_pending())
        if acks:
            items = [(lease, outcome.result, outcome.result_ttl_s) for lease, outcome in acks]
            try:
                written = self.backend.complete_many(items, now=self.clock())
            except Exception:
                self._ledger.restore_pending(list(acks))
                raise
            self._ledger.settle([lease for lease, _ in acks], written)

    def _salvage_pending(self) -> None:
        """Write waiting outcomes one by one after repeated errors, giving up any the datastore refuses with an
        error: that job is then held no more, and its lease brings it back (attempt counted, so it ends)."""
        for lease, outcome in self._ledger.take_pending():
            try:
                self._ledger.settle([lease], [executor.apply_outcome(self.backend, lease, outcome, now=self.clock())])
            except BackendUnavailable:
                self._ledger.restore_pending([(lease, outcome)])
            except Exception as exc:
                log.error("job %s: its outcome cannot be written (%s); its lease will bring it back", lease.job_id, exc)
                self._ledger.settle([lease], [True])

    def _run_todo(self) -> None:
        """Start every job reserved; async ones that find no free slot wait their turn (sync ones go ahead)."""
        waiting: deque[Lease] = deque()
        while self._todo and not self.stopping:
            lease = self._todo.popleft()
            if not self._start(lease):
                waiting.append(lease)
        self._todo.extendleft(reversed(waiting))
        if waiting and self._aio is not None and not self.stopping:
            self._aio.wait_change(ASYNC_POLL_S)

    def _start(self, lease: Lease) -> bool:
        """Run one job (sync: here and now; async: on the loop). ``False``: no async slot free yet.

        The job is in hand from before its payload is decoded: should decoding kill the process, the supervisor
        charges this job's attempt, so a record that kills every process it reaches still ends.
        """
        self._ledger.preparing(lease)
        prepared = _prepare(lease, self.settings.secret, now=self.clock(), grace_s=self.settings.unknown_job_grace_s)
        if isinstance(prepared, (Dead, Deferred)):
            self._finish(lease, prepared, 0.0)
            return True
        envelope, definition = prepared
        if definition.is_async and self._aio is not None:
            if not self._aio.try_acquire():
                self._ledger.set_aside(lease)
                return False
            if not self._begin(lease, envelope, sync=False):
                self._aio.release()
                return True
            began = time.perf_counter()
            self._aio.submit(
                lambda: executor.invoke_async(definition, envelope, lease),
                lambda attempt: self._conclude(lease, envelope, definition, attempt, began),
            )
            return True
        if not self._begin(lease, envelope, sync=True):
            return True
        began = time.perf_counter()
        self._conclude(lease, envelope, definition, executor.invoke(definition, envelope, lease), began)
        return True

    def _begin(self, lease: Lease, envelope: Envelope, *, sync: bool) -> bool:
        timeout = envelope.timeout_s
        return self._ledger.started(lease, None if timeout is None else time.monotonic() + timeout, sync=sync)

    def _conclude(
        self, lease: Lease, envelope: Envelope, definition: JobDefinition, attempt: executor.Attempt, began: float
    ) -> None:
        secret, now = self.settings.secret, self.clock()
        outcome = executor.conclude(
            attempt, lease=lease, envelope=envelope, definition=definition, secret=secret, now=now
        )
        elapsed = time.perf_counter() - began
        share = elapsed / self._aio.limit if definition.is_async and self._aio is not None else elapsed
        self._mean_job_s = 0.8 * self._mean_job_s + 0.2 * share
        self._finish(lease, outcome, elapsed)

    def _finish(self, lease: Lease, outcome: Outcome, elapsed: float) -> None:
        if aborts.abort_asked(lease.job_id):  # it ends cancelled, whatever the attempt returned
            aborts.forget(lease.job_id)
            outcome = Aborted()
        middleware.after_run(lease, outcome, elapsed)
        self._ledger.finished(lease, outcome)
        _log_outcome(lease, outcome, elapsed, self.clock())

    def _release(self, leases: Sequence[Lease]) -> None:
        """Give back jobs never started, attempt uncounted; a failure leaves them to their lease."""
        released: list[Lease] = []
        try:
            for lease in leases:
                self.backend.release(lease, now=self.clock())
                released.append(lease)
        except Exception as exc:  # the backend is away, or refused: nothing lost, only later
            left = len(leases) - len(released)
            log.warning("%d job(s) not released (%s): their leases will bring them back", left, exc)
        self._ledger.settle(released, [True] * len(released))

    def _wait(self) -> None:
        """Idle: block until a job may be ready, or an async job in flight ends (its ack is then sent)."""
        if self._aio is not None and self._aio.in_flight:
            self._aio.wait_change(ASYNC_POLL_S)
            return
        if self._ledger.has_pending() or self.stopping:
            return
        leases = self.backend.wait_and_reserve(
            self.settings.queues,
            worker_id=self.settings.worker_id,
            clock=self.clock,
            lease_s=self.settings.lease_s,
            count=self._batch_size(),
            timeout_s=self._idle_wait(),
        )
        if leases:
            self._ledger.reserved(leases, padded=self.backend.pads_wait_leases)
            self._todo.extend(leases)

    def _batch_size(self) -> int:
        return max(1, min(self.settings.prefetch, int(BATCH_TARGET_S / max(self._mean_job_s, 1e-6))))

    def _idle_wait(self) -> float:
        due = self.backend.next_wake(self.settings.queues)
        self._wake_at = float("inf") if due is None else due
        wait = IDLE_WAIT_S if due is None else min(IDLE_WAIT_S, due - self.clock())
        return max(wait, 0.0)

    def _maintain(self, now: float) -> None:
        requeued, failed = self.backend.requeue_expired(self.settings.queues, now=now)
        if requeued or failed:
            log.warning("expired leases: %d job(s) requeued, %d moved to the failed set", requeued, failed)
        self._next_maintenance = now + MAINTENANCE_EVERY_S
        self._wake_at = float("inf")

    def _shutdown(self) -> None:
        """Let async jobs end, write pending outcomes, release what was never started."""
        if self._aio is not None:
            self._aio.wait_idle()
            self._aio.close()
        try:
            self._write_pending()
        except Exception as exc:
            log.warning(
                "outcomes not written at shutdown (%s): leases will bring %d job(s) back to run again",
                exc,
                len(self._ledger),
            )
        unstarted, self._todo = list(self._todo), deque()
        self._release(unstarted)

    def heartbeat(self, *, raise_errors: bool = False) -> None:
        """Extend every held lease now and refresh this worker's entry in the worker list."""
        self._heartbeat.beat(raise_errors=raise_errors)


def _prepare(
    lease: Lease, secret: str | None, *, now: float, grace_s: float
) -> tuple[Envelope, JobDefinition] | Dead | Deferred:
    """``executor.prepare``, with any error it did not foresee turned into a failure of this job alone."""
    try:
        return executor.prepare(lease, secret, now=now, unknown_grace_s=grace_s)
    except Exception as exc:  # decoding is guarded; this is the net under it, so no record ends the process
        log.exception("job %s could not be prepared", lease.job_id)
        return Dead(ErrorInfo(type(exc).__name__, f"the job could not be prepared: {exc}"))


def _log_outcome(lease: Lease, outcome: Outcome, elapsed: float, now: float) -> None:
    if isinstance(outcome, Completed):
        if log.isEnabledFor(logging.INFO):
            log.info(
                "job %s %s succeeded in %.1f ms", lease.job_id, _name(lease), elapsed * 1000, extra=job_extra(lease)
            )
    elif isinstance(outcome, RetryAt):
        log.warning(
            "job %s %s failed on attempt %d/%d (%s: %s); retry in %.1f s",
            lease.job_id,
            _name(lease),
            lease.attempt,
            lease.max_attempts,
            outcome.error.type,
            cap_text(outcome.error.message, LOG_MESSAGE_CHARS),
            max(0.0, outcome.run_at - now),
            extra=job_extra(lease),
        )
    elif isinstance(outcome, Aborted):
        log.warning("job %s %s cancelled: %s", lease.job_id, _name(lease), outcome.reason, extra=job_extra(lease))
    elif isinstance(outcome, Deferred):
        log.warning(
            "job %s %s put back for %.1f s, attempt given back: %s",
            lease.job_id,
            _name(lease),
            max(0.0, outcome.run_at - now),
            outcome.reason,
            extra=job_extra(lease),
        )
    else:
        log.error(
            "job %s %s failed for good on attempt %d/%d: %s: %s",
            lease.job_id,
            _name(lease),
            lease.attempt,
            lease.max_attempts,
            outcome.error.type,
            cap_text(outcome.error.message, LOG_MESSAGE_CHARS),
            extra=job_extra(lease),
        )


#: The ``name`` field of a payload written with any JSON spacing (``{"name": "x"}`` from another language).
_NAME_FIELD = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.){0,200})"')


def _name(lease: Lease) -> str:
    """The job's name for a log line, read cheaply from the payload without decoding it twice."""
    payload = lease.payload
    marker = '"name":"'
    start = payload.find(marker)
    if start >= 0:  # as tasks writes it: found without a regular expression
        start += len(marker)
        return payload[start : payload.find('"', start)][:200]
    found = _NAME_FIELD.search(payload)
    return found.group(1) if found else "?"


def default_queues() -> list[str]:
    """Every queue the registry and the schedules name, ``default`` last (the order without ``--queues``)."""
    from ..scheduler import registered_schedules

    named = {d.queue for d in registry.definitions()} | {s.options.queue for s in registered_schedules()}
    queues = sorted(named - {"default"})
    return [*queues, "default"]
