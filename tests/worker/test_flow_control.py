"""Flow control with real pools on Redis and SQLite: paused queues (and the limits' guarantees)."""

from __future__ import annotations

import bisect
import time

import pytest

from tasks import bulk, queue
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend
from tests import jobs
from tests.support.waiting import wait_until
from tests.worker.conftest import Site, records, wait_for_workers

pytestmark = [pytest.mark.redis]


@pytest.mark.timeout(90)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_a_paused_queue_is_not_served_while_another_is_and_drains_once_resumed(site: Site) -> None:
    # Given a paused queue "emails" holding jobs, and a pool serving it and "default"
    queue("emails").pause()
    with bulk():
        held = [jobs.on_emails.delay(f"to{i}").id for i in range(20)]
    pool = site.pools.start("--concurrency", "2", "--queues", "default,emails")
    wait_for_workers(site.backend, pool, 2)

    # When jobs of "default" arrive and run for 5 s
    began = time.monotonic()
    served: list[str] = []
    while time.monotonic() - began < 5:
        served.append(jobs.record.delay(f"d{len(served)}").id)
        time.sleep(0.25)
    wait_until(lambda: site.all_in(served, "succeeded"), timeout=30, interval=0.05, message="default served")

    # Then no job of the paused queue started meanwhile
    emails = [site.backend.status("emails", job_id) for job_id in held]
    assert all(s is not None and (s.state, s.attempts) == ("queued", 0) for s in emails)
    assert queue("emails").is_paused()

    # And once resumed, it drains
    queue("emails").resume()
    wait_until(
        lambda: all((s := site.backend.status("emails", i)) and s.state == "succeeded" for i in held),
        timeout=30,
        interval=0.05,
        message="the resumed queue drained",
    )
    assert len([r for r in records(site.pools.record) if r.startswith("d")]) == len(served)


def timed_runs(site: Site, kind: str) -> list[tuple[str, float, float]]:
    """``(key, start, end)`` of every run the flow-control jobs of ``kind`` recorded."""
    found = []
    for line in records(site.pools.record):
        parts = line.split("|")
        if len(parts) == 4 and parts[0] == kind:
            found.append((parts[1], float(parts[2]), float(parts[3])))
    return found


def most_at_once(runs: list[tuple[float, float]]) -> int:
    """The most runs in progress at one moment (an end before a start at the same instant)."""
    events = sorted([(start, 1) for start, _ in runs] + [(end, -1) for _, end in runs], key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.timeout(180)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_concurrency_per_key_holds_across_processes(site: Site) -> None:
    # Given 1,000 jobs over 10 users, at most 2 at once per user
    handles = [jobs.per_user.delay(i % 10, i, 0.02) for i in range(1000)]

    # When a pool of 8 processes runs them
    site.pools.start("--concurrency", "8", "--burst")
    wait_until(
        lambda: site.all_in([h.id for h in handles], "succeeded"), timeout=150, interval=0.1, message="all ran"
    )

    # Then each ran once, never more than 2 at once for one user, and never charged an attempt for waiting
    runs = timed_runs(site, "user")
    assert len(runs) == 1000
    for user in range(10):
        assert most_at_once([(s, e) for key, s, e in runs if key == str(user)]) <= 2
    assert set(site.attempts([h.id for h in handles])) == {1}
    assert most_at_once([(s, e) for _, s, e in runs]) > 2  # and the limit is per key: users ran side by side


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("two real pools, one SIGKILLed; lease expiry is wall-clock timed")
def test_a_killed_pools_slot_comes_back_one_lease_later(site: Site) -> None:
    # Given a pool with a 2 s lease running a long job of a key allowed one at a time, and another job of the key
    first = site.pools.start("--concurrency", "2", "--lease", "2")
    wait_for_workers(site.backend, first, 2)
    long_one = jobs.per_user.with_options(concurrency=1, max_attempts=1).delay(7, 0, 60)  # not run again
    wait_until(lambda: site.running() == 1, timeout=20, interval=0.05, message="the long job started")
    waiting = jobs.per_user.with_options(concurrency=1).delay(7, 1, 0)
    wait_until(
        lambda: site.backend.status("default", waiting.id).state == "scheduled",  # type: ignore[union-attr]
        timeout=20,
        interval=0.05,
        message="the other job of the key held back by the free process",
    )

    # When that pool is killed whole, and another pool serves the queue
    first.kill_group()
    killed_at = time.monotonic()
    second = site.pools.start("--concurrency", "1", "--lease", "2")

    # Then the waiting job runs once the dead pool's lease ran out, not much later
    wait_until(
        lambda: site.backend.status("default", waiting.id).state == "succeeded",  # type: ignore[union-attr]
        timeout=60,
        interval=0.05,
        message="the held job ran after the lease expired",
    )
    assert time.monotonic() - killed_at < 30, second.log_text()
    status = site.backend.status("default", long_one.id)
    assert status is not None and status.state == "failed"  # its worker lost, attempts spent


def recorded_starts(site: Site, bucket: str) -> dict[str, float]:
    """The starts the datastore counts now for the rate limit ``bucket`` (kept two periods), by entry."""
    if isinstance(site.backend, RedisBackend):
        key = site.backend.keys.queue(site.queue).rate(bucket)
        return {str(member): float(score) for member, score in site.backend.client.zrange(key, 0, -1, withscores=True)}
    assert isinstance(site.backend, SQLiteBackend)
    with site.backend.db.read() as conn:
        rows = conn.execute("SELECT rowid, at FROM rate_starts WHERE bucket = ?", (bucket,)).fetchall()
    return {str(rowid): float(at) for rowid, at in rows}


def busiest_window(times: list[float], size_s: float = 1.0) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + size_s) - i for i, t in enumerate(ordered)), default=0)


@pytest.mark.timeout(180)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_a_rate_limit_holds_in_every_one_second_window_across_processes(site: Site) -> None:
    # Given 1,000 jobs limited to 50 starts a second (20 s of starts)
    handles = [jobs.rate_limited.delay(i) for i in range(1000)]
    ids = [h.id for h in handles]

    # When a pool of 8 processes runs them (the starts the datastore counts are read as they happen)
    site.pools.start("--concurrency", "8")
    counted: dict[str, float] = {}

    def drained() -> bool:
        counted.update(recorded_starts(site, "tests.rate_limited"))
        return site.all_in(ids, "succeeded")

    wait_until(drained, timeout=150, interval=0.3, message="all ran")

    # Then no one-second window held more than 50 starts, and the limit was used, not wasted (>= 95 % of it)
    starts = sorted(counted.values())
    assert len(starts) == 1000
    mean = (len(starts) - 1) / (starts[-1] - starts[0])
    ran = [start for _, start, _ in timed_runs(site, "rate")]
    print(f"rate limit 50/s: busiest 1 s window {busiest_window(starts)} starts counted, "
          f"{busiest_window(ran)} begun; mean {mean:.1f}/s")
    assert busiest_window(starts) <= 50
    assert mean >= 0.95 * 50
    assert set(site.attempts(ids)) == {1}


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("starts a pool of processes; a stall of the shared machine can miss one of its deadlines")
def test_debounce_runs_once_with_the_last_arguments_after_the_last_dispatch(site: Site) -> None:
    # Given a pool, and 100 dispatches of one document over 3 s with debounce=1
    pool = site.pools.start("--concurrency", "2")
    wait_for_workers(site.backend, pool, 2)
    handles = []
    for version in range(100):
        handles.append(jobs.reindex.delay(9, version))
        time.sleep(0.03)
    last_sent = time.time()

    # Then one job ran, once, with the last dispatch's arguments, about 1 s after it
    wait_until(lambda: timed_runs(site, "reindex"), timeout=30, interval=0.05, message="the debounced job ran")
    time.sleep(1.5)  # nothing else runs afterwards
    runs = timed_runs(site, "reindex")
    assert [key for key, _, _ in runs] == ["9:99"]
    assert len({h.id for h in handles}) == 1
    assert 0.95 <= runs[0][1] - last_sent < 3.0
