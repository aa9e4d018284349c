"""The worker and the shell commands, on every backend: what a user sees does not depend on the URL."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks import cli, configure, queue
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.contract.conftest import Target, new_job
from tests.support.processes import kill_session, run_tasks, start_tasks


def burst() -> int:
    return Worker(get_backend(), WorkerSettings(queues=["default"], burst=True)).run()


def test_a_burst_worker_drains_the_queue(app: Target) -> None:
    # Given jobs that succeed, one that retries once, one that always fails, and one delayed for a minute
    adds = [jobs.add.delay(i, i) for i in range(25)]
    retried = jobs.retry_then_succeed.delay()
    failing = jobs.always_fails.delay("no luck")
    delayed = jobs.add.later(60, 1, 1)

    # When a burst worker runs
    assert burst() == 0

    # Then it ran everything ready and left only the delayed job
    assert [h.result(timeout=1) for h in adds] == [i + i for i in range(25)]
    assert retried.result(timeout=1) == 2
    assert failing.status() == "failed"
    assert delayed.status() == "scheduled"
    stats = queue("default").stats()
    assert (stats.ready, stats.scheduled, stats.running, stats.failed) == (0, 1, 0, 1)
    [record] = queue("default").failed()
    assert (record.name, record.attempts, record.error_type, record.message) == (
        "tests.always_fails",
        3,
        "ValueError",
        "no luck",
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


def test_the_cli_lists_retries_and_clears_on_every_backend(app: Target, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a failed job, and two jobs ready
    failing = jobs.always_fails.delay("bad input")
    burst()
    jobs.add.delay(1, 2)
    jobs.add.delay(3, 4)

    # Then `queues` shows the counts and `failed` the failed job
    table = run_cli(capsys, "queues", "--app", "tests.jobs", "--url", app.url)
    assert table.splitlines()[0].split() == ["queue", "ready", "scheduled", "running", "failed", "workers"]
    assert ["default", "2", "0", "0", "1", "0"] in [line.split() for line in table.splitlines()]
    listing = run_cli(capsys, "failed", "default", "--url", app.url)
    assert failing.id in listing and "tests.always_fails" in listing and "ValueError: bad input" in listing

    # When it is retried and the queue cleared
    assert run_cli(capsys, "retry", "default", "--id", failing.id, "--url", app.url).strip() == (
        "1 job(s) moved back to default"
    )
    assert run_cli(capsys, "clear", "default", "--url", app.url).strip() == "3 job(s) deleted from default"

    # Then nothing is left
    stats = queue("default").stats()
    assert (stats.ready, stats.failed) == (0, 0)


def test_the_cli_in_its_own_process_sees_the_same_queues(shared_target: Target) -> None:
    url, prefix = shared_target.url, shared_target.prefix
    backend = shared_target.open()
    backend.enqueue_many([new_job("emails", now=time.time()) for _ in range(3)], now=time.time())
    backend.close()

    done = run_tasks(["queues", "--url", url], url=url, prefix=prefix)
    assert done.returncode == 0, done.stderr
    assert ["emails", "3", "0", "0", "0", "0"] in [line.split() for line in done.stdout.splitlines()]
    cleared = run_tasks(["clear", "emails"], url=url, prefix=prefix)
    assert cleared.returncode == 0 and cleared.stdout.strip() == "3 job(s) deleted from emails"


@pytest.fixture
def worker_process(shared_target: Target, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real ``python -m tasks worker`` on the target, up and running a first job; stopped afterwards.

    This process is configured for the same backend, so ``delay()`` sends jobs to it.
    """
    log = tmp_path / "worker.log"
    args = ["worker", "tests.jobs", "--queues", "default"]
    proc = start_tasks(args, url=shared_target.url, prefix=shared_target.prefix, log=log)
    configure(url=shared_target.url, prefix=shared_target.prefix)
    assert jobs.add.delay(1, 1).result(timeout=30) == 2
    yield proc, log
    if proc.poll() is None:
        proc.terminate()  # the supervisor stops its worker processes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            proc.wait(timeout=10)


@pytest.mark.rerun_once("real worker process; asserts a 100 ms median pickup latency")
def test_a_job_dispatched_from_another_process_starts_within_100_ms(
    shared_target: Target, worker_process: tuple[subprocess.Popen[bytes], Path]
) -> None:
    # Given a worker in its own process, idle long enough to poll at its slowest
    proc, _ = worker_process
    delays: list[float] = []
    for _ in range(7):
        time.sleep(0.3)
        # When this process dispatches a job
        handle = jobs.echo_context.delay()
        context = handle.result(timeout=10)
        delays.append(float(context["started_at"]) - float(context["enqueued_at"]))  # type: ignore[arg-type]

    # Then the worker started it within 100 ms (the median, so one stall of a busy machine does not decide)
    assert statistics.median(delays) < 0.1, delays
    assert proc.poll() is None


def test_the_worker_names_its_backend_in_its_first_line(
    shared_target: Target, worker_process: tuple[subprocess.Popen[bytes], Path]
) -> None:
    _, log = worker_process
    first = log.read_text().splitlines()[0]
    if shared_target.kind == "sqlite":
        path = shared_target.url.removeprefix("sqlite:///")
        assert f"backend SQLite file {path} (this machine only)" in first, first
    else:
        scheme = "redis+cluster" if shared_target.kind == "cluster" else "redis"
        assert f"backend {scheme}://127.0.0.1" in first, first


def group_cpu_s(pgid: int) -> float:
    """CPU seconds used so far by the live processes of process group ``pgid`` (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU times from /proc")
@pytest.mark.rerun_once("real worker process; measures its CPU time, which other work on the machine can inflate")
def test_an_idle_worker_does_not_spin(worker_process: tuple[subprocess.Popen[bytes], Path]) -> None:
    # Given an idle worker (supervisor and worker processes)
    proc, _ = worker_process
    time.sleep(0.5)

    # When it idles for 3 s
    before = group_cpu_s(proc.pid)
    time.sleep(3)
    used = group_cpu_s(proc.pid) - before

    # Then all its processes together used under 5 % of one core (it measures ~1 % here)
    assert used < 0.15, f"{used:.3f} CPU seconds in 3 s"


def test_the_cli_lists_the_live_workers(
    shared_target: Target, worker_process: tuple[subprocess.Popen[bytes], Path]
) -> None:
    done = run_tasks(["workers"], url=shared_target.url, prefix=shared_target.prefix)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert any("default" in row for row in rows), done.stdout


def test_queues_shows_which_queues_live_workers_listen_to_and_warns_of_the_others(
    shared_target: Target, worker_process: tuple[subprocess.Popen[bytes], Path]
) -> None:
    # Given a live worker on default, and a job sent to a queue it does not listen to
    jobs.add.on("high").delay(1, 2)

    # When the queues are listed
    done = run_tasks(["queues"], url=shared_target.url, prefix=shared_target.prefix)

    # Then each queue shows how many live worker processes listen to it, and the unserved one gets a warning
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert rows["high"] == ["1", "0", "0", "0", "0"]
    assert int(rows["default"][-1]) >= 1
    assert done.stderr.strip() == (
        "warning: queue 'high' has 1 job(s) waiting, and no live worker listens to it "
        "(live workers listen to default; start one with --queues high,...)"
    )
