"""arq: the bench jobs and how to dispatch them (see common.py for the workloads).

Settings: arq's worker defaults (``max_jobs=10``, ``poll_delay=0.5`` s, ``job_timeout=300`` s, results kept
3600 s); arq has no bulk API, so bulk dispatch runs ``enqueue_job`` calls concurrently (``asyncio.gather``,
100 at a time). The job's own round trip uses arq's connection (``ctx["redis"]``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import common
from arq import create_pool
from arq.connections import RedisSettings

QUEUE = "bench"
CONCURRENCY = 100


async def noop(ctx: dict[str, Any], flag: int) -> None:
    if flag:
        await ctx["redis"].set(common.FIRST if flag == 1 else common.LAST, repr(time.time()))


async def rtt(ctx: dict[str, Any], flag: int) -> None:
    await ctx["redis"].incr(common.COUNT)
    await noop(ctx, flag)


async def lat(ctx: dict[str, Any], t0: float) -> None:
    await ctx["redis"].rpush(common.LATENCIES, repr(time.time() - t0))


async def crash(ctx: dict[str, Any]) -> None:
    await ctx["redis"].rpush(common.STARTS, repr(time.time()))
    await asyncio.sleep(600)


class WorkerSettings:
    """What ``arq bench_arq.WorkerSettings`` runs (the URL comes from ``BENCH_URL``)."""

    functions = [noop, rtt, lat, crash]
    queue_name = QUEUE
    redis_settings = RedisSettings.from_dsn(common.bench_url())


class Adapter:
    name = "arq"
    settings = (
        "worker defaults: max_jobs=10, poll_delay=0.5 s, job_timeout=300 s; "
        "bulk: enqueue_job x100 concurrent (no bulk API)"
    )

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))

    def single(self, n: int) -> None:
        async def run() -> None:
            for _ in range(n):
                await self.pool.enqueue_job("noop", 0, _queue_name=QUEUE)

        self.loop.run_until_complete(run())

    def _concurrent(self, name: str, flags: list[int]) -> None:
        async def run() -> None:
            for start in range(0, len(flags), CONCURRENCY):
                await asyncio.gather(
                    *(self.pool.enqueue_job(name, f, _queue_name=QUEUE) for f in flags[start : start + CONCURRENCY])
                )

        self.loop.run_until_complete(run())

    def bulk(self, n: int) -> None:
        self._concurrent("noop", [0] * n)

    def fill(self, n: int, body: str) -> None:
        self._concurrent(body, [common.flag_of(i, n) for i in range(n)])

    def send_latency(self) -> None:
        async def run() -> None:
            await self.pool.enqueue_job("lat", time.time(), _queue_name=QUEUE)

        self.loop.run_until_complete(run())

    def send_crash(self) -> None:
        self.loop.run_until_complete(self.pool.enqueue_job("crash", _queue_name=QUEUE))

    def worker_argv(self) -> list[str]:
        return [sys.executable, "-m", "arq", "bench_arq.WorkerSettings"]


if __name__ == "__main__":
    common.url_from_argv()
    import bench_arq  # the jobs must live in an importable module, not __main__

    common.main(bench_arq.Adapter)
