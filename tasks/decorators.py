"""``@job``: validate the options when the decorator runs, register the function, return a ``Job``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar, overload

from typing_extensions import ParamSpec

from .errors import ConfigurationError
from .job import DEFAULT_RESULT_TTL_S, Job, _positive
from .registry import JobDefinition, check_queue_name, default_name, register
from .retry import BackoffSpec, RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")

_OPTIONS = (
    "name",
    "queue",
    "max_attempts",
    "backoff",
    "max_backoff",
    "jitter",
    "timeout",
    "result_ttl",
    "serializer",
)


@overload
def job(func: Callable[P, R], /) -> Job[P, R]: ...


@overload
def job(
    *,
    name: str | None = None,
    queue: str = "default",
    max_attempts: int = 3,
    backoff: BackoffSpec = 5.0,
    max_backoff: float = 3600.0,
    jitter: bool = False,
    timeout: float | None = None,
    result_ttl: float = DEFAULT_RESULT_TTL_S,
    serializer: str = "json",
) -> Callable[[Callable[P, R]], Job[P, R]]: ...


def job(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make ``func`` a background job. Works bare (``@job``) and with options (``@job(queue="emails")``).

    Options: ``name`` (default ``module.qualname``), ``queue`` ("default"), ``max_attempts`` (3, the first
    attempt included), ``backoff`` (5 s doubled per attempt; or a list of seconds, or ``f(attempt)``),
    ``max_backoff`` (3600 s), ``jitter`` (False), ``timeout`` (None: no limit), ``result_ttl`` (1 day),
    ``serializer`` ("json", or "dill" which needs a secret).
    """
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        hints = {key: difflib.get_close_matches(key, _OPTIONS, n=1) for key in unknown}
        detail = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
        raise TypeError(f"@job got unknown option {detail}; valid options: {', '.join(_OPTIONS)}")

    def decorate(fn: Callable[..., Any]) -> Job[Any, Any]:
        if isinstance(fn, Job):
            raise TypeError("@job applied twice: decorate the plain function once")
        if not callable(fn):
            raise TypeError(f"@job decorates a function, not {fn!r}")
        definition = make_definition(fn, **options)
        register(definition)
        return Job(definition)

    return decorate(func) if func is not None else decorate


def make_definition(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    queue: str = "default",
    max_attempts: int = 3,
    backoff: BackoffSpec = 5.0,
    max_backoff: float = 3600.0,
    jitter: bool = False,
    timeout: float | None = None,
    result_ttl: float = DEFAULT_RESULT_TTL_S,
    serializer: str = "json",
) -> JobDefinition:
    """A validated ``JobDefinition``; every error names the option and how to fix it."""
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if serializer not in ("json", "dill"):
        raise ConfigurationError(f"serializer must be 'json' or 'dill', got {serializer!r}")
    return JobDefinition(
        name=name or default_name(fn),
        func=fn,
        queue=check_queue_name(queue),
        policy=RetryPolicy(max_attempts=max_attempts, backoff=backoff, max_backoff_s=max_backoff, jitter=bool(jitter)),
        timeout_s=None if timeout is None else _positive("timeout", timeout),
        result_ttl_s=_positive("result_ttl", result_ttl),
        serializer=serializer,
    )
