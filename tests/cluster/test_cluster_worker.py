"""Workers on a Redis Cluster: queues spread over every master, served in priority order, each job once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tasks import bulk
from tasks.backends.redis.cluster import WAKE_SLICE_S, ClusterBackend
from tests import jobs
from tests.cluster.conftest import queues_on_every_master
from tests.contract.conftest import new_job
from tests.support.redis_cluster import RedisCluster
from tests.worker.conftest import Pools, duplicates, records


@pytest.mark.timeout(60)
def test_a_reserve_over_several_slots_keeps_strict_priority(
    cluster_backend: ClusterBackend, redis_cluster: RedisCluster
) -> None:
    # Given three queues on three different masters, highest priority first, with 2 jobs each
    high, mid, low = queues_on_every_master(cluster_backend, redis_cluster)
    now = time.time()
    for queue in (low, mid, high):
        for i in range(2):
            assert cluster_backend.enqueue(new_job(queue, f"{queue}-{i}", now=now), now=now)

    # When a worker of the three takes 3, then 3 more
    first = cluster_backend.reserve([high, mid, low], worker_id="w", now=now, lease_s=30, count=3)
    second = cluster_backend.reserve([high, mid, low], worker_id="w", now=now, lease_s=30, count=3)

    # Then the higher queues are emptied before a lower one is touched, as on one Redis
    assert [lease.queue for lease in first] == [high, high, mid]
    assert [lease.queue for lease in second] == [mid, low, low]


@pytest.mark.timeout(60)
def test_an_idle_worker_of_several_slots_wakes_for_a_job_in_its_lowest_queue(
    cluster_backend: ClusterBackend, redis_cluster: RedisCluster
) -> None:
    # Given a worker waiting on three queues of three masters
    high, mid, low = queues_on_every_master(cluster_backend, redis_cluster)
    got: list[float] = []

    def wait() -> None:
        leases = cluster_backend.wait_and_reserve(
            [high, mid, low], worker_id="w", clock=time.time, lease_s=30, count=1, timeout_s=20
        )
        got.extend(time.monotonic() for _ in leases)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(3 * WAKE_SLICE_S)  # the waiter is blocked (a late start only makes the wake-up look faster)

    # When a job arrives in the lowest queue
    sent = time.monotonic()
    now = time.time()
    cluster_backend.enqueue(new_job(low, "late", now=now), now=now)
    waiter.join(timeout=25)

    # Then the worker holds it within a slice or so, not at the end of its 20 s wait
    assert len(got) == 1
    assert got[0] - sent < 2.0


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("starts a pool of processes on a cluster; a stall of the shared machine can miss a deadline")
def test_a_pool_drains_queues_spread_over_every_master_running_each_job_once(
    cluster_pools: Pools, cluster_backend: ClusterBackend, redis_cluster: RedisCluster
) -> None:
    # Given 600 jobs over six queues, two on each master
    queues = queues_on_every_master(cluster_backend, redis_cluster, per_master=2)
    with bulk():
        for i in range(600):
            jobs.record.on(queues[i % len(queues)]).delay(f"k{i}")

    # When a pool of 2 processes serves the six queues in burst mode
    pool = cluster_pools.start("--concurrency", "2", "--queues", ",".join(queues), "--burst")

    # Then it exits 0 with every job run exactly once, none left anywhere
    assert pool.wait(timeout=90) == 0, pool.log_text()
    ran = records(cluster_pools.record)
    assert len(ran) == 600 and not duplicates(cluster_pools.record)
    stats = [cluster_backend.queue_stats(queue) for queue in queues]
    assert Counter((s.ready, s.scheduled, s.running, s.failed) for s in stats) == Counter({(0, 0, 0, 0): 6})
