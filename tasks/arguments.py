"""Checking a dispatch's arguments against the job's signature in the caller, before anything is sent.

A job called with arguments its function does not take would fail in the worker, and be retried for nothing.
So ``delay()`` checks them first, and raises the ``TypeError`` Python itself would raise. The check must cost
next to nothing on the dispatch path (``inspect.Signature.bind`` takes about 2 us, a few per cent of a round
trip to Redis): when the decorator runs, ``checker`` writes a function that takes exactly the parameters of the
job's function and does nothing, and calling it is the check (about 0.05 us). Only the parameter names and
kinds are copied, never a default value nor an annotation, and only names that are plain identifiers.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from typing import Any

#: What a checker is: called with a dispatch's arguments, it returns nothing or raises ``TypeError``.
Checker = Callable[..., object]

#: The default value of every parameter of a checker that has one (the value itself is never looked at).
_DEFAULT = object()


def checker(func: Callable[..., Any]) -> Checker | None:
    """A function taking the arguments ``func`` takes and doing nothing, or ``None`` when ``func`` has no
    signature Python can read (some builtins): their arguments are then not checked before sending."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    names = [parameter.name for parameter in signature.parameters.values()]
    if not all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
        return signature.bind  # a signature made by hand, with names no function could have: the slow check
    name = getattr(func, "__name__", "")
    if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)) or name in names:
        name = "job"
    namespace: dict[str, Any] = {"_DEFAULT": _DEFAULT}
    exec(f"def {name}({_parameters(signature)}):\n    pass\n", namespace)  # names checked above: identifiers only
    made: Checker = namespace[name]
    return made


def _parameters(signature: inspect.Signature) -> str:
    """The parameter list of ``signature`` as Python source, every default replaced by ``_DEFAULT``."""
    kind = inspect.Parameter
    parameters = list(signature.parameters.values())
    kinds = [parameter.kind for parameter in parameters]
    words: list[str] = []
    for index, parameter in enumerate(parameters):
        if (
            parameter.kind is kind.KEYWORD_ONLY
            and kind.VAR_POSITIONAL not in kinds
            and index == kinds.index(kind.KEYWORD_ONLY)
        ):
            words.append("*")  # the bare star before the first keyword-only parameter
        prefix = "*" if parameter.kind is kind.VAR_POSITIONAL else "**" if parameter.kind is kind.VAR_KEYWORD else ""
        default = "=_DEFAULT" if parameter.default is not kind.empty else ""
        words.append(f"{prefix}{parameter.name}{default}")
        if parameter.kind is kind.POSITIONAL_ONLY and kind.POSITIONAL_ONLY not in kinds[index + 1 :]:
            words.append("/")  # after the last positional-only parameter
    return ", ".join(words)
