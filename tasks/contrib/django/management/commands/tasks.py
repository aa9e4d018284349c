"""``python manage.py tasks ...``: ``python -m tasks ...`` inside the Django project.

Every word after ``tasks`` goes to ``tasks.cli.main`` as it stands (``manage.py tasks worker --burst``,
``manage.py tasks retry emails --id ID``), with Django set up and ``settings.TASKS`` in force. The worker and
the scheduler get ``tasks.contrib.django.boot`` as their first job module, so each worker process the pool
starts sets Django up too.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from tasks import cli

#: The module that sets Django up in a process that imports it (see ``tasks.contrib.django.boot``).
BOOT_MODULE = "tasks.contrib.django.boot"
#: The subcommands whose job modules are imported in processes of their own (the pool's), or are required.
NEEDS_BOOT = ("worker", "scheduler")
#: ``manage.py``'s own options, which it has applied before the command runs; the tasks CLI does not know them.
DJANGO_OPTIONS = ("--settings", "--pythonpath")


def tasks_argv(words: Sequence[str]) -> list[str]:
    """The arguments for ``tasks.cli.main``: ``words`` without Django's options, the boot module where needed."""
    argv = _without_django_options(words)
    if argv and argv[0] in NEEDS_BOOT:
        argv.insert(1, BOOT_MODULE)  # the first positional: a job module, before any the user named
    return argv


def _without_django_options(words: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
        elif word in DJANGO_OPTIONS:
            skip_next = True
        elif not word.startswith(tuple(f"{option}=" for option in DJANGO_OPTIONS)):
            kept.append(word)
    return kept


class Command(BaseCommand):
    help = (
        "tasks' command line in this project: worker, queues, failed, retry, clear, workers, scheduler, schedules "
        "(python manage.py tasks worker --help)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("words", nargs=argparse.REMAINDER, help="a tasks command and its arguments")

    def run_from_argv(self, argv: list[str]) -> None:
        """``manage.py tasks ...``: the words go to the tasks CLI unparsed (Django's parser refuses its options)."""
        try:
            code = cli.main(tasks_argv(argv[2:]))
        finally:
            connections.close_all()
        raise SystemExit(code)

    def print_help(self, prog_name: str, subcommand: str) -> None:
        """``manage.py help tasks``: the tasks CLI's own help."""
        cli.build_parser().print_help()

    def handle(self, *args: Any, **options: Any) -> None:
        """``call_command("tasks", "queues")``: the same, from code; a failing command raises ``CommandError``."""
        words = [str(word) for word in (*args, *options.get("words", ()))]
        code = cli.main(tasks_argv(words))
        if code:
            raise CommandError(f"tasks {' '.join(words)} exited with status {code}", returncode=code)
