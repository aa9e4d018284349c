"""``Job[P, R]``: a registered function that still runs when called, and dispatches with ``delay``/``later``.

Dispatch options never come out of the job's own keyword arguments: ``delay`` passes everything through,
``later`` takes its ``when`` positional-only, and queue or id go through ``on()`` / ``with_options()``.
``call(name)`` gives the same dispatching view of a job known only by its name (code that cannot import it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

from typing_extensions import ParamSpec, Self

from . import deployment, producer
from .backends.base import Backend
from .context import await_directly, call_directly, direct_context
from .handle import JobHandle
from .limits.dispatch import send_flow, with_flow
from .registry import JobDefinition, check_queue_name, lookup
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .workflows.calls import Call as PreparedCall

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("tasks")

#: What ``later`` accepts: seconds from now, a ``timedelta``, or an aware ``datetime``.
When = Union[int, float, timedelta, datetime]

#: How long results and final states are kept by default (one day).
DEFAULT_RESULT_TTL_S = 86400.0


class Dispatcher(Generic[P, R]):
    """Dispatch options, and the calls that send a job with them (``on``/``with_options`` return new views).

    ``R`` is the value a worker stores and ``JobHandle.result()`` returns.
    """

    def __init__(self, options: producer.DispatchOptions, check: Callable[..., object] | None = None) -> None:
        self.options = options
        self._check = check

    @property
    def name(self) -> str:
        return self.options.name

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Enqueue the job to run as soon as a worker is free."""
        return self._send(self.options, args, kwargs)

    def later(self, when: When, /, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Enqueue the job to run at ``when``: seconds (or a ``timedelta``) from now, or an aware ``datetime``."""
        return self._send(replace(self.options, run_at=run_at_from(when, now=time.time())), args, kwargs)

    def prepare(self, *args: P.args, **kwargs: P.kwargs) -> PreparedCall[R]:
        """The job with these arguments, not sent: a member of a ``chain`` or a ``batch`` (checked when it is built)."""
        return _prepare(self, args, kwargs, False)  # type: ignore[no-any-return]

    def prepare_piped(self, *args: Any, **kwargs: Any) -> PreparedCall[R]:
        """A step of a piping chain: the previous step's result comes first, then these arguments."""
        return _prepare(self, args, kwargs, True)  # type: ignore[no-any-return]

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
        **flow: Any,
    ) -> Self:
        """A view of this job whose dispatches use the given options; ``job_id`` makes enqueue idempotent.

        ``flow`` takes the flow-control options of ``@job`` (``unique_for``, ``concurrency``, ``rate_limit``...),
        added to or replacing the job's own.
        """
        options = self.options
        if flow:
            options = replace(options, flow=with_flow(options.flow, flow))
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
        return self._view(options)

    def _view(self, options: producer.DispatchOptions) -> Self:
        return type(self)(options, self._check)

    def _send(self, options: producer.DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobHandle[R]:
        """Check the arguments against the function's signature (when known here), then send."""
        check = self._check
        if check is not None:
            try:
                check(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"cannot dispatch {options.name}: {exc}; nothing was sent") from None
        if options.flow is not None:
            job_id, stored = send_flow(options, args, kwargs)
            return JobHandle(job_id, options.queue, deduplicated=not stored)
        sent = producer.send(options, args, kwargs)
        return JobHandle(sent.id, sent.queue)


class Job(Dispatcher[P, R]):
    """A job definition bound to dispatch options; calling it runs the function here and now."""

    def __init__(self, definition: JobDefinition, options: producer.DispatchOptions | None = None) -> None:
        super().__init__(options or definition_options(definition), definition.check_arguments)
        self.definition = definition
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

    def _view(self, options: producer.DispatchOptions) -> Self:
        return type(self)(self.definition, options)


class AsyncJob(Job[P, R]):
    """A job made from an ``async def`` function: ``R`` is the awaited value, which the worker stores.

    A plain call returns the coroutine, as calling the function would; the worker awaits it on its loop.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:  # type: ignore[override]
        ctx = direct_context(self.name, self.options.queue, self.options.max_attempts)
        return await_directly(self.definition.func(*args, **kwargs), ctx)


class Call(Dispatcher[..., Any]):
    """A job known by its name only, from ``call(name)``: ``delay``, ``later``, ``on`` and ``with_options`` as
    on a ``Job``. Its arguments are checked only when this process knows the job."""

    def __repr__(self) -> str:
        return f"<Call {self.name} queue={self.options.queue!r}>"


def make_job(definition: JobDefinition) -> Job[Any, Any]:
    """The ``Job`` (or ``AsyncJob``, for an ``async def`` function) of a definition."""
    return AsyncJob(definition) if definition.is_async else Job(definition)


def definition_options(definition: JobDefinition) -> producer.DispatchOptions:
    """The dispatch options a job was declared with."""
    return producer.DispatchOptions(
        name=definition.name,
        queue=definition.queue,
        max_attempts=definition.policy.max_attempts,
        timeout_s=definition.timeout_s,
        result_ttl_s=definition.result_ttl_s,
        serializer=definition.serializer,
        flow=definition.flow,
    )


def options_by_name(name: str) -> producer.DispatchOptions:
    """The dispatch options of a job registered here, or the defaults (queue ``default``) for another one."""
    definition = lookup(name)
    if definition is not None:
        return definition_options(definition)
    return producer.DispatchOptions(
        name=name,
        queue="default",
        max_attempts=RetryPolicy().max_attempts,
        timeout_s=None,
        result_ttl_s=DEFAULT_RESULT_TTL_S,
        serializer="json",
    )


def call(name: str, /) -> Call:
    """The job registered as ``name``, to dispatch from code that cannot import it:
    ``call("billing.charge").with_options(queue="billing").later(60, 42)``.

    Its queue and options are the job's own: from this process's registry when it knows the job, else as the
    live workers announce it (read at most every ``deployment.JOBS_CACHE_S``), else the defaults (queue
    ``default``), with a warning in the log.
    """
    definition = lookup(name)
    if definition is not None:
        return Call(definition_options(definition), definition.check_arguments)
    target = producer.destination()
    if not isinstance(target, Backend):  # tasks.testing's fake or eager mode: no datastore, no workers to ask
        return Call(options_by_name(name))
    published = deployment.published_job(name, target)
    if published is None:
        log.warning(
            "job %r is not registered here and no live worker runs it: sending it with the default options "
            "(queue 'default'); name its queue with call(name).on(queue)",
            name,
        )
        return Call(options_by_name(name))
    options = producer.DispatchOptions(
        name=name,
        queue=published.queue,
        max_attempts=published.max_attempts,
        timeout_s=published.timeout_s,
        result_ttl_s=published.result_ttl_s,
        serializer=published.serializer,
    )
    return Call(options)


def dispatch(name: str, /, *args: Any, queue: str | None = None, **kwargs: Any) -> JobHandle[Any]:
    """Enqueue a job by its registered name, for code that cannot import the function: ``call(name).delay(...)``.

    ``queue`` defaults to the job's own (see ``call``); it is the one keyword that ``dispatch`` keeps for itself:
    for a job parameter so named, or for a delay, an id or other options, use ``call(name)``.
    """
    if queue is not None:
        check_queue_name(queue)  # before anything is read
    view = call(name)
    return (view if queue is None else view.on(queue)).delay(*args, **kwargs)


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


def _prepare(dispatcher: Dispatcher[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any], piped: bool) -> Any:
    from .workflows.calls import Call as PreparedCall

    return PreparedCall(dispatcher.options, args, kwargs, dispatcher._check, piped=piped)
