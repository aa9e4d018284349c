"""rq: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: ``SimpleWorker`` (runs jobs in the worker process: rq's own performance notes advise it for jobs of
single-digit milliseconds; the default ``Worker`` forks once per job and is several times slower), default
result TTL, ``Queue.enqueue_many`` with ``prepare_data`` for bulk, worker logging at WARNING.
"""

from __future__ import annotations

import sys
import time

import common
import redis
from rq import Queue

QUEUE = "bench"


def noop(flag: int) -> None:
    common.mark(flag)


def rtt(flag: int) -> None:
    common.client().incr(common.COUNT)
    common.mark(flag)


def lat(t0: float) -> None:
    common.client().rpush(common.LATENCIES, repr(time.time() - t0))


def crash() -> None:
    common.client().rpush(common.STARTS, repr(time.time()))
    time.sleep(600)


class Adapter:
    name = "rq"
    settings = (
        "SimpleWorker (no fork per job), 1 process; bulk: Queue.enqueue_many(prepare_data); "
        "crash: default job timeout (180 s), no Retry"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.queue = Queue(QUEUE, connection=redis.Redis.from_url(url))

    def single(self, n: int) -> None:
        for _ in range(n):
            self.queue.enqueue(noop, 0)

    def bulk(self, n: int) -> None:
        self.queue.enqueue_many([Queue.prepare_data(noop, (0,)) for _ in range(n)])

    def fill(self, n: int, body: str) -> None:
        func = noop if body == "noop" else rtt
        for start in range(0, n, 5000):
            batch = range(start, min(n, start + 5000))
            self.queue.enqueue_many([Queue.prepare_data(func, (common.flag_of(i, n),)) for i in batch])

    def send_latency(self) -> None:
        self.queue.enqueue(lat, time.time())

    def send_crash(self) -> None:
        self.queue.enqueue(crash)

    def worker_argv(self) -> list[str]:
        return [sys.executable, "-c", _WORKER, self.url]


_WORKER = """
import logging, sys
import redis
from rq import Queue, SimpleWorker
import bench_rq
connection = redis.Redis.from_url(sys.argv[1])
SimpleWorker([Queue(bench_rq.QUEUE, connection=connection)], connection=connection).work(logging_level="WARNING")
"""


if __name__ == "__main__":
    common.url_from_argv()
    import bench_rq  # the jobs must live in an importable module, not __main__

    common.main(bench_rq.Adapter)
