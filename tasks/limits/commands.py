"""``python -m tasks pause QUEUE`` / ``resume QUEUE`` (and ``limits``): the flow-control commands of the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import registry
from ..app import load_app
from ..backends.base import Backend
from ..commands import CommandError, chosen_queue, existing_queue, open_backend, print_table
from .options import FlowOptions, RateLimit
from .shared import defined

#: ``build_parser``'s helper that adds one subcommand with the common options.
AddCommand = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def add_commands(command: AddCommand, with_queue: Callable[[argparse.ArgumentParser, str], None]) -> None:
    """Add ``pause`` and ``resume`` to the CLI's parser."""
    with_queue(
        command("pause", "stop workers from starting jobs of a queue (dispatching still works)", run_pause),
        "the queue to pause",
    )
    with_queue(command("resume", "serve a paused queue again", run_resume), "the queue to resume")
    command("limits", "list the flow-control limits of the loaded jobs (--app) and the shared ones", run_limits)


def _queue(args: argparse.Namespace, backend: Backend) -> str:
    name = chosen_queue(args)
    if name is None:
        raise CommandError("name the queue: python -m tasks " + str(args.command) + " QUEUE")
    return existing_queue(backend, name)


def run_pause(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    name = _queue(args, backend)
    backend.pause(name)
    print(f"queue {name!r} paused: no worker starts its jobs until `python -m tasks resume {name}`")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    name = _queue(args, backend)
    was = name in backend.paused_queues()
    backend.resume(name)
    print(f"queue {name!r} resumed" if was else f"queue {name!r} was not paused")
    return 0


def run_limits(args: argparse.Namespace) -> int:
    """One line per job with flow-control options (and per shared limit): what it limits, and how."""
    load_app(args.app, required=False)
    rows = [("name", "kind", "rule", "jobs")]
    users: dict[str, list[str]] = {}
    for definition in registry.definitions():
        flow = definition.flow
        if not isinstance(flow, FlowOptions):
            continue
        for rate in flow.rates:
            if rate.name:
                users.setdefault(rate.name, []).append(definition.name)
        rows += [(definition.name, kind, rule, definition.name) for kind, rule in describe(flow)]
    for name, rate in sorted(defined().items()):
        rows.append((name, "rate (shared)", _rate_rule(rate), ",".join(users.get(name, [])) or "-"))
    if len(rows) == 1:
        print("no limits: no loaded job has flow-control options (name job modules with --app)")
        return 0
    print_table(rows)
    paused = open_backend(args).paused_queues()
    if paused:
        print(f"paused queues: {', '.join(sorted(paused))}")
    return 0


def describe(flow: FlowOptions) -> list[tuple[str, str]]:
    """``(kind, rule)`` for each option in use, as ``limits`` prints them."""
    found = []
    if flow.unique_for_s is not None:
        found.append(("unique", f"for {flow.unique_for_s:g} s, until {flow.unique_until}" + _keyed(flow.unique_key)))
    if flow.debounce_s is not None:
        found.append(("debounce", f"{flow.debounce_s:g} s" + _keyed(flow.unique_key)))
    if flow.concurrency is not None:
        found.append(("concurrency", f"{flow.concurrency} at once" + _keyed(flow.concurrency_key)))
    found += [("rate", _rate_rule(rate)) for rate in flow.rates if not rate.name]
    return found


def _rate_rule(rate: RateLimit) -> str:
    return f"{rate.n} per {rate.per:g} s" + _keyed(rate.key)


def _keyed(key: object) -> str:
    return "" if key is None else " per key"


def paused_mark(backend: Backend) -> Callable[[str], str]:
    """What ``queues`` prints for a queue's name: `` (paused)`` is added to a paused one."""
    paused = backend.paused_queues()
    return lambda name: f"{name} (paused)" if name in paused else name
