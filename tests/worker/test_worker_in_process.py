"""The worker loop in this process, over ``memory://`` (and SQLite where a promise holds on both): outages, lost
leases, async concurrency, heartbeats. Fast and exact."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tasks import bulk, queue
from tasks.backends.redis import RedisBackend
from tasks.config import get_backend
from tasks.errors import BackendUnavailable
from tasks.model import Lease
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.support.waiting import wait_until


class FlakyBackend:
    """Delegates to a real backend; once armed, the next ``failures`` calls (any method, any thread) raise."""

    def __init__(self, inner: RedisBackend) -> None:
        self.inner = inner
        self.failures = 0
        self.raised = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self.failures > 0:
                    self.failures -= 1
                    self.raised += 1
                    raise BackendUnavailable("simulated outage")
            return target(*args, **kwargs)

        return call


@pytest.mark.timeout(30)
def test_outcomes_reached_during_an_outage_are_written_once_it_ends(
    memory_app: str, memory_backend: RedisBackend
) -> None:
    # Given a success, a job that fails every time (3 attempts, no backoff) and one that fails for good
    ok = jobs.add.delay(1, 2)
    retried = jobs.always_fails.delay()
    doomed = jobs.fail_for_good.delay()
    flaky = FlakyBackend(memory_backend)
    worker = Worker(flaky, WorkerSettings(queues=["default"], burst=True))  # type: ignore[arg-type]

    # When, after each of the first three reserves, the datastore fails the next 3 calls (so a success, a
    # retry and a failure each wait through an outage before they can be written)
    original = worker._ledger.reserved
    outages = []

    def reserved_then_outage(leases: list[Lease], *, padded: bool = False) -> None:
        original(leases, padded=padded)
        if len(outages) < 3:
            outages.append(leases[0].job_id)
            flaky.failures = 3

    worker._ledger.reserved = reserved_then_outage  # type: ignore[method-assign]
    assert worker.run() == 0

    # Then every outcome was written, once: nothing ran more often than its attempts allow
    assert flaky.raised == 9
    assert set(outages) == {ok.id, retried.id, doomed.id}
    assert ok.status() == "succeeded" and ok.result(timeout=1) == 3
    failed = {r.id: r for r in queue("default").failed()}
    assert (failed[retried.id].attempts, failed[retried.id].error_type) == (3, "ValueError")
    assert (failed[doomed.id].attempts, failed[doomed.id].error_type) == (1, "Fail")


@pytest.mark.timeout(30)
def test_a_job_whose_lease_was_lost_before_it_started_is_not_run_here(
    memory_app: str, memory_backend: RedisBackend
) -> None:
    # Given a worker that has reserved a job but not started it
    handle = jobs.add.delay(2, 2)
    worker = Worker(memory_backend, WorkerSettings(queues=["default"], burst=True))
    [lease] = memory_backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)
    worker._ledger.reserved([lease])

    # When its heartbeat finds the lease gone (it expired and another worker took the job)
    worker._ledger.refused([lease])

    # Then the worker drops it without running it, and holds nothing
    assert worker._ledger.started(lease, None, sync=True) is False
    assert worker._ledger.held() == [] and worker.jobs_done == 0
    assert handle.status() == "running"  # untouched: it belongs to whoever holds it now


@pytest.mark.timeout(30)
def test_async_jobs_run_together_while_a_sync_job_runs_on_the_main_thread(
    memory_app: str, memory_backend: RedisBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKS_TEST_RECORD", str(tmp_path / "record.txt"))
    # Given 10 async jobs of 1 s and a sync job, and a worker allowed 10 async jobs in flight
    naps = [jobs.async_nap.delay(f"n{i}", 1.0) for i in range(10)]
    quick = jobs.add.delay(3, 4)
    worker = Worker(memory_backend, WorkerSettings(queues=["default"], async_concurrency=10))
    thread = threading.Thread(target=worker.run)
    began = time.monotonic()
    thread.start()
    try:
        # Then the sync job does not wait for the async ones, which all end together
        assert quick.result(timeout=5) == 7
        assert time.monotonic() - began < 0.9
        wait_until(lambda: all(h.status() == "succeeded" for h in naps), timeout=10, interval=0.02)
        assert time.monotonic() - began < 3
    finally:
        worker.stop()
        thread.join(timeout=10)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("app", ["memory_app", "sqlite_app"])
def test_a_worker_without_a_supervisor_keeps_the_lease_of_a_job_longer_than_it_and_runs_it_once(
    app: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a 3 s job, and a plain worker (as memory:// runs it: no supervisor renews its leases) with a 1 s lease
    request.getfixturevalue(app)
    monkeypatch.setenv("TASKS_TEST_RECORD", str(tmp_path / "record.txt"))
    handle = jobs.sleep_then_record.delay("long", 3.0)
    backend = get_backend()
    worker = Worker(backend, WorkerSettings(queues=["default"], lease_s=1, burst=True))

    # And maintenance requeuing expired leases every 0.1 s meanwhile, as every other worker does once a second
    stop = threading.Event()
    requeued: list[tuple[int, int]] = []

    def maintain() -> None:
        while not stop.wait(0.1):
            requeued.append(backend.requeue_expired(["default"], now=time.time()))

    maintenance = threading.Thread(target=maintain)
    maintenance.start()
    try:
        # When the worker runs it
        assert worker.run() == 0
    finally:
        stop.set()
        maintenance.join(timeout=10)

    # Then its heartbeat kept the lease alive: the job ran once, on its first attempt, and succeeded
    assert (tmp_path / "record.txt").read_text().split() == ["long"]
    status = backend.status("default", handle.id)
    assert status is not None and (status.state, status.attempts) == ("succeeded", 1)
    assert len(requeued) >= 20 and set(requeued) == {(0, 0)}


def state_and_attempts(job_id: str) -> tuple[str, int]:
    status = get_backend().status("default", job_id)
    assert status is not None, f"job {job_id} is gone"
    return status.state, status.attempts


@pytest.mark.timeout(40)
@pytest.mark.parametrize("app", ["memory_app", "sqlite_app"])
def test_a_worker_stopped_mid_job_finishes_it_and_releases_what_it_reserved_uncharged(
    app: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a worker warmed up by fast jobs (so it reserves fast jobs in batches), idle in a thread of its own
    request.getfixturevalue(app)
    record = tmp_path / "record.txt"
    monkeypatch.setenv("TASKS_TEST_RECORD", str(record))
    worker = Worker(get_backend(), WorkerSettings(queues=["default"]))
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        with bulk():
            warm = [jobs.record.delay(f"warm{i}").id for i in range(40)]
        wait_until(lambda: {state_and_attempts(i)[0] for i in warm} == {"succeeded"}, timeout=10)

        # When it reserves, in one batch, a 0.5 s job and 10 jobs behind it, and is stopped while the first runs
        with bulk():
            slow = jobs.record_start_and_end.delay("slow", 0.5)
            behind = [jobs.record.delay(f"b{i}").id for i in range(10)]
        wait_until(lambda: "slow:start" in record.read_text().split(), timeout=10, interval=0.002)
        reserved = [i for i in behind if state_and_attempts(i)[0] == "running"]
        worker.stop()
    finally:
        thread.join(timeout=10)

    # Then the running job finished, and every job reserved behind it went back, uncharged, not leased any more
    assert reserved, "no job was reserved behind the running one"
    assert state_and_attempts(slow.id) == ("succeeded", 1)
    assert {state_and_attempts(i) for i in behind} == {("queued", 0)}
    assert get_backend().queue_stats("default").running == 0
    assert not any(r.startswith("b") for r in record.read_text().split())
