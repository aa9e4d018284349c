"""huey: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: ``RedisHuey`` defaults (blocking dequeue with ``BRPOP``, results stored when not None), consumer
``-w 1 -k thread`` (one worker thread in one process), logging at WARNING. huey has no bulk API: bulk
dispatch is the same loop of calls. Dequeue is destructive (``BRPOP``): a killed worker's job is lost.
"""

from __future__ import annotations

import sys
import time

import common
from huey import RedisHuey

huey = RedisHuey("bench", url=common.bench_url())


@huey.task()
def noop(flag: int) -> None:
    common.mark(flag)


@huey.task()
def rtt(flag: int) -> None:
    common.client().incr(common.COUNT)
    common.mark(flag)


@huey.task()
def lat(t0: float) -> None:
    common.client().rpush(common.LATENCIES, repr(time.time() - t0))


@huey.task()
def crash() -> None:
    common.client().rpush(common.STARTS, repr(time.time()))
    time.sleep(600)


class Adapter:
    name = "huey"
    settings = "RedisHuey defaults (blocking BRPOP); consumer -w 1 -k thread; no bulk API (bulk = the same loop)"

    def __init__(self, url: str) -> None:
        self.url = url

    def single(self, n: int) -> None:
        for _ in range(n):
            noop(0)

    def bulk(self, n: int) -> None:
        self.single(n)

    def fill(self, n: int, body: str) -> None:
        task = noop if body == "noop" else rtt
        for i in range(n):
            task(common.flag_of(i, n))

    def send_latency(self) -> None:
        lat(time.time())

    def send_crash(self) -> None:
        crash()

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "from huey.bin.huey_consumer import consumer_main; consumer_main()",
            "bench_huey.huey",
            "-w",
            "1",
            "-k",
            "thread",
            "-q",
        ]


if __name__ == "__main__":
    common.url_from_argv()
    import bench_huey  # the jobs must live in an importable module, not __main__

    common.main(bench_huey.Adapter)
