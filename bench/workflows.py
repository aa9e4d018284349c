"""Workflow figures on a redis-server of the script's own (started on a free port, gone at the end):

* send: ``batch([10,000 calls]).delay()`` against ``with tasks.bulk():`` of the same 10,000 plain jobs;
* drain: 20,000 batch members against 20,000 plain jobs, by one in-process worker in burst mode;
* chain hand-off: from a step's end (inside the job) to the next step's start, an idle worker, p50 and p95.

Prints one line per figure, with the ratios the issue asks for. Run: ``.venv/bin/python bench/workflows.py``
(``--n 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

import tasks
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings

STAMPS: list[tuple[int, float, float]] = []


@tasks.job(name="bench.wf_noop")
def noop(i: int) -> None:
    return None


@tasks.job(name="bench.wf_stamp")
def stamp(i: int, hold_s: float = 0.0) -> int:
    began = time.perf_counter()
    if hold_s:
        time.sleep(hold_s)
    STAMPS.append((i, began, time.perf_counter()))
    return i


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def drain() -> float:
    worker = Worker(get_backend(), WorkerSettings(queues=["default"], burst=True, async_concurrency=0))
    return timed(worker.run)


def send_figures(n: int) -> None:
    def plain() -> None:
        with tasks.bulk():
            for i in range(n):
                noop.delay(i)

    def batched() -> None:
        tasks.batch([noop.prepare(i) for i in range(n)]).delay()

    plain_s, batch_s = timed(plain), timed(batched)
    get_backend().clear("default")
    print(f"send {n}: bulk {n / plain_s:,.0f} jobs/s, batch {n / batch_s:,.0f} members/s, ratio {plain_s / batch_s:.2f}")


def drain_figures(n: int) -> None:
    with tasks.bulk():
        for i in range(n):
            noop.delay(i)
    plain_s = drain()
    tasks.batch([noop.prepare(i) for i in range(n)]).delay()
    batch_s = drain()
    print(f"drain {n}: plain {n / plain_s:,.0f} jobs/s, batch members {n / batch_s:,.0f} jobs/s, "
          f"ratio {plain_s / batch_s:.2f}")


def handoff_figures(steps: int) -> None:
    worker = Worker(get_backend(), WorkerSettings(queues=["default"], async_concurrency=0))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    time.sleep(0.5)  # the worker is idle, blocked on the wake list
    STAMPS.clear()
    handle = tasks.chain(*(stamp.prepare(i) for i in range(steps))).delay()
    handle.wait(timeout=120)
    worker.stop()
    thread.join(timeout=10)
    ordered = sorted(STAMPS)
    gaps = sorted((b[1] - a[2]) * 1000 for a, b in zip(ordered, ordered[1:]))
    p50, p95 = statistics.median(gaps), gaps[int(len(gaps) * 0.95)]
    print(f"chain hand-off over {len(gaps)} steps (idle worker): p50 {p50:.3f} ms, p95 {p95:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000, help="jobs sent (the drain uses twice as many)")
    parser.add_argument("--steps", type=int, default=500, help="chain steps for the hand-off")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.3)
            tasks.configure(url=f"redis://127.0.0.1:{port}/0", prefix="bench")
            send_figures(args.n)
            drain_figures(args.n * 2)
            handoff_figures(args.steps)
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
