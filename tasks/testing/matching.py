"""How the fake matches a recorded dispatch against what a test expects, and how it shows what it saw.

Arguments are matched by parameter name, whichever way they were passed: ``send_email.delay("a@x")`` matches
``to="a@x"``, through the function's signature, with its defaults filled in. An expected value is equal when it
equals the recorded one as it is, or after the serializer's round trip (the recorded arguments are what a
worker receives, so the tuple a test writes matches the list the job will get).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ..serialization import Serializer

#: Longest rendering of one argument in a failure message.
VALUE_CHARS = 80


@lru_cache(maxsize=256)
def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # a builtin or a callable object without one
        return None


def bound_arguments(func: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name, defaults included; ``**kwargs`` spread out by their own names.

    A call that does not fit the signature (it would fail in the worker) keeps its keyword arguments by name and
    its positional ones under the names of the leading parameters; an unknown job's, under ``args``.
    """
    signature = _signature(func) if func is not None else None
    if signature is None:
        return {**({"args": list(args)} if args else {}), **kwargs}
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        leading = [p.name for p in signature.parameters.values() if p.kind in _POSITIONAL]
        return {**dict(zip(leading, args)), **kwargs}
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[name] = value
    return arguments


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def check_names(label: str, func: Callable[..., Any] | None, names: list[str]) -> None:
    """``TypeError`` for a name the job has no parameter for: a typo would make ``assert_not_dispatched`` pass."""
    signature = _signature(func) if func is not None else None
    if signature is None or not names:
        return
    parameters = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [name for name in names if name not in parameters]
    if unknown:
        raise TypeError(
            f"{label} has no parameter {', '.join(map(repr, unknown))} (its parameters: {', '.join(parameters)})"
        )


def matches(arguments: Mapping[str, Any], expected: Mapping[str, Any], serializer: Serializer | None) -> bool:
    """Whether every expected argument is there and equal (as it is, or after the serializer's round trip)."""
    missing = object()
    for name, want in expected.items():
        got = arguments.get(name, missing)
        if got is missing or not same(want, got, serializer):
            return False
    return True


def same(expected: Any, actual: Any, serializer: Serializer | None) -> bool:
    """``expected == actual``, or so once ``expected`` made the round trip the recorded value made."""
    if _equal(expected, actual):
        return True
    if serializer is None:
        return False
    try:
        carried = serializer.loads(serializer.dumps(expected))
    except Exception:  # a value the serializer refuses (a matcher object, ``mock.ANY``): it was compared as it is
        return False
    return _equal(carried, actual)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # a value whose == raises or is not a truth value (an array): not equal, for a matcher
        return False


def show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


def show_call(name: str, arguments: Mapping[str, Any]) -> str:
    """``name(a=1, b='x')``, each value cut to ``VALUE_CHARS``."""
    return f"{name}({', '.join(f'{key}={show_value(value)}' for key, value in arguments.items())})"


def show_match(expected: Mapping[str, Any]) -> str:
    return f" with {', '.join(f'{key}={show_value(value)}' for key, value in expected.items())}" if expected else ""
