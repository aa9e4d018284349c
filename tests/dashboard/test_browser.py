"""The dashboard in a real browser: Debian's headless chromium, driven by Selenium through chromium-driver,
against the app served by uvicorn on a free port.

Every page loads and refreshes itself with no console error (a CSP violation is one), retry on a failed job
moves it back and the page shows it, pause shows on the Queues page, and a running job's progress bar moves.
Metric points come from ``conftest.Fakes`` (the charts need exact figures); pause runs on the fake and on the
real backend alike; progress is the real backend's record.
Screenshots of each page go to ``$TASKS_SCREENSHOTS`` when it is set (docs/images/dashboard/ was made so),
else to the test's tmp_path.

Absent chromium skips these tests locally, and fails them in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.backends.base import Backend
from tasks.dashboard import app
from tasks.model import MetricPoint, WorkerInfo
from tests.contract.conftest import Target
from tests.dashboard.conftest import enqueue, make_failed, open_fake, set_progress
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGES = {
    "overview": "/",
    "queues": "/queues",
    "jobs": "/jobs?queue=default&state=queued",
    "job": "/job?queue=emails&id=welcome-7",
    "failed": "/failed?queue=default",
    "workers": "/workers",
    "schedules": "/schedules",
    "batches": "/batches",
}
#: A page refreshes every 2 s; a loaded machine gets ten times that.
REFRESH_DEADLINE_S = 20.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def require_chromium() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(DRIVER) and shutil.which("chromium"):
        return
    message = f"no {CHROMIUM} and {DRIVER}: apt-get install chromium chromium-driver (.ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


class Served:
    """The dashboard of ``backend`` served by uvicorn in a thread of this process."""

    def __init__(self, backend: Backend) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app(backend), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=30, message="uvicorn to start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Browser:
    """Headless chromium, its console log read after every step."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver: Any = webdriver.Chrome(service=Service(DRIVER), options=options)
        self.driver.set_page_load_timeout(60)

    def errors(self) -> list[str]:
        """Console errors since the last call (CSP violations, script errors, failed loads)."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def open(self, url: str) -> None:
        self.driver.get(url)
        wait_until(lambda: self.driver.execute_script("return document.readyState") == "complete", timeout=30)

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    # The live block is swapped every 2 s, so an element found in it may be gone a moment later: each read and
    # click below is one script in the page, which sees the document as it is at that instant.

    def text(self, selector: str) -> str | None:
        return self.driver.execute_script(  # type: ignore[no-any-return]
            "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", selector
        )

    def attr(self, selector: str, name: str) -> list[str]:
        """``name`` of every element ``selector`` matches."""
        return self.driver.execute_script(  # type: ignore[no-any-return]
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute(arguments[1]));",
            selector,
            name,
        )

    def click(self, selector: str) -> None:
        assert self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); if (e) { e.click(); } return e !== null;", selector
        ), f"nothing to click at {selector}"

    def refreshed(self) -> str:
        """Wait for the next live refresh of the page; returns its stamp."""
        before = self.driver.find_element("id", "live").get_attribute("data-updated")
        return wait_until(
            lambda: (stamp := self.driver.find_element("id", "live").get_attribute("data-updated")) != before and stamp,
            timeout=REFRESH_DEADLINE_S,
            message="the page's live block to refresh",
        )

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture
def browser() -> Iterator[Browser]:
    require_chromium()
    opened = Browser()
    yield opened
    opened.quit()


@pytest.fixture(params=("sqlite", "redis"))
def target(request: pytest.FixtureRequest, prefix: str, tmp_path: Path) -> Target:
    from tests.contract.conftest import make_target

    return make_target(request.param, prefix, tmp_path)


@pytest.fixture
def site(target: Target) -> Iterator[tuple[Backend, Served]]:
    """A backend with the fakes, holding a little of everything, and the dashboard served on it."""
    import tasks.config

    tasks.config.configure(url=target.url, prefix=target.prefix)
    backend = open_fake(target)
    fill(backend)
    served = Served(backend)
    yield backend, served
    served.stop()
    backend.close()


def fill(backend: Any) -> None:
    """Queues with ready, scheduled, running and failed jobs, two workers, a schedule and an hour of metrics."""
    from tasks.decorators import schedule
    from tasks.scheduler import registered_schedules

    make_failed(backend, "default", "charge-41", "charge-42")
    for i in range(1, 6):
        enqueue(backend, "default", f"report-{i}", "shop.jobs.build_report", {"month": f"2026-{i:02d}"})
    enqueue(backend, "emails", "welcome-7", "shop.jobs.send_welcome", "ann@example.com")
    enqueue(backend, "emails", "welcome-8", "shop.jobs.send_welcome", "<script>alert(1)</script>")
    now = time.time()
    backend.reserve(["emails"], worker_id="host-a:4242", now=now, lease_s=600)
    set_progress(backend, "emails", "welcome-7", 0.25, "rendering")
    for pid in (4242, 4243):
        info = WorkerInfo(f"host-a:{pid}", "host-a", pid, ("emails", "default"), now - 3600, jobs_done=pid - 4000,
                          current_jobs=("welcome-7",) if pid == 4242 else (), extra={"supervisor_pid": 4200})
        backend.register_worker(info, ttl_s=600, now=now)
    if "nightly-report" not in [s.name for s in registered_schedules()]:
        schedule("0 2 * * *", "nightly-report", "tests.add", tz="Europe/Paris", misfire="once", args=(1, 2))
    minute = now // 60 * 60
    backend.points[:] = [
        MetricPoint(minute - 60 * k, queue, "job", succeeded=int(40 + 25 * abs((k % 20) - 10) / 10) // share,
                    failed=(k % 7 == 0) * 3 // share, wait_s_sum=(k % 11 + 1) * 2.0 * share)
        for k in range(1, 61) for queue, share in (("default", 1), ("emails", 2))
    ]


def screenshots() -> Path | None:
    folder = os.environ.get("TASKS_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_every_page_loads_and_refreshes_with_no_console_error(
    site: tuple[Backend, Served], browser: Browser, tmp_path: Path
) -> None:
    _, served = site
    folder = screenshots() or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        browser.open(served.url(path))
        assert browser.css("#live"), name
        browser.refreshed()  # the script ran, fetched the live block and swapped it in
        assert browser.errors() == [], name
        browser.driver.save_screenshot(str(folder / f"{name}.png"))
    # The <script> argument of welcome-8 is shown as text on its page, and never runs (no alert is open)
    browser.open(served.url("/job?queue=emails&id=welcome-8"))
    assert "<script>alert(1)</script>" in (browser.text("#job-args") or "")
    assert browser.errors() == []


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_a_count_changes_on_the_page_without_a_reload(site: tuple[Backend, Served], browser: Browser) -> None:
    backend, served = site
    browser.open(served.url("/queues"))
    row = 'tr[data-queue="default"] td:nth-child(2)'
    assert browser.text(row) == "5"
    enqueue(backend, "default", "report-6", "shop.jobs.build_report", {})
    wait_until(lambda: browser.text(row) == "6", timeout=REFRESH_DEADLINE_S,
               message="the ready count to become 6 on the page")
    assert browser.errors() == []


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_retry_on_a_failed_job_moves_it_back_and_the_page_shows_it(
    site: tuple[Backend, Served], browser: Browser
) -> None:
    backend, served = site
    browser.open(served.url("/failed?queue=default"))
    assert len(browser.attr("tr[data-id]", "data-id")) == 2
    browser.click('tr[data-id="charge-41"] button.retry-one')
    wait_until(lambda: "moved back to ready" in browser.driver.page_source, timeout=30, message="the notice")
    assert browser.attr("tr[data-id]", "data-id") == ["charge-42"]
    assert backend.status("default", "charge-41").state == "queued"  # type: ignore[union-attr]
    browser.open(served.url("/jobs?queue=default&state=queued"))
    assert "charge-41" in (browser.text("#jobs") or "")
    assert browser.errors() == []


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_pause_shows_on_the_queues_page(site: tuple[Backend, Served], browser: Browser) -> None:
    backend, served = site
    pause_and_see(backend, served, browser)


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_a_running_jobs_progress_bar_moves(site: tuple[Backend, Served], browser: Browser) -> None:
    backend, served = site
    browser.open(served.url("/job?queue=emails&id=welcome-7"))
    assert browser.attr("#job-progress", "value") == ["0.25"]
    set_progress(backend, "emails", "welcome-7", 0.75, "sending")
    wait_until(lambda: browser.attr("#job-progress", "value") == ["0.75"], timeout=REFRESH_DEADLINE_S,
               message="the progress bar to reach 75%")
    assert "sending" in (browser.text("#live") or "")
    assert browser.errors() == []


def pause_and_see(backend: Backend, served: Served, browser: Browser) -> None:
    browser.open(served.url("/queues"))
    browser.click('tr[data-queue="emails"] button.pause')
    wait_until(lambda: "emails paused" in browser.driver.page_source, timeout=30, message="the pause notice")
    assert browser.text('tr[data-queue="emails"] .tag.paused') == "paused"
    assert "emails" in backend.paused_queues()
    assert browser.errors() == []


@pytest.mark.rerun_once("a real browser and server on a small shared machine: a stall can miss a deadline")
def test_pause_on_the_real_backend(target: Target, browser: Browser) -> None:
    import tasks.config

    tasks.config.configure(url=target.url, prefix=target.prefix)
    backend = target.open()
    enqueue(backend, "emails", "e1")
    served = Served(backend)
    try:
        pause_and_see(backend, served, browser)
    finally:
        served.stop()
        backend.close()
