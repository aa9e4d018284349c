"""Jobs of ``bench/crash_duplicates.py``: each run leaves one line in the file ``CRASH_RECORD`` names."""

from __future__ import annotations

import os
import time

from tasks import current_job, job


def _record(line: str) -> None:
    with open(os.environ["CRASH_RECORD"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


@job(name="crash.record", max_attempts=5, backoff=0)
def record(key: str, pause_s: float = 0.0) -> str:
    """Record ``key`` (a line per run, so a job that ran twice shows twice), then pause."""
    _record(key)
    if pause_s:
        time.sleep(pause_s)
    return key


@job(name="crash.die", max_attempts=1)
def die(key: str) -> None:
    """Record ``key`` and end this worker process at once, with no cleanup (a crash, the OOM killer)."""
    _record(f"{key}:attempt{current_job().attempt}")
    os._exit(1)
