"""Server time of each dashboard page with a big backlog: 100,000 ready jobs, 10,000 failed, 200 schedules and
50 workers (the issue's target: under 100 ms a page).

``python bench/dashboard_pages.py`` fills a SQLite file of its own and a unique prefix on the Redis at
``--redis`` (default 127.0.0.1:6379; its keys are deleted afterwards, nothing else is touched), then requests
each page in-process through Starlette's TestClient (no network, no browser): the figure is the median of
``--rounds`` requests, and covers routing, every backend read, and rendering the whole HTML.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.testclient import TestClient  # noqa: E402

from tasks.backends.base import Backend  # noqa: E402
from tasks.config import backend_from_url  # noqa: E402
from tasks.dashboard import app  # noqa: E402
from tasks.decorators import schedule  # noqa: E402
from tasks.model import ErrorInfo, NewJob, WorkerInfo  # noqa: E402

READY, FAILED, SCHEDULES, WORKERS = 100_000, 10_000, 200, 50
PAGES = {
    "Overview": "/",
    "Queues": "/queues",
    "Jobs (ready, first page)": "/jobs?queue=bulk&state=queued",
    "Jobs (ready, page at 50,000)": "/jobs?queue=bulk&state=queued&offset=50000",
    "Jobs (failed)": "/jobs?queue=bulk&state=failed",
    "Job": "/job?queue=bulk&id=ready-77777",
    "Job, by id only": "/job?id=failed-4242",
    "Failed": "/failed?queue=bulk",
    "Workers": "/workers",
    "Schedules": "/schedules",
    "live refresh of Queues": "/api/live/queues",
}
ERROR = ErrorInfo("RuntimeError", "payment gateway timed out", "Traceback (most recent call last):\n  ...\n" * 10)


def payload(job_id: str, queue: str) -> str:
    body = {
        "v": 1,
        "id": job_id,
        "name": "shop.jobs.build_report",
        "queue": queue,
        "args": [{"id": job_id}],
        "kwargs": {},
    }
    return json.dumps(body)


def fill(backend: Backend) -> None:
    now = time.time()
    for start in range(0, FAILED, 1000):  # first, so that they are the queue's first ready jobs to reserve
        jobs = [
            NewJob(f"failed-{i}", "bulk", payload(f"failed-{i}", "bulk"), 1, now) for i in range(start, start + 1000)
        ]
        backend.enqueue_many(jobs, now=now)
        for lease in backend.reserve(["bulk"], worker_id="bench", now=now, lease_s=60, count=1000):
            backend.fail(lease, error=ERROR, now=now)
    for start in range(0, READY, 5000):
        jobs = [NewJob(f"ready-{i}", "bulk", payload(f"ready-{i}", "bulk"), 3, now) for i in range(start, start + 5000)]
        backend.enqueue_many(jobs, now=now)
    for n in range(WORKERS):
        info = WorkerInfo(
            f"host-{n // 10}:{1000 + n}",
            f"host-{n // 10}",
            1000 + n,
            ("bulk", "default"),
            now - 600,
            jobs_done=n * 100,
            current_jobs=(f"ready-{n}",),
            extra={"supervisor_pid": n // 10},
        )
        backend.register_worker(info, ttl_s=3600, now=now)


def register_schedules() -> None:
    zones = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")
    for n in range(SCHEDULES):
        schedule(f"{n % 60} {n % 24} * * *", f"bench-{n}", "shop.jobs.build_report", tz=zones[n % 4])


def measure(backend: Backend, rounds: int) -> dict[str, float]:
    from tasks.dashboard import pages

    figures = {}
    with TestClient(app(backend)) as http:
        http.get("/schedules")
        pages._fires.clear()  # the first view works out every schedule's next fire times (then cached)
        start = time.perf_counter()
        assert http.get("/schedules").status_code == 200
        figures["Schedules, first view (one request)"] = (time.perf_counter() - start) * 1000
        for label, path in PAGES.items():
            assert http.get(path).status_code == 200, path  # warm: templates compiled, connections open
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                response = http.get(path)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200, (path, response.status_code)
            figures[label] = statistics.median(times) * 1000
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="a Redis to use ('' to skip it)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    register_schedules()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        targets = [("SQLite", f"sqlite:///{folder}/bench.db")] + ([("Redis", args.redis)] if args.redis else [])
        for kind, url in targets:
            prefix = f"bench-dash-{uuid.uuid4().hex[:8]}"
            backend = backend_from_url(url, prefix=prefix)
            try:
                started = time.perf_counter()
                fill(backend)
                print(f"{kind}: filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
                results[kind] = measure(backend, args.rounds)
            finally:
                if kind == "Redis":
                    client = backend.client  # type: ignore[attr-defined]
                    for keys in batched(client.scan_iter(match=f"{prefix}:*", count=5000)):
                        client.delete(*keys)
                backend.close()
    kinds = list(results)
    print(
        f"Server time per page, median of {args.rounds} (ms); {READY:,} ready, {FAILED:,} failed, "
        f"{SCHEDULES} schedules, {WORKERS} workers"
    )
    print("| page | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for label in results[kinds[0]]:
        print(f"| {label} | " + " | ".join(f"{results[k][label]:.1f}" for k in kinds) + " |")
    worst = max(v for r in results.values() for k, v in r.items() if k in PAGES)
    print(f"slowest: {worst:.1f} ms ({'under' if worst < 100 else 'OVER'} the 100 ms target)")
    return 0


def batched(keys: object, size: int = 1000) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for key in keys:  # type: ignore[attr-defined]
        if len(out[-1]) >= size:
            out.append([])
        out[-1].append(key)
    return [chunk for chunk in out if chunk]


if __name__ == "__main__":
    raise SystemExit(main())
