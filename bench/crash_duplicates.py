"""How many jobs run twice when a worker process dies: the figures behind docs/workers.md's guarantees.

Two scenarios, each on Redis and on SQLite, with a real pool of 2 worker processes:

- ``exit``: 200 quick jobs with one job among them that ends its process with ``os._exit(1)``;
- ``sigkill``: 2,000 jobs of about 2 ms while one worker process is killed with SIGKILL five times.

A job that ran twice leaves two lines in the record file. The guarantee: a death re-runs only what was
running in the process that died (at most one sync job per death here), never the finished jobs whose
outcomes were not yet written, nor the reserved jobs not yet started.

    .venv/bin/python bench/crash_duplicates.py [--rounds 3] [--url redis://127.0.0.1:6379/0]

Redis keys go under a fresh prefix, deleted at the end; SQLite uses a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tasks  # noqa: E402
from bench import crash_jobs  # noqa: E402
from tasks.backends.base import Backend  # noqa: E402


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.01)


class Run:
    """One scenario on one backend: a record file, a prefix, and the pool it starts."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.prefix = f"crash-{uuid.uuid4().hex[:8]}"
        self.record = directory / f"{self.prefix}.txt"
        tasks.configure(url=url, prefix=self.prefix)
        self.backend: Backend = tasks.config.get_backend()

    def start_pool(self, *flags: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, TASKS_URL=self.url, TASKS_PREFIX=self.prefix, CRASH_RECORD=str(self.record))
        env["PYTHONPATH"] = str(ROOT)
        command = [sys.executable, "-m", "tasks", "worker", "bench.crash_jobs", "--concurrency", "2", *flags]
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def lines(self) -> list[str]:
        return self.record.read_text().split() if self.record.exists() else []

    def twice(self) -> int:
        return sum(n - 1 for key, n in Counter(self.lines()).items() if n > 1 and ":" not in key)

    def worker_pids(self, supervisor: int) -> list[int]:
        return [w.pid for w in self.backend.workers(now=time.time()) if w.extra.get("supervisor_pid") == supervisor]

    def cleanup(self) -> None:
        if self.url.startswith("redis"):
            client = redis.Redis.from_url(self.url)
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        tasks.config.reset()


def exit_scenario(run: Run) -> str:
    """200 quick jobs, one of which calls ``os._exit(1)``, through a burst pool of 2."""
    with tasks.bulk():
        for i in range(200):
            if i == 150:
                crash_jobs.die.delay("die")
            crash_jobs.record.delay(f"k{i}")
    pool = run.start_pool("--burst")
    pool.wait(timeout=120)
    ran = {key for key in run.lines() if ":" not in key}
    return f"{len(ran)}/200 ran, {run.twice()} ran twice (1 death)"


def sigkill_scenario(run: Run, rng: random.Random) -> str:
    """2,000 jobs of 2 ms while one worker process is killed with SIGKILL five times."""
    with tasks.bulk():
        for i in range(2000):
            crash_jobs.record.delay(f"k{i}", 0.002)
    pool = run.start_pool("--lease", "5")
    try:
        for _ in range(5):
            _wait(lambda: len(run.worker_pids(pool.pid)) == 2, 30, "2 worker processes")
            target = len(run.lines()) + rng.randint(100, 250)
            _wait(lambda: len(run.lines()) >= target, 60, "progress")  # noqa: B023
            os.kill(rng.choice(run.worker_pids(pool.pid)), signal.SIGKILL)
        _wait(lambda: len(set(run.lines())) >= 2000, 120, "every job to run")
    finally:
        os.killpg(pool.pid, signal.SIGTERM)
        pool.wait(timeout=60)
    return f"{len(set(run.lines()))}/2000 ran, {run.twice()} ran twice (5 deaths, at most 1 running in each)"


@contextmanager
def backends(redis_url: str) -> Iterator[list[tuple[str, Callable[[], str]]]]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        counter = iter(range(1_000_000))
        yield [
            ("redis", lambda: redis_url),
            ("sqlite", lambda: f"sqlite:///{directory / f'crash-{next(counter)}.db'}"),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--scenarios", default="exit,sigkill", help="comma-separated: exit, sigkill")
    parser.add_argument("--backends", default="redis,sqlite", help="comma-separated: redis, sqlite")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}")
    with tempfile.TemporaryDirectory() as tmp, backends(args.url) as urls:
        for name, make_url in urls:
            if name not in args.backends.split(","):
                continue
            for scenario in args.scenarios.split(","):
                for round_ in range(1, args.rounds + 1):
                    run = Run(make_url(), Path(tmp))
                    try:
                        figure = exit_scenario(run) if scenario == "exit" else sigkill_scenario(run, rng)
                    finally:
                        run.cleanup()
                    print(f"{name:<7}{scenario:<8}round {round_}: {figure}", flush=True)


if __name__ == "__main__":
    main()
