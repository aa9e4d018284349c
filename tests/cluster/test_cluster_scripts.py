"""Scripts on a Redis Cluster: a node that lost its scripts (a promoted replica, a node a reshard added) gets them
again, and only the calls it refused are sent again, so a dispatch answers as if nothing had happened."""

from __future__ import annotations

import time

import pytest

from tasks.backends.redis.cluster import ClusterBackend
from tests.cluster.conftest import queues_on_every_master
from tests.contract.conftest import new_job
from tests.support.redis_cluster import RedisCluster


@pytest.mark.timeout(60)
def test_a_node_that_lost_its_scripts_gets_them_and_only_its_calls_are_sent_again(
    cluster_backend: ClusterBackend, redis_cluster: RedisCluster
) -> None:
    # Given three queues on three masters, used once (every master has the scripts)
    queues = queues_on_every_master(cluster_backend, redis_cluster)
    now = time.time()
    assert cluster_backend.enqueue_many([new_job(q, f"warm-{q}", now=now) for q in queues], now=now) == [True] * 3

    # When the master of the second queue loses its scripts
    node = cluster_backend.client.get_node_from_key(cluster_backend.queue_keys(queues[1]).ready)
    cluster_backend.client.execute_command("SCRIPT FLUSH", target_nodes=node)

    # Then a dispatch over the three queues stores each job once and says so (a call resent to a master that
    # had run it would answer "already there": False)
    jobs = [new_job(q, f"{q}-{i}", now=now) for q in queues for i in range(3)]
    assert cluster_backend.enqueue_many(jobs, now=now) == [True] * 9
    assert [cluster_backend.queue_stats(q).ready for q in queues] == [4, 4, 4]

    # And the next reserve over the three, through the reloaded node, takes in priority order
    leases = cluster_backend.reserve(queues, worker_id="w", now=now, lease_s=30, count=12)
    assert [lease.queue for lease in leases] == [q for q in queues for _ in range(4)]
