"""Fixtures shared by every test: backends isolated by a unique key prefix, never by flushing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import tasks.config
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend
from tests.support.redis_cluster import RedisCluster, cluster_tools_available
from tests.support.redis_server import RedisServer

#: The shared Redis the real-server tests use (never flushed: each test owns a prefix).
REDIS_URL = os.environ.get("TASKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def require_redis() -> None:
    """Fail in CI (``CI=true``) and skip elsewhere when no Redis answers."""
    if redis_available():
        return
    message = f"no Redis answers at {REDIS_URL} (start redis-server, or set TASKS_TEST_REDIS_URL)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``rerun_once("why")`` becomes ``flaky(reruns=1)``: the one test that asked gets one more try, reported in
    the summary (a test that fails twice still fails). Every other test runs once. A ``rerun_once`` without a
    reason fails the collection: a rerun must say why the test cannot be made deterministic."""
    missing = [item.nodeid for item in items if (mark := item.get_closest_marker("rerun_once")) and not _reason(mark)]
    if missing:
        raise pytest.UsageError(
            "rerun_once needs a one-line reason, e.g. @pytest.mark.rerun_once(\"starts a pool; a stall can miss a "
            "deadline\"): " + ", ".join(missing)
        )
    if not config.pluginmanager.hasplugin("rerunfailures"):  # ``-p no:rerunfailures``: every test runs once
        return
    for item in items:
        if item.get_closest_marker("rerun_once"):
            item.add_marker(pytest.mark.flaky(reruns=1))


def _reason(mark: pytest.Mark) -> str:
    reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
    return reason.strip() if isinstance(reason, str) and "\n" not in reason.strip() else ""


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards (on the shared Redis, only ours)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    if redis_available():
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return REDIS_URL


@pytest.fixture
def redis_backend(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    yield backend
    backend.close()


@pytest.fixture
def memory_backend(prefix: str) -> Iterator[RedisBackend]:
    backend = RedisBackend.in_memory(f"memory://{prefix}", prefix=prefix)
    yield backend
    backend.close()


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts from default settings, whatever the environment says."""
    for name in ("TASKS_URL", "TASKS_PREFIX", "TASKS_SECRET", "TASKS_APP"):
        monkeypatch.delenv(name, raising=False)
    tasks.config.reset()
    yield
    tasks.config.reset()


@pytest.fixture
def memory_app(prefix: str) -> str:
    """Configure the process for ``memory://`` under the test's prefix; returns the URL."""
    url = f"memory://{prefix}"
    tasks.config.configure(url=url, prefix=prefix)
    return url


@pytest.fixture
def redis_app(redis_url: str, prefix: str) -> str:
    """Configure the process for the real Redis under the test's prefix; returns the URL."""
    tasks.config.configure(url=redis_url, prefix=prefix)
    return redis_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of the test's own (absolute, so worker processes started elsewhere find it too)."""
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def sqlite_backend(sqlite_url: str, prefix: str) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend.from_url(sqlite_url, prefix=prefix)
    yield backend
    backend.close()


@pytest.fixture
def sqlite_app(sqlite_url: str, prefix: str) -> str:
    """Configure the process for a SQLite file of the test's own; returns the URL."""
    tasks.config.configure(url=sqlite_url, prefix=prefix)
    return sqlite_url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (AOF on), for restarts and faults."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A Redis Cluster (3 masters, 3 replicas) for the whole session; skipped without redis-server and
    redis-cli here, a failure in CI (``CI=true``)."""
    if not cluster_tools_available():
        message = "a Redis Cluster needs redis-server and redis-cli on PATH"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
