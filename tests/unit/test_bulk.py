"""``with tasks.bulk():`` buffers dispatches and sends them together when the block exits."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tasks import JobHandle, SerializationError, bulk, queue
from tasks.config import get_backend
from tests import jobs
from tests.unit.helpers import drain


@pytest.fixture(params=["memory", "redis", "sqlite"])
def any_app(request: pytest.FixtureRequest) -> str:
    """The process configured for each backend in turn, under the test's own prefix or file."""
    return str(request.getfixturevalue(f"{request.param}_app"))


def stored(handle: JobHandle[Any]) -> bool:
    return get_backend().status(handle.queue, handle.id) is not None


def test_handles_from_inside_the_block_are_valid_after_it(any_app: str) -> None:
    # Given jobs dispatched inside a bulk block
    with bulk():
        handles = [jobs.add.delay(i, 1) for i in range(5)]
        # Then nothing is sent while the block runs
        assert queue("default").size() == 0
        assert not any(stored(h) for h in handles)

    # And after it, every handle names a queued job with its own id
    assert len({h.id for h in handles}) == 5
    assert [h.status() for h in handles] == ["queued"] * 5
    assert queue("default").size() == 5

    # And the jobs run with their arguments
    drain()
    assert [h.result(timeout=5) for h in handles] == [1, 2, 3, 4, 5]


def test_an_error_inside_the_block_dispatches_nothing(any_app: str) -> None:
    # Given a block that dispatches, then raises
    with pytest.raises(RuntimeError, match="changed my mind"), bulk():
        handle = jobs.add.delay(1, 2)
        jobs.add.delay(3, 4)
        raise RuntimeError("changed my mind")

    # Then nothing reached the datastore
    assert queue("default").size() == 0
    with pytest.raises(LookupError):
        handle.status()


def test_an_argument_that_cannot_be_encoded_fails_at_its_dispatch_and_the_block_sends_nothing(any_app: str) -> None:
    # Given a block whose second dispatch cannot be encoded
    with pytest.raises(SerializationError, match="positional argument 0"), bulk():
        jobs.add.delay(1, 2)
        jobs.add.delay(object(), 2)  # type: ignore[arg-type]

    # Then the error came from the dispatch itself, and the first job was not sent either
    assert queue("default").size() == 0


def test_nested_blocks_join_the_outermost_one(any_app: str) -> None:
    # Given a block nested in another
    with bulk():
        outer = jobs.add.delay(1, 1)
        with bulk():
            inner = jobs.add.delay(2, 2)
        # Then leaving the inner block sends nothing yet
        assert not stored(inner)

    # And leaving the outer block sends both
    assert (outer.status(), inner.status()) == ("queued", "queued")


def test_a_nested_block_that_raises_drops_only_its_own_dispatches(any_app: str) -> None:
    # Given an outer block that catches the error of an inner one and goes on
    with bulk():
        before = jobs.add.delay(1, 1)
        try:
            with bulk():
                dropped = jobs.add.delay(2, 2)
                raise ValueError("inner")
        except ValueError:
            pass
        after = jobs.add.delay(3, 3)

    # Then the outer block's own dispatches are sent, the inner block's are not
    assert before.status() == after.status() == "queued"
    assert not stored(dropped)
    assert queue("default").size() == 2


def test_one_block_sends_to_several_queues_and_schedules_later_jobs(any_app: str) -> None:
    # Given dispatches to two queues and a delayed one in one block
    with bulk():
        now = jobs.add.delay(1, 1)
        elsewhere = jobs.add.on("other").delay(2, 2)
        delayed = jobs.add.later(3600, 3, 3)

    # Then each is where a single dispatch would have put it
    assert (now.status(), elsewhere.status(), delayed.status()) == ("queued", "queued", "scheduled")
    assert (queue("default").size(), queue("other").size(), queue("default").scheduled_size()) == (1, 1, 1)


def test_a_repeated_job_id_in_one_block_is_stored_once(any_app: str) -> None:
    # Given two dispatches under the same id in one block
    with bulk():
        first = jobs.add.with_options(job_id="once").delay(1, 1)
        second = jobs.add.with_options(job_id="once").delay(2, 2)

    # Then the first one is stored and the second refused, as outside a block
    assert first.id == second.id == "once"
    assert queue("default").size() == 1
    drain()
    assert first.result(timeout=5) == 2


def test_a_large_block_keeps_the_dispatch_order(any_app: str) -> None:
    # Given more jobs than one script call carries (they go out in several calls, in one round trip)
    with bulk():
        handles = [jobs.add.delay(i, 0) for i in range(2500)]

    # Then all are queued, first dispatched first reserved
    assert queue("default").size() == 2500
    leases = get_backend().reserve(["default"], worker_id="test", now=time.time(), lease_s=30, count=2500)
    assert [lease.job_id for lease in leases] == [h.id for h in handles]


def test_a_block_captures_only_its_own_threads_dispatches(any_app: str) -> None:
    # Given a bulk block open in this thread while another thread dispatches
    sent: list[JobHandle[int]] = []
    with bulk():
        other = threading.Thread(target=lambda: sent.append(jobs.add.delay(5, 5)))
        other.start()
        other.join()
        # Then the other thread's job was sent at once
        assert sent[0].status() == "queued"
        mine = jobs.add.delay(1, 1)
        assert not stored(mine)
    assert mine.status() == "queued"
