"""Cron schedules, and the loop that fires each (schedule, tick) exactly once across any number of processes.

Why exactly once. For a tick ``T`` of schedule ``S`` every scheduler that sees it does two steps, in this order:

1. enqueue the tick's job under the deterministic id ``cron:S:T`` (``Backend.enqueue`` stores an id that
   does not exist and refuses one that does, atomically: of all the schedulers, one stores the job);
2. claim the tick (``Backend.claim_tick``), which records ``T`` as the latest tick of ``S`` in the datastore.

The claim is progress, not permission: a scheduler fires only ticks later than the latest claimed one, so
ticks are not reconsidered once claimed, and misfire decisions after an outage start from the datastore's
record, never from a process's memory. A crash between the two steps leaves the job enqueued and the tick
unclaimed; whoever looks next (another scheduler, or this one restarted) enqueues the same id again, which is
refused, and claims the tick. Nothing is lost (the enqueue came first) and nothing is doubled (the id is the
same). The other order, claim then enqueue, would lose the tick when the claimer dies between the steps,
since the datastore records only the latest claim and a later tick's claim can hide an unfinished one.

The id guards the tick for as long as the job's record lives, so scheduled jobs keep their record at least
``MIN_RECORD_TTL_S`` whatever their ``result_ttl``; a second enqueue of a tick can only come from a scheduler
that read the latest claim before the first one finished its two steps (milliseconds), or from one that
restarts after a crash between the steps.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from typing import Any

from . import cron
from .backends.base import Backend
from .errors import BackendUnavailable, ConfigurationError
from .model import NewJob
from .producer import DispatchOptions, build
from .registry import check_queue_name
from .serialization import JsonSerializer

log = logging.getLogger("tasks.scheduler")

#: Longest sleep between two looks at the schedules, so that a jump of the wall clock is noticed.
MAX_SLEEP_S = 60.0
#: A scheduled job's record (and so its deterministic id) is kept at least this long: it guards the tick.
MIN_RECORD_TTL_S = 3600.0
#: Pauses while the datastore is away: first and largest.
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.1, 5.0

#: Schedule names appear in job ids and in the datastore's tick record: keep them plain.
SCHEDULE_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")

#: Test hook, called between the two steps of a tick (after the enqueue, before the claim) with the schedule's
#: name, the tick and whether this process stored the job. The crash tests set it to kill the process there.
between_enqueue_and_claim: Callable[[str, float, bool], None] | None = None


@dataclass(frozen=True)
class Schedule:
    """A job to enqueue at every tick of ``cron`` in ``tz``, with fixed arguments."""

    name: str
    cron: cron.Cron
    tz_name: str
    misfire: str
    options: DispatchOptions
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> tzinfo:
        return cron.zone(self.tz_name)

    def next_fire(self, after: float) -> float:
        """The first tick strictly after ``after`` (epoch seconds)."""
        return cron.next_fire(self.cron, self.tz, after)

    def job_id(self, tick: float) -> str:
        return tick_job_id(self.name, tick)

    def build_job(self, tick: float, *, now: float) -> NewJob:
        """The job of ``tick``, under its deterministic id, ready at once."""
        options = replace(self.options, job_id=self.job_id(tick), run_at=None)
        return build(options, self.args, dict(self.kwargs), now=now)


def tick_job_id(schedule: str, tick: float) -> str:
    """``cron:<schedule>:<tick in UTC, e.g. 20261129T132000Z>``: the same for every scheduler, readable in logs."""
    stamp = datetime.fromtimestamp(int(tick), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"cron:{schedule}:{stamp}"


def make_schedule(
    expression: str | cron.Cron,
    name: str,
    options: DispatchOptions,
    func: Callable[..., Any] | None = None,
    *,
    tz: str = "UTC",
    misfire: str = "skip",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> Schedule:
    """A validated ``Schedule``; every error says what to fix. ``func``, when known, must accept the arguments."""
    if not isinstance(name, str) or not SCHEDULE_NAME_RE.fullmatch(name):
        raise ValueError(f"schedule name {name!r} is not valid: use 1-200 letters, digits, '_', '.', ':' or '-'")
    parsed = expression if isinstance(expression, cron.Cron) else cron.parse(expression)
    cron.zone(tz)
    cron.check_misfire(misfire)
    check_queue_name(options.queue)
    args, kwargs = tuple(args), dict(kwargs or {})
    if func is not None:
        try:
            inspect.signature(func).bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(
                f"schedule {name!r}: {options.name} cannot be called with args={args!r}, "
                f"kwargs={kwargs!r} ({exc}); pass them with schedule(..., args=..., kwargs=...)"
            ) from exc
        except ValueError:  # no signature to inspect (a builtin): the worker will tell
            pass
    if options.serializer == "json":
        JsonSerializer().dumps([list(args), kwargs])  # SerializationError now, not at the first tick
    ttl = max(options.result_ttl_s, MIN_RECORD_TTL_S)
    return Schedule(name, parsed, tz, misfire, replace(options, result_ttl_s=ttl), args, kwargs)


# --- the schedules of this process ------------------------------------------------------------------------------

_schedules: dict[str, Schedule] = {}
_lock = threading.Lock()
_running: weakref.WeakSet[Scheduler] = weakref.WeakSet()


def register_schedule(schedule: Schedule) -> None:
    """Add ``schedule``; registering the same one again is a no-op, a different one under its name an error."""
    with _lock:
        existing = _schedules.get(schedule.name)
        if existing is not None and existing != schedule:
            raise ConfigurationError(
                f"a schedule named {schedule.name!r} already exists ({existing.cron} -> {existing.options.name}): "
                f"choose another name, or unregister_schedule({schedule.name!r}) first"
            )
        _schedules[schedule.name] = schedule
        running = list(_running)
    for scheduler in running:
        scheduler.wake()


def unregister_schedule(name: str) -> None:
    with _lock:
        _schedules.pop(name, None)


def registered_schedules() -> list[Schedule]:
    with _lock:
        return [_schedules[name] for name in sorted(_schedules)]


# --- the loop ---------------------------------------------------------------------------------------------------


class Scheduler:
    """Fires the ticks of ``schedules`` (default: those registered in this process) until stopped.

    ``clock`` gives epoch seconds, ``sleep(seconds)`` waits (default: until ``stop()``, ``wake()`` or the
    time), and ``stop`` ends the loop when set: tests pass a fake clock and sleep, or call ``run_pending``
    themselves. Any number of schedulers may run against one datastore.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        schedules: Callable[[], Sequence[Schedule]] = registered_schedules,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
        grace_s: float = cron.MISFIRE_GRACE_S,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.grace_s = grace_s
        self.stop_event = stop or threading.Event()
        self.fired = 0  #: jobs this scheduler stored (ticks another scheduler stored first are not counted)
        self._schedules = schedules
        self._wake = threading.Event()
        self._sleep = sleep or self._wake.wait
        self._since: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._watched: tuple[str, ...] | None = None
        with _lock:
            _running.add(self)

    def run(self) -> None:
        """Fire due ticks, then sleep until the next one (or a change of schedules), until ``stop()``."""
        pause = RECONNECT_FIRST_S
        while not self.stop_event.is_set():
            try:
                wake_at = self.run_pending()
                pause = RECONNECT_FIRST_S
            except BackendUnavailable as exc:
                log.warning("scheduler: backend unavailable (%s); retrying in %.1f s", exc, pause)
                wake_at = self.clock() + pause
                pause = min(pause * 2, RECONNECT_MAX_S)
            self._sleep_until(wake_at)
        log.info("scheduler: stopped; no more ticks are fired here")

    def stop(self, timeout_s: float = 5.0) -> None:
        """End ``run`` (and join its background thread, if ``start_in_background`` made one)."""
        self.stop_event.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def wake(self) -> None:
        """Look at the schedules again now (they changed)."""
        self._wake.set()

    def run_pending(self) -> float:
        """One pass: fire every tick due at ``clock()``; returns when the next tick falls (epoch seconds)."""
        now = self.clock()
        upcoming = now + MAX_SLEEP_S
        schedules = self._schedules()
        self._note_watched(schedules)
        for schedule in schedules:
            if now >= self._next.get(schedule.name, now):
                self._fire_logging_errors(schedule, now)
            self._next[schedule.name] = schedule.next_fire(now)
            upcoming = min(upcoming, self._next[schedule.name])
        return upcoming

    def _note_watched(self, schedules: Sequence[Schedule]) -> None:
        names = tuple(schedule.name for schedule in schedules)
        changed, self._watched = names != self._watched and (names or self._watched), names
        if changed:
            log.info("scheduler: watching %d schedule(s): %s", len(names), ", ".join(names) or "none")

    def _fire_logging_errors(self, schedule: Schedule, now: float) -> None:
        """A schedule whose job cannot be built must not stop the others; an unreachable datastore stops the pass."""
        try:
            self._fire_due(schedule, now)
        except BackendUnavailable:
            raise
        except Exception:
            log.exception("schedule %s: due ticks not fired; trying again at the next tick", schedule.name)

    def _fire_due(self, schedule: Schedule, now: float) -> None:
        """Enqueue the due ticks of ``schedule`` by their deterministic ids, then claim the latest (see above)."""
        last = self.backend.last_tick(schedule.name)
        since = self._since.setdefault(schedule.name, now)
        ticks = cron.due_ticks(
            schedule.cron, schedule.tz, last=last, now=now, misfire=schedule.misfire, since=since, grace_s=self.grace_s
        )
        if not ticks:
            return
        stored = self.backend.enqueue_many([schedule.build_job(tick, now=now) for tick in ticks], now=now)
        if between_enqueue_and_claim is not None:
            between_enqueue_and_claim(schedule.name, ticks[-1], any(stored))
        self.backend.claim_tick(schedule.name, ticks[-1])
        self._log_fired(schedule, ticks, stored, last, now)

    def _log_fired(
        self, schedule: Schedule, ticks: Sequence[float], stored: Sequence[bool], last: float | None, now: float
    ) -> None:
        mine = [tick for tick, ok in zip(ticks, stored) if ok]
        self.fired += len(mine)
        late = [tick for tick in ticks if now - tick >= self.grace_s]
        if late:
            log.warning(
                "schedule %s: %d missed tick(s) since %s fired now (misfire=%s)",
                schedule.name,
                len(late),
                _utc(last) if last is not None else "-",
                schedule.misfire,
            )
        for tick in mine:
            log.info("schedule %s: tick %s enqueued as %s", schedule.name, _utc(tick), schedule.job_id(tick))

    def _sleep_until(self, wake_at: float) -> None:
        self._sleep(max(0.0, min(wake_at - self.clock(), MAX_SLEEP_S)))
        self._wake.clear()


def start_in_background(backend: Backend, *, name: str = "tasks-scheduler") -> Scheduler:
    """Run a ``Scheduler`` over the registered schedules in a daemon thread; ``stop()`` ends and joins it."""
    scheduler = Scheduler(backend)
    scheduler._thread = threading.Thread(target=scheduler.run, name=name, daemon=True)
    scheduler._thread.start()
    return scheduler


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
