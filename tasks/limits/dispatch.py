"""Dispatching a job with flow-control options: resolve its keys from the arguments, then one atomic enqueue.

Such a job goes to ``Backend.enqueue_flow`` one at a time, so that the unique check and the store are one step;
``tasks.testing``'s stand-ins (fake, eager) take it as a plain job: they apply no flow control.
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import replace
from typing import Any

from .. import producer
from ..backends.base import Backend
from ..errors import TasksError
from ..registry import lookup
from .options import FLOW_OPTIONS, FlowOptions, flow_options, resolve


def send_flow(options: producer.DispatchOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, bool]:
    """Send one job with ``options.flow``: ``(id of the job that stands, whether this dispatch stored it)``."""
    assert options.flow is not None
    if producer._bulk.get() is not None:
        raise TasksError(
            f"{options.name} has flow-control options (unique, debounce, concurrency or rate limits): each such "
            "dispatch is checked and stored on its own, so send it outside bulk(); nothing was sent"
        )
    try:
        flow = resolve(options.name, options.flow, args, kwargs, bound_arguments(options.name, args, kwargs))
    except ValueError as exc:
        raise ValueError(f"cannot dispatch {options.name}: {exc}; nothing was sent") from exc
    now = time.time()
    if flow.debounce_s is not None:
        options = replace(options, run_at=max(options.run_at or now, now + flow.debounce_s))
    target, secret = producer._backend_and_secret()
    job = producer._build(options, args, kwargs, now=now, secret=secret)
    if not isinstance(target, Backend):
        target.enqueue(job, now=now)
        return job.id, True
    return target.enqueue_flow(job, flow, now=now)


def bound_arguments(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of a dispatch by parameter name (extra keywords merged in), or ``None`` when the job's
    function is not known here or the arguments do not fit it."""
    definition = lookup(name)
    if definition is None:
        return None
    try:
        signature = _signature(definition.func)
        bound = signature.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    named: dict[str, Any] = {}
    for parameter, value in bound.arguments.items():
        if signature.parameters[parameter].kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[parameter] = value
    return named


@functools.lru_cache(maxsize=1024)
def _signature(func: Any) -> inspect.Signature:
    return inspect.signature(func)


def with_flow(current: FlowOptions | None, given: dict[str, Any]) -> FlowOptions | None:
    """``current`` with the flow options of a ``with_options(...)`` call; an unknown name is a ``TypeError``."""
    unknown = sorted(set(given) - set(FLOW_OPTIONS))
    if unknown:
        raise TypeError(
            f"with_options() got unknown option(s) {', '.join(map(repr, unknown))}; flow-control options are "
            f"{', '.join(FLOW_OPTIONS)}"
        )
    return flow_options(current, **given)
