"""Graceful shutdown: running jobs finish within the grace, or go back uncharged; nothing is orphaned."""

from __future__ import annotations

import signal
import time

import pytest

from tasks import bulk
from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Inspector, Pools, alive, duplicates, records, wait_for_workers

pytestmark = [pytest.mark.redis]


def _ten_running(pools: Pools, redis_backend: RedisBackend, inspector: Inspector, *flags: str) -> list[str]:
    """A pool of 10 processes, each running one 2 s job (begun, not merely reserved); returns the jobs' ids."""
    pool = pools.start("--concurrency", "10", *flags)
    wait_for_workers(redis_backend, pool, 10, timeout=40)
    ids = [jobs.record_start_and_end.delay(f"j{i}", 2.0).id for i in range(10)]
    wait_until(lambda: len(records(pools.record)) == 10, timeout=10, interval=0.01, message="10 begun")
    return ids


def _ends(pools: Pools) -> list[str]:
    return sorted(r for r in records(pools.record) if r.endswith(":end"))


@pytest.mark.timeout(90)
@pytest.mark.rerun_once("a pool of 10 processes on 2 cores; the shutdown is wall-clock timed")
def test_sigterm_lets_running_jobs_finish_then_exits_0(
    pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    # Given 10 jobs of 2 s running in a pool with the default 30 s grace
    ids = _ten_running(pools, redis_backend, inspector)
    pool = pools.started[0]

    # When the supervisor gets SIGTERM
    began = time.monotonic()
    pool.signal(signal.SIGTERM)

    # Then the jobs finish, the pool exits 0, and nothing is left leased or run twice
    assert pool.wait(timeout=20) == 0, pool.log_text()
    took = time.monotonic() - began
    assert inspector.all_in(ids, "succeeded")
    assert _ends(pools) == sorted(f"j{i}:end" for i in range(10))
    assert inspector.leased() == []
    assert [a for (a,) in inspector.fields(ids, "attempts")] == ["1"] * 10
    print(f"\nSIGTERM with 10 jobs of 2 s running: exit 0 after {took:.2f} s, all 10 succeeded")


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("a pool of 10 processes on 2 cores; the grace is wall-clock timed")
def test_jobs_still_running_when_the_grace_ends_go_back_uncharged_and_run_once_elsewhere(
    pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    # Given 10 jobs of 2 s running in a pool with a 1 s grace
    ids = _ten_running(pools, redis_backend, inspector, "--grace", "1")
    pool = pools.started[0]

    # When the supervisor gets SIGTERM
    began = time.monotonic()
    pool.signal(signal.SIGTERM)

    # Then it exits 0 after the grace, the jobs back on their queue with the attempt given back
    assert pool.wait(timeout=15) == 0, pool.log_text()
    took = time.monotonic() - began
    assert took < 1 + 5
    assert inspector.all_in(ids, "queued")
    assert [a for (a,) in inspector.fields(ids, "attempts")] == ["0"] * 10
    assert _ends(pools) == []

    # And a new worker completes each of them exactly once
    assert pools.start("--concurrency", "5", "--burst").wait(timeout=60) == 0
    assert inspector.all_in(ids, "succeeded")
    assert _ends(pools) == sorted(f"j{i}:end" for i in range(10))
    print(f"\nSIGTERM with --grace 1: exit 0 after {took:.2f} s; 10 jobs requeued uncharged, then each ran once")


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_a_stop_in_the_middle_of_a_stream_of_jobs_orphans_nothing_and_duplicates_nothing(
    pools: Pools, inspector: Inspector
) -> None:
    # Given 1,000 short jobs streaming through a pool of 2
    with bulk():
        ids = [jobs.chaos_record.delay(str(i), 0.004).id for i in range(1000)]
    pool = pools.start("--concurrency", "2")
    wait_until(lambda: len(records(pools.record)) >= 200, timeout=30, interval=0.02)

    # When the supervisor gets SIGTERM mid-stream
    pool.signal(signal.SIGTERM)

    # Then it exits 0, with no job left leased: each one succeeded or is ready again
    assert pool.wait(timeout=20) == 0, pool.log_text()
    assert inspector.leased() == []
    states = inspector.states(ids)
    assert set(states) <= {"succeeded", "queued"} and states["queued"] > 0, states
    assert not duplicates(pools.record)

    # And a burst worker runs the rest, each job once
    assert pools.start("--concurrency", "2", "--burst").wait(timeout=60) == 0
    assert inspector.all_in(ids, "succeeded")
    assert len(records(pools.record)) == 1000 and not duplicates(pools.record)


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real pools; asserts an exit within 2 s and waits for lease expiry")
def test_a_second_sigint_stops_at_once_and_leases_bring_the_jobs_back(
    pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    # Given a pool with a 2 s lease whose 2 processes have each begun a 10 s job (not merely reserved it)
    pool = pools.start("--concurrency", "2", "--lease", "2")
    children = wait_for_workers(redis_backend, pool, 2)
    ids = [jobs.record_start_and_end.delay(f"i{i}", 10.0).id for i in range(2)]
    wait_until(lambda: len(records(pools.record)) == 2, timeout=10, interval=0.01, message="2 begun")

    # When the supervisor gets SIGINT twice
    pool.signal(signal.SIGINT)
    wait_until(lambda: "SIGINT received" in pool.log_text(), timeout=5, interval=0.02)
    began = time.monotonic()
    pool.signal(signal.SIGINT)

    # Then it exits 130 at once, its processes killed, the jobs still leased
    assert pool.wait(timeout=5) == 130
    assert time.monotonic() - began < 2
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=5, interval=0.02)
    assert inspector.states(ids)["running"] == 2

    # And once the leases expire, another pool runs them, each to its end once
    pools.start("--concurrency", "2", "--lease", "2")
    wait_until(lambda: inspector.all_in(ids, "succeeded"), timeout=40, interval=0.05)
    assert _ends(pools) == ["i0:end", "i1:end"]
