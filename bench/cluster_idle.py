"""What an idle worker of queues in several slots costs a Redis Cluster, and how fast it wakes, per wait slice.

A cluster refuses one BLPOP over keys of several slots, so such a worker blocks on its highest-priority slot
group for a slice (``cluster.WAKE_SLICE_S``) and looks at its other wake lists between slices. This prints, for
a few slice lengths: the commands per second one idle worker of three queues (on three masters) sends, and the
delay from a dispatch to the worker holding the job, for a job in its highest and in its lowest queue.

    .venv/bin/python bench/cluster_idle.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.backends.redis import cluster  # noqa: E402
from tasks.backends.redis.cluster import ClusterBackend  # noqa: E402
from tasks.config import backend_from_url  # noqa: E402
from tasks.model import NewJob  # noqa: E402
from tests.cluster.conftest import queues_on_every_master  # noqa: E402
from tests.support.redis_cluster import RedisCluster  # noqa: E402

TRIALS = 15


def commands(c: RedisCluster) -> int:
    from tests.support.redis_cluster import _node

    return sum(int(_node(port).info("stats")["total_commands_processed"]) for port in c.masters())


def idle_rate(backend: ClusterBackend, c: RedisCluster, queues: list[str], seconds: float = 5.0) -> float:
    before = commands(c)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        backend.wait_for_jobs(queues, timeout_s=1.0)
    return (commands(c) - before) / seconds


def wake_delay(backend: ClusterBackend, queues: list[str], target: str) -> float:
    got: list[float] = []

    def wait() -> None:
        leases = backend.wait_and_reserve(queues, worker_id="w", clock=time.time, lease_s=30, count=1, timeout_s=10)
        got.extend(time.monotonic() for _ in leases)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    sent, now = time.monotonic(), time.time()
    backend.enqueue(NewJob(f"j{now}", target, "{}", 1, now, None), now=now)
    waiter.join()
    return got[0] - sent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        c = RedisCluster(Path(tmp))
        c.start()
        try:
            backend = backend_from_url(c.url, prefix="idle")
            assert isinstance(backend, ClusterBackend)
            queues = queues_on_every_master(backend, c)
            print("slice s   commands/s (one idle worker, 3 slots)   wake ms: highest queue p50/max   lowest p50/max")
            for slice_s in (0.05, 0.1, 0.25, 0.5):
                cluster.WAKE_SLICE_S = slice_s
                rate = idle_rate(backend, c, queues)
                high = [1000 * wake_delay(backend, queues, queues[0]) for _ in range(TRIALS)]
                low = [1000 * wake_delay(backend, queues, queues[-1]) for _ in range(TRIALS)]
                print(f"{slice_s:<9} {rate:>38.0f}   {statistics.median(high):>14.1f}/{max(high):<6.1f}"
                      f"   {statistics.median(low):>8.1f}/{max(low):.1f}")  # fmt: skip
            rate = idle_rate(backend, c, queues[:1])
            print(f"one queue (one BLPOP for the whole wait): {rate:.0f} commands/s")
        finally:
            c.stop()


if __name__ == "__main__":
    main()
