"""A job that kills its worker process every time still ends, in the failed set, without waiting for leases."""

from __future__ import annotations

import time

import pytest

from tasks import queue
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Site, wait_for_workers


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real pool restarting processes; asserts an elapsed-time bound")
def test_a_poison_pill_reaches_the_failed_set_after_max_attempts(site: Site) -> None:
    # Given a pool of 2 with the default 30 s lease, and a job that calls os._exit(3) (max_attempts=3)
    pool = site.pools.start("--concurrency", "2")
    wait_for_workers(site.backend, pool, 2)
    began = time.monotonic()
    pill = jobs.poison_pill.delay()
    others = [jobs.add.delay(i, i).id for i in range(20)]

    # When the pool runs it
    wait_until(lambda: pill.status() == "failed", timeout=30, interval=0.05, message="the pill is failed")
    elapsed = time.monotonic() - began

    # Then it failed after its 3 attempts, each charged when its process died, long before any lease expired
    [failed] = [r for r in queue("default").failed() if r.id == pill.id]
    assert failed.attempts == 3
    assert failed.error_type == "WorkerCrashed"
    assert "exited with code 3" in failed.message
    assert elapsed < 15, f"took {elapsed:.1f} s: the supervisor should not wait for the 30 s lease"
    print(f"\n{site.kind}: poison pill failed for good after 3 attempts in {elapsed:.2f} s")

    # And the pool replaced each dead process and ran every other job
    wait_until(lambda: site.all_in(others, "succeeded"), timeout=20, interval=0.05)
    assert pool.log_text().count(") exited with code 3; it held 1 job(s), 1 running") == 3
    assert pool.process.poll() is None
    wait_for_workers(site.backend, pool, 2)
