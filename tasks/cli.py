"""``python -m tasks``: the worker and the commands that inspect and manage queues."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable, Sequence

from . import config, registry, scheduler
from .app import load_app, project_settings, require_jobs
from .backends.base import Backend
from .commands import CommandError, run_clear, run_failed, run_queues, run_retry, run_schedules, run_workers
from .console import tolerant_output
from .dashboard import serve as dashboard_serve
from .errors import BackendUnavailable, ConfigurationError
from .limits.commands import add_commands as flow_commands
from .observe.commands import add_commands as add_observe_commands
from .signals import install_stop_signals
from .worker import Worker, WorkerSettings, default_queues
from .worker.autoscaling import add_autoscale_options, check_autoscale, make_supervisor
from .worker.pool import PoolSettings
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
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


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
    parser.add_argument("--version", action="version", version=f"tasks {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--app",
            action="append",
            default=[],
            metavar="MODULE",
            help="a module that defines jobs (repeatable, or comma-separated; "
            "default: TASKS_APP, else [tool.tasks] app in ./pyproject.toml)",
        )
        p.add_argument("--url", help=f"backend URL (default: TASKS_URL, else {config.DEFAULT_URL})")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        p.set_defaults(run=run)
        return p

    def with_modules(p: argparse.ArgumentParser) -> None:
        p.add_argument("modules", nargs="*", metavar="MODULE", help="modules that define jobs (as --app)")

    def with_queue(p: argparse.ArgumentParser, help_text: str) -> None:
        p.add_argument("queue", nargs="?", help=help_text)
        p.add_argument("--queue", dest="queue_option", metavar="QUEUE", help="the same, as an option")

    worker = command("worker", "run jobs (and fire cron schedules)", run_worker)
    with_modules(worker)
    add_worker_options(worker)

    queues = command("queues", "list queues with their counts and the live workers that listen to them", run_queues)
    queues.add_argument("queues", nargs="*", metavar="QUEUE", help="only these queues (default: all)")
    failed = command("failed", "list failed jobs, or show one with its traceback", run_failed)
    with_queue(failed, "one queue (default: all)")
    failed.add_argument("--limit", type=_positive_int, default=50, help="newest failed jobs per queue (50)")
    failed.add_argument("--long", action="store_true", help="errors whole (default: cut to the terminal's width)")
    failed.add_argument("--show", metavar="ID", help="one failed job whole: arguments, error and traceback")
    retry = command("retry", "move failed jobs back to their queue", run_retry)
    with_queue(retry, "the queue whose failed jobs to move back")
    retry.add_argument("--id", action="append", dest="ids", help="a job id (repeatable; default: all)")
    clear = command("clear", "delete the ready and scheduled jobs of a queue", run_clear)
    with_queue(clear, "the queue to clear")
    command("workers", "list live workers", run_workers)
    with_modules(command("scheduler", "fire cron schedules (every worker also runs a scheduler)", run_scheduler))
    command("schedules", "list cron schedules with their next fire time and last run", run_schedules)
    add_observe_commands(command)
    flow_commands(command, with_queue)
    from .workflows.cli import add_commands as add_workflow_commands

    add_workflow_commands(command)
    dashboard = command("dashboard", "serve the web dashboard (needs tasks[dashboard])", run_dashboard)
    with_modules(dashboard)
    dashboard_serve.add_options(dashboard)
    return parser


def add_worker_options(worker: argparse.ArgumentParser) -> None:
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
        help="seconds running jobs get after SIGTERM, past their timeout, or after an abort (cancel --abort) "
        "before their process is killed (30)",
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
    add_autoscale_options(worker)
    worker.add_argument(
        "--unknown-job-grace",
        type=_seconds,
        metavar="S",
        help="seconds a job whose name this worker does not know is put back, uncharged, before it fails as "
        "UnknownJob (default: [tool.tasks] unknown_job_grace, else 600; 0 fails it at once)",
    )


def version() -> str:
    try:
        return importlib.metadata.version("tasks")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def modules_of(args: argparse.Namespace) -> list[str]:
    """The job modules named on the command line: the positional ones (worker, scheduler) and every ``--app``."""
    named = [*getattr(args, "modules", []), *args.app]
    return [module.strip() for word in named for module in word.split(",") if module.strip()]


# --- running jobs ----------------------------------------------------------------------------------------------


def run_worker(args: argparse.Namespace) -> int:
    """The pool: a supervisor (this process) and ``--concurrency`` worker processes, and a cron scheduler in a
    thread of the supervisor (unless ``--no-scheduler``), which a stopping pool stops first."""
    modules = load_app(modules_of(args), required=True)
    require_jobs(modules)
    current = config.settings()
    check_autoscale(args, url=current.url)  # bad bounds or memory:// fail before anything starts
    backend = config.get_backend()
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else default_queues()
    for queue in queues:
        registry.check_queue_name(queue)
    grace = args.unknown_job_grace if args.unknown_job_grace is not None else project_settings().unknown_job_grace_s
    backend.ping()
    log.info(
        "worker pool starting: %d process(es), backend %s, queues %s, jobs %s",
        args.concurrency,
        backend.description,
        ",".join(queues),
        ", ".join(registry.names()),
    )
    cron = None if args.no_scheduler else scheduler.start_in_background(backend)
    try:
        if current.url.startswith("memory://"):
            return _run_in_process(backend, args, queues, current.secret, grace, cron)
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
            unknown_job_grace_s=grace,
        )
        settings = PoolSettings(child=child, concurrency=args.concurrency, grace_s=args.grace)
        supervisor = make_supervisor(backend, settings, args, on_stop=None if cron is None else cron.stop)
        supervisor.install_signals()
        return supervisor.run()
    finally:
        if cron is not None:
            cron.stop()


def _run_in_process(
    backend: Backend,
    args: argparse.Namespace,
    queues: list[str],
    secret: str | None,
    grace: float,
    cron: scheduler.Scheduler | None,
) -> int:
    """``memory://`` lives in this process only, so worker processes could not share it: run one worker here."""
    log.warning("memory:// is private to this process: running one worker in it, without the pool")
    settings = WorkerSettings(
        queues=queues,
        lease_s=args.lease,
        prefetch=args.prefetch,
        burst=args.burst,
        secret=secret,
        async_concurrency=args.async_concurrency,
        unknown_job_grace_s=grace,
    )
    worker = Worker(backend, settings)

    def stop() -> None:
        if cron is not None:
            cron.stop(timeout_s=0)  # no tick enqueued from now on; joined once the worker is done
        worker.stop()

    install_stop_signals(stop)
    return worker.run()


def run_scheduler(args: argparse.Namespace) -> int:
    """A scheduler alone, in the foreground: any number may run beside the workers' own."""
    load_app(modules_of(args), required=True)
    backend = config.get_backend()
    backend.ping()
    cron = scheduler.Scheduler(backend)
    names = ", ".join(s.name for s in scheduler.registered_schedules()) or "none"
    log.info("scheduler starting: backend %s, schedules %s", backend.description, names)
    install_stop_signals(
        cron.stop,
        stopping="firing no more schedules here, then exiting",
        halting="exiting now",
        logger=scheduler.log,
    )
    cron.run()
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    """The web dashboard, in the foreground; the modules named make their queues and schedules show."""
    load_app(modules_of(args), required=False)
    return dashboard_serve.serve(args)


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


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value
