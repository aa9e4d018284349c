"""``python -m tasks pause QUEUE`` / ``resume QUEUE`` (and ``limits``): the flow-control commands of the CLI."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from .. import registry
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
    """One line per limit of the loaded jobs and per shared limit: its rule and, when it has no key, its use now."""
    backend = open_backend(args)
    now = time.time()
    rows = [("name", "queue", "kind", "rule", "in use now")]
    shared: dict[tuple[str, str], list[str]] = {}
    for definition in registry.definitions():
        flow = definition.flow
        if not isinstance(flow, FlowOptions):
            continue
        for rate in flow.rates:
            if rate.name:
                shared.setdefault((rate.name, definition.queue), []).append(definition.name)
        for kind, rule in describe(flow):
            use = _use(backend, definition.queue, definition.name, kind, flow, now)
            rows.append((definition.name, definition.queue, kind, rule, use))
    limits = defined()
    for (name, queue), users in sorted(shared.items()):
        rate = limits[name]
        counted = backend.limit_use(queue, rates=[(name, rate.per)], slots=[], now=now)[0][0]
        rows.append((name, queue, "rate (shared)", _rate_rule(rate), f"{counted} started ({', '.join(users)})"))
    if len(rows) == 1:
        print("no limits: no loaded job has flow-control options (name job modules with --app)")
    else:
        print_table(rows)
    paused = backend.paused_queues()
    if paused:
        print(f"paused queues: {', '.join(sorted(paused))}")
    return 0


def _use(backend: Backend, queue: str, name: str, kind: str, flow: FlowOptions, now: float) -> str:
    """What ``limits`` shows of one job's own limit in use: read for limits without a key, "per key" otherwise."""
    if kind == "concurrency":
        if flow.concurrency_key is not None:
            return "per key"
        running, waiting = backend.limit_use(queue, rates=[], slots=[name], now=now)[1][0]
        return f"{running} running, {waiting} waiting"
    if kind == "rate":
        own = next(rate for rate in flow.rates if not rate.name)
        if own.key is not None:
            return "per key"
        counted = backend.limit_use(queue, rates=[(name, own.per)], slots=[], now=now)[0][0]
        return f"{counted} started"
    return "-"


def describe(flow: FlowOptions) -> list[tuple[str, str]]:
    """``(kind, rule)`` for each option in use, as ``limits`` prints them (a job's own rate limit: one at most)."""
    found = []
    if flow.unique_for_s is not None:
        found.append(("unique", f"for {flow.unique_for_s:g} s, until {flow.unique_until}" + _keyed(flow.unique_key)))
    if flow.debounce_s is not None:
        found.append(("debounce", f"{flow.debounce_s:g} s" + _keyed(flow.unique_key)))
    if flow.concurrency is not None:
        found.append(("concurrency", f"{flow.concurrency} at once" + _keyed(flow.concurrency_key)))
    found += [("rate", _rate_rule(rate)) for rate in flow.rates if not rate.name][:1]
    return found


def _rate_rule(rate: RateLimit) -> str:
    return f"{rate.n} per {rate.per:g} s" + _keyed(rate.key)


def _keyed(key: object) -> str:
    return "" if key is None else " per key"


def paused_mark(backend: Backend) -> Callable[[str], str]:
    """What ``queues`` prints for a queue's name: `` (paused)`` is added to a paused one."""
    paused = backend.paused_queues()
    return lambda name: f"{name} (paused)" if name in paused else name
