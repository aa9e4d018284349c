"""``limits.define(name, spec)``: rate limits shared by several jobs, named once and used as ``limits=[name]``.

A shared limit counts the starts of every job that names it, in the same queue (see docs/flow-control.md: on
Redis each queue's keys live in one Cluster slot, so a limit shared by jobs of two queues is counted per
queue). Define it before the jobs that use it are decorated, in every process that dispatches them.
"""

from __future__ import annotations

import re
import threading

from ..errors import ConfigurationError
from .options import RateLimit, parse_rate

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
_lock = threading.Lock()
_limits: dict[str, RateLimit] = {}


def define(name: str, spec: str | RateLimit) -> RateLimit:
    """Name a rate limit (``"25/s"``, or a ``RateLimit``) for ``@job(limits=[name])``; returns it.

    Defining a name again with the same numbers is allowed (a module imported twice); other numbers are an error.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigurationError(f"a limit's name is 1-100 letters, digits, '_', '.', '-'; got {name!r}")
    rate = parse_rate(spec)
    limit = RateLimit(rate.n, rate.per, rate.key, name)
    with _lock:
        existing = _limits.get(name)
        if existing is not None and (existing.n, existing.per) != (limit.n, limit.per):
            raise ConfigurationError(
                f"limit {name!r} is already defined as {existing.n} per {existing.per:g} s; give this one another name"
            )
        _limits[name] = limit
    return limit


def shared_limit(name: str) -> RateLimit:
    """The limit defined as ``name``; an error listing the defined ones otherwise."""
    with _lock:
        found = _limits.get(name)
        known = sorted(_limits)
    if found is None:
        raise ConfigurationError(
            f"no limit named {name!r}: define it first with limits.define({name!r}, '25/s'); "
            f"defined: {', '.join(known) or 'none'}"
        )
    return found


def defined() -> dict[str, RateLimit]:
    """Every limit defined in this process, by name (``python -m tasks limits``)."""
    with _lock:
        return dict(_limits)


def forget(name: str) -> None:
    """Drop a definition (tests)."""
    with _lock:
        _limits.pop(name, None)
