"""A URL with a password given to ``python -m tasks ... --url``: off the process's command line, out of its log,
and still the URL it uses."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tasks import configure
from tasks.cli import split_url_options
from tests import jobs
from tests.cli.conftest import tasks_cli
from tests.support.processes import kill_session, start_tasks
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

#: A password with reserved characters, so the URLs below must percent-encode it.
PASSWORD = "s3cr/et@x"
ENCODED = quote(PASSWORD, safe="")
#: What must never be seen: the password as typed, as encoded, and a piece of it.
TRACES = (PASSWORD, ENCODED, "s3cr")


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own that answers only to ``PASSWORD``."""
    server = RedisServer(tmp_path, appendonly=False, extra=("--requirepass", PASSWORD))
    server.start()
    yield server
    server.kill()


def secret_url(server: RedisServer, form: str) -> str:
    if form == "userinfo":
        return f"redis://:{ENCODED}@127.0.0.1:{server.port}/0"
    return f"redis://127.0.0.1:{server.port}/0?password={ENCODED}"


def stop_pool(pool: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the pool's process group (the supervisor and its workers), then wait for it to end."""
    if pool.poll() is None:
        os.killpg(pool.pid, signal.SIGTERM)
    try:
        pool.wait(timeout=60)
    except subprocess.TimeoutExpired:
        kill_session(pool.pid)
        pool.wait(timeout=10)


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_secret_url_given_with_url_leaves_the_command_line_and_the_log_and_still_works(
    locked_redis: RedisServer, prefix: str, tmp_path: Path, form: str
) -> None:
    # Given a Redis that requires a password, and a URL that carries it (in the userinfo, or as ?password=);
    # TASKS_URL names the same server without the password, so only the --url value can get the pool in
    url = secret_url(locked_redis, form)
    log = tmp_path / "pool.log"

    # When a pool is started with the URL on its command line
    pool = start_tasks(
        ["worker", "tests.jobs", "--url", url, "--concurrency", "1", "--no-scheduler"],
        url=locked_redis.url,
        prefix=prefix,
        log=log,
    )
    try:
        wait_until(lambda: "worker pool starting" in log.read_text(), timeout=60, message="the pool's start line")

        # Then the process started (the same pid) runs the same command, without the URL on its command line
        arguments = Path(f"/proc/{pool.pid}/cmdline").read_bytes().decode().split("\0")
        assert "worker" in arguments and "tests.jobs" in arguments and "--concurrency" in arguments
        assert not any(trace in argument for argument in arguments for trace in TRACES), arguments
        assert "--url" not in arguments

        # And the pool works on the password-protected server: a job sent there succeeds
        configure(url=url, prefix=prefix)
        assert jobs.add.delay(2, 3).result(timeout=60) == 5
    finally:
        stop_pool(pool)

    # And nothing it logged, from its start to its stop, holds the password in any form
    output = log.read_text()
    assert "worker pool starting" in output and "***" in output
    for trace in TRACES:
        assert trace not in output
    assert f"password={ENCODED}" not in output


def test_a_one_shot_command_takes_a_secret_url_in_the_equals_form(locked_redis: RedisServer, prefix: str) -> None:
    # When a command that does not run workers gets --url=URL with a password
    done = tasks_cli(["workers", f"--url={secret_url(locked_redis, 'userinfo')}"], url=locked_redis.url, prefix=prefix)

    # Then it reached the server with it, and printed no trace of it
    assert done.returncode == 0, done.stderr
    assert "0 live worker process(es)" in done.stdout
    for trace in TRACES:
        assert trace not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["worker", "app", "--url", "redis://h/0", "-c"], (["redis://h/0"], ["worker", "app", "-c"])),
        (["worker", "--url=redis://:p@h/0", "app"], (["redis://:p@h/0"], ["worker", "app"])),
        (["worker", "--ur", "a", "--u=b", "app"], (["a", "b"], ["worker", "app"])),
        (["worker", "app", "--", "--url", "x"], None),
        (["worker", "app", "--url"], None),
        (["worker", "app"], None),
    ],
)
def test_the_url_options_are_told_apart_from_the_other_arguments(
    argv: list[str], expected: tuple[list[str], list[str]] | None
) -> None:
    assert split_url_options(argv) == expected
