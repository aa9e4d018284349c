"""Cron ticks claimed once across any number of callers, and the registry of live workers."""

from __future__ import annotations

import os

import pytest

from tasks.backends.base import Backend
from tasks.model import WorkerInfo
from tests.contract import procs
from tests.contract.conftest import Clock, Target
from tests.contract.contention import in_processes, with_own_backends


def test_a_tick_is_claimed_once_and_only_if_later_than_the_last(backend: Backend) -> None:
    assert backend.last_tick("nightly") is None
    assert backend.claim_tick("nightly", 100.0)
    assert not backend.claim_tick("nightly", 100.0)  # the same tick again
    assert not backend.claim_tick("nightly", 99.0)  # an older one
    assert backend.claim_tick("nightly", 160.5)
    assert backend.last_tick("nightly") == 160.5
    assert backend.claim_tick("hourly", 1.0)  # schedules are independent
    assert backend.last_tick("nightly") == 160.5


@pytest.mark.timeout(60)
def test_a_tick_contended_by_threads_is_claimed_exactly_once(target: Target, backend: Backend) -> None:
    # When six threads, each with a backend of its own, claim the same tick, every one of them having read
    # whatever it reads before any of them writes (the interleaving that breaks a read-then-write claim)
    won = with_own_backends(6, target, lambda mine: mine.claim_tick("every-minute", 1_700_000_000.0))

    # Then exactly one won it
    assert sorted(won) == [False] * 5 + [True]
    assert backend.last_tick("every-minute") == 1_700_000_000.0


@pytest.mark.timeout(60)
def test_a_later_tick_contended_by_threads_moves_the_record_once(target: Target, backend: Backend) -> None:
    # Given a tick on record
    assert backend.claim_tick("every-minute", 60.0)

    # When six threads claim the next one, and six others an older one, in the same interleaving
    def claim(mine: Backend) -> bool:
        return mine.claim_tick("every-minute", 120.0)

    won = with_own_backends(6, target, claim)
    stale = with_own_backends(6, target, lambda mine: mine.claim_tick("every-minute", 30.0))

    # Then the later tick was won once, and the older one never
    assert sorted(won) == [False] * 5 + [True]
    assert stale == [False] * 6
    assert backend.last_tick("every-minute") == 120.0


def test_ticks_contended_by_processes_are_each_claimed_exactly_once(shared_target: Target) -> None:
    # When three schedulers try every one of 100 ticks in order
    results = in_processes(3, procs.claim_ticks, shared_target.url, shared_target.prefix, "sched", 100)

    # Then each tick was won by exactly one of them
    won = sorted(tick for result in results for tick in result)
    assert won == list(range(1, 101))
    backend = shared_target.open()
    assert backend.last_tick("sched") == 100.0
    backend.close()


def worker_info(
    worker_id: str, clock: Clock, *, jobs_done: int = 0, current_jobs: tuple[str, ...] = (), pool: int = 1
) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        host="box",
        pid=os.getpid(),
        queues=("high", "default"),
        started_at=clock(),
        jobs_done=jobs_done,
        current_jobs=current_jobs,
        extra={"pool": pool},
    )


def test_a_worker_is_listed_until_its_heartbeat_expires(backend: Backend, clock: Clock) -> None:
    # Given two workers announced 5 s apart, each for 10 s
    t0 = clock()
    first = worker_info("w1", clock, jobs_done=3, current_jobs=("j1",), pool=4)
    backend.register_worker(first, ttl_s=10, now=t0)
    backend.register_worker(worker_info("w2", clock), ttl_s=10, now=t0 + 5)

    # Then both are live at t+5, with what they announced
    live = {w.id: w for w in backend.workers(now=t0 + 5)}
    assert set(live) == {"w1", "w2"}
    assert live["w1"] == first

    # And the first drops out once its heartbeat expired, unless it refreshed it
    assert [w.id for w in backend.workers(now=t0 + 11)] == ["w2"]
    backend.register_worker(first, ttl_s=10, now=t0 + 12)
    assert {w.id for w in backend.workers(now=t0 + 13)} == {"w1", "w2"}

    # And a worker that leaves is gone at once
    backend.unregister_worker("w1")
    backend.unregister_worker("never-registered")
    assert [w.id for w in backend.workers(now=t0 + 13)] == ["w2"]
    assert backend.workers(now=t0 + 100) == []
