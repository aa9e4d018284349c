"""The commands of job control and observability: ``job ID``, ``cancel ID [--abort]`` and ``metrics --port``.

A job id is looked for in the queue named (``--queue``) or else in every queue; an id found nowhere is an error
(exit status 1) and nothing is done.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence

from ..backends.base import Backend
from ..commands import CommandError, chosen_queue, open_backend, queue_names, when
from ..model import JobInfo

Command = Callable[[str, str, Callable[[argparse.Namespace], int]], argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    """Add ``job``, ``cancel`` and ``metrics`` to the CLI (``command`` makes a subcommand with the common options)."""
    job = command("job", "show one job: state, attempts, times, arguments, progress and last error", run_job)
    _with_job_id(job)
    cancel = command("cancel", "cancel a job that waits (it never runs), or abort one that runs (--abort)", run_cancel)
    _with_job_id(cancel)
    cancel.add_argument("--abort", action="store_true", help="a running job is told to stop, then stopped")
    metrics = command("metrics", "serve the metrics in Prometheus's text format (needs tasks[metrics])", run_metrics)
    metrics.add_argument("--port", type=int, default=9108, help="TCP port to listen on (9108)")
    metrics.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")


def _with_job_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID", help="the job id (JobHandle.id)")
    p.add_argument("--queue", dest="queue_option", metavar="QUEUE", help="its queue (default: look in every queue)")


def find_job(backend: Backend, job_id: str, queues: Sequence[str]) -> JobInfo:
    """The job ``job_id`` in the first of ``queues`` that holds it; else a ``CommandError`` naming where we looked."""
    for queue in queues:
        info = backend.job_info(queue, job_id)
        if info is not None:
            return info
    where = f"queue {queues[0]!r}" if len(queues) == 1 else f"any of the queues {', '.join(queues) or 'none'}"
    raise CommandError(f"no job with id {job_id!r} in {where} (never sent, or its record expired)")


def _queues(backend: Backend, args: argparse.Namespace) -> list[str]:
    name = chosen_queue(args)
    return [name] if name else queue_names(backend)


def run_job(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    info = find_job(backend, args.id, _queues(backend, args))
    for label, value in describe(info):
        print(f"{label + ':':<12} {value}")
    if info.error is not None and info.error.traceback:
        print()
        print(info.error.traceback.rstrip("\n"))
    return 0


def describe(info: JobInfo) -> list[tuple[str, str]]:
    """The lines ``python -m tasks job`` prints for ``info``, as (label, value)."""
    payload = _payload(info.payload)
    rows = [
        ("id", info.id),
        ("queue", info.queue),
        ("name", str(payload.get("name", "?"))),
        ("state", info.state),
        ("attempts", f"{info.attempts} of {info.max_attempts}"),
        ("args", json.dumps(payload.get("args", []))),
        ("kwargs", json.dumps(payload.get("kwargs", {}))),
    ]
    for label, moment in (
        ("enqueued", info.enqueued_at),
        ("due", info.run_at),
        ("started", info.started_at),
        ("finished", info.finished_at),
    ):
        if moment is not None:
            rows.append((label, when(moment)))
    if info.worker:
        rows.append(("worker", info.worker))
    if info.progress is not None:
        note = f" ({info.progress.note})" if info.progress.note else ""
        rows.append(("progress", f"{info.progress.fraction:.0%}{note} at {when(info.progress.updated_at)}"))
    if info.error is not None:
        rows.append(("last error", f"{info.error.type}: {info.error.message}"))
    return rows


def _payload(text: str | None) -> dict[str, object]:
    try:
        data = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


#: What ``cancel`` prints for each answer of ``Backend.cancel``, and its exit status.
CANCEL_MESSAGES = {
    "cancelled": ("job {id} cancelled: it will not run", 0),
    "abort_requested": ("job {id} is running: it is told to stop, and is stopped after its worker's grace", 0),
    "running": ("job {id} is running and was left alone; --abort stops it", 1),
    "finished": ("job {id} had already ended ({state}): nothing done", 1),
}


def run_cancel(args: argparse.Namespace) -> int:
    backend = open_backend(args)
    info = find_job(backend, args.id, _queues(backend, args))
    answer = backend.cancel(info.queue, info.id, now=time.time(), abort=args.abort)
    if answer == "unknown":
        raise CommandError(f"job {info.id} is gone (its record expired meanwhile)")
    message, status = CANCEL_MESSAGES[answer]
    print(message.format(id=info.id, state=info.state))
    return status


def run_metrics(args: argparse.Namespace) -> int:
    from .prometheus import serve

    backend = open_backend(args)
    serve(backend, host=args.host, port=args.port)
    return 0
