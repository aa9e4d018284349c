"""The quickstart application: a few jobs, as a user would write them."""

from __future__ import annotations

import time

from tasks import current_job, job


@job(queue="emails", max_attempts=3, backoff=1)
def send_email(to: str, subject: str = "hello") -> str:
    """A job that just works."""
    current_job().log(f"sending {subject!r} to {to}")
    return f"sent {subject!r} to {to}"


@job(max_attempts=3, backoff=0.5)
def flaky_report(day: str) -> str:
    """Fails on its first attempt (a flaky network, say), succeeds on the retry."""
    attempt = current_job().attempt
    if attempt == 1:
        raise ConnectionError("upstream timed out")
    return f"report for {day} built on attempt {attempt}"


@job
def reminder(dispatched_at: float) -> str:
    """Dispatched with later(): tells how long after dispatch it ran."""
    return f"ran {time.time() - dispatched_at:.1f} s after dispatch"


@job(max_attempts=2, backoff=0.5)
def charge_card(amount: int) -> None:
    """Always fails: after two attempts it lands in the failed set (the dead letters)."""
    raise ValueError(f"card declined for {amount} EUR")
