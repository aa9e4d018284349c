"""Pure retry maths: how long to wait before attempt n+1, and whether there is one.

Nothing here does I/O or reads a clock; the caller passes ``now`` and a random source, so every branch is
unit-tested without sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

#: What ``@job(backoff=...)`` accepts: a base in seconds (doubled each attempt), explicit steps, or a function.
BackoffSpec = Union[float, int, Sequence[float], Callable[[int], float]]

#: Doublings past this many change nothing once capped, and 2.0 ** 1024 would overflow a float.
MAX_DOUBLINGS = 64

#: How far ``jitter=True`` spreads each delay either way (a fraction of the delay).
JITTER_FRACTION = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    """A job's retry settings, validated once when the decorator runs."""

    max_attempts: int = 3
    backoff: BackoffSpec = 5.0
    max_backoff_s: float = 3600.0
    jitter: bool = False

    def __post_init__(self) -> None:
        validate_backoff(self.backoff)
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(
                f"max_attempts must be an int >= 1 (it counts the first attempt), got {self.max_attempts!r}"
            )
        if not self.max_backoff_s >= 0:  # NaN fails every comparison
            raise ValueError(f"max_backoff must be >= 0 seconds, got {self.max_backoff_s!r}")


def validate_backoff(backoff: BackoffSpec) -> None:
    """Raise ``ValueError``/``TypeError`` naming the fix when ``backoff`` cannot describe a schedule."""
    if callable(backoff):
        return
    if isinstance(backoff, bool):
        raise TypeError("backoff must be seconds (a number), a list of seconds, or a callable (attempt) -> seconds")
    if isinstance(backoff, (int, float)):
        if not 0 <= backoff < float("inf"):
            raise ValueError(f"backoff must be a finite number >= 0 seconds, got {backoff!r}")
        return
    if isinstance(backoff, (list, tuple)):
        if not backoff:
            raise ValueError("backoff as a list needs at least one delay in seconds")
        for step in backoff:
            if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 <= step < float("inf"):
                raise ValueError(f"every backoff step must be a finite number of seconds >= 0, got {step!r}")
        return
    raise TypeError(f"backoff must be seconds, a list of seconds, or a callable (attempt) -> seconds; got {backoff!r}")


def backoff_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

    A number ``b`` gives ``b * 2**(attempt-1)``; a list gives its ``attempt``-th entry, the last one repeated;
    a callable is asked. The delay is capped by ``max_backoff_s``; ``jitter`` spreads it by up to +/-20 %.
    """
    spec = policy.backoff
    if callable(spec):
        delay = float(spec(attempt))
    elif isinstance(spec, (int, float)):
        delay = float(spec) * 2.0 ** min(attempt - 1, MAX_DOUBLINGS)
    else:
        steps = list(spec)
        delay = float(steps[min(attempt, len(steps)) - 1])
    delay = min(delay, policy.max_backoff_s) if delay >= 0 else 0.0  # NaN from a callable: at once, never NaN
    if policy.jitter and delay > 0:
        delay *= 1 + JITTER_FRACTION * (2 * rand() - 1)
    return delay


def has_attempts_left(attempt: int, max_attempts: int) -> bool:
    """True when attempt ``attempt`` (1-based, just failed) was not the last one allowed."""
    return attempt < max_attempts


# --- a job whose name the worker does not know -------------------------------------------------------------------

#: How long a job whose name a worker does not know is put back rather than failed, from when it was due: a rolling
#: deploy brings the job's code to another worker (or this one, restarted) within it, and nothing is lost.
UNKNOWN_JOB_GRACE_S = 600.0
#: The wait before such a job is looked at again: the first one, the cap, and the share of its age in between. The
#: wait grows with the job's age so that workers that cannot run it do not spin on it.
UNKNOWN_JOB_FIRST_DELAY_S, UNKNOWN_JOB_MAX_DELAY_S, UNKNOWN_JOB_DELAY_SHARE = 2.0, 60.0, 0.25


def unknown_job_run_at(*, due_since: float, now: float, grace_s: float) -> float | None:
    """When to look again at a job whose name this worker does not know, or ``None``: fail it now (``UnknownJob``).

    ``due_since`` is when the job was due (its enqueue, or the time ``later`` gave it). The wait is a quarter of
    the job's age, at least 2 s and at most a minute, and never past the end of the grace, so the last look
    falls on it: with the default grace of 10 minutes a job is looked at 26 times.
    """
    deadline = due_since + grace_s
    if not now < deadline:  # NaN fails too: a time that says nothing ends the wait
        return None
    age = max(now - due_since, 0.0)
    wait = min(max(age * UNKNOWN_JOB_DELAY_SHARE, UNKNOWN_JOB_FIRST_DELAY_S), UNKNOWN_JOB_MAX_DELAY_S)
    return min(now + wait, deadline)
