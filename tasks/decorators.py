"""``@job`` and ``@scheduled``: validate the options when the decorator runs, register, return a ``Job``.

``schedule(...)`` registers a cron schedule at runtime, for code that builds its schedules from data.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar, cast, overload

from typing_extensions import ParamSpec

from . import cron
from .arguments import checker
from .errors import ConfigurationError
from .job import DEFAULT_RESULT_TTL_S, AsyncJob, Job, _positive, make_job, options_by_name
from .limits.options import FLOW_OPTIONS, KeyFunction, RateLimit, UniqueUntil, flow_options
from .registry import JobDefinition, check_queue_name, default_name, lookup, register
from .retry import BackoffSpec, RetryPolicy
from .scheduler import Schedule, make_schedule, register_schedule

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
    *FLOW_OPTIONS,
)


class JobDecorator(Protocol):
    """What ``@job(...)`` with options returns: an ``async def`` function becomes an ``AsyncJob``."""

    @overload
    def __call__(self, func: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncJob[P, R]: ...

    @overload
    def __call__(self, func: Callable[P, R], /) -> Job[P, R]: ...


@overload
def job(func: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncJob[P, R]: ...


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
    unique_for: float | None = None,
    unique_key: KeyFunction | None = None,
    unique_until: UniqueUntil | None = None,
    concurrency: int | None = None,
    concurrency_key: KeyFunction | None = None,
    rate_limit: str | RateLimit | None = None,
    limits: Sequence[str] | None = None,
    debounce: float | None = None,
) -> JobDecorator: ...


def job(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make ``func`` a background job. Works bare (``@job``) and with options (``@job(queue="emails")``).

    Options: ``name`` (default ``module.qualname``), ``queue`` ("default"), ``max_attempts`` (3, the first
    attempt included), ``backoff`` (5 s doubled per attempt; or a list of seconds, or ``f(attempt)``),
    ``max_backoff`` (3600 s), ``jitter`` (False), ``timeout`` (None: no limit), ``result_ttl`` (1 day),
    ``serializer`` ("json", or "dill" which needs a secret).

    Flow control (docs/flow-control.md): ``unique_for`` (s) with ``unique_key`` and ``unique_until`` ("start" or
    "finish"), ``concurrency`` (N at once) with ``concurrency_key``, ``rate_limit`` ("100/m" or a ``RateLimit``),
    ``limits`` (names given to ``limits.define``), ``debounce`` (s, with ``unique_key``).
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
        return make_job(definition)

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
    **flow: Any,
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
        check_arguments=checker(fn),
        flow=flow_options(**flow),
    )


# --- cron schedules ---------------------------------------------------------------------------------------------


class Scheduling(Protocol):
    """What ``@scheduled(...)`` returns: takes a plain function or a ``Job``, gives back a ``Job``."""

    @overload
    def __call__(self, target: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncJob[P, R]: ...

    @overload
    def __call__(self, target: Job[P, R], /) -> Job[P, R]: ...

    @overload
    def __call__(self, target: Callable[P, R], /) -> Job[P, R]: ...


def scheduled(
    expression: str,
    *,
    tz: str = "UTC",
    queue: str | None = None,
    misfire: str = "skip",
    name: str | None = None,
) -> Scheduling:
    """Enqueue the job at every tick of ``expression`` (six fields, seconds first; or five, standard cron).

    On a plain function it makes a ``Job`` with the default options (``queue`` as given); stacked on
    ``@job(...)`` it keeps that job's retries, timeout and queue, ``queue`` then choosing where the scheduled
    runs go. ``tz`` is an IANA zone, ``misfire`` one of "skip", "once", "all" (docs/scheduling.md). The
    schedule is named after the job unless ``name`` is given. Errors are raised here, at decoration.
    """
    parsed = cron.parse(expression)
    cron.zone(tz)
    cron.check_misfire(misfire)
    if queue is not None:
        check_queue_name(queue)

    def decorate(target: Any) -> Job[Any, Any]:
        if isinstance(target, Job):
            made = target
        elif callable(target):
            made = make_job(make_definition(target, queue=queue or "default"))  # registered once the schedule is valid
        else:
            raise TypeError(f"@scheduled decorates a function or a @job, not {target!r}")
        runs = made.on(queue) if queue is not None else made
        made_schedule = make_schedule(
            parsed, name or made.name, runs.options, made.definition.func, tz=tz, misfire=misfire
        )
        if made is not target:
            register(made.definition)
        register_schedule(made_schedule)
        return made

    return cast(Scheduling, decorate)


def schedule(
    expression: str,
    name: str,
    target: Job[..., Any] | Callable[..., Any] | str,
    *,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    tz: str = "UTC",
    queue: str | None = None,
    misfire: str = "skip",
) -> Schedule:
    """Register the schedule ``name`` at runtime: enqueue ``target(*args, **kwargs)`` at every tick.

    ``target`` is a ``Job``, a plain function (made a job with the default options), or a registered job
    name (a job this process cannot import gets ``dispatch``'s defaults). Only schedulers of processes that
    ran this call know the schedule: call it where the application starts, in every process that runs one.
    """
    func: Callable[..., Any] | None
    if isinstance(target, str):
        options = options_by_name(target)
        definition = lookup(target)
        func = definition.func if definition is not None else None
    elif isinstance(target, Job):
        options, func = target.options, target.definition.func
    elif callable(target):
        made = job(target)
        options, func = made.options, made.definition.func
    else:
        raise TypeError(f"schedule() runs a Job, a function or a job name, not {target!r}")
    if queue is not None:
        options = replace(options, queue=check_queue_name(queue))
    made_schedule = make_schedule(expression, name, options, func, tz=tz, misfire=misfire, args=args, kwargs=kwargs)
    register_schedule(made_schedule)
    return made_schedule
