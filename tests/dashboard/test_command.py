"""``python -m tasks dashboard`` as a real process: it serves the pages, and refuses to bind beyond this machine
without a token."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.contract.conftest import Target
from tests.dashboard.conftest import TOKEN
from tests.support.processes import run_tasks, start_tasks
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until


def fetch(url: str, **headers: str) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.rerun_once("starts a server process; a stall of a small shared machine can miss its start deadline")
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_the_command_serves_the_dashboard_with_its_token(kind: str, prefix: str, tmp_path: Path) -> None:
    from tests.contract.conftest import make_target

    target: Target = make_target(kind, prefix, tmp_path)
    port = free_port()
    process = start_tasks(
        ["dashboard", "tests.jobs", "--port", str(port), "--token"],
        url=target.url,
        prefix=prefix,
        log=tmp_path / "dashboard.log",
        TASKS_DASHBOARD_TOKEN=TOKEN,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: fetch(base + "/") == 401, timeout=60, message="the dashboard to answer")
        assert fetch(base + "/queues", Authorization=f"Bearer {TOKEN}") == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    log = (tmp_path / "dashboard.log").read_text()
    assert f"on http://127.0.0.1:{port}/" in log and TOKEN not in log


def test_the_command_refuses_another_address_without_a_token(tmp_path: Path, prefix: str) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run_tasks(["dashboard", "--host", "0.0.0.0"], url=url, prefix=prefix, TASKS_DASHBOARD_TOKEN="")
    assert result.returncode == 2
    assert "give it a token" in result.stderr
