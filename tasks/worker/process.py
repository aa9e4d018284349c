"""One worker process of the pool: a ``Worker`` that reports what it holds to its supervisor over a pipe.

The supervisor learns which leases this process holds, which job it runs and until when, the outcomes
computed and not yet written, and when each outcome is written. Reports are written to the pipe as they
happen and read by the supervisor within its tick (a report does not wake it: see ``pool.TICK_S``); the job
in hand and the outcomes go to memory shared with the supervisor, which costs no system call. A dead
process's pipe still holds all it wrote, so when this process dies (a crash, ``os._exit``, the OOM killer, a
hard timeout) the supervisor writes the outcomes it computed, fails the job in hand as one attempt, and
releases the rest at once, instead of waiting for their leases to expire: only the job in hand runs again.
When the supervisor dies, the pipe reaches end-of-file and this process stops gracefully: it finishes the
jobs it runs, writes their outcomes, releases those not started, and exits.

Each worker process leads a process group of its own, so a job's own child processes belong to it: killing
the group (a hard timeout, a shutdown past its grace) stops the job's whole process tree.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any

from .. import config
from ..console import tolerant_output
from ..model import Lease, Outcome
from ..retry import UNKNOWN_JOB_GRACE_S
from ..signals import install_stop_signals
from .journal import OutcomeJournal
from .loop import Worker, WorkerSettings

log = logging.getLogger("tasks.worker")

#: Message kinds, child -> supervisor. Each message is a tuple ``(kind, *fields)``.
HELLO, RESERVED, STARTED, FINISHED, SETTLED = "hello", "reserved", "started", "finished", "settled"
#: Message kinds, supervisor -> child.
STOP = "stop"
#: Attempts at a consistent read of a ``RunningSlot`` (a write takes about a microsecond).
SLOT_READ_TRIES = 1000


@dataclass(frozen=True)
class ChildSpec:
    """Everything a freshly spawned worker process needs (it shares no memory with the supervisor)."""

    slot: int
    modules: tuple[str, ...]
    url: str = field(repr=False)
    prefix: str
    secret: str | None = field(repr=False)
    queues: tuple[str, ...]
    lease_s: float
    prefetch: int
    burst: bool
    async_concurrency: int
    log_level: int
    supervisor_pid: int
    #: When the supervisor dies, running jobs get this long to finish before they are put back.
    grace_s: float = 30.0
    #: How long a job whose name this process does not know is put back before it fails (``WorkerSettings``).
    unknown_job_grace_s: float = UNKNOWN_JOB_GRACE_S


class RunningSlot:
    """Which sync job a worker process runs now, and until when, in memory shared with its supervisor.

    It is written twice per job without a system call: a pipe message per job start and end would halve
    the pool's throughput on fast jobs. A sequence number around each write (odd while writing) lets the
    supervisor read it whole while the worker lives; once the worker is dead it holds its last word.
    Cells: sequence, the job's serial (0: no sync job running), deadline (``time.monotonic()``; -1: none).
    """

    def __init__(self, context: BaseContext) -> None:
        self._cells: Any = context.RawArray("d", 3)

    def write(self, serial: int, deadline: float | None) -> None:
        cells = self._cells
        cells[0] += 1
        cells[1] = serial
        cells[2] = -1.0 if deadline is None else deadline
        cells[0] += 1

    def read(self) -> tuple[int, float | None] | None:
        """``(serial, deadline)`` of the sync job running now (serial 0: none).

        ``None`` when no whole snapshot could be read: the writer is mid-write, or was killed mid-write (the
        sequence then stays odd for good). Callers treat that as "no sync job known", never as a deadline.
        """
        cells = self._cells
        for _ in range(SLOT_READ_TRIES):
            before = cells[0]
            serial, deadline = int(cells[1]), cells[2]
            if int(before) % 2 == 0 and before == cells[0]:
                return serial, None if deadline < 0 else deadline
        return None


def lease_fields(lease: Lease) -> tuple[Any, ...]:
    """``lease`` as a report carries it: plain values (cheap to pickle), and no payload, which the supervisor
    needs only when a job's process dies while running it (it then loads it from the datastore). Without
    payloads, a drain's reports stay small enough that the pipe never fills between two supervisor ticks."""
    return (
        lease.job_id,
        lease.queue,
        lease.token,
        lease.attempt,
        lease.max_attempts,
        lease.enqueued_at,
        lease.started_at,
        lease.signature,
    )


def lease_from_fields(fields: tuple[Any, ...]) -> Lease:
    """The supervisor's copy of a lease reported by ``lease_fields``: its ``payload`` is empty."""
    job_id, queue, token, attempt, max_attempts, enqueued_at, started_at, signature = fields
    return Lease(
        job_id=job_id,
        queue=queue,
        token=token,
        payload="",
        attempt=attempt,
        max_attempts=max_attempts,
        enqueued_at=enqueued_at,
        started_at=started_at,
        signature=signature,
    )


class PipeReporter:
    """``WorkerEvents`` for the supervisor: leases and async jobs over the pipe, the job in hand in the slot,
    outcomes not yet written in the journal.

    Any thread may report (sends are serialised by a lock). Each lease reserved gets a serial number, sent
    with it, that the slot names it by. If the pipe breaks, the supervisor is gone: ``on_lost`` is called.
    """

    def __init__(
        self, conn: Connection, slot: RunningSlot, journal: OutcomeJournal, on_lost: Callable[[], None]
    ) -> None:
        self.conn = conn
        self.slot = slot
        self.journal = journal
        self.on_lost = on_lost
        self._lock = threading.Lock()
        self._broken = False
        self._serials: dict[str, int] = {}
        self._next_serial = 0

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            if self._broken:
                return
            try:  # pickled here: multiprocessing's own pickler costs more on a worker woken from idle
                self.conn.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                self._broken = True
        if self._broken:
            self.on_lost()

    def reserved(self, leases: Sequence[Lease], padded: bool) -> None:
        numbered = []
        with self._lock:
            for lease in leases:
                self._next_serial += 1
                self._serials[lease.job_id] = self._next_serial
                numbered.append((self._next_serial, lease_fields(lease)))
        self.send((RESERVED, numbered, padded))

    def in_hand(self, lease: Lease, deadline: float | None) -> None:
        with self._lock:
            serial = self._serials.get(lease.job_id, 0)
        self.slot.write(serial, deadline)

    def out_of_hand(self, job_id: str) -> None:
        self.slot.write(0, None)

    def started_async(self, lease: Lease, deadline: float | None) -> None:
        self.send((STARTED, lease.job_id, deadline))

    def finished_async(self, job_id: str) -> None:
        self.send((FINISHED, job_id))

    def computed(self, lease: Lease, outcome: Outcome) -> None:
        self.journal.append(lease, outcome)

    def drained(self) -> None:
        self.journal.clear()

    def settled(self, job_ids: Sequence[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._serials.pop(job_id, None)
        self.send((SETTLED, list(job_ids)))


def child_main(spec: ChildSpec, conn: Connection, slot: RunningSlot, journal: OutcomeJournal) -> None:
    """The entry point of a spawned worker process (``multiprocessing`` spawn context)."""
    with contextlib.suppress(OSError):  # lead a process group of our own: see the module's docstring
        os.setpgid(0, 0)
    tolerant_output()
    logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    config.configure(url=spec.url, prefix=spec.prefix, secret=spec.secret)
    for name in spec.modules:
        importlib.import_module(name)
    settings = WorkerSettings(
        queues=list(spec.queues),
        lease_s=spec.lease_s,
        prefetch=spec.prefetch,
        burst=spec.burst,
        secret=spec.secret,
        async_concurrency=spec.async_concurrency,
        extra={"supervisor_pid": spec.supervisor_pid, "slot": spec.slot},
        unknown_job_grace_s=spec.unknown_job_grace_s,
    )
    holder: list[Worker] = []
    reporter = PipeReporter(conn, slot, journal, on_lost=lambda: _supervisor_gone(holder, spec.grace_s))
    worker = Worker(config.get_backend(), settings, events=reporter)
    holder.append(worker)
    install_stop_signals(worker.stop, announce=False)  # a terminal's Ctrl-C reaches the whole pool
    reporter.send((HELLO, settings.worker_id))
    watch = threading.Thread(
        target=_watch_supervisor, args=(conn, worker, spec.grace_s), name="tasks-supervisor-watch", daemon=True
    )
    watch.start()
    sys.exit(worker.run())


def _watch_supervisor(conn: Connection, worker: Worker, grace_s: float) -> None:
    """Obey ``stop``; at end-of-file (the supervisor died, even by SIGKILL) stop gracefully on our own."""
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            _supervisor_gone([worker], grace_s)
            return
        if message == (STOP,):
            worker.stop()


_orphaned = threading.Lock()


def _supervisor_gone(holder: Sequence[Worker], grace_s: float) -> None:
    """Stop as after SIGTERM; with nobody left to enforce the grace, enforce it here (once)."""
    if not holder or not _orphaned.acquire(blocking=False):
        return
    worker = holder[0]
    log.warning("supervisor gone: finishing running jobs (up to %g s), releasing the rest, exiting", grace_s)
    worker.stop()
    timer = threading.Timer(grace_s, _give_up, args=(worker,))
    timer.daemon = True  # a worker that finishes in time exits without waiting for it
    timer.start()


def _give_up(worker: Worker) -> None:
    log.warning("supervisor gone and the grace is over: putting running jobs back and exiting")
    try:
        worker.abandon()
    except Exception:  # exit all the same: leases bring back what was not put back
        log.exception("putting jobs back failed")
    logging.shutdown()
    if os.getpgid(0) == os.getpid():  # this process and whatever its jobs started: nothing outlives the grace
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def spec_for(base: ChildSpec, slot: int) -> ChildSpec:
    return replace(base, slot=slot)
