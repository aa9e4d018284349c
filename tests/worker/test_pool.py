"""The pool: a supervisor and long-lived worker processes, restarted when they die, visible in ``workers``."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tasks import bulk
from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.processes import run_tasks
from tests.support.waiting import wait_until
from tests.worker.conftest import Inspector, Pools, Site, alive, duplicates, records, wait_for_workers, worker_pids

pytestmark = [pytest.mark.redis]


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_a_burst_pool_drains_every_queue_and_exits_0_even_when_a_process_dies(site: Site) -> None:
    # Given a job that kills its process on its first attempt (first in the queue, so a process takes it alone:
    # a fresh process reserves one job at a time), then 300 sync jobs and 20 async ones
    with bulk():
        dies = jobs.dies_once.delay("dies")
        ids = [jobs.record.delay(f"s{i}").id for i in range(300)]
        ids += [jobs.async_nap.delay(f"a{i}", 0.05).id for i in range(20)]

    # When a pool of 2 runs in burst mode
    pool = site.pools.start("--concurrency", "2", "--burst")

    # Then it exits 0 once all ran, each exactly once (the dead process replaced, its job run again), holding no lease
    assert pool.wait(timeout=45) == 0, pool.log_text()
    assert "exited with code 1" in pool.log_text()
    assert site.all_in([dies.id, *ids], "succeeded")
    assert site.attempts([dies.id]) == [2]
    assert len(records(site.pools.record)) == 321 and not duplicates(site.pools.record)
    assert site.running() == 0


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_a_killed_worker_process_is_replaced_and_the_reason_logged(
    pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    # Given a pool of 2 processes
    pool = pools.start("--concurrency", "2")
    first = wait_for_workers(redis_backend, pool, 2)

    # When one of them is killed with SIGKILL
    os.kill(first[0], signal.SIGKILL)

    # Then the supervisor says why and starts another; the pool keeps serving
    wait_until(lambda: "was killed by SIGKILL" in pool.log_text(), timeout=10, message="death logged")
    now = wait_until(
        lambda: (p if len(p := worker_pids(redis_backend, pool.pid)) == 2 and first[0] not in p else None),
        timeout=20,
        interval=0.05,
        message="a replacement registered and the dead one unregistered",
    )
    assert first[1] in now
    handle = jobs.add.delay(2, 2)
    assert handle.result(timeout=20) == 4


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_workers_lists_each_process_with_its_supervisor_queues_counts_and_current_job(
    pools: Pools, redis_backend: RedisBackend, redis_url: str, prefix: str
) -> None:
    # Given a pool of 2 with a short lease (so heartbeats come every 0.5 s) that has run 5 jobs
    pool = pools.start("--concurrency", "2", "--lease", "1.5", "--queues", "default", "--grace", "1")
    pids = wait_for_workers(redis_backend, pool, 2)
    for handle in [jobs.add.delay(i, i) for i in range(5)]:
        handle.result(timeout=20)
    # ... and runs a long one now
    long = jobs.sleep_then_record.delay("long", 30)
    wait_until(
        lambda: any(long.id in w.current_jobs for w in redis_backend.workers(now=time.time())),
        timeout=10,
        message="the running job shows in the worker list",
    )

    # When we list the workers
    listing = run_tasks(["workers"], url=redis_url, prefix=prefix)

    # Then each process shows with host, supervisor, pid, queues, start time, jobs done and its current job
    assert listing.returncode == 0, listing.stderr
    out = listing.stdout
    assert "2 live worker process(es)" in out
    lines = {int(line.split()[3]): line for line in out.splitlines()[1:-1]}
    assert sorted(lines) == pids
    for line in lines.values():
        fields = line.split()
        assert fields[1] == os.uname().nodename and fields[2] == str(pool.pid) and fields[4] == "default"
    assert sum(w.jobs_done for w in redis_backend.workers(now=time.time())) >= 5
    assert sum(long.id in line for line in lines.values()) == 1

    # And a stopped pool leaves the list at once (the long job's process after the 1 s grace)
    pool.signal(signal.SIGTERM)
    assert pool.wait(timeout=10) == 0
    assert worker_pids(redis_backend, pool.pid) == []


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real pool; asserts wall-clock bounds of 1.5 s and 5 s")
def test_async_jobs_share_one_process_while_sync_jobs_keep_running(site: Site) -> None:
    # Given one worker process allowed 10 async jobs in flight
    pool = site.pools.start("--concurrency", "1", "--async-concurrency", "10")

    # When 10 async jobs of 2 s and then a sync job are dispatched
    naps = [jobs.async_nap.delay(f"nap{i}", 2.0).id for i in range(10)]
    wait_until(lambda: site.states(naps)["running"] == 10, timeout=20, interval=0.05)
    began = time.monotonic()
    quick = jobs.add.delay(1, 1)

    # Then the sync job does not wait for them, and all 10 finish together (not one after another)
    assert quick.result(timeout=10) == 2
    assert time.monotonic() - began < 1.5
    wait_until(lambda: site.all_in(naps, "succeeded"), timeout=10, interval=0.05)
    assert time.monotonic() - began < 5
    assert pool.process.poll() is None


#: docs/workers.md: an orphaned worker process puts back what still runs once ``--grace`` is over; what a test
#: allows past the grace (the process notices the supervisor's death at once: its pipe reaches end-of-file).
ORPHAN_MARGIN_S = 0.6


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_worker_processes_finish_their_job_and_exit_when_the_supervisor_dies(site: Site) -> None:
    # Given a pool whose 2 processes each run a 3 s job, with more jobs queued behind them
    pool = site.pools.start("--concurrency", "2")
    pids = wait_for_workers(site.backend, pool, 2)
    running = [jobs.record_start_and_end.delay(f"r{i}", 3).id for i in range(2)]
    wait_until(lambda: {"r0:start", "r1:start"} <= set(records(site.pools.record)), timeout=10, interval=0.01)
    queued = [jobs.add.delay(i, 1).id for i in range(5)]

    # When the supervisor alone is killed with SIGKILL
    pool.signal(signal.SIGKILL)
    pool.wait(timeout=5)

    # Then each process finishes its job, takes no other, and exits
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=15, interval=0.05, message="children exited")
    assert site.all_in(running, "succeeded")
    assert sorted(records(site.pools.record)) == ["r0:end", "r0:start", "r1:end", "r1:start"]
    assert site.all_in(queued, "queued")
    assert site.running() == 0


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real processes; asserts the grace within a 0.6 s margin of wall-clock time")
def test_an_orphaned_worker_process_puts_a_stuck_job_back_once_the_grace_is_over(site: Site) -> None:
    # Given a pool with a 1 s grace whose process runs a 30 s job with no timeout
    grace_s = 1.0
    pool = site.pools.start("--concurrency", "1", "--grace", str(grace_s))
    [child] = wait_for_workers(site.backend, pool, 1)
    stuck = jobs.sleep_then_record.delay("stuck", 30)
    wait_until(lambda: stuck.status() == "running", timeout=10, interval=0.02)

    # When the supervisor is killed, leaving nobody to enforce the grace
    pool.signal(signal.SIGKILL)
    began = time.monotonic()

    # Then the process itself puts the job back (attempt given back) once the grace is over, and exits
    wait_until(lambda: not alive(child), timeout=10, interval=0.01, message="the orphan exited")
    took = time.monotonic() - began
    print(f"\n{site.kind}: the orphan put its job back and exited {took:.2f} s after its supervisor died "
          f"(grace {grace_s:g} s)")
    assert grace_s - 0.05 <= took <= grace_s + ORPHAN_MARGIN_S, f"exited {took:.2f} s after its supervisor died"
    assert stuck.status() == "queued"
    assert site.attempts([stuck.id]) == [0]
    assert records(site.pools.record) == []
