"""``python -m tasks batches`` and ``python -m tasks batch ID``: the recent batches with their progress, and one
batch whole (its counters, times and members' states)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable

from ..commands import CommandError, open_backend, print_table, when
from .handles import BatchProgress, parse_id, public_id
from .records import WorkflowInfo

Command = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    """Register the two commands with the CLI's ``command(name, help, run)`` helper."""
    batches = command("batches", "list recent batches (and lone chains) with their progress", run_batches)
    batches.add_argument("--limit", type=int, default=20, help="newest first (20)")
    one = command("batch", "show one batch (or chain): counters, times, members", run_batch)
    one.add_argument("id", help="the id BatchHandle.id / ChainHandle.id gives (as the listing shows it)")


def _row(info: WorkflowInfo) -> tuple[str, ...]:
    p = BatchProgress.of(info)
    return (
        public_id(info.ref),
        info.kind,
        info.name[:40],
        info.state,
        f"{p.percent:.0f}%",
        f"{info.total - info.pending}/{info.total}",
        str(info.succeeded),
        str(info.failed),
        str(info.cancelled),
        when(info.created_at),
    )


def run_batches(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    found = backend.workflows(limit=max(args.limit, 1))
    if not found:
        print("no batches or chains (finished ones are kept for 7 days, or as keep_for() says)")
        return 0
    header = ("id", "kind", "name", "state", "done", "ended", "succeeded", "failed", "cancelled", "created")
    print_table([header, *(_row(info) for info in found)])
    return 0


def run_batch(args: argparse.Namespace) -> int:
    ref = parse_id(args.id)
    if ref is None:
        raise CommandError(f"{args.id!r} is not a batch or chain id (32 hex digits, a dot, the home queue)")
    backend = open_backend(args)
    info = backend.workflow_info(ref)
    if info is None:
        raise CommandError(f"no batch or chain {args.id} (never sent, or its record expired)")
    p = BatchProgress.of(info)
    print(f"{info.kind} {public_id(ref)}  {info.name}")
    print(f"state      {info.state}  ({p.percent:.1f}% ended: {info.total - info.pending} of {info.total})")
    print(f"counts     succeeded {info.succeeded}, failed {info.failed}, cancelled {info.cancelled}")
    print(f"created    {when(info.created_at)}")
    print(f"finished   {when(info.finished_at) if info.finished_at is not None else '-'}")
    if info.allow_failures:
        print("failures   allowed")
    if info.parent:
        print(f"batch      {info.parent}.{ref.home}")
    if info.current:
        print(f"step       {info.current[1]} on queue {info.current[0]}")
    if info.error:
        print(f"error      {info.error}")
    if info.kind == "batch":
        states: Counter[str] = Counter()
        for queue, member in backend.workflow_members(ref):
            if not queue:
                states["chain"] += 1
                continue
            status = backend.status(queue, member)
            states[status.state if status else "expired"] += 1
        print("members    " + ", ".join(f"{state} {n}" for state, n in sorted(states.items())))
    return 0
