"""``oldest_ready_at``: how long the job longest in line has waited, the autoscaler's signal, on every backend."""

from __future__ import annotations

from tasks.backends.base import Backend
from tests.contract.conftest import Clock, new_job


def test_the_oldest_ready_job_is_the_earliest_head_of_the_queues(backend: Backend, clock: Clock) -> None:
    # Given nothing ready: no signal
    assert backend.oldest_ready_at(["a", "b"]) is None

    # Given jobs dispatched at t0 (a), t0+2 (b), t0+5 (a), and a delayed job dispatched earlier than all of them
    t0 = clock.now
    backend.enqueue(new_job("b", "delayed", now=t0 - 10, run_at=t0 + 3600), now=t0 - 10)
    backend.enqueue(new_job("a", "a1", now=t0), now=t0)
    backend.enqueue(new_job("b", "b1", now=t0 + 2), now=t0 + 2)
    backend.enqueue(new_job("a", "a2", now=t0 + 5), now=t0 + 5)

    # Then the oldest ready one counts; a scheduled job is not ready
    assert backend.oldest_ready_at(["a", "b"]) == t0
    assert backend.oldest_ready_at(["b"]) == t0 + 2
    assert backend.oldest_ready_at(["nothing"]) is None

    # When the head of a is taken, the next in line counts
    [lease] = backend.reserve(["a"], worker_id="w", now=t0 + 6, lease_s=30)
    assert lease.job_id == "a1"
    assert backend.oldest_ready_at(["a", "b"]) == t0 + 2
    backend.reserve(["b", "a"], worker_id="w", now=t0 + 6, lease_s=30, count=5)
    assert backend.oldest_ready_at(["a", "b"]) is None
