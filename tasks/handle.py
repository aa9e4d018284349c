"""``JobHandle``: what ``delay()`` returns, to follow a job and fetch its result."""

from __future__ import annotations

import json
import time
from typing import Any, Generic, TypeVar

from .config import get_backend, settings
from .deployment import no_listener_note
from .errors import BackendUnavailable, JobCancelled, JobFailed
from .model import CancelResult, JobInfo, JobState, JobStatus, Progress
from .producer import destination
from .serialization import get_serializer

R = TypeVar("R")

#: How often ``result()`` looks, growing from the first value to the last while it waits.
_POLL_FIRST_S, _POLL_MAX_S = 0.005, 0.2


class JobHandle(Generic[R]):
    """A dispatched job, named by its id and queue."""

    def __init__(self, job_id: str, queue: str, deduplicated: bool = False) -> None:
        self.id = job_id
        self.queue = queue
        #: True when this dispatch of a unique job found one not finished yet: this handle follows that job.
        self.deduplicated = deduplicated

    def __repr__(self) -> str:
        return f"JobHandle(id={self.id!r}, queue={self.queue!r})"

    def status(self) -> JobState:
        """One of queued, scheduled, running, retrying, succeeded, failed, cancelled.

        A job whose record expired (``result_ttl``) or that never existed raises ``LookupError``.
        """
        return self._fetch().state

    def result(self, timeout: float | None = None) -> R:
        """Wait for the job to end and return its value.

        Raises ``JobFailed`` when it failed for good, ``TimeoutError`` when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _POLL_FIRST_S
        while True:
            status = self._fetch()
            if status.state == "succeeded":
                return self._decode(status)  # type: ignore[no-any-return]
            if status.state == "cancelled":
                raise JobCancelled(self.id)
            if status.state == "failed":
                error = status.error
                raise JobFailed(
                    self.id,
                    error.type if error else "",
                    error.message if error else "",
                    error.traceback if error else "",
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(self._still(status.state, timeout))
            wait = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(wait)
            pause = min(pause * 2, _POLL_MAX_S)

    def cancel(self, *, abort: bool = False) -> CancelResult:
        """Stop the job: a queued, scheduled or retrying job becomes ``cancelled`` and never runs (``"cancelled"``).
        A running job is left alone (``"running"``), unless ``abort``: then it is told to stop
        (``"abort_requested"``; ``current_job().cancelled()`` turns True within a heartbeat, and after the
        worker's ``--abort-grace`` its process is stopped). ``"finished"``: it had ended; ``"unknown"``: no such job.
        """
        return _observed().cancel(self.queue, self.id, now=time.time(), abort=abort)  # type: ignore[no-any-return]

    def progress(self) -> Progress | None:
        """What the job last said of its progress (``current_job().progress``), or ``None``."""
        return self.info().progress

    def info(self) -> JobInfo:
        """Everything known of the job: state, attempts, times, worker, result, last error and progress.

        A job whose record expired (``result_ttl``) or that never existed raises ``LookupError``.
        """
        info: JobInfo | None = _observed().job_info(self.queue, self.id)
        if info is None:
            raise LookupError(f"job {self.id} is unknown on queue {self.queue!r} (never sent, or its record expired)")
        return info

    def _still(self, state: JobState, timeout: float | None) -> str:
        """Why ``result()`` gave up; for a job that waits to be taken, whether any live worker listens to its queue."""
        message = f"job {self.id} is still {state} after {timeout} s"
        if state not in ("queued", "scheduled", "retrying"):
            return message
        try:
            note = no_listener_note(self.queue, get_backend().workers(now=time.time()))
        except BackendUnavailable:
            return message
        return message if note is None else f"{message}, and no live worker listens to queue {self.queue!r} ({note})"

    def _fetch(self) -> JobStatus:
        status = destination().status(self.queue, self.id)  # the backend, or its stand-in in tests (tasks.testing)
        if status is None:
            raise LookupError(f"job {self.id} is unknown on queue {self.queue!r} (never sent, or its record expired)")
        return status

    @staticmethod
    def _decode(status: JobStatus) -> Any:
        serializer_name = json.loads(status.payload).get("serializer", "json") if status.payload else "json"
        return get_serializer(serializer_name, settings().secret).loads(status.result or "null")


def _observed() -> Any:
    """The backend (or the stand-in of ``tasks.testing``) for the reads and writes of job control."""
    return destination()
