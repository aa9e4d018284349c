"""The commands that inspect and manage: ``queues``, ``failed``, ``retry``, ``clear``, ``workers``, ``schedules``.

They take queues as their positional argument (or ``--queue``) and job modules only through ``--app``, so a
module name is never read as a queue. A queue or job id that does not exist is an error (exit status 1) that
lists what does exist; nothing is done then.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from . import config, deployment, registry, scheduler
from .app import load_app
from .backends.base import Backend
from .errors import TasksError
from .model import WorkerInfo
from .queue import FailedRecord
from .worker.autoscale import POOL_ROLE, describe_pools

#: Ids a "no such job" error lists at most.
LISTED_IDS = 10
#: The narrowest an error column is cut to, whatever the terminal's width.
MIN_ERROR_WIDTH = 20


class CommandError(TasksError):
    """What the user asked for does not exist; the message lists what does. Exit status 1."""


# --- shared ----------------------------------------------------------------------------------------------------


def open_backend(args: argparse.Namespace) -> Backend:
    """Import the ``--app`` modules (their queues and schedules count), then reach the backend."""
    load_app(args.app, required=False)
    backend = config.get_backend()
    backend.ping()
    return backend


def queue_names(backend: Backend, workers: Sequence[WorkerInfo] = ()) -> list[str]:
    """Every queue there is: ``default``, those that ever held a job, those of the loaded jobs, those workers
    listen to."""
    named = {"default"} | {d.queue for d in registry.definitions()} | {q for worker in workers for q in worker.queues}
    return sorted(set(backend.known_queues()) | named)


def chosen_queue(args: argparse.Namespace) -> str | None:
    """The queue named by the positional argument or ``--queue`` (the same one if both are given)."""
    positional, option = getattr(args, "queue", None), getattr(args, "queue_option", None)
    if positional and option and positional != option:
        raise CommandError(f"two queues named: {positional!r} and --queue {option!r}; name one")
    name = positional or option
    return None if name is None else registry.check_queue_name(name)


def existing_queue(backend: Backend, name: str) -> str:
    """``name``, when such a queue exists; else a ``CommandError`` listing the queues there are."""
    workers = backend.workers(now=time.time())
    names = queue_names(backend, workers)
    if name in names:
        return name
    message = f"no queue named {name!r}; the queues are: {', '.join(names) or 'none yet'}"
    if _is_module(name):
        message += f". {name!r} is a module: name job modules with --app {name}"
    raise CommandError(message)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


# --- queues and workers ----------------------------------------------------------------------------------------


def run_queues(args: argparse.Namespace) -> int:
    """Counts per queue, and how many live worker processes listen to each; a warning for a queue whose jobs no
    live worker will take."""
    backend = open_backend(args)
    workers = backend.workers(now=time.time())
    names = [existing_queue(backend, name) for name in args.queues] if args.queues else queue_names(backend, workers)
    rows = [("queue", "ready", "scheduled", "running", "failed", "workers")]
    warnings = []
    from .limits.commands import paused_mark  # the flow-control commands import this module

    shown = paused_mark(backend)
    for name in names:
        s = backend.queue_stats(name)
        listening = len(deployment.listeners(workers, name))
        rows.append((shown(name), str(s.ready), str(s.scheduled), str(s.running), str(s.failed), str(listening)))
        note = deployment.no_listener_note(name, workers)
        if note and s.ready + s.scheduled:
            waiting = s.ready + s.scheduled
            warnings.append(
                f"warning: queue {name!r} has {waiting} job(s) waiting, and no live worker listens to it ({note})"
            )
    print_table(rows)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return 0


def run_workers(args: argparse.Namespace) -> int:
    """Live workers, one line per worker process, grouped by the supervisor that runs them."""
    backend = open_backend(args)
    rows = [("id", "host", "supervisor", "pid", "queues", "started", "done", "running")]
    found = backend.workers(now=time.time())
    pools = [w for w in found if w.extra.get("role") == POOL_ROLE]  # an autoscaling pool's own entry
    found = [w for w in found if w.extra.get("role") != POOL_ROLE]
    found.sort(key=lambda w: (w.host, str(w.extra.get("supervisor_pid", "")), w.started_at))
    for w in found:
        supervisor = str(w.extra.get("supervisor_pid", "-"))
        started, running = when(w.started_at), ",".join(w.current_jobs) or "-"
        rows.append((w.id, w.host, supervisor, str(w.pid), ",".join(w.queues), started, str(w.jobs_done), running))
    print_table(rows)
    print(f"{len(found)} live worker process(es)")
    for line in describe_pools(pools):
        print(line)
    return 0


# --- the failed set --------------------------------------------------------------------------------------------


def run_failed(args: argparse.Namespace) -> int:
    """The failed jobs of one queue or all: a table, or one job whole with ``--show ID``."""
    backend = open_backend(args)
    name = chosen_queue(args)
    names = [existing_queue(backend, name)] if name else queue_names(backend)
    if args.show:
        return show_failed(backend, args.show, names)
    records = [FailedRecord.from_failed(entry) for queue in names for entry in backend.failed(queue, limit=args.limit)]
    width = None if args.long else error_width()
    rows = [("queue", "id", "name", "attempts", "failed at", "error")]
    for record in records:
        rows.append((record.queue, record.id, record.name, str(record.attempts), _stamp(record.failed_at), ""))
    if width is not None:  # what the other columns leave of the terminal's width
        width = max(width - sum(max(len(row[i]) for row in rows) + 2 for i in range(5)), MIN_ERROR_WIDTH)
    cut = False
    for index, record in enumerate(records, start=1):
        error = " ".join(f"{record.error_type}: {record.message}".split())
        if width is not None and len(error) > width:
            error, cut = error[: width - 3] + "...", True  # ASCII: a terminal of any encoding shows it
        rows[index] = (*rows[index][:5], error)
    print_table(rows)
    if cut:
        print(
            "errors cut to the terminal's width: --long shows them whole, --show ID with the traceback", file=sys.stderr
        )
    return 0


def error_width() -> int | None:
    """The terminal's width when printing to one (or when ``COLUMNS`` says a width); ``None``: do not cut."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return None
    return shutil.get_terminal_size().columns


def show_failed(backend: Backend, job_id: str, queues: Sequence[str]) -> int:
    """Print one failed job whole: where it ran, with what, how often, and its error with the traceback."""
    for queue in queues:
        entry = backend.failed_job(queue, job_id)
        if entry is None:
            continue
        record = FailedRecord.from_failed(entry)
        fields = [
            ("id", record.id),
            ("queue", record.queue),
            ("name", record.name),
            ("args", json.dumps(record.args)),
            ("kwargs", json.dumps(record.kwargs)),
            ("attempts", str(record.attempts)),
            ("failed at", _stamp(record.failed_at)),
            ("error", f"{record.error_type}: {record.message}"),
        ]
        for label, value in fields:
            print(f"{label + ':':<10} {value}")
        if record.traceback:
            print()
            print(record.traceback.rstrip("\n"))
        return 0
    raise CommandError(f"no failed job with id {job_id!r} in {_queues_phrase(queues)}; {_failed_ids(backend, queues)}")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _queues_phrase(queues: Sequence[str]) -> str:
    return f"queue {queues[0]!r}" if len(queues) == 1 else f"any queue ({', '.join(queues) or 'none'})"


def _failed_ids(backend: Backend, queues: Sequence[str]) -> str:
    """The newest failed ids of ``queues``, for an error that says which ones exist."""
    entries = [entry for q in queues for entry in backend.failed(q, limit=LISTED_IDS)][:LISTED_IDS]
    if not entries:
        return "there is no failed job there"
    ids = [f"{e.id} ({e.queue})" if len(queues) > 1 else e.id for e in entries]
    more = sum(backend.queue_stats(q).failed for q in queues) - len(ids)
    return f"the failed jobs are: {', '.join(ids)}" + (f", and {more} more" if more > 0 else "")


def run_retry(args: argparse.Namespace) -> int:
    """Failed jobs back to their queue: all of them, or those ``--id`` names (each must be a failed job)."""
    backend = open_backend(args)
    name = chosen_queue(args)
    if name is None:
        raise CommandError("name the queue whose failed jobs to retry: python -m tasks retry QUEUE [--id ID ...]")
    queue = existing_queue(backend, name)
    if args.ids:
        missing = [job_id for job_id in dict.fromkeys(args.ids) if backend.failed_job(queue, job_id) is None]
        if missing:
            what = ", ".join(_what_is(backend, queue, job_id) for job_id in missing)
            raise CommandError(f"nothing retried: {what}; {_failed_ids(backend, [queue])}")
    moved = backend.retry_failed(queue, args.ids, now=time.time())
    print(f"{moved} job(s) moved back to {queue}")
    return 0


def _what_is(backend: Backend, queue: str, job_id: str) -> str:
    status = backend.status(queue, job_id)
    if status is None:
        return f"no job {job_id!r} on queue {queue!r}"
    return f"job {job_id!r} is {status.state}, not failed"


def run_clear(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    name = chosen_queue(args)
    if name is None:
        raise CommandError("name the queue to clear: python -m tasks clear QUEUE")
    queue = existing_queue(backend, name)
    print(f"{backend.clear(queue)} job(s) deleted from {queue}")
    return 0


# --- cron ------------------------------------------------------------------------------------------------------


def run_schedules(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    columns = ("schedule", "cron", "zone", "job", "queue", "misfire", "next (zone)", "next (UTC)", "last run (UTC)")
    rows: list[tuple[str, ...]] = [columns]
    now = time.time()
    for s in scheduler.registered_schedules():
        following = s.next_fire(now)
        last = backend.last_tick(s.name)
        local = datetime.fromtimestamp(following, s.tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        last_run = "never" if last is None else when(last)
        row = (s.name, s.cron.expression, s.tz_name, s.options.name, s.options.queue, s.misfire)
        rows.append((*row, local, when(following), last_run))
    if len(rows) == 1:
        print("no schedules: name the modules that define them (python -m tasks schedules --app myapp.jobs)")
        return 0
    print_table(rows)
    return 0
