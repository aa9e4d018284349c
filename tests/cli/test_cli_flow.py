"""``pause``, ``resume`` and the paused mark of ``queues`` as real processes."""

from __future__ import annotations

import time

import pytest

from tasks import queue
from tasks.cli import main
from tasks.config import get_backend
from tests import jobs
from tests.cli.conftest import table
from tests.support.processes import run_tasks

pytestmark = pytest.mark.timeout(60)


def test_pause_and_resume_a_queue_from_the_command_line(redis_app: str, prefix: str) -> None:
    # Given a queue holding a job
    jobs.on_emails.delay("a@example.com")

    # When it is paused from the command line
    paused = run_tasks(["pause", "emails"], url=redis_app, prefix=prefix)

    # Then it is paused, and `queues` says so
    assert paused.returncode == 0, paused.stderr
    assert queue("emails").is_paused()
    listed = run_tasks(["queues"], url=redis_app, prefix=prefix)
    assert ["emails", "(paused)", "1", "0", "0", "0", "0"] in table(listed.stdout)

    # And `resume` serves it again
    resumed = run_tasks(["resume", "--queue", "emails"], url=redis_app, prefix=prefix)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    assert not queue("emails").is_paused()


def test_pausing_a_queue_that_does_not_exist_is_an_error_and_pauses_nothing(redis_app: str, prefix: str) -> None:
    done = run_tasks(["pause", "emials"], url=redis_app, prefix=prefix)
    assert done.returncode == 1 and "no queue named 'emials'" in done.stderr
    assert not queue("emials").is_paused()
    missing = run_tasks(["resume"], url=redis_app, prefix=prefix)
    assert missing.returncode == 1 and "name the queue" in missing.stderr


def test_limits_lists_the_flow_control_options_of_the_loaded_jobs(redis_app: str, prefix: str) -> None:
    queue("emails").pause()
    done = run_tasks(["limits", "--app", "tests.jobs"], url=redis_app, prefix=prefix)
    assert done.returncode == 0, done.stderr
    rows = table(done.stdout)
    assert ["tests.per_user", "default", "concurrency", "2", "at", "once", "per", "key", "per", "key"] in rows
    assert ["tests.rate_limited", "default", "rate", "50", "per", "1", "s", "0", "started"] in rows
    assert "paused queues: emails" in done.stdout


def test_limits_shows_the_use_of_a_limit_without_a_key(redis_app: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given two jobs under a rate limit, taken by a reserve
    jobs.rate_limited.delay(1)
    jobs.rate_limited.delay(2)
    get_backend().reserve(["default"], worker_id="w", now=time.time(), lease_s=30, count=10)

    # Then `limits` (run here: a process of its own starts slower than the limit's 1 s window) counts their starts
    assert main(["limits", "--app", "tests.jobs"]) == 0
    rows = table(capsys.readouterr().out)
    assert ["tests.rate_limited", "default", "rate", "50", "per", "1", "s", "2", "started"] in rows
