"""What every backend's ``jobs`` listing shares: which states are indexed, argument checks, and reading a record.

Only jobs that sit in an index can be listed without scanning the keyspace: ready (a LIST, or rows in queue
order), waiting for a time (the scheduled ZSET, delayed and retrying jobs together), running (the leases ZSET)
and failed (the failed ZSET). Succeeded and cancelled jobs are kept only by id, so a listing of those states
is empty: a job in them is found by its id (``job_info``/``status``).
"""

from __future__ import annotations

from typing import Literal, cast

from ..model import JOB_STATES, ErrorInfo, JobInfo, JobState, Progress

#: The index a state is listed from; ``scheduled`` and ``retrying`` share one (jobs waiting for a time).
Index = Literal["ready", "scheduled", "leases", "failed"]
INDEX_OF: dict[str, Index] = {
    "queued": "ready",
    "scheduled": "scheduled",
    "retrying": "scheduled",
    "running": "leases",
    "failed": "failed",
}
#: The state a record found in an index reads as when its own is missing (damaged by hand).
FALLBACK_STATE: dict[Index, JobState] = {
    "ready": "queued",
    "scheduled": "scheduled",
    "leases": "running",
    "failed": "failed",
}
#: The most jobs one listing call returns: a page, not an export.
MAX_LIMIT = 1000


def check_page(state: str, limit: int, offset: int) -> Index | None:
    """The index ``state`` is listed from (``None``: a state no index holds), after checking the page bounds.

    Raises ``ValueError`` naming the bad argument: an unknown state, a negative offset, a limit outside 0..1000.
    """
    if state not in JOB_STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(JOB_STATES)}")
    if not 0 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 0 and {MAX_LIMIT}, not {limit!r}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, not {offset!r}")
    return INDEX_OF.get(state)


def number(value: object) -> float | None:
    """A stored time or count as a float; a missing or damaged one reads as ``None`` rather than failing."""
    if value is None or value == "":
        return None
    try:
        return float(cast("str | float", value))
    except (TypeError, ValueError):
        return None


def count(value: object) -> int:
    """A stored counter; a missing or damaged one reads as 0."""
    found = number(value)
    return int(found) if found is not None and found >= 0 else 0


def record_info(
    job_id: str,
    queue: str,
    fields: dict[str, object],
    *,
    fallback_state: JobState,
    run_at: float | None = None,
) -> JobInfo:
    """The ``JobInfo`` of one stored record (``fields`` by the Redis hash's names); a record whose state is
    missing or unknown (damaged by hand) takes the state of the index it was found in."""
    state = fields.get("state")
    error = fields.get("error")
    return JobInfo(
        id=job_id,
        queue=queue,
        state=state if state in JOB_STATES else fallback_state,
        attempts=count(fields.get("attempts")),
        max_attempts=count(fields.get("max_attempts")) or 1,
        payload=cast("str | None", fields.get("payload")),
        enqueued_at=number(fields.get("enqueued_at")),
        started_at=number(fields.get("started_at")),
        finished_at=number(fields.get("finished_at")),
        run_at=run_at,
        worker=cast("str | None", fields.get("worker")) or None,
        result=cast("str | None", fields.get("result")),
        error=ErrorInfo.from_json(cast("str | None", error)),
        progress=Progress.from_json(cast("str | None", fields.get("progress"))),
    )
