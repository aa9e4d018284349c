"""A job whose name the worker does not know: put back, uncharged, while a rolling deploy may bring its code; then
``UnknownJob`` in the failed set."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from tasks import call, dispatch, job, queue
from tasks.config import get_backend
from tasks.retry import UNKNOWN_JOB_GRACE_S
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.unit.helpers import ManualClock


def drain(clock: ManualClock, *, grace_s: float = UNKNOWN_JOB_GRACE_S, queues: Sequence[str] = ("default",)) -> int:
    """A burst worker on ``queues`` at the time ``clock`` says, with the given grace for unknown names."""
    settings = WorkerSettings(queues=list(queues), burst=True, unknown_job_grace_s=grace_s)
    return Worker(get_backend(), settings, clock=clock).run()


def test_a_job_this_worker_does_not_know_is_put_back_uncharged_and_the_others_run(app: str) -> None:
    # Given a job no module of this worker defines, queued before a good one
    clock = ManualClock()
    unknown = dispatch("billing.charge", 42)
    good = jobs.add.delay(1, 2)

    # When a worker drains the queue
    assert drain(clock) == 0

    # Then the unknown job waits to be looked at again in 2 s, its attempt given back, and the good one ran
    assert unknown.status() == "scheduled"
    status = get_backend().status("default", unknown.id)
    assert status is not None and status.attempts == 0
    assert get_backend().next_due(["default"]) == clock() + 2.0
    assert queue("default").failed_size() == 0
    assert good.result(timeout=5) == 3


def test_a_worker_that_knows_the_job_runs_it_once_it_is_due_again(app: str, forget_jobs: list[str]) -> None:
    # Given an unknown job put back by a worker of the old code
    clock = ManualClock()
    handle = dispatch("billing.charge", 42)
    drain(clock)

    # When the new code (which defines the job) reaches the worker, and the job is due again
    @job(name="billing.charge")
    def charge(amount: int) -> str:
        return f"charged {amount}"

    forget_jobs.append("billing.charge")
    clock.advance(2.0)
    drain(clock)

    # Then it ran, as its first attempt: nothing was lost, nothing was charged
    assert handle.result(timeout=5) == "charged 42"
    status = get_backend().status("default", handle.id)
    assert status is not None and status.attempts == 1


def test_after_the_grace_an_unknown_job_fails_as_unknown_job_with_its_looks_spaced_out(app: str) -> None:
    # Given an unknown job and a grace of 60 s
    clock = ManualClock()
    start = clock()
    handle = dispatch("billing.charge", 42)

    # When a worker looks at it each time it falls due
    looks = []
    while handle.status() == "scheduled" or not looks:
        looks.append(clock() - start)
        drain(clock, grace_s=60)
        due = get_backend().next_due(["default"])
        if due is not None:
            clock.advance(due - clock())

    # Then the waits between looks grew from 2 s, the last look fell on the end of the grace, and it failed then
    waits = [later - earlier for earlier, later in itertools.pairwise(looks)]
    assert waits[:4] == pytest.approx([2.0, 2.0, 2.0, 2.0]) and waits[-2] > 2.0
    assert looks[-1] == pytest.approx(60.0, abs=0.5)  # the grace runs from the enqueue, a moment after ``start``
    assert len(looks) < 20
    [record] = queue("default").failed()
    assert (record.id, record.error_type, record.attempts) == (handle.id, "UnknownJob", 1)
    assert "no job named 'billing.charge' is registered in this worker" in record.message
    assert "waited 60 s for a worker that knows it" in record.message


def test_with_no_grace_an_unknown_job_fails_at_once(app: str) -> None:
    clock = ManualClock()
    unknown = dispatch("billing.charge", 42)
    drain(clock, grace_s=0)
    assert unknown.status() == "failed"
    [record] = queue("default").failed()
    assert record.error_type == "UnknownJob" and record.attempts == 1
    assert "tests.add" in record.message  # it names the jobs this worker knows


def test_the_grace_counts_from_when_a_delayed_job_falls_due(app: str) -> None:
    # Given an unknown job dispatched to run in an hour, far more than the grace
    clock = ManualClock()
    handle = call("billing.charge").later(3600, 42)

    # When it falls due and a worker that does not know it takes it
    clock.advance(3600)
    drain(clock, grace_s=60)

    # Then it is put back, not failed: its grace began when it fell due
    assert handle.status() == "scheduled"
