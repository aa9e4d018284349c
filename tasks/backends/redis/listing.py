"""``RedisBackend.jobs``: a page of one queue's jobs read from its indexes (never SCAN or KEYS).

One round trip reads the page of ids from the index (LRANGE of ``ready``, ZRANGE of ``scheduled`` or
``leases``, ZREVRANGE of ``failed``), a second reads their hashes; a page costs the same with 10 jobs
queued or 10 million.
"""

from __future__ import annotations

from typing import Any

from ...model import JobInfo, JobState
from ..listing import FALLBACK_STATE, check_page, record_info
from .keys import QueueKeys

#: The job hash fields a listing reads.
FIELDS = (
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


def page_of_ids(client: Any, qk: QueueKeys, index: str, limit: int, offset: int) -> list[tuple[str, float | None]]:
    """``(id, score)`` of one page of ``index``, in the order the queue keeps it."""
    last = offset + limit - 1
    if index == "ready":
        return [(job_id, None) for job_id in client.lrange(qk.ready, offset, last)]
    if index == "failed":
        return [(i, float(s)) for i, s in client.zrevrange(qk.failed, offset, last, withscores=True)]
    zset = qk.scheduled if index == "scheduled" else qk.leases
    return [(i, float(s)) for i, s in client.zrange(zset, offset, last, withscores=True)]


def list_jobs(client: Any, qk: QueueKeys, queue: str, state: JobState, limit: int, offset: int) -> list[JobInfo]:
    """The page of ``queue``'s jobs in ``state`` (see ``Backend.jobs``); a hash gone missing under an id still
    listed shows as the index's state with no payload."""
    index = check_page(state, limit, offset)
    if index is None or limit == 0:
        return []
    entries = page_of_ids(client, qk, index, limit, offset)
    if not entries:
        return []
    pipe = client.pipeline(transaction=False)
    for job_id, _ in entries:
        pipe.hmget(qk.job(job_id), FIELDS)
    rows = pipe.execute()
    infos = []
    for (job_id, score), values in zip(entries, rows):
        fields = dict(zip(FIELDS, values))
        if index == "failed" and not fields.get("finished_at"):
            fields["finished_at"] = score  # the failed set's score is when it failed
        run_at = score if index == "scheduled" else None
        infos.append(record_info(job_id, queue, fields, fallback_state=FALLBACK_STATE[index], run_at=run_at))
    return infos
