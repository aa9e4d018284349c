"""Rate limits: at most n starts in any window of ``per`` seconds, checked and taken in the reserve."""

from __future__ import annotations

import pytest

from tasks.backends.base import Backend
from tasks.limits import JobFlow
from tests.contract.conftest import Clock, new_job

THREE_PER_10S = JobFlow(rates=(("sync_contact", 3, 10.0),))


@pytest.fixture(autouse=True)
def clock_ahead(clock: Clock) -> None:
    """The caller's clock ahead of the server's: Redis counts a start at the later of the two (a reserve may run
    after the ``now`` it was given), so these tests, which move time by hand, keep ahead of real time."""
    clock.advance(3600)


def enqueue(backend: Backend, clock: Clock, job_id: str, flow: JobFlow) -> None:
    assert backend.enqueue_flow(new_job("q", job_id, now=clock()), flow, now=clock()) == (job_id, True)


def take(backend: Backend, clock: Clock, count: int = 10) -> list[str]:
    return [x.job_id for x in backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=count)]


def test_starts_beyond_the_limit_wait_for_the_window_without_spending_an_attempt(
    backend: Backend, clock: Clock
) -> None:
    # Given five jobs limited to 3 starts per 10 s, and a plain job behind them
    for i in range(5):
        enqueue(backend, clock, f"j{i}", THREE_PER_10S)
    backend.enqueue(new_job("q", "plain", now=clock()), now=clock())

    # When a worker takes what it can: three start, the plain job is not held up behind the others
    assert take(backend, clock) == ["j0", "j1", "j2", "plain"]

    # Then the other two wait, scheduled (no attempt counted), due when the window allows: computed, not polled
    status = backend.status("q", "j3")
    assert status is not None and (status.state, status.attempts) == ("scheduled", 0)
    assert backend.next_due(["q"]) == clock() + 10
    clock.advance(9.9)
    assert take(backend, clock) == []
    clock.advance(0.1)
    assert sorted(take(backend, clock)) == ["j3", "j4"]


def test_a_sliding_window_never_holds_more_than_n(backend: Backend, clock: Clock) -> None:
    # Jobs arrive one every second with a limit of 3 per 10 s: over any 10 s, at most 3 start
    starts: list[float] = []
    for i in range(30):
        enqueue(backend, clock, f"j{i}", THREE_PER_10S)
        starts += [clock()] * len(take(backend, clock))
        clock.advance(1)
    assert len(starts) >= 8
    for t in starts:
        assert len([s for s in starts if t <= s < t + 10]) <= 3


def test_keys_split_a_limit(backend: Backend, clock: Clock) -> None:
    ann, bob = JobFlow(rates=(("call:ann", 1, 60.0),)), JobFlow(rates=(("call:bob", 1, 60.0),))
    enqueue(backend, clock, "a1", ann)
    enqueue(backend, clock, "a2", ann)
    enqueue(backend, clock, "b1", bob)
    assert take(backend, clock) == ["a1", "b1"]


def test_a_job_under_two_limits_waits_for_the_later_one(backend: Backend, clock: Clock) -> None:
    both = JobFlow(rates=(("own", 10, 1.0), ("stripe", 1, 30.0)))
    enqueue(backend, clock, "a", both)
    enqueue(backend, clock, "b", both)
    assert take(backend, clock) == ["a"]
    assert backend.next_due(["q"]) == clock() + 30


def test_a_held_job_does_not_count_a_start(backend: Backend, clock: Clock) -> None:
    # A job held by its concurrency limit takes no start of its rate limit
    flow = JobFlow(concurrency=1, concurrency_key="k", rates=(("r", 2, 60.0),))
    enqueue(backend, clock, "a", flow)
    enqueue(backend, clock, "b", flow)
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=10)
    assert backend.complete(lease, "null", now=clock(), result_ttl_s=60)
    assert take(backend, clock) == ["b"]  # the second start of two allowed


def test_the_use_of_limits_can_be_read(backend: Backend, clock: Clock) -> None:
    # Given two starts of a rate limit, and a key whose one slot is taken with one job waiting
    for i in range(2):
        enqueue(backend, clock, f"r{i}", THREE_PER_10S)
    one_slot = JobFlow(concurrency=1, concurrency_key="feed")
    enqueue(backend, clock, "c1", one_slot)
    enqueue(backend, clock, "c2", one_slot)
    assert sorted(take(backend, clock)) == ["c1", "r0", "r1"]

    # Then the listing reads them (an unknown limit reads as unused)
    use = backend.limit_use("q", rates=[("sync_contact", 10.0), ("other", 1.0)], slots=["feed", "none"], now=clock())
    assert use == ([2, 0], [(1, 1), (0, 0)])
