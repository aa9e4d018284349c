"""What the metrics cost: tasks' drain and single-enqueue rates with metrics on (the default) and off, in one run.

``TASKS_METRICS=0`` turns off the counters the outcome transitions keep (tasks/observe); everything else is the
same code. Rounds alternate on and off (the order reversed every other round) on a redis-server of the run's own,
and each figure is the median of its rounds.

    .venv/bin/python bench/metrics_ab.py --rounds 5 --n 20000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner import RedisServer, measure  # noqa: E402

WORKLOADS = ("drain-noop", "single")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    server = RedisServer()
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        for round_ in range(args.rounds):
            order = ("1", "0") if round_ % 2 == 0 else ("0", "1")
            for workload in WORKLOADS:
                for switch in order:
                    os.environ["TASKS_METRICS"] = switch
                    result = measure("bench_tasks.py", [workload, "--url", url, "--n", str(args.n)])
                    if result is None:
                        raise SystemExit(f"{workload} with TASKS_METRICS={switch} failed")
                    rates.setdefault((workload, switch), []).append(float(result["rate"]))
    finally:
        os.environ.pop("TASKS_METRICS", None)
        server.stop()
    print(f"{args.rounds} rounds of {args.n:,} jobs, medians (jobs/s):\n")
    print("| workload | metrics on | metrics off | on / off |")
    print("|---|---|---|---|")
    for workload in WORKLOADS:
        on, off = (statistics.median(rates[(workload, s)]) for s in ("1", "0"))
        print(f"| {workload} | {on:,.0f} | {off:,.0f} | {on / off:.1%} |")
    print("\nEach round (on / off, measured back to back):")
    for workload in WORKLOADS:
        pairs = zip(rates[(workload, "1")], rates[(workload, "0")])
        print(f"- {workload}: " + ", ".join(f"{on:,.0f} / {off:,.0f}" for on, off in pairs))


if __name__ == "__main__":
    main()
