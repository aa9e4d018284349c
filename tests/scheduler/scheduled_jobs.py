"""Scheduled jobs for the worker and scheduler processes that the scheduler tests start.

Only those processes import this module (the test process never does), so its schedules never reach another
test's scheduler. Each run of ``record_tick`` appends one line to the file ``TASKS_TEST_RECORD`` names:
``<job id> <started at> <pid> <attempt>``; the tick is in the job id, so duplicates and lateness are visible.

With ``TASKS_TEST_CRASH_MARKER`` set, the process dies (exit status ``CRASH_STATUS``) between the enqueue and
the claim of the first tick from ``TASKS_TEST_CRASH_FROM`` whose job it stored, once among all processes:
the marker file, created exclusively, says which process and tick.
"""

from __future__ import annotations

import os
import time

from tasks import current_job, job, scheduled, scheduler
from tests.scheduler.names import CRASH_STATUS, EVERY_TWO_SECONDS


@scheduled("*/2 * * * * *", name=EVERY_TWO_SECONDS)
@job(name="tests.scheduler.record_tick", max_attempts=3, backoff=0)
def record_tick() -> None:
    started = time.time()
    ctx = current_job()
    line = f"{ctx.id} {started:.6f} {os.getpid()} {ctx.attempt}\n".encode()
    fd = os.open(os.environ["TASKS_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)  # one write of one short line with O_APPEND: lines of several processes never mix
    finally:
        os.close(fd)


@scheduled("0 0 0 * * *", tz="Europe/Paris", queue="reports", misfire="once")
def nightly_report() -> None:
    """Listed by ``python -m tasks schedules`` in the CLI test (a zone other than UTC)."""


def _crash_between_enqueue_and_claim(schedule: str, tick: float, stored: bool) -> None:
    if schedule != EVERY_TWO_SECONDS or not stored or tick < float(os.environ.get("TASKS_TEST_CRASH_FROM", "0")):
        return
    try:
        fd = os.open(os.environ["TASKS_TEST_CRASH_MARKER"], os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    os.write(fd, f"{tick} {os.getpid()}\n".encode())
    os.close(fd)
    os._exit(CRASH_STATUS)


if os.environ.get("TASKS_TEST_CRASH_MARKER"):
    scheduler.between_enqueue_and_claim = _crash_between_enqueue_and_claim
