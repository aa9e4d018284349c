"""Loads the Lua scripts from package data, once, and calls them by SHA.

Each script lives in ``lua/<name>.lua`` and opens with the table of its KEYS and ARGV; the functions several
transitions share are written once, in ``lua/lib_<part>.lua``, and prepended to the scripts ``LIBRARIES``
names. Calls go out as EVALSHA; a server that lost its script cache (a restart) answers NOSCRIPT, and the
scripts are loaded again and the call repeated. We do not use redis-py's ``Script`` objects in pipelines: they
add a ``SCRIPT EXISTS`` round trip to every pipeline, which would double the cost of the worker's hot path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

T = TypeVar("T")

SCRIPT_NAMES = (
    "enqueue",
    "enqueue_packed",
    "reserve",
    "complete",
    "retry",
    "fail",
    "release",
    "defer",
    "extend",
    "requeue_expired",
    "retry_failed",
    "purge_failed",
    "clear",
    "cancel",
    "abort",
    "aborts",
    "progress",
    "resume",
    "enqueue_flow",
    "delete_failed",
)

#: The shared Lua each script needs before its own file, in order: ``flow`` (tasks/limits: a job leaving
#: ``running`` gives back its slot and lock), ``metrics`` (tasks/observe: the per-minute counters), ``workflow``
#: (tasks/workflows: what a member's outcome does to its batch or chain).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "complete": ("lib_flow", "lib_metrics"),
    "retry": ("lib_flow", "lib_metrics"),
    "fail": ("lib_flow", "lib_metrics"),
    "release": ("lib_flow",),
    "defer": ("lib_flow",),
    "requeue_expired": ("lib_flow",),
    "cancel": ("lib_flow", "lib_metrics"),
    "abort": ("lib_flow", "lib_metrics"),
}


@cache
def script_text(name: str) -> str:
    """The Lua source of file ``lua/<name>.lua``, read from package data."""
    return resources.files(__package__).joinpath("lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")


@cache
def script_source(name: str, libraries: tuple[str, ...] | None = None) -> str:
    """What runs as script ``name``: its libraries (``LIBRARIES``, unless given), then its own file."""
    parts = LIBRARIES.get(name, ()) if libraries is None else libraries
    return "\n".join([*(script_text(part) for part in parts), script_text(name)])


class Scripts:
    """Every script's SHA, and the calls that run them on one client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.shas = {name: hashlib.sha1(script_source(name).encode()).hexdigest() for name in SCRIPT_NAMES}

    def load_all(self) -> None:
        for name in SCRIPT_NAMES:
            self.client.script_load(script_source(name))

    def run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run one script now."""
        return self.reloading(lambda: self.client.evalsha(self.shas[name], len(keys), *keys, *args))

    def command(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """The ``EVALSHA`` command of one script call, to send with others in one round trip."""
        return ("EVALSHA", self.shas[name], len(keys), *keys, *args)

    def queue(self, pipe: Any, name: str, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Queue one script call on ``pipe``; execute it through ``reloading``."""
        pipe.evalsha(self.shas[name], len(keys), *keys, *args)

    def reloading(self, call: Callable[[], T]) -> T:
        """``call()``, loading the scripts and calling once more if the server had lost them.

        Repeating is safe: a NOSCRIPT reply means no script of the call ran (the whole cache went at once).
        """
        try:
            return call()
        except NoScriptError:
            self.load_all()
            return call()
