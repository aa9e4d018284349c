"""Leases: held while the holder lives (even a job stuck in C code), refused to a holder that lost them."""

from __future__ import annotations

import signal
import time

import pytest

from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Inspector, Pools, Site, records, wait_for_workers

#: The lease of the pools killed whole.
LEASE_S = 2.0


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real pool with a 1.5 s lease; a stalled supervisor can let the lease lapse")
def test_a_job_holding_the_gil_longer_than_its_lease_keeps_the_lease_and_runs_once(site: Site) -> None:
    # Given a pool of 2 with a 1.5 s lease, whose other process requeues expired leases every second
    pool = site.pools.start("--concurrency", "2", "--lease", "1.5")
    wait_for_workers(site.backend, pool, 2)

    # When a job holds the GIL in one C call for about 3 s (its process's heartbeat thread cannot run)
    hog = jobs.gil_hog_then_record.delay("hog", 170_000_000)
    wait_until(lambda: hog.status() == "succeeded", timeout=40, interval=0.05)

    # Then the supervisor kept its lease alive: it ran once, on its first attempt, and nothing was requeued
    assert records(site.pools.record) == ["hog"]
    assert site.attempts([hog.id]) == [1]
    assert "expired leases" not in pool.log_text() and "lease lost" not in pool.log_text()


@pytest.mark.redis
@pytest.mark.timeout(90)
@pytest.mark.rerun_once("two real pools and SIGSTOP; lease expiry is wall-clock timed")
def test_a_frozen_pool_loses_its_lease_and_its_late_write_is_refused_and_logged(
    pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    # Given a pool with a 1.5 s lease that has begun a 3 s job
    frozen = pools.start("--concurrency", "1", "--lease", "1.5")
    wait_for_workers(redis_backend, frozen, 1)
    slow = jobs.record_start_and_end.delay("slow", 3)
    wait_until(lambda: "slow:start" in records(pools.record), timeout=10, interval=0.01)

    # When the whole pool is frozen (SIGSTOP: a paused VM, a partition) and another pool takes the job over
    frozen.signal_all(signal.SIGSTOP)
    try:
        other = pools.start("--concurrency", "1", "--lease", "1.5")
        wait_until(lambda: slow.status() == "succeeded", timeout=30, interval=0.05, message="taken over")
    finally:
        frozen.signal_all(signal.SIGCONT)

    # Then the first pool, thawed, finishes its copy, but its write is refused (the token moved on) and logged
    wait_until(lambda: "late write was refused" in frozen.log_text(), timeout=15, interval=0.05)
    wait_until(lambda: records(pools.record).count("slow:end") == 2, timeout=15, interval=0.05)
    assert sorted(records(pools.record)) == ["slow:end"] * 2 + ["slow:start"] * 2  # at-least-once: it ran twice
    assert slow.status() == "succeeded"
    assert inspector.fields([slow.id], "attempts") == [["2"]]
    assert frozen.process.poll() is None and other.process.poll() is None


#: docs/workers.md: after a whole-pool kill a job is back one lease after it began on Redis, up to 1 s more on
#: SQLite (whose idle workers cannot wake at a lease's expiry: maintenance runs every second).
BACK_AFTER_S = {"redis": (LEASE_S, LEASE_S), "sqlite": (LEASE_S, LEASE_S + 1.0)}
#: What the test allows either side: the supervisor's tick, and a machine shared with other work.
BACK_MARGIN_S = 0.4


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real pools; asserts the return within a 0.4 s margin of wall-clock time")
def test_a_job_of_a_pool_killed_whole_comes_back_one_lease_after_it_began(site: Site) -> None:
    # Given two idle pools with a 2 s lease (on Redis, an idle wait for jobs lasts up to 1 s)
    both = [site.pools.start("--concurrency", "1", "--lease", str(LEASE_S)) for _ in range(2)]
    children = {wait_for_workers(site.backend, pool, 1)[0]: pool for pool in both}

    # When one of them begins a long job (it records the pid of its process)
    job = jobs.record_pid_then_sleep.delay("lost", 30)
    holder = wait_until(lambda: [r for r in records(site.pools.record) if r.startswith("lost:")], interval=0.005)
    began = time.time()
    doomed = children[int(holder[0].split(":")[1])]
    if site.kind == "redis":
        # ... and its lease runs one lease from now: the reserve that ended the idle wait leased it for up to a
        # wait longer, and the supervisor renews it when its tick (0.1 s) reads the worker's report of the job
        inspector = Inspector(site.backend)  # type: ignore[arg-type]
        wait_until(
            lambda: (inspector.client.zscore(inspector.keys.leases, job.id) or 0) <= time.time() + LEASE_S + 0.05,
            timeout=5,
            interval=0.005,
            message="the lease renewed to one lease from now",
        )
    # ... and that whole pool is killed mid-job (a machine losing power)
    doomed.kill_group()
    wait_until(lambda: site.attempts([job.id]) == [2], timeout=10, interval=0.01)
    back = time.time() - began

    # Then the other pool starts it again when its lease expires, the lease counted from when the job was held:
    # not up to an idle wait later, nor (on Redis) up to a maintenance period after the expiry
    low, high = BACK_AFTER_S[site.kind]
    print(f"\n{site.kind}: back after {back:.2f} s (documented {low:g} to {high:g} s)")
    assert low - BACK_MARGIN_S < back < high + BACK_MARGIN_S, f"back after {back:.2f} s"
