"""A worker process's heartbeat thread: it keeps every lease the worker holds alive, and the worker listed.

Every third of a lease it renews every held lease (started or not) and refreshes the worker's entry in the
worker list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from ..backends.base import Backend
from ..errors import BackendUnavailable
from ..model import Lease, WorkerInfo
from ..observe.progress import mark_aborted
from .ledger import Ledger

log = logging.getLogger("tasks.worker")


class Heartbeat:
    """The thread, started by ``start`` and ended by ``stop`` once everything held is written or released."""

    def __init__(
        self,
        backend: Backend,
        ledger: Ledger,
        *,
        lease_s: float,
        clock: Callable[[], float],
        announce: Callable[[], WorkerInfo],
    ) -> None:
        self.backend = backend
        self.ledger = ledger
        self.lease_s = lease_s
        self.clock = clock
        self.announce = announce
        self._halted = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tasks-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._halted.set()
        self._thread.join(timeout_s)

    def beat(self, *, raise_errors: bool = False) -> None:
        """Extend every held lease (started or not) and refresh this worker's entry in the worker list."""
        try:
            held = self.ledger.held()
            self._renew(held)
            self._look_for_aborts(held)
            self.backend.register_worker(self.announce(), ttl_s=self.lease_s, now=self.clock())
        except BackendUnavailable as exc:
            if raise_errors:
                raise
            log.warning("heartbeat failed: %s", exc)

    def _loop(self) -> None:
        """Announce the worker at once, then beat each third of a lease until stopped."""
        interval = max(self.lease_s / 3, 0.05)
        self.beat()
        while not self._halted.wait(interval):
            self.beat()

    def _look_for_aborts(self, leases: Sequence[Lease]) -> None:
        """Mark the held jobs whose abort was asked, for ``current_job().cancelled()`` to see."""
        if leases:
            flags = self.backend.aborts_requested(leases)
            mark_aborted({lease.job_id for lease, asked in zip(leases, flags) if asked})

    def _renew(self, leases: Sequence[Lease]) -> None:
        """Push ``leases`` to a full lease from now; those no longer ours go to the ledger as refused."""
        if leases:
            renewed = self.backend.extend(leases, now=self.clock(), lease_s=self.lease_s)
            self.ledger.refused([lease for lease, ok in zip(leases, renewed) if not ok])
