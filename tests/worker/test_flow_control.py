"""Flow control with real pools on Redis and SQLite: paused queues (and the limits' guarantees)."""

from __future__ import annotations

import time

import pytest

from tasks import bulk, queue
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
