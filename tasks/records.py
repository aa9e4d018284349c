"""Whether a stored job record can be run at all: the checks a reserve makes before it leases a job.

A record may have been written by hand, by a producer in another language, or damaged. One that cannot be run
goes to the failed set at once, with a ``MalformedJob`` error naming the field, instead of being leased (where
it could crash a worker, or stop the reserve of the jobs behind it). Redis makes these checks in
``reserve.lua``; the SQLite backend calls ``problem`` inside its reserve transaction. The messages are the same.
"""

from __future__ import annotations

import math
from typing import Any

#: The error type of a record that cannot be run.
MALFORMED = "MalformedJob"


def problem(
    job_id: Any, payload: Any, max_attempts: Any, attempts: Any, enqueued_at: Any, signature: Any
) -> str | None:
    """Why a record (its fields as stored, ``attempts`` already counted) cannot be run, or ``None``."""
    if not _text(job_id):
        return "the job id is not valid UTF-8 text"
    if not _text(payload):
        return "field payload is not valid UTF-8 text"
    if not (type(max_attempts) is int and max_attempts >= 1):
        return f"field max_attempts is {show(max_attempts)}, not an integer >= 1"
    if not (type(attempts) is int and attempts >= 1):
        return f"field attempts is {show(attempts)}, not an integer >= 0"
    if not (type(enqueued_at) in (int, float) and math.isfinite(enqueued_at)):
        return f"field enqueued_at is {show(enqueued_at)}, not a number"
    if not (signature is None or (_text(signature) and all(c in "0123456789abcdefABCDEF" for c in signature))):
        return f"field sig is {show(signature)}, not hexadecimal"
    return None


def _text(value: Any) -> bool:
    """A ``str`` that is valid UTF-8 (no surrogate escapes from a tolerant decode)."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def show(value: Any) -> str:
    """A short, printable rendering of a field's value for an error message."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(c if " " <= c <= "~" else "?" for c in str(value)[:40])
    return f"'{text}'"


def stored_instant(value: Any) -> float | None:
    """Epoch seconds as a datastore gives them back (text or number), or ``None`` when absent or not a finite
    number: a listing shows a damaged time as unknown rather than failing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
