"""The scheduler loop in this process, with a fake clock: exactly once, crash recovery, misfire, sleeping.

Two ``Scheduler`` objects over one datastore stand for two processes: they share nothing but the backend.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from tasks import scheduler
from tasks.backends.base import Backend
from tasks.producer import DispatchOptions
from tasks.scheduler import Schedule, Scheduler, make_schedule
from tests.scheduler.conftest import FakeClock
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

QUEUE = "cron"
NOON = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc).timestamp()
HOUR = 3600.0


def options(name: str = "tests.scheduler.noop", serializer: str = "json") -> DispatchOptions:
    return DispatchOptions(
        name=name, queue=QUEUE, max_attempts=1, timeout_s=None, result_ttl_s=60.0, serializer=serializer
    )


def every(expression: str, *, name: str = "s", misfire: str = "skip") -> Schedule:
    return make_schedule(expression, name, options(), misfire=misfire)


def enqueued(backend: Backend, now: float) -> list[str]:
    """Ids of the jobs waiting in the queue (taken out, so each call sees only the new ones)."""
    leases = backend.reserve([QUEUE], worker_id="test", now=now, lease_s=60, count=10_000)
    return sorted(lease.job_id for lease in leases)


def stamp(tick: float) -> str:
    return datetime.fromtimestamp(tick, timezone.utc).strftime("%H:%M:%S")


def ids(name: str, *ticks: float) -> list[str]:
    return sorted(scheduler.tick_job_id(name, tick) for tick in ticks)


class Crash(BaseException):
    """Stands for the death of the process (not an ``Exception``: nothing in the scheduler may catch it)."""


class CrashPlan:
    """When to "kill the process": at the first tick from ``at`` whose job this process stored."""

    def __init__(self) -> None:
        self.at = float("inf")
        self.crashed: list[float] = []

    def hook(self, schedule: str, tick: float, stored: bool) -> None:
        if stored and tick >= self.at and not self.crashed:
            self.crashed.append(tick)
            raise Crash


@pytest.fixture
def crash_plan(monkeypatch: pytest.MonkeyPatch) -> Iterator[CrashPlan]:
    """Arm the test hook that runs between a tick's enqueue and its claim."""
    plan = CrashPlan()
    monkeypatch.setattr(scheduler, "between_enqueue_and_claim", plan.hook)
    yield plan


# --- exactly once ------------------------------------------------------------------------------------------------


def test_two_schedulers_enqueue_each_tick_once(backend: Backend) -> None:
    # Given two schedulers over one datastore, both awake at every tick of an every-two-seconds schedule
    clock = FakeClock(NOON - 0.5)
    every_two = every("*/2 * * * * *")
    first, second = (Scheduler(backend, schedules=lambda: [every_two], clock=clock) for _ in range(2))
    first.run_pending()
    second.run_pending()

    # When 20 ticks pass, each scheduler running at each tick (in either order)
    for n in range(20):
        clock.set(NOON + 2 * n + 0.01)
        for s in (first, second) if n % 2 else (second, first):
            s.run_pending()

    # Then each tick was enqueued once, under its deterministic id, and claimed
    assert enqueued(backend, clock()) == ids("s", *(NOON + 2 * n for n in range(20)))
    assert first.fired + second.fired == 20
    assert first.fired > 0 and second.fired > 0
    assert backend.last_tick("s") == NOON + 38


def test_run_pending_returns_the_next_tick(backend: Backend) -> None:
    clock = FakeClock(NOON + 0.3)
    s = Scheduler(backend, schedules=lambda: [every("*/2 * * * * *"), every("0 * * * * *", name="m")], clock=clock)
    assert s.run_pending() == NOON + 2
    clock.set(NOON + 58.5)
    assert s.run_pending() == NOON + 60


@pytest.mark.parametrize("restart_after_s", [1.0, 30.0])
def test_a_crash_between_enqueue_and_claim_neither_loses_nor_doubles_the_tick(
    backend: Backend, crash_plan: CrashPlan, restart_after_s: float
) -> None:
    # Given a scheduler that fired 12:00:00 and dies at 12:00:02 between enqueue and claim
    crash_plan.at = NOON + 2
    clock = FakeClock(NOON - 0.5)
    every_two = every("*/2 * * * * *", misfire="all")
    dying = Scheduler(backend, schedules=lambda: [every_two], clock=clock)
    dying.run_pending()
    clock.set(NOON + 0.01)
    dying.run_pending()
    clock.set(NOON + 2.01)
    with pytest.raises(Crash):
        dying.run_pending()
    assert crash_plan.crashed == [NOON + 2]
    assert backend.last_tick("s") == NOON  # enqueued, never claimed

    # When a new scheduler (a restarted process) looks later, on time or after the grace period
    clock.set(NOON + 2 + restart_after_s)
    Scheduler(backend, schedules=lambda: [every_two], clock=clock).run_pending()

    # Then 12:00:02 was enqueued once (the second enqueue was refused), and the tick is claimed now
    ticks = [NOON + 2 * n for n in range(int((2 + restart_after_s) // 2) + 1)]
    assert enqueued(backend, clock()) == ids("s", *ticks)
    assert backend.last_tick("s") == ticks[-1]


def test_a_crash_between_enqueue_and_claim_while_another_scheduler_runs(
    backend: Backend, crash_plan: CrashPlan
) -> None:
    # Given two schedulers, one of which dies between enqueue and claim at the first tick whose job it stored
    crash_plan.at = NOON
    clock = FakeClock(NOON - 0.5)
    every_two = every("*/2 * * * * *")
    dying, survivor = (Scheduler(backend, schedules=lambda: [every_two], clock=clock) for _ in range(2))
    dying.run_pending()
    survivor.run_pending()
    clock.set(NOON + 0.01)
    with pytest.raises(Crash):
        dying.run_pending()

    # When the survivor runs at that tick and the next three
    survivor.run_pending()
    assert backend.last_tick("s") == NOON
    for n in range(1, 4):
        clock.set(NOON + 2 * n + 0.01)
        survivor.run_pending()

    # Then every tick is enqueued once: the dead one's (12:00:00) and the survivor's own three
    assert enqueued(backend, clock()) == ids("s", NOON, NOON + 2, NOON + 4, NOON + 6)
    assert survivor.fired == 3


# --- misfire after an outage ------------------------------------------------------------------------------------


def outage(backend: Backend, misfire: str, expression: str = "0 * * * * *") -> tuple[FakeClock, list[str]]:
    """A scheduler fires 12:00:00, then none runs for an hour; a fresh one starts at 13:00:30."""
    clock = FakeClock(NOON - 0.5)
    minutely = every(expression, misfire=misfire)
    before = Scheduler(backend, schedules=lambda: [minutely], clock=clock)
    before.run_pending()
    clock.set(NOON + 0.01)
    before.run_pending()
    assert enqueued(backend, clock()) == ids("s", NOON)

    clock.set(NOON + HOUR + 30)
    Scheduler(backend, schedules=lambda: [minutely], clock=clock).run_pending()
    return clock, enqueued(backend, clock())


def test_misfire_skip_resumes_at_the_next_tick(backend: Backend) -> None:
    clock, fired = outage(backend, "skip")
    assert fired == []
    minutely = every("0 * * * * *", misfire="skip")
    clock.set(NOON + HOUR + 60.01)
    Scheduler(backend, schedules=lambda: [minutely], clock=clock).run_pending()
    assert enqueued(backend, clock()) == ids("s", NOON + HOUR + 60)


def test_misfire_once_runs_one_catch_up_now(backend: Backend) -> None:
    _, fired = outage(backend, "once")
    assert fired == ids("s", NOON + HOUR)
    assert backend.last_tick("s") == NOON + HOUR


def test_misfire_all_runs_every_missed_tick(backend: Backend) -> None:
    _, fired = outage(backend, "all")
    assert fired == ids("s", *(NOON + 60 * n for n in range(1, 61)))
    assert backend.last_tick("s") == NOON + HOUR


def test_misfire_all_is_capped_at_one_hundred(backend: Backend) -> None:
    _, fired = outage(backend, "all", expression="*/10 * * * * *")
    # 362 ticks missed up to 13:00:20 (the grace period's edge), 13:00:30 on time: the latest 100 missed + 1
    assert len(fired) == 101
    assert fired[0] == scheduler.tick_job_id("s", NOON + HOUR + 20 - 990)
    assert fired[-1] == scheduler.tick_job_id("s", NOON + HOUR + 30)


# --- the loop ----------------------------------------------------------------------------------------------------


def test_the_loop_sleeps_until_the_next_tick(memory_backend: Backend) -> None:
    # Given a fake clock that the fake sleep moves forward, and a stop after five sleeps
    clock = FakeClock(NOON + 0.25)
    slept: list[float] = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.set(clock() + seconds)
        if len(slept) == 5:
            stop.set()

    every_two = every("*/2 * * * * *")
    s = Scheduler(memory_backend, schedules=lambda: [every_two], clock=clock, sleep=sleep, stop=stop)

    # When the loop runs
    s.run()

    # Then it slept exactly until each tick, once per tick, and enqueued each tick as it fell
    assert slept == [1.75, 2.0, 2.0, 2.0, 2.0]
    assert enqueued(memory_backend, clock()) == ids("s", NOON + 2, NOON + 4, NOON + 6, NOON + 8)


def test_a_schedule_whose_job_cannot_be_built_does_not_stop_the_others(memory_backend: Backend) -> None:
    # Given a dill job without a secret (refused when its payload is built) beside a healthy schedule
    broken = make_schedule("* * * * * *", "broken", options(serializer="dill"))
    healthy = every("* * * * * *", name="healthy")
    clock = FakeClock(NOON - 0.5)
    s = Scheduler(memory_backend, schedules=lambda: [broken, healthy], clock=clock)
    s.run_pending()
    clock.set(NOON + 0.01)
    s.run_pending()
    assert enqueued(memory_backend, clock()) == ids("healthy", NOON)
    assert memory_backend.last_tick("broken") is None


@pytest.mark.usefixtures("clean_registries")
def test_a_background_scheduler_sees_schedules_registered_at_runtime(memory_backend: Backend) -> None:
    # Given a scheduler running in a thread over the (empty) registry of this process
    background = scheduler.start_in_background(memory_backend)
    try:
        # When a schedule is registered at runtime
        scheduler.register_schedule(every("* * * * * *", name="runtime"))

        # Then its ticks are enqueued without waiting out the scheduler's sleep
        wait_until(lambda: memory_backend.last_tick("runtime"), timeout=5, message="a tick of 'runtime'")
    finally:
        background.stop()
    assert background._thread is not None and not background._thread.is_alive()
