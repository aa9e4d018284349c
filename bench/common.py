"""What every library's bench script shares: the workloads, their markers in Redis, and worker processes.

Each ``bench_<library>.py`` defines the same four jobs (``noop``, ``rtt``, ``lat``, ``crash``) in that
library's idiom and an ``Adapter`` that dispatches them; ``main()`` here runs one workload with it and prints
one JSON line for the runner. Jobs leave their traces under ``bench:*`` keys of the database the runner gives
(``BENCH_URL``), which nothing else uses: the runner's own redis-server, flushed before every workload.

Marks: every drain job carries an int ``mark``: 1 for the first job enqueued, 2 for the last, 0 otherwise.
The first and last jobs record when they ran, so a drain is timed from the first job's start to the last
job's end inside the worker, with its start-up excluded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import redis

BENCH_DIR = Path(__file__).resolve().parent
LOG_DIR = BENCH_DIR / "results"

FIRST, LAST, COUNT, LATENCIES, STARTS = "bench:first", "bench:last", "bench:count", "bench:lat", "bench:starts"

_client: redis.Redis | None = None


#: Where a script points when no ``--url`` is given: a port nothing listens on, never a shared Redis.
NOWHERE = "redis://127.0.0.1:1/0"


def url_from_argv(argv: Sequence[str] | None = None) -> str:
    """Put ``--url`` into ``BENCH_URL`` before a library module that connects at import time is imported."""
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[args.index("--url") + 1] if "--url" in args[:-1] else NOWHERE
    os.environ["BENCH_URL"] = url
    return url


def bench_url() -> str:
    return os.environ.get("BENCH_URL") or NOWHERE


def client() -> redis.Redis:
    """The jobs' own connection to the bench database (one per process, made on first use)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(bench_url())
    return _client


def mark(flag: int) -> None:
    """Record the first job's start (1), the last job's end (2), or progress by a thousand jobs (3); 0: nothing."""
    if flag == 3:
        client().incrby(COUNT, TICK)
    elif flag:
        client().set(FIRST if flag == 1 else LAST, repr(time.time()))


#: Jobs per progress tick in the memory run (its jobs are no-ops, so progress is counted by the thousand).
TICK = 1000


def flag_of(i: int, n: int, *, ticks: bool = False) -> int:
    if i == 0:
        return 1
    if i == n - 1:
        return 2
    return 3 if ticks and (i + 1) % TICK == 0 else 0


class Adapter(Protocol):
    """One library's way of dispatching the bench jobs and of starting its worker."""

    name: str
    #: The settings used, as the report states them.
    settings: str

    def single(self, n: int) -> None:
        """Dispatch ``n`` no-op jobs one call at a time (the call a user writes)."""

    def bulk(self, n: int) -> None:
        """Dispatch ``n`` no-op jobs through the library's bulk API (or its documented way to send many)."""

    def fill(self, n: int, body: str) -> None:
        """Queue ``n`` jobs of ``body`` ("noop" or "rtt") with their marks, as fast as the library allows."""

    def send_latency(self) -> None:
        """Dispatch one ``lat`` job carrying ``time.time()`` read just before the dispatch call."""

    def send_crash(self) -> None:
        """Dispatch one ``crash`` job (it records its start and then sleeps far longer than the test)."""

    def worker_argv(self) -> list[str]:
        """The command that runs one worker process of this library on the bench queue."""


# --- worker processes ------------------------------------------------------------------------------------------


class WorkerProcess:
    """A worker started in its own process group, so that its children stop (or die) with it."""

    def __init__(self, adapter: Adapter, url: str, tag: str = "") -> None:
        env = dict(os.environ, BENCH_URL=url, PYTHONPATH=str(BENCH_DIR), PYTHONUNBUFFERED="1")
        LOG_DIR.mkdir(exist_ok=True)
        self.log = open(LOG_DIR / f"worker-{adapter.name}{tag}.log.tmp", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            adapter.worker_argv(),
            cwd=BENCH_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the whole group: the worker gets no chance to tidy up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self, timeout: float = 10.0) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def rss_kib(self) -> int:
        """Resident memory of every process in the worker's group, in KiB."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.process.pid:  # pgrp
                    total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            except (OSError, IndexError, ValueError):
                continue
        return total


def wait_for(condition: Callable[[], Any], timeout: float, interval: float = 0.002) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


# --- workloads -------------------------------------------------------------------------------------------------


def enqueue_rate(adapter: Adapter, r: redis.Redis, n: int, *, bulk: bool) -> dict[str, Any]:
    started = time.perf_counter()
    (adapter.bulk if bulk else adapter.single)(n)
    elapsed = time.perf_counter() - started
    return {"rate": n / elapsed}


def drain(adapter: Adapter, r: redis.Redis, url: str, n: int, body: str, *, rss: bool = False) -> dict[str, Any]:
    """Fill the queue, start one worker, time the first start to the last end (``rss``: sample memory too)."""
    adapter.fill(n, body)
    worker = WorkerProcess(adapter, url)
    samples: list[tuple[int, int]] = []
    try:
        deadline = time.monotonic() + max(120.0, n / 500)
        while not r.exists(LAST):
            if worker.process.poll() is not None:
                raise RuntimeError(f"{adapter.name} worker exited early (see results/worker-{adapter.name}.log.tmp)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{adapter.name}: drain of {n} jobs did not finish")
            if rss:
                samples.append((int(r.get(COUNT) or 0), worker.rss_kib()))
                time.sleep(0.25)
            else:
                time.sleep(0.005)
        counted = n - TICK if body == "ticks" else n  # the last job marks the end instead of a tick
        if body in ("rtt", "ticks") and not wait_for(lambda: int(r.get(COUNT) or 0) >= counted, 30):
            raise RuntimeError(f"{adapter.name}: only {r.get(COUNT)} of {n} jobs ran")
        if rss:
            samples.append((n, worker.rss_kib()))
    finally:
        worker.stop()
    first, last = float(r.get(FIRST) or 0), float(r.get(LAST) or 0)
    result: dict[str, Any] = {"rate": (n - 1) / max(last - first, 1e-9)}
    if rss:
        result["rss"] = samples
    return result


def latency(adapter: Adapter, r: redis.Redis, url: str, count: int, gap_s: float) -> dict[str, Any]:
    """An idle worker; ``count`` jobs ``gap_s`` apart; enqueue-to-start p50 and p99 in milliseconds."""
    worker = WorkerProcess(adapter, url)
    try:
        adapter.send_latency()  # warm-up: the worker is up and has run one job
        if not wait_for(lambda: r.llen(LATENCIES) >= 1, 60):
            raise RuntimeError(f"{adapter.name}: the worker never ran the warm-up job")
        r.delete(LATENCIES)
        time.sleep(0.5)  # idle: blocked (or polling) on an empty queue
        next_at = time.perf_counter()
        for _ in range(count):
            adapter.send_latency()
            next_at += gap_s
            time.sleep(max(0.0, next_at - time.perf_counter()))
        if not wait_for(lambda: r.llen(LATENCIES) >= count, 30):
            raise RuntimeError(f"{adapter.name}: only {r.llen(LATENCIES)} of {count} latency jobs ran")
    finally:
        worker.stop()
    values = sorted(float(v) * 1000 for v in r.lrange(LATENCIES, 0, -1))
    return {"p50": percentile(values, 50), "p99": percentile(values, 99)}


def crash(adapter: Adapter, r: redis.Redis, url: str, cap_s: float) -> dict[str, Any]:
    """SIGKILL the worker while a job runs, start a fresh one, and time kill -> the job's second start."""
    first = WorkerProcess(adapter, url, "-crash1")
    try:
        adapter.send_crash()
        if not wait_for(lambda: r.llen(STARTS) >= 1, 60):
            raise RuntimeError(f"{adapter.name}: the crash job never started")
        time.sleep(0.2)
    finally:
        first.kill()
    killed_at = time.time()
    second = WorkerProcess(adapter, url, "-crash2")
    try:
        wait_for(lambda: r.llen(STARTS) >= 2, cap_s, interval=0.05)
    finally:
        second.stop()
    starts = [float(v) for v in r.lrange(STARTS, 0, -1)]
    return {"seconds": starts[1] - killed_at if len(starts) > 1 else None, "cap": cap_s}


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(pct / 100 * len(values) + 0.5)))
    return values[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --- the command line every bench script shares -----------------------------------------------------------------


def main(adapter_factory: Callable[[str], Adapter], argv: Sequence[str] | None = None) -> None:
    """``bench_<lib>.py WORKLOAD --url URL [--n N] [...]``: run one workload and print its JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "workload", choices=["single", "bulk", "drain-noop", "drain-rtt", "latency", "crash", "rss", "settings"]
    )
    parser.add_argument("--url", default=NOWHERE)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02)
    parser.add_argument("--cap", type=float, default=45.0)
    args = parser.parse_args(argv)
    os.environ["BENCH_URL"] = args.url
    adapter = adapter_factory(args.url)
    if args.workload == "settings":
        print(json.dumps({"settings": adapter.settings}))
        return
    r = redis.Redis.from_url(args.url)
    r.flushdb()
    if args.workload in ("single", "bulk"):
        result = enqueue_rate(adapter, r, args.n, bulk=args.workload == "bulk")
    elif args.workload in ("drain-noop", "drain-rtt"):
        result = drain(adapter, r, args.url, args.n, args.workload.split("-")[1])
    elif args.workload == "rss":
        result = drain(adapter, r, args.url, args.n, "ticks", rss=True)
    elif args.workload == "latency":
        result = latency(adapter, r, args.url, args.count, args.gap)
    else:
        result = crash(adapter, r, args.url, args.cap)
    r.flushdb()
    sys.stdout.write(json.dumps(result) + "\n")
