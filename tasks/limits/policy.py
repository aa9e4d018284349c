"""The pure policy of the limits: when a start is allowed, and when a held-back job may try again.

The Redis scripts (``reserve.lua``) and the SQLite backend apply exactly these rules inside their reserve
transition; the functions take ``now`` and the recorded starts, and read no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The due time of a job held back for a concurrency slot: never by time; the end of a running job of its key
#: makes it due (far beyond any real date, and still a finite number every datastore stores exactly).
HELD_AT = 1e15


def slot_free(holders_lease_expiry: Sequence[float], *, limit: int, now: float) -> bool:
    """Whether one more job may start, ``limit`` at once, given the lease expiries of the jobs holding slots.

    A holder whose lease expired holds nothing: its worker is gone, and the slot comes back with its lease.
    """
    return sum(1 for expiry in holders_lease_expiry if expiry > now) < limit


def next_start(starts: Sequence[float], *, n: int, per_s: float, now: float) -> float | None:
    """``None`` when a start is allowed now under "at most ``n`` starts in any ``per_s`` window" (a sliding log of
    ``starts``); else the earliest time one will be: when the oldest start still in the window leaves it."""
    recent = sorted(t for t in starts if t > now - per_s)
    if len(recent) < n:
        return None
    return recent[len(recent) - n] + per_s
