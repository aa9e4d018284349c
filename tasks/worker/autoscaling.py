"""An autoscaling pool: the supervisor of ``pool.py`` whose number of worker processes follows the queues.

``python -m tasks worker ... --autoscale MIN,MAX [--target-wait S]``. A probe thread looks at the queues every
``check_s`` (the datastore is read there, so an outage never stalls the supervisor's loop) and announces the
pool, with its recent decisions, in the worker list (``python -m tasks workers`` shows them). The supervisor's
loop asks the policy (``autoscale.py``) after each tick and applies its decision:

- growing starts new worker processes in free slots;
- shrinking tells the processes of the highest slots to stop, as a graceful stop does: each finishes the jobs
  it runs, writes their outcomes, releases the jobs it reserved but had not started (attempt not counted) and
  exits; its slot is not restarted. A process leaving never loses a job nor runs one twice.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

from ..backends.base import Backend
from ..errors import BackendUnavailable, ConfigurationError
from ..model import WorkerInfo
from .autoscale import POOL_ROLE, Autoscaler, AutoscaleSettings, Decision
from .pool import ChildHandle, PoolSettings, Supervisor
from .process import STOP

log = logging.getLogger("tasks.pool")

#: Decisions kept for the worker list.
SHOWN_DECISIONS = 5


class QueueProbe:
    """A thread that reads how long the oldest ready job has waited, and announces the pool."""

    def __init__(self, backend: Backend, queues: Sequence[str], *, every_s: float, announce: Callable[[], WorkerInfo]):
        self.backend, self.queues, self.every_s, self.announce = backend, tuple(queues), every_s, announce
        self._latest: tuple[float, float | None] | None = None  # (read at, oldest wait) of the last good read
        self._lock = threading.Lock()
        self._halted = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tasks-autoscale-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._halted.set()
        self._thread.join(timeout=max(5.0, 2 * self.every_s))

    def latest(self) -> tuple[float, float | None] | None:
        """The last reading, once per reading (``None`` until a new one is there)."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    def look(self) -> None:
        """One reading: due scheduled jobs are in line too (only a reserve promotes them)."""
        now = time.time()
        oldest = self.backend.oldest_ready_at(self.queues)
        due = self.backend.next_due(self.queues)
        waiting_since = min((t for t in (oldest, due) if t is not None and t <= now), default=None)
        with self._lock:
            self._latest = (time.monotonic(), None if waiting_since is None else now - waiting_since)
        self.backend.register_worker(self.announce(), ttl_s=max(3 * self.every_s, 5.0), now=now)

    def _loop(self) -> None:
        while not self._halted.is_set():
            try:
                self.look()
            except BackendUnavailable as exc:
                log.warning("autoscale: cannot read the queues (%s); the pool keeps its size", exc)
            except Exception:  # the probe must outlive a bug: the pool then simply keeps its size
                log.exception("autoscale: reading the queues failed; the pool keeps its size")
            self._halted.wait(self.every_s)


class AutoscalingSupervisor(Supervisor):
    """``Supervisor`` whose pool size follows ``Autoscaler``'s decisions, between its bounds."""

    def __init__(
        self,
        backend: Backend,
        settings: PoolSettings,
        autoscale: AutoscaleSettings,
        *,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(backend, replace(settings, concurrency=autoscale.minimum), on_stop=on_stop)
        self.autoscale = autoscale
        self.scaler = Autoscaler(autoscale, now=time.monotonic())
        self.decisions: deque[Decision] = deque(maxlen=SHOWN_DECISIONS)
        self._retiring: set[int] = set()
        self._started_at = time.time()
        self.entry_id = f"pool:{socket.gethostname()}:{os.getpid()}"
        self.probe = QueueProbe(backend, settings.child.queues, every_s=autoscale.check_s, announce=self.announce)

    def run(self) -> int:
        log.info(
            "autoscale: %d to %d worker processes, growing when a job waits over %g s, shrinking after %g s quiet",
            self.autoscale.minimum,
            self.autoscale.maximum,
            self.autoscale.target_wait_s,
            self.autoscale.quiet_s,
        )
        self.probe.start()
        try:
            return super().run()
        finally:
            self.probe.stop()
            with contextlib.suppress(BackendUnavailable):  # else it expires with its last announcement
                self.backend.unregister_worker(self.entry_id)

    def _tick(self) -> None:
        super()._tick()
        reading = self.probe.latest()
        if reading is None or self._stopping:
            return
        decision = self.scaler.observe(now=reading[0], oldest_wait_s=reading[1])
        if decision is not None:
            self._apply(decision)

    def _apply(self, decision: Decision) -> None:
        self.decisions.append(decision)
        log.info("autoscale: %d -> %d worker processes: %s", decision.previous, decision.size, decision.reason)
        active = sorted(slot for slot in [*self._children, *self._restart_at] if slot not in self._retiring)
        if decision.size > len(active):
            taken = set(active) | self._retiring
            free = (slot for slot in range(len(taken) + decision.size) if slot not in taken)
            for _ in range(decision.size - len(active)):
                self._spawn(next(free))
        for slot in active[decision.size :]:  # the newest slots leave first
            self._retire(slot)

    def _retire(self, slot: int) -> None:
        """Stop the process of ``slot`` gracefully, for good (a pending restart is simply dropped)."""
        if self._restart_at.pop(slot, None) is not None:
            return
        self._retiring.add(slot)
        child = self._children[slot]
        log.info("autoscale: worker process %s (slot %d) leaves once its jobs are done", child.process.pid, slot)
        self._send(child, (STOP,))

    def _schedule_restart(self, child: ChildHandle) -> None:
        if child.slot in self._retiring:  # it left as asked: its slot stays empty
            self._retiring.discard(child.slot)
            return
        super()._schedule_restart(child)

    def announce(self) -> WorkerInfo:
        """The pool's own entry in the worker list: its bounds, size and latest decisions."""
        state = {
            "role": POOL_ROLE,
            "minimum": self.autoscale.minimum,
            "maximum": self.autoscale.maximum,
            "target_wait_s": self.autoscale.target_wait_s,
            "size": self.scaler.size,
            "decisions": [asdict(d) | {"at": time.time() - (time.monotonic() - d.at)} for d in self.decisions],
        }
        return WorkerInfo(
            id=self.entry_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(self.settings.child.queues),
            started_at=self._started_at,
            extra=state,
        )


def add_autoscale_options(worker: argparse.ArgumentParser) -> None:
    """``--autoscale MIN,MAX`` and its timings, on the ``worker`` command."""
    worker.add_argument(
        "--autoscale",
        metavar="MIN,MAX",
        help="grow and shrink the pool between MIN and MAX worker processes (replaces --concurrency)",
    )
    for flag, default, text in (
        ("--target-wait", 1.0, "seconds the oldest ready job may wait before the pool grows (1)"),
        ("--scale-quiet", 30.0, "seconds with no job waiting before the pool shrinks by one (30)"),
        ("--scale-cooldown", 10.0, "seconds between two changes of the pool's size (10)"),
        ("--scale-check", 1.0, "seconds between two looks at the queues (1)"),
    ):
        worker.add_argument(flag, type=float, default=default, metavar="S", help=text)


def check_autoscale(args: argparse.Namespace, *, url: str) -> AutoscaleSettings | None:
    """The autoscale settings ``args`` ask for, checked before anything starts (``None``: a fixed pool).

    Raises ``ConfigurationError`` for bounds or timings that cannot work, and for ``memory://``, whose single
    in-process worker has no pool to scale.
    """
    if not getattr(args, "autoscale", None):
        return None
    if url.startswith("memory://"):
        raise ConfigurationError(
            "--autoscale needs a pool of worker processes; memory:// runs one worker in this process"
        )
    return AutoscaleSettings.parse(
        args.autoscale,
        target_wait_s=args.target_wait,
        quiet_s=args.scale_quiet,
        cooldown_s=args.scale_cooldown,
        check_s=args.scale_check,
    )


def make_supervisor(
    backend: Backend, settings: PoolSettings, args: argparse.Namespace, *, on_stop: Callable[[], object] | None
) -> Supervisor:
    """The pool ``args`` ask for: fixed (``--concurrency``) or autoscaling (``--autoscale``)."""
    autoscale = check_autoscale(args, url=settings.child.url)
    if autoscale is None:
        return Supervisor(backend, settings, on_stop=on_stop)
    return AutoscalingSupervisor(backend, settings, autoscale, on_stop=on_stop)
