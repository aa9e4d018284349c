"""Unique jobs and debounce through ``Backend.enqueue_flow``, on every backend."""

from __future__ import annotations

import time

from tasks import call, queue
from tasks.backends.base import Backend
from tasks.backends.redis.backend import RedisBackend
from tasks.limits import JobFlow
from tasks.model import ErrorInfo
from tests import jobs
from tests.contract import procs
from tests.contract.conftest import Clock, Target, new_job
from tests.contract.contention import in_processes

UNIQUE = JobFlow(unique="send_invoice:42", unique_for_s=3600)
ERROR = ErrorInfo("ValueError", "boom")


def test_a_duplicate_of_a_unique_job_is_not_stored_and_names_the_first(backend: Backend, clock: Clock) -> None:
    # Given a unique job dispatched once
    assert backend.enqueue_flow(new_job("q", "a", now=clock()), UNIQUE, now=clock()) == ("a", True)

    # When the same key is dispatched again, queued then running
    assert backend.enqueue_flow(new_job("q", "b", now=clock()), UNIQUE, now=clock()) == ("a", False)
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert backend.enqueue_flow(new_job("q", "c", now=clock()), UNIQUE, now=clock()) == ("a", False)

    # Then only the first exists; once it finished, the key is free again
    assert backend.status("q", "b") is None and backend.status("q", "c") is None
    assert backend.complete(lease, "null", now=clock(), result_ttl_s=60)
    assert backend.enqueue_flow(new_job("q", "d", now=clock()), UNIQUE, now=clock()) == ("d", True)


def test_other_keys_are_not_duplicates(backend: Backend, clock: Clock) -> None:
    other = JobFlow(unique="send_invoice:43", unique_for_s=3600)
    assert backend.enqueue_flow(new_job("q", "a", now=clock()), UNIQUE, now=clock()) == ("a", True)
    assert backend.enqueue_flow(new_job("q", "b", now=clock()), other, now=clock()) == ("b", True)
    assert backend.queue_stats("q").ready == 2


def test_a_lock_held_until_start_ends_when_the_job_starts(backend: Backend, clock: Clock) -> None:
    flow = JobFlow(unique="k", unique_for_s=3600, unique_until="start")
    backend.enqueue_flow(new_job("q", "a", now=clock()), flow, now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert backend.enqueue_flow(new_job("q", "b", now=clock()), flow, now=clock()) == ("b", True)


def test_a_lock_held_until_finish_lasts_through_retries_and_ends_with_a_failure(backend: Backend, clock: Clock) -> None:
    backend.enqueue_flow(new_job("q", "a", now=clock()), UNIQUE, now=clock())
    [first] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert backend.retry(first, run_at=clock(), error=ERROR, now=clock())
    assert backend.enqueue_flow(new_job("q", "b", now=clock()), UNIQUE, now=clock()) == ("a", False)
    [second] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    assert backend.fail(second, error=ERROR, now=clock())
    assert backend.enqueue_flow(new_job("q", "c", now=clock()), UNIQUE, now=clock()) == ("c", True)


def test_unique_for_bounds_the_lock(backend: Backend, clock: Clock) -> None:
    flow = JobFlow(unique="k", unique_for_s=1)
    backend.enqueue_flow(new_job("q", "a", now=clock()), flow, now=clock())
    if isinstance(backend, RedisBackend):  # a Redis key's TTL runs on the server's clock (cluster included)
        time.sleep(1.1)  # the TTL is 1 s on the server's clock: past it, the key is gone when next read
    assert backend.enqueue_flow(new_job("q", "b", now=clock() + 2), flow, now=clock() + 2) == ("b", True)


def test_debounce_keeps_one_job_with_the_last_payload_due_after_the_last_dispatch(
    backend: Backend, clock: Clock
) -> None:
    flow = JobFlow(unique="reindex:7", debounce_s=5, unique_until="start")
    # Given three dispatches a second apart
    for i in range(3):
        job = new_job("q", f"j{i}", now=clock(), run_at=clock() + 5, payload=f'{{"n":{i}}}')
        stored = backend.enqueue_flow(job, flow, now=clock())
        assert stored == ("j0", i == 0)
        clock.advance(1)
    # Then one job stands, due 5 s after the last dispatch, with the last payload
    assert backend.reserve(["q"], worker_id="w", now=clock() + 2.9, lease_s=30) == []
    [lease] = backend.reserve(["q"], worker_id="w", now=clock() + 4, lease_s=30)
    assert (lease.job_id, lease.payload) == ("j0", '{"n":2}')
    # And a dispatch once it started makes a new job
    job = new_job("q", "j9", now=clock(), run_at=clock() + 5)
    assert backend.enqueue_flow(job, flow, now=clock()) == ("j9", True)


# --- through the public API --------------------------------------------------------------------------------------


def test_a_duplicate_dispatch_returns_the_first_jobs_handle(app: Target) -> None:
    first = jobs.unique_invoice.delay(7)
    again = jobs.unique_invoice.delay(7, sender="again")
    other = jobs.unique_invoice.delay(8)
    assert not first.deduplicated and again.deduplicated and not other.deduplicated
    assert again.id == first.id and other.id != first.id
    assert queue("default").size() == 2


def test_with_options_makes_any_dispatch_unique_and_works_by_name(app: Target) -> None:
    view = jobs.add.with_options(unique_for=60, unique_key="nightly")
    first, second = view.delay(1, 2), view.delay(3, 4)
    assert second.deduplicated and second.id == first.id
    by_name = call("tests.add").with_options(unique_for=60, unique_key="nightly")
    assert by_name.delay(5, 6).id == first.id
    plain = jobs.add.delay(1, 2)
    assert not plain.deduplicated


def test_unique_for_alone_makes_the_arguments_the_key(app: Target) -> None:
    view = jobs.add.with_options(unique_for=60)
    assert view.delay(1, 2).id == view.delay(1, 2).id
    assert view.delay(1, 2).id != view.delay(2, 1).id


def test_processes_dispatching_one_key_at_once_make_exactly_one_job(shared_target: Target) -> None:
    # Given 8 processes released at once, each dispatching the same unique key 500 times
    results = in_processes(8, procs.dispatch_unique, shared_target.url, shared_target.prefix, 42, 500)

    # Then every handle names one and the same job, and it alone was stored
    ids = set().union(*(found for found, _ in results))
    assert len(ids) == 1
    assert sum(dedup for _, dedup in results) == 8 * 500 - 1
    backend = shared_target.open()
    assert backend.queue_stats("default").ready == 1
    backend.close()


def test_debounced_dispatches_fold_into_one_job_with_the_last_arguments(app: Target) -> None:
    handles = [jobs.reindex.delay(3, version) for version in range(5)]
    assert len({h.id for h in handles}) == 1
    assert [h.deduplicated for h in handles] == [False, True, True, True, True]
    backend = app.open()
    status = backend.status("default", handles[0].id)
    assert status is not None and status.state == "scheduled" and '"args":[3,4]' in status.payload
    assert jobs.reindex.delay(4, 0).id != handles[0].id  # another document
    backend.close()
