"""Signals a pool gets from outside: SIGTERM to one worker process, and Ctrl-C to the whole process group. Both
stop gracefully: the running job finishes once, the jobs reserved and not started go back uncharged, nothing
is lost or run twice. On Redis and on SQLite, against real pools.

The tests assert outcomes, not which process received the signal: a terminal's Ctrl-C may reach every process
of the pool, or only the supervisor, which then tells its worker processes to stop.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tasks import bulk
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import (
    Site,
    alive,
    duplicates,
    not_begun,
    one_warm_process,
    records,
    wait_for_workers,
    worker_pids,
)


@pytest.mark.rerun_once("real pool; the signal must land while a 1.5 s job runs")
@pytest.mark.timeout(60)
def test_sigterm_to_one_worker_process_stops_it_gracefully_and_another_takes_its_place(site: Site) -> None:
    # Given a warm pool of one process running a 1.5 s job with 20 jobs reserved behind it
    pool, child = one_warm_process(site)
    with bulk():
        slow = jobs.record_start_and_end.delay("slow", 1.5)
        behind = [jobs.record.delay(f"b{i}").id for i in range(20)]
    wait_until(lambda: "slow:start" in records(site.pools.record), timeout=10, interval=0.005, message="began")
    assert not_begun(site, behind), "no job was reserved and not started when the signal came"

    # When that process gets SIGTERM
    os.kill(child, signal.SIGTERM)

    # Then it finishes its job and exits, and the supervisor starts another process, which runs the rest
    wait_until(lambda: not alive(child), timeout=10, interval=0.02, message="the process exited")
    wait_until(
        lambda: (p if len(p := worker_pids(site.backend, pool.pid)) == 1 and child not in p else None),
        timeout=20,
        interval=0.05,
        message="a new process registered",
    )
    wait_until(lambda: site.all_in([slow.id, *behind], "succeeded"), timeout=30, interval=0.05, message="all ran")

    # And every job ran once, on its first attempt: the running one finished, the reserved ones went back uncharged
    assert site.attempts([slow.id, *behind]) == [1] * 21
    assert duplicates(site.pools.record) == {}
    assert {"slow:start", "slow:end"} <= set(records(site.pools.record))
    assert "was killed" not in pool.log_text() and "exited with code" not in pool.log_text()
    assert pool.process.poll() is None


@pytest.mark.rerun_once("real pool of 2; the interrupt must land while 1.5 s jobs run")
@pytest.mark.timeout(60)
def test_ctrl_c_to_the_process_group_stops_the_pool_gracefully(site: Site) -> None:
    # Given a pool of 2 processes, warm (at least one of them batches), and 8 jobs of 1.5 s dispatched at once:
    # one process reserves them all, or one takes the first and the other the rest; either way jobs wait reserved
    pool = site.pools.start("--concurrency", "2")
    wait_for_workers(site.backend, pool, 2)
    with bulk():
        warm = [jobs.record.delay(f"warm{i}").id for i in range(100)]
    wait_until(lambda: site.all_in(warm, "succeeded"), timeout=30, interval=0.05, message="warmed up")
    with bulk():
        ids = [jobs.record_start_and_end.delay(f"s{i}", 1.5).id for i in range(8)]
    wait_until(lambda: site.running() == 8, timeout=10, interval=0.005, message="all 8 leased")
    wait_until(lambda: any(r.endswith(":start") for r in records(site.pools.record)), timeout=10, interval=0.005)

    # When a terminal's Ctrl-C sends SIGINT to the pool's process group
    os.killpg(pool.pid, signal.SIGINT)

    # Then the pool exits 0 once its running jobs have finished, with no job left leased
    assert pool.wait(timeout=15) == 0, pool.log_text()
    assert site.running() == 0
    recorded = records(site.pools.record)
    begun = [i for i in range(8) if f"s{i}:start" in recorded]
    waiting = [i for i in range(8) if i not in begun]
    assert begun and waiting, f"begun {begun}, not begun {waiting}"

    # And each job that had begun finished once, on its first attempt; each that had not is queued, uncharged
    assert site.all_in([ids[i] for i in begun], "succeeded")
    assert site.attempts([ids[i] for i in begun]) == [1] * len(begun)
    ends = sorted(f"s{i}:{end}" for i in begun for end in ("start", "end"))
    assert sorted(r for r in recorded if r.startswith("s")) == ends
    assert site.all_in([ids[i] for i in waiting], "queued")
    assert site.attempts([ids[i] for i in waiting]) == [0] * len(waiting)
    assert duplicates(site.pools.record) == {}


@pytest.mark.rerun_once("real pool; asserts an exit within the grace plus a margin of wall-clock time")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)  # on Redis: test_shutdown.py, with 10 processes
def test_jobs_still_running_when_the_grace_ends_go_back_uncharged(site: Site) -> None:
    # Given a pool of 2 with a 1 s grace, each process running a 30 s job
    pool = site.pools.start("--concurrency", "2", "--grace", "1")
    wait_for_workers(site.backend, pool, 2)
    ids = [jobs.record_start_and_end.delay(f"j{i}", 30).id for i in range(2)]
    wait_until(lambda: len(records(site.pools.record)) == 2, timeout=10, interval=0.01, message="2 begun")

    # When the supervisor gets SIGTERM
    pool.signal(signal.SIGTERM)

    # Then it exits 0 once the grace is over, the jobs back on their queue with the attempt given back
    began = time.monotonic()
    assert pool.wait(timeout=15) == 0, pool.log_text()
    assert time.monotonic() - began < 1 + 1.5
    assert site.all_in(ids, "queued") and site.attempts(ids) == [0, 0]
    assert not any(r.endswith(":end") for r in records(site.pools.record))


@pytest.mark.rerun_once("real pool; asserts an exit within 2 s of wall-clock time")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("site", ["sqlite"], indirect=True)  # on Redis: test_shutdown.py, leases included
def test_a_second_sigint_exits_at_once_with_130_leaving_the_jobs_leased(site: Site) -> None:
    # Given a pool of 2 whose processes each run a 30 s job
    pool = site.pools.start("--concurrency", "2")
    children = wait_for_workers(site.backend, pool, 2)
    ids = [jobs.record_start_and_end.delay(f"i{i}", 30).id for i in range(2)]
    wait_until(lambda: len(records(site.pools.record)) == 2, timeout=10, interval=0.01, message="2 begun")

    # When the supervisor gets SIGINT twice
    pool.signal(signal.SIGINT)
    wait_until(lambda: "SIGINT received" in pool.log_text(), timeout=5, interval=0.02)
    began = time.monotonic()
    pool.signal(signal.SIGINT)

    # Then it exits 130 at once, its processes killed, the jobs still leased (their leases bring them back)
    assert pool.wait(timeout=5) == 130
    assert time.monotonic() - began < 2
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=5, interval=0.02)
    assert site.states(ids) == {"running": 2}
