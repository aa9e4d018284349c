"""The supervisor's keeper: what it writes for the jobs of a worker process that died.

The supervisor's copy of a lease carries no payload (reports leave it out); the keeper loads it from the
datastore when a lost attempt must go through the job's retry policy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from tasks import queue
from tasks.config import configure, get_backend, settings
from tasks.handle import JobHandle
from tasks.model import Completed, Lease
from tasks.worker.keeper import Fate, LeaseKeeper
from tests import jobs

pytestmark = pytest.mark.timeout(30)


def reserved_as_reported(handle: JobHandle[object]) -> Lease:
    """Reserve the job, and return the lease as a worker process reports it to its supervisor."""
    [lease] = get_backend().reserve([handle.queue], worker_id="w", now=time.time(), lease_s=30)
    assert lease.job_id == handle.id
    return replace(lease, payload="")


def settle(lease: Lease, fate: Fate) -> None:
    keeper = LeaseKeeper(get_backend(), lease_s=30, secret=settings().secret)
    keeper.start()
    keeper.settle(lease, fate)
    keeper.close(10)


def test_a_lost_attempt_goes_through_the_jobs_own_retry_policy(app: str) -> None:
    # Given a job (5 attempts, no backoff) whose process died while running its first attempt
    handle = jobs.record.delay("lost")
    lease = reserved_as_reported(handle)

    # When the keeper settles it with the cause of death
    settle(lease, RuntimeError("worker process 4242 was killed by SIGKILL"))

    # Then the attempt counts and the job is retried, the cause recorded
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None and status.attempts == 1
    assert status.state == "queued"  # backoff 0: back on its queue at once
    assert status.error is not None and "killed by SIGKILL" in status.error.message


def test_a_lost_last_attempt_lands_in_the_failed_set(app: str) -> None:
    handle = jobs.poison_pill.delay()  # 3 attempts
    for _ in range(3):
        lease = reserved_as_reported(handle)
        settle(lease, RuntimeError("crashed"))
    assert handle.status() == "failed"
    assert [job.id for job in queue(handle.queue).failed()] == [handle.id]


def test_a_job_put_back_keeps_its_attempt(app: str) -> None:
    handle = jobs.record.delay("back")
    settle(reserved_as_reported(handle), None)
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None and (status.state, status.attempts) == ("queued", 0)


def test_a_job_gone_from_the_datastore_is_left_alone(app: str) -> None:
    # Given a job whose record was deleted after its process died
    handle = jobs.record.delay("gone")
    lease = reserved_as_reported(handle)
    backend = get_backend()
    backend.client.delete(backend.keys.queue(handle.queue).job(handle.id))  # type: ignore[attr-defined]

    # When the keeper settles it, nothing is written and nothing breaks
    settle(lease, RuntimeError("crashed"))
    assert backend.status(handle.queue, handle.id) is None


def test_an_outcome_the_process_computed_is_written_as_it_was(app: str) -> None:
    # Given a job whose process computed its result, then died before writing it
    handle = jobs.record.delay("done")
    lease = reserved_as_reported(handle)

    # When the keeper settles it with that outcome
    settle(lease, Completed('"done"', 60))

    # Then it succeeded with that result, on its one attempt: it does not run again
    assert handle.result(timeout=1) == "done"
    assert get_backend().status(handle.queue, handle.id).attempts == 1  # type: ignore[union-attr]


def test_a_lost_attempt_never_loads_the_jobs_arguments(app: str) -> None:
    # Given a dill job (with the secret) whose arguments raise when loaded (they could as well end the process)
    configure(secret="s3cret")
    handle = jobs.dill_apply.delay(jobs.RaisesOnLoad(), 1)
    lease = reserved_as_reported(handle)

    # When the keeper settles its lost attempt (in the supervisor)
    settle(lease, RuntimeError("crashed"))

    # Then the attempt was charged with the cause of death: the arguments were never loaded
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None and status.attempts == 1
    assert status.error is not None and (status.error.type, status.error.message) == ("RuntimeError", "crashed")


def test_a_write_that_fails_unexpectedly_is_dropped_and_the_keeper_carries_on(
    app: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two jobs of a dead process, the first of which the datastore refuses to release
    first, second = jobs.record.delay("one"), jobs.record.delay("two")
    leases = [reserved_as_reported(first), reserved_as_reported(second)]
    backend = get_backend()
    real_release = backend.release

    def release(lease: Lease, *, now: float) -> bool:
        if lease.job_id == first.id:
            raise RuntimeError("refused")
        return real_release(lease, now=now)

    backend.release = release  # type: ignore[method-assign]

    # When the keeper settles both
    keeper = LeaseKeeper(backend, lease_s=30)
    keeper.start()
    with caplog.at_level(logging.ERROR, logger="tasks.worker.pool"):
        for lease in leases:
            keeper.settle(lease, None)
        keeper.close(10)

    # Then the refusal was logged and left to the lease, and the second job was still put back
    assert any("settling it failed" in r.getMessage() for r in caplog.records)
    assert first.status() == "running" and second.status() == "queued"
