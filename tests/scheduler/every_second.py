"""An every-second schedule, for the scheduler and worker processes of the SQLite process test (the test process
never imports it, so its schedule never reaches another test's scheduler). Each run appends one line to the file
``TASKS_TEST_RECORD`` names, in the format of ``scheduled_jobs.record_tick``: ``<job id> <started at> <pid> <attempt>``.
"""

from __future__ import annotations

import os
import time

from tasks import current_job, job, scheduled
from tests.scheduler.names import EVERY_SECOND


@scheduled("* * * * * *", name=EVERY_SECOND)
@job(name="tests.scheduler.record_second", max_attempts=3, backoff=0)
def record_second() -> None:
    started = time.time()
    ctx = current_job()
    line = f"{ctx.id} {started:.6f} {os.getpid()} {ctx.attempt}\n".encode()
    fd = os.open(os.environ["TASKS_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)  # one short write with O_APPEND: lines of several processes never mix
    finally:
        os.close(fd)
