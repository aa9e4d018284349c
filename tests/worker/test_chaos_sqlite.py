"""kill -9 on SQLite, the default backend: jobs through a pool on a SQLite file that is killed with SIGKILL again
and again (one worker process, the supervisor alone, the whole process group) and restarted. No job is lost.

Shorter than the Redis chaos test (``test_chaos.py``) and with fixed kinds of kill, so it fits the suite's time:
the kills come after a random number of jobs (TASKS_CHAOS_SEED replays a run).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tasks import bulk, queue
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Pool, Site, duplicates, records, wait_for_workers, worker_pids

JOBS = 600
FLAGS = ("--concurrency", "2", "--lease", "2")
KILLS = ("worker process", "supervisor and workers", "supervisor", "worker process")


@pytest.mark.rerun_once("kills and restarts real pools; a stall can outlast a wait for redelivery")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)
def test_kill_9_of_worker_processes_and_whole_pools_on_sqlite_loses_no_job(site: Site) -> None:
    seed = int(os.environ.get("TASKS_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)

    # Given 600 jobs that each record their key, and a pool of 2 with a 2 s lease on a SQLite file
    keys = [f"k{i}" for i in range(JOBS)]
    with bulk():
        ids = [jobs.chaos_record.delay(key, 0.01).id for key in keys]
    began = time.monotonic()
    pool = site.pools.start(*FLAGS)
    wait_for_workers(site.backend, pool, 2)

    # When it is killed four times with SIGKILL, each after a random number of jobs, and restarted when needed
    for kind in KILLS:
        target = len(records(site.pools.record)) + rng.randint(40, 90)
        wait_until(lambda: len(records(site.pools.record)) >= target, timeout=60, interval=0.02)  # noqa: B023
        pool = _kill(kind, pool, site, rng)

    # Then every job ends succeeded, every key was recorded, and none failed
    wait_until(lambda: site.all_in(ids, "succeeded"), timeout=60, interval=0.2, message="all 600 succeeded")
    took = time.monotonic() - began
    assert set(records(site.pools.record)) == set(keys)
    assert queue("default").failed_size() == 0
    twice = duplicates(site.pools.record)
    pool.signal(signal.SIGTERM)
    assert pool.wait(timeout=30) == 0
    print(f"\nSQLite chaos (seed {seed}): {JOBS} jobs, kills {', '.join(KILLS)}: all succeeded in {took:.1f} s; "
          f"{len(twice)} ran twice")


def _kill(kind: str, pool: Pool, site: Site, rng: random.Random) -> Pool:
    """Kill as ``kind`` says; returns the pool now serving (a new one after the supervisor died)."""
    if kind == "worker process":
        os.kill(rng.choice(worker_pids(site.backend, pool.pid)), signal.SIGKILL)
        return pool
    if kind == "supervisor":
        pool.signal(signal.SIGKILL)
    else:
        pool.kill_group()
    pool.wait(timeout=10)
    return site.pools.start(*FLAGS)
