"""tasks: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: the library's defaults (JSON payloads, result kept one day, worker prefetch 400, lease 30 s);
the worker is ``python -m tasks worker`` with ``--log-level warning``.
"""

from __future__ import annotations

import sys
import time

import common

import tasks

QUEUE = "bench"


@tasks.job(name="bench.noop", queue=QUEUE)
def noop(flag: int) -> None:
    common.mark(flag)


@tasks.job(name="bench.rtt", queue=QUEUE)
def rtt(flag: int) -> None:
    common.client().incr(common.COUNT)
    common.mark(flag)


@tasks.job(name="bench.lat", queue=QUEUE)
def lat(t0: float) -> None:
    common.client().rpush(common.LATENCIES, repr(time.time() - t0))


@tasks.job(name="bench.crash", queue=QUEUE)
def crash() -> None:
    common.client().rpush(common.STARTS, repr(time.time()))
    time.sleep(600)


class Adapter:
    name = "tasks"
    settings = (
        "defaults (JSON, prefetch 400, lease 30 s, scheduler on); `python -m tasks worker --concurrency 1` "
        "(a supervisor and one worker process)"
    )

    def __init__(self, url: str) -> None:
        tasks.configure(url=url)

    def single(self, n: int) -> None:
        for _ in range(n):
            noop.delay(0)

    def bulk(self, n: int) -> None:
        with tasks.bulk():
            for _ in range(n):
                noop.delay(0)

    def fill(self, n: int, body: str) -> None:
        """``body`` "noop", "rtt", or "ticks" (no-ops that count progress by the thousand, for the memory run)."""
        job = rtt if body == "rtt" else noop
        for start in range(0, n, 5000):
            with tasks.bulk():
                for i in range(start, min(n, start + 5000)):
                    job.delay(common.flag_of(i, n, ticks=body == "ticks"))

    def send_latency(self) -> None:
        lat.delay(time.time())

    def send_crash(self) -> None:
        crash.delay()

    def worker_argv(self) -> list[str]:
        url = tasks.config.settings().url
        return [
            sys.executable,
            "-m",
            "tasks",
            "worker",
            "bench_tasks",
            "--url",
            url,
            "--queues",
            QUEUE,
            "--log-level",
            "warning",
            "--concurrency",
            "1",
        ]


if __name__ == "__main__":
    common.url_from_argv()
    import bench_tasks  # the jobs must live in an importable module, not __main__

    common.main(bench_tasks.Adapter)
