"""Exceptions a user of ``tasks`` may raise or catch.

``Retry`` and ``Fail`` are raised *by* job code to steer the retry policy; the others are raised *to* the user.
"""

from __future__ import annotations


class TasksError(Exception):
    """Base class of every error this library raises on its own."""


class ConfigurationError(TasksError, ValueError):
    """A setting, URL or decorator option is wrong; the message says how to fix it."""


class SerializationError(TasksError, TypeError):
    """A value cannot be encoded by the job's serializer (raised in the caller, before anything is sent)."""


class SignatureError(TasksError):
    """A payload's HMAC does not verify: it was not produced with this deployment's secret."""


class BackendUnavailable(TasksError, ConnectionError):
    """The datastore cannot be reached."""


class JobTimeout(TasksError):
    """Raised inside a job whose attempt ran past its ``timeout``; the attempt counts as failed."""


class Retry(TasksError):
    """Ask for another attempt after ``delay`` seconds (the attempt counts).

    Without ``delay`` the job's own backoff schedule decides when.
    """

    def __init__(self, delay: float | None = None, reason: str = "") -> None:
        if delay is not None and not 0 <= delay < float("inf"):
            raise ValueError(f"Retry(delay=...) must be a finite number of seconds >= 0, got {delay!r}")
        super().__init__(reason or (f"retry requested in {delay} s" if delay is not None else "retry requested"))
        self.delay_s = delay


class Fail(TasksError):
    """Fail the job for good: no more attempts, straight to the failed set."""


class JobFailed(TasksError):
    """The job failed for good; carries the last error's type, message and traceback text."""

    def __init__(self, job_id: str, error_type: str, message: str, traceback: str) -> None:
        super().__init__(f"job {job_id} failed: {error_type}: {message}")
        self.job_id = job_id
        self.error_type = error_type
        self.message = message
        self.traceback = traceback


class JobCancelled(TasksError):
    """The job was cancelled before it ran (its batch was cancelled): it never ran and has no result."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled before it ran")
        self.job_id = job_id
