"""``python -m tasks worker`` as a real process: where job modules come from, the start line, burst, priority."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tasks import JobHandle, dispatch, queue
from tasks.config import get_backend
from tests import jobs
from tests.cli.conftest import start_line, tasks_cli
from tests.support.processes import kill_session, start_tasks, tasks_env
from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)

#: One worker process keeps the order of jobs observable (a pool of several runs them side by side).
BURST = ["--burst", "--concurrency", "1"]


def test_a_burst_worker_runs_the_queued_jobs_and_exits_zero(redis_app: str, prefix: str) -> None:
    # Given jobs queued on the real Redis
    handles = [jobs.add.delay(n, n) for n in range(5)]

    # When a burst worker is started with the job module on its command line
    done = tasks_cli(["worker", "tests.jobs", "--queues", "default", *BURST], url=redis_app, prefix=prefix)

    # Then it ran them all and exited 0
    assert done.returncode == 0, done.stderr
    assert [h.result(timeout=5) for h in handles] == [0, 2, 4, 6, 8]
    assert queue("default").size() == 0


def test_the_start_line_names_backend_queues_and_jobs(redis_app: str, prefix: str) -> None:
    done = tasks_cli(["worker", "tests.jobs", "--queues", "high,default", *BURST], url=redis_app, prefix=prefix)
    assert done.returncode == 0, done.stderr
    line = start_line(done.stderr)
    assert "backend redis://127.0.0.1:6379/0" in line
    assert "queues high,default" in line
    jobs_listed = line.split("jobs ", 1)[1]
    assert "tests.add" in jobs_listed and "tests.record" in jobs_listed


def test_the_start_line_masks_the_password(own_redis: RedisServer, prefix: str) -> None:
    # Given a Redis that requires a password
    admin = redis.Redis(port=own_redis.port)
    admin.config_set("requirepass", "hunter2-sekret")
    admin.close()
    url = f"redis://:hunter2-sekret@127.0.0.1:{own_redis.port}/0"

    # When a worker starts on it
    done = tasks_cli(["worker", "tests.jobs", *BURST], url=url, prefix=prefix)

    # Then it connected, and its log shows the URL with the password masked, and never the password
    assert done.returncode == 0, done.stderr
    assert f"backend redis://:***@127.0.0.1:{own_redis.port}/0" in start_line(done.stderr)
    assert "hunter2-sekret" not in done.stderr + done.stdout


def test_a_wrong_password_is_a_clear_error_without_the_password(own_redis: RedisServer, prefix: str) -> None:
    admin = redis.Redis(port=own_redis.port)
    admin.config_set("requirepass", "right-password")
    admin.close()
    done = tasks_cli(
        ["worker", "tests.jobs", *BURST], url=f"redis://:wrong-password@127.0.0.1:{own_redis.port}/0", prefix=prefix
    )
    assert done.returncode == 2
    assert f"error: cannot reach redis://:***@127.0.0.1:{own_redis.port}/0" in done.stderr
    assert "wrong-password" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_on_memory_the_worker_runs_in_its_own_process_without_a_pool(prefix: str) -> None:
    # When a worker of 2 processes is asked for on memory:// (a store private to one process)
    done = tasks_cli(["worker", "tests.jobs", "--burst", "--concurrency", "2"], url=f"memory://{prefix}", prefix=prefix)

    # Then it runs one worker inside its own process, says so, and starts no worker process
    assert done.returncode == 0, done.stderr
    assert "running one worker in it, without the pool" in done.stderr
    assert "worker process" not in done.stderr


def test_queues_are_served_in_strict_priority_order(redis_app: str, prefix: str, tmp_path: Path) -> None:
    # Given default jobs queued before high ones
    record = tmp_path / "record.txt"
    for n in range(5):
        jobs.record.delay(f"default-{n}")
    for n in range(5):
        jobs.record.on("high").delay(f"high-{n}")

    # When one worker process serves --queues high,default
    done = tasks_cli(
        ["worker", "tests.jobs", "--queues", "high,default", *BURST],
        url=redis_app,
        prefix=prefix,
        TASKS_TEST_RECORD=str(record),
    )

    # Then every high job ran first
    assert done.returncode == 0, done.stderr
    assert record.read_text().split() == [f"high-{n}" for n in range(5)] + [f"default-{n}" for n in range(5)]


def test_a_job_it_does_not_know_is_put_back_uncharged_and_the_worker_goes_on(redis_app: str, prefix: str) -> None:
    # Given a job no module of the worker defines (a rolling deploy: its code has not reached this worker yet)
    unknown = dispatch("nobody.knows.me")
    good = jobs.add.delay(1, 1)

    # When a worker drains the queue
    done = tasks_cli(["worker", "tests.jobs", "--queues", "default", *BURST], url=redis_app, prefix=prefix)

    # Then the unknown job waits for another look, no attempt spent, the log says so, and the good job ran
    assert done.returncode == 0, done.stderr
    assert unknown.status() == "scheduled"
    assert get_backend().status("default", unknown.id).attempts == 0  # type: ignore[union-attr]
    assert f"job {unknown.id} nobody.knows.me put back for 2.0 s, attempt given back" in done.stderr
    assert "no job named 'nobody.knows.me' in this worker (it fails as UnknownJob from " in done.stderr
    assert good.result(timeout=5) == 2


@pytest.mark.parametrize("setting", ["flag", "pyproject"])
def test_with_no_grace_a_job_it_does_not_know_fails_at_once(
    setting: str, redis_app: str, prefix: str, tmp_path: Path
) -> None:
    # Given a grace of 0 for unknown names, by the flag or in pyproject.toml
    unknown = dispatch("nobody.knows.me")
    flags = ["--unknown-job-grace", "0"] if setting == "flag" else []
    if setting == "pyproject":
        (tmp_path / "pyproject.toml").write_text('[tool.tasks]\napp = "tests.jobs"\nunknown_job_grace = 0\n')

    # When a worker drains the queue
    done = tasks_cli(["worker", *flags, "--app", "tests.jobs", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)

    # Then the unknown job failed for good at once
    assert done.returncode == 0, done.stderr
    assert unknown.status() == "failed"
    [record] = queue("default").failed()
    assert (record.error_type, record.attempts) == ("UnknownJob", 1)


def test_a_worker_that_knows_no_job_refuses_to_start_and_names_the_likely_module(redis_app: str, prefix: str) -> None:
    # When a worker is started on the package instead of its jobs module
    done = tasks_cli(["worker", "tests", *BURST], url=redis_app, prefix=prefix)

    # Then it does not start, and says where the jobs are
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: no job is registered after importing tests, so a worker has nothing to run; "
        "the jobs may be in tests.jobs: python -m tasks worker tests.jobs"
    )


@pytest.mark.parametrize("given", ["tests/jobs.py", "tests/jobs", "./tests/jobs.py"])
def test_a_file_path_given_as_a_module_gets_the_module_name_suggested(given: str, redis_app: str, prefix: str) -> None:
    done = tasks_cli(["worker", given, *BURST], url=redis_app, prefix=prefix)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: job module {given!r} is a file path: name the module instead, tests.jobs"


def test_an_unknown_key_under_tool_tasks_is_refused_with_a_did_you_mean(
    redis_app: str, prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.tasks]\napps = ["tests.jobs"]\n')
    done = tasks_cli(["worker", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)
    assert done.returncode == 2
    assert (
        f"unknown key 'apps' under [tool.tasks] in {tmp_path / 'pyproject.toml'} (did you mean 'app'?)" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_with_tasks_secret_set_the_worker_refuses_unsigned_payloads(redis_app: str, prefix: str) -> None:
    # Given a job sent by a producer with no secret
    unsigned = jobs.add.delay(1, 1)

    # When a worker with TASKS_SECRET drains the queue
    done = tasks_cli(
        ["worker", "tests.jobs", "--queues", "default", *BURST], url=redis_app, prefix=prefix, TASKS_SECRET="s3"
    )

    # Then it refused the job as a bad signature
    assert done.returncode == 0, done.stderr
    assert unsigned.status() == "failed"
    [record] = queue("default").failed()
    assert record.error_type == "SignatureError" and record.message.startswith("bad signature")


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real worker process; the timeout is wall-clock timed")
def test_a_job_past_its_timeout_is_stopped_in_a_real_worker(redis_app: str, prefix: str) -> None:
    handle = jobs.sleeper.delay(60)
    done = tasks_cli(["worker", "tests.jobs", "--queues", "default", *BURST], url=redis_app, prefix=prefix, timeout=45)
    assert done.returncode == 0, done.stderr
    assert handle.status() == "failed"
    assert queue("default").failed()[0].error_type == "JobTimeout"


# --- where the job modules come from ---------------------------------------------------------------------------


def test_modules_come_from_tasks_app(redis_app: str, prefix: str, tmp_path: Path) -> None:
    # Given no module on the command line and TASKS_APP set, in a directory with no pyproject.toml
    handle = jobs.add.delay(2, 3)

    # When a worker starts
    done = tasks_cli(["worker", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path, TASKS_APP="tests.jobs")

    # Then it loaded them and ran the job
    assert done.returncode == 0, done.stderr
    assert "tests.add" in start_line(done.stderr)
    assert handle.result(timeout=5) == 5


def test_modules_come_from_pyproject(redis_app: str, prefix: str, tmp_path: Path) -> None:
    # Given a project directory whose pyproject.toml names the job modules
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n\n[tool.tasks]\napp = ["tests.jobs"]\n')
    handle = jobs.add.delay(4, 5)

    # When a worker starts there with no module named anywhere else
    done = tasks_cli(["worker", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)

    # Then it loaded them from the file
    assert done.returncode == 0, done.stderr
    assert "tests.add" in start_line(done.stderr)
    assert handle.result(timeout=5) == 9


def test_pyproject_app_may_be_a_single_string(redis_app: str, prefix: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.tasks]\napp = "tests.jobs"\n')
    done = tasks_cli(["worker", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tests.add" in start_line(done.stderr)


def test_command_line_modules_win_over_tasks_app(redis_app: str, prefix: str, tmp_path: Path) -> None:
    done = tasks_cli(
        ["worker", "tests.jobs", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path, TASKS_APP="no.such.module"
    )
    assert done.returncode == 0, done.stderr


def test_no_modules_anywhere_is_a_clear_error(redis_app: str, prefix: str, tmp_path: Path) -> None:
    # Given a directory with no pyproject.toml, no TASKS_APP and no module argument
    # When a worker starts
    done = tasks_cli(["worker", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)

    # Then it exits non-zero, saying the three ways to name them, without a traceback
    assert done.returncode == 2
    assert "no job modules named" in done.stderr
    assert "TASKS_APP" in done.stderr and "[tool.tasks]" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_module_that_cannot_be_imported_is_a_clear_error(redis_app: str, prefix: str, tmp_path: Path) -> None:
    done = tasks_cli(["worker", "myapp.nowhere", *BURST], url=redis_app, prefix=prefix, cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot import job module 'myapp.nowhere'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_queue_name_is_a_clear_error(redis_app: str, prefix: str) -> None:
    done = tasks_cli(["worker", "tests.jobs", "--queues", "high,not valid", *BURST], url=redis_app, prefix=prefix)
    assert done.returncode == 2
    assert re.search(r"queue name 'not valid' is not valid", done.stderr)
    assert "Traceback" not in done.stderr


def test_a_worker_whose_backend_cannot_be_reached_exits_with_a_clear_message(prefix: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = tasks_cli(["worker", "tests.jobs", *BURST], url=url, prefix=prefix)
    assert done.returncode != 0
    assert f"cannot reach {url}" in done.stderr
    assert "Traceback" not in done.stderr


# --- a long-running worker ----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("real worker process started and signalled; its start and stop are wall-clock bounded")
def test_a_running_worker_takes_new_jobs_and_stops_cleanly_on_sigterm(
    redis_app: str, prefix: str, tmp_path: Path
) -> None:
    # Given a worker started without --burst
    log = tmp_path / "worker.log"
    worker = start_tasks(
        ["worker", "tests.jobs", "--queues", "default", "--concurrency", "1"], url=redis_app, prefix=prefix, log=log
    )
    try:
        wait_until(lambda: "starting" in log.read_text(), timeout=30, message="the worker logged its start")

        # When jobs are dispatched while it waits, Then it runs them
        handles = [jobs.add.delay(n, 1) for n in range(3)]
        assert [h.result(timeout=30) for h in handles] == [1, 2, 3]

        # When it is asked to stop, Then it exits 0
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=40) == 0
    finally:
        if worker.poll() is None:
            kill_session(worker.pid)  # its own session: the supervisor and its children
            worker.wait(timeout=10)


def test_a_producer_that_cannot_import_the_job_dispatches_it_by_name(redis_app: str, prefix: str) -> None:
    # Given a producer process that never imports tests.jobs
    producer = (
        "import sys; from tasks import dispatch; from tasks.registry import names; "
        "assert 'tests.add' not in names(); print(dispatch('tests.add', 20, 22).id)"
    )
    done = subprocess.run(
        [sys.executable, "-c", producer], env=tasks_env(redis_app, prefix), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    handle: JobHandle[int] = JobHandle(done.stdout.strip(), "default")

    # When a worker that knows the job drains the queue
    ran = tasks_cli(["worker", "tests.jobs", "--queues", "default", *BURST], url=redis_app, prefix=prefix)

    # Then it ran under that name
    assert ran.returncode == 0, ran.stderr
    assert handle.result(timeout=5) == 42


@pytest.mark.timeout(60)
@pytest.mark.rerun_once("a real pool and a producer process; the pool's start is wall-clock bounded")
def test_a_producer_that_cannot_import_the_job_sends_it_to_the_queue_live_workers_announce(
    redis_app: str, prefix: str, tmp_path: Path
) -> None:
    # Given a live pool that runs tests.on_emails (declared on the emails queue)
    log = tmp_path / "worker.log"
    args = ["worker", "tests.jobs", "--queues", "emails,default", "--concurrency", "1"]
    pool = start_tasks(args, url=redis_app, prefix=prefix, log=log)
    try:
        wait_until(lambda: get_backend().workers(now=time.time()), timeout=30, message="the pool's announcement")

        # When a producer that never imports tests.jobs dispatches the job by name, naming no queue
        producer = (
            "from tasks import dispatch; from tasks.registry import names; "
            "assert 'tests.on_emails' not in names(); h = dispatch('tests.on_emails', 'ada'); print(h.queue, h.id)"
        )
        done = subprocess.run(
            [sys.executable, "-c", producer],
            env=tasks_env(redis_app, prefix),
            capture_output=True,
            text=True,
            timeout=30,
        )

        # Then it went to the job's own queue, with the job's own options, and the pool ran it
        assert done.returncode == 0, done.stderr
        queue_name, job_id = done.stdout.split()
        assert queue_name == "emails"
        handle: JobHandle[str] = JobHandle(job_id, queue_name)
        assert handle.result(timeout=30) == "sent to ada"
        status = get_backend().status("emails", job_id)
        assert status is not None and json.loads(status.payload or "{}")["max_attempts"] == 2
    finally:
        pool.send_signal(signal.SIGTERM)
        try:
            pool.wait(timeout=40)
        except subprocess.TimeoutExpired:
            kill_session(pool.pid)
            pool.wait(timeout=10)
