"""A Redis that lost its script cache (a restart, SCRIPT FLUSH) answers NOSCRIPT: the backend loads them again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from tasks import BackendUnavailable
from tasks.backends.redis import RedisBackend
from tasks.model import ErrorInfo, NewJob
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def new_job(job_id: str, queue: str = "default") -> NewJob:
    return NewJob(id=job_id, queue=queue, payload='{"v":1}', max_attempts=3, enqueued_at=time.time())


@pytest.fixture
def backend(own_redis: RedisServer, prefix: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(own_redis.url, prefix=prefix)
    yield backend
    backend.close()


@pytest.fixture
def admin(own_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_redis.url)
    yield client
    client.close()


def test_enqueue_and_reserve_work_after_script_flush(backend: RedisBackend, admin: redis.Redis) -> None:
    # Given a backend that has already run its scripts
    assert backend.enqueue(new_job("before"), now=time.time())
    assert admin.script_exists(backend.scripts.shas["enqueue"]) == [True]

    # When the server forgets every script
    admin.script_flush()
    assert admin.script_exists(backend.scripts.shas["enqueue"]) == [False]

    # Then enqueue (a pipelined call) and reserve still work, each exactly once
    assert backend.enqueue(new_job("after"), now=time.time())
    admin.script_flush()
    leases = backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30, count=10)
    assert [lease.job_id for lease in leases] == ["before", "after"]
    assert [lease.attempt for lease in leases] == [1, 1]
    assert backend.queue_stats("default").ready == 0


def test_single_script_calls_reload_too(backend: RedisBackend, admin: redis.Redis) -> None:
    # Given a reserved job
    backend.enqueue(new_job("j1"), now=time.time())
    [lease] = backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)

    # When the cache is flushed before the job's outcome is written (a direct EVALSHA, not a pipeline)
    admin.script_flush()

    # Then the transition happens once
    assert backend.fail(lease, error=ErrorInfo("ValueError", "boom"), now=time.time())
    assert backend.queue_stats("default").failed == 1
    admin.script_flush()
    assert backend.retry_failed("default", now=time.time()) == 1
    assert backend.queue_stats("default").ready == 1


def test_the_worker_hot_path_survives_a_flush_between_jobs(backend: RedisBackend, admin: redis.Redis) -> None:
    # Given a job acknowledged in the same round trip as the next reserve
    backend.enqueue_many([new_job("a"), new_job("b")], now=time.time())
    [first] = backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)

    # When the cache is flushed before that combined call
    admin.script_flush()
    done, [second] = backend.complete_and_reserve(
        [(first, "1", 60.0)], ["default"], worker_id="w", now=time.time(), lease_s=30, count=5
    )

    # Then the first job completed once and the second was reserved once
    assert done == [True]
    assert second.job_id == "b" and second.attempt == 1
    status = backend.status("default", "a")
    assert status is not None and status.state == "succeeded" and status.result == "1"


def test_scripts_survive_a_real_restart(own_redis: RedisServer, backend: RedisBackend) -> None:
    # Given a job stored before the server restarts (AOF keeps it; the script cache does not survive)
    backend.enqueue(new_job("kept"), now=time.time())
    own_redis.restart()

    # When the backend reserves after the restart, Then the scripts are loaded again and the job comes out
    def reserve() -> list[str]:
        try:
            return [x.job_id for x in backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)]
        except BackendUnavailable:  # the pool's old connections may fail once after a restart
            return []

    assert wait_until(reserve, timeout=10) == ["kept"]
