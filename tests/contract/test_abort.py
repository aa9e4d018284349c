"""Abort of a running job, in a worker of this process on every backend: ``current_job().cancelled()`` turns True
within a heartbeat, a job that looks returns early, and it ends ``cancelled`` whatever it returned."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tasks import JobCancelled, JobHandle
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.contract.conftest import Target
from tests.support.waiting import wait_until


def run_in_thread(**settings: Any) -> threading.Thread:
    """A burst worker with a short lease (heartbeats every 0.2 s), on a thread of this process."""
    worker = Worker(get_backend(), WorkerSettings(queues=["default"], burst=True, lease_s=0.6, **settings))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_aborted_job_sees_it_returns_early_and_ends_cancelled(app: Target, kind: str) -> None:
    # Given a job that runs until it sees an abort, running
    handle: JobHandle[str] = (jobs.until_aborted if kind == "sync" else jobs.async_until_aborted).delay(30)
    thread = run_in_thread()
    wait_until(lambda: handle.status() == "running", timeout=20, message="the job started")

    # When an abort is asked
    assert handle.cancel(abort=True) == "abort_requested"

    # Then the job stops early, ends cancelled, and its result raises; the worker drains and exits
    thread.join(20)
    assert not thread.is_alive()
    assert handle.status() == "cancelled"
    with pytest.raises(JobCancelled):
        handle.result(timeout=1)
    info = handle.info()
    assert info.attempts == 1 and info.result is None


def test_an_abort_does_not_touch_the_other_jobs(app: Target) -> None:
    aborted, other = jobs.until_aborted.delay(30), jobs.add.delay(2, 3)
    thread = run_in_thread()
    wait_until(lambda: aborted.status() == "running", timeout=20, message="the job started")
    aborted.cancel(abort=True)
    thread.join(20)
    assert (aborted.status(), other.result(timeout=1)) == ("cancelled", 5)
    assert get_backend().queue_stats("default").running == 0
