"""Soak: many worker processes on one Redis at a steady rate for minutes; every job once, memory flat, even spread.

Starts a redis-server of its own (free port, no persistence) and ``python -m tasks worker bench.soak_jobs
--concurrency 64`` on it (64 worker processes of one job at a time each), dispatches ``--rate`` jobs a second
for ``--seconds`` (in bulk every 50 ms), waits for the queue to drain, stops the pool and prints:

- jobs sent, jobs run, jobs run more than once, jobs never run;
- Redis memory (``used_memory``) every 10 s, and how far it moved after the warm-up (results live 30 s);
- the spread of jobs over the worker processes: fewest and most, as a share of the even count;
- Redis CPU (``used_cpu_sys`` + ``used_cpu_user``) per 1,000 jobs over the steady part.

    .venv/bin/python bench/soak.py                      # 64 processes, 500 jobs/s, 300 s
    .venv/bin/python bench/soak.py --seconds 120 --processes 16
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402
from bench.soak_jobs import tick  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

WARM_UP_S = 60.0
SAMPLE_S = 10.0


def cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def produce(seconds: float, rate: int, client: redis.Redis, samples: list[tuple[float, int, float, int]]) -> int:
    """Dispatch ``rate`` jobs a second for ``seconds``; sample Redis memory, CPU and the backlog every ``SAMPLE_S``."""
    backend = tasks.config.get_backend()
    began = time.monotonic()
    sent, next_sample = 0, began
    while (elapsed := time.monotonic() - began) < seconds:
        due = int(elapsed * rate) - sent
        if due > 0:
            with tasks.bulk():
                for n in range(sent, sent + due):
                    tick.delay(n)
            sent += due
        if time.monotonic() >= next_sample:
            backlog = backend.queue_stats("default").ready
            memory = int(client.info("memory")["used_memory"])
            samples.append((time.monotonic() - began, memory, cpu_s(client), backlog))
            next_sample += SAMPLE_S
        time.sleep(0.05)
    return sent


def runs(directory: Path) -> dict[int, list[int]]:
    """Numbers run, per worker process."""
    return {int(p.name): [int(x) for x in p.read_text().split()] for p in directory.iterdir()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--processes", type=int, default=64)
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="longest wait for the backlog at the end")
    parser.add_argument("--prefetch", type=int, default=1, help="jobs a process reserves at once (1: one slot)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work, record = Path(tmp) / "redis", Path(tmp) / "runs"
        work.mkdir()
        record.mkdir()
        server = RedisServer(work, appendonly=False)
        server.start()
        client = redis.Redis(port=server.port)
        env = dict(os.environ, TASKS_URL=server.url, TASKS_PREFIX="soak", PYTHONPATH=str(ROOT), SOAK_DIR=str(record))
        tasks.configure(url=server.url, prefix="soak")
        pool = subprocess.Popen(
            [sys.executable, "-m", "tasks", "worker", "bench.soak_jobs", "--concurrency", str(args.processes),
             "--queues", "default", "--no-scheduler", "--log-level", "warning", "--prefetch", str(args.prefetch)],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            backend = tasks.config.get_backend()
            deadline = time.monotonic() + 300
            while len(backend.workers(now=time.time())) < args.processes:  # spawned, each imports the app
                if time.monotonic() > deadline:
                    raise RuntimeError("the worker processes did not all start within 300 s")
                time.sleep(0.5)
            samples: list[tuple[float, int, float, int]] = []
            sent = produce(args.seconds, args.rate, client, samples)
            deadline = time.monotonic() + args.drain_seconds
            while time.monotonic() < deadline:
                stats = backend.queue_stats("default")
                if stats.ready + stats.running + stats.scheduled == 0:
                    break
                time.sleep(0.5)
        finally:
            os.killpg(pool.pid, signal.SIGTERM)
            pool.wait(timeout=60)
            server.stop()
        report(sent, runs(record), samples, args)


def report(
    sent: int, by_pid: dict[int, list[int]], samples: list[tuple[float, int, float, int]], args: object
) -> None:
    counts = Counter(n for numbers in by_pid.values() for n in numbers)
    twice = sum(1 for c in counts.values() if c > 1)
    never = sent - len(counts)
    print(f"{args.processes} worker processes (prefetch {args.prefetch}), {args.rate} jobs/s for {args.seconds:.0f} s")  # type: ignore[attr-defined]
    print(f"jobs sent {sent}, run {sum(counts.values())}, run more than once {twice}, never run {never}")
    print("Redis used_memory (MB) every 10 s: " + " ".join(f"{m / 1e6:.1f}" for _, m, _, _ in samples))
    print("jobs waiting every 10 s: " + " ".join(str(b) for _, _, _, b in samples))
    steady = [(t, m, c) for t, m, c, _ in samples if t >= WARM_UP_S]
    if len(steady) >= 2:
        mems = [m for _, m, _ in steady]
        print(f"after the {WARM_UP_S:.0f} s warm-up: {min(mems) / 1e6:.1f} to {max(mems) / 1e6:.1f} MB "
              f"({100 * (max(mems) - min(mems)) / min(mems):.1f} % apart)")  # fmt: skip
        (t0, _, c0), (t1, _, c1) = steady[0], steady[-1]
        jobs = args.rate * (t1 - t0)  # type: ignore[attr-defined]
        print(f"Redis CPU per 1,000 jobs (steady part): {1000 * (c1 - c0) / jobs * 1000:.0f} ms")
    per = sorted(len(v) for v in by_pid.values())
    even = sum(per) / args.processes  # type: ignore[attr-defined]
    print(f"spread over {len(per)} processes: fewest {per[0]} ({100 * per[0] / even:.0f} % of even), "
          f"most {per[-1]} ({100 * per[-1] / even:.0f} % of even)")  # fmt: skip


if __name__ == "__main__":
    main()
