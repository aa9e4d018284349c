"""Real processes against real Redis: three workers fire each tick once; a crash between the steps of a tick
neither loses nor doubles it. On a SQLite file: three schedulers fire an every-second schedule once per tick.
Every wait has a deadline (``wait_until``); nothing sleeps and hopes.

Ticks are read back from the jobs' own records (``scheduled_jobs.record_tick``): one line per run.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tasks.backends.redis import RedisBackend
from tests.scheduler.names import CRASH_STATUS, EVERY_SECOND, EVERY_TWO_SECONDS
from tests.support.processes import kill_session, run_tasks, start_tasks
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Imported by the processes only: importing them here would register their schedules in this test process.
MODULE = "tests.scheduler.scheduled_jobs"
SECOND_MODULE = "tests.scheduler.every_second"
WATCHING = "scheduler: watching"


@dataclass(frozen=True)
class Run:
    """One run of ``record_tick``: its job id, the tick in it, when it started, where."""

    job_id: str
    tick: float
    started: float
    pid: int


def runs(path: Path) -> list[Run]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        job_id, started, pid, _attempt = line.split()
        stamp = job_id.rsplit(":", 1)[1]
        tick = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        out.append(Run(job_id, tick, float(started), int(pid)))
    return out


class Processes:
    """``python -m tasks ...`` processes of one test, all stopped at its end whatever happens."""

    def __init__(self, url: str, prefix: str, directory: Path) -> None:
        self.url, self.prefix, self.directory = url, prefix, directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str, **env: str) -> subprocess.Popen[bytes]:
        process = start_tasks(list(args), url=self.url, prefix=self.prefix, log=self.directory / log, **env)
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.directory / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_session(process.pid)
                process.wait(timeout=5)


@pytest.fixture
def processes(redis_url: str, prefix: str, tmp_path: Path) -> Iterator[Processes]:
    assert MODULE not in sys.modules  # its schedules would reach the schedulers of other tests in this process
    group = Processes(redis_url, prefix, tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def sqlite_processes(sqlite_url: str, prefix: str, tmp_path: Path) -> Iterator[Processes]:
    """Processes on a SQLite file of the test's own."""
    assert SECOND_MODULE not in sys.modules
    group = Processes(sqlite_url, prefix, tmp_path)
    yield group
    group.stop_all()


def assert_every_tick_once(all_runs: list[Run], first: float, last: float) -> None:
    """Every even second in ``[first, last]`` ran exactly once, and no job id ran twice anywhere."""
    duplicates = [job_id for job_id, n in Counter(r.job_id for r in all_runs).items() if n > 1]
    assert duplicates == []
    ticks = sorted(r.tick for r in all_runs if first <= r.tick <= last)
    assert ticks == [first + 2 * n for n in range(int((last - first) // 2) + 1)]


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("three real pools; asserts each job starts within a second of its tick")
def test_three_workers_fire_every_tick_once_within_a_second(processes: Processes, tmp_path: Path) -> None:
    # Given three workers (each runs a scheduler beside its pool) and an every-two-seconds schedule
    record = tmp_path / "runs.log"
    names = [f"worker-{i}.log" for i in range(3)]
    for name in names:
        processes.start("worker", MODULE, "--concurrency", "1", log=name, TASKS_TEST_RECORD=str(record))
    wait_until(lambda: all(WATCHING in processes.log(n) for n in names), timeout=30, message="three schedulers")
    wait_until(lambda: runs(record), timeout=30, message="a first tick run by a worker")

    # When they run side by side for 10 s
    start = time.time()
    end = start + 10
    wait_until(lambda: any(r.tick > end for r in runs(record)), timeout=30, message="a tick after the window")
    processes.stop_all()

    # Then every tick of the window fired exactly once (no gap, no duplicate) ...
    all_runs = runs(record)
    first, last = 2 * math.ceil(start / 2), 2 * math.floor(end / 2)
    assert_every_tick_once(all_runs, first, last)
    window = [r for r in all_runs if first <= r.tick <= last]
    assert len(window) == 5

    # ... each job started within one second of its tick
    lateness = [r.started - r.tick for r in window]
    assert max(lateness) < 1.0, lateness
    assert min(lateness) >= 0.0, lateness

    # ... and each tick was enqueued by one scheduler only (schedulers log only the ticks whose job they stored)
    stored = Counter(
        line.rsplit(" ", 1)[1]
        for name in names
        for line in processes.log(name).splitlines()
        if f"schedule {EVERY_TWO_SECONDS}: tick" in line
    )
    assert stored and max(stored.values()) == 1
    assert {r.job_id for r in window} <= set(stored)
    by_process = Counter(name for name in names for job_id in stored if job_id in processes.log(name))
    print(f"ticks {len(window)}, duplicates 0, max lateness {max(lateness) * 1000:.1f} ms, stored by {by_process}")


@pytest.mark.rerun_once("four real processes on 2 cores and a wall-clock schedule; a stall can miss a wait")
@pytest.mark.timeout(120)
def test_three_schedulers_on_one_sqlite_file_enqueue_every_second_once(
    sqlite_processes: Processes, tmp_path: Path
) -> None:
    # Given three standalone schedulers and a worker, all processes on one SQLite file, and an every-second schedule
    record = tmp_path / "runs.log"
    names = [f"scheduler-{i}.log" for i in range(3)]
    for name in names:
        sqlite_processes.start("scheduler", SECOND_MODULE, log=name, TASKS_TEST_RECORD=str(record))
    sqlite_processes.start(
        "worker", SECOND_MODULE, "--no-scheduler", "--concurrency", "1", log="worker.log", TASKS_TEST_RECORD=str(record)
    )
    wait_until(lambda: all(WATCHING in sqlite_processes.log(n) for n in names), timeout=30, message="3 schedulers")

    # When they fire the schedule side by side for 6 s
    start = time.time()
    end = start + 6
    wait_until(lambda: any(r.tick > end for r in runs(record)), timeout=30, message="a tick after the window")
    sqlite_processes.stop_all()

    # Then every second of the window was enqueued by exactly one scheduler, and ran exactly once
    all_runs = runs(record)
    first, last = math.ceil(start), math.floor(end)
    assert [job_id for job_id, n in Counter(r.job_id for r in all_runs).items() if n > 1] == []
    assert sorted(r.tick for r in all_runs if first <= r.tick <= last) == [float(t) for t in range(first, last + 1)]
    stored = Counter(
        line.rsplit(" ", 1)[1]
        for name in names
        for line in sqlite_processes.log(name).splitlines()
        if f"schedule {EVERY_SECOND}: tick" in line
    )
    window = {r.job_id for r in all_runs if first <= r.tick <= last}
    assert window <= set(stored) and max(stored.values()) == 1, stored

    # ... and each job started within a second of its tick (an idle worker on SQLite polls every 50 ms at most)
    lateness = [r.started - r.tick for r in all_runs if first <= r.tick <= last]
    assert min(lateness) >= 0.0 and max(lateness) < 1.0, lateness
    by_process = Counter(name for name in names for job_id in window if job_id in sqlite_processes.log(name))
    print(f"\nSQLite: {len(window)} ticks, each enqueued once and run once, max lateness "
          f"{max(lateness) * 1000:.1f} ms; enqueued by {dict(by_process)}")


def crash_once(processes: Processes, marker: Path) -> tuple[float, subprocess.Popen[bytes]]:
    """Wait for the crash hook to kill a process; returns the tick it died on and the dead process."""
    text = wait_until(lambda: marker.exists() and marker.read_text(), timeout=30, message="the crash")
    tick, pid = float(text.split()[0]), int(text.split()[1])
    (dead,) = [p for p in processes.started if p.pid == pid]
    assert dead.wait(timeout=10) == CRASH_STATUS
    return tick, dead


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("real scheduler processes on a wall-clock schedule; a stall can miss a wait")
def test_a_scheduler_killed_between_enqueue_and_claim_loses_and_doubles_nothing(
    processes: Processes, tmp_path: Path
) -> None:
    # Given three standalone schedulers, armed to let one die between the enqueue and the claim of a tick
    # (the first tick 5 s from now whose job one of them stored), and one worker without a scheduler
    record, marker = tmp_path / "runs.log", tmp_path / "crash"
    env = {"TASKS_TEST_RECORD": str(record)}
    crash = {"TASKS_TEST_CRASH_MARKER": str(marker), "TASKS_TEST_CRASH_FROM": str(time.time() + 5), **env}
    processes.start("worker", MODULE, "--no-scheduler", "--concurrency", "1", log="worker.log", **env)
    for i in range(3):
        processes.start("scheduler", MODULE, log=f"scheduler-{i}.log", **crash)

    # When one of them dies there
    tick, _ = crash_once(processes, marker)

    # Then the others go on, and every tick, the dead one's included, ran exactly once
    wait_until(lambda: any(r.tick >= tick + 6 for r in runs(record)), timeout=30, message="ticks after the crash")
    all_runs = runs(record)
    assert_every_tick_once(all_runs, min(r.tick for r in all_runs), tick + 6)
    assert [r.tick for r in all_runs].count(tick) == 1
    assert WATCHING not in processes.log("worker.log")  # --no-scheduler: only the standalone schedulers fired


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("real scheduler processes on a wall-clock schedule; a stall can miss a wait")
def test_a_lone_scheduler_restarted_after_dying_between_enqueue_and_claim(
    processes: Processes, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    # Given the only scheduler, armed to die between the enqueue and the claim of a tick, and one worker
    record, marker = tmp_path / "runs.log", tmp_path / "crash"
    env = {"TASKS_TEST_RECORD": str(record)}
    crash = {"TASKS_TEST_CRASH_MARKER": str(marker), "TASKS_TEST_CRASH_FROM": str(time.time() + 4), **env}
    processes.start("worker", MODULE, "--no-scheduler", "--concurrency", "1", log="worker.log", **env)
    processes.start("scheduler", MODULE, log="scheduler-0.log", **crash)

    # When it dies there, with the tick's job enqueued but the tick not claimed
    tick, _ = crash_once(processes, marker)
    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    try:
        assert (backend.last_tick(EVERY_TWO_SECONDS) or 0) < tick

        # ... and is started again
        processes.start("scheduler", MODULE, log="scheduler-1.log", **env)

        # Then the tick is claimed by the new process, which found its job already enqueued
        wait_until(lambda: (backend.last_tick(EVERY_TWO_SECONDS) or 0) >= tick, timeout=30, message="the claim")
    finally:
        backend.close()
    wait_until(lambda: any(r.tick >= tick + 4 for r in runs(record)), timeout=30, message="ticks after the restart")
    all_runs = runs(record)
    assert_every_tick_once(all_runs, min(r.tick for r in all_runs), tick + 4)
    assert [r.tick for r in all_runs].count(tick) == 1


@pytest.mark.timeout(60)
def test_schedules_lists_next_fire_in_the_zone_and_utc_and_last_run(redis_url: str, prefix: str) -> None:
    # Given a tick of the every-two-seconds schedule claimed at 2026-01-02 03:04:06 UTC
    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    try:
        backend.claim_tick(EVERY_TWO_SECONDS, datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc).timestamp())
    finally:
        backend.close()

    # When the schedules are listed
    result = run_tasks(["schedules", "--app", MODULE], url=redis_url, prefix=prefix)

    # Then each schedule shows its zone, its next fire in that zone and in UTC, and its last run
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    nightly = lines[f"{MODULE}.nightly_report"]
    assert "Europe/Paris" in nightly and "00:00:00 CE" in nightly and "never" in nightly
    assert " UTC" in nightly and "reports" in nightly and "once" in nightly
    assert "2026-01-02 03:04:06 UTC" in lines[EVERY_TWO_SECONDS]
