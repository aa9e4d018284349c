"""What one worker holds, phase by phase, shared by its threads (main loop, async loop, heartbeat).

A lease enters at reserve and leaves once its outcome is written or it is released. In between it is
*reserved* (not started), *running*, or *finished* (its outcome waiting for the next round trip). The heartbeat
renews every lease held whatever its phase, so nothing a worker holds expires while the worker lives; the
supervisor hears of each change through ``WorkerEvents``, so nothing is lost when the worker dies.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from ..model import Lease, Outcome

log = logging.getLogger("tasks.worker")


class WorkerEvents(Protocol):
    """What a worker tells its supervisor, so that the death of its process loses nothing it held.

    The main thread has *in hand* the job it decodes, or the sync job it runs (until ``deadline``, a
    ``time.monotonic()`` instant, or ``None`` for no limit); async jobs run many at once on the event loop.
    ``padded`` says the leases run past a full lease from now (``Backend.pads_wait_leases``): the supervisor
    renews them from now at once, so that if this process dies they come back one lease after they began.
    ``computed`` and ``drained`` are called under the ledger's lock, so they must not block: together they keep
    the record of outcomes not yet written (``tasks.worker.journal``) exactly in step with the ledger.
    """

    def reserved(self, leases: Sequence[Lease], padded: bool) -> None: ...
    def in_hand(self, lease: Lease, deadline: float | None) -> None: ...
    def out_of_hand(self, job_id: str) -> None: ...
    def started_async(self, lease: Lease, deadline: float | None) -> None: ...
    def finished_async(self, job_id: str) -> None: ...
    def computed(self, lease: Lease, outcome: Outcome) -> None: ...
    def drained(self) -> None: ...
    def settled(self, job_ids: Sequence[str]) -> None: ...


class NoEvents:
    """The events of a worker that runs without a supervisor: nobody listens."""

    def reserved(self, leases: Sequence[Lease], padded: bool) -> None: ...
    def in_hand(self, lease: Lease, deadline: float | None) -> None: ...
    def out_of_hand(self, job_id: str) -> None: ...
    def started_async(self, lease: Lease, deadline: float | None) -> None: ...
    def finished_async(self, job_id: str) -> None: ...
    def computed(self, lease: Lease, outcome: Outcome) -> None: ...
    def drained(self) -> None: ...
    def settled(self, job_ids: Sequence[str]) -> None: ...


class Ledger:
    """Thread-safe record of the leases a worker holds and the outcomes it has yet to write."""

    def __init__(self, events: WorkerEvents) -> None:
        self.events = events
        self.jobs_done = 0
        self._lock = threading.Lock()
        self._held: dict[str, Lease] = {}
        self._running: dict[str, bool] = {}  # job id -> runs on the main thread (sync)
        self._finished: set[str] = set()  # outcome pending or being written
        self._pending: list[tuple[Lease, Outcome]] = []
        self._lost: set[str] = set()  # reserved, and the heartbeat found the lease gone before it started

    def __len__(self) -> int:
        return len(self._held)

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def unfinished(self) -> list[Lease]:
        """Held leases whose job has not finished: reserved or running."""
        with self._lock:
            return [lease for job_id, lease in self._held.items() if job_id not in self._finished]

    def running(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._running)

    def busy(self) -> bool:
        """A job runs, or an outcome waits to be written."""
        with self._lock:
            return bool(self._running or self._pending)

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    # --- phases ----------------------------------------------------------------------------------------------

    def reserved(self, leases: Sequence[Lease], *, padded: bool = False) -> None:
        with self._lock:
            self._held.update((lease.job_id, lease) for lease in leases)
        self.events.reserved(leases, padded)

    def preparing(self, lease: Lease) -> None:
        """The main thread is about to decode ``lease``'s payload: should that kill the process, the supervisor
        charges this job's attempt (a record that kills every process it reaches still ends)."""
        self.events.in_hand(lease, None)

    def set_aside(self, lease: Lease) -> None:
        """``lease`` was decoded but waits for a free async slot: back to merely reserved."""
        self.events.out_of_hand(lease.job_id)

    def started(self, lease: Lease, deadline: float | None, *, sync: bool) -> bool:
        """Mark ``lease`` running; ``False`` (and the lease dropped) if its lease was lost while it waited."""
        with self._lock:
            lost = lease.job_id in self._lost
            self._lost.discard(lease.job_id)
            if not lost:
                self._running[lease.job_id] = sync
        if lost:
            log.warning("job %s: lease lost before the job started; not running it here", lease.job_id)
            self.events.out_of_hand(lease.job_id)
            self.settle([lease], [True])
            return False
        if sync:
            self.events.in_hand(lease, deadline)
        else:
            self.events.started_async(lease, deadline)
            self.events.out_of_hand(lease.job_id)
        return True

    def finished(self, lease: Lease, outcome: Outcome) -> None:
        """The job ran, or was found unable to run (on any thread): its outcome waits for the next round trip."""
        with self._lock:
            sync = self._running.pop(lease.job_id, True)  # never started (it could not run): main thread
            self._finished.add(lease.job_id)
            self._pending.append((lease, outcome))
            self.jobs_done += 1
            self.events.computed(lease, outcome)
        if sync:
            self.events.out_of_hand(lease.job_id)
        else:
            self.events.finished_async(lease.job_id)

    def take_pending(self) -> list[tuple[Lease, Outcome]]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def restore_pending(self, items: Sequence[tuple[Lease, Outcome]]) -> None:
        """Put back outcomes a write could not deliver (the datastore is away), ahead of newer ones."""
        with self._lock:
            self._pending[:0] = items

    def settle(self, leases: Sequence[Lease], written: Sequence[bool]) -> None:
        """The outcome of each lease is written (or refused) or the job released: it is held no more."""
        with self._lock:
            for lease in leases:
                self._held.pop(lease.job_id, None)
                self._finished.discard(lease.job_id)
            if not self._finished:
                self.events.drained()
        for lease, ok in zip(leases, written):
            if not ok:
                log.warning(
                    "job %s: lease lost before its outcome was written (it expired and was taken back); "
                    "the late write was refused: the job runs, or ran, again elsewhere",
                    lease.job_id,
                )
        if leases:
            self.events.settled([lease.job_id for lease in leases])

    def refused(self, leases: Sequence[Lease]) -> None:
        """Leases the heartbeat could not renew: they expired and were taken back (a long pause, an outage).

        A running job goes on (it may now run twice: at-least-once); a job not started yet will not be
        started here; a finished one is left to its outcome's write, which reports the refusal itself.
        """
        with self._lock:
            for lease in leases:
                if lease.job_id in self._running:
                    log.warning(
                        "job %s: lease lost while running (expired and taken back); it may run twice", lease.job_id
                    )
                elif lease.job_id in self._held and lease.job_id not in self._finished:
                    self._lost.add(lease.job_id)
