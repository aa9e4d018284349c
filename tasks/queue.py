"""``queue(name)``: sizes of a queue and the management of its failed set (the dead letters)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .config import get_backend
from .model import FailedJob, QueueStats
from .registry import check_queue_name


@dataclass(frozen=True)
class FailedRecord:
    """One failed job as a user reads it: what ran, with what, how often, and why it failed."""

    id: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    error_type: str
    message: str
    traceback: str
    #: When it failed for good (UTC).
    failed_at: datetime
    queue: str = ""

    @classmethod
    def from_failed(cls, entry: FailedJob) -> FailedRecord:
        try:
            body = json.loads(entry.payload)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        error = entry.error
        return cls(
            id=entry.id,
            name=str(body.get("name", "?")),
            args=list(body.get("args", [])) if body.get("serializer", "json") == "json" else ["<dill>"],
            kwargs=dict(body.get("kwargs", {})) if body.get("serializer", "json") == "json" else {},
            attempts=entry.attempts,
            error_type=error.type if error else "",
            message=error.message if error else "",
            traceback=error.traceback if error else "",
            failed_at=_moment(entry.failed_at),
            queue=entry.queue,
        )


def _moment(epoch: float) -> datetime:
    """``epoch`` as an aware UTC datetime; a time no datetime can hold (a damaged record) as the nearest one."""
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return (datetime.max if epoch > 0 else datetime.min).replace(tzinfo=timezone.utc)


class Queue:
    """A named queue on the configured backend."""

    def __init__(self, name: str) -> None:
        self.name = check_queue_name(name)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    def stats(self) -> QueueStats:
        return get_backend().queue_stats(self.name)

    def size(self) -> int:
        """Jobs ready to run now."""
        return self.stats().ready

    def scheduled_size(self) -> int:
        """Jobs waiting for a time: delayed dispatches and retries waiting for their backoff."""
        return self.stats().scheduled

    def failed_size(self) -> int:
        return self.stats().failed

    def failed(self, limit: int = 50) -> list[FailedRecord]:
        """The newest ``limit`` failed jobs, newest first."""
        return [FailedRecord.from_failed(entry) for entry in get_backend().failed(self.name, limit=limit)]

    def retry_failed(self, ids: Sequence[str] | None = None) -> int:
        """Put failed jobs (all, or ``ids``) back to ready with their attempts reset; returns how many."""
        return get_backend().retry_failed(self.name, None if ids is None else list(ids), now=time.time())

    def purge_failed(self) -> int:
        """Delete every failed job; returns how many."""
        return get_backend().purge_failed(self.name)

    def clear(self) -> int:
        """Delete the ready and scheduled jobs; returns how many (running and failed jobs stay)."""
        return get_backend().clear(self.name)

    def pause(self) -> None:
        """Stop every worker from starting jobs of this queue until ``resume()``; jobs running now finish, and
        dispatching to the queue still works. The pause is kept in the datastore: it survives worker restarts."""
        get_backend().pause(self.name)

    def resume(self) -> None:
        """Serve the queue again (a no-op when it is not paused)."""
        get_backend().resume(self.name)

    def is_paused(self) -> bool:
        return self.name in get_backend().paused_queues()


def queue(name: str = "default") -> Queue:
    return Queue(name)
