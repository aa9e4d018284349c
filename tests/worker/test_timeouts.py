"""Timeouts stop the work: soft (``JobTimeout`` raised, or the coroutine cancelled), else hard (process killed).

Each pool runs with ``--grace 1``, so every job with ``timeout=1`` must be stopped within 1 + 1 + 2 s of its
start, while the other process keeps serving.
"""

from __future__ import annotations

import pytest

from tasks import Job, queue
from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Inspector, Pools, wait_for_workers

pytestmark = [pytest.mark.redis]

TIMEOUT_S, GRACE_S = 1.0, 1.0

CASES = {
    "time.sleep(60)": (jobs.sleeper, "soft"),
    "busy loop": (jobs.busy_loop, "soft"),
    "asyncio.sleep(60)": (jobs.async_sleeper, "soft"),
    "busy loop that swallows JobTimeout": (jobs.stubborn_loop, "hard"),
    "async job blocking its loop": (jobs.async_blocker, "hard"),
    "C call holding the GIL": (jobs.gil_hog, "hard"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.rerun_once("real pool; asserts the documented stop time within a 0.6 s margin")
def test_a_job_past_its_timeout_is_stopped_and_the_pool_keeps_serving(
    case: str, pools: Pools, redis_backend: RedisBackend, inspector: Inspector
) -> None:
    slow, kind = CASES[case]
    # Given a pool of 2 with a 1 s grace, running a job with timeout=1 that would take 60 s
    pool = pools.start("--concurrency", "2", "--grace", str(GRACE_S))
    wait_for_workers(redis_backend, pool, 2)
    handle = _delay(slow)
    wait_until(lambda: handle.status() == "running", timeout=10, interval=0.02)

    # When other jobs arrive meanwhile, they are served
    others = [jobs.add.delay(i, i) for i in range(10)]
    wait_until(lambda: inspector.all_in([h.id for h in others], "succeeded"), timeout=10, interval=0.02)

    # Then the slow job fails with JobTimeout within timeout + grace + 2 s of its start
    wait_until(lambda: handle.status() == "failed", timeout=15, interval=0.02, message=f"{case} stopped")
    started_at, finished_at = (float(v or 0) for v in inspector.fields([handle.id], "started_at", "finished_at")[0])
    took = finished_at - started_at
    [failed] = [r for r in queue("default").failed() if r.id == handle.id]
    assert failed.error_type == "JobTimeout", failed.message
    assert took <= TIMEOUT_S + GRACE_S + 2, f"{case}: stopped after {took:.2f} s"
    killed = "killing worker process" in pool.log_text()
    assert killed == (kind == "hard"), pool.log_text()
    print(f"\n{case}: stopped ({kind}) {took:.2f} s after it started (timeout {TIMEOUT_S:g} s, grace {GRACE_S:g} s)")

    # And the pool is whole again: 2 processes serve
    wait_for_workers(redis_backend, pool, 2)
    assert jobs.add.delay(20, 22).result(timeout=10) == 42


def _delay(job: Job[..., object]) -> object:
    return job.delay() if job is jobs.gil_hog else job.delay(60)
