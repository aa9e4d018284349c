"""The flow-control options of a job (``unique_for``, ``concurrency``, ``rate_limit``, ``debounce``...): their
validation, when ``@job`` or ``with_options`` runs, and what one dispatch makes of them.

Pure: nothing here reads a clock or a datastore. A key function is called with the dispatch's arguments and
its value becomes text; a dispatch whose key function fails raises before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

from ..errors import ConfigurationError

#: What a key option takes: a function of the job's arguments, or a fixed text.
KeyFunction = Union[Callable[..., Any], str]
UniqueUntil = Literal["start", "finish"]
#: A rate limit's period, by its unit's letter.
UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smhd])\s*$")
#: Longest key text kept as it is; a longer one is replaced by its digest (keys travel in Redis key names).
MAX_KEY_TEXT = 200


@dataclass(frozen=True)
class RateLimit:
    """At most ``n`` starts per ``per`` seconds, across every worker; ``key`` splits it (one limit per value
    of ``key(*args, **kwargs)``, e.g. per account)."""

    n: int
    per: float = 1.0
    key: KeyFunction | None = field(default=None, compare=False)
    #: The shared limit's name (``limits.define``), or ``""`` for a job's own.
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigurationError(f"a rate limit allows n >= 1 starts, got n={self.n!r}: e.g. RateLimit(10, per=1)")
        per = self.per
        if isinstance(per, bool) or not isinstance(per, (int, float)) or not 0 < per < math.inf:
            raise ConfigurationError(f"a rate limit's period is a number of seconds > 0, got per={per!r}")
        _check_key("rate limit key", self.key)


def parse_rate(spec: str | RateLimit) -> RateLimit:
    """``"100/m"``, ``"25/s"``, ``"1000/h"``, ``"5/10s"`` (5 per 10 seconds), or a ``RateLimit`` as it is."""
    if isinstance(spec, RateLimit):
        return spec
    match = _RATE_RE.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ConfigurationError(
            f"rate_limit {spec!r} is not understood: write 'N/s', 'N/m', 'N/h', 'N/d' or 'N/10s' "
            "(e.g. rate_limit='100/m'), or RateLimit(n, per=seconds, key=...)"
        )
    count, size, unit = match.groups()
    return RateLimit(int(count), float(size or 1) * UNITS_S[unit])


@dataclass(frozen=True)
class FlowOptions:
    """A job's flow-control options, validated; ``None`` fields are unused."""

    unique_for_s: float | None = None
    unique_key: KeyFunction | None = field(default=None, compare=False)
    unique_until: UniqueUntil = "finish"
    concurrency: int | None = None
    concurrency_key: KeyFunction | None = field(default=None, compare=False)
    rates: tuple[RateLimit, ...] = ()
    debounce_s: float | None = None

    @property
    def unique(self) -> bool:
        return self.unique_for_s is not None or self.debounce_s is not None


#: The option names ``@job`` and ``with_options`` accept for flow control.
FLOW_OPTIONS = (
    "unique_for",
    "unique_key",
    "unique_until",
    "concurrency",
    "concurrency_key",
    "rate_limit",
    "limits",
    "debounce",
)


def flow_options(base: FlowOptions | None = None, **given: Any) -> FlowOptions | None:
    """``base`` with the flow options ``given`` (``None`` values left as they are), checked together.

    Every error names the option and how to fix it; ``None`` when no option is in use.
    """
    flow = base or FlowOptions()
    changes: dict[str, Any] = {}
    if given.get("unique_for") is not None:
        changes["unique_for_s"] = _seconds("unique_for", given["unique_for"])
    if given.get("debounce") is not None:
        changes["debounce_s"] = _seconds("debounce", given["debounce"])
    if given.get("unique_key") is not None:
        changes["unique_key"] = _check_key("unique_key", given["unique_key"])
    if given.get("unique_until") is not None:
        if given["unique_until"] not in ("start", "finish"):
            raise ConfigurationError(f"unique_until must be 'start' or 'finish', got {given['unique_until']!r}")
        changes["unique_until"] = given["unique_until"]
    if given.get("concurrency") is not None:
        changes["concurrency"] = _count("concurrency", given["concurrency"])
    if given.get("concurrency_key") is not None:
        changes["concurrency_key"] = _check_key("concurrency_key", given["concurrency_key"])
    changes.update(_rates(given.get("rate_limit"), given.get("limits"), flow.rates))
    flow = replace(flow, **changes)
    _check_together(flow)
    return None if flow == FlowOptions() and flow.unique_key is None else flow


def _rates(rate_limit: Any, names: Any, current: tuple[RateLimit, ...]) -> dict[str, Any]:
    from .shared import shared_limit  # the registry of limits.define

    if rate_limit is None and names is None:
        return {}
    rates = [r for r in current if r.name] if rate_limit is not None else [r for r in current if not r.name]
    if rate_limit is not None:
        rates.append(parse_rate(rate_limit))
    if names is not None:
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise ConfigurationError(f"limits takes a list of names given to limits.define(), got {names!r}")
        rates = [r for r in rates if not r.name] + [shared_limit(name) for name in names]
    return {"rates": tuple(rates)}


def _check_together(flow: FlowOptions) -> None:
    if flow.unique_key is not None and not flow.unique:
        raise ConfigurationError(
            "unique_key needs unique_for (how long at most a duplicate is refused, e.g. unique_for=3600) or debounce"
        )
    if flow.debounce_s is not None and flow.unique_key is None:
        raise ConfigurationError(
            "debounce needs unique_key: the dispatches to fold into one run (e.g. lambda doc_id, **_: doc_id)"
        )
    if flow.concurrency_key is not None and flow.concurrency is None:
        raise ConfigurationError("concurrency_key needs concurrency=N: how many may run at once per key")


def _seconds(option: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigurationError(f"{option} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def _count(option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{option} must be an integer >= 1, got {value!r}")
    return value


def _check_key(option: str, key: Any) -> Any:
    if key is not None and not (callable(key) or isinstance(key, str)):
        raise ConfigurationError(
            f"{option} must be a function of the job's arguments (e.g. lambda user_id, **_: user_id) or a text, "
            f"got {key!r}"
        )
    return key


@dataclass(frozen=True)
class JobFlow:
    """What one dispatch's flow options come to: the key texts its arguments give, and the numbers."""

    unique: str | None = None
    unique_for_s: float = 0.0
    unique_until: UniqueUntil = "finish"
    debounce_s: float | None = None
    concurrency: int | None = None
    concurrency_key: str = ""
    #: ``(bucket, n, per_s)``: the limit's bucket name (its name and key text) and its numbers.
    rates: tuple[tuple[str, int, float], ...] = ()


def resolve(
    name: str,
    flow: FlowOptions,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    named: dict[str, Any] | None = None,
) -> JobFlow:
    """The ``JobFlow`` of one dispatch of job ``name``; a key function that fails raises ``ValueError``.

    ``named`` is the dispatch's arguments bound to the job's parameter names, when the function is known here:
    key functions are then called with keywords only, so ``lambda doc_id, **_: doc_id`` works however the
    arguments were passed. Without it they get the arguments as they were passed.
    """
    if named is not None:
        args, kwargs = (), named
    unique = None
    if flow.unique:
        unique = name + ":" + (_key_text(flow.unique_key, args, kwargs) if flow.unique_key else _digest(args, kwargs))
    rates = tuple(
        (
            (rate.name or name) + ((":" + _key_text(rate.key, args, kwargs)) if rate.key else ""),
            rate.n,
            float(rate.per),
        )
        for rate in flow.rates
    )
    return JobFlow(
        unique=unique,
        unique_for_s=flow.unique_for_s or 0.0,
        unique_until=flow.unique_until,
        debounce_s=flow.debounce_s,
        concurrency=flow.concurrency,
        concurrency_key=name + (":" + _key_text(flow.concurrency_key, args, kwargs) if flow.concurrency_key else ""),
        rates=rates,
    )


def _key_text(key: KeyFunction | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    if isinstance(key, str):
        value: Any = key
    else:
        try:
            value = key(*args, **kwargs) if key is not None else ""
        except Exception as exc:
            raise ValueError(f"a key function of this job failed on the dispatch's arguments: {exc!r}") from exc
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_KEY_TEXT else _hash(text)


def _digest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The key of a job unique by its whole arguments."""
    return _hash(json.dumps([list(args), kwargs], sort_keys=True, default=repr))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]
