"""The supervisor's datastore work, on a thread of its own: renewing leases, settling dead processes' jobs.

The supervisor's loop (deaths, deadlines, signals) never waits on the datastore: when Redis is away, a call
can block for seconds while the client retries, and a hard timeout or a restart must not wait for that.
Everything handed to the keeper is kept until it is written, in order, across any outage. A write the
datastore refuses for another reason (an error reply, a damaged record) is logged and dropped, so one bad
record never holds up the others: its job comes back when its lease expires, its attempt counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Union

from ..backends.base import Backend
from ..errors import BackendUnavailable
from ..model import Aborted, Completed, Dead, Deferred, ErrorInfo, Lease, RetryAt
from . import executor

log = logging.getLogger("tasks.pool")

#: What an attempt lost with its process becomes: another attempt later, or the failed set.
Failure = Union[RetryAt, Dead]
#: The fate of a dead process's job: the outcome it computed (written as it is), the error that ended its
#: attempt (the job's retry policy decides), or ``None``: put back, attempt given back.
Fate = Union[Completed, RetryAt, Dead, Deferred, Aborted, Exception, None]

#: Pause between two tries while the datastore is away.
RETRY_PAUSE_S = 0.5


class LeaseKeeper:
    """Renews the leases the supervisor is told about, and writes the fate of jobs whose process died."""

    def __init__(self, backend: Backend, *, lease_s: float, secret: str | None = None) -> None:
        self.backend = backend
        self.lease_s = lease_s
        self.secret = secret
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._live: list[Lease] = []
        self._fresh: list[Lease] = []  # to renew at once (``renew_now``)
        self._writes: deque[tuple[Lease, Fate]] = deque()
        self._gone: list[str] = []  # worker ids to take off the worker list
        self._next_extend = 0.0
        self._aborted: set[str] = set()  # ids of held jobs whose abort was asked (cancel with abort)
        self._thread = threading.Thread(target=self._run, name="tasks-lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def watch(self, leases: Sequence[Lease]) -> None:
        """The leases held by live worker processes now (renewed each third of a lease)."""
        with self._lock:
            self._live = list(leases)

    def renew_now(self, leases: Sequence[Lease]) -> None:
        """Renew ``leases`` to a full lease from now, at once: a reserve that ended a worker's idle wait leased
        its jobs for as long as the wait could last, and should its process die, they must come back one
        lease after they began, not up to a wait later. Done here, not by the worker, so that the worker
        starts its job without waking a thread."""
        with self._lock:
            self._fresh.extend(leases)
        self._wake.set()

    def settle(self, lease: Lease, fate: Fate) -> None:
        """Settle a dead process's job as ``fate`` says (see ``Fate``)."""
        with self._lock:
            self._writes.append((lease, fate))
        self._wake.set()

    def forget_worker(self, worker_id: str) -> None:
        with self._lock:
            self._gone.append(worker_id)
        self._wake.set()

    def close(self, timeout_s: float) -> None:
        """Write what is pending (for up to ``timeout_s`` while the datastore is away), then stop."""
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout_s)
        with self._lock:
            left = len(self._writes)
        if left:
            log.warning("backend unavailable: %d job(s) will come back when their leases expire", left)

    # --- the thread ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(0.1)
            self._wake.clear()
            # Read before the cycle: whatever was handed over before ``close`` is then written by this cycle.
            closing = self._closing.is_set()
            try:
                self._renew_fresh()
                self._extend_if_due()
                self._write_all()
                self._unregister_gone()
            except BackendUnavailable as exc:
                log.warning("supervisor: backend unavailable (%s); will try again", exc)
                time.sleep(RETRY_PAUSE_S)
                continue
            except Exception:  # anything else must not end the thread that keeps every lease alive
                log.exception("supervisor: unexpected error renewing leases or settling jobs; carrying on")
                time.sleep(RETRY_PAUSE_S)
                continue
            if closing:
                return

    def _extend_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_extend or self._closing.is_set():
            return
        self._next_extend = now + max(self.lease_s / 3, 0.05)
        with self._lock:
            live = self._live
        if live:
            self.backend.extend(live, now=time.time(), lease_s=self.lease_s)
            flags = self.backend.aborts_requested(live)
            with self._lock:
                self._aborted = {lease.job_id for lease, asked in zip(live, flags) if asked}

    def aborted(self) -> set[str]:
        """Ids of the held jobs whose abort was asked, as of the last renewal."""
        with self._lock:
            return self._aborted

    def _renew_fresh(self) -> None:
        with self._lock:
            fresh, self._fresh = self._fresh, []
        if fresh and not self._closing.is_set():  # lost to an outage, the next regular renewal covers them
            self.backend.extend(fresh, now=time.time(), lease_s=self.lease_s)

    def _write_all(self) -> None:
        while True:
            with self._lock:
                if not self._writes:
                    return
                lease, fate = self._writes[0]
            try:
                _write(self.backend, lease, fate, secret=self.secret)
            except BackendUnavailable:
                raise  # kept, and written once the datastore is back
            except Exception:
                log.exception("job %s: settling it failed; its lease will bring it back", lease.job_id)
            with self._lock:
                self._writes.popleft()

    def _unregister_gone(self) -> None:
        with self._lock:
            gone, self._gone = self._gone, []
        for index, worker_id in enumerate(gone):
            try:
                self.backend.unregister_worker(worker_id)
            except BackendUnavailable:
                with self._lock:
                    self._gone[:0] = gone[index:]
                raise


def _write(backend: Backend, lease: Lease, fate: Fate, *, secret: str | None) -> None:
    now = time.time()
    if fate is None:
        if not backend.release(lease, now=now):
            log.info("job %s: already settled by its worker (or its lease expired); nothing to put back", lease.job_id)
        return
    if not isinstance(fate, Exception):  # computed by the process before it died: its work is done
        if not executor.apply_outcome(backend, lease, fate, now=now):
            log.info("job %s: its outcome was already written (or its lease expired)", lease.job_id)
        return
    status = backend.status(lease.queue, lease.job_id)  # the payload: reports leave it out
    if status is None or not status.payload:
        log.info("job %s: gone from the datastore; nothing to settle", lease.job_id)
        return
    outcome = lost_attempt(replace(lease, payload=status.payload), fate, secret=secret, now=now)
    if not executor.apply_outcome(backend, lease, outcome, now=now):
        log.info("job %s: already settled by its worker (or its lease expired); attempt not charged", lease.job_id)
        return
    log.warning(
        "job %s: attempt %d lost with its process (%s: %s); %s",
        lease.job_id,
        lease.attempt,
        outcome.error.type,
        outcome.error.message,
        "failed for good" if isinstance(outcome, Dead) else "will be retried",
    )


def lost_attempt(lease: Lease, error: Exception, *, secret: str | None, now: float) -> Failure:
    """The outcome of an attempt whose process died: ``error`` goes through the job's own retry policy.

    Only the job's name and options are read: the arguments (dill data, say) are never loaded here.
    """
    prepared = executor.prepare(lease, secret, with_arguments=False)
    if isinstance(prepared, Dead):
        return prepared
    if isinstance(prepared, Deferred):  # only with a grace for unknown names, which is not asked for here
        return Dead(ErrorInfo("UnknownJob", prepared.reason))
    envelope, definition = prepared
    attempt = executor.Attempt(error=error)
    outcome = executor.conclude(attempt, lease=lease, envelope=envelope, definition=definition, secret=secret, now=now)
    return outcome if not isinstance(outcome, Completed) else Dead(ErrorInfo(type(error).__name__, str(error)))
