"""Cron expressions with seconds first, when they fire in a time zone, and which ticks a misfire policy runs.

Pure: imports nothing else from the package, reads no clock and does no I/O; every instant is passed in
as epoch seconds, and every tick it returns is a whole epoch second.

Syntax: six fields, ``sec min hour day month dow`` (seconds FIRST); five fields are standard cron with the
seconds at 0; ``@yearly``, ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly`` and
``@minutely`` stand for the obvious six-field expressions. Fields are matched by croniter (its seconds-first
mode), so ranges, lists, steps, names (``mon``, ``jan``), ``L`` and ``#`` all work as croniter documents.

Time zones and daylight saving time: an expression describes wall-clock times in its zone. A wall time that
does not exist that day (clocks jumped forward over it) fires once, at the instant the jump happens, the
next valid instant; several such times collapse into that one firing. A wall time that occurs twice (clocks
went back) fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

#: The six fields, in the order they are written.
FIELDS = ("second", "minute", "hour", "day of month", "month", "day of week")

#: Shorthands and the six-field expressions they stand for.
ALIASES = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
    "@minutely": "0 * * * * *",
}

#: What may happen to ticks missed while no scheduler ran: drop them, run one catch-up, or run them all.
MISFIRE_POLICIES = ("skip", "once", "all")
#: ``misfire="all"`` runs at most this many missed ticks (the latest ones).
MAX_CATCH_UP = 100
#: A tick younger than this is late, not missed: it fires whatever the policy (a busy or restarting scheduler).
MISFIRE_GRACE_S = 10.0

#: Upper bound on wall-clock matches examined for one next-fire (a guard: real searches take one or two).
_MAX_STEPS = 10_000
_ONE_SECOND = timedelta(seconds=1)
#: Where validation starts its trial searches (any fixed wall time would do).
_EPOCH_WALL = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: Parts of croniter's messages that describe its probe rather than the user's expression.
_CRONITER_NOISE = re.compile(r"^\[[^\]]*\]\s*(is\s+)?|\s*in field \d+")


@dataclass(frozen=True)
class Cron:
    """A validated expression: ``expression`` as written, ``fields`` its six-field seconds-first form."""

    expression: str
    fields: str

    def __str__(self) -> str:
        return self.expression


def parse(expression: str) -> Cron:
    """Validate ``expression``; a malformed one raises ``ValueError`` naming the field and croniter's reason."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"a cron expression must be a non-empty string, got {expression!r}")
    text = " ".join(expression.split())
    fields = ALIASES.get(text.lower())
    if fields is None:
        if text.startswith("@"):
            raise ValueError(f"unknown cron alias {text!r}: use one of {', '.join(ALIASES)}")
        parts = text.split(" ")
        written = len(parts)
        if written == 5:
            parts = ["0", *parts]
        elif written != 6:
            raise ValueError(
                f"cron expression {expression!r} has {len(parts)} fields: write six, seconds first "
                f"({' '.join(FIELDS)}), or five for standard cron (seconds = 0)"
            )
        fields = " ".join(parts)
        _check_fields(expression, parts, written)
    _check_fires(expression, fields)
    return Cron(expression=expression, fields=fields)


def _check_fields(expression: str, parts: list[str], written: int) -> None:
    """Try each field alone among wildcards, so that the error names the one croniter refused.

    ``written`` is how many fields the user wrote: a five-field expression's fields are numbered as written.
    """
    for index, part in enumerate(parts):
        if index < 6 - written:
            continue
        probe = ["*"] * 6
        probe[index] = part
        try:
            croniter(" ".join(probe), _EPOCH_WALL, second_at_beginning=True)
        except (CroniterError, ValueError, KeyError, IndexError) as exc:
            reason = _CRONITER_NOISE.sub("", str(exc)).strip()
            number = index + 1 + written - 6
            raise ValueError(
                f"cron expression {expression!r}: field {number} ({FIELDS[index]}) {part!r} is not valid "
                f"(croniter: {reason})"
            ) from exc


def _check_fires(expression: str, fields: str) -> None:
    """Refuse an expression that parses but never fires (``0 0 0 30 2 *``) or that croniter rejects as a whole."""
    try:
        croniter(fields, _EPOCH_WALL, second_at_beginning=True).get_next(datetime)
    except CroniterBadDateError as exc:
        raise ValueError(f"cron expression {expression!r} never fires (croniter: {exc})") from exc
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"cron expression {expression!r} is not valid: {exc}") from exc


def zone(name: str) -> tzinfo:
    """The IANA zone ``name`` (``"UTC"`` needs no tz database); ``ValueError`` naming the fix otherwise."""
    if name in ("UTC", "Etc/UTC"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'America/New_York' "
            f"(where the system has no tz database, install the tzdata package)"
        ) from exc


# --- when an expression fires ----------------------------------------------------------------------------------


def next_fire(cron: Cron, tz: tzinfo, after: float) -> float:
    """The first instant strictly after ``after`` at which ``cron`` fires in ``tz`` (whole epoch seconds)."""
    start = _search_start(after, tz)
    # croniter walks wall-clock times: give it the wall time labelled as UTC, a zone without DST.
    matches = croniter(cron.fields, start.replace(tzinfo=timezone.utc) - _ONE_SECOND, second_at_beginning=True)
    for _ in range(_MAX_STEPS):
        wall = matches.get_next(datetime).replace(tzinfo=None)
        instant = instant_of(wall, tz)
        if instant > after:
            return instant
    raise RuntimeError(f"no firing of {cron.expression!r} found after {after}")  # pragma: no cover - a guard


def fires(cron: Cron, tz: tzinfo, start: float, end: float) -> Iterator[float]:
    """Every instant in ``(start, end]`` at which ``cron`` fires, oldest first."""
    tick = next_fire(cron, tz, start)
    while tick <= end:
        yield tick
        tick = next_fire(cron, tz, tick)


def latest_fires(cron: Cron, tz: tzinfo, start: float, end: float, limit: int) -> list[float]:
    """The latest ``limit`` instants in ``(start, end]``, oldest first, without walking the whole interval.

    The window looked at grows eightfold from one minute until it holds ``limit`` ticks or reaches ``start``,
    so a year-long outage of an every-second schedule costs a few hundred steps, not thirty million.
    """
    width = 64.0
    while True:
        low = max(start, end - width)
        found = deque(fires(cron, tz, low, end), maxlen=limit)
        if len(found) >= limit or low <= start:
            return list(found)
        width *= 8


def instant_of(wall: datetime, tz: tzinfo) -> float:
    """The instant a naive wall-clock time of ``tz`` names, by this module's DST rules.

    A repeated wall time (clocks went back) is its first occurrence; a wall time that does not exist (clocks
    jumped forward over it) is the instant of the jump, the next valid one.
    """
    first = wall.replace(tzinfo=tz, fold=0).timestamp()
    if _wall_at(first, tz) == wall:
        return first
    other = wall.replace(tzinfo=tz, fold=1).timestamp()
    return float(_transition(tz, int(min(first, other)), int(max(first, other))))


def wall_time(instant: float, tz: tzinfo) -> datetime:
    """The aware local time of ``instant`` in ``tz`` (for display)."""
    return datetime.fromtimestamp(instant, tz)


def _wall_at(instant: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(instant, tz).replace(tzinfo=None)


def _search_start(after: float, tz: tzinfo) -> datetime:
    """The wall time from which matches may lie after ``after``.

    Inside the second pass of a repeated hour, every wall time up to the end of that hour already fired on its
    first pass, so the search starts where the repetition ends.
    """
    whole = float(int(after // 1))
    local = datetime.fromtimestamp(whole, tz)
    if not local.fold:
        return local.replace(tzinfo=None)
    first_pass = local.replace(fold=0).timestamp()
    change = _transition(tz, int(first_pass), int(whole))
    return _wall_at(change - 1, tz) + _ONE_SECOND


def _transition(tz: tzinfo, low: int, high: int) -> int:
    """The first whole second in ``(low, high]`` whose UTC offset differs from the one at ``low``."""
    before = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


# --- misfire ---------------------------------------------------------------------------------------------------


def check_misfire(policy: str) -> str:
    if policy not in MISFIRE_POLICIES:
        raise ValueError(f"misfire must be one of {', '.join(map(repr, MISFIRE_POLICIES))}, got {policy!r}")
    return policy


def due_ticks(
    cron: Cron,
    tz: tzinfo,
    *,
    last: float | None,
    now: float,
    misfire: str,
    since: float | None = None,
    grace_s: float = MISFIRE_GRACE_S,
) -> list[float]:
    """The ticks to fire at ``now``, oldest first, given ``last``, the latest tick already fired (or ``None``).

    A tick in ``(last, now]`` younger than ``grace_s`` is on time and always fires. Older ones were missed
    while no scheduler ran: ``skip`` drops them, ``once`` fires the latest of them as one catch-up, ``all``
    fires them all, the latest ``MAX_CATCH_UP`` only. A schedule that never fired has missed nothing: it
    starts with its first tick after ``since`` (when the scheduler first saw it; default ``now``).
    """
    check_misfire(misfire)
    if last is None:
        return list(fires(cron, tz, max(now if since is None else since, now - grace_s), now))
    on_time = list(fires(cron, tz, max(last, now - grace_s), now))
    if misfire == "skip" or last >= now - grace_s:
        return on_time
    missed = latest_fires(cron, tz, last, now - grace_s, 1 if misfire == "once" else MAX_CATCH_UP)
    return missed + on_time
