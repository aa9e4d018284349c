"""Job records as the Redis backend reads them back: tolerant of fields damaged or left out by hand."""

from __future__ import annotations

from typing import Any, cast

from ...model import ErrorInfo, JobInfo, JobState, Progress
from ...records import stored_instant

#: The job HASH fields ``job_info`` reads (docs/protocol.md lists them all).
JOB_INFO_FIELDS = (
    "state", "attempts", "max_attempts", "payload", "enqueued_at", "started_at", "finished_at", "worker",
    "result", "error", "progress",
)  # fmt: skip


def job_info_from_fields(queue: str, job_id: str, fields: dict[str, Any], run_at: Any) -> JobInfo | None:
    """The ``JobInfo`` of a job HASH's fields (``None`` when the hash is gone); damaged numbers read as unknown."""
    if fields["state"] is None:
        return None
    return JobInfo(
        id=job_id,
        queue=queue,
        state=cast(JobState, fields["state"]),
        attempts=stored_count(fields["attempts"]),
        max_attempts=stored_count(fields["max_attempts"]) or 1,
        payload=fields["payload"],
        enqueued_at=stored_instant(fields["enqueued_at"]),
        started_at=stored_instant(fields["started_at"]),
        finished_at=stored_instant(fields["finished_at"]),
        run_at=stored_instant(run_at),
        worker=fields["worker"],
        result=fields["result"],
        error=ErrorInfo.from_json(fields["error"]),
        progress=Progress.from_json(fields["progress"]),
    )


def stored_count(text: str | None) -> int:
    """A counter field as stored; one damaged by hand reads as 0 rather than failing the read."""
    return int(text) if text and text.isascii() and text.isdigit() else 0
