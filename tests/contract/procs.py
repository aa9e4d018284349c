"""Functions run in other processes by the contention tests (spawned: each opens the backend afresh)."""

from __future__ import annotations

from typing import Any

from tasks.config import backend_from_url


def reserve_until_empty(url: str, prefix: str, queue: str, now: float, barrier: Any, out: Any) -> None:
    """Take jobs one or two at a time until none is left; report every id taken."""
    backend = backend_from_url(url, prefix=prefix)
    taken: list[str] = []
    barrier.wait()
    while True:
        leases = backend.reserve([queue], worker_id="proc", now=now, lease_s=3600, count=1 + len(taken) % 2)
        if not leases:
            break
        taken += [lease.job_id for lease in leases]
    backend.close()
    out.put(taken)


def claim_ticks(url: str, prefix: str, schedule: str, ticks: int, barrier: Any, out: Any) -> None:
    """Try to claim ticks 1..``ticks`` of ``schedule`` in order; report the ones won."""
    backend = backend_from_url(url, prefix=prefix)
    barrier.wait()
    won = [tick for tick in range(1, ticks + 1) if backend.claim_tick(schedule, float(tick))]
    backend.close()
    out.put(won)


def dispatch_unique(url: str, prefix: str, order_id: int, times: int, barrier: Any, out: Any) -> None:
    """Dispatch ``tests.unique_invoice(order_id)`` ``times`` times; report the ids the handles name, and how many
    of the dispatches were deduplicated."""
    import tasks.config
    from tests import jobs

    tasks.config.configure(url=url, prefix=prefix)
    barrier.wait()
    handles = [jobs.unique_invoice.delay(order_id, sender=str(i)) for i in range(times)]
    out.put(({h.id for h in handles}, sum(h.deduplicated for h in handles)))
