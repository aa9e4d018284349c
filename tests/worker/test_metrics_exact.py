"""Metrics stay exact under concurrent workers: 5,000 jobs on 4 worker processes, with retries and failures."""

from __future__ import annotations

import time

import pytest

from tasks import bulk
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Site

#: Jobs of each kind: succeed at once, fail once then succeed, fail both attempts.
OK, FLAKY, DOOMED = 4000, 500, 500


@pytest.mark.timeout(300)
@pytest.mark.rerun_once("four worker processes on a shared, loaded machine")
def test_counts_are_exact_after_5000_jobs_from_4_processes(site: Site) -> None:
    # Given 5,000 jobs of three kinds, and a pool of 4 worker processes
    began = time.time()
    with bulk():
        handles = [jobs.metric_ok.delay() for _ in range(OK)]
        handles += [jobs.metric_flaky.delay() for _ in range(FLAKY)]
        handles += [jobs.metric_doomed.delay() for _ in range(DOOMED)]
    site.pools.start("--concurrency", "4")

    # When they have all ended
    ids = [h.id for h in handles]
    wait_until(
        lambda: site.backend.queue_stats("default").ready + site.backend.queue_stats("default").scheduled == 0
        and site.backend.queue_stats("default").running == 0,
        timeout=240,
        interval=0.5,
        message="5,000 jobs drained",
    )
    assert site.states(ids) == {"succeeded": OK + FLAKY, "failed": DOOMED}

    # Then the metrics, summed over minutes, count every outcome exactly once, per job name
    totals: dict[str, list[int]] = {}
    runs = 0
    for point in site.backend.metric_series(since=began - 60, until=time.time() + 60):
        row = totals.setdefault(point.job, [0, 0, 0])
        row[0] += point.succeeded
        row[1] += point.retried
        row[2] += point.failed
        runs += sum(point.run_buckets)
    assert totals == {
        "tests.metric_ok": [OK, 0, 0],
        "tests.metric_flaky": [FLAKY, FLAKY, 0],
        "tests.metric_doomed": [0, DOOMED, DOOMED],
    }
    assert runs == OK + 2 * FLAKY + 2 * DOOMED  # every attempt in the histogram once
