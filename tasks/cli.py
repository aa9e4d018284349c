"""``python -m tasks``: the worker and the commands that inspect and manage queues."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from . import config, registry, scheduler
from .backends.base import Backend
from .console import tolerant_output
from .errors import BackendUnavailable, ConfigurationError
from .signals import install_stop_signals
from .worker import Worker, WorkerSettings, default_queues
from .worker.pool import PoolSettings, Supervisor
from .worker.process import ChildSpec

log = logging.getLogger("tasks.cli")


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        move_secret_url_off_command_line()
    tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    try:
        if args.url:
            config.configure(url=args.url)
        command: Callable[[argparse.Namespace], int] = args.run
        return command(args)
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


#: The spellings of ``--url`` that argparse takes (it accepts any unambiguous prefix of a long option).
URL_OPTIONS = ("--url", "--ur", "--u")


def move_secret_url_off_command_line() -> None:
    """Run this command again, as this same process, with a ``--url`` that holds a secret moved to ``TASKS_URL``.

    Anyone on the machine can read a process's command line (``ps``, ``/proc/PID/cmdline``); its environment
    only its own user can. So when the real command line carries a URL that ``mask_url`` would change, the
    command is exec'd again at once with the URL in ``TASKS_URL`` and without ``--url``: the same pid (a
    service manager sees nothing), the same meaning (``--url`` wins over ``TASKS_URL``, and the last of
    several wins), and the password stays visible only for the moment the interpreter takes to get here.
    """
    found = split_url_options(sys.argv[1:])
    if found is None or not sys.executable:
        return
    urls, rest = found
    if all(config.mask_url(url) == url for url in urls):
        return
    env = {**os.environ, "TASKS_URL": urls[-1]}
    os.execve(sys.executable, [sys.executable, "-m", "tasks", *rest], env)


def split_url_options(args: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """The values of the ``--url`` options in ``args``, and ``args`` without them; None when there is none.

    ``--url X`` and ``--url=X`` (and their prefixes) count; nothing after a ``--`` does, as for argparse.
    """
    urls: list[str] = []
    rest: list[str] = []
    words = iter(args)
    for word in words:
        name, equals, value = word.partition("=")
        if word == "--":
            rest += [word, *words]
        elif name in URL_OPTIONS and equals:
            urls.append(value)
        elif word in URL_OPTIONS:
            following = next(words, None)
            if following is None:
                return None  # argparse says what is missing
            urls.append(following)
        else:
            rest.append(word)
    return (urls, rest) if urls else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasks", description="Background jobs: workers and queue management.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "modules",
            nargs="*",
            metavar="MODULE",
            help="modules that define jobs (else TASKS_APP, else [tool.tasks] app in ./pyproject.toml)",
        )
        p.add_argument("--url", help=f"backend URL (default: TASKS_URL, else {config.DEFAULT_URL})")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        p.set_defaults(run=run)
        return p

    worker = command("worker", "run jobs (and fire cron schedules)", with_scheduler(run_worker))
    worker.add_argument("--no-scheduler", action="store_true", help="do not fire cron schedules here")
    worker.add_argument(
        "--queues",
        help="comma-separated, highest priority first (default: every queue the registry names, 'default' last)",
    )
    worker.add_argument("--burst", action="store_true", help="exit 0 once the queues are drained and all are idle")
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: the CPU count, here %(default)s)",
    )
    worker.add_argument(
        "--lease", type=_positive_float, default=30.0, metavar="S", help="seconds a lease lasts unrenewed (30)"
    )
    worker.add_argument(
        "--grace",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="seconds running jobs get after SIGTERM, and past their timeout before their process is killed (30)",
    )
    worker.add_argument(
        "--async-concurrency",
        type=_positive_int,
        default=32,
        metavar="N",
        help="async jobs in flight per worker process (32)",
    )
    worker.add_argument(
        "--prefetch", type=_positive_int, default=400, metavar="N", help="most jobs reserved at once (400)"
    )

    command("queues", "list queues with their counts", run_queues)
    failed = command("failed", "list failed jobs", run_failed)
    failed.add_argument("queue", nargs="?", help="one queue (default: all)")
    failed.add_argument("--limit", type=int, default=50)
    retry = command("retry", "move failed jobs back to their queue", run_retry)
    retry.add_argument("queue")
    retry.add_argument("--id", action="append", dest="ids", help="a job id (repeatable; default: all)")
    clear = command("clear", "delete the ready and scheduled jobs of a queue", run_clear)
    clear.add_argument("queue")
    command("workers", "list live workers", run_workers)
    command("scheduler", "fire cron schedules (every worker also runs a scheduler)", run_scheduler)
    command("schedules", "list cron schedules with their next fire time and last run", run_schedules)
    return parser


# --- loading the application ---------------------------------------------------------------------------------


def app_modules(explicit: Sequence[str]) -> list[str]:
    """Modules to import: the arguments, else ``TASKS_APP``, else ``[tool.tasks] app`` in ./pyproject.toml."""
    if explicit:
        return list(explicit)
    env = os.environ.get("TASKS_APP", "")
    if env.strip():
        return [m.strip() for m in env.split(",") if m.strip()]
    return _pyproject_app(Path.cwd() / "pyproject.toml")


def _pyproject_app(path: Path) -> list[str]:
    if not path.exists():
        return []
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    app = data.get("tool", {}).get("tasks", {}).get("app", [])
    return [app] if isinstance(app, str) else list(app)


def load_app(explicit: Sequence[str], *, required: bool) -> list[str]:
    """Import the application's modules (which fills the registry); returns their names."""
    modules = app_modules(explicit)
    if not modules and required:
        raise ConfigurationError(
            "no job modules named: pass them (python -m tasks worker myapp.jobs), set TASKS_APP=myapp.jobs, "
            'or add app = ["myapp.jobs"] under [tool.tasks] in pyproject.toml'
        )
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import job module {name!r}: {exc}") from exc
    return modules


# --- commands --------------------------------------------------------------------------------------------------


def run_worker(args: argparse.Namespace) -> int:
    """The pool: a supervisor (this process) and ``--concurrency`` worker processes."""
    modules = load_app(args.modules, required=True)
    current = config.settings()
    backend = config.get_backend()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else default_queues()
    for queue in queues:
        registry.check_queue_name(queue)
    backend.ping()
    log.info(
        "worker pool starting: %d process(es), backend %s, queues %s, jobs %s",
        args.concurrency,
        backend.description,
        ",".join(queues),
        ", ".join(registry.names()) or "none",
    )
    if current.url.startswith("memory://"):
        return _run_in_process(backend, args, queues, current.secret)
    child = ChildSpec(
        slot=0,
        modules=tuple(modules),
        url=current.url,
        prefix=current.prefix,
        secret=current.secret,
        queues=tuple(queues),
        lease_s=args.lease,
        prefetch=args.prefetch,
        burst=args.burst,
        async_concurrency=args.async_concurrency,
        log_level=logging.getLogger().level,
        supervisor_pid=os.getpid(),
        grace_s=args.grace,
    )
    supervisor = Supervisor(backend, PoolSettings(child=child, concurrency=args.concurrency, grace_s=args.grace))
    supervisor.install_signals()
    return supervisor.run()


def _run_in_process(backend: Backend, args: argparse.Namespace, queues: list[str], secret: str | None) -> int:
    """``memory://`` lives in this process only, so worker processes could not share it: run one worker here."""
    log.warning("memory:// is private to this process: running one worker in it, without the pool")
    settings = WorkerSettings(
        queues=queues,
        lease_s=args.lease,
        prefetch=args.prefetch,
        burst=args.burst,
        secret=secret,
        async_concurrency=args.async_concurrency,
    )
    worker = Worker(backend, settings)
    install_stop_signals(worker.stop)
    return worker.run()


def _backend(args: argparse.Namespace) -> Backend:
    load_app(args.modules, required=False)
    backend = config.get_backend()
    backend.ping()
    return backend


def _queue_names(backend: Backend) -> list[str]:
    return sorted(set(backend.known_queues()) | {d.queue for d in registry.definitions()})


def run_queues(args: argparse.Namespace) -> int:
    backend = _backend(args)
    rows = [("queue", "ready", "scheduled", "running", "failed")]
    for name in _queue_names(backend):
        s = backend.queue_stats(name)
        rows.append((name, str(s.ready), str(s.scheduled), str(s.running), str(s.failed)))
    print_table(rows)
    return 0


def run_failed(args: argparse.Namespace) -> int:
    from .queue import FailedRecord

    if args.queue is None and args.modules:
        # argparse hands every word to MODULE... before the optional QUEUE: as for retry and clear, the last is QUEUE
        args.queue = registry.check_queue_name(args.modules.pop())
    backend = _backend(args)
    rows = [("queue", "id", "name", "attempts", "error", "failed at")]
    for name in [args.queue] if args.queue else _queue_names(backend):
        for entry in backend.failed(name, limit=args.limit):
            record = FailedRecord.from_failed(entry)
            error = f"{record.error_type}: {record.message}"
            rows.append((name, record.id, record.name, str(record.attempts), error[:80], _when(record.failed_at)))
    print_table(rows)
    return 0


def run_retry(args: argparse.Namespace) -> int:
    backend = _backend(args)
    moved = backend.retry_failed(registry.check_queue_name(args.queue), args.ids, now=time.time())
    print(f"{moved} job(s) moved back to {args.queue}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    backend = _backend(args)
    print(f"{backend.clear(registry.check_queue_name(args.queue))} job(s) deleted from {args.queue}")
    return 0


def run_workers(args: argparse.Namespace) -> int:
    """Live workers, one line per worker process, grouped by the supervisor that runs them."""
    backend = _backend(args)
    rows = [("id", "host", "supervisor", "pid", "queues", "started", "done", "running")]
    found = backend.workers(now=time.time())
    found.sort(key=lambda w: (w.host, str(w.extra.get("supervisor_pid", "")), w.started_at))
    for w in found:
        rows.append(
            (
                w.id,
                w.host,
                str(w.extra.get("supervisor_pid", "-")),
                str(w.pid),
                ",".join(w.queues),
                _when(w.started_at),
                str(w.jobs_done),
                ",".join(w.current_jobs) or "-",
            )
        )
    print_table(rows)
    print(f"{len(found)} live worker process(es)")
    return 0


# --- cron ------------------------------------------------------------------------------------------------------


def with_scheduler(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run`` (the worker command) with a cron scheduler in a background thread of this process.

    The app's modules (which declare the schedules) are imported first; the scheduler stops when ``run``
    returns. ``--no-scheduler`` leaves it out.
    """

    def run_with_scheduler(args: argparse.Namespace) -> int:
        if args.no_scheduler:
            return run(args)
        load_app(args.modules, required=True)
        cron = scheduler.start_in_background(config.get_backend())
        try:
            return run(args)
        finally:
            cron.stop()

    return run_with_scheduler


def run_scheduler(args: argparse.Namespace) -> int:
    """A scheduler alone, in the foreground: any number may run beside the workers' own."""
    load_app(args.modules, required=True)
    backend = config.get_backend()
    backend.ping()
    cron = scheduler.Scheduler(backend)
    log.info("scheduler starting: backend %s, schedules %s", backend.description, _schedule_names() or "none")
    install_stop_signals(cron.stop)
    cron.run()
    return 0


def run_schedules(args: argparse.Namespace) -> int:
    backend = _backend(args)
    columns = ("schedule", "cron", "zone", "job", "queue", "misfire", "next (zone)", "next (UTC)", "last run (UTC)")
    rows: list[tuple[str, ...]] = [columns]
    now = time.time()
    for s in scheduler.registered_schedules():
        following = s.next_fire(now)
        last = backend.last_tick(s.name)
        local = datetime.fromtimestamp(following, s.tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        last_run = "never" if last is None else _when(last)
        row = (s.name, s.cron.expression, s.tz_name, s.options.name, s.options.queue, s.misfire)
        rows.append((*row, local, _when(following), last_run))
    if len(rows) == 1:
        print("no schedules: name the modules that define them (python -m tasks schedules myapp.jobs)")
        return 0
    print_table(rows)
    return 0


def _schedule_names() -> str:
    return ", ".join(s.name for s in scheduler.registered_schedules())


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
