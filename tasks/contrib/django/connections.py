"""Database connections in a worker process: each job begins and ends as a Django request does.

Django calls ``close_old_connections()`` when a request starts and when it finishes: a connection past its
``CONN_MAX_AGE`` (0 by default: at once) is closed, and so is one that broke. A worker process serves no
request, so without those calls it would hold one connection for its whole life, and after a database restart,
or a proxy that drops idle connections, every later job of the process would fail on the dead connection.
``boot`` (imported first by every worker process of a Django project) wraps each job of the registry so that
the same calls run before and after it.

Only plain functions are wrapped: an ``async def`` job reaches the ORM through ``sync_to_async``, whose
threads Django manages on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from django.db import close_old_connections

from ... import registry

F = TypeVar("F", bound=Callable[..., Any])

#: Marks a function already wrapped, so that wrapping twice changes nothing.
WRAPPED = "__tasks_django_connections__"


def around_each_call(func: F) -> F:
    """``func``, with ``close_old_connections()`` before it and after it (even when it raises)."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    setattr(run, WRAPPED, True)
    return run  # type: ignore[return-value]


def manage_registered_jobs() -> list[str]:
    """Wrap every plain-function job the registry knows now; returns the names of those it wrapped."""
    wrapped = []
    for definition in registry.definitions():
        if definition.is_async or getattr(definition.func, WRAPPED, False):
            continue
        registry.unregister(definition.name)  # the same name, now for the wrapped function
        registry.register(replace(definition, func=around_each_call(definition.func)))
        wrapped.append(definition.name)
    return wrapped
