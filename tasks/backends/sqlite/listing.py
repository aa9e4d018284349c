"""``SQLiteBackend.jobs``: a row of ``sql.LIST_JOBS`` as a ``JobInfo``."""

from __future__ import annotations

from typing import Any

from ...model import JobInfo, JobState
from ..listing import number, record_info

#: The columns of ``sql.LIST_JOBS`` after ``id``, by the Redis job hash's field names.
COLUMNS = (
    "state",
    "attempts",
    "max_attempts",
    "payload",
    "enqueued_at",
    "started_at",
    "finished_at",
    "worker",
    "result",
    "error",
    "progress",
)


def listed_job(queue: str, row: tuple[Any, ...], fallback: JobState) -> JobInfo:
    """The ``JobInfo`` of one listed row (``run_at`` only for jobs waiting for a time)."""
    job_id, *values, run_at = row
    fields = dict(zip(COLUMNS, values))
    waiting = fields.get("state") in ("scheduled", "retrying")
    return record_info(str(job_id), queue, fields, fallback_state=fallback, run_at=number(run_at) if waiting else None)
