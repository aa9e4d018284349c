"""SQLite beside Redis on this machine: jobs/s enqueued, and jobs/s processed by one worker process.

    .venv/bin/python bench/sqlite_vs_redis.py [--jobs 10000] [--redis redis://127.0.0.1:6379/0]

For each backend (a SQLite file in a temporary directory; the Redis server under a fresh key prefix, whose
keys are deleted afterwards):

* ``delay``: ``--jobs`` dispatches one by one (one transaction, or one round trip, each);
* ``bulk``: ``--jobs`` dispatches inside ``tasks.bulk()`` (one transaction or pipeline per 5,000);
* ``worker``: one worker process (``--concurrency 1 --burst --log-level warning``; ``--concurrency`` sets
  another count) drains the 2 x ``--jobs`` no-op jobs enqueued above. The drain is timed inside the worker,
  from the start of the first job to the end of the last (marks written to a file), so the process start-up
  is left out.

The figures in docs/backends.md come from this script.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402 - after the path is set, so the checkout's package is the one measured

QUEUE = "bench-sqlite-vs-redis"
MARKS_ENV = "BENCH_MARKS"


@tasks.job(name="bench_sqlite_vs_redis.noop", queue=QUEUE)
def noop(mark: int = 0) -> None:
    """Does nothing; the first (1) and last (2) job write the time they ran to the marks file."""
    if mark:
        with open(os.environ[MARKS_ENV], "a", encoding="utf-8") as f:
            f.write(f"{mark} {time.time()!r}\n")


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def enqueue_one_by_one(n: int, mark_first: bool) -> float:
    started = time.perf_counter()
    for i in range(n):
        noop.delay(1 if mark_first and i == 0 else 0)
    return rate(n, time.perf_counter() - started)


def enqueue_in_bulk(n: int, mark_last: bool) -> float:
    started = time.perf_counter()
    for start in range(0, n, 5000):
        with tasks.bulk():
            for i in range(start, min(start + 5000, n)):
                noop.delay(2 if mark_last and i == n - 1 else 0)
    return rate(n, time.perf_counter() - started)


def drain(url: str, prefix: str, total: int, marks: Path, concurrency: int) -> float:
    """Worker processes drain the queue; jobs/s between the first job's start and the last job's end."""
    env = dict(os.environ, TASKS_URL=url, TASKS_PREFIX=prefix, PYTHONPATH=f"{ROOT}:{ROOT / 'bench'}")
    env[MARKS_ENV] = str(marks)
    args = [
        "worker",
        "sqlite_vs_redis",
        "--queues",
        QUEUE,
        "--concurrency",
        str(concurrency),
        "--burst",
        "--log-level",
        "warning",
    ]
    subprocess.run([sys.executable, "-m", "tasks", *args], cwd=ROOT, env=env, check=True, timeout=600)
    times = dict(line.split() for line in marks.read_text().splitlines())
    return rate(total, float(times["2"]) - float(times["1"]))


def measure(name: str, url: str, prefix: str, n: int, workdir: Path, concurrency: int) -> dict[str, float]:
    tasks.configure(url=url, prefix=prefix)
    figures = {"delay": enqueue_one_by_one(n, mark_first=True), "bulk": enqueue_in_bulk(n, mark_last=True)}
    figures["worker"] = drain(url, prefix, 2 * n, workdir / f"{name}.marks", concurrency)
    stats = tasks.queue(QUEUE).stats()
    assert stats.ready == stats.running == stats.failed == 0, stats
    return figures


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per enqueue measure (default 10000)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the Redis to compare with")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="worker processes draining (default 1; with more, the end is approximate)",
    )
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tasks-bench-") as tmp:
        workdir = Path(tmp)
        results["SQLite"] = measure(
            "sqlite", f"sqlite:///{workdir / 'tasks.db'}", "bench", args.jobs, workdir, args.concurrency
        )
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        try:
            results["Redis"] = measure("redis", args.redis, prefix, args.jobs, workdir, args.concurrency)
        finally:
            delete_prefix(args.redis, prefix)
    drained = f"{2 * args.jobs} drained by {args.concurrency} worker process(es)"
    print(f"{args.jobs} jobs per enqueue measure, {drained}, on {os.cpu_count()} CPU(s)\n")
    print(f"| backend | enqueue, one by one | enqueue, bulk() | {args.concurrency} worker process(es) |")
    print("|---|---|---|---|")
    for name, f in results.items():
        print(f"| {name} | {f['delay']:,.0f} jobs/s | {f['bulk']:,.0f} jobs/s | {f['worker']:,.0f} jobs/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
