"""Redis going away does not kill the pool, and what finished meanwhile is reported when it is back."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

import tasks.config
from tasks import bulk, queue
from tasks.backends.redis import RedisBackend
from tests import jobs
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.worker.conftest import Inspector, Pools, duplicates, records, wait_for_workers

pytestmark = [pytest.mark.redis]


@pytest.fixture
def own_pools(own_redis: RedisServer, prefix: str, tmp_path: Path, record_file: Path) -> Iterator[Pools]:
    """Pools on the test's own redis-server, which the test stops and starts."""
    tasks.config.configure(url=own_redis.url, prefix=prefix)
    started = Pools(own_redis.url, prefix, tmp_path, record_file)
    yield started
    started.cleanup()


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("restarts a redis-server under a real pool; reconnection is wall-clock timed")
def test_the_pool_survives_a_redis_restart_and_reports_outcomes_reached_while_it_was_down(
    own_redis: RedisServer, own_pools: Pools
) -> None:
    inspector = Inspector(cast(RedisBackend, tasks.config.get_backend()))
    # Given a pool of 4 running three 1.5 s jobs: one will succeed, one fail and retry, one fail for good
    pool = own_pools.start("--concurrency", "4", "--lease", "10")
    ok = jobs.outage_job.delay("ok", 1.5)
    flaky = jobs.outage_job.delay("flaky", 1.5, fail_attempts=1)
    doomed = jobs.outage_job.with_options(max_attempts=1).delay("doomed", 1.5, fail_attempts=1)
    outage = [ok.id, flaky.id, doomed.id]
    wait_until(lambda: inspector.states(outage)["running"] == 3, timeout=20, interval=0.02)
    # ... and a stream of 400 short jobs
    with bulk():
        stream = [jobs.chaos_record.delay(f"s{i}", 0.01).id for i in range(400)]

    # When Redis stops while the three jobs run, and starts again once they have ended
    own_redis.stop()
    wait_until(lambda: {"ok:1", "flaky:1", "doomed:1"} <= set(records(own_pools.record)), timeout=20, interval=0.02)
    wait_until(lambda: "backend unavailable" in pool.log_text(), timeout=20, interval=0.05)
    own_redis.start()

    # Then every job completes, and each outcome reached during the outage was written, not lost:
    # the success was not run again, the retry came from the failure (not a lease), the failure is its own
    wait_until(lambda: inspector.all_in(stream, "succeeded"), timeout=60, interval=0.1, message="stream done")
    wait_until(lambda: ok.status() == "succeeded" and flaky.status() == "succeeded", timeout=30, interval=0.05)
    assert doomed.status() == "failed"
    [failed] = [r for r in queue("default").failed() if r.id == doomed.id]
    assert (failed.error_type, failed.attempts) == ("ValueError", 1)
    assert [a for (a,) in inspector.fields([ok.id, flaky.id], "attempts")] == ["1", "2"]
    assert sorted(r for r in records(own_pools.record) if ":" in r) == ["doomed:1", "flaky:1", "flaky:2", "ok:1"]
    assert len([r for r in records(own_pools.record) if r.startswith("s")]) >= 400

    # And the pool lived through it: the same 4 processes, none restarted
    assert pool.process.poll() is None
    log = pool.log_text()
    assert len(re.findall(r"worker process \d+ started", log)) == 4, log
    assert "died" not in log and "exited with code" not in log and "killed by" not in log
    print(f"\nRedis restart: 403 jobs done, {len(duplicates(own_pools.record))} stream job(s) ran twice")


@pytest.mark.timeout(90)
@pytest.mark.rerun_once("restarts a redis-server under a real pool; reconnection is wall-clock timed")
def test_a_worker_process_killed_while_redis_is_down_has_its_job_settled_when_redis_is_back(
    own_redis: RedisServer, own_pools: Pools
) -> None:
    backend = cast(RedisBackend, tasks.config.get_backend())
    inspector = Inspector(backend)
    # Given a pool with a 10 s lease whose process runs a 3 s job
    pool = own_pools.start("--concurrency", "1", "--lease", "10")
    [child] = wait_for_workers(backend, pool, 1)
    victim = jobs.record_start_and_end.delay("k", 3)
    wait_until(lambda: "k:start" in records(own_pools.record), timeout=10, interval=0.01)

    # When Redis stops, the process is killed, and the supervisor fails to write that attempt's failure
    own_redis.stop()
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: "was killed by SIGKILL" in pool.log_text(), timeout=10, interval=0.02)
    wait_until(lambda: "supervisor: backend unavailable" in pool.log_text(), timeout=20, interval=0.05)
    own_redis.start()
    back = time.monotonic()

    # Then, once Redis is back, the supervisor writes it (well before the 10 s lease would have): retried, then done
    wait_until(lambda: victim.status() == "succeeded", timeout=30, interval=0.05)
    assert time.monotonic() - back < 10
    attempts, error = inspector.fields([victim.id], "attempts", "error")[0]
    assert attempts == "2" and error is not None and "WorkerCrashed" in error
    assert records(own_pools.record) == ["k:start", "k:start", "k:end"]
    assert pool.process.poll() is None
