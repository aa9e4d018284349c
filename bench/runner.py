"""Runs every library's bench script against a redis-server of its own and writes results/latest.md and .png.

``python bench/runner.py`` (what ``make bench`` runs, in bench/.venv) measures tasks, its peers and raw
redis-py; ``--smoke`` (what ``make bench-smoke`` runs, in the project's venv) measures tasks alone on 1,000
jobs and fails when a workload fails. Rounds interleave the libraries (A B A B, the order reversed every
other round) so that drift on a shared machine hits every library alike; each figure is the median of the
rounds, and each ratio compares figures of the same run.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import report

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"

LIBRARIES = ("tasks", "rq", "arq", "dramatiq", "celery", "huey")
#: Each library gets its own database on the bench server.
DB = {name: index for index, name in enumerate(LIBRARIES)}
RAW_DB = len(LIBRARIES)

#: Jobs per round. 20,000 everywhere except where a library's steady rate would make one measurement last
#: much longer than ~8 s (the machine has 2 cores and the whole run must stay under 15 minutes): its rate is
#: steady long before that, so fewer jobs give the same figure.
SIZES: dict[str, dict[str, int]] = {
    "single": {"tasks": 20_000, "rq": 6_000, "arq": 6_000, "dramatiq": 8_000, "celery": 5_000, "huey": 20_000},
    "bulk": {"tasks": 20_000, "rq": 20_000, "arq": 6_000, "dramatiq": 6_000, "celery": 4_000, "huey": 20_000},
    "drain-noop": {"tasks": 20_000, "rq": 1_200, "arq": 1_000, "dramatiq": 6_000, "celery": 2_000, "huey": 8_000},
    "drain-rtt": {"tasks": 20_000, "rq": 1_200, "arq": 1_000, "dramatiq": 6_000, "celery": 2_000, "huey": 8_000},
}
THROUGHPUT = ("single", "bulk", "drain-noop", "drain-rtt")
#: The raw redis-py run each enqueue workload is compared with.
RAW_MODES = {"single": "rtt", "bulk": "pipelined"}
LATENCY_JOBS, LATENCY_GAP_S = 200, 0.02
CRASH_CAP_S = 45.0
RSS_JOBS = 200_000


class RedisServer:
    """A redis-server on a free port, without persistence, stopped with the run."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server is not on PATH")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.dir = tempfile.mkdtemp(prefix="tasks-bench-")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--logfile",
                str(Path(self.dir) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def version(self) -> str:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
        return next((w.split("=")[1] for w in out.split() if w.startswith("v=")), "?")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(script: str, args: Sequence[str], timeout: float = 300) -> dict[str, Any] | None:
    """Run one workload of one script in a fresh process; its last stdout line is the JSON result."""
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH_DIR / script), *args],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        print(f"  {script} {' '.join(args)}: timed out", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"  {script} {' '.join(args)} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def settings_of(library: str) -> str:
    """``Adapter.settings`` of a bench script, read without importing the library."""
    tree = ast.parse((BENCH_DIR / f"bench_{library}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Adapter":
            for item in node.body:
                if isinstance(item, ast.Assign) and any(getattr(t, "id", "") == "settings" for t in item.targets):
                    return str(ast.literal_eval(item.value))
    return ""


def run_rounds(server: RedisServer, libraries: Sequence[str], rounds: int, scale: float) -> dict[str, Any]:
    """Every throughput and latency workload, ``rounds`` times, libraries interleaved."""
    raw: dict[str, Any] = {}
    for r in range(rounds):
        order = list(libraries) if r % 2 == 0 else list(reversed(libraries))
        print(f"round {r + 1}/{rounds}: {' '.join(order)}", flush=True)
        for workload in THROUGHPUT:
            for library in order:
                if library == "tasks" and workload in RAW_MODES and len(libraries) > 1:
                    measure_raw(server, raw, RAW_MODES[workload], scale)  # right before tasks: the same moment
                n = max(100, int(SIZES[workload][library] * scale))
                result = measure(f"bench_{library}.py", [workload, "--url", server.url(DB[library]), "--n", str(n)])
                raw.setdefault(workload, {}).setdefault(library, []).append(result and result["rate"])
                raw.setdefault("sizes", {}).setdefault(workload, {})[library] = n
                print(f"  {workload:<10} {library:<9} {_fmt(result and result['rate'])} jobs/s", flush=True)
        count = max(20, int(LATENCY_JOBS * min(1.0, scale * 4)))
        raw.setdefault("sizes", {})["latency"] = count
        for library in order:
            result = measure(
                f"bench_{library}.py",
                ["latency", "--url", server.url(DB[library]), "--count", str(count), "--gap", str(LATENCY_GAP_S)],
            )
            raw.setdefault("latency", {}).setdefault(library, []).append(result)
            print(f"  latency    {library:<9} {result}", flush=True)
    return raw


def measure_raw(server: RedisServer, raw: dict[str, Any], mode: str, scale: float) -> None:
    """The raw redis-py ceiling of one enqueue workload (not in the smoke run)."""
    result = measure("raw_redis.py", [mode, "--url", server.url(RAW_DB), "--n", str(int(20_000 * scale))])
    raw.setdefault(f"raw-{mode}", []).append(result and result["rate"])
    print(f"  raw-{mode:<13} {_fmt(result and result['rate'])} jobs/s", flush=True)


def run_crashes(server: RedisServer, libraries: Sequence[str]) -> dict[str, Any]:
    """Crash-to-redelivery for every library at once (each on its own database): the waits overlap."""
    print(f"crash-to-redelivery (cap {CRASH_CAP_S:.0f} s, all libraries at once)", flush=True)
    with ThreadPoolExecutor(len(libraries)) as pool:
        futures = {
            lib: pool.submit(
                measure, f"bench_{lib}.py", ["crash", "--url", server.url(DB[lib]), "--cap", str(CRASH_CAP_S)], 180
            )
            for lib in libraries
        }
        return {lib: future.result() for lib, future in futures.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tasks only, 1,000 jobs, no peers, no chart")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated libraries (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: crash, rss")
    parser.add_argument("--report-only", action="store_true", help="rewrite latest.md and .png from the last run")
    args = parser.parse_args(argv)
    if args.report_only:
        return rewrite_report()
    libraries = ["tasks"] if args.smoke else (args.only.split(",") if args.only else list(LIBRARIES))
    skip = set(filter(None, args.skip.split(",")))
    scale = 0.05 if args.smoke else 1.0
    rounds = 1 if args.smoke else args.rounds
    RESULTS.mkdir(exist_ok=True)
    for old_log in RESULTS.glob("worker-*.log.tmp"):  # the workers of this run append to fresh logs
        old_log.unlink()
    started = time.monotonic()
    server = RedisServer()
    try:
        raw = run_rounds(server, libraries, rounds, scale)
        if not args.smoke and "crash" not in skip:
            raw["crash"] = run_crashes(server, libraries)
        if not args.smoke and "rss" not in skip and "tasks" in libraries:
            print(f"worker memory over {RSS_JOBS:,} jobs (tasks)", flush=True)
            raw["rss"] = measure("bench_tasks.py", ["rss", "--url", server.url(DB["tasks"]), "--n", str(RSS_JOBS)], 600)
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "python": platform.python_version(),
            "cores": _cores(),
            "redis": server.version(),
            "rounds": rounds,
            "seconds": time.monotonic() - started,
            "settings": {lib: settings_of(lib) for lib in libraries},
            "versions": _versions(libraries),
        }
    finally:
        server.stop()
    (RESULTS / ("smoke.json.tmp" if args.smoke else "latest.json.tmp")).write_text(json.dumps({"meta": meta, **raw}))
    text = report.markdown(raw, meta, libraries)
    if args.smoke:
        print(text)
        return 0 if report.complete(raw, libraries) else 1
    (RESULTS / "latest.md").write_text(text)
    report.chart(raw, libraries, RESULTS / "latest.png")
    print(f"wrote {RESULTS / 'latest.md'} and latest.png in {meta['seconds']:.0f} s")
    return 0


def rewrite_report() -> int:
    """latest.md and latest.png again from the figures the last full run kept (results/latest.json.tmp)."""
    saved = json.loads((RESULTS / "latest.json.tmp").read_text())
    meta = saved.pop("meta")
    libraries = list(meta["settings"])
    (RESULTS / "latest.md").write_text(report.markdown(saved, meta, libraries))
    report.chart(saved, libraries, RESULTS / "latest.png")
    return 0


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _versions(libraries: Sequence[str]) -> dict[str, str]:
    from importlib import metadata

    names = {"dramatiq": "dramatiq", "celery": "celery", "huey": "huey", "rq": "rq", "arq": "arq", "tasks": "tasks"}
    found = {}
    for lib in [*libraries, "redis"]:
        try:
            found[lib] = metadata.version(names.get(lib, lib))
        except metadata.PackageNotFoundError:
            found[lib] = "?"
    return found


def _fmt(value: float | None) -> str:
    return "failed" if value is None else f"{value:,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
