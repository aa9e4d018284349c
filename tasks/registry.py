"""The global registry: job name -> definition. A worker runs only what is found here, never a path from a payload."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError
from .model import PublishedJob
from .retry import RetryPolicy

#: Queue names travel inside Redis hash tags and CLI arguments: keep them plain.
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@dataclass(frozen=True)
class JobDefinition:
    """Everything the worker needs to run a job, fixed when the decorator runs."""

    name: str
    func: Callable[..., Any]
    queue: str
    policy: RetryPolicy
    timeout_s: float | None
    result_ttl_s: float
    serializer: str
    #: Called with a dispatch's arguments, raises the ``TypeError`` the function would (``tasks.arguments``);
    #: ``None``: not checked before sending.
    check_arguments: Callable[..., object] | None = field(default=None, compare=False, repr=False)
    #: Flow-control options (``tasks.limits.options.FlowOptions``); ``None`` when the job uses none.
    flow: Any = field(default=None, compare=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)


_jobs: dict[str, JobDefinition] = {}


def register(definition: JobDefinition) -> None:
    """Record ``definition``; a second, different function under the same name is an error."""
    existing = _jobs.get(definition.name)
    if existing is not None and not _same_function(existing.func, definition.func):
        raise ConfigurationError(
            f"a job named {definition.name!r} is already registered ({_where(existing.func)}); "
            f"give one of them another name with @job(name=...)"
        )
    _jobs[definition.name] = definition


def lookup(name: str) -> JobDefinition | None:
    return _jobs.get(name)


def names() -> list[str]:
    return sorted(_jobs)


def definitions() -> list[JobDefinition]:
    return [_jobs[name] for name in sorted(_jobs)]


def published() -> tuple[PublishedJob, ...]:
    """Every job with its dispatch options, as a worker announces them: what ``dispatch("name")`` needs in a
    process that cannot import the job."""
    return tuple(
        PublishedJob(d.name, d.queue, d.policy.max_attempts, d.timeout_s, d.result_ttl_s, d.serializer)
        for d in definitions()
    )


def unregister(name: str) -> None:
    """Forget a job (tests use this to register throwaway jobs)."""
    _jobs.pop(name, None)


def default_name(func: Callable[..., Any]) -> str:
    """``module.qualname``; refused for ``__main__`` and nested functions, whose names a worker cannot share."""
    module = getattr(func, "__module__", None) or "__main__"
    qualname = getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))
    if module == "__main__":
        raise ConfigurationError(
            f"{qualname} is defined in __main__, whose module name differs between producer and worker: "
            f"give it an explicit name with @job(name='...')"
        )
    if "<locals>" in qualname:
        raise ConfigurationError(f"{qualname} is defined inside a function: give it a name with @job(name='...')")
    return f"{module}.{qualname}"


def check_queue_name(queue: str) -> str:
    if not isinstance(queue, str) or not QUEUE_NAME_RE.fullmatch(queue):
        # ConfigurationError is a ValueError; the CLI reports it as a one-line error, not a traceback
        raise ConfigurationError(
            f"queue name {queue!r} is not valid: use 1-100 letters, digits, '_', '.' or '-' (e.g. 'emails')"
        )
    return queue


def _same_function(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """The same source function seen twice (a module imported under two names, or reloaded) is not a clash."""
    return a is b or (
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and getattr(a, "__code__", None) is not None
        and _where(a) == _where(b)
    )


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else repr(func)
