"""Reads of the Redis backend that no transition needs: what the autoscaler looks at.

Plain commands, no script: a read needs no atomicity, and a job taken between the two round trips only makes
the answer a moment old (the next head is read on the next look).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import RedisBackend


def oldest_ready_at(backend: RedisBackend, queues: Sequence[str]) -> float | None:
    """The lowest ``enqueued_at`` among the heads of ``queues``' ready lists: two pipelined round trips (the
    head ids, then their fields), each command in its queue's slot, so it runs on a cluster as it is."""
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

    stamps = [_number(text) for text in backend._pipeline(fields)]
    known = [stamp for stamp in stamps if stamp is not None]
    return min(known) if known else None


def _number(text: object) -> float | None:
    """A stored timestamp, or ``None`` for one missing or damaged (that head is skipped, not a failure)."""
    try:
        value = float(str(text)) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") else None
