"""Redis memory of the metrics: counters of N job names over M minutes, measured, then projected to 24 hours.

Every job goes through the real transitions (enqueue, reserve, complete or retry or fail), so the counters are
exactly what workers write. Runs on its own redis-server (a free port, no persistence) and prints one table.

    .venv/bin/python bench/metrics_memory.py --names 1000 --minutes 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.backends.redis import RedisBackend  # noqa: E402
from tasks.model import ErrorInfo, NewJob  # noqa: E402
from tasks.observe.series import RETENTION_S, minute_of  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402


def fill(backend: RedisBackend, names: int, minutes: int, failures: bool) -> float:
    """Per minute, one job of each name: it succeeds (and, with ``failures``, another retries then fails)."""
    start = minute_of(time.time()) - minutes * 60
    for m in range(minutes):
        now = start + m * 60 + 1.0
        jobs = [
            NewJob(f"{m}-{i}-{k}", "q", f'{{"v":1,"id":"{m}-{i}-{k}","name":"app.jobs.job_{i:04d}"}}', 2, now - 0.5)
            for i in range(names)
            for k in range(2 if failures else 1)
        ]
        backend.enqueue_many(jobs, now=now)
        leases = backend.reserve(["q"], worker_id="w", now=now, lease_s=60, count=len(jobs))
        done = [lease for lease in leases if lease.job_id.endswith("-0")]
        backend.complete_many([(lease, "null", 60) for lease in done], now=now + 0.02)
        for lease in leases:
            if lease.job_id.endswith("-1"):
                backend.retry(lease, run_at=now, error=ErrorInfo("E", "m"), now=now + 0.3)
        for lease in backend.reserve(["q"], worker_id="w", now=now, lease_s=60, count=len(jobs)):
            backend.fail(lease, error=ErrorInfo("E", "m"), now=now + 0.3)
    return start


def metric_bytes(backend: RedisBackend) -> tuple[int, int]:
    """Bytes of every metrics key (MEMORY USAGE, all samples), and how many keys."""
    client = backend.client
    keys = list(client.scan_iter(match=f"{backend.keys.prefix}:{{q}}:metrics*", count=1000))
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in keys), len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    print(f"| case | names | minutes measured | keys | bytes measured | bytes per name-minute | 24 h (1,440 min) |")
    print("|---|---|---|---|---|---|---|")
    for failures in (False, True):
        with tempfile.TemporaryDirectory() as directory:
            server = RedisServer(Path(directory), appendonly=False)
            server.start()
            try:
                backend = RedisBackend.from_url(server.url, prefix="m")
                fill(backend, args.names, args.minutes, failures)
                used, keys = metric_bytes(backend)
                per = used / (args.names * args.minutes)
                day = per * args.names * RETENTION_S / 60
                case = "success + retry + failure per name" if failures else "successes only"
                print(
                    f"| {case} | {args.names:,} | {args.minutes} | {keys} | {used:,} | {per:.0f} | "
                    f"{day / 2**20:,.0f} MiB |"
                )
                backend.close()
            finally:
                server.stop()


if __name__ == "__main__":
    main()
