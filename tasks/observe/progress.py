"""Progress reports and abort requests, as running job code sees them through ``current_job()``.

A progress report is one write (``Backend.set_progress``) and never fails the job: a datastore error is logged and
the job goes on. Abort requests come the other way: a worker's heartbeat asks the backend which of its jobs were
asked to stop (``cancel(abort=True)``) and marks them here, in this process; ``current_job().cancelled()`` reads
the mark without any I/O.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from ..model import Progress

log = logging.getLogger("tasks.job")

#: The longest note kept (characters); a longer one is cut.
NOTE_LIMIT = 1000

_aborted: set[str] = set()
_aborted_lock = threading.Lock()


def make_progress(fraction: float, note: str, now: float) -> Progress:
    """A ``Progress`` from what job code passed; ``ValueError`` naming the fix for a fraction outside 0..1."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction):
        raise ValueError(f"progress(fraction, note): fraction must be a number from 0 to 1, got {fraction!r}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"progress(fraction, note): fraction must be from 0 to 1 (0.4 is 40 %), got {fraction!r}")
    return Progress(float(fraction), str(note)[:NOTE_LIMIT], now)


def report(queue: str, job_id: str, fraction: float, note: str) -> bool:
    """Store the progress of a running job; ``False`` when it was not stored (the reason is logged)."""
    progress = make_progress(fraction, note, time.time())
    from ..producer import destination

    store = getattr(destination(), "set_progress", None)
    if store is None:  # a stand-in of tasks.testing (fake, eager) keeps no progress
        return False
    try:
        stored = store(queue, job_id, progress)
    except Exception as exc:  # a progress report must never fail the job that makes it
        log.warning("job %s: progress %.0f %% not stored: %s", job_id, fraction * 100, exc)
        return False
    return bool(stored)


def mark_aborted(job_ids: set[str]) -> None:
    """Record that an abort was asked for ``job_ids`` (the heartbeat calls this)."""
    if job_ids:
        with _aborted_lock:
            _aborted.update(job_ids)


def forget(job_id: str) -> None:
    """Drop the mark of a job that ended in this process."""
    with _aborted_lock:
        _aborted.discard(job_id)


def abort_asked(job_id: str) -> bool:
    """Whether an abort was asked for ``job_id`` while it runs in this process."""
    return job_id in _aborted
