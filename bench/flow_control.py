"""What flow control costs: drain rate with a limit far above the throughput, and an idle worker's Redis calls.

    .venv/bin/python bench/flow_control.py [--jobs 5000] [--rounds 3]

On a redis-server of its own (a free port, no persistence, stopped at the end):

* ``drain``: ``--jobs`` no-op jobs, dispatched one by one, drained by one worker process (``--burst``), timed
  inside the worker from the first job's start to the last one's end; for a job with no limit, one with
  ``rate_limit="1000000/s"`` and one with ``concurrency=100000``. Rounds interleave the three; each round's
  ratio to the job with no limit is taken (the machine's drift cancels out), and their median shown.
* ``saturated``: 20 jobs under ``rate_limit="1/h"`` (one runs, 19 wait) and a worker with nothing else to do:
  the server's ``INFO commandstats`` calls and the worker processes' CPU time over 10 s; beside them the
  same worker with no job at all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
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
from tests.support.redis_server import RedisServer  # noqa: E402

QUEUE = "bench-flow"
MARKS_ENV = "BENCH_MARKS"


def _mark(mark: int) -> None:
    if mark:
        with open(os.environ[MARKS_ENV], "a", encoding="utf-8") as f:
            f.write(f"{mark} {time.time()!r}\n")


@tasks.job(name="bench_flow.plain", queue=QUEUE)
def plain(mark: int = 0) -> None:
    _mark(mark)


@tasks.job(name="bench_flow.rate", queue=QUEUE, rate_limit="1000000/s")
def rated(mark: int = 0) -> None:
    _mark(mark)


@tasks.job(name="bench_flow.concurrency", queue=QUEUE, concurrency=100_000)
def concurrent(mark: int = 0) -> None:
    _mark(mark)


@tasks.job(name="bench_flow.saturated", queue=QUEUE, rate_limit="1/h")
def saturated(mark: int = 0) -> None:
    _mark(mark)


VARIANTS = {"no limit": plain, "rate limit far above": rated, "concurrency far above": concurrent}


def worker(url: str, prefix: str, marks: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TASKS_URL=url, TASKS_PREFIX=prefix, PYTHONPATH=f"{ROOT}:{ROOT / 'bench'}")
    env[MARKS_ENV] = str(marks)
    args = ["worker", "flow_control", "--queues", QUEUE, "--concurrency", "1", "--log-level", "warning", *extra]
    return subprocess.Popen([sys.executable, "-m", "tasks", *args], cwd=ROOT, env=env, start_new_session=True)


def drain(url: str, job: tasks.Job[[int], None], n: int, workdir: Path) -> float:
    """Jobs/s of one worker process draining ``n`` jobs of ``job`` (dispatched one by one beforehand)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    tasks.configure(url=url, prefix=prefix)
    for i in range(n):
        job.delay(1 if i == 0 else 2 if i == n - 1 else 0)
    marks = workdir / f"{prefix}.marks"
    process = worker(url, prefix, marks, "--burst")
    assert process.wait(timeout=600) == 0
    times = dict(line.split() for line in marks.read_text().splitlines())
    return n / (float(times["2"]) - float(times["1"]))


def calls(client: redis.Redis) -> tuple[int, int]:
    """Every command the server ran (those inside scripts included), and the script calls among them."""
    stats = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values()), int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (a pool: supervisor and worker process)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def idle(url: str, workdir: Path, held: int, seconds: float = 10.0) -> tuple[float, float, float]:
    """Redis calls/s and CPU % of a worker whose only jobs are ``held`` jobs held by a saturated rate limit."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    tasks.configure(url=url, prefix=prefix)
    for _ in range(held):
        saturated.delay()
    process = worker(url, prefix, workdir / f"{prefix}.marks")
    client = redis.Redis.from_url(url)
    try:
        time.sleep(12)  # started (slowly, on a loaded machine), the one allowed job ran, the others held
        before, cpu_before = calls(client), cpu_s(process.pid)
        time.sleep(seconds)
        after, cpu_after = calls(client), cpu_s(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        client.close()
    total, scripts = after[0] - before[0] - 1, after[1] - before[1]
    return total / seconds, scripts / seconds, 100 * (cpu_after - cpu_before) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tasks-bench-flow-") as tmp:
        workdir = Path(tmp)
        server = RedisServer(workdir, appendonly=False)
        server.start()
        try:
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for _ in range(args.rounds):
                for name, job in VARIANTS.items():
                    rates[name].append(drain(server.url, job, args.jobs, workdir))
            saturated_figures = idle(server.url, workdir, held=20)
            empty_figures = idle(server.url, workdir, held=0)
        finally:
            server.stop()
    base = rates["no limit"]
    print(f"{args.jobs} no-op jobs drained by 1 worker process, median of {args.rounds} rounds, ", end="")
    print(f"{os.cpu_count()} CPU(s)\n")
    print("| job | drain (median) | vs no limit, median of the rounds' ratios | range of the ratios |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        ratios = [value / plain for value, plain in zip(values, base)]
        spread = f"{min(ratios):.0%} to {max(ratios):.0%}"
        print(f"| {name} | {statistics.median(values):,.0f} jobs/s | {statistics.median(ratios):.0%} | {spread} |")
    print("\nAn idle worker over 10 s (INFO commandstats of its own Redis; CPU of supervisor + worker process):\n")
    print("| worker | commands/s (inside scripts included) | script calls/s | CPU |")
    print("|---|---|---|---|")
    for label, (total, scripts, cpu) in (
        ("19 jobs held by a saturated rate limit", saturated_figures),
        ("no job at all", empty_figures),
    ):
        print(f"| {label} | {total:.1f} | {scripts:.1f} | {cpu:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
