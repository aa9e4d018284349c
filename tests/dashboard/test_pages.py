"""Every page over HTTP, on Redis, SQLite and memory: what it shows, escaped, with the security headers."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from tasks.backends.base import Backend
from tasks.dashboard import app
from tasks.model import MetricPoint, WorkerInfo
from tasks.scheduler import registered_schedules, unregister_schedule
from tests.dashboard.conftest import csrf_of, enqueue, make_failed, set_progress

PAGES = ("/", "/queues", "/jobs", "/failed", "/workers", "/schedules", "/batches")
SCRIPT = "<script>alert('owned')</script>"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_with_a_strict_content_security_policy(
    client: TestClient, backend: Backend, path: str
) -> None:
    enqueue(backend, "default", "j1")
    response = client.get(path)
    assert response.status_code == 200, response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text  # the only script is the external file
    # And its live block refreshes as JSON, with the same headers
    name = path.strip("/") or "overview"
    live = client.get(f"/api/live/{name}")
    assert live.status_code == 200 and "html" in live.json()
    assert "content-security-policy" in live.headers


def test_static_files_are_served_with_the_policy_too(client: TestClient) -> None:
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and "setInterval" in script.text
    assert "content-security-policy" in script.headers


def test_a_script_argument_and_a_markup_error_are_shown_escaped(client: TestClient, backend: Backend) -> None:
    # Given a job whose argument is a script, and a failed job whose error message holds markup
    enqueue(backend, "default", "xss", "tests.echo", SCRIPT)
    make_failed(backend, "errors", "broken")

    # Then the job page shows the argument as text, never as markup
    page = client.get("/job", params={"queue": "default", "id": "xss"}).text
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    # And the failed listing and the failed job's page show the error escaped
    for html in (client.get("/failed").text, client.get("/job", params={"queue": "errors", "id": "broken"}).text):
        assert "<b>input</b>" not in html and "bad &lt;b&gt;input&lt;/b&gt;" in html
    assert "Traceback (most recent call last)" in client.get("/job?queue=errors&id=broken").text


def test_the_jobs_page_filters_by_queue_state_and_name_and_finds_a_job_by_id(
    client: TestClient, backend: Backend
) -> None:
    make_failed(backend, "emails", "m2")
    enqueue(backend, "default", "a1", "tests.add", 1, 2)
    enqueue(backend, "default", "e1", "tests.echo", "x")
    enqueue(backend, "emails", "m1", "tests.on_emails", "ann@example.com")

    queued = client.get("/jobs", params={"queue": "default", "state": "queued"}).text
    assert "a1" in queued and "e1" in queued and "m1" not in queued
    named = client.get("/jobs", params={"queue": "default", "state": "queued", "name": "echo"}).text
    assert "e1" in named and ">a1<" not in named
    failed = client.get("/jobs", params={"queue": "emails", "state": "failed"}).text
    assert "m2" in failed and ">m1<" not in failed

    # Search by id without a queue finds the job in whichever queue holds it
    found = client.get("/job", params={"id": "m1"})
    assert found.status_code == 200 and "tests.on_emails" in found.text and "ann@example.com" in found.text
    missing = client.get("/job", params={"id": "nope"})
    assert missing.status_code == 404 and "no job with id 'nope'" in missing.text


def test_the_queues_and_overview_pages_count_each_state(client: TestClient, backend: Backend) -> None:
    enqueue(backend, "default", "r1")
    enqueue(backend, "default", "r2")
    make_failed(backend, "emails", "f1")
    queues = client.get("/queues").text
    assert 'data-queue="default"' in queues and 'data-queue="emails"' in queues
    overview = client.get("/").text
    assert '<span class="big">2</span> ready' in overview
    assert '<span class="big">1</span> failed' in overview
    assert "no metrics yet" not in overview and "Failures per minute" in overview  # the failure was counted
    assert 'class="tag ok">running' in queues and "tag paused" not in queues  # no queue is paused


def test_the_workers_page_lists_each_worker_with_its_running_jobs(client: TestClient, backend: Backend) -> None:
    now = time.time()
    info = WorkerInfo("w-1", "host-a", 4242, ("default", "emails"), now - 90, jobs_done=17, current_jobs=("j-7",),
                      extra={"supervisor_pid": 4000})
    backend.register_worker(info, ttl_s=60, now=now)
    page = client.get("/workers").text
    for text in ("host-a", "4242", "4000", "default, emails", "j-7", ">17<", "1 process(es)", "1 min 30 s"):
        assert text in page, text


def test_the_schedules_page_shows_next_fires_in_the_schedule_zone(client: TestClient, backend: Backend) -> None:
    from tasks.decorators import schedule

    schedule("0 9 * * *", "dash-morning", "tests.add", tz="Europe/Paris", misfire="once", args=(1, 2))
    try:
        page = client.get("/schedules").text
        assert "dash-morning" in page and "Europe/Paris" in page and ">once<" in page
        assert page.count(" 09:00:00 CE") == 3  # the next three fires, 9:00 Paris time (CET or CEST)
        assert "never" in page
        backend.claim_tick("dash-morning", 1_700_000_000.0)
        assert "2023-11-14 22:13:20 UTC" in client.get("/schedules").text
    finally:
        unregister_schedule("dash-morning")
    assert "dash-morning" not in [s.name for s in registered_schedules()]


def test_overview_charts_are_drawn_from_the_metric_series(fake: Backend) -> None:
    now = time.time()
    minute = now // 60 * 60
    fake.points[:] = [  # type: ignore[attr-defined]
        MetricPoint(minute - 120, "default", "tests.add", succeeded=30, failed=2, wait_s_sum=64.0),
        MetricPoint(minute - 60, "default", "tests.add", succeeded=50, failed=0, wait_s_sum=25.0),
        MetricPoint(minute - 60, "emails", "tests.on_emails", succeeded=5, failed=5, wait_s_sum=100.0),
    ]
    with TestClient(app(fake)) as http:
        page = http.get("/").text
    assert "no metrics yet" not in page
    assert page.count("<polyline") == 1 + 1 + 2  # jobs, failures, and the wait of each queue
    assert "Jobs per minute" in page and "Failures per minute" in page and "Wait time per queue" in page
    assert "emails: 10 s" in page  # 100 s of waits over 10 starts in the last full minute


def test_pause_shows_on_the_queues_page_and_the_buttons_pause_and_resume(fake: Backend) -> None:
    enqueue(fake, "default", "j1")
    with TestClient(app(fake)) as http:
        page = http.get("/queues").text
        assert "Pause" in page and "paused</span>" not in page
        reply = http.post("/actions/pause", data={"csrf": csrf_of(page), "queue": "default", "paused": "1",
                                                  "next": "/queues"})
        assert reply.status_code == 200 and "default paused" in reply.text  # after the redirect
        assert fake.paused_queues() == {"default"}
        assert '<span class="tag paused">paused</span>' in reply.text and "Resume" in reply.text
        http.post("/actions/pause", data={"csrf": csrf_of(page), "queue": "default", "paused": "0"})
        assert fake.paused_queues() == set()


def test_a_running_job_shows_its_progress_bar(client: TestClient, backend: Backend) -> None:
    enqueue(backend, "default", "long")
    backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)
    set_progress(backend, "default", "long", 0.42, "step 42 of 100")
    page = client.get("/job", params={"queue": "default", "id": "long"}).text
    assert '<progress id="job-progress" max="1" value="0.42">' in page and "step 42 of 100" in page
    listed = client.get("/jobs", params={"queue": "default", "state": "running"}).text
    assert '<progress max="1" value="0.42">' in listed and "42%" in listed
    assert "Cancel" in page


def test_next_fire_times_are_kept_until_each_passes() -> None:
    from tasks.dashboard.pages import next_fires
    from tasks.decorators import schedule

    every_minute = schedule("0 * * * * *", "dash-minutely", "tests.add", args=(1, 2))
    try:
        now = 1_800_000_000.0  # a whole minute
        assert next_fires(every_minute, now) == [now + 60, now + 120, now + 180]
        assert next_fires(every_minute, now + 59) == [now + 60, now + 120, now + 180]
        assert next_fires(every_minute, now + 61) == [now + 120, now + 180, now + 240]
        assert next_fires(every_minute, now + 3600) == [now + 3660, now + 3720, now + 3780]
    finally:
        unregister_schedule("dash-minutely")


def test_the_name_filter_reads_on_through_the_index_until_a_page_is_full(backend: Backend) -> None:
    from tasks.dashboard.data import list_jobs

    # Given 300 jobs of which every tenth is a report
    for i in range(300):
        enqueue(backend, "q", f"j{i:03d}", "shop.report" if i % 10 == 0 else "shop.other")

    # Then a page of 20 reports reads through 191 jobs, and the next page starts after the last one it took
    first, following = list_jobs(backend, "q", "queued", limit=20, offset=0, name="report")
    assert [i.id for i in first] == [f"j{i:03d}" for i in range(0, 200, 10)] and following == 191
    rest, end = list_jobs(backend, "q", "queued", limit=20, offset=following, name="report")
    assert [i.id for i in rest] == [f"j{i:03d}" for i in range(200, 300, 10)] and end is None
    plain, more = list_jobs(backend, "q", "queued", limit=100, offset=250, name="")
    assert len(plain) == 50 and more is None


def test_cancel_on_the_job_page_cancels_a_queued_job(client: TestClient, backend: Backend) -> None:
    # Given a queued job shown on its page
    enqueue(backend, "default", "c1")
    page = client.get("/job?queue=default&id=c1").text
    assert "Cancel" in page

    # When its Cancel button is pressed
    reply = client.post("/actions/cancel", data={"csrf": csrf_of(page), "queue": "default", "id": "c1"})

    # Then it never runs: its record says cancelled, and the notice says so
    assert reply.status_code == 200 and "c1 cancelled: it will not run" in reply.text
    assert backend.status("default", "c1").state == "cancelled"  # type: ignore[union-attr]


def test_the_batches_page_shows_progress_and_cancels_a_batch(client: TestClient, backend: Backend) -> None:
    import tasks
    from tests import jobs

    # Given a batch of three members, one of them done
    handle = tasks.batch([jobs.wf_step.prepare(str(i)) for i in range(3)], name="thumbnails").delay()
    [lease] = backend.reserve(["default"], worker_id="w", now=time.time(), lease_s=30)
    from tasks.model import Completed
    from tasks.worker import executor

    assert executor.complete_members(backend, [(lease, Completed('"0"', 60))], now=time.time()) == [True]

    # Then the page lists it with its progress
    page = client.get("/batches").text
    assert f'data-batch="{handle.id}"' in page and "thumbnails" in page and "1/3" in page

    # When its Cancel button is pressed, Then the members not yet started will not run
    reply = client.post("/actions/cancel-batch", data={"csrf": csrf_of(page), "id": handle.id})
    assert reply.status_code == 200 and f"{handle.id} cancelled" in reply.text
    assert handle.progress().cancelled == 2
