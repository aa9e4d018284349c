"""What a death runs again: only what was running in the process that died, on Redis and on SQLite.

A worker process acknowledges finished jobs in batches; the outcomes it computed but had not written when it
died are written by its supervisor (``tasks.worker.journal``), and the jobs it had reserved but not started go back
uncharged. A job that kills every process that decodes it is charged for each death, so it still ends; and a
hard timeout stops the job's whole process tree, not only the worker.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from tasks import bulk, configure, queue
from tasks.backends.base import Backend
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Pools, Site, alive, duplicates, records, worker_pids

pytestmark = [pytest.mark.redis]


def live_worker_pids(backend: Backend, supervisor: int) -> list[int]:
    """The worker processes of ``supervisor`` that announce themselves and are alive (a dead one's entry lingers
    until its supervisor takes it off the list)."""
    return [pid for pid in worker_pids(backend, supervisor) if alive(pid)]


@pytest.mark.rerun_once("a real pool of 2 on a shared 2-core machine")
@pytest.mark.timeout(90)
def test_a_process_that_dies_runs_none_of_the_jobs_it_had_finished_again(site: Site) -> None:
    # Given 200 quick jobs with, among them, one that ends its own worker process (os._exit) when it runs
    with bulk():
        keys = [f"k{i}" for i in range(200)]
        handles = [jobs.record.delay(key) for key in keys[:150]]
        dying = jobs.die_once.delay("died")
        handles += [jobs.record.delay(key) for key in keys[150:]]

    # When a pool of 2 drains them (the process that dies held finished jobs whose outcomes were not written)
    pool = site.pools.start("--concurrency", "2", "--burst")
    assert pool.wait(timeout=60) == 0, pool.log_text()

    # Then every other job ran exactly once and succeeded; the dying job ran once and failed for its crash
    assert sorted(records(site.pools.record)) == sorted([*keys, "died"])
    assert duplicates(site.pools.record) == {}
    assert all(h.status() == "succeeded" for h in handles)
    [failed] = queue("default").failed()
    assert (failed.id, failed.error_type, failed.attempts) == (dying.id, "WorkerCrashed", 1)


@pytest.mark.rerun_once("a real pool of 2 killed at random moments on a shared 2-core machine")
@pytest.mark.timeout(120)
def test_sigkills_of_worker_processes_run_again_at_most_the_job_each_was_running(site: Site) -> None:
    # Given 1,000 jobs of about 4 ms, and a pool of 2 (sync jobs: each process runs one at a time)
    with bulk():
        keys = [f"c{i}" for i in range(1000)]
        handles = [jobs.chaos_record.delay(key, 0.004) for key in keys]
    pool = site.pools.start("--concurrency", "2")
    backend = site.backend
    rng = random.Random(os.environ.get("TASKS_CHAOS_SEED"))

    # When one worker process is killed with SIGKILL five times, at random moments, the supervisor alive
    killed: set[int] = set()
    for _ in range(5):
        target = len(records(site.pools.record)) + rng.randint(50, 150)
        wait_until(lambda: len(records(site.pools.record)) >= target, timeout=60, interval=0.01)  # noqa: B023
        pids = wait_until(
            lambda: p if len(p := [x for x in live_worker_pids(backend, pool.pid) if x not in killed]) == 2 else None,
            timeout=30,
        )
        victim = rng.choice(pids)
        os.kill(victim, signal.SIGKILL)
        killed.add(victim)
    kills = len(killed)

    # Then every job succeeded, and the jobs that ran twice are at most the one running in each killed process
    wait_until(lambda: all(h.status() == "succeeded" for h in handles), timeout=60, interval=0.2)
    assert set(records(site.pools.record)) == set(keys)
    twice = duplicates(site.pools.record)
    assert len(twice) <= kills and set(twice.values()) <= {2}, twice
    print(f"\n{kills} SIGKILLs of worker processes: {len(twice)} job(s) ran twice")


@pytest.mark.rerun_once("a real pool whose processes die on purpose, on a shared 2-core machine")
@pytest.mark.timeout(60)
def test_a_job_that_kills_every_process_decoding_it_is_charged_each_time_and_ends(
    pools: Pools, redis_app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a signed dill job whose argument ends the process that loads it (3 attempts), and good jobs behind it
    monkeypatch.setenv("TASKS_SECRET", "s3cret")
    configure(secret="s3cret")
    pill = jobs.dill_apply.delay(jobs.KillsOnLoad(), 1)
    others = [jobs.add.delay(i, i) for i in range(10)]

    # When a pool runs them
    pool = pools.start("--concurrency", "2")

    # Then each death while decoding it charged one attempt: after 3 it is in the failed set, and nothing looped
    wait_until(lambda: pill.status() == "failed", timeout=40, interval=0.05, message="the pill failed")
    [failed] = [r for r in queue("default").failed() if r.id == pill.id]
    assert (failed.attempts, failed.error_type) == (3, "WorkerCrashed")
    assert "exited with code 7" in failed.message
    assert [h.result(timeout=20) for h in others] == [2 * i for i in range(10)]
    assert pool.log_text().count(") exited with code 7; it held") == 3


@pytest.mark.rerun_once("a real pool and a hard timeout measured on a shared 2-core machine")
@pytest.mark.timeout(60)
def test_a_hard_timeout_stops_the_jobs_own_child_processes_too(pools: Pools, tmp_path: Path) -> None:
    # Given a job (timeout 1 s) that starts a child process, then hangs swallowing JobTimeout
    pool = pools.start("--concurrency", "1", "--grace", "1")
    pid_file = tmp_path / "child.pid"
    handle = jobs.spawn_then_hang.delay(str(pid_file))
    child = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=20, interval=0.02))

    # When the supervisor kills its worker process at timeout + grace
    wait_until(lambda: handle.status() == "failed", timeout=15, interval=0.05, message="the hard timeout")

    # Then the job's own child process is gone too, not left running
    wait_until(lambda: not alive(child), timeout=5, interval=0.02, message=f"child {child} killed")
    assert "killing worker process" in pool.log_text()
