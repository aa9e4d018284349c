"""``Job[P, R]``: a registered function that still runs when called, and dispatches with ``delay``/``later``.

Dispatch options never come out of the job's own keyword arguments: ``delay`` passes everything through,
``later`` takes its ``when`` positional-only, and queue or id go through ``on()`` / ``with_options()``.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, Union

from typing_extensions import ParamSpec, Self

from . import producer
from .context import await_directly, call_directly, direct_context
from .handle import JobHandle
from .registry import JobDefinition, check_queue_name, lookup
from .retry import RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")

#: What ``later`` accepts: seconds from now, a ``timedelta``, or an aware ``datetime``.
When = Union[int, float, timedelta, datetime]


class Job(Generic[P, R]):
    """A job definition bound to dispatch options (``on``/``with_options`` return new views).

    ``R`` is the value a worker stores and ``JobHandle.result()`` returns: the function's return value.
    """

    def __init__(self, definition: JobDefinition, options: producer.DispatchOptions | None = None) -> None:
        self.definition = definition
        self.options = options or producer.DispatchOptions(
            name=definition.name,
            queue=definition.queue,
            max_attempts=definition.policy.max_attempts,
            timeout_s=definition.timeout_s,
            result_ttl_s=definition.result_ttl_s,
            serializer=definition.serializer,
        )
        self.__wrapped__ = definition.func
        self.__name__ = getattr(definition.func, "__name__", definition.name)
        self.__doc__ = definition.func.__doc__

    @property
    def name(self) -> str:
        return self.definition.name

    def __repr__(self) -> str:
        return f"<Job {self.name} queue={self.options.queue!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, like a plain call; ``current_job()`` in it describes this direct run."""
        ctx = direct_context(self.name, self.options.queue, self.options.max_attempts)
        return call_directly(self.definition.func, args, kwargs, ctx)  # type: ignore[no-any-return]

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Enqueue the job to run as soon as a worker is free."""
        return self._send(self.options, args, kwargs)

    def later(self, when: When, /, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Enqueue the job to run at ``when``: seconds (or a ``timedelta``) from now, or an aware ``datetime``."""
        return self._send(replace(self.options, run_at=run_at_from(when, now=time.time())), args, kwargs)

    def on(self, queue: str) -> Self:
        """The same job, dispatched to ``queue``."""
        return self.with_options(queue=queue)

    def with_options(
        self,
        *,
        queue: str | None = None,
        job_id: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        result_ttl: float | None = None,
    ) -> Self:
        """A view of this job whose dispatches use the given options; ``job_id`` makes enqueue idempotent."""
        options = self.options
        if queue is not None:
            options = replace(options, queue=check_queue_name(queue))
        if job_id is not None:
            options = replace(options, job_id=job_id)
        if max_attempts is not None:
            RetryPolicy(max_attempts=max_attempts)  # validates
            options = replace(options, max_attempts=max_attempts)
        if timeout is not None:
            options = replace(options, timeout_s=_positive("timeout", timeout))
        if result_ttl is not None:
            options = replace(options, result_ttl_s=_positive("result_ttl", result_ttl))
        return type(self)(self.definition, options)

    @staticmethod
    def _send(options: producer.DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobHandle[R]:
        sent = producer.send(options, args, kwargs)
        return JobHandle(sent.id, sent.queue)


class AsyncJob(Job[P, R]):
    """A job made from an ``async def`` function: ``R`` is the awaited value, which the worker stores.

    A plain call returns the coroutine, as calling the function would; the worker awaits it on its loop.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:  # type: ignore[override]
        ctx = direct_context(self.name, self.options.queue, self.options.max_attempts)
        return await_directly(self.definition.func(*args, **kwargs), ctx)


def make_job(definition: JobDefinition) -> Job[Any, Any]:
    """The ``Job`` (or ``AsyncJob``, for an ``async def`` function) of a definition."""
    return AsyncJob(definition) if definition.is_async else Job(definition)


def options_by_name(name: str) -> producer.DispatchOptions:
    """The dispatch options of a registered job, or the defaults for a job this process cannot import."""
    definition = lookup(name)
    if definition is not None:
        return Job(definition).options
    return producer.DispatchOptions(
        name=name,
        queue="default",
        max_attempts=RetryPolicy().max_attempts,
        timeout_s=None,
        result_ttl_s=DEFAULT_RESULT_TTL_S,
        serializer="json",
    )


def dispatch(name: str, /, *args: Any, queue: str | None = None, **kwargs: Any) -> JobHandle[Any]:
    """Enqueue a job by its registered name, for code that cannot import the function.

    ``queue`` defaults to the job's own queue when this process knows the job, else ``"default"``;
    it is the one keyword that ``dispatch`` keeps for itself (use ``Job.delay`` for a job parameter so named).
    """
    options = options_by_name(name)
    if queue is not None:
        options = replace(options, queue=check_queue_name(queue))
    sent = producer.send(options, args, kwargs)
    return JobHandle(sent.id, sent.queue)


#: How long results and final states are kept by default (one day).
DEFAULT_RESULT_TTL_S = 86400.0


def run_at_from(when: When, *, now: float) -> float:
    """Epoch seconds for ``when``; a naive ``datetime`` is refused because its zone would be a guess."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("later() needs an aware datetime (e.g. datetime.now(timezone.utc) + ...), not a naive one")
        return when.timestamp()
    if isinstance(when, timedelta):
        when = when.total_seconds()
    elif isinstance(when, bool) or not isinstance(when, (int, float)):
        raise TypeError(f"later() takes seconds, a timedelta or an aware datetime first; got {when!r}")
    if not 0 <= when < float("inf"):  # refuses negatives, NaN and infinity alike
        raise ValueError(f"later() needs a finite delay >= 0 seconds, got {when!r}")
    return now + float(when)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)
