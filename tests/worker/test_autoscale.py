"""An autoscaling pool of real processes: a burst grows it to its maximum, quiet shrinks it to its minimum, and
no job is lost or run twice when processes leave."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from tasks import bulk
from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.processes import run_tasks
from tests.support.waiting import wait_until
from tests.worker.conftest import Pools, duplicates, records, worker_pids

pytestmark = [pytest.mark.redis]

#: Small timings, so that a burst and the quiet after it fit in a test.
FAST = ("--target-wait", "0.5", "--scale-cooldown", "1", "--scale-quiet", "3", "--scale-check", "0.2")


def holds(condition: Callable[[], bool], *, seconds: float, message: str) -> None:
    """Fail unless ``condition()`` stays true for ``seconds`` (a promise that nothing happens for a while)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition(), message
        time.sleep(0.05)


@pytest.mark.timeout(150)
@pytest.mark.rerun_once("starts a pool of processes that grows and shrinks; a stall of the machine can miss a deadline")
def test_a_burst_grows_the_pool_to_its_maximum_and_quiet_shrinks_it_to_its_minimum(
    pools: Pools, redis_backend: RedisBackend, redis_app: str, prefix: str
) -> None:
    # Given an autoscaling pool of 1 to 4 processes, idle
    pool = pools.start("--autoscale", "1,4", *FAST)
    wait_until(lambda: len(worker_pids(redis_backend, pool.pid)) == 1, timeout=30, message="one process at first")

    # When a burst of 2,000 jobs of 50 ms arrives
    with bulk():
        for i in range(2000):
            jobs.sleep_then_record.delay(f"k{i}", 0.05)

    # Then the pool grows to its maximum while the backlog lasts, and says why
    wait_until(lambda: len(worker_pids(redis_backend, pool.pid)) == 4, timeout=60, interval=0.1, message="grew to 4")
    assert re.search(r"autoscale: 2 -> 4 worker processes: the oldest ready job waited", pool.log_text())
    listing = run_tasks(["workers"], url=redis_app, prefix=prefix)
    assert "autoscaling pool" in listing.stdout and "between 1 and 4" in listing.stdout, listing.stdout

    # And once the burst is done and the queue stays quiet, it shrinks back to its minimum
    wait_until(lambda: len(records(pools.record)) >= 2000, timeout=90, interval=0.2, message="burst done")
    wait_until(lambda: len(worker_pids(redis_backend, pool.pid)) == 1, timeout=40, interval=0.1, message="back to 1")
    assert "autoscale: 2 -> 1 worker processes: no job waiting" in pool.log_text()
    started = pool.log_text().count(" started (slot ")
    holds(lambda: len(worker_pids(redis_backend, pool.pid)) <= 1, seconds=3, message="no process came back")
    assert pool.log_text().count(" started (slot ") == started == 4, pool.log_text()

    # And every job ran exactly once, processes leaving included
    assert len(records(pools.record)) == 2000 and not duplicates(pools.record)
    assert redis_backend.queue_stats("default").running == 0
    assert "leaves once its jobs are done" in pool.log_text()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "url", "error"),
    [
        (("--autoscale", "4,2"), "redis", "1 <= MIN <= MAX"),
        (("--autoscale", "2"), "redis", "give MIN,MAX"),
        (("--autoscale", "1,2", "--target-wait", "-1"), "redis", "target_wait_s"),
        (("--autoscale", "1,2"), "memory", "memory:// runs one worker"),
    ],
)
def test_an_autoscale_that_cannot_work_is_refused_before_anything_starts(
    args: tuple[str, ...], url: str, error: str, redis_url: str, prefix: str
) -> None:
    target = redis_url if url == "redis" else f"memory://{prefix}"
    result = run_tasks(["worker", "tests.jobs", *args], url=target, prefix=prefix)
    assert result.returncode == 2, result.stderr
    assert error in result.stderr
    assert "worker pool starting" not in result.stderr
