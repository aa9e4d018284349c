"""``pause``, ``resume`` and the paused mark of ``queues`` as real processes."""

from __future__ import annotations

import pytest

from tasks import queue
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
    assert ["tests.per_user", "concurrency", "2", "at", "once", "per", "key", "tests.per_user"] in rows
    assert ["tests.rate_limited", "rate", "50", "per", "1", "s", "tests.rate_limited"] in rows
    assert "paused queues: emails" in done.stdout
