"""Plain values that cross module boundaries: what is stored, what a lease holds, what an attempt decided.

Times are epoch seconds (``float``) everywhere inside the library; durations carry an ``_s`` suffix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Union

#: Every state a job can be in, as ``JobHandle.status()`` reports it.
JobState = Literal["queued", "scheduled", "running", "retrying", "succeeded", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = ("queued", "scheduled", "running", "retrying", "succeeded", "failed", "cancelled")


#: Longest message, and longest traceback, an error keeps (characters); the rest is cut, with a marker saying
#: how much: an exception carrying megabytes must not be stored, logged and shown whole.
ERROR_TEXT_LIMIT = 65_536


def cap_text(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ending with a marker that says how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters cut]"


@dataclass(frozen=True)
class ErrorInfo:
    """Why an attempt failed: the exception's type name, message and formatted traceback, each capped at
    ``ERROR_TEXT_LIMIT`` characters."""

    type: str
    message: str
    traceback: str = ""

    def __post_init__(self) -> None:
        for name, limit in (("type", 200), ("message", ERROR_TEXT_LIMIT), ("traceback", ERROR_TEXT_LIMIT)):
            value = getattr(self, name)
            if len(value) > limit:
                object.__setattr__(self, name, cap_text(value, limit))

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "message": self.message, "traceback": self.traceback})

    @classmethod
    def from_json(cls, text: str | bytes | None) -> ErrorInfo | None:
        """The error stored as ``text``; text that is not an error's JSON (written by hand, damaged) is kept as
        the message of an error of type ``?``, so that reading a job never fails on it."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data.get("type", "")), str(data.get("message", "")), str(data.get("traceback", "")))
        except (ValueError, TypeError, AttributeError, RecursionError):
            raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
            return cls("?", raw)


class NewJob(NamedTuple):
    """A job on its way into the backend: the encoded payload plus what the datastore must index.

    ``payload`` is the wire envelope (docs/protocol.md); the backend stores it unread.
    ``run_at`` of ``None`` means "ready now". A named tuple, not a dataclass: one is made per dispatch, and a
    tuple is made in a third of the time a frozen dataclass takes.
    """

    id: str
    queue: str
    payload: str
    max_attempts: int
    enqueued_at: float
    run_at: float | None = None
    signature: str = ""


@dataclass(frozen=True)
class Lease:
    """A reserved job: only the holder of ``token`` may complete, retry, fail, extend or release it."""

    job_id: str
    queue: str
    token: str
    payload: str
    attempt: int
    max_attempts: int
    enqueued_at: float
    started_at: float
    signature: str = ""


def reserved_lease(
    queue: str,
    job_id: str,
    payload: str,
    attempt: Any,
    max_attempts: Any,
    enqueued_at: Any,
    token: str,
    signature: str | None,
    *,
    started_at: float,
) -> Lease:
    """The ``Lease`` of one job a reserve returned, its numbers as the datastore gives them (text or numbers)."""
    return Lease(
        job_id=job_id,
        queue=queue,
        token=token,
        payload=payload,
        attempt=int(attempt),
        max_attempts=int(max_attempts),
        enqueued_at=float(enqueued_at),
        started_at=started_at,
        signature=signature or "",
    )


@dataclass(frozen=True)
class JobStatus:
    """What the backend knows of one job: its state, and its result or last error where there is one."""

    state: JobState
    attempts: int
    result: str | None = None
    error: ErrorInfo | None = None
    payload: str | None = None


@dataclass(frozen=True)
class QueueStats:
    """Counts of one queue: ready to run, waiting for a time (delayed or retrying), running, failed."""

    queue: str
    ready: int
    scheduled: int
    running: int
    failed: int


@dataclass(frozen=True)
class FailedJob:
    """One entry of a queue's failed set (the dead letters), with enough to understand and replay it."""

    id: str
    queue: str
    payload: str
    attempts: int
    error: ErrorInfo | None
    failed_at: float


@dataclass(frozen=True)
class Progress:
    """What a running job last said of itself: ``fraction`` done (0..1) and a short ``note``."""

    fraction: float
    note: str
    updated_at: float

    def to_json(self) -> str:
        return json.dumps({"fraction": self.fraction, "note": self.note, "updated_at": self.updated_at})

    @classmethod
    def from_json(cls, text: str | bytes | None) -> Progress | None:
        """The progress stored as ``text``, or ``None`` when there is none or it does not decode: a damaged
        progress record must never make a job unreadable."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(float(data["fraction"]), str(data.get("note", "")), float(data.get("updated_at", 0.0)))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None


@dataclass(frozen=True)
class JobInfo:
    """Everything the backend knows of one job, for ``JobHandle.info()``, ``python -m tasks job`` and the
    dashboard. ``payload`` is the wire envelope (docs/protocol.md): name and arguments are read from it."""

    id: str
    queue: str
    state: JobState
    attempts: int
    max_attempts: int
    payload: str | None
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    run_at: float | None = None
    worker: str | None = None
    result: str | None = None
    error: ErrorInfo | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class MetricPoint:
    """The outcomes of one job name on one queue during one minute (``minute``: epoch seconds, a multiple of 60),
    summed over every worker. ``wait_s_sum`` adds up enqueue-to-start times, ``run_s_sum`` run times."""

    minute: float
    queue: str
    job: str
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    run_s_sum: float = 0.0
    wait_s_sum: float = 0.0


@dataclass(frozen=True)
class PublishedJob:
    """A job a worker can run, with the dispatch options it was declared with: what a producer that cannot
    import the job needs to send it where it belongs (``dispatch("name")``)."""

    name: str
    queue: str
    max_attempts: int
    timeout_s: float | None
    result_ttl_s: float
    serializer: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "queue": self.queue,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout_s,
            "result_ttl": self.result_ttl_s,
            "serializer": self.serializer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublishedJob:
        timeout = data.get("timeout")
        return cls(
            name=str(data["name"]),
            queue=str(data["queue"]),
            max_attempts=int(data["max_attempts"]),
            timeout_s=None if timeout is None else float(timeout),
            result_ttl_s=float(data["result_ttl"]),
            serializer=str(data["serializer"]),
        )


@dataclass(frozen=True)
class WorkerInfo:
    """A live worker as it announces itself with each heartbeat, with the jobs it can run."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started_at: float
    jobs_done: int = 0
    current_jobs: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    jobs: tuple[PublishedJob, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "host": self.host,
                "pid": self.pid,
                "queues": list(self.queues),
                "started_at": self.started_at,
                "jobs_done": self.jobs_done,
                "current_jobs": list(self.current_jobs),
                "extra": self.extra,
                "jobs": [job.to_dict() for job in self.jobs],
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerInfo:
        data = json.loads(text)
        return cls(
            id=data["id"],
            host=data["host"],
            pid=int(data["pid"]),
            queues=tuple(data["queues"]),
            started_at=float(data["started_at"]),
            jobs_done=int(data.get("jobs_done", 0)),
            current_jobs=tuple(data.get("current_jobs", ())),
            extra=dict(data.get("extra", {})),
            jobs=tuple(PublishedJob.from_dict(job) for job in data.get("jobs", ())),
        )


# --- outcomes: what one attempt decided; ``executor.apply_outcome`` turns each into one backend transition ---


@dataclass(frozen=True)
class Completed:
    """The attempt returned; ``result`` is the encoded return value."""

    result: str
    result_ttl_s: float


@dataclass(frozen=True)
class RetryAt:
    """The attempt failed and another is due at ``run_at``."""

    run_at: float
    error: ErrorInfo


@dataclass(frozen=True)
class Dead:
    """The job failed for good (attempts spent, ``Fail`` raised, or it cannot run at all)."""

    error: ErrorInfo


@dataclass(frozen=True)
class Deferred:
    """The job did not run here, and may elsewhere (its name is unknown to this worker): back at ``run_at``,
    its attempt given back. ``reason`` is for the log."""

    run_at: float
    reason: str


Outcome = Union[Completed, RetryAt, Dead, Deferred]
