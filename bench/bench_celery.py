"""celery: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: Redis broker, no result backend (celery's default), ``worker_prefetch_multiplier=128`` (celery's
optimising guide: "lots of short tasks ... say 64, or 128"), the ``solo`` pool (one process: the job runs
in the consumer), acks on receipt (celery's default ``task_acks_late=False``), logging at WARNING;
bulk dispatch through one producer (``app.producer_or_acquire()``), celery's documented way to send many.
"""

from __future__ import annotations

import sys
import time

import common
from celery import Celery

QUEUE = "bench"

app = Celery("bench_celery", broker=common.bench_url())
app.conf.update(worker_prefetch_multiplier=128, task_default_queue=QUEUE, worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop(flag: int) -> None:
    common.mark(flag)


@app.task(name="bench.rtt")
def rtt(flag: int) -> None:
    common.client().incr(common.COUNT)
    common.mark(flag)


@app.task(name="bench.lat")
def lat(t0: float) -> None:
    common.client().rpush(common.LATENCIES, repr(time.time() - t0))


@app.task(name="bench.crash")
def crash() -> None:
    common.client().rpush(common.STARTS, repr(time.time()))
    time.sleep(600)


class Adapter:
    name = "celery"
    settings = (
        "Redis broker, no result backend, pool solo (1 process), worker_prefetch_multiplier=128, "
        "acks on receipt (default); bulk: one producer for all apply_async calls"
    )

    def __init__(self, url: str) -> None:
        self.url = url

    def single(self, n: int) -> None:
        for _ in range(n):
            noop.delay(0)

    def bulk(self, n: int) -> None:
        with app.producer_or_acquire() as producer:
            for _ in range(n):
                noop.apply_async((0,), producer=producer)

    def fill(self, n: int, body: str) -> None:
        task = noop if body == "noop" else rtt
        with app.producer_or_acquire() as producer:
            for i in range(n):
                task.apply_async((common.flag_of(i, n),), producer=producer)

    def send_latency(self) -> None:
        lat.delay(time.time())

    def send_crash(self) -> None:
        crash.delay()

    def worker_argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench_celery",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--queues",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]


if __name__ == "__main__":
    common.url_from_argv()
    import bench_celery  # the jobs must live in an importable module, not __main__

    common.main(bench_celery.Adapter)
