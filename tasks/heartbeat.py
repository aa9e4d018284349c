"""A worker process's heartbeat thread: it keeps every lease the worker holds alive, and the worker listed.

Every third of a lease it renews every held lease (started or not) and refreshes the worker's entry in the
worker list. Between beats it renews at once the leases it is handed (``renew_soon``): a reserve that ended
an idle wait leased its jobs for as long as the wait could have lasted, and a job whose worker then dies
should come back one lease after it began, not up to a wait later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

from .backends.base import Backend
from .errors import BackendUnavailable
from .ledger import Ledger
from .model import Lease, WorkerInfo

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
        self._nudge = threading.Event()  # work before the next beat: leases to renew, or the stop
        self._lock = threading.Lock()  # guards ``_soon``
        self._soon: list[Lease] = []
        self._thread = threading.Thread(target=self._loop, name="tasks-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._halted.set()
        self._nudge.set()
        self._thread.join(timeout_s)

    def renew_soon(self, leases: Sequence[Lease]) -> None:
        """Renew ``leases`` to a full lease from now, on the heartbeat thread (the caller goes on at once)."""
        with self._lock:
            self._soon.extend(leases)
        self._nudge.set()

    def beat(self, *, raise_errors: bool = False) -> None:
        """Extend every held lease (started or not) and refresh this worker's entry in the worker list."""
        try:
            self._renew(self.ledger.held())
            self.backend.register_worker(self.announce(), ttl_s=self.lease_s, now=self.clock())
        except BackendUnavailable as exc:
            if raise_errors:
                raise
            log.warning("heartbeat failed: %s", exc)

    def _loop(self) -> None:
        """Announce the worker at once, then beat each third of a lease until stopped."""
        interval = max(self.lease_s / 3, 0.05)
        self.beat()
        next_beat = time.monotonic() + interval
        while not self._halted.is_set():
            self._nudge.wait(max(next_beat - time.monotonic(), 0.0))
            self._nudge.clear()
            if self._halted.is_set():
                return
            with self._lock:
                soon, self._soon = self._soon, []
            if soon:
                with contextlib.suppress(BackendUnavailable):  # the next beat renews them anyway
                    self._renew(soon)
            if time.monotonic() >= next_beat:
                self.beat()
                next_beat = time.monotonic() + interval

    def _renew(self, leases: Sequence[Lease]) -> None:
        """Push ``leases`` to a full lease from now; those no longer ours go to the ledger as refused."""
        if leases:
            renewed = self.backend.extend(leases, now=self.clock(), lease_s=self.lease_s)
            self.ledger.refused([lease for lease, ok in zip(leases, renewed) if not ok])
