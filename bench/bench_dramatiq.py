"""dramatiq: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: ``RedisBroker`` defaults (heartbeat_timeout 60 s, maintenance_chance 1000 per million), worker
``--processes 1`` with the default 8 threads and prefetch; no bulk API, so bulk dispatch is
``group(...).run()``, the documented way to send many messages; ``max_retries=0`` on the no-op actors does
not matter (they never fail); the crash actor keeps the defaults.
"""

from __future__ import annotations

import sys
import time

import common
import dramatiq
from dramatiq.brokers.redis import RedisBroker

QUEUE = "bench"

broker = RedisBroker(url=common.bench_url())
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE)
def noop(flag: int) -> None:
    common.mark(flag)


@dramatiq.actor(queue_name=QUEUE)
def rtt(flag: int) -> None:
    common.client().incr(common.COUNT)
    common.mark(flag)


@dramatiq.actor(queue_name=QUEUE)
def lat(t0: float) -> None:
    common.client().rpush(common.LATENCIES, repr(time.time() - t0))


@dramatiq.actor(queue_name=QUEUE, time_limit=3_600_000)
def crash() -> None:
    common.client().rpush(common.STARTS, repr(time.time()))
    time.sleep(600)


class Adapter:
    name = "dramatiq"
    settings = "RedisBroker defaults; worker --processes 1 (8 threads, default prefetch); bulk: group(...).run()"

    def __init__(self, url: str) -> None:
        self.url = url

    def single(self, n: int) -> None:
        for _ in range(n):
            noop.send(0)

    def bulk(self, n: int) -> None:
        dramatiq.group(noop.message(0) for _ in range(n)).run()

    def fill(self, n: int, body: str) -> None:
        actor = noop if body == "noop" else rtt
        dramatiq.group(actor.message(common.flag_of(i, n)) for i in range(n)).run()

    def send_latency(self) -> None:
        lat.send(time.time())

    def send_crash(self) -> None:
        crash.send()

    def worker_argv(self) -> list[str]:
        return [sys.executable, "-m", "dramatiq", "bench_dramatiq", "--processes", "1", "--queues", QUEUE]


if __name__ == "__main__":
    common.url_from_argv()
    import bench_dramatiq  # the jobs must live in an importable module, not __main__

    common.main(bench_dramatiq.Adapter)
