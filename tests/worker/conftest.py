"""Fixtures of the production-worker suite: real pools in real processes, and ways to look inside Redis.

Every pool is ``python -m tasks worker tests.jobs ...`` started in a session of its own, so a test can
signal the supervisor alone (``os.kill``) or the supervisor with its children (``signal_session``: each
worker process leads a process group of its own); whatever a test leaves running is killed at teardown.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

import tasks.config
from tasks import bulk
from tasks.backends.base import Backend
from tasks.backends.redis import RedisBackend
from tasks.backends.redis.keys import Keys
from tasks.config import backend_from_url
from tasks.model import JobStatus
from tests import jobs
from tests.conftest import REDIS_URL, require_redis
from tests.support.processes import kill_session, signal_session, start_tasks
from tests.support.waiting import wait_until


@dataclass
class Pool:
    """A running ``python -m tasks worker`` and its log file."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL the supervisor and every worker process at once: a machine losing power, as far as we know."""
        kill_session(self.pid)

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to the supervisor and every worker process (SIGSTOP: a paused VM)."""
        signal_session(self.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)


class Pools:
    """Starts pools for one test, under its URL and prefix, and kills whatever is left at teardown."""

    def __init__(self, url: str, prefix: str, directory: Path, record: Path) -> None:
        self.url, self.prefix, self.directory, self.record = url, prefix, directory, record
        self.started: list[Pool] = []

    def start(self, *args: str, url: str | None = None, **env: str) -> Pool:
        """``python -m tasks worker tests.jobs ARGS`` with ``env`` added to its environment (``TASKS_SECRET``)."""
        log = self.directory / f"pool-{len(self.started)}.log"
        process = start_tasks(
            ["worker", "tests.jobs", *args],
            url=url or self.url,
            prefix=self.prefix,
            log=log,
            TASKS_TEST_RECORD=str(self.record),
            **env,
        )
        pool = Pool(process, log)
        self.started.append(pool)
        return pool

    def cleanup(self) -> None:
        for pool in self.started:
            kill_session(pool.pid)
            pool.process.wait(timeout=10)


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    return tmp_path / "record.txt"


@pytest.fixture
def pools(redis_app: str, prefix: str, tmp_path: Path, record_file: Path) -> Iterator[Pools]:
    """Pools on the shared Redis under this test's prefix (the test process is configured the same way)."""
    started = Pools(redis_app, prefix, tmp_path, record_file)
    yield started
    started.cleanup()


def records(path: Path) -> list[str]:
    """Every line jobs recorded, one per run (a job that ran twice appears twice)."""
    return path.read_text().split() if path.exists() else []


def duplicates(path: Path) -> dict[str, int]:
    return {key: n for key, n in Counter(records(path)).items() if n > 1}


class Inspector:
    """Reads job hashes and queue keys straight from Redis, as the wire protocol lays them out."""

    def __init__(self, backend: RedisBackend, queue: str = "default") -> None:
        self.client: redis.Redis = backend.client
        self.keys = Keys(backend.keys.prefix).queue(queue)

    def fields(self, ids: Sequence[str], *names: str) -> list[list[str | None]]:
        pipe = self.client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(self.keys.job(job_id), list(names))
        return list(pipe.execute())

    def states(self, ids: Sequence[str]) -> Counter[str]:
        return Counter(str(state) for (state,) in self.fields(ids, "state"))

    def all_in(self, ids: Sequence[str], state: str) -> bool:
        return self.states(ids) == Counter({state: len(ids)})

    def leased(self) -> list[str]:
        return list(self.client.zrange(self.keys.leases, 0, -1))

    def held_by(self, pids: Iterable[int]) -> list[str]:
        """Ids of the leased jobs whose lease was taken by one of the processes ``pids``."""
        ids = self.leased()
        wanted = {str(pid) for pid in pids}
        return [i for i, (worker,) in zip(ids, self.fields(ids, "worker")) if worker and worker.split(":")[1] in wanted]


@pytest.fixture
def inspector(redis_backend: RedisBackend) -> Inspector:
    return Inspector(redis_backend)


@dataclass
class Site:
    """Pools on one backend (``kind``: ``redis`` or ``sqlite``), seen through the ``Backend`` contract only, so
    that one test asserts the same promise on both: states and attempts come from ``status``."""

    kind: str
    backend: Backend
    pools: Pools
    queue: str = "default"

    def statuses(self, ids: Sequence[str]) -> list[JobStatus | None]:
        return [self.backend.status(self.queue, job_id) for job_id in ids]

    def states(self, ids: Sequence[str]) -> Counter[str]:
        return Counter(str(s.state) if s else "gone" for s in self.statuses(ids))

    def all_in(self, ids: Sequence[str], state: str) -> bool:
        return self.states(ids) == Counter({state: len(ids)})

    def attempts(self, ids: Sequence[str]) -> list[int | None]:
        return [s.attempts if s else None for s in self.statuses(ids)]

    def running(self) -> int:
        """Jobs leased now, by any process."""
        return self.backend.queue_stats(self.queue).running


@pytest.fixture(params=["redis", "sqlite"])
def site(request: pytest.FixtureRequest, prefix: str, tmp_path: Path, record_file: Path) -> Iterator[Site]:
    """Pools on the shared Redis (under this test's prefix) or on a SQLite file of the test's own; this process
    is configured the same way, so ``delay()`` reaches them."""
    if request.param == "redis":
        require_redis()
        url = REDIS_URL
    else:
        url = f"sqlite:///{tmp_path / 'tasks.db'}"
    tasks.config.configure(url=url, prefix=prefix)
    backend = backend_from_url(url, prefix=prefix)
    started = Pools(url, prefix, tmp_path, record_file)
    yield Site(request.param, backend, started)
    started.cleanup()
    backend.close()


def one_warm_process(site: Site, *flags: str) -> tuple[Pool, int]:
    """A pool of one worker process that has run 40 fast jobs (so it batches them) and is idle now."""
    pool = site.pools.start("--concurrency", "1", *flags)
    [child] = wait_for_workers(site.backend, pool, 1)
    with bulk():
        warm = [jobs.record.delay(f"warm{i}").id for i in range(40)]
    wait_until(lambda: site.all_in(warm, "succeeded"), timeout=30, interval=0.05, message="warmed up")
    return pool, child


def not_begun(site: Site, ids: list[str]) -> list[str]:
    """Of ``ids`` (record jobs keyed ``b<i>``), those leased now that have not recorded anything yet."""
    ran = set(records(site.pools.record))
    return [job_id for job_id, state in zip(ids, site.statuses(ids)) if state and state.state == "running"
            and f"b{ids.index(job_id)}" not in ran]


def worker_pids(backend: Backend, supervisor_pid: int) -> list[int]:
    """Pids of the live worker processes of one supervisor, as they announce themselves."""
    return sorted(
        w.pid for w in backend.workers(now=time.time()) if w.extra.get("supervisor_pid") == supervisor_pid
    )


def wait_for_workers(backend: Backend, pool: Pool, count: int, timeout: float = 20) -> list[int]:
    return wait_until(
        lambda: (pids if len(pids := worker_pids(backend, pool.pid)) == count else None),
        timeout=timeout,
        interval=0.05,
        message=f"{count} worker processes of supervisor {pool.pid} registered",
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def timed(action: Callable[[], object]) -> float:
    began = time.monotonic()
    action()
    return time.monotonic() - began
