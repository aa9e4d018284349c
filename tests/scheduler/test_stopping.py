"""Stopping what fires schedules: the standalone scheduler speaks of schedules, and a stopping pool stops its
scheduler first, so no tick is enqueued while it waits for its running jobs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.scheduler.names import EVERY_SECOND
from tests.support.processes import kill_session, start_tasks
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Imported by the processes only (its every-second schedule must not reach this process's schedulers).
SECOND_MODULE = "tests.scheduler.every_second"


@pytest.fixture
def started(redis_app: str, prefix: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            kill_session(process.pid)
            process.wait(timeout=10)


def read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


def ticks_enqueued(backend: RedisBackend) -> list[float]:
    """The ticks of the every-second schedule waiting on ``default`` (which the pool does not serve)."""
    return [tick_of(job_id) for job_id in backend.client.lrange(backend.keys.queue("default").ready, 0, -1)]


def tick_of(job_id: str) -> float:
    stamp = job_id.rsplit(":", 1)[1]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("a real scheduler process started and signalled; its start is wall-clock bounded")
def test_the_standalone_scheduler_speaks_of_schedules_when_it_stops(
    redis_app: str, prefix: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    # Given a standalone scheduler firing an every-second schedule
    log = tmp_path / "scheduler.log"
    process = start_tasks(["scheduler", SECOND_MODULE], url=redis_app, prefix=prefix, log=log)
    started.append(process)
    wait_until(lambda: "scheduler: watching" in read(log), timeout=30, message="the scheduler watching its schedule")

    # When it is interrupted
    process.send_signal(signal.SIGINT)

    # Then it exits 0, saying it fires no more schedules, and never speaks of a running job
    assert process.wait(timeout=30) == 0
    text = read(log)
    assert "SIGINT received: firing no more schedules here, then exiting" in text
    assert "scheduler: stopped; no more ticks are fired here" in text
    assert "running job" not in text
    assert "tasks.worker" not in text


@pytest.mark.timeout(90)
@pytest.mark.rerun_once("a real pool started and signalled; its start and stop are wall-clock bounded")
def test_a_stopping_pool_stops_its_scheduler_before_it_waits_for_its_jobs(
    redis_app: str, prefix: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    # Given a pool whose scheduler fires every second onto default (which the pool does not serve, so the ticks
    # pile up there), and whose one worker process runs a 4 s job on the slow queue
    log, record = tmp_path / "pool.log", tmp_path / "record.txt"
    args = ["worker", "tests.jobs", SECOND_MODULE, "--queues", "slow", "--concurrency", "1"]
    pool = start_tasks(args, url=redis_app, prefix=prefix, log=log, TASKS_TEST_RECORD=str(record))
    started.append(pool)
    wait_until(lambda: "scheduler: watching" in read(log), timeout=30, message="the pool's scheduler watching")
    long_job = jobs.sleep_then_record.on("slow").delay("long", 4.0)
    wait_until(lambda: long_job.status() == "running", timeout=30, message="the long job running")
    backend = RedisBackend.from_url(redis_app, prefix=prefix)
    try:
        wait_until(lambda: ticks_enqueued(backend), timeout=10, interval=0.02, message="a tick fired before the stop")

        # When the pool is asked to stop while the job runs
        pool.send_signal(signal.SIGTERM)
        asked = time.time()

        # Then it finished the job and exited, and no tick after the stop was enqueued meanwhile
        assert pool.wait(timeout=60) == 0
        assert long_job.status() == "succeeded"
        ticks = ticks_enqueued(backend)
    finally:
        backend.close()
    assert max(ticks) <= asked + 1.0, f"ticks enqueued {max(ticks) - asked:.1f} s after the stop"
    text = read(log)
    assert text.index("scheduler: stopped") < text.index("stopping: running jobs have"), text
    assert EVERY_SECOND in text
