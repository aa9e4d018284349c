"""``queues``, ``failed``, ``retry``, ``clear`` as real processes: each prints what it found or touched."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import pytest

from tasks import JobHandle, queue
from tasks.config import get_backend
from tests import jobs
from tests.cli.conftest import table
from tests.support.processes import run_tasks
from tests.support.redis_server import free_port
from tests.unit.helpers import drain

pytestmark = pytest.mark.timeout(60)

Cli = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def cli(redis_app: str, prefix: str) -> Cli:
    """``python -m tasks ARGS`` on the test's prefix of the real Redis: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        done = run_tasks(args, url=redis_app, prefix=prefix)
        return done.returncode, done.stdout, done.stderr

    return run


def failed_jobs(count: int, queue_name: str = "default") -> list[JobHandle[None]]:
    handles = [jobs.fail_for_good.on(queue_name).delay() for _ in range(count)]
    drain([queue_name])
    return handles


def test_queues_lists_every_queue_with_its_counts(cli: Cli) -> None:
    # Given two ready and one scheduled job on emails, and two failed ones on default
    jobs.add.on("emails").delay(1, 1)
    jobs.add.on("emails").delay(2, 2)
    jobs.add.on("emails").later(3600, 3, 3)
    failed_jobs(2)

    # When the queues are listed
    status, out, err = cli("queues")

    # Then each queue shows ready, scheduled, running and failed
    assert status == 0, err
    rows = table(out)
    assert rows[0] == ["queue", "ready", "scheduled", "running", "failed", "workers"]
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["emails"] == ["2", "1", "0", "0", "0"]
    assert by_name["default"] == ["0", "0", "0", "2", "0"]


def test_queues_also_lists_the_queues_of_the_modules_named_with_app(cli: Cli) -> None:
    status, out, _ = cli("queues", "--app", "tests.jobs")
    assert status == 0
    assert ["default", "0", "0", "0", "0", "0"] in table(out)


def test_queues_warns_of_a_queue_whose_jobs_no_live_worker_takes(cli: Cli) -> None:
    # Given a job on a queue, and no worker at all
    jobs.add.on("high").delay(1, 2)

    # When the queues are listed, Then the table is printed and a warning says nobody will take the job
    status, out, err = cli("queues")
    assert status == 0
    assert ["high", "1", "0", "0", "0", "0"] in table(out)
    assert (
        err.strip()
        == "warning: queue 'high' has 1 job(s) waiting, and no live worker listens to it (no worker is running at all)"
    )


def test_queues_of_a_queue_that_does_not_exist_is_an_error_listing_those_that_do(cli: Cli) -> None:
    jobs.add.on("emails").delay(1, 2)
    status, out, err = cli("queues", "emials")
    assert (status, out) == (1, "")
    assert err.strip() == "error: no queue named 'emials'; the queues are: default, emails"


def test_failed_lists_each_failed_job_with_its_error(cli: Cli) -> None:
    # Given failed jobs on two queues
    [on_default] = failed_jobs(1)
    [on_emails] = failed_jobs(1, "emails")

    # When every failed job is listed
    status, out, err = cli("failed")

    # Then each shows its queue, id, name, attempts and error
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["queue", "id", "name", "attempts", "failed", "at", "error"]
    [default_line] = [line for line in lines if on_default.id in line]
    assert default_line.split()[:4] == ["default", on_default.id, "tests.fail_for_good", "1"]
    assert default_line.endswith("UTC  Fail: card declined")
    assert any(on_emails.id in line and line.startswith("emails") for line in lines)


def test_failed_for_one_queue_lists_only_that_queue(cli: Cli) -> None:
    failed_jobs(1)
    [on_emails] = failed_jobs(1, "emails")
    status, out, _ = cli("failed", "emails")
    assert status == 0
    rows = table(out)[1:]
    assert [row[1] for row in rows] == [on_emails.id]

    # And the queue may be given as --queue, and job modules only through --app
    for args in (["--queue", "emails"], ["--app", "tests.jobs", "emails"], ["emails", "--queue", "emails"]):
        status, out, err = cli("failed", *args)
        assert status == 0, err
        assert [row[1] for row in table(out)[1:]] == [on_emails.id]


def test_failed_of_a_module_name_is_an_error_naming_the_queues_and_the_app_option(cli: Cli) -> None:
    failed_jobs(1)
    status, out, err = cli("failed", "tests.jobs")
    assert (status, out) == (1, "")
    assert err.strip() == (
        "error: no queue named 'tests.jobs'; the queues are: default. 'tests.jobs' is a module: "
        "name job modules with --app tests.jobs"
    )


def test_failed_respects_the_limit(cli: Cli) -> None:
    failed_jobs(4)
    status, out, _ = cli("failed", "default", "--limit", "2")
    assert status == 0
    assert len(table(out)) == 1 + 2


def test_failed_with_nothing_failed_prints_only_the_header(cli: Cli) -> None:
    status, out, _ = cli("failed", "default")
    assert status == 0
    assert len(table(out)) == 1


def test_retry_with_ids_moves_only_those_back(cli: Cli) -> None:
    # Given three failed jobs
    handles = failed_jobs(3)

    # When two of them are retried by id
    status, out, err = cli("retry", "default", "--id", handles[0].id, "--id", handles[2].id)

    # Then it says how many moved, and exactly those are queued again with their attempts reset
    assert status == 0, err
    assert out.strip() == "2 job(s) moved back to default"
    assert [h.status() for h in handles] == ["queued", "failed", "queued"]
    assert queue("default").failed_size() == 1
    status_of_first = get_backend().status("default", handles[0].id)
    assert status_of_first is not None and status_of_first.attempts == 0


def test_retry_without_ids_moves_every_failed_job(cli: Cli) -> None:
    failed_jobs(3)
    status, out, _ = cli("retry", "default")
    assert status == 0
    assert out.strip() == "3 job(s) moved back to default"
    assert (queue("default").failed_size(), queue("default").size()) == (0, 3)


def test_retry_with_nothing_failed_says_zero(cli: Cli) -> None:
    jobs.add.delay(1, 2)
    status, out, _ = cli("retry", "default")
    assert status == 0
    assert out.strip() == "0 job(s) moved back to default"


def test_retry_of_ids_that_are_not_failed_jobs_is_an_error_and_moves_nothing(cli: Cli) -> None:
    # Given two failed jobs and a queued one
    first, second = failed_jobs(2)
    waiting = jobs.add.delay(1, 2)

    # When a failed id, an unknown one and the queued one are retried
    status, out, err = cli("retry", "default", "--id", first.id, "--id", "nope", "--id", waiting.id)

    # Then nothing moved, and the error says what each wrong id is and which failed jobs there are
    assert (status, out) == (1, "")
    assert err.strip() == (
        f"error: nothing retried: no job 'nope' on queue 'default', job '{waiting.id}' is queued, not failed; "
        f"the failed jobs are: {', '.join(sorted([first.id, second.id], key=lambda i: i != second.id))}"
    )
    assert queue("default").failed_size() == 2


def test_retry_of_a_module_name_is_an_error_and_moves_nothing(cli: Cli) -> None:
    # Given failed jobs on default (the mix-up of the old command line: retry MODULE)
    failed_jobs(2)

    # When a module is named where the queue goes
    status, out, err = cli("retry", "tests.jobs")

    # Then it is refused, listing the queues, and nothing moved
    assert (status, out) == (1, "")
    assert "no queue named 'tests.jobs'; the queues are: default" in err
    assert "name job modules with --app tests.jobs" in err
    assert queue("default").failed_size() == 2


@pytest.mark.parametrize("command", ["retry", "clear"])
def test_retry_and_clear_need_a_queue(command: str, cli: Cli) -> None:
    status, _, err = cli(command)
    assert status == 1
    assert f"python -m tasks {command} QUEUE" in err


def test_clear_of_a_queue_that_does_not_exist_is_an_error(cli: Cli) -> None:
    jobs.add.on("emails").delay(1, 1)
    status, out, err = cli("clear", "emial")
    assert (status, out) == (1, "")
    assert "no queue named 'emial'; the queues are: default, emails" in err
    assert queue("emails").size() == 1


def test_clear_deletes_the_waiting_jobs_and_says_how_many(cli: Cli) -> None:
    # Given ready, scheduled and failed jobs on one queue
    failed_jobs(1, "emails")
    jobs.add.on("emails").delay(1, 1)
    jobs.add.on("emails").later(60, 1, 1)

    # When the queue is cleared
    status, out, err = cli("clear", "emails")

    # Then the two waiting jobs are gone and the failed one stays
    assert status == 0, err
    assert out.strip() == "2 job(s) deleted from emails"
    emails = queue("emails")
    assert (emails.size(), emails.scheduled_size(), emails.failed_size()) == (0, 0, 1)


@pytest.mark.parametrize(
    "args",
    [["queues"], ["failed"], ["retry", "default"], ["clear", "default"], ["workers"]],
    ids=["queues", "failed", "retry", "clear", "workers"],
)
def test_a_backend_that_cannot_be_reached_is_a_clear_error(args: list[str], prefix: str) -> None:
    # Given a URL nothing listens on
    url = f"redis://127.0.0.1:{free_port()}/0"

    # When a command runs against it
    done = run_tasks(args, url=url, prefix=prefix)

    # Then it fails with one line naming the backend, and no traceback
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot reach {url}")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("command", ["retry", "clear"])
def test_a_bad_queue_name_is_a_clear_error(command: str, cli: Cli) -> None:
    status, _, err = cli(command, "no such queue")
    assert status == 2
    assert "queue name 'no such queue' is not valid" in err
    assert "Traceback" not in err


def test_an_unsupported_url_is_a_clear_error(prefix: str) -> None:
    done = run_tasks(["queues"], url="postgres://localhost/db", prefix=prefix)
    assert done.returncode == 2
    assert "unsupported backend URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_failed_lists_a_record_whose_bytes_are_not_utf8(cli: Cli) -> None:
    # Given a job written by hand whose id and payload are not UTF-8, failed by a worker's reserve
    backend: Any = get_backend()
    qk = backend.keys.queue("default")
    backend.client.hset(qk.job_prefix.encode() + b"bad-\xff", mapping={"payload": b"{\xfe}", "max_attempts": 1})
    backend.client.rpush(qk.ready, b"bad-\xff")
    drain()

    # When the failed jobs are listed
    status, out, err = cli("failed", "default")

    # Then the listing shows it, the bytes escaped, with the reason
    assert status == 0, err
    [row] = [line for line in out.splitlines() if "MalformedJob" in line]
    assert "bad-\\udcff" in row and "not valid UTF-8" in row


# --- one failed job whole, and errors that fit the terminal -------------------------------------------------------


def test_failed_show_prints_one_failed_job_with_its_traceback(cli: Cli) -> None:
    # Given a failed job
    handle = jobs.always_fails.delay("disk full")
    drain()

    # When it is shown
    status, out, err = cli("failed", "--show", handle.id)

    # Then every field is there, and the whole traceback, ending with the error
    assert status == 0, err
    lines = out.splitlines()
    assert lines[:3] == [f"id:        {handle.id}", "queue:     default", "name:      tests.always_fails"]
    assert 'args:      ["disk full"]' in lines and "kwargs:    {}" in lines and "attempts:  3" in lines
    assert "error:     ValueError: disk full" in lines
    assert lines[lines.index("") + 1] == "Traceback (most recent call last):"
    assert lines[-2:] == ["    raise ValueError(message)", "ValueError: disk full"]


def test_failed_show_of_an_id_that_is_not_a_failed_job_is_an_error_listing_those_that_are(cli: Cli) -> None:
    [dead] = failed_jobs(1)
    status, out, err = cli("failed", "default", "--show", "nope")
    assert (status, out) == (1, "")
    assert err.strip() == f"error: no failed job with id 'nope' in queue 'default'; the failed jobs are: {dead.id}"


LONG = "the disk is full: " + "x" * 200


def test_failed_cuts_errors_to_the_terminal_width_and_long_shows_them_whole(redis_app: str, prefix: str) -> None:
    # Given a job that failed with a long message
    jobs.always_fails.delay(LONG)
    drain()

    # When listed for a terminal 150 columns wide, Then each line fits, the error cut with a mark, and a note says how
    # to see it whole
    cut = run_tasks(["failed"], url=redis_app, prefix=prefix, COLUMNS="150")
    [row] = cut.stdout.splitlines()[1:]
    assert len(row) == 150
    error = row[row.index("ValueError") :]
    assert error.endswith("...") and f"ValueError: {LONG}".startswith(error[:-3])
    assert "--long shows them whole, --show ID with the traceback" in cut.stderr

    # And with --long, or printed to a pipe (no terminal, no COLUMNS), the error is whole
    whole = run_tasks(["failed", "--long"], url=redis_app, prefix=prefix, COLUMNS="150")
    piped = run_tasks(["failed"], url=redis_app, prefix=prefix)
    for done in (whole, piped):
        assert done.stdout.splitlines()[1].endswith(f"ValueError: {LONG}")
        assert done.stderr == ""


def test_version_prints_the_installed_version(prefix: str) -> None:
    done = run_tasks(["--version"], url="memory://", prefix=prefix)
    assert done.returncode == 0
    assert done.stdout.strip() == f"tasks {importlib.metadata.version('tasks')}"
