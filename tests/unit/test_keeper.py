"""The supervisor's keeper: what it writes for the jobs of a worker process that died.

The supervisor's copy of a lease carries no payload (reports leave it out); the keeper loads it from the
datastore when a lost attempt must go through the job's retry policy.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tasks import queue
from tasks.config import get_backend
from tasks.handle import JobHandle
from tasks.keeper import LeaseKeeper
from tasks.model import Lease
from tests import jobs

pytestmark = pytest.mark.timeout(30)


def reserved_as_reported(handle: JobHandle[object]) -> Lease:
    """Reserve the job, and return the lease as a worker process reports it to its supervisor."""
    [lease] = get_backend().reserve([handle.queue], worker_id="w", now=time.time(), lease_s=30)
    assert lease.job_id == handle.id
    return replace(lease, payload="")


def settle(lease: Lease, error: Exception | None) -> None:
    keeper = LeaseKeeper(get_backend(), lease_s=30)
    keeper.start()
    keeper.settle(lease, error)
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
