"""The process pool: one supervisor and N long-lived worker processes (no fork per job).

The supervisor runs no job. It keeps, from each child's reports (``tasks.worker.process``), the leases the child
holds and the job it runs with that job's deadline, and it:

- restarts a child that died and logs why (exit code or signal);
- on a child's death, writes the outcomes the child computed but had not written (``tasks.worker.journal``), fails
  the job it had in hand as one attempt (the retry policy then applies, so a job that kills its process every
  time reaches the failed set after ``max_attempts``) and releases the jobs it had reserved but not started,
  at once, without waiting for their leases: a death runs again only the jobs that were running;
- enforces hard timeouts: a job still running ``grace`` seconds past its timeout gets its process's whole
  group killed (SIGKILL: the worker and whatever the job started) and replaced, and the attempt fails with
  ``JobTimeout``;
- renews the leases of every live child too, so a job stuck in C code holding the GIL (which starves the
  child's own heartbeat thread) does not lose its lease while its process is alive;
- on SIGTERM/SIGINT, tells every child to stop, waits up to ``grace`` seconds, then kills what still runs
  and puts those jobs back without charging the attempt. A second SIGINT exits at once.

Its datastore writes go through a ``LeaseKeeper`` thread, so a Redis outage delays none of the above.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..backends.base import Backend
from ..errors import JobTimeout
from ..model import Aborted, Lease
from .aborts import AbortWatch
from .journal import OutcomeJournal
from .keeper import LeaseKeeper
from .process import (
    FINISHED,
    HELLO,
    RESERVED,
    SETTLED,
    STARTED,
    STOP,
    ChildSpec,
    RunningSlot,
    child_main,
    lease_from_fields,
    spec_for,
)

log = logging.getLogger("tasks.pool")

#: How often the supervisor looks at deadlines, deaths and signals, and reads its children's reports while
#: they report little (a death wakes it at once).
TICK_S = 0.1
#: Bytes of reports in one tick above which the supervisor reads each report as it comes (a drain of fast
#: jobs), and below which it reads them once a tick: then a report wakes nobody, which spares the reporting
#: worker about a tenth of a millisecond per job on a machine whose cores sleep (most of a job's latency).
BUSY_REPORT_BYTES = 16_384
#: Restart delays for a child that dies before it could start working (a broken import, say): doubling.
RESTART_FIRST_S, RESTART_MAX_S = 0.5, 10.0
#: How long a stopping supervisor keeps trying to settle jobs while the datastore is away.
FINAL_WRITE_S = 5.0


class WorkerCrashed(Exception):
    """The attempt's worker process died while running it (the error recorded on the job)."""


@dataclass(frozen=True)
class PoolSettings:
    """The supervisor's own settings; ``child`` is the template every worker process starts from."""

    child: ChildSpec
    concurrency: int
    grace_s: float = 30.0


@dataclass
class ChildHandle:
    """The supervisor's view of one worker process, kept up to date from its reports."""

    slot: int
    process: BaseProcess
    conn: Connection
    running_slot: RunningSlot
    journal: OutcomeJournal
    worker_id: str = ""
    held: dict[str, Lease] = field(default_factory=dict)
    serials: dict[int, str] = field(default_factory=dict)  # serial -> job id, for the running slot
    running_async: dict[str, float | None] = field(default_factory=dict)  # job id -> deadline (monotonic)
    killed_for: str = ""  # "" (died on its own), "timeout" or "shutdown"
    timed_out: set[str] = field(default_factory=set)
    aborted: set[str] = field(default_factory=set)  # the jobs it was stopped for (``aborts``)
    padded: list[Lease] = field(default_factory=list)  # reported leased past a full lease: to renew at once
    conn_open: bool = True

    def apply(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == RESERVED:
            _, numbered, padded = message
            for serial, fields in numbered:
                lease = lease_from_fields(fields)
                self.held[lease.job_id] = lease
                self.serials[serial] = lease.job_id
                if padded:
                    self.padded.append(lease)
        elif kind == STARTED:
            self.running_async[message[1]] = message[2]
        elif kind == FINISHED:
            self.running_async.pop(message[1], None)
        elif kind == SETTLED:
            self._settled(message[1])
        elif kind == HELLO:
            self.worker_id = message[1]

    def _settled(self, job_ids: Sequence[str]) -> None:
        gone = set(job_ids)
        for job_id in job_ids:
            self.held.pop(job_id, None)
        for serial in [s for s, job_id in self.serials.items() if job_id in gone]:
            del self.serials[serial]

    def running(self) -> dict[str, float | None]:
        """Jobs running in this process now, with their deadlines: the sync one (if any) and async ones."""
        running = dict(self.running_async)
        current = self.running_slot.read()
        job_id = self.serials.get(current[0]) if current else None
        if current and job_id is not None:
            running[job_id] = current[1]
        return running


class Supervisor:
    """Runs the pool until stopped (or, in burst mode, until every child has drained its queues)."""

    def __init__(
        self, backend: Backend, settings: PoolSettings, *, on_stop: Callable[[], object] | None = None
    ) -> None:
        """``on_stop`` is called first when a graceful stop begins: the pool's cron scheduler stops there, so no
        tick is enqueued while running jobs finish."""
        self.backend = backend
        self.settings = settings
        self._on_stop = on_stop
        self.lease_s = settings.child.lease_s
        self._context = multiprocessing.get_context("spawn")
        self._children: dict[int, ChildHandle] = {}
        self._restart_at: dict[int, float] = {}
        self._early_deaths: dict[int, int] = {}
        self.keeper = LeaseKeeper(backend, lease_s=self.lease_s, secret=settings.child.secret)
        self._stop_requested = False
        self._stopping = False
        self._grace_deadline = 0.0
        self._interrupts = 0
        self._busy = False  # children report a lot: wake for each report, not once a tick
        self._tick_bytes = 0
        self._tick_end = 0.0
        self._aborts = AbortWatch(settings.grace_s, _kill)

    # --- public ----------------------------------------------------------------------------------------------

    def run(self) -> int:
        """Start the children and supervise them; returns the exit status (0 after a graceful stop or a burst)."""
        self.keeper.start()
        for slot in range(self.settings.concurrency):
            self._spawn(slot)
        while self._children or self._restart_at:
            try:
                self._tick()
            except Exception:  # a bug here must not orphan the pool: log it, and supervise on
                log.exception("supervisor: unexpected error; carrying on")
                time.sleep(TICK_S)
        self.keeper.close(FINAL_WRITE_S)
        log.info("pool stopped")
        return 0

    def _tick(self) -> None:
        if self._stop_requested and not self._stopping:
            self._begin_stop()
        self._wait_and_read()
        self._reap()
        self._restart_due()
        self._enforce_deadlines()
        self._aborts.enforce(self._children.values(), self.keeper.aborted(), time.monotonic())
        self.keeper.watch([lease for c in self._children.values() for lease in c.held.values()])

    def stop(self) -> None:
        """Graceful stop: children stop taking jobs; what still runs after ``grace`` is killed and put back.

        Safe from a signal handler: it only sets a flag, which the supervisor's loop acts on within a tick.
        """
        self._stop_requested = True

    def _begin_stop(self) -> None:
        self._stopping = True
        if self._on_stop is not None:
            try:
                self._on_stop()
            except Exception:  # the stop goes on: the children must still be told
                log.exception("stopping: the stop hook failed")
        self._restart_at.clear()
        self._grace_deadline = time.monotonic() + self.settings.grace_s
        log.info("stopping: running jobs have %.0f s to finish, then go back to their queue", self.settings.grace_s)
        for child in self._children.values():
            self._send(child, (STOP,))

    def halt(self) -> None:
        """Stop at once: kill every child and exit; leases bring their jobs back."""
        log.warning("second interrupt: killing worker processes now; leases will bring their jobs back")
        for child in self._children.values():
            _kill(child.process)
        os._exit(130)

    def install_signals(self) -> None:
        """SIGTERM/SIGINT: ``stop``; a second SIGINT: ``halt``."""

        def on_signal(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT:
                self._interrupts += 1
                if self._interrupts > 1:
                    self.halt()
            log.info("%s received", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    # --- children --------------------------------------------------------------------------------------------

    def _spawn(self, slot: int) -> None:
        here, there = self._context.Pipe(duplex=True)
        running = RunningSlot(self._context)
        journal = OutcomeJournal(self._context)
        spec = spec_for(self.settings.child, slot)
        process = self._context.Process(
            target=child_main, args=(spec, there, running, journal), name=f"tasks-worker-{slot}"
        )
        process.start()
        there.close()
        self._children[slot] = ChildHandle(slot, process, here, running, journal)
        log.info("worker process %s started (slot %d)", process.pid, slot)

    def _wait_and_read(self) -> None:
        """Wait for a death (or, while busy, a report) for up to a tick, then read every report waiting.

        A report is read within a tick either way, and at once when its child dies (a dead child's pipe still
        holds what it wrote), so reading late loses nothing.
        """
        handles: list[Any] = [c.process.sentinel for c in self._children.values()]
        if self._busy:
            handles += [c.conn for c in self._children.values() if c.conn_open]
        if handles:
            wait(handles, TICK_S)
        else:
            time.sleep(TICK_S)
        self._tick_bytes += sum(self._read(child) for child in self._children.values())
        for child in self._children.values():
            if child.padded:
                self.keeper.renew_now(child.padded)
                child.padded = []
        now = time.monotonic()
        if now >= self._tick_end:
            self._busy = self._tick_bytes > BUSY_REPORT_BYTES
            self._tick_bytes, self._tick_end = 0, now + TICK_S

    def _read(self, child: ChildHandle) -> int:
        """Apply every report ``child`` has sent; returns their size in bytes."""
        size = 0
        try:
            while child.conn_open and child.conn.poll():
                data = child.conn.recv_bytes()
                child.apply(pickle.loads(data))
                size += len(data)
        except (EOFError, OSError):
            child.conn_open = False
        return size

    def _send(self, child: ChildHandle, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):  # it is dying: ``_reap`` will see it
            child.conn.send(message)

    def _reap(self) -> None:
        """Settle the jobs of every child that died, and schedule its replacement."""
        for slot, child in list(self._children.items()):
            if child.process.exitcode is None:
                continue
            self._read(child)
            child.conn.close()
            child.process.join()
            _kill_group(child.process)  # what its jobs started and left behind
            del self._children[slot]
            self._settle_dead(child)
            self._schedule_restart(child)

    def _settle_dead(self, child: ChildHandle) -> None:
        """Write the outcomes it computed; fail the running job as one attempt (or for its timeout); put every
        other held job back."""
        code = child.process.exitcode or 0
        cause = _describe_exit(code)
        running = child.running()
        computed = child.journal.read()
        if code != 0 or child.killed_for:
            log.log(
                logging.INFO if child.killed_for == "shutdown" else logging.ERROR,
                "worker process %s (slot %d) %s%s; it held %d job(s), %d running",
                child.process.pid,
                child.slot,
                cause,
                f" (killed for {child.killed_for})" if child.killed_for else "",
                len(child.held),
                len(running),
            )
        for job_id, lease in child.held.items():
            outcome = computed.get((job_id, lease.token))
            fate = outcome if outcome is not None else self._lost_error(child, job_id in running, lease, cause)
            self.keeper.settle(lease, fate)
        if child.worker_id:
            self.keeper.forget_worker(child.worker_id)

    def _lost_error(
        self, child: ChildHandle, was_running: bool, lease: Lease, cause: str
    ) -> Exception | Aborted | None:
        """Why a dead child's job lost its attempt, or ``None``: it is put back, attempt uncounted."""
        if not was_running or child.killed_for == "shutdown":
            return None
        if child.killed_for == "abort":
            return (
                Aborted("still running after the abort's grace: its process was stopped")
                if lease.job_id in child.aborted
                else None
            )
        if child.killed_for == "timeout":
            if lease.job_id not in child.timed_out:
                return None  # a bystander of another job's hard timeout
            return JobTimeout(f"still running {self.settings.grace_s:g} s after its timeout: its process was killed")
        return WorkerCrashed(f"worker process {child.process.pid} {cause} while running attempt {lease.attempt}")

    def _schedule_restart(self, child: ChildHandle) -> None:
        if self._stopping or (self.settings.child.burst and child.process.exitcode == 0):
            return
        if child.worker_id:
            self._early_deaths[child.slot] = 0
            delay = 0.0
        else:  # died before it could say hello: back off, or a broken child would spin
            deaths = self._early_deaths.get(child.slot, 0) + 1
            self._early_deaths[child.slot] = deaths
            delay = min(RESTART_FIRST_S * 2 ** (deaths - 1), RESTART_MAX_S)
            log.error("worker process died while starting; next start in %.1f s", delay)
        self._restart_at[child.slot] = time.monotonic() + delay

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot, when in list(self._restart_at.items()):
            if when <= now and not self._stopping:
                del self._restart_at[slot]
                self._spawn(slot)

    # --- deadlines and leases --------------------------------------------------------------------------------

    def _enforce_deadlines(self) -> None:
        """Kill a child whose job outlived its timeout by ``grace``; or every child once the stop grace is over."""
        now = time.monotonic()
        if self._stopping and now >= self._grace_deadline:
            for child in self._children.values():
                if not child.killed_for:
                    child.killed_for = "shutdown"
                    log.warning("grace over: killing worker process %s; its jobs go back", child.process.pid)
                    _kill(child.process)
            return
        for child in self._children.values():
            late = [j for j, d in child.running().items() if d is not None and now > d + self.settings.grace_s]
            if late and not child.killed_for:
                child.killed_for = "timeout"
                child.timed_out.update(late)
                log.error(
                    "job(s) %s still running %.1f s past their timeout: killing worker process %s",
                    ", ".join(late),
                    self.settings.grace_s,
                    child.process.pid,
                )
                _kill(child.process)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _kill(process: BaseProcess) -> None:
    """SIGKILL a worker process and its process group: the job's own child processes die with it."""
    if process.pid is not None and process.exitcode is None:
        _kill_group(process)
        with contextlib.suppress(ProcessLookupError):  # not yet the leader of its group: the process alone
            os.kill(process.pid, signal.SIGKILL)


def _kill_group(process: BaseProcess) -> None:
    """SIGKILL every process of the group ``process`` leads (nothing when it leads none)."""
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
