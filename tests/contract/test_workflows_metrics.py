"""Workflow members are jobs like any other in the metrics: their member transitions count them."""

from __future__ import annotations

import time
from collections import Counter

import tasks
from tasks.model import Completed
from tasks.worker import executor
from tests import jobs
from tests.contract.conftest import Target
from tests.contract.workflow_support import backend, drain, take


def outcomes() -> Counter[tuple[str, str]]:
    """(job name, outcome) -> how many, over the last minutes."""
    now = time.time()
    counted: Counter[tuple[str, str]] = Counter()
    for point in backend().metric_series(since=now - 600, until=now + 60):
        counted[point.job, "succeeded"] += point.succeeded
        counted[point.job, "failed"] += point.failed
    return counted


def test_members_run_one_by_one_are_counted_as_they_end(app: Target) -> None:
    # Given a batch of three members that succeed and one that fails, failures allowed
    calls = [jobs.wf_step.prepare(str(i)) for i in range(3)]
    tasks.batch([*calls, jobs.wf_boom.prepare()]).allow_failures().delay()

    # When each runs and its outcome is written by the member transitions
    drain()

    # Then the metrics count each member once, by its own name
    counted = outcomes()
    assert (counted["tests.wf_step", "succeeded"], counted["tests.wf_boom", "failed"]) == (3, 1)


def test_members_acknowledged_together_are_each_counted(app: Target) -> None:
    # Given two members a worker holds at once
    tasks.batch([jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b")]).delay()
    leases = take(count=2)
    assert len(leases) == 2

    # When the worker acknowledges both in one call
    done = executor.complete_members(backend(), [(lease, Completed('"ok"', 60)) for lease in leases], now=time.time())

    # Then both are counted, and only once
    assert done == [True, True]
    assert outcomes()["tests.wf_step", "succeeded"] == 2
