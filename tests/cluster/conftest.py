"""Fixtures of the Redis Cluster suite: pools of real processes on the session's cluster (tests/conftest.py).

Each test owns a key prefix on the cluster; the cluster itself is the session's (started once, torn down at
the end), except where a test kills a node: that test starts a cluster of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tasks.config
from tasks.backends.redis.cluster import ClusterBackend
from tasks.config import backend_from_url
from tests.support.redis_cluster import RedisCluster
from tests.worker.conftest import Pools


def queues_on_every_master(backend: ClusterBackend, cluster: RedisCluster, per_master: int = 1) -> list[str]:
    """Queue names whose slots lie on each master of ``cluster`` in turn (``per_master`` names per master)."""
    owners = _slot_owners(cluster)
    found: dict[int, list[str]] = {port: [] for port in set(owners.values())}
    for i in range(10_000):
        name = f"q{i}"
        port = next(p for (low, high), p in owners.items() if low <= backend.slot(name) <= high)
        if len(found[port]) < per_master:
            found[port].append(name)
        if all(len(names) == per_master for names in found.values()):
            break
    return [name for i in range(per_master) for names in found.values() for name in names[i : i + 1]]


def _slot_owners(cluster: RedisCluster) -> dict[tuple[int, int], int]:
    client = backend_from_url(cluster.url, prefix="probe")
    assert isinstance(client, ClusterBackend)
    shards = client.client.cluster_slots()  # {(low, high): {"primary": (host, port), ...}}
    client.close()
    return {tuple(map(int, span)): int(owner["primary"][1]) for span, owner in shards.items()}


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster, prefix: str) -> str:
    tasks.config.configure(url=redis_cluster.url, prefix=prefix)
    return redis_cluster.url


@pytest.fixture
def cluster_backend(cluster_url: str, prefix: str) -> Iterator[ClusterBackend]:
    backend = backend_from_url(cluster_url, prefix=prefix)
    assert isinstance(backend, ClusterBackend)
    yield backend
    backend.close()


@pytest.fixture
def cluster_pools(cluster_url: str, prefix: str, tmp_path: Path) -> Iterator[Pools]:
    started = Pools(cluster_url, prefix, tmp_path, tmp_path / "record.txt")
    yield started
    started.cleanup()
