"""Run one function in several threads, or several spawned processes, released at the same instant."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def in_threads(n: int, work: Callable[[], T]) -> list[T]:
    """``work()`` in ``n`` threads that start together; the results in thread order."""
    barrier = threading.Barrier(n)

    def run() -> T:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run) for _ in range(n)]
        return [f.result(timeout=60) for f in futures]


def in_processes(n: int, target: Callable[..., None], *args: Any) -> list[Any]:
    """``target(*args, barrier, out)`` in ``n`` spawned processes; what each put on ``out``."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n, timeout=60)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"a contending process exited with {p.exitcode}"
    return results
