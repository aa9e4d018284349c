"""``python -m tasks pause QUEUE`` / ``resume QUEUE`` (and ``limits``): the flow-control commands of the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..backends.base import Backend
from ..commands import CommandError, chosen_queue, existing_queue, open_backend

#: ``build_parser``'s helper that adds one subcommand with the common options.
AddCommand = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def add_commands(command: AddCommand, with_queue: Callable[[argparse.ArgumentParser, str], None]) -> None:
    """Add ``pause`` and ``resume`` to the CLI's parser."""
    with_queue(
        command("pause", "stop workers from starting jobs of a queue (dispatching still works)", run_pause),
        "the queue to pause",
    )
    with_queue(command("resume", "serve a paused queue again", run_resume), "the queue to resume")


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


def paused_mark(backend: Backend) -> Callable[[str], str]:
    """What ``queues`` prints for a queue's name: `` (paused)`` is added to a paused one."""
    paused = backend.paused_queues()
    return lambda name: f"{name} (paused)" if name in paused else name
