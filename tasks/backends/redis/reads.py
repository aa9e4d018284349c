"""Reads of the Redis backend, tolerant of fields damaged or left out by hand.

Plain commands, no script: a read needs no atomicity. A job that moves between two round trips only makes the
answer a moment old.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from ...model import ErrorInfo, JobInfo, JobState, Progress
from ...records import stored_instant

if TYPE_CHECKING:
    from .backend import RedisBackend

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


def oldest_ready_at(backend: RedisBackend, queues: Sequence[str]) -> float | None:
    """The lowest ``enqueued_at`` among the heads of ``queues``' ready lists (what the autoscaler looks at): two
    pipelined round trips (the head ids, then their fields), each command in its queue's slot, so it runs on a
    cluster as it is. A head whose time is missing or damaged is skipped, not a failure."""
    keys = [backend.queue_keys(queue) for queue in queues]

    def heads(pipe: Any) -> None:
        for qk in keys:
            pipe.lindex(qk.ready, 0)

    ids = backend._pipeline(heads)
    found = [(qk, job_id) for qk, job_id in zip(keys, ids) if isinstance(job_id, str)]
    if not found:
        return None

    def fields(pipe: Any) -> None:
        for qk, job_id in found:
            pipe.hget(qk.job(job_id), "enqueued_at")

    stamps = [stored_instant(text) for text in backend._pipeline(fields)]
    known = [stamp for stamp in stamps if stamp is not None]
    return min(known) if known else None
