"""Run in spawned processes by the SQLite file tests."""

from __future__ import annotations

import os
import time
from typing import Any

from tasks.backends.sqlite import SQLiteBackend
from tasks.model import NewJob


def open_and_enqueue(path: str, tag: str, barrier: Any, out: Any) -> None:
    """Open the (maybe brand-new) file at the same instant as the others, then enqueue 50 jobs one by one."""
    barrier.wait()
    backend = SQLiteBackend(path)
    now = time.time()
    stored = [backend.enqueue(NewJob(f"{tag}-{os.getpid()}-{i}", "q", "{}", 1, now), now=now) for i in range(50)]
    backend.close()
    out.put(sum(stored))
