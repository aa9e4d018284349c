"""Abort of a job stuck in C code, with real pools: its process is stopped after the grace, the job ends
``cancelled`` (no retry, though it has attempts left), and the pool carries on with a fresh process."""

from __future__ import annotations

import time

import pytest

from tasks import JobCancelled
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Site, wait_for_workers

#: The pool's lease (its keeper reads abort requests with each renewal, a third of a lease) and grace.
LEASE_S, GRACE_S = 3.0, 2.0


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("real worker processes on a shared, loaded machine; the bound is a time")
def test_a_job_stuck_in_c_is_stopped_after_the_grace_and_the_pool_carries_on(site: Site) -> None:
    # Given a pool of two processes, one of them stuck in a long time.sleep that never looks at cancelled()
    pool = site.pools.start("--concurrency", "2", "--lease", str(LEASE_S), "--grace", str(GRACE_S))
    first = set(wait_for_workers(site.backend, pool, 2, timeout=60))
    stuck = jobs.stuck_in_c.delay(120)
    wait_until(lambda: stuck.status() == "running", timeout=30, message="the stuck job started")

    # When an abort is asked
    asked = time.monotonic()
    assert stuck.cancel(abort=True) == "abort_requested"

    # Then within one renewal, the grace and a second, the job is cancelled (not retried) and its process replaced
    wait_until(lambda: stuck.status() == "cancelled", timeout=30, interval=0.05, message="the job cancelled")
    took = time.monotonic() - asked
    assert took <= LEASE_S / 3 + GRACE_S + 1.0 + 1.0, took  # the last second: slack for a loaded machine
    with pytest.raises(JobCancelled):
        stuck.result(timeout=1)
    assert stuck.info().attempts == 1
    assert "still running 2.0 s after an abort was asked" in pool.log_text()

    # And the pool carries on: a new process replaces the stopped one and jobs run
    now = set(wait_for_workers(site.backend, pool, 2, timeout=60))
    assert len(now - first) == 1
    assert [jobs.add.delay(i, 1).result(timeout=30) for i in range(3)] == [1, 2, 3]
